"""world4: a marketplace drawn from latent facts, with a marketer's grades for every brief.

Each creator is first a set of latent facts (where they live, what they really make and how
deeply, who really follows them, how many followers are bought, whether their feed is mostly
ads, what they would charge); the listing body is what that creator would fill in on
`POST /v1/influencers/me`, observations of those facts with the noise, gaps and lies real
listings have. The planted truth (`grade`) reads only the latent facts. See README.md."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from rapport_dev.world4.vocab import (
    BIO,
    BRAND_NAMES,
    BRIEF_DESCRIPTION,
    BRIEF_TITLE,
    DIASPORA,
    EXTRA_LANG,
    FAMILY_SLUG,
    FARMS,
    FIRST,
    GENERIC_COMMENTS,
    HIJACK_BRANDS,
    HIJACK_COMMENTS,
    LAST,
    MARKET,
    MARKETS,
    MIN_FEE_USD,
    MINOR,
    PLATFORM_TYPES,
    PLATFORM_URL,
    REAL_COMMENTS,
    REFUSABLE,
    SAMPLE,
    SUBJECT,
    SUBJECTS,
    USD_PER,
    USD_PER_1K,
    Subject,
)

# Inauthentic audiences or engagement (the harness's "fake" set); all graded 0.
FAKE_KINDS = ("burst_buyer", "slow_buyer", "pod", "comment_bots", "bought_abroad", "hijacked")
# Heavily over-exposed (the harness's "over" set); graded 0.
OVER_KINDS = ("ad_feed", "many_brands")
# Not fake, not over-exposed, but no marketer books it: graded 0.
DORMANT = "dormant"
KIND_SHARES = (
    ("burst_buyer", 0.03),
    ("slow_buyer", 0.025),
    ("pod", 0.025),
    ("comment_bots", 0.02),
    ("bought_abroad", 0.02),
    ("hijacked", 0.01),
    ("ad_feed", 0.035),
    ("many_brands", 0.035),
    (DORMANT, 0.02),
)
AGE_BANDS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55+")


@dataclass
class Account:
    platform: str
    real: int  # real followers
    bought: int  # bought (fake) followers
    quote_usd: dict[str, float]  # what the creator would charge per deliverable type


@dataclass
class Creator:
    index: int
    country: str
    languages: list[str]  # the languages the creator makes content in
    subjects: list[tuple[str, float]]  # (subject, depth: share of the content), main first
    kind: str  # "honest" or one of FAKE_KINDS, OVER_KINDS, DORMANT
    traits: set[str]  # honest variety: diaspora, viral, premium, niche, multilingual, sparse, ...
    accounts: list[Account]
    audience: dict[str, float]  # the real audience by country (fractions)
    ages: dict[str, float]  # the real audience by age band (fractions)
    female: float
    refused: list[str]
    unavailable_until: date | None
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def platforms(self) -> set[str]:
        return {a.platform for a in self.accounts}


@dataclass
class Brief:
    index: int
    brand: int
    subjects: list[str]  # main subject first; a second one is a side interest of the brand
    countries: list[str]
    languages: list[str]
    age_bands: list[str]
    genders: list[str]
    platforms: list[str]
    deliverables: list[tuple[str, int]]
    currency: str
    per_min: int
    per_max: int
    total: int
    category: str
    publish_start: date
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    creators: list[Creator]
    brands: list[dict[str, Any]]
    briefs: list[Brief]
    grades: list[dict[int, int]]  # per brief: creator index -> grade (> 0 only)

    @property
    def fake(self) -> set[int]:
        return {c.index for c in self.creators if c.kind in FAKE_KINDS}

    @property
    def over(self) -> set[int]:
        return {c.index for c in self.creators if c.kind in OVER_KINDS}


# --------------------------------------------------------------------------------------------
# small helpers


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _normalise(shares: dict[str, float]) -> dict[str, float]:
    total = sum(shares.values())
    return {k: v / total for k, v in shares.items() if v > 0}


def _percent(shares: dict[str, float]) -> dict[str, float]:
    """Fractions → percentages with one decimal summing to 100 (tiny shares dropped)."""
    kept = _normalise({k: v for k, v in shares.items() if v >= 0.005})
    out = {k: round(100 * v, 1) for k, v in sorted(kept.items(), key=lambda kv: -kv[1])}
    top = next(iter(out))
    out[top] = round(out[top] + 100 - sum(out.values()), 1)
    return out


def _lang_of(country: str) -> str:
    return MARKET[country].languages[0] if country in MARKET else EXTRA_LANG.get(country, "en")


def _to_minor(usd: float, currency: str) -> int:
    amount = usd / USD_PER[currency]
    exponent = MINOR.get(currency, 2)
    minor = amount * 10**exponent
    # Prices people quote are round numbers: two significant figures.
    digits = max(int(math.log10(max(minor, 1))) - 1, 0)
    return max(int(round(minor / 10**digits) * 10**digits), 1)


def _handle(rng: random.Random, subject: Subject, k: int) -> str:
    stem = rng.choice(subject.creator_slugs).replace("-", "")
    return f"{stem}.{rng.choice(('with', 'by', 'and', 'daily', 'hq', 'lab'))}.{k}"


# --------------------------------------------------------------------------------------------
# creators


def _subjects(rng: random.Random, main: Subject) -> tuple[list[tuple[str, float]], bool]:
    generalist = rng.random() < 0.18
    if generalist:
        out = [(main.key, rng.uniform(0.35, 0.55))]
        others = [s for s in SUBJECTS if s.family != main.family]
        for s in rng.sample(others, rng.choice((1, 2))):
            out.append((s.key, rng.uniform(0.15, 0.3)))
        return out, True
    out = [(main.key, rng.uniform(0.65, 1.0))]
    if rng.random() < 0.45:
        same = [s for s in SUBJECTS if s.family == main.family and s.key != main.key]
        pool = same if rng.random() < 0.6 else [s for s in SUBJECTS if s.key != main.key]
        out.append((rng.choice(pool).key, rng.uniform(0.15, 0.35)))
    return out, False


def _real_audience(
    rng: random.Random, country: str, subject: Subject, traits: set[str], diaspora: str | None
) -> dict[str, float]:
    market = MARKET[country]
    local = bool(subject.homes)
    home = rng.uniform(0.7, 0.9) if local else rng.uniform(0.45, 0.8)
    if market.languages[0] == "en" and rng.random() < 0.5:
        traits.add("international")
        home = rng.uniform(0.3, 0.55)
    shares: dict[str, float] = {country: home}
    rest = 1 - home
    if diaspora:
        d = rng.uniform(0.25, 0.45)
        shares[diaspora] = d
        shares[country] = home * (1 - d)
        rest = 1 - shares[country] - d
    near = list(market.near)
    if "international" in traits:
        near = [c for c in ("US", "GB", "CA", "AU", "IE", "IN", "NZ") if c != country]
    split = [rng.random() + 0.2 for _ in near]
    near_part = rest * rng.uniform(0.55, 0.85)
    for c, w in zip(near, split, strict=True):
        shares[c] = shares.get(c, 0) + near_part * w / sum(split)
    far = rng.sample([m.country for m in MARKETS if m.country not in shares], 3)
    for c in far:
        shares[c] = shares.get(c, 0) + (rest - near_part) / 3
    return _normalise(shares)


def _ages(rng: random.Random, subject: Subject) -> dict[str, float]:
    shares = {b: rng.uniform(0.02, 0.08) for b in AGE_BANDS}
    for b in subject.ages:
        shares[b] += rng.uniform(0.6, 0.9) / len(subject.ages)
    return _normalise(shares)


def _quotes(rng: random.Random, platform: str, followers: int, factor: float) -> dict[str, float]:
    out = {}
    for t in PLATFORM_TYPES[platform]:
        usd = followers / 1000 * USD_PER_1K[t] * factor * rng.lognormvariate(0, 0.15)
        out[t] = max(usd, MIN_FEE_USD[t] * factor**0.5)
    return out


def _size(rng: random.Random) -> int:
    r = rng.random()
    lo, hi = (
        (1_500, 10_000)
        if r < 0.33
        else (10_000, 100_000)
        if r < 0.75
        else (100_000, 500_000)
        if r < 0.93
        else (500_000, 3_000_000)
    )
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _make_creator(rng: random.Random, k: int) -> Creator:
    main = rng.choice(SUBJECTS)
    if main.homes and rng.random() < 0.85:
        country = rng.choice(main.homes)
    else:
        country = _pick(rng, {m.country: m.weight for m in MARKETS})
    subjects, generalist = _subjects(rng, main)
    kind = "honest"
    r = rng.random()
    for name, share in KIND_SHARES:
        if r < share:
            kind = name
            break
        r -= share
    traits: set[str] = {"generalist"} if generalist else set()
    if kind == "honest":
        for trait, p in (("viral", 0.05), ("premium", 0.07), ("sparse", 0.1), ("pro", 0.25)):
            if rng.random() < p:
                traits.add(trait)
    languages = list(MARKET[country].languages)
    diaspora = None
    ties = [d for d in DIASPORA if d[0] == country]
    if ties and rng.random() < 0.3:
        _, diaspora, lang = rng.choice(ties)
        traits.add("diaspora")
        languages.append(lang)
    if languages[0] != "en" and rng.random() < 0.3:
        languages.append("en")
        traits.add("multilingual")
    languages = list(dict.fromkeys(languages))

    followers = _size(rng)
    if followers < 20_000:
        traits.add("niche")
    factor = rng.lognormvariate(0, 0.25)
    if "premium" in traits:
        factor *= rng.uniform(2.5, 5.0)
    if main.family == "business":
        factor *= 1.5  # a professional audience is dearer per head
    platforms = [rng.choices(main.platforms, weights=[4, 2, 1, 1][: len(main.platforms)])[0]]
    for p in (0.5, 0.2):
        if rng.random() < p:
            extra = rng.choice([q for q in main.platforms if q not in platforms] or ["x"])
            if extra not in platforms:
                platforms.append(extra)
    accounts = []
    for n, platform in enumerate(platforms):
        real = followers if n == 0 else int(followers * rng.uniform(0.08, 0.7)) + 300
        bought = 0
        if kind in ("burst_buyer", "slow_buyer") and n == 0:
            bought = int(real * rng.uniform(0.6, 3.0))
        elif kind == "bought_abroad" and n == 0:
            bought = int(real * rng.uniform(1.5, 5.0))
        elif kind == "comment_bots" and n == 0:
            bought = int(real * rng.uniform(0.1, 0.4))
        # A creator with bought followers prices on the inflated count.
        quotes = _quotes(rng, platform, real + bought, factor)
        accounts.append(Account(platform, real, bought, quotes))

    refused = rng.sample(REFUSABLE, rng.choice((1, 2))) if rng.random() < 0.2 else []
    if main.family == "parenting" and rng.random() < 0.25 and "baby-formula" not in refused:
        refused.append("baby-formula")
    unavailable_until = None
    if rng.random() < 0.06:
        unavailable_until = date.min + timedelta(days=rng.randint(10, 70))  # offset, set later
    return Creator(
        index=k,
        country=country,
        languages=languages,
        subjects=subjects,
        kind=kind,
        traits=traits,
        accounts=accounts,
        audience=_real_audience(rng, country, main, traits, diaspora),
        ages=_ages(rng, main),
        female=min(max(main.female + rng.uniform(-0.12, 0.12), 0.03), 0.97),
        refused=refused,
        unavailable_until=unavailable_until,
    )


def _history(
    rng: random.Random, c: Creator, acc: Account, today: date, viral_month: int | None
) -> list[dict[str, Any]]:
    """Monthly follower counts, oldest first, ending at the current count."""
    months = 12 if rng.random() < 0.8 else rng.randint(3, 8)
    total_now = acc.real + acc.bought
    real = [float(acc.real)]
    growth = rng.uniform(0.0, 0.04)
    for m in range(1, months + 1):  # walk back in time
        prev = real[-1] / (1 + growth + rng.gauss(0, 0.012))
        if viral_month is not None and m == viral_month:
            prev /= rng.uniform(1.6, 2.8)
        if c.kind == DORMANT:
            prev = real[-1] * (1 + rng.uniform(0.003, 0.02))
        real.append(max(prev, 50.0))
    bought = [0.0] * (months + 1)
    if acc.bought:
        if c.kind == "slow_buyer" or (c.kind == "bought_abroad" and c.index % 2):
            # Bought a little every month: smooth, steady, unlike organic growth.
            for m in range(months + 1):
                bought[m] = acc.bought * max(1 - m / (months * 0.9), 0)
        else:
            # Bought in a burst, then the platform purges a few every month.
            burst = rng.randint(2, max(months - 1, 2))
            for m in range(months + 1):
                bought[m] = 0 if m >= burst else acc.bought * (1 + 0.015 * m)
    points = []
    for m in range(months, -1, -1):
        day = today - timedelta(days=30 * m + (1 if m == 0 else 0))
        count = int(real[m] + bought[m]) if m else total_now
        if c.kind == "hijacked" and m <= 1:
            count = int(count * (0.93 if m == 0 else 0.98))
        points.append({"date": day.isoformat(), "followers": count})
    if c.kind == "hijacked":
        points[-1]["followers"] = int(total_now * 0.93)
    return points


def _rates_per_view(rng: random.Random, platform: str, real: int, niche: bool) -> dict[str, Any]:
    size = (max(real, 1000) / 50_000) ** -0.12
    boost = 1.3 if niche else 1.0
    view = (
        {
            "instagram": rng.uniform(0.2, 0.45),
            "tiktok": rng.uniform(0.2, 0.9),
            "youtube": rng.uniform(0.08, 0.3),
            "twitch": rng.uniform(0.02, 0.05),
            "x": rng.uniform(0.04, 0.15),
            "blog": rng.uniform(0.2, 0.5),
            "podcast": rng.uniform(0.3, 0.6),
        }[platform]
        * size
        * boost
    )
    like = {
        "instagram": rng.uniform(0.06, 0.12),
        "tiktok": rng.uniform(0.05, 0.1),
        "youtube": rng.uniform(0.025, 0.05),
        "x": rng.uniform(0.01, 0.03),
    }.get(platform)
    return {
        "view": view,
        "like": like,
        "comment": rng.uniform(0.01, 0.04) * boost,
        "share": rng.uniform(0.003, 0.012),
        "save": rng.uniform(0.005, 0.02) if platform == "instagram" else None,
    }


def _account_body(
    rng: random.Random, c: Creator, acc: Account, n: int, today: date, sparse: bool
) -> dict[str, Any]:
    main = SUBJECT[c.subjects[0][0]]
    handle = _handle(rng, main, c.index) + ("" if n == 0 else f".{acc.platform}")
    total = acc.real + acc.bought
    rates = _rates_per_view(rng, acc.platform, acc.real, "niche" in c.traits)
    views = acc.real * rates["view"]
    likes = views * rates["like"] if rates["like"] is not None else None
    like_boost, comment_boost = 1.0, 1.0
    if c.kind == "pod":
        like_boost, comment_boost = rng.uniform(3, 5), rng.uniform(6, 10)
    elif c.kind == "comment_bots":
        comment_boost = rng.uniform(5, 15)
    posts_per_week = round(rng.uniform(1.0, 6.0) if acc.platform != "blog" else 1.0, 1)
    if acc.platform in ("youtube", "podcast"):
        posts_per_week = round(rng.uniform(0.5, 2.0), 1)
    if c.kind == DORMANT:
        posts_per_week = 0.0
    elif c.kind == "hijacked":
        posts_per_week = round(rng.uniform(8, 14), 1)
    elif c.kind == "ad_feed":
        posts_per_week = round(posts_per_week * 1.6, 1)
    body: dict[str, Any] = {
        "platform": acc.platform,
        "handle": handle,
        "url": PLATFORM_URL[acc.platform].format(h=handle.replace(".", "-")),
        "followers": total,
        "posts_per_week": posts_per_week,
    }
    if not sparse:
        body["avg_views"] = int(views * rng.uniform(0.9, 1.1))
        if likes is not None:
            body["avg_likes"] = int(likes * like_boost)
            body["avg_comments"] = int(likes * rates["comment"] * comment_boost)
            body["avg_shares"] = int(views * rates["share"])
            if rates["save"] is not None:
                body["avg_saves"] = int(views * rates["save"])
    viral_month = None
    if "viral" in c.traits and n == 0:
        viral_month = rng.randint(1, 5)
    if not sparse:
        body["follower_history"] = _history(rng, c, acc, today, viral_month)
        body["recent_posts"] = _posts(rng, c, acc, today, views, likes, rates, viral_month)
        body["recent_posts"] = [
            p
            | {"likes": int(p["likes"] * like_boost) if p["likes"] is not None else None}
            | {
                "comments": int(p["comments"] * comment_boost)
                if p["comments"] is not None
                else None
            }
            for p in body["recent_posts"]
        ]
        body["comment_samples"] = _comments(rng, c)
    return body


def _sponsored_share(rng: random.Random, c: Creator) -> float:
    if c.kind == "ad_feed":
        return rng.uniform(0.6, 0.9)
    if c.kind == "many_brands":
        return rng.uniform(0.4, 0.6)
    if "pro" in c.traits:
        return rng.uniform(0.15, 0.3)
    return rng.uniform(0.0, 0.12)


def _posts(
    rng: random.Random,
    c: Creator,
    acc: Account,
    today: date,
    views: float,
    likes: float | None,
    rates: dict[str, Any],
    viral_month: int | None,
) -> list[dict[str, Any]]:
    n = rng.randint(10, 24)
    gap = 7 / max(rng.uniform(1.0, 5.0), 0.1)
    start = 1 if c.kind != DORMANT else rng.randint(150, 300)
    share = _sponsored_share(rng, c)
    says_sponsored = rng.random() < 0.85
    viral_post = rng.randrange(n) if viral_month is not None else None
    out = []
    for i in range(n):
        days = start + int(i * gap)
        at = datetime.combine(today - timedelta(days=days), time(rng.randint(7, 21)), UTC)
        v = views * rng.lognormvariate(0, 0.35)
        if i == viral_post:
            v *= rng.uniform(15, 40)
        sponsored = rng.random() < share
        if c.kind == "hijacked" and days <= 40:
            v *= 0.3
            sponsored = True
        lk = v * rates["like"] * rng.uniform(0.8, 1.2) if likes is not None else None
        out.append(
            {
                "posted_at": at.isoformat().replace("+00:00", "Z"),
                "url": f"https://{acc.platform}.example/p/{c.index}-{i}",
                "views": int(v),
                "likes": int(lk) if lk is not None else None,
                "comments": int(lk * rates["comment"]) if lk is not None else None,
                "shares": int(v * rates["share"]),
                "saves": int(v * rates["save"]) if rates["save"] is not None else None,
                "sponsored": sponsored if says_sponsored else None,
            }
        )
    return out


def _comments(rng: random.Random, c: Creator) -> list[str]:
    lex = SUBJECT[c.subjects[0][0]].lexicon
    generic = {"pod": 0.7, "comment_bots": 0.85, "hijacked": 0.3}.get(c.kind, 0.08)
    out = []
    for _ in range(rng.randint(12, 30)):
        if c.kind == "hijacked" and rng.random() < 0.4:
            out.append(rng.choice(HIJACK_COMMENTS))
        elif rng.random() < generic:
            out.append(rng.choice(GENERIC_COMMENTS))
        else:
            lang = rng.choice(c.languages)
            template = rng.choice(REAL_COMMENTS.get(lang, REAL_COMMENTS["en"]))
            a, b = rng.sample(lex, 2)
            out.append(template.format(a=a, b=b))
    return out


def _sponsorships(rng: random.Random, c: Creator, today: date) -> list[dict[str, Any]]:
    main = SUBJECT[c.subjects[0][0]]
    platform = c.accounts[0].platform
    cats = list(main.brand_categories)
    every = sorted(BRAND_NAMES)
    if c.kind == "ad_feed":
        n, days, pool = rng.randint(25, 45), 120, every
    elif c.kind == "many_brands":
        n, days, pool = rng.randint(12, 25), 90, cats
    elif "pro" in c.traits:
        n, days, pool = rng.randint(3, 8), 180, cats + every[:3]
    else:
        n, days, pool = rng.choice((0, 0, 1, 1, 2, 3)), 240, cats
    out = []
    for _ in range(n):
        cat = rng.choice(pool)
        out.append(
            {
                "brand": rng.choice(BRAND_NAMES[cat]) + ("" if rng.random() < 0.5 else " Lab"),
                "category": cat,
                "date": (today - timedelta(days=rng.randint(1, days))).isoformat(),
                "platform": platform,
            }
        )
    if c.kind == "hijacked":
        for _ in range(rng.randint(5, 8)):
            out.append(
                {
                    "brand": rng.choice(HIJACK_BRANDS),
                    "category": rng.choice(("crypto", "gambling")),
                    "date": (today - timedelta(days=rng.randint(1, 30))).isoformat(),
                    "platform": platform,
                }
            )
    return sorted(out, key=lambda s: s["date"])


def _observed_audience(rng: random.Random, c: Creator) -> dict[str, Any]:
    acc = c.accounts[0]
    fake = acc.bought / max(acc.real + acc.bought, 1)
    farm = rng.sample(FARMS, 3) if c.kind != "bought_abroad" else [*rng.sample(FARMS, 2), "US"]
    countries = {k: v * (1 - fake) for k, v in c.audience.items()}
    for n, f in enumerate(farm):
        countries[f] = countries.get(f, 0) + fake * (0.5, 0.3, 0.2)[n]
    ages = {k: v * (1 - fake) for k, v in c.ages.items()}
    ages["18-24"] += fake * 0.7
    ages["25-34"] += fake * 0.3
    languages: Counter[str] = Counter()
    for country, share in countries.items():
        langs = MARKET[country].languages if country in MARKET else (_lang_of(country),)
        for lang in langs:
            languages[lang] += share / len(langs)
    for lang in c.languages[1:]:  # the creator's second languages reach beyond borders
        languages[lang] += 0.05
    female = c.female * (1 - fake) + 0.5 * fake
    return {
        "countries": _percent(countries),
        "age_bands": _percent(ages),
        "genders": _percent({"female": female, "male": (1 - female) * 0.97, "other": 0.03}),
        "languages": _percent(dict(languages)),
    }


def _listing_body(rng: random.Random, c: Creator, today: date) -> dict[str, Any]:
    main = SUBJECT[c.subjects[0][0]]
    lang = c.languages[0]
    name_lang = lang if lang in FIRST else "en"
    name = f"{rng.choice(FIRST[name_lang])} {rng.choice(LAST[name_lang])}"
    sparse = "sparse" in c.traits
    topics: list[str] = []
    if rng.random() < 0.15:
        # Lazy tagging: only broad tags; the bio and samples say what the creator really makes.
        topics = [FAMILY_SLUG[main.family], "lifestyle"]
    else:
        for n, (key, _) in enumerate(c.subjects):
            s = SUBJECT[key]
            topics += rng.sample(s.creator_slugs, 2 if n == 0 else 1)
        if rng.random() < 0.4:
            topics.append(FAMILY_SLUG[main.family])
    topics = list(dict.fromkeys(topics))
    a, b = rng.sample(main.lexicon, 2)
    bio = rng.choice(BIO.get(lang, BIO["en"])).format(a=a, b=b)
    if "diaspora" in c.traits or "multilingual" in c.traits:
        other = c.languages[-1]
        bio += " " + rng.choice(BIO.get(other, BIO["en"])).format(a=b, b=a)
    samples = []
    for key, depth in c.subjects:
        s = SUBJECT[key]
        for _ in range(max(1, round(depth * 6))):
            sl = rng.choice(c.languages)
            x, y = rng.sample(s.lexicon, 2)
            samples.append(rng.choice(SAMPLE.get(sl, SAMPLE["en"])).format(a=x, b=y))
    body: dict[str, Any] = {
        "display_name": name,
        "bio": bio,
        "country": c.country,
        "languages": c.languages,
        "topics": topics,
        "content_samples": samples[:20],
        "refused_categories": c.refused,
        "accounts": [
            _account_body(rng, c, acc, n, today, sparse) for n, acc in enumerate(c.accounts)
        ],
        "sponsored_posts": _sponsorships(rng, c, today),
    }
    if sparse and rng.random() < 0.5:
        del body["country"]
    if not sparse or rng.random() < 0.3:
        body["audience"] = _observed_audience(rng, c)
    if c.unavailable_until is not None:
        body["available"] = False
        body["unavailable_until"] = c.unavailable_until.isoformat()
    currency = MARKET[c.country].currency
    if not sparse or rng.random() < 0.6:
        rates = []
        for acc in c.accounts:
            for t, usd in acc.quote_usd.items():
                if t.endswith("_story") and rng.random() < 0.5:
                    continue
                rates.append({"deliverable_type": t, "amount": _to_minor(usd, currency)})
        body["rate_card"] = [r | {"currency": currency} for r in rates]
    return body


# --------------------------------------------------------------------------------------------
# the marketer's grade


def _price_usd(c: Creator, b: Brief) -> float | None:
    quotes = {t: usd for acc in c.accounts for t, usd in acc.quote_usd.items()}
    owed = [n * quotes[t] for t, n in b.deliverables if t in quotes]
    return sum(owed) if owed else None


def grade(c: Creator, b: Brief) -> int:
    """0-3, as a demanding marketer who knew the creator's latent facts would grade them."""
    if c.kind != "honest":
        return 0  # fakes, the heavily over-exposed and dormant accounts: never book them
    if b.category in c.refused:
        return 0
    if c.unavailable_until is not None and c.unavailable_until >= b.publish_start:
        return 0
    if not c.platforms & set(b.platforms):
        return 0
    depth = dict(c.subjects)
    main = SUBJECT[b.subjects[0]]
    fit = 0
    if main.key in depth:
        d = depth[main.key]
        fit = 3 if d >= 0.6 else 2 if d >= 0.3 else 1
    for side in b.subjects[1:]:
        if side in depth:
            fit = max(fit, 2 if depth[side] >= 0.6 else 1)
    neighbour = SUBJECT[c.subjects[0][0]].family == main.family and main.family != "hobbies"
    if fit == 0 and neighbour and c.subjects[0][1] >= 0.6:
        # A specialist next door (another money or parenting subject, another food scene) is
        # worth a look; hobbies have nothing in common but the word.
        fit = 1
    if fit == 0:
        return 0
    g = fit
    if b.countries:
        share = sum(c.audience.get(k, 0.0) for k in b.countries)
        if share < 0.10:
            return 0
        if share < 0.25:
            g = min(g, 1)
        elif share < 0.40:
            g -= 1
    if b.languages and not set(c.languages) & set(b.languages):
        g = min(g, 1)
    if b.age_bands and sum(c.ages.get(a, 0.0) for a in b.age_bands) < 0.25:
        g -= 1
    if b.genders == ["female"] and c.female < 0.3:
        g -= 1
    if g <= 0:
        return 0
    price = _price_usd(c, b)
    if price is not None:
        ratio = price / (b.per_max * USD_PER[b.currency] / 10 ** MINOR.get(b.currency, 2))
        penalty = 2 if ratio > 4 else 1 if ratio > 1.5 else 0
        g = max(g - penalty, 1)  # a fit out of budget is still worth a conversation
    return g


# --------------------------------------------------------------------------------------------
# brands and briefs


def _brief(
    rng: random.Random, k: int, subject: Subject, creators: list[Creator], today: date, relax: int
) -> tuple[Brief, dict[str, Any]]:
    where = Counter(c.country for c in creators if c.subjects[0][0] == subject.key)
    if subject.homes:
        country = rng.choice([h for h in subject.homes if where[h]] or list(subject.homes))
    else:
        country = _pick(rng, {m: n**1.5 for m, n in where.items()} or {"US": 1.0})
    market = MARKET[country]
    countries = [country]
    if relax < 2 and rng.random() < 0.35:
        countries.append(rng.choice(market.near))
    if relax >= 2:
        countries += list(market.near[:2])
    languages = [market.languages[0]] if rng.random() < 0.7 and relax < 1 else []
    age_bands = list(subject.ages) if rng.random() < 0.5 and relax < 1 else []
    genders = ["female"] if subject.female >= 0.8 and rng.random() < 0.3 else []
    seen = Counter(p for c in creators if subject.key in dict(c.subjects) for p in c.platforms)
    platforms = [max(subject.platforms[:3], key=lambda p: (seen[p], rng.random()))]
    if rng.random() < 0.35 or relax >= 1:
        other = [p for p in subject.platforms if p not in platforms]
        if other:
            platforms.append(rng.choice(other))
    deliverables = [
        (rng.choice(PLATFORM_TYPES[p][:2]), rng.choice((1, 1, 2, 3))) for p in platforms
    ]
    deliverables = list(dict(deliverables).items())
    currency = market.currency
    reach = math.exp(rng.uniform(math.log(8_000), math.log(250_000))) * (1 + relax)
    fair = sum(n * max(reach / 1000 * USD_PER_1K[t], MIN_FEE_USD[t]) for t, n in deliverables)
    per_max = _to_minor(fair * rng.uniform(1.0, 1.8), currency)
    per_min = max(_to_minor(fair * rng.uniform(0.2, 0.5), currency), 1)
    total = per_max * rng.randint(4, 12)
    category = rng.choice(subject.brand_categories)
    deadline = today + timedelta(days=rng.randint(7, 21))
    due = deadline + timedelta(days=rng.randint(7, 14))
    start = due + timedelta(days=rng.randint(1, 5))
    end = start + timedelta(days=rng.randint(14, 30))
    subjects = [subject.key]
    family = [s for s in SUBJECTS if s.family == subject.family and s.key != subject.key]
    if not subject.homes and rng.random() < 0.3:  # a local food scene has no side subject
        subjects.append(rng.choice(family).key)
    topics = rng.sample(subject.brand_slugs, rng.choice((1, 2)))
    for side in subjects[1:]:
        topics.append(rng.choice(SUBJECT[side].brand_slugs))
    if rng.random() < 0.2:
        topics.append(FAMILY_SLUG[subject.family])
    topics = list(dict.fromkeys(topics))
    lang = market.languages[0]
    brand_name = rng.choice(BRAND_NAMES[category])
    x, y, z = rng.sample(subject.lexicon, 3)
    brief = Brief(
        index=k,
        brand=k,
        subjects=subjects,
        countries=countries,
        languages=languages,
        age_bands=age_bands,
        genders=genders,
        platforms=platforms,
        deliverables=deliverables,
        currency=currency,
        per_min=min(per_min, per_max),
        per_max=per_max,
        total=total,
        category=category,
        publish_start=start,
    )
    brief.body = {
        "title": BRIEF_TITLE[lang].format(brand=brand_name, a=x),
        "objective": rng.choice(("awareness", "engagement", "traffic", "sales")),
        "description": BRIEF_DESCRIPTION[lang].format(a=x, b=y, c=z),
        "must_haves": rng.sample(
            [
                "show the product in use",
                "link in bio",
                "mention the discount code",
                "one honest downside",
                "no competitor products in frame",
            ],
            2,
        ),
        "category": category,
        "target_audience": {
            "countries": countries,
            "age_bands": age_bands,
            "genders": genders,
            "languages": languages,
        },
        "topics": topics,
        "platforms": platforms,
        "deliverables": [{"type": t, "count": n} for t, n in deliverables],
        "budget": {
            "currency": currency,
            "total": total,
            "per_influencer_min": brief.per_min,
            "per_influencer_max": per_max,
        },
        "timeline": {
            "application_deadline": deadline.isoformat(),
            "content_due": due.isoformat(),
            "publish_start": start.isoformat(),
            "publish_end": end.isoformat(),
        },
        "terms_defaults": {
            "approval_policy": rng.choice(("none", "first", "all")),
            "revision_cap": rng.randint(1, 3),
            "review_window_hours": rng.choice((48, 72, 96)),
            "usage_rights": {"channels": ["organic"], "days": rng.choice((0, 30, 90))},
            "exclusivity": {"category": category, "days": rng.choice((0, 0, 14, 30))},
            "disclosure_required": True,
        },
        "kpis": [{"metric": "views", "target": int(reach * 0.3) * len(deliverables)}],
        "visibility": "public",
    }
    others = [n for n in BRAND_NAMES[category] if n != brand_name]
    brand = {
        "name": brand_name,
        "website": f"https://{brand_name.lower().replace(' ', '-').replace('.', '')}.example",
        "category": category,
        "values": rng.sample(["sustainability", "craft", "inclusion", "transparency"], 2),
        "competitor_brands": others,
        "competitor_categories": [],
    }
    return brief, brand


def generate_world(*, creators: int, briefs: int, seed: int, today: date) -> World:
    """A world of `creators` listings and `briefs` briefs (one brand each), the same for the
    same arguments."""
    rng = random.Random(f"world4:{seed}")  # noqa: S311 - synthetic data, not secrets
    people = [_make_creator(rng, k) for k in range(creators)]
    for c in people:
        if c.unavailable_until is not None:
            c.unavailable_until = today + (c.unavailable_until - date.min)
        c.body = _listing_body(rng, c, today)
    order = list(SUBJECTS)
    rng.shuffle(order)
    out_briefs: list[Brief] = []
    brands: list[dict[str, Any]] = []
    grades: list[dict[int, int]] = []
    for k in range(briefs):
        # Relax a brief that too few creators fit (a brand widens its brief when nobody
        # fits); after four tries, the next subject. A small world may keep the best it found.
        best: tuple[int, Brief, dict[str, Any], dict[int, int]] | None = None
        for attempt in range(4 * len(order)):
            s = order[(k + attempt // 4) % len(order)]
            brief, brand = _brief(rng, k, s, people, today, attempt % 4)
            g = {c.index: grade(c, brief) for c in people}
            g = {i: v for i, v in g.items() if v > 0}
            good = sum(v >= 2 for v in g.values())
            if best is None or good > best[0]:
                best = (good, brief, brand, g)
            if good >= 10:
                break
        assert best is not None
        _, brief, brand, g = best
        out_briefs.append(brief)
        brands.append(brand)
        grades.append(g)
    return World(people, brands, out_briefs, grades)
