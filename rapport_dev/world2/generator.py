"""A second synthetic marketplace, written from scratch: creators, brands, briefs, truth.

Independent of ``rapport_dev/seed`` (it imports nothing from it): its own subjects and words
in six languages (``vocab``), its own distributions (Python's ``random``, a Pareto-tailed reach,
biweekly follower histories, per-subject age and gender profiles) and its own fraud and
exposure patterns:

- ``pod``: an engagement pod — likes 3-6x the tier's norm and comments 4-10x the usual share
  of likes; followers organic;
- ``gradual``: followers bought a little every two weeks for three to five months (no single
  spike): reach grows several times faster than before while engagement stays where the
  organic audience puts it (diluted by the bought share);
- ``abroad``: an audience bought in click-farm countries (30-50 %) that speak none of the
  creator's languages, engagement diluted, arriving in a couple of steps;
- ``overexposed``: an honest audience, but most of the last three months' posts sponsored.

Honest variety the ranking must not punish: international audiences (40-60 % abroad, some
of it in countries that speak none of the creator's languages), multilingual creators, viral
months (one big step with engagement to match), premium creators (rates 3-6x the prior),
creators without rate cards or follower histories, and creators whose brief subject is a side
subject (truth: lower grade than those for whom it is the main one).

Every creator is a body for ``POST /v1/influencers/me``; every brief a body for
``POST /v1/briefs`` (``brand`` names which brand creates it). ``truth[b][k]`` is the grade
(0-3) of creator ``k`` for brief ``b``, computed from the latent variables the API never sees;
``kind[k]`` is the creator's latent kind (``honest``, ``pod``, ``gradual``, ``abroad``,
``overexposed``). A seed gives the same world every time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from app.services.catalogue.deliverable_types import DELIVERABLE_TYPES
from app.services.catalogue.rates import TYPICAL_ENGAGEMENT, USD_TO_CURRENCY
from rapport_dev.world2 import vocab as v

AGE_BANDS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55+")
FAKE_KINDS = frozenset({"pod", "gradual", "abroad"})
# Per platform: deliverable types a creator prices and a brief may ask for.
PLATFORM_DELIVERABLES: dict[str, tuple[str, ...]] = {
    "instagram": ("instagram_reel", "instagram_post", "instagram_story"),
    "tiktok": ("tiktok_video",),
    "youtube": ("youtube_video", "youtube_short"),
    "twitch": ("twitch_stream",),
    "x": ("x_post",),
    "blog": ("blog_post",),
    "podcast": ("podcast_mention",),
}
# Engagement norms of this world (interactions / followers), by platform and tier; the
# ranking never sees this table (it has its own priors and learns medians from the data).
_NORM_ER: dict[str, dict[str, float]] = {
    **{p: dict(t) for p, t in TYPICAL_ENGAGEMENT.items()},
    "twitch": {"nano": 0.06, "micro": 0.035, "mid": 0.025, "macro": 0.018, "mega": 0.012},
    "blog": {"nano": 0.025, "micro": 0.015, "mid": 0.01, "macro": 0.008, "mega": 0.006},
    "podcast": {"nano": 0.03, "micro": 0.02, "mid": 0.012, "macro": 0.009, "mega": 0.007},
}
_COMMENT_SHARE = {
    "instagram": 0.025,
    "tiktok": 0.015,
    "youtube": 0.06,
    "twitch": 0.3,
    "x": 0.12,
    "blog": 0.5,
    "podcast": 0.3,
}


def _tier(followers: float) -> str:
    for bound, name in ((10_000, "nano"), (100_000, "micro"), (500_000, "mid"), (1e6, "macro")):
        if followers < bound:
            return name
    return "mega"


def _usd_cents_to_minor(cents: float, currency: str) -> int:
    rate = float(USD_TO_CURRENCY[currency])
    exp = 0 if currency in ("JPY", "KRW") else 2
    return max(1, round(cents / 100 * rate * 10**exp))


@dataclass
class Creator:
    body: dict[str, Any]
    kind: str
    home: str
    market: str
    main: int  # subject index
    side: int | None
    side_share: float
    organic_audience: dict[str, float]  # country -> share (0-1), before any bought audience
    quality: float  # true engagement quality of the organic audience (1 = typical)
    sponsored_share: float
    platforms: tuple[str, ...]
    fair_cents: dict[str, float]  # deliverable -> this world's fair price (US cents)
    price_cents: dict[str, float]  # deliverable -> what the creator asks (US cents)
    refused: tuple[str, ...]
    unavailable: bool
    ages: tuple[float, ...]


@dataclass
class World:
    seed: int
    today: date
    creators: list[Creator]
    brands: list[str]
    briefs: list[dict[str, Any]]  # POST /v1/briefs bodies without brand_id, plus "brand"
    truth: list[list[int]] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return [c.kind for c in self.creators]


class _Gen:
    def __init__(self, seed: int, today: date) -> None:
        self.r = random.Random(f"world2:{seed}")  # noqa: S311 - synthetic data, not secrets
        self.today = today
        self.seed = seed
        self.handles: set[str] = set()

    # --- creators -----------------------------------------------------------------------

    def creator(self, k: int) -> Creator:
        r = self.r
        home = r.choices(list(v.HOMES), weights=[h[0] for h in v.HOMES.values()])[0]
        _, home_langs, currency, market = v.HOMES[home]
        langs = list(home_langs)
        multilingual = r.random() < 0.18
        if multilingual:
            extra = r.sample([x for x in ("en", "es", "fr", "de", "pt", "it") if x not in langs], 2)
            langs += extra[: r.choice((1, 2))]
        elif "en" not in langs and r.random() < 0.3:
            langs.append("en")
        main = r.randrange(len(v.SUBJECTS))
        subject = v.SUBJECTS[main]
        side: int | None = None
        side_share = 0.0
        if r.random() < 0.55:
            same_family = [
                i for i, s in enumerate(v.SUBJECTS) if s.family == subject.family and i != main
            ]
            pool = same_family if same_family and r.random() < 0.4 else range(len(v.SUBJECTS))
            side = r.choice([i for i in pool if i != main])
            side_share = r.uniform(0.15, 0.35)

        kind = "honest"
        u = r.random()
        if u < 0.05:
            kind = "pod"
        elif u < 0.09:
            kind = "gradual"
        elif u < 0.13:
            kind = "abroad"
        elif u < 0.18:
            kind = "overexposed"

        # Platforms: one to three, from the subject's preferences.
        names = list(subject.platforms)
        n_platforms = r.choices((1, 2, 3), weights=(5, 4, 1))[0]
        platforms: list[str] = []
        while len(platforms) < min(n_platforms, len(names)):
            p = r.choices(names, weights=[subject.platforms[x] for x in names])[0]
            if p not in platforms:
                platforms.append(p)

        # Reach: a Pareto tail from 2k (most creators small, a few very large).
        organic = min(2_000 * (1.0 / max(r.random(), 1e-6)) ** (1 / 1.05), 4_000_000)
        quality = math.exp(r.gauss(0.0, 0.3))
        bought_share = 0.0
        if kind == "gradual":
            bought_share = r.uniform(0.45, 0.7)
        elif kind == "abroad":
            bought_share = r.uniform(0.3, 0.5)

        # Audience (organic): home + same-language neighbours, or international.
        international = kind == "honest" and r.random() < 0.22
        if subject.family in ("travel", "gaming") and r.random() < 0.3:
            international = kind == "honest"
        aud = self._organic_audience(home, langs, international)
        observed = dict(aud)
        if kind == "abroad":
            farms = r.sample(v.FARM_COUNTRIES, 3)
            w = [r.random() + 0.3 for _ in farms]
            observed = {c: s * (1 - bought_share) for c, s in aud.items()}
            for c, x in zip(farms, w, strict=True):
                observed[c] = observed.get(c, 0.0) + bought_share * x / sum(w)
        elif kind == "gradual" and r.random() < 0.5:
            # Some bought followers are spread over big markets: geography does not show it.
            pass

        accounts = []
        sponsored_share = r.uniform(0.0, 0.18) if r.random() < 0.7 else r.uniform(0.18, 0.32)
        if kind == "overexposed":
            sponsored_share = r.uniform(0.55, 0.9)
        ppw_total = 0.0
        for j, p in enumerate(platforms):
            size = organic * (1.0 if j == 0 else r.uniform(0.08, 0.6))
            followers = size / (1 - bought_share) if bought_share else size
            tier = _tier(followers)
            er_organic = _NORM_ER[p][_tier(size)] * quality * math.exp(r.gauss(0, 0.15))
            interactions = size * er_organic
            cshare = _COMMENT_SHARE[p] * math.exp(r.gauss(0, 0.3))
            if kind == "pod":
                interactions = followers * _NORM_ER[p][tier] * r.uniform(3.0, 6.0)
                cshare *= r.uniform(4.0, 10.0)
            likes = interactions / (1 + cshare + 0.08)
            comments = likes * cshare
            ppw = round(
                r.uniform(1.5, 7.0) if p not in ("podcast", "blog") else r.uniform(0.5, 2), 1
            )
            ppw_total += ppw
            history = self._history(followers, kind, bought_share, viral=r.random() < 0.06)
            handle = self._handle(k, p)
            accounts.append(
                {
                    "platform": p,
                    "handle": handle,
                    "url": f"https://{p}.example/{handle}",
                    "followers": round(followers),
                    "avg_views": round(size * r.uniform(0.15, 0.6)),
                    "avg_likes": round(likes),
                    "avg_comments": round(comments),
                    "avg_shares": round(likes * r.uniform(0.01, 0.04)),
                    "avg_saves": round(likes * r.uniform(0.01, 0.05)),
                    "posts_per_week": ppw,
                    "follower_history": history if r.random() < 0.85 else [],
                }
            )

        # Rates: this world's fair price (its own rule: prior median x reach x quality^0.5,
        # with a 30 % spread), premium creators 3-6x above; a fifth have no rate card.
        premium = r.random() < 0.09
        fair: dict[str, float] = {}
        price: dict[str, float] = {}
        rate_card = []
        for j, p in enumerate(platforms):
            size = organic * (1.0 if j == 0 else 0.3)
            for d in PLATFORM_DELIVERABLES[p]:
                spec = DELIVERABLE_TYPES[d]
                f = max(
                    spec.median_cents_per_1k * size / 1000 * math.sqrt(quality), spec.min_fee_cents
                )
                fair[d] = f
                asked = f * math.exp(r.gauss(0.0, 0.3)) * (r.uniform(3, 6) if premium else 1.0)
                if kind in ("gradual", "abroad"):
                    asked *= 1 / (1 - bought_share)  # priced on the inflated reach
                price[d] = asked
        has_card = r.random() < 0.8
        if has_card:
            for d, cents in price.items():
                if r.random() < 0.8:
                    rate_card.append(
                        {
                            "deliverable_type": d,
                            "amount": _usd_cents_to_minor(cents, currency),
                            "currency": currency,
                        }
                    )

        # Posts per the last 90 days and the sponsored ones among them.
        recent = max(1, round(ppw_total * 90 / 7))
        n_sponsored = min(round(recent * sponsored_share), 400)
        sponsored = []
        for i in range(n_sponsored):
            when = self.today - timedelta(days=r.randrange(1, 89))
            sponsored.append(
                {
                    "brand": f"Maker {r.randrange(60 if kind == 'overexposed' else 200)}",
                    "category": v.SUBJECTS[r.randrange(len(v.SUBJECTS))].category,
                    "date": when.isoformat(),
                    "platform": platforms[i % len(platforms)],
                }
            )
        sponsored.sort(key=lambda x: x["date"])

        ages = self._ages(subject)
        female = min(max(subject.female + r.gauss(0, 0.1), 0.03), 0.97)
        refused = tuple(
            c
            for c in ("alcohol", "gambling", "crypto", "fast-fashion", "tobacco")
            if r.random() < 0.12
        )
        if r.random() < 0.04:
            refused += (v.SUBJECTS[r.randrange(len(v.SUBJECTS))].category,)
        unavailable = r.random() < 0.05
        first = r.choice(v.FIRST_NAMES)
        body = {
            "display_name": f"{first} {r.choice(v.LAST_BITS).title()}",
            "bio": self._bio(main, side, langs, home),
            "country": home,
            "languages": langs,
            "topics": self._topics(main, side),
            "content_samples": self._samples(main, side, side_share, langs),
            "values": r.sample(["craft", "honesty", "local", "community", "slow-living"], 2),
            "refused_categories": sorted(set(refused)),
            "available": not unavailable,
            "unavailable_until": (self.today + timedelta(days=400)).isoformat()
            if unavailable
            else None,
            "audience": self._audience_body(observed, ages, female, langs, kind == "abroad"),
            "accounts": accounts,
            "sponsored_posts": sponsored,
            "rate_card": rate_card,
        }
        return Creator(
            body=body,
            kind=kind,
            home=home,
            market=market,
            main=main,
            side=side,
            side_share=side_share,
            organic_audience=aud,
            quality=quality,
            sponsored_share=sponsored_share,
            platforms=tuple(platforms),
            fair_cents=fair,
            price_cents=price,
            refused=tuple(sorted(set(refused))),
            unavailable=unavailable,
            ages=ages,
        )

    def _handle(self, k: int, platform: str) -> str:
        base = f"w2s{self.seed}c{k}{platform[:2]}"
        self.handles.add(base)
        return base

    def _organic_audience(
        self, home: str, langs: list[str], international: bool
    ) -> dict[str, float]:
        r = self.r
        out: dict[str, float] = {}
        home_share = r.uniform(0.4, 0.6) if international else r.uniform(0.62, 0.9)
        out[home] = home_share
        rest = 1.0 - home_share
        if international:
            picks = r.sample(v.GLOBAL_AUDIENCE, 6)
        else:
            picks = [c for c, h in v.HOMES.items() if set(h[1]) & set(langs) and c != home]
            picks = r.sample(picks, min(3, len(picks))) or r.sample(v.GLOBAL_AUDIENCE, 2)
        weights = [r.random() + 0.2 for _ in picks]
        for c, w in zip(picks, weights, strict=True):
            if c == home:
                continue
            out[c] = out.get(c, 0.0) + rest * w / sum(weights)
        total = sum(out.values())
        return {c: s / total for c, s in out.items()}

    def _ages(self, subject: v.Subject) -> tuple[float, ...]:
        raw = [max(a * math.exp(self.r.gauss(0, 0.35)), 0.0) for a in subject.ages]
        total = sum(raw)
        return tuple(x / total for x in raw)

    def _history(
        self, followers: float, kind: str, bought_share: float, *, viral: bool
    ) -> list[dict[str, Any]]:
        """26 biweekly points ending today (the seed world uses 12 monthly ones)."""
        r = self.r
        steps = 25
        growth = [max(r.gauss(0.012, 0.008), -0.01) for _ in range(steps)]
        if viral and kind == "honest":
            growth[r.randrange(8, steps)] += r.uniform(0.25, 0.6)
        counts = [1.0]
        for g in growth:
            counts.append(counts[-1] * (1 + g))
        if kind == "gradual":
            # Buy bought_share of the final count over 8-10 steps, evenly.
            n = r.randint(8, 10)
            start = r.randint(10, steps - n)
            organic_end = counts[-1]
            bought_total = organic_end * bought_share / (1 - bought_share)
            bought = [0.0] * (steps + 1)
            for i in range(start, steps + 1):
                bought[i] = bought_total * min(1.0, (i - start + 1) / n)
            counts = [c + b for c, b in zip(counts, bought, strict=True)]
        elif kind == "abroad":
            at = r.randint(12, steps - 2)
            organic_end = counts[-1]
            bought_total = organic_end * bought_share / (1 - bought_share)
            counts = [
                c + (bought_total * (0.5 if i == at else 1.0) if i >= at else 0.0)
                for i, c in enumerate(counts)
            ]
        scale = followers / counts[-1]
        day0 = self.today - timedelta(days=14 * steps + r.randrange(0, 10))
        return [
            {"date": (day0 + timedelta(days=14 * i)).isoformat(), "followers": round(c * scale)}
            for i, c in enumerate(counts)
        ]

    def _words(self, subject: int, lang: str, n: int) -> list[str]:
        words = v.SUBJECTS[subject].words.get(lang) or v.SUBJECTS[subject].words["en"]
        return self.r.sample(words, min(n, len(words)))

    def _bio(self, main: int, side: int | None, langs: list[str], home: str) -> str:
        r = self.r
        lang = langs[0] if r.random() < 0.7 else r.choice(langs)
        bits = self._words(main, lang, 3)
        if side is not None and r.random() < 0.5:
            bits += self._words(side, lang, 1)
        filler = r.sample(v.FILLER[lang], 2)
        return f"{' · '.join(bits)} — {' '.join(filler)} ({home})"

    def _topics(self, main: int, side: int | None) -> list[str]:
        r = self.r
        if r.random() < 0.1:
            return []  # declares nothing: text has to tell
        topics = list(v.SUBJECTS[main].topics[: r.choice((1, 2))])
        if side is not None and r.random() < 0.55:
            topics.append(v.SUBJECTS[side].topics[0])
        if r.random() < 0.25:
            topics.append(r.choice(["lifestyle", "daily-life", "creator"]))
        return list(dict.fromkeys(topics))

    def _samples(
        self, main: int, side: int | None, side_share: float, langs: list[str]
    ) -> list[str]:
        r = self.r
        out = []
        for _ in range(r.randint(6, 12)):
            lang = langs[0] if r.random() < 0.65 else r.choice(langs)
            u = r.random()
            if side is not None and u < side_share:
                words = self._words(side, lang, 2)
            elif u < 0.85:
                words = self._words(main, lang, r.choice((2, 3)))
            else:
                words = r.sample(v.LIFESTYLE[lang], 2)
            filler = r.sample(v.FILLER[lang], 2)
            tag = "#" + words[0].replace("-", "")
            out.append(f"{filler[0].capitalize()} {' '.join(words)} {filler[1]} {tag}")
        return out

    def _audience_body(
        self,
        countries: dict[str, float],
        ages: tuple[float, ...],
        female: float,
        langs: list[str],
        farmed: bool,
    ) -> dict[str, Any]:
        lang_share: dict[str, float] = {}
        for c, s in countries.items():
            lang = v.COUNTRY_LANGUAGE.get(c, "en")
            lang_share[lang] = lang_share.get(lang, 0.0) + s
        return {
            "countries": _percent(countries),
            "age_bands": _percent(dict(zip(AGE_BANDS, ages, strict=True))),
            "genders": _percent({"female": female, "male": 1 - female - 0.02, "other": 0.02}),
            "languages": _percent(lang_share),
        }

    # --- briefs -------------------------------------------------------------------------

    def brief(self, b: int, brands: list[str]) -> dict[str, Any]:
        r = self.r
        subject_i = r.randrange(len(v.SUBJECTS))
        subject = v.SUBJECTS[subject_i]
        market = r.choices(list(v.MARKETS), weights=(5, 3, 3, 3, 2, 1))[0]
        countries = list(v.MARKETS[market])
        if len(countries) > 1 and r.random() < 0.4:
            countries = r.sample(countries, r.randint(1, len(countries) - 1))
        names = list(subject.platforms)
        platform = r.choices(names, weights=[subject.platforms[x] for x in names])[0]
        types = PLATFORM_DELIVERABLES[platform]
        deliverables = [{"type": types[0], "count": r.choice((1, 1, 2, 3))}]
        if len(types) > 1 and r.random() < 0.35:
            deliverables.append({"type": types[-1], "count": r.choice((1, 2))})
        # Budget: what a creator of a chosen size would fairly cost, with a kind of brief.
        target_size = r.choice((8_000, 20_000, 50_000, 120_000, 300_000))
        fair = sum(
            d["count"]
            * max(
                DELIVERABLE_TYPES[d["type"]].median_cents_per_1k * target_size / 1000,
                DELIVERABLE_TYPES[d["type"]].min_fee_cents,
            )
            for d in deliverables
        )
        style = r.choices(("normal", "tight", "generous"), weights=(6, 3, 1))[0]
        factor = {"normal": 1.0, "tight": 0.25, "generous": 3.0}[style]
        currency = {"en": "USD", "es": "EUR", "de": "EUR", "fr": "EUR", "pt": "BRL", "it": "EUR"}[
            market
        ]
        hi = _usd_cents_to_minor(fair * factor * 1.6, currency)
        lo = _usd_cents_to_minor(fair * factor * 0.3, currency)
        lang = market if r.random() < 0.35 else "en"
        words = self._words(subject_i, lang, 4)
        title_words = self._words(subject_i, "en", 2)
        target: dict[str, Any] = {
            "countries": countries,
            "age_bands": [],
            "genders": [],
            "languages": [],
        }
        if r.random() < 0.3:
            peak = max(range(6), key=lambda i: subject.ages[i])
            target["age_bands"] = [AGE_BANDS[i] for i in range(max(peak - 1, 0), peak + 1)]
        start = self.today + timedelta(days=20 + r.randrange(30))
        return {
            "brand": brands[b % len(brands)],
            "title": f"{title_words[0].title()} {subject.topics[0].replace('-', ' ')} campaign",
            "objective": r.choice(("awareness", "sales", "engagement", "traffic")),
            "description": f"We are looking for creators into {' '.join(words)}; "
            f"content about {subject.topics[0].replace('-', ' ')} for our audience.",
            "must_haves": ["tag the brand"],
            "category": subject.category,
            "target_audience": target,
            "topics": list(subject.topics[: r.choice((1, 2))]),
            "platforms": [platform],
            "deliverables": deliverables,
            "budget": {
                "currency": currency,
                "total": hi * 10,
                "per_influencer_min": lo,
                "per_influencer_max": hi,
            },
            "timeline": {
                "application_deadline": (start - timedelta(days=12)).isoformat(),
                "content_due": (start - timedelta(days=3)).isoformat(),
                "publish_start": start.isoformat(),
                "publish_end": (start + timedelta(days=21)).isoformat(),
            },
            "visibility": "public",
            "_subject": subject_i,
            "_market": market,
            "_style": style,
        }

    # --- truth --------------------------------------------------------------------------

    def grade(self, brief: dict[str, Any], c: Creator) -> int:
        """What a marketer would say, from the latent variables."""
        if c.kind in FAKE_KINDS or c.kind == "overexposed" or c.unavailable:
            return 0
        platform = brief["platforms"][0]
        if platform not in c.platforms or brief["category"] in c.refused:
            return 0
        s = brief["_subject"]
        if c.main == s:
            grade = 3
        elif c.side == s:
            grade = 2
        elif c.side is not None and v.SUBJECTS[c.side].family == v.SUBJECTS[s].family:
            grade = 1
        elif v.SUBJECTS[c.main].family == v.SUBJECTS[s].family:
            grade = 1
        else:
            return 0
        share = sum(c.organic_audience.get(x, 0.0) for x in brief["target_audience"]["countries"])
        if share < 0.12:
            grade -= 2
        elif share < 0.35:
            grade -= 1
        bands = brief["target_audience"]["age_bands"]
        if bands and sum(c.ages[AGE_BANDS.index(a)] for a in bands) < 0.35:
            grade -= 1
        if c.quality < 0.6:
            grade -= 1
        if c.sponsored_share > 0.3:
            grade -= 1
        cost = sum(
            d["count"] * c.price_cents.get(d["type"], c.fair_cents.get(d["type"], 0.0))
            for d in brief["deliverables"]
        )
        # Budgets are in BRL/EUR/USD minor units: / (currency per USD) = US cents.
        hi_cents = brief["budget"]["per_influencer_max"] / float(
            USD_TO_CURRENCY[brief["budget"]["currency"]]
        )
        if cost > 3.0 * hi_cents:  # far beyond what the brand can pay
            grade -= 1
        return max(grade, 0)


def _percent(shares: dict[str, float]) -> dict[str, float]:
    """Shares -> percents with one decimal that sum to exactly 100."""
    items = [(k, s) for k, s in shares.items() if s > 0]
    total = sum(s for _, s in items)
    pct = {k: round(100 * s / total, 1) for k, s in items}
    drift = round(100.0 - sum(pct.values()), 1)
    top = max(pct, key=lambda k: pct[k])
    pct[top] = round(pct[top] + drift, 1)
    return {k: x for k, x in pct.items() if x > 0}


def generate_world(
    *,
    creators: int = 3_000,
    briefs: int = 40,
    brands: int = 10,
    seed: int = 1,
    today: date | None = None,
) -> World:
    """A reproducible world: same seed and today, same world."""
    today = today or date.today()
    g = _Gen(seed, today)
    people = [g.creator(k) for k in range(creators)]
    brand_names = [f"W2 Brand {seed}-{k}" for k in range(brands)]
    brief_list = [g.brief(b, brand_names) for b in range(briefs)]
    truth = [[g.grade(b, c) for c in people] for b in brief_list]
    return World(
        seed=seed, today=today, creators=people, brands=brand_names, briefs=brief_list, truth=truth
    )


def api_brief(brief: dict[str, Any], brand_id: str) -> dict[str, Any]:
    """The POST /v1/briefs body (latent fields stripped)."""
    out = {k: val for k, val in brief.items() if not k.startswith("_") and k != "brand"}
    out["brand_id"] = brand_id
    return out
