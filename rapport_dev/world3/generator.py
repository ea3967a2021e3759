"""world3: a third synthetic influencer marketplace, written from the relevance issue's
description (13) only — not from the ranking code, nor from `rapport_dev/seed` or
`rapport_dev/world2` — to measure the ranking on a world nobody tuned it on.

The world is drawn latent-first: every creator has a true main subject, side subjects, a true
(organic) audience, a true engagement quality, an honest or fraudulent kind and a true share
of sponsored posts; what a creator *lists* (text, declared topics, audience split, averages,
follower history, per-post counts, comment samples, sponsored posts, rates) is derived from
that, with noise, pollution by fraud, and gaps (many creators leave fields out). The planted
truth (`grade`) is computed from the latent variables a marketer would judge on, never from
what the listing shows.

Kinds of creator:
- honest, with traits: international audience (mostly abroad), diaspora audience (heritage
  country), breakout growth (a real viral jump, backed by a viral post), premium rates far
  above the market, cheap rates, busy (25-45 % sponsored), weak engagement, multilingual text;
- `pod`: an engagement pod — likes several times the norm for the tier, comments out of
  proportion to likes, comment texts generic, emoji-only and repeated across the pod;
- `bulk`: followers bought in one or two steps, from one or two click-farm countries;
- `drip`: followers bought gradually over most of a year, from several farm countries;
- `farm`: an audience bought abroad (farm countries, languages the creator does not speak)
  with no follower history given;
- `hollow`: likes bought per post — likes far above views' norm, comments and shares not;
- `overexposed`: an honest audience, but 55-90 % of recent posts sponsored.
Fakes and over-exposed creators are grade 0 for every brief (a marketer would not book them).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from rapport_dev.world3.vocab import (
    BRAND_SUFFIX,
    BRAND_WORDS,
    COUNTRY_LANGUAGE,
    DELIVERABLES,
    DIASPORA,
    DIASPORA_LANGUAGE,
    EMOJI_COMMENTS,
    EXPONENT,
    FARM_COUNTRIES,
    GENERIC_COMMENTS,
    MARKET_BY_CODE,
    MARKETS,
    NAME_PARTS,
    NEIGHBOURS,
    NORMS,
    POD_PHRASES,
    POST_PLATFORMS,
    SENSITIVE_CATEGORIES,
    SUBJECT_BY_KEY,
    SUBJECTS,
    TIERS,
    TOPICAL_TEMPLATES,
    USD_PER_UNIT,
    Market,
    Subject,
)

FAKE_KINDS = frozenset({"pod", "bulk", "drip", "farm", "hollow"})
OVER_KINDS = frozenset({"overexposed"})
LISTED_POSTS = 40  # per-post data a creator lists: the newest posts
AGE_BANDS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55+")
ENGLISH_WORLD = ("US", "GB", "CA", "AU", "IE", "NZ", "SG", "IN", "PH", "DE", "NL", "SE")

SUBJECT_WEIGHT = {
    "coffee": 1.2,
    "tea": 0.6,
    "beer": 0.5,
    "bouldering": 0.8,
    "trail-running": 0.9,
    "bikepacking": 0.6,
    "houseplants": 1.0,
    "woodworking": 0.7,
    "small-interiors": 1.1,
    "keyboards": 0.6,
    "retro-gaming": 1.0,
    "smart-home": 0.6,
    "fermentation": 0.8,
    "street-food": 1.3,
    "plant-baking": 0.9,
    "thrift": 1.1,
    "sneakers": 1.0,
    "skincare": 1.5,
    "parenting": 1.2,
    "dog-training": 1.1,
    "finance": 1.1,
    "language-learning": 0.7,
    "chess": 0.5,
}
# Subjects whose creators naturally reach a world-wide audience.
GLOBAL_SUBJECTS = {
    "retro-gaming",
    "keyboards",
    "chess",
    "language-learning",
    "bikepacking",
    "smart-home",
    "street-food",
}

KIND_MIX = (
    ("honest", 0.795),
    ("pod", 0.04),
    ("bulk", 0.03),
    ("drip", 0.03),
    ("farm", 0.02),
    ("hollow", 0.025),
    ("overexposed", 0.06),
)


# --------------------------------------------------------------------------------------
# Latent creators


@dataclass
class Post:
    posted_at: datetime
    views: int | None
    likes: int | None
    comments: int | None
    shares: int | None
    saves: int | None
    sponsored: bool | None  # None: the creator did not say


@dataclass
class Account:
    platform: str
    handle: str
    followers: int  # as listed (organic + bought)
    organic: int
    posts_per_week: float
    avg: dict[str, int | None]  # likes, comments, views, shares, saves as listed (None: left out)
    history: list[tuple[date, int]] | None
    posts: list[Post] | None
    comment_samples: list[str] | None


@dataclass
class Creator:
    index: int
    kind: str
    traits: set[str]
    market: Market
    languages: list[str]
    text_languages: list[str]
    main: Subject
    sides: list[Subject]
    organic_countries: dict[str, float]
    organic_ages: dict[str, float]
    organic_female: float
    listed_audience: dict[str, Any] | None
    quality: float  # true engagement quality (1 = the norm for the tier)
    sponsored_share: float  # true share of recent posts that are sponsored
    available: bool
    unavailable_until: date | None
    rate_currency: str
    rates_usd: dict[str, float]  # deliverable type -> US dollars (what the creator asks)
    rate_card: list[dict[str, Any]]  # as listed (may be empty)
    accounts: list[Account]
    display_name: str
    bio: str
    topics: list[str]
    content_samples: list[str]
    refused: list[str]
    sponsored_posts: list[dict[str, Any]]
    pod: int | None = None
    body: dict[str, Any] = field(default_factory=dict)  # POST /v1/influencers/me, aggregates
    detail_body: dict[str, Any] = field(default_factory=dict)  # ... with per-post data

    @property
    def platforms(self) -> set[str]:
        return {a.platform for a in self.accounts}


def _tier(followers: int) -> str:
    for bound, name in TIERS:
        if followers < bound:
            return name
    return "macro"


def _norm(platform: str, followers: int) -> tuple[float, float, float, float, float]:
    return NORMS[platform][_tier(followers)]


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _normalise(d: dict[str, float]) -> dict[str, float]:
    total = sum(d.values())
    return {k: v / total for k, v in d.items() if v > 0} if total > 0 else {}


def _percent(d: dict[str, float], keep: int = 12) -> dict[str, float]:
    """A distribution as listed: the largest `keep` parts, in percent with one decimal,
    summing to exactly 100.0 (the rest folded into the largest part)."""
    top = sorted(d.items(), key=lambda kv: -kv[1])[:keep]
    total = sum(v for _, v in top)
    out = {k: round(100 * v / total, 1) for k, v in top if round(100 * v / total, 1) > 0}
    if out:
        biggest = max(out, key=lambda k: out[k])
        out[biggest] = round(out[biggest] + 100 - sum(out.values()), 1)
    return out


def _name(rng: random.Random) -> str:
    first = "".join(rng.choice(NAME_PARTS) for _ in range(rng.randint(2, 3))).capitalize()
    last = "".join(rng.choice(NAME_PARTS) for _ in range(rng.randint(2, 4))).capitalize()
    return f"{first} {last}"


def _words(rng: random.Random, subject: Subject, lang: str, k: int) -> list[str]:
    pool = subject.words.get(lang) or subject.words["en"]
    return rng.sample(pool, min(k, len(pool)))


_BIO = {
    "en": (
        "{a} and {b} nerd. {c} every week.",
        "Sharing {a}, {b} and the odd {c}.",
        "I talk about {a}. Also: {b}, {c}.",
        "{a} | {b} | {c} — based in {where}.",
    ),
    "es": ("Hablo de {a}, {b} y {c}.", "{a} y {b} desde {where}.", "Todo sobre {a} | {b}."),
    "pt": ("Falo de {a}, {b} e {c}.", "{a} e {b} direto de {where}.", "Tudo sobre {a} | {b}."),
    "de": ("Ich zeige {a}, {b} und {c}.", "{a} & {b} aus {where}.", "Alles über {a} | {b}."),
    "fr": ("Je parle de {a}, {b} et {c}.", "{a} et {b} depuis {where}.", "Tout sur {a} | {b}."),
    "ja": ("{a}と{b}の記録。{c}も。", "{where}から{a}を発信", "{a} | {b} | {c}"),
}
_CAPTION = {
    "en": (
        "Today: {a}. {b} next week.",
        "New video on {a} — {b} included.",
        "My take on {a} and {b}.",
        "Trying {a} for the first time. Verdict: {b}.",
    ),
    "es": ("Hoy: {a}. La próxima semana, {b}.", "Nuevo vídeo sobre {a} y {b}."),
    "pt": ("Hoje: {a}. Semana que vem, {b}.", "Vídeo novo sobre {a} e {b}."),
    "de": ("Heute: {a}. Nächste Woche {b}.", "Neues Video über {a} und {b}."),
    "fr": ("Aujourd'hui : {a}. La semaine prochaine, {b}.", "Nouvelle vidéo : {a} et {b}."),
    "ja": ("今日は{a}。来週は{b}。", "{a}と{b}の新しい動画"),
}


class World3:
    def __init__(self, seed: int, today: date, creators: int, briefs: int) -> None:
        self.seed = seed
        self.today = today
        self.n_creators = creators
        self.n_briefs = briefs
        self.rng = random.Random(seed * 7919 + 3)  # noqa: S311 - synthetic data, not secrets
        self.creators: list[Creator] = []
        self.brands: list[dict[str, Any]] = []
        self.briefs: list[dict[str, Any]] = []  # internal: api body + latent targets
        self.truth: list[list[int]] = []
        self._pods: list[list[str]] = []  # per pod: its phrases

    # ---------------------------------------------------------------- creators

    def make_creators(self) -> None:
        pods_needed = max(1, round(self.n_creators * 0.04 / 10))
        self._pods = [
            self.rng.sample(POD_PHRASES, 5) + self.rng.sample(EMOJI_COMMENTS, 3)
            for _ in range(pods_needed)
        ]
        market_weights = {m.code: m.weight for m in MARKETS}
        subject_weights = {s.key: SUBJECT_WEIGHT[s.key] for s in SUBJECTS}
        kinds = dict(KIND_MIX)
        for k in range(self.n_creators):
            rng = random.Random(self.seed * 1_000_003 + k)  # noqa: S311 - synthetic data
            kind = _weighted(rng, kinds)
            market = MARKET_BY_CODE[_weighted(rng, market_weights)]
            main = SUBJECT_BY_KEY[_weighted(rng, subject_weights)]
            self.creators.append(self._creator(rng, k, kind, market, main))
        for c in self.creators:
            c.body = self._body(c, detail=False)
            c.detail_body = self._body(c, detail=True)

    def _creator(
        self, rng: random.Random, k: int, kind: str, market: Market, main: Subject
    ) -> Creator:
        traits: set[str] = set()
        honest_like = kind in ("honest", "overexposed")
        if honest_like:
            p_int = 0.35 if main.key in GLOBAL_SUBJECTS else 0.12
            if market.text_language == "en" and market.language != "en":
                p_int *= 2  # English-writing creators in non-English markets
            if rng.random() < p_int:
                traits.add("international")
            elif market.code in DIASPORA and rng.random() < 0.25:
                traits.add("diaspora")
            if rng.random() < 0.05:
                traits.add("breakout")
            r = rng.random()
            if r < 0.06:
                traits.add("premium")
            elif r < 0.11:
                traits.add("cheap")
            if kind == "honest" and rng.random() < 0.10:
                traits.add("busy")
            if rng.random() < 0.10:
                traits.add("weak")
        if rng.random() < 0.15:
            traits.add("multilingual")

        # Side subjects: none, one or two; half from the same family.
        sides: list[Subject] = []
        n_sides = rng.choices((0, 1, 2), weights=(0.35, 0.45, 0.20))[0]
        while len(sides) < n_sides:
            if rng.random() < 0.5:
                pool = [s for s in SUBJECTS if s.family == main.family and s != main]
            else:
                pool = [s for s in SUBJECTS if s != main]
            s = rng.choice(pool)
            if s not in sides:
                sides.append(s)

        # Languages spoken and written.
        languages = [market.language]
        text_languages = [market.text_language]
        heritage: str | None = None
        if "diaspora" in traits:
            heritage = rng.choice(DIASPORA[market.code])
            lang = DIASPORA_LANGUAGE[heritage]
            if lang not in languages:
                languages.append(lang)
        if market.language != "en" and (
            market.text_language == "en" or "international" in traits or rng.random() < 0.4
        ):
            languages.append("en")
        if "multilingual" in traits:
            extra = rng.choice(("es", "fr", "de", "pt", "ja"))
            if extra not in languages:
                languages.append(extra)
            if extra not in text_languages:
                text_languages.append(extra)
        if "international" in traits and "en" not in text_languages:
            text_languages.append("en")

        # Organic audience.
        countries: dict[str, float] = {}
        if "international" in traits:
            home = rng.uniform(0.12, 0.45)
            abroad = [c for c in ENGLISH_WORLD if c != market.code]
            abroad += [c for c in NEIGHBOURS[market.region] if c != market.code]
            weights = [rng.uniform(0.2, 1.0) for _ in abroad]
            for c, w in zip(abroad, weights, strict=True):
                countries[c] = countries.get(c, 0.0) + (1 - home) * w / sum(weights)
        elif "diaspora" in traits and heritage is not None:
            home = rng.uniform(0.40, 0.62)
            countries[heritage] = rng.uniform(0.25, 0.45)
            rest = 1 - home - countries[heritage]
            for c in NEIGHBOURS[market.region]:
                if c != market.code:
                    countries[c] = countries.get(c, 0.0) + max(rest, 0.0) / 3
        else:
            home = rng.uniform(0.55, 0.88)
            neigh = [c for c in NEIGHBOURS[market.region] if c != market.code]
            weights = [rng.uniform(0.3, 1.0) for _ in neigh]
            for c, w in zip(neigh, weights, strict=True):
                countries[c] = (1 - home) * 0.8 * w / sum(weights)
            countries["US"] = countries.get("US", 0.0) + (1 - home) * 0.2
        countries[market.code] = countries.get(market.code, 0.0) + home
        countries = _normalise(countries)

        ages = {b: main.ages[b] * rng.uniform(0.6, 1.5) for b in AGE_BANDS}
        shift = rng.choice((-1, 0, 0, 1))  # a creator a little younger / older than the norm
        if shift:
            ages = {
                AGE_BANDS[i]: ages[AGE_BANDS[min(max(i - shift, 0), 5)]]
                for i in range(len(AGE_BANDS))
            }
        ages = _normalise(ages)
        female = min(max(main.female + rng.gauss(0, 0.12), 0.03), 0.97)

        quality = math.exp(rng.gauss(0.0, 0.28))
        if "weak" in traits:
            quality = rng.uniform(0.25, 0.5)

        if kind == "overexposed":
            sponsored_share = rng.uniform(0.55, 0.9)
        elif "busy" in traits:
            sponsored_share = rng.uniform(0.25, 0.45)
        else:
            sponsored_share = rng.choice((0.0, 0.0, rng.uniform(0.02, 0.2)))

        # Accounts: a main platform (where the subject lives), maybe one or two more.
        main_platform = _weighted(rng, main.platforms)
        platforms = [main_platform]
        for p, w in (
            ("instagram", 0.45),
            ("tiktok", 0.35),
            ("youtube", 0.25),
            ("x", 0.12),
            ("twitch", 0.05),
            ("podcast", 0.04),
            ("blog", 0.04),
        ):
            if p not in platforms and rng.random() < w * 0.6:
                platforms.append(p)
        tier_draw = rng.random()
        if tier_draw < 0.36:
            main_followers = 10 ** rng.uniform(3.0, 4.0)
        elif tier_draw < 0.77:
            main_followers = 10 ** rng.uniform(4.0, 5.0)
        elif tier_draw < 0.95:
            main_followers = 10 ** rng.uniform(5.0, 6.0)
        else:
            main_followers = 10 ** rng.uniform(6.0, 6.9)

        name = _name(rng)
        handle_base = name.lower().replace(" ", ".")[:40]
        gives_history = rng.random() < (0.6 if kind == "honest" else 0.5)
        gives_posts = rng.random() < (0.5 if kind != "farm" else 0.3)
        gives_comments = gives_posts and rng.random() < 0.7
        gives_views = rng.random() < 0.75
        gives_shares = rng.random() < 0.5
        sponsored_known = rng.random() < 0.9
        pod = rng.randrange(len(self._pods)) if kind == "pod" else None

        accounts: list[Account] = []
        sponsored_posts: list[dict[str, Any]] = []
        for i, p in enumerate(platforms):
            organic = int(main_followers if i == 0 else main_followers * rng.uniform(0.05, 0.8))
            organic = max(organic, 200)
            acc = self._account(
                rng,
                k,
                kind,
                traits,
                p,
                organic,
                quality,
                sponsored_share,
                main,
                text_languages,
                handle_base,
                gives_history and i == 0,
                gives_posts,
                gives_comments and i == 0,
                gives_views,
                gives_shares,
                sponsored_known,
                pod,
                sponsored_posts,
            )
            accounts.append(acc)

        # The audience as listed: organic, polluted by bought followers.
        listed_audience: dict[str, Any] | None = None
        if rng.random() < 0.9:
            listed_countries = dict(countries)
            bought = 1 - accounts[0].organic / max(accounts[0].followers, 1)
            listed_ages = dict(ages)
            listed_female = female
            if bought > 0.01:
                farms = rng.sample(FARM_COUNTRIES, 1 if kind == "bulk" else rng.randint(3, 5))
                if kind == "bulk" and rng.random() < 0.5:
                    farms.append(rng.choice(FARM_COUNTRIES))
                listed_countries = {c: v * (1 - bought) for c, v in listed_countries.items()}
                shares = [rng.uniform(0.4, 1.6) for _ in farms]
                for f, w in zip(farms, shares, strict=True):
                    listed_countries[f] = listed_countries.get(f, 0) + bought * w / sum(shares)
                flat = {b: 1 / 6 for b in AGE_BANDS} | {"13-17": 0.05, "55+": 0.05}
                listed_ages = {b: ages[b] * (1 - bought) + flat[b] * bought for b in AGE_BANDS}
                listed_female = female * (1 - bought) + 0.3 * bought
            langs: dict[str, float] = {}
            for c, v in listed_countries.items():
                lang = COUNTRY_LANGUAGE.get(c, "en")
                if c == market.code or c not in MARKET_BY_CODE:
                    langs[lang] = langs.get(lang, 0) + v
                else:
                    # Foreign fans of a creator often follow in the creator's language.
                    langs[lang] = langs.get(lang, 0) + v * 0.6
                    langs[text_languages[-1]] = langs.get(text_languages[-1], 0) + v * 0.4
            listed_audience = {
                "countries": _percent(_normalise(listed_countries)),
                "age_bands": _percent(_normalise(listed_ages)),
                "genders": _percent(
                    {
                        "female": listed_female * 0.98,
                        "male": (1 - listed_female) * 0.98,
                        "other": 0.02,
                    }
                ),
                "languages": _percent(_normalise(langs), keep=8),
            }

        # Rates: from listed followers (fakes price their bought reach), local currency.
        price = market.price_level * math.exp(rng.gauss(0, 0.3))
        if "premium" in traits:
            price *= rng.uniform(3.0, 6.0)
        if "cheap" in traits:
            price *= rng.uniform(0.3, 0.5)
        rates_usd: dict[str, float] = {}
        for acc in accounts:
            f = acc.followers
            discount = (max(f, 1000) / 10_000) ** -0.18
            for dtype, per_k in DELIVERABLES[acc.platform]:
                rates_usd[dtype] = max(25.0, per_k * f / 1000 * discount * price)
        rate_card: list[dict[str, Any]] = []
        if rng.random() < 0.92:
            for dtype, usd in rates_usd.items():
                if rng.random() < 0.8 or not rate_card:
                    rate_card.append(
                        {
                            "deliverable_type": dtype,
                            "currency": market.currency,
                            "amount": to_minor(usd, market.currency),
                        }
                    )

        # Availability.
        available, until = True, None
        r = rng.random()
        if r < 0.04:
            available, until = False, self.today + timedelta(days=rng.randint(3, 20))
        elif r < 0.08:
            available, until = False, self.today + timedelta(days=rng.randint(150, 300))
        elif r < 0.095:
            available = False

        refused = [c for c in SENSITIVE_CATEGORIES if rng.random() < 0.12]
        if main.category in refused:
            refused.remove(main.category)

        bio = self._bio(rng, main, sides, text_languages, market)
        topics = self._topics(rng, main, sides, market)
        samples = self._captions(rng, main, sides, text_languages)

        return Creator(
            index=k,
            kind=kind,
            traits=traits,
            market=market,
            languages=languages,
            text_languages=text_languages,
            main=main,
            sides=sides,
            organic_countries=countries,
            organic_ages=ages,
            organic_female=female,
            listed_audience=listed_audience,
            quality=quality,
            sponsored_share=sponsored_share,
            available=available,
            unavailable_until=until,
            rate_currency=market.currency,
            rates_usd=rates_usd,
            rate_card=rate_card,
            accounts=accounts,
            display_name=name,
            bio=bio,
            topics=topics,
            content_samples=samples,
            refused=refused,
            sponsored_posts=sponsored_posts,
            pod=pod,
        )

    def _account(
        self,
        rng: random.Random,
        k: int,
        kind: str,
        traits: set[str],
        platform: str,
        organic: int,
        quality: float,
        sponsored_share: float,
        main: Subject,
        text_languages: list[str],
        handle_base: str,
        gives_history: bool,
        gives_posts: bool,
        gives_comments: bool,
        gives_views: bool,
        gives_shares: bool,
        sponsored_known: bool,
        pod: int | None,
        sponsored_posts: list[dict[str, Any]],
    ) -> Account:
        today = self.today
        # Follower history, 13 monthly points, oldest first; bought followers added.
        months = 12
        growth = [max(rng.gauss(0.02, 0.015), -0.01) for _ in range(months)]
        viral_month: int | None = None
        if "breakout" in traits:
            viral_month = rng.randint(0, months - 1)
            growth[viral_month] += rng.uniform(0.6, 1.5)
        organic_path = [1.0]
        for g in growth:
            organic_path.append(organic_path[-1] * (1 + g))
        organic_path = [organic * v / organic_path[-1] for v in organic_path]
        bought_path = [0.0] * (months + 1)
        if kind == "bulk":
            steps = rng.sample(range(4, months + 1), rng.choice((1, 2)))
            total = organic * rng.uniform(0.5, 1.8)
            for s in steps:
                for m in range(s, months + 1):
                    bought_path[m] += total / len(steps)
        elif kind == "drip":
            start = rng.randint(0, 3)
            per_month = organic * rng.uniform(0.05, 0.10)
            for m in range(start + 1, months + 1):
                bought_path[m] = bought_path[m - 1] + per_month * rng.uniform(0.7, 1.3)
        elif kind == "farm":
            total = organic * rng.uniform(0.45, 1.2)
            for m in range(months + 1):
                bought_path[m] = total * min(1.0, m / rng.uniform(4, 10))
        followers = int(organic_path[-1] + bought_path[-1])
        history: list[tuple[date, int]] | None = None
        if gives_history and kind != "farm":
            history = [
                (today - timedelta(days=30 * (months - m)), int(organic_path[m] + bought_path[m]))
                for m in range(months + 1)
            ]

        lpf, cpl, vpf, spv, svpv = _norm(platform, organic)
        posts_per_week = round(
            min(
                max(rng.lognormvariate(math.log(3.0 if platform != "youtube" else 1.2), 0.5), 0.3),
                21,
            ),
            1,
        )
        if platform == "twitch":
            posts_per_week = round(rng.uniform(1, 6), 1)

        # Every post of the last 13 weeks, as many as the posting rate says (what the recent
        # averages and the sponsored posts are made of); the newest ``LISTED_POSTS`` are the
        # per-post data the creator lists.
        n_posts = max(4, round(posts_per_week * 13))
        posts: list[Post] = []
        for i in range(n_posts):
            age_days = rng.uniform(0, 91)
            if viral_month is not None and viral_month >= months - 3 and i == 0:
                # The post that made the jump: dated inside the month of the jump.
                age_days = rng.uniform(
                    30 * (months - 1 - viral_month) + 1, 30 * (months - viral_month) - 1
                )
            at = datetime.combine(today - timedelta(days=age_days), time(12, 0), tzinfo=UTC)
            at += timedelta(minutes=rng.randint(-600, 600))
            sponsored = rng.random() < sponsored_share
            views = organic * vpf * rng.lognormvariate(0, 0.45)
            if viral_month is not None and viral_month >= months - 3 and i == 0:
                views *= rng.uniform(15, 40)  # the post that made the jump
            likes = views * (lpf / vpf) * quality * rng.lognormvariate(0, 0.3)
            if sponsored:
                likes *= 0.65
            comments = likes * cpl * rng.lognormvariate(0, 0.4)
            shares = views * spv * rng.lognormvariate(0, 0.5)
            saves = views * svpv * rng.lognormvariate(0, 0.5)
            if kind == "pod":
                likes *= rng.uniform(3.0, 7.0)
                comments = likes * rng.uniform(0.12, 0.35)
            elif kind == "hollow":
                likes *= rng.uniform(4.0, 10.0)
            posts.append(
                Post(
                    # Never after the start of `today` (the API refuses posts from the
                    # future); the sponsored post's date below keeps `at`.
                    posted_at=min(at, datetime.combine(today, time(0, 0), tzinfo=UTC)),
                    views=int(views) if platform in ("tiktok", "youtube") or gives_views else None,
                    likes=int(likes),
                    comments=int(comments),
                    shares=int(shares) if gives_shares and spv > 0 else None,
                    saves=int(saves) if gives_shares and svpv > 0 else None,
                    sponsored=sponsored if sponsored_known else None,
                )
            )
            if sponsored:
                declared = kind != "overexposed" or rng.random() < 0.7
                if declared:
                    sponsored_posts.append(
                        {
                            "brand": rng.choice(BRAND_WORDS) + " " + rng.choice(BRAND_SUFFIX),
                            "category": rng.choice(
                                (main.category, *SENSITIVE_CATEGORIES[:2], "consumer-goods")
                            ),
                            "date": at.date().isoformat(),
                            "platform": platform,
                        }
                    )
        posts.sort(key=lambda p: p.posted_at)

        def mean(xs: list[int | None]) -> int | None:
            vals = [x for x in xs if x is not None]
            return int(sum(vals) / len(vals)) if vals else None

        avg: dict[str, int | None] = {
            "likes": mean([p.likes for p in posts]),
            "comments": mean([p.comments for p in posts]),
            "views": mean([p.views for p in posts])
            if (gives_views or platform in ("tiktok", "youtube", "twitch", "podcast", "blog"))
            else None,
            "shares": mean([p.shares for p in posts]),
            "saves": mean([p.saves for p in posts]),
        }
        if platform in ("twitch", "podcast", "blog"):
            avg["views"] = int(organic * vpf * rng.lognormvariate(0, 0.2))

        comment_samples: list[str] | None = None
        if gives_comments and platform in POST_PLATFORMS:
            comment_samples = self._comments(rng, kind, main, text_languages, pod)

        handle = f"{handle_base}.{k}" if platform != "x" else f"{handle_base[:20]}_{k}"
        handle = handle.replace("..", ".")
        return Account(
            platform=platform,
            handle=handle,
            followers=followers,
            organic=int(organic_path[-1]),
            posts_per_week=posts_per_week,
            avg=avg,
            history=history,
            posts=posts[-LISTED_POSTS:] if gives_posts and platform in POST_PLATFORMS else None,
            comment_samples=comment_samples,
        )

    def _comments(
        self, rng: random.Random, kind: str, main: Subject, langs: list[str], pod: int | None
    ) -> list[str]:
        n = rng.randint(20, 60)
        out: list[str] = []
        if kind == "pod" and pod is not None:
            phrases = self._pods[pod]
            junk_share = rng.uniform(0.6, 0.92)
        elif kind == "hollow":
            phrases = list(GENERIC_COMMENTS)
            junk_share = rng.uniform(0.3, 0.6)
            n = rng.randint(5, 15)  # few comments to sample from
        else:
            phrases = list(GENERIC_COMMENTS) + list(EMOJI_COMMENTS)
            junk_share = rng.uniform(0.1, 0.38)
        for _ in range(n):
            if rng.random() < junk_share:
                out.append(rng.choice(phrases))
            else:
                lang = rng.choice(langs)
                template = rng.choice(TOPICAL_TEMPLATES.get(lang, TOPICAL_TEMPLATES["en"]))
                out.append(template.format(w=_words(rng, main, lang, 1)[0]))
        return out

    def _bio(
        self,
        rng: random.Random,
        main: Subject,
        sides: list[Subject],
        langs: list[str],
        market: Market,
    ) -> str:
        parts = []
        for lang in langs:
            a, b = _words(rng, main, lang, 2)
            c = _words(rng, sides[0], lang, 1)[0] if sides else _words(rng, main, lang, 3)[-1]
            parts.append(
                rng.choice(_BIO.get(lang, _BIO["en"])).format(a=a, b=b, c=c, where=market.code)
            )
        if market.text_language != "en" and rng.random() < 0.5:
            parts.append(" ".join("#" + t for t in main.tag_en))
        return " ".join(parts)

    def _topics(
        self, rng: random.Random, main: Subject, sides: list[Subject], market: Market
    ) -> list[str]:
        if rng.random() < 0.12:
            return []  # no declared topics at all
        own = rng.sample(main.creator_slugs, rng.randint(1, 2))
        side = [rng.choice(s.creator_slugs) for s in sides]
        extra = (
            [rng.choice(("lifestyle", "vlog", "daily-life", "creator"))]
            if (rng.random() < 0.3)
            else []
        )
        topics = (side + own) if (sides and rng.random() < 0.15) else (own + side)
        out: list[str] = []
        for t in topics + extra:
            if t not in out:
                out.append(t)
        return out

    def _captions(
        self, rng: random.Random, main: Subject, sides: list[Subject], langs: list[str]
    ) -> list[str]:
        if rng.random() < 0.15:
            return []
        n = rng.randint(3, 12)
        main_share = rng.uniform(0.6, 0.9) if sides else 1.0
        out = []
        for _ in range(n):
            subject = main if (not sides or rng.random() < main_share) else rng.choice(sides)
            lang = rng.choice(langs)
            a, b = _words(rng, subject, lang, 2)
            text = rng.choice(_CAPTION.get(lang, _CAPTION["en"])).format(a=a, b=b)
            if rng.random() < 0.5:
                text += " #" + rng.choice(subject.tag_en or subject.creator_slugs)
            out.append(text)
        return out

    # ---------------------------------------------------------------- API bodies

    def _body(self, c: Creator, detail: bool) -> dict[str, Any]:
        accounts = []
        for a in c.accounts:
            acc: dict[str, Any] = {
                "platform": a.platform,
                "handle": a.handle,
                "url": f"https://{a.platform}.example.com/{a.handle}",
                "followers": a.followers,
                "posts_per_week": a.posts_per_week,
            }
            for key, value in a.avg.items():
                if value is not None:
                    acc[f"avg_{key}"] = value
            if a.history:
                acc["follower_history"] = [
                    {"date": d.isoformat(), "followers": f} for d, f in a.history
                ]
            if detail and a.posts:
                acc["recent_posts"] = [
                    {
                        "posted_at": p.posted_at.isoformat().replace("+00:00", "Z"),
                        "views": p.views,
                        "likes": p.likes,
                        "comments": p.comments,
                        "shares": p.shares,
                        "saves": p.saves,
                        "sponsored": p.sponsored,
                    }
                    for p in a.posts
                ]
            if detail and a.comment_samples:
                acc["comment_samples"] = a.comment_samples
            accounts.append(acc)
        body: dict[str, Any] = {
            "display_name": c.display_name,
            "bio": c.bio,
            "country": c.market.code,
            "languages": c.languages,
            "topics": c.topics,
            "content_samples": c.content_samples,
            "refused_categories": c.refused,
            "available": c.available,
            "accounts": accounts,
            "rate_card": c.rate_card,
            # The API takes at most 500: a creator lists the newest.
            "sponsored_posts": sorted(c.sponsored_posts, key=lambda p: p["date"])[-500:],
        }
        if c.unavailable_until is not None:
            body["unavailable_until"] = c.unavailable_until.isoformat()
        if c.listed_audience is not None:
            body["audience"] = c.listed_audience
        return body

    # ---------------------------------------------------------------- brands and briefs

    def make_briefs(self) -> None:
        rng = self.rng
        n_brands = 12
        for _ in range(n_brands):
            market = MARKET_BY_CODE[
                rng.choice(
                    (
                        "US",
                        "GB",
                        "DE",
                        "FR",
                        "ES",
                        "MX",
                        "BR",
                        "JP",
                        "SE",
                        "IN",
                        "AU",
                        "NL",
                        "PL",
                        "KR",
                        "IT",
                    )
                )
            ]
            name = f"{rng.choice(BRAND_WORDS)} {rng.choice(BRAND_WORDS)} {rng.choice(BRAND_SUFFIX)}"
            self.brands.append({"name": name, "market": market})
        subject_weights = {s.key: SUBJECT_WEIGHT[s.key] for s in SUBJECTS}
        for b in range(self.n_briefs):
            brand_index = b % n_brands
            brand_market: Market = self.brands[brand_index]["market"]
            subject = SUBJECT_BY_KEY[_weighted(rng, subject_weights)]
            self.briefs.append(self._brief(rng, b, brand_index, brand_market, subject))

    def _brief(
        self,
        rng: random.Random,
        b: int,
        brand_index: int,
        brand_market: Market,
        subject: Subject,
    ) -> dict[str, Any]:
        # Where: the brand's region (60 %), another region (25 %), anywhere (15 %).
        r = rng.random()
        if r < 0.60:
            region = brand_market.region
        elif r < 0.85:
            region = rng.choice(sorted(NEIGHBOURS))
        else:
            region = None
        countries: list[str] = []
        if region is not None:
            home_of_region = [m.code for m in MARKETS if m.region == region]
            countries = [_weighted(rng, {c: MARKET_BY_CODE[c].weight for c in home_of_region})]
            for c in NEIGHBOURS[region]:
                if c not in countries and c in MARKET_BY_CODE and rng.random() < 0.45:
                    countries.append(c)
            countries = countries[:3]
        peak = max(subject.ages, key=lambda a: subject.ages[a])
        i = AGE_BANDS.index(peak)
        ages: list[str] = []
        if rng.random() < 0.7:
            lo = max(0, i - rng.randint(0, 1))
            hi = min(5, i + rng.randint(0, 1))
            ages = list(AGE_BANDS[lo : hi + 1])
        genders: list[str] = []
        if rng.random() < 0.12:
            genders = ["female"] if subject.female >= 0.5 else ["male"]
        languages: list[str] = []
        if countries and rng.random() < 0.25:
            languages = sorted({MARKET_BY_CODE[c].language for c in countries})

        n_platforms = 1 if rng.random() < 0.85 else 2
        platforms: list[str] = []
        while len(platforms) < n_platforms:
            p = _weighted(rng, subject.platforms)
            if p not in platforms:
                platforms.append(p)
            elif len(subject.platforms) < n_platforms:
                break
        deliverables = []
        for p in platforms:
            dtype, _ = rng.choice(DELIVERABLES[p])
            deliverables.append({"type": dtype, "count": rng.randint(1, 3)})

        # Budget: a target tier's typical cost, then normal / tight / generous.
        tier_followers = rng.choice((5_000, 30_000, 30_000, 60_000, 250_000, 800_000))
        level = (
            sum(MARKET_BY_CODE[c].price_level for c in countries) / len(countries)
            if countries
            else 0.8
        )
        per_k = {d: v for p in DELIVERABLES for d, v in DELIVERABLES[p]}
        discount = (tier_followers / 10_000) ** -0.18
        typical = sum(
            d["count"] * per_k[d["type"]] * tier_followers / 1000 * discount * level
            for d in deliverables
        )
        regime = rng.choices(("normal", "tight", "generous"), weights=(0.55, 0.25, 0.2))[0]
        lo, hi = {"normal": (0.5, 1.5), "tight": (0.1, 0.35), "generous": (1.0, 4.0)}[regime]
        currency = brand_market.currency
        n_influencers = rng.randint(3, 15)
        budget = {
            "currency": currency,
            "per_influencer_min": max(1, to_minor(typical * lo, currency)),
            "per_influencer_max": max(2, to_minor(typical * hi, currency)),
        }
        budget["total"] = budget["per_influencer_max"] * n_influencers

        # Words: in English, or in the target market's text language.
        lang = "en"
        if countries and rng.random() < 0.4:
            lang = MARKET_BY_CODE[countries[0]].text_language
        words = _words(rng, subject, lang, 3)
        topics = rng.sample(subject.brand_slugs, rng.randint(1, min(3, len(subject.brand_slugs))))
        brand_name = self.brands[brand_index]["name"]
        templates = {
            "en": (
                "{brand} is looking for creators who live and breathe {a}. Show your "
                "audience how {b} fits their week, and be honest about {c}."
            ),
            "es": (
                "{brand} busca creadores apasionados por {a}. Enseña a tu comunidad "
                "cómo {b} encaja en su semana, con sinceridad sobre {c}."
            ),
            "pt": (
                "{brand} procura criadores apaixonados por {a}. Mostre como {b} entra "
                "na rotina do seu público, com sinceridade sobre {c}."
            ),
            "de": (
                "{brand} sucht Creator, die {a} leben. Zeig deiner Community, wie {b} "
                "in ihre Woche passt, und sei ehrlich über {c}."
            ),
            "fr": (
                "{brand} cherche des créateurs passionnés de {a}. Montrez comment {b} "
                "s'intègre à la semaine de votre audience, en toute honnêteté sur {c}."
            ),
            "ja": (
                "{brand}は{a}が大好きなクリエイターを探しています。{b}と{c}について"
                "正直に紹介してください。"
            ),
        }
        a, bw, cw = (words + words)[:3]
        description = templates[lang].format(brand=brand_name, a=a, b=bw, c=cw)
        kind_of = rng.choice(("campaign", "launch", "series", "collab"))
        title = f"{brand_name}: {subject.words['en'][0]} {kind_of}"
        category = subject.category
        if rng.random() < 0.08:
            category = rng.choice(SENSITIVE_CATEGORIES)
        today = self.today
        start = today + timedelta(days=rng.randint(30, 50))
        timeline = {
            "application_deadline": (today + timedelta(days=rng.randint(8, 16))).isoformat(),
            "content_due": (start - timedelta(days=rng.randint(3, 10))).isoformat(),
            "publish_start": start.isoformat(),
            "publish_end": (start + timedelta(days=rng.randint(10, 30))).isoformat(),
        }
        body: dict[str, Any] = {
            "title": title[:200],
            "description": description,
            "objective": rng.choice(("awareness", "engagement", "traffic", "sales")),
            "platforms": platforms,
            "deliverables": deliverables,
            "budget": budget,
            "timeline": timeline,
            "topics": topics,
            "category": category,
            "target_audience": {
                "countries": countries,
                "age_bands": ages,
                "genders": genders,
                "languages": languages,
            },
        }
        return {
            "body": body,
            "brand": brand_index,
            "subject": subject,
            "regime": regime,
            "start": start,
        }

    # ---------------------------------------------------------------- truth

    def cost_in(self, c: Creator, brief: dict[str, Any]) -> float | None:
        """What the creator would ask for the brief's deliverables, in the brief's currency
        (major units), from the creator's true asking prices; None when the creator has no
        price on a needed platform."""
        total_usd = 0.0
        for d in brief["body"]["deliverables"]:
            dtype = d["type"]
            usd = c.rates_usd.get(dtype)
            if usd is None:
                return None
            total_usd += d["count"] * usd
        return total_usd / USD_PER_UNIT[brief["body"]["budget"]["currency"]]

    def grade(self, c: Creator, brief: dict[str, Any]) -> int:
        body = brief["body"]
        if c.kind in FAKE_KINDS or c.kind in OVER_KINDS:
            return 0
        if not set(body["platforms"]) <= c.platforms:
            return 0
        if body["category"] in c.refused:
            return 0
        if not c.available and (
            c.unavailable_until is None or c.unavailable_until >= brief["start"]
        ):
            return 0
        subject: Subject = brief["subject"]
        if c.main == subject:
            g = 3
        elif subject in c.sides:
            g = 2
        elif c.main.family == subject.family or any(s.family == subject.family for s in c.sides):
            g = 1
        else:
            return 0
        target = body["target_audience"]
        if target["countries"]:
            share = sum(c.organic_countries.get(x, 0.0) for x in target["countries"])
            if share < 0.10:
                g -= 2
            elif share < 0.30:
                g -= 1
        if target["age_bands"]:
            if sum(c.organic_ages.get(a, 0.0) for a in target["age_bands"]) < 0.25:
                g -= 1
        if target["genders"]:
            female = c.organic_female
            share = female if target["genders"] == ["female"] else 1 - female
            if share < 0.3:
                g -= 1
        if target["languages"] and not set(target["languages"]) & set(c.languages):
            g -= 1
        if c.quality < 0.55:
            g -= 1
        if c.sponsored_share >= 0.3:
            g -= 1
        cost = self.cost_in(c, brief)
        per_max = from_minor(body["budget"]["per_influencer_max"], body["budget"]["currency"])
        if cost is not None and cost > 3 * per_max:
            g -= 1
        return max(g, 0)

    def make_truth(self) -> None:
        self.truth = [[self.grade(c, b) for c in self.creators] for b in self.briefs]


def to_minor(amount: float, currency: str) -> int:
    """US dollars -> integer minor units of `currency`."""
    units = amount / USD_PER_UNIT[currency]
    return max(1, round(units * 10 ** EXPONENT.get(currency, 2)))


def from_minor(amount: int, currency: str) -> float:
    return amount / 10 ** EXPONENT.get(currency, 2)


@dataclass
class World:
    seed: int
    creators: list[Creator]
    brands: list[dict[str, Any]]  # POST /v1/brands bodies
    briefs: list[dict[str, Any]]  # POST /v1/briefs bodies without brand_id
    brief_brand: list[int]
    truth: list[list[int]]  # per brief, per creator: grade 0-3
    regimes: list[str]


def generate_world(*, creators: int, briefs: int, seed: int, today: date) -> World:
    w = World3(seed, today, creators, briefs)
    w.make_creators()
    w.make_briefs()
    w.make_truth()
    return World(
        seed=seed,
        creators=w.creators,
        brands=[{"name": b["name"]} for b in w.brands],
        briefs=[b["body"] for b in w.briefs],
        brief_brand=[b["brand"] for b in w.briefs],
        truth=w.truth,
        regimes=[b["regime"] for b in w.briefs],
    )
