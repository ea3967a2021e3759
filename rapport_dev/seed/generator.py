"""Deterministic synthetic marketplace: listings, brands, briefs and their ground truth.

The generator first draws *latent* variables per influencer (niches, true engagement quality,
whether followers were bought, whether the creator is over-exposed, the organic audience,
the asking price) and then derives the *observable* listing from them, in the catalogue's
shapes (docs/design/catalogue-shapes.md). The ground truth grades each listing's relevance
to each brief from the latent variables only, so a ranker is judged on how well it recovers
them from what a real marketplace could see.

Scale: listings are drawn in blocks of ``BLOCK`` rows, vectorised with numpy per block, and
streamed (``iter_influencer_batches``); a block's randomness depends only on
``(seed, block number)``, so output is byte-identical for a seed whatever the consumer does.
One million listings take a few minutes of one core and memory bounded by one block.

Signals planted in fake-follower accounts (about 8 %): bought followers lower the engagement
rate by the bought share, arrive as a jump in the follower history (unless bought long
ago), usually come from click-farm countries whose languages the creator does not speak,
and some fakes also buy likes (comments/likes far too low) or bot comments (far too high).
None of them is certain on its own: honest accounts have viral months, weak engagement and
foreign audiences too. Over-exposed accounts (about 10 %) post a large share of sponsored
content and run several deals at once.
"""

from __future__ import annotations

import gc
import json
import random
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from app.ids import new_id
from app.services.catalogue.currencies import MINOR_UNIT_EXPONENTS
from app.services.catalogue.deliverable_types import DELIVERABLE_TYPES
from app.services.catalogue.rates import USD_TO_CURRENCY
from app.services.matching import vocab as mv
from rapport_dev.seed import vocab as sv

DEFAULT_NOW = date(2026, 11, 24)
BLOCK = 10_000
FAKE_SHARE = 0.08
OVEREXPOSED_SHARE = 0.10
UNAVAILABLE_SHARE = 0.10
HISTORY_MONTHS = 12
_EPOCH = date(1970, 1, 1)
NO_DATE = np.iinfo(np.int32).max  # "unavailable indefinitely"

# Refusable categories: every brand category plus a few no brand here sells.
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys([*sv.BRAND_CATEGORIES, *sv.REFUSAL_BASE]).keys())
CATEGORY_INDEX: dict[str, int] = {c: i for i, c in enumerate(CATEGORIES)}

# Platform norms: engagement rate at 10k followers and its slope per decade of followers
# (smaller accounts engage more), comment/share/save per like, views and posts per week.
_P = mv.PLATFORMS
_ER_AT_10K = np.array([0.032, 0.065, 0.035, 0.035, 0.013, 0.015, 0.012])
_ER_SLOPE = np.array([-0.17, -0.10, -0.15, -0.20, -0.20, -0.20, -0.20])
_COMMENTS_PER_LIKE = np.array([0.03, 0.012, 0.05, 0.25, 0.08, 0.6, 0.4])
_SHARES_PER_LIKE = np.array([0.02, 0.05, 0.02, 0.0, 0.15, 0.05, 0.02])
_SAVES_PER_LIKE = np.array([0.04, 0.03, 0.0, 0.0, 0.02, 0.0, 0.0])
_VIEWS_PER_FOLLOWER = np.array([0.35, 0.9, 0.25, 0.03, 0.15, 0.6, 0.12])
_POSTS_PER_WEEK = np.array([3.5, 5.0, 1.2, 4.0, 10.0, 1.0, 1.0])
_DELIVERABLES_BY_PLATFORM: list[list[int]] = [
    [mv.DELIVERABLE_INDEX[d] for d in mv.DELIVERABLES if mv.DELIVERABLE_PLATFORM[d] == p]
    for p in _P
]
_PRICE_MEDIAN_PER_1K = np.array(
    [DELIVERABLE_TYPES[d].median_cents_per_1k for d in mv.DELIVERABLES], dtype=np.float64
)
_PRICE_MIN_FEE = np.array(
    [DELIVERABLE_TYPES[d].min_fee_cents for d in mv.DELIVERABLES], dtype=np.float64
)
_DELIVERABLE_PLATFORM_IDX = np.array(
    [mv.PLATFORM_INDEX[mv.DELIVERABLE_PLATFORM[d]] for d in mv.DELIVERABLES]
)
_TYPICAL_ER_TABLE = np.array([[mv.TYPICAL_ER[p][t] for t in mv.TIERS] for p in _P])


# --------------------------------------------------------------------------------------
# Result types


@dataclass
class ListingLatent:
    """Latent variables of a block of listings (row i belongs to listing ids[i])."""

    niche: np.ndarray  # int16, primary niche
    niche2: np.ndarray  # int16, secondary niche or -1
    fake: np.ndarray  # bool
    overexposed: np.ndarray  # bool
    quality: np.ndarray  # float32, true engagement multiplier (1 = typical)
    platform_mask: np.ndarray  # uint8, bit per platform with an account
    refused_mask: np.ndarray  # int64, bit per CATEGORIES entry
    available_until: np.ndarray  # int32 day number until which unavailable (-1 = available)
    aud_country: np.ndarray  # float32 (n, len(COUNTRIES)), organic audience, fractions
    aud_age: np.ndarray  # float32 (n, 6)
    aud_gender: np.ndarray  # float32 (n, 3)
    aud_language: np.ndarray  # float32 (n, len(LANGUAGES))
    ask_usd: np.ndarray  # float32 (n, len(DELIVERABLES)), asking price in US cents or NaN


@dataclass
class InfluencerBatch:
    ids: list[str]
    listings: list[dict[str, Any]]
    latent: ListingLatent


@dataclass(frozen=True)
class BriefLatent:
    brief_id: str
    niche: int
    platform_mask: int
    category: int  # index into CATEGORIES, -1 when not refusable
    publish_start_day: int
    countries: tuple[int, ...]
    age_bands: tuple[int, ...]
    genders: tuple[int, ...]
    languages: tuple[int, ...]
    deliverables: tuple[tuple[int, int], ...]  # (deliverable index, count)
    budget_min_usd: float
    budget_max_usd: float


@dataclass
class Truth:
    seed: int
    fake_listings: list[str]
    briefs: dict[str, dict[str, int]]  # brief id -> listing id -> grade (> 0 only)


@dataclass
class Marketplace:
    listings: list[dict[str, Any]]
    brands: list[dict[str, Any]]
    briefs: list[dict[str, Any]]
    truth: Truth
    brief_latents: list[BriefLatent] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# World tables (built once)


@dataclass(frozen=True)
class _World:
    niche_pop: np.ndarray
    niche2_cum: np.ndarray  # (N, N) cumulative probabilities of the secondary niche
    home_codes: tuple[str, ...]
    home_country_idx: np.ndarray  # into mv.COUNTRIES
    home_cum: np.ndarray  # (N, H) cumulative probabilities of the home country per niche
    home_share_mean: np.ndarray
    home_currency: tuple[str, ...]
    home_langs: tuple[tuple[str, ...], ...]
    affinity: np.ndarray  # (H, C) Dirichlet concentrations of the non-home audience
    farm: np.ndarray  # (C,) click-farm geography
    lang_mix: np.ndarray  # (C, L) language mix of each country
    platform_logw: np.ndarray  # (N, 7)
    age_profile: np.ndarray  # (N, 6) fractions
    female: np.ndarray  # (N,)
    refuse_p: np.ndarray  # (N, K)
    niche_words: tuple[tuple[str, ...], ...]
    cities: tuple[tuple[str, ...], ...]
    sponsor_names: tuple[str, ...]
    sponsor_categories: tuple[str, ...]
    word_table: np.ndarray  # object: 15 words per niche, then 20 filler words per language
    filler_offset: int
    home_filler: np.ndarray  # per home country: index of its content language's filler list
    en_filler: int


@cache
def _world() -> _World:
    niches = sv.NICHES
    n = len(niches)
    pop = np.array([x.popularity for x in niches])
    pop /= pop.sum()

    fam = [x.family for x in niches]
    w2 = np.array([[0.0 if i == j else (5.0 if fam[i] == fam[j] else 1.0) for j in range(n)]
                   for i in range(n)])  # fmt: skip
    w2 *= pop[None, :]
    niche2_cum = np.cumsum(w2 / w2.sum(1, keepdims=True), axis=1)

    home_codes = tuple(sv.HOME_COUNTRIES)
    base = np.array([sv.HOME_COUNTRIES[c][0] for c in home_codes])
    bias = np.array([[x.country_bias.get(c, 1.0) for c in home_codes] for x in niches])
    home_p = base[None, :] * bias
    home_cum = np.cumsum(home_p / home_p.sum(1, keepdims=True), axis=1)

    n_c = len(mv.COUNTRIES)
    affinity = np.zeros((len(home_codes), n_c))
    for h, code in enumerate(home_codes):
        langs, region = mv.COUNTRY_FACTS[code]
        for c, (c_langs, c_region) in mv.COUNTRY_FACTS.items():
            if c == code:
                continue
            weight = 0.0
            if c_region == region:
                weight += 3.0
            if set(c_langs) & set(langs):
                weight += 2.0
            weight += {"US": 2.0, "GB": 1.0}.get(c, 0.0)
            affinity[h, mv.COUNTRY_INDEX[c]] = weight
    farm = np.zeros(n_c)
    for c, w in sv.FARM_COUNTRIES.items():
        farm[mv.COUNTRY_INDEX[c]] = w

    lang_mix = np.zeros((n_c, len(mv.LANGUAGES)))
    for c, (langs, _) in mv.COUNTRY_FACTS.items():
        mix = sv.COUNTRY_LANGUAGE_MIX.get(c, {langs[0]: 1.0})
        for lang, share in mix.items():
            lang_mix[mv.COUNTRY_INDEX[c], mv.LANGUAGE_INDEX[lang]] = share
    lang_mix[mv.OTHER_COUNTRY, mv.OTHER_LANGUAGE] = 1.0

    platform_w = np.array([[x.platforms.get(p, 0.0) for p in _P] for x in niches])
    with np.errstate(divide="ignore"):
        platform_logw = np.where(platform_w > 0, np.log(np.maximum(platform_w, 1e-12)), -1e9)

    age_profile = np.array([sv.AGE_PROFILES[x.ages] for x in niches]) / 100.0
    female = np.array([x.female for x in niches])

    refuse_p = np.zeros((n, len(CATEGORIES)))
    for i, x in enumerate(niches):
        for cat, p in sv.REFUSAL_BASE.items():
            refuse_p[i, CATEGORY_INDEX[cat]] = p
        for cat, p in x.refuse.items():
            refuse_p[i, CATEGORY_INDEX[cat]] += p
        for cat in x.categories:  # nobody refuses the brands of their own niche
            refuse_p[i, CATEGORY_INDEX[cat]] = 0.0
    refuse_p = np.clip(refuse_p, 0.0, 0.95)

    filler_langs = list(sv.FILLER_WORDS)
    if any(len(x.words) != 15 for x in niches) or any(
        len(v) != 20 for v in sv.FILLER_WORDS.values()
    ):
        raise ValueError("each niche lists 15 words and each language 20 filler words")

    # A fixed pool of past sponsors (names, categories) for the sponsored-post history.
    pool_rng = random.Random(20261124)  # noqa: S311 - synthetic data, not security
    names, cats = [], []
    for _ in range(400):
        names.append(_brand_name(pool_rng))
        cats.append(pool_rng.choice(sv.BRAND_CATEGORIES))
    return _World(
        niche_pop=pop,
        niche2_cum=niche2_cum,
        home_codes=home_codes,
        home_country_idx=np.array([mv.COUNTRY_INDEX[c] for c in home_codes]),
        home_cum=home_cum,
        home_share_mean=np.array([sv.HOME_COUNTRIES[c][3] for c in home_codes]),
        home_currency=tuple(sv.HOME_COUNTRIES[c][1] for c in home_codes),
        home_langs=tuple(sv.HOME_COUNTRIES[c][2] for c in home_codes),
        affinity=affinity,
        farm=farm / farm.sum(),
        lang_mix=lang_mix,
        platform_logw=platform_logw,
        age_profile=age_profile,
        female=female,
        refuse_p=refuse_p,
        niche_words=tuple(x.words for x in niches),
        cities=tuple(sv.CITY_BY_COUNTRY[c] for c in home_codes),
        sponsor_names=tuple(names),
        sponsor_categories=tuple(cats),
        word_table=np.array(
            [wd for x in niches for wd in x.words]
            + [wd for lang in filler_langs for wd in sv.FILLER_WORDS[lang]],
            dtype=object,
        ),
        filler_offset=15 * n,
        home_filler=np.array(
            [filler_langs.index(_native(sv.HOME_COUNTRIES[c][2])) for c in home_codes]
        ),
        en_filler=filler_langs.index("en"),
    )


def _native(langs: tuple[str, ...]) -> str:
    """Content language of a home country: its first language with a filler list, else en."""
    return langs[0] if langs[0] in sv.FILLER_WORDS else "en"


def _brand_name(rng: random.Random) -> str:
    parts = rng.randint(2, 3)
    core = "".join(rng.choice(sv.BRAND_SYLLABLES) for _ in range(parts))
    return core.capitalize() + rng.choice(sv.BRAND_SUFFIXES)


# --------------------------------------------------------------------------------------
# Small helpers


def _day_number(d: date) -> int:
    return (d - _EPOCH).days


def _iso(day: int) -> str:
    return (_EPOCH + timedelta(days=int(day))).isoformat()


def _month_starts(now: date, count: int) -> list[str]:
    out = []
    year, month = now.year, now.month
    for _ in range(count):
        out.append(date(year, month, 1).isoformat())
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return out[::-1]


def _pick_rows(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: row i of `cum` is a cumulative distribution, u[i] uniform."""
    return np.minimum((cum < u[:, None]).sum(axis=1), cum.shape[1] - 1)


def _round_distribution(p: np.ndarray, min_share: float = 0.005) -> np.ndarray:
    """Fractions -> percentages with one decimal, tiny shares dropped, each row summing to 100."""
    p = np.where(p < min_share, 0.0, p)
    p = p / p.sum(axis=1, keepdims=True)
    pct = np.round(p * 1000.0) / 10.0
    # Put the rounding error on each row's largest share so every row sums to exactly 100.0.
    err = 100.0 - pct.sum(axis=1)
    top = pct.argmax(axis=1)
    pct[np.arange(len(pct)), top] += err
    return np.round(pct, 1)


def _nice_amount(major: np.ndarray) -> np.ndarray:
    """Round to two significant figures, the way people write rate cards (1,200 not 1,187)."""
    major = np.maximum(major, 1.0)
    mag = 10.0 ** (np.floor(np.log10(major)) - 1)
    return np.maximum(np.round(major / mag) * mag, 1.0)


def _ascii_slug(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in norm.lower() if ch.isalnum())


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, r = divmod(value, 36)
        out = digits[r] + out
        if value == 0:
            return out


def _ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


# --------------------------------------------------------------------------------------
# Listings


def iter_influencer_batches(
    n: int, seed: int, *, now: date = DEFAULT_NOW
) -> Iterator[InfluencerBatch]:
    """Stream `n` listings (with their latent variables) in blocks of at most BLOCK."""
    for block, start in enumerate(range(0, n, BLOCK)):
        yield _make_block(block, min(BLOCK, n - start), seed, now)


def iter_influencers(n: int, seed: int, *, now: date = DEFAULT_NOW) -> Iterator[list[dict]]:
    """Stream `n` listing dicts in batches of at most BLOCK (no latent variables)."""
    for batch in iter_influencer_batches(n, seed, now=now):
        yield batch.listings


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects.

    Building a block allocates ~10^6 dicts and lists; with the collector on, its repeated
    scans of everything alive take two thirds of the time. Nothing built here forms a cycle.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _make_block(block: int, n: int, seed: int, now: date) -> InfluencerBatch:
    with gc_paused():
        return _build_block(block, n, seed, now)


def _build_block(block: int, n: int, seed: int, now: date) -> InfluencerBatch:
    w = _world()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, block]))
    id_rng = random.Random(int(rng.integers(2**62)))  # noqa: S311 - synthetic ids
    n_niche = len(sv.NICHES)
    rows = np.arange(n)

    # --- who they are -----------------------------------------------------------------
    niche = rng.choice(n_niche, size=n, p=w.niche_pop).astype(np.int16)
    has2 = rng.random(n) < 0.45
    niche2 = np.where(has2, _pick_rows(w.niche2_cum[niche], rng.random(n)), -1).astype(np.int16)
    home = _pick_rows(w.home_cum[niche], rng.random(n))
    add_en = rng.random(n) < 0.55
    focus = rng.beta(6.0, 2.0, n)  # how on-topic their content is

    # --- accounts: 1-3 platforms, the first is the main one --------------------------------
    k_acc = rng.choice([1, 2, 3], size=n, p=[0.45, 0.35, 0.20])
    gumbel = w.platform_logw[niche] + rng.gumbel(size=(n, len(_P)))
    order = np.argsort(-gumbel, axis=1)[:, :3]
    slot_ok = np.arange(3)[None, :] < k_acc[:, None]
    # A niche with fewer platforms than accounts drawn: drop the impossible extra slots.
    slot_ok &= np.take_along_axis(w.platform_logw[niche], order, axis=1) > -1e8
    acc_platform = np.where(slot_ok, order, -1)
    platform_mask = np.zeros(n, dtype=np.uint8)
    for s in range(3):
        platform_mask |= np.where(slot_ok[:, s], 1 << np.maximum(acc_platform[:, s], 0), 0).astype(
            np.uint8
        )

    main_followers = np.clip(1000.0 * rng.random(n) ** (-1 / 0.55), 1000, 30_000_000)
    secondary = main_followers[:, None] * 10 ** rng.normal(-0.5, 0.45, (n, 3))
    followers = np.maximum(np.concatenate([main_followers[:, None], secondary[:, 1:]], 1), 300)

    fake = rng.random(n) < FAKE_SHARE
    bought = np.where(fake, rng.uniform(0.35, 0.85, n), 0.0)
    fake_type = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])  # 0 followers, 1 +likes, 2 +comments
    sophisticated_geo = rng.random(n) < 0.25
    old_purchase = rng.random(n) < 0.2
    organic = followers.copy()
    organic[:, 0] *= 1.0 - bought

    quality = np.clip(rng.lognormal(0.0, 0.35, n), 0.25, 3.0)

    # --- engagement per account ---------------------------------------------------------
    p_idx = np.maximum(acc_platform, 0)
    norm_er = _ER_AT_10K[p_idx] * (organic / 1e4) ** _ER_SLOPE[p_idx]
    er_true = norm_er * quality[:, None] * rng.lognormal(0.0, 0.15, (n, 3))
    interactions = organic * er_true
    c_per_like = _COMMENTS_PER_LIKE[p_idx] * rng.lognormal(0.0, 0.3, (n, 3))
    s_per_like = _SHARES_PER_LIKE[p_idx] * rng.lognormal(0.0, 0.3, (n, 3))
    v_per_like = _SAVES_PER_LIKE[p_idx] * rng.lognormal(0.0, 0.3, (n, 3))
    likes = interactions / (1 + c_per_like + s_per_like + v_per_like)
    comments = likes * c_per_like
    shares = likes * s_per_like
    saves = likes * v_per_like
    bought_likes = fake & (fake_type == 1)
    likes[:, 0] *= np.where(bought_likes, rng.uniform(3.0, 8.0, n), 1.0)
    bot_comments = fake & (fake_type == 2)
    comments[:, 0] *= np.where(bot_comments, rng.uniform(4.0, 10.0, n), 1.0)
    views = (
        organic * _VIEWS_PER_FOLLOWER[p_idx] * quality[:, None] ** 0.7
        * rng.lognormal(0.0, 0.3, (n, 3))
    )  # fmt: skip
    posts_per_week = np.maximum(
        np.round(_POSTS_PER_WEEK[p_idx] * rng.lognormal(0.0, 0.4, (n, 3)), 1), 0.1
    )

    # --- follower history: organic growth, viral months, bought jumps -----------------------
    months = HISTORY_MONTHS
    growth = rng.normal(0.02, 0.012, (n, 3, 1)) + rng.normal(0.0, 0.01, (n, 3, months))
    viral = rng.random((n, 3)) < 0.06
    viral_month = rng.integers(1, months, (n, 3))
    growth[viral, viral_month[viral]] += rng.uniform(0.15, 0.6, int(viral.sum()))
    growth = np.maximum(growth, -0.05)
    # org[t] for t = 0..11, org[11] = current organic followers; backwards by growth[t+1].
    back = np.cumprod(1.0 / (1.0 + growth[:, :, :0:-1]), axis=2)[:, :, ::-1]
    org_hist = organic[:, :, None] * np.concatenate([back, np.ones((n, 3, 1))], axis=2)
    bought_count = followers[:, 0] - organic[:, 0]
    buy_month = rng.integers(1, months, n)
    two_step = rng.random(n) < 0.5
    t = np.arange(months)[None, :]
    step = (t >= buy_month[:, None]).astype(float)
    half = two_step[:, None] & (t == buy_month[:, None]) & (buy_month[:, None] < months - 1)
    step = np.where(half, 0.5, step)
    step = np.where(old_purchase[:, None], 1.0, step)
    hist = org_hist.copy()
    hist[:, 0, :] += bought_count[:, None] * step
    hist = np.round(hist).astype(np.int64)
    hist[:, :, -1] = np.round(followers).astype(np.int64)

    # --- audience -----------------------------------------------------------------------
    n_c = len(mv.COUNTRIES)
    home_c = w.home_country_idx[home]
    home_share = np.clip(rng.normal(w.home_share_mean[home], 0.08), 0.15, 0.95)
    rest = rng.standard_gamma(w.affinity[home] * 0.6 + 1e-12)
    rest /= rest.sum(axis=1, keepdims=True)
    aud_c = rest * (1.0 - home_share)[:, None]
    aud_c[rows, home_c] += home_share
    ages = rng.standard_gamma(w.age_profile[niche] * 40.0)
    ages /= ages.sum(axis=1, keepdims=True)
    fem = rng.beta(w.female[niche] * 25.0, (1.0 - w.female[niche]) * 25.0)
    other = rng.uniform(0.005, 0.02, n)
    genders = np.stack([fem * (1 - other), (1 - fem) * (1 - other), other], axis=1)
    lang_org = aud_c @ w.lang_mix

    farm_geo = rng.standard_gamma(w.farm[None, :] * 6.0 + 1e-12, (n, n_c))
    farm_geo /= farm_geo.sum(axis=1, keepdims=True)
    bought_geo = np.where(sophisticated_geo[:, None], aud_c, farm_geo)
    f = bought[:, None]
    obs_c = (1 - f) * aud_c + f * bought_geo
    obs_age = (1 - f) * ages + f * np.array([0.08, 0.40, 0.32, 0.12, 0.06, 0.02])
    obs_gender = (1 - f) * genders + f * np.array([0.30, 0.68, 0.02])
    obs_lang = obs_c @ w.lang_mix

    pct_c = _round_distribution(obs_c)
    pct_age = _round_distribution(obs_age, 0.0)
    pct_gender = _round_distribution(obs_gender, 0.0)
    pct_lang = _round_distribution(obs_lang)

    # --- over-exposure: sponsored posts -------------------------------------------------
    overexposed = rng.random(n) < OVEREXPOSED_SHARE
    recent_posts = (posts_per_week * slot_ok).sum(axis=1) * 90.0 / 7.0
    share = np.where(overexposed, rng.uniform(0.3, 0.65, n), rng.beta(1.2, 14.0, n))
    n_recent = np.round(share * recent_posts)
    # Honest creators take a few deals a quarter however much they post; over-exposed ones
    # take as many as their feed holds.
    n_recent = np.where(
        overexposed,
        np.clip(n_recent, 5, 40),
        np.minimum(n_recent, rng.integers(2, 7, n)),
    ).astype(int)
    n_older = rng.integers(0, 5, n)
    n_total = n_recent + n_older
    total = int(n_total.sum())
    owner = np.repeat(rows, n_total)
    is_recent = np.arange(total) - np.repeat(np.cumsum(n_total) - n_total, n_total) < np.repeat(
        n_recent, n_total
    )
    # Over-exposed creators pile deals into the last month (several at once).
    recent_days = np.where(
        overexposed[owner] & (rng.random(total) < 0.6),
        rng.integers(0, 30, total),
        rng.integers(0, 90, total),
    )
    days_ago = np.where(is_recent, recent_days, rng.integers(90, 365, total))
    sponsor = rng.integers(0, len(w.sponsor_names), total)
    sp_slot = (rng.random(total) * k_acc[owner]).astype(int)
    sp_platform = acc_platform[owner, np.minimum(sp_slot, 2)]
    sp_platform = np.where(sp_platform < 0, acc_platform[owner, 0], sp_platform)
    in_date_order = np.lexsort((-days_ago, owner))  # per listing, oldest first
    days_ago, sponsor, sp_platform = (
        days_ago[in_date_order],
        sponsor[in_date_order],
        sp_platform[in_date_order],
    )

    # --- prices ---------------------------------------------------------------------------
    cur_of = [w.home_currency[h] for h in range(len(w.home_codes))]
    fx = np.array([float(USD_TO_CURRENCY[c]) for c in cur_of])[home]  # major units per USD
    exp = np.array([MINOR_UNIT_EXPONENTS[c] for c in cur_of])[home]
    greed = rng.lognormal(0.0, 0.25, n)
    n_d = len(mv.DELIVERABLES)
    ask_usd = np.full((n, n_d), np.nan)
    card_amount = np.zeros((n, n_d), dtype=np.int64)
    on_card = np.zeros((n, n_d), dtype=bool)
    for s in range(3):
        ok = slot_ok[:, s]
        p = acc_platform[:, s]
        tier = np.searchsorted(np.array(mv.TIER_BOUNDS), followers[:, s], side="right")
        er_obs = (likes[:, s] + comments[:, s] + shares[:, s] + saves[:, s]) / followers[:, s]
        typical = _TYPICAL_ER_TABLE[np.maximum(p, 0), tier]
        mult = np.clip(np.sqrt(er_obs / typical), 0.7, 1.5)
        for pi in range(len(_P)):
            sel = ok & (p == pi)
            if not sel.any():
                continue
            audience = views[:, s] if _P[pi] in mv.AUDIENCE_FROM_VIEWS else followers[:, s]
            for j, d in enumerate(_DELIVERABLES_BY_PLATFORM[pi]):
                raw = np.maximum(
                    _PRICE_MEDIAN_PER_1K[d] * audience / 1000.0 * mult, _PRICE_MIN_FEE[d]
                ) * greed  # fmt: skip
                major = _nice_amount(raw / 100.0 * fx)
                amount = np.round(major * 10.0**exp).astype(np.int64)
                ask = amount / 10.0**exp / fx * 100.0
                ask_usd[sel, d] = ask[sel]
                card_amount[sel, d] = amount[sel]
                listed = rng.random(n) < (1.0 if j == 0 else 0.6)
                on_card[sel, d] = listed[sel]

    # --- availability, refusals, values ---------------------------------------------------
    available = rng.random(n) >= UNAVAILABLE_SHARE
    until_days = _day_number(now) + rng.integers(5, 150, n)
    indefinite = rng.random(n) < 0.3
    available_until = np.where(available, -1, np.where(indefinite, NO_DATE, until_days))
    refused = rng.random((n, len(CATEGORIES))) < w.refuse_p[niche]
    refused_mask = (refused.astype(np.int64) << np.arange(len(CATEGORIES))).sum(axis=1)
    value_pick = rng.integers(0, 8, n)

    # --- text -------------------------------------------------------------------------------
    n_words = 12
    sample_en = add_en[:, None] & (rng.random((n, 3)) < 0.5)
    from_niche = rng.random((n, 3, n_words)) < focus[:, None, None]
    from_second = (niche2[:, None, None] >= 0) & (rng.random((n, 3, n_words)) < 0.35)
    word_pick = rng.integers(0, 15, (n, 3, n_words))
    filler_pick = rng.integers(0, 20, (n, 3, n_words))
    # Every word of every sample as an index into one word table, then one fancy index.
    sample_lang = np.where(sample_en, w.en_filler, w.home_filler[home][:, None])
    niche_for_word = np.where(
        from_second, np.maximum(niche2, 0)[:, None, None], niche[:, None, None]
    )
    word_idx = np.where(
        from_niche,
        niche_for_word * 15 + word_pick,
        w.filler_offset + sample_lang[:, :, None] * 20 + filler_pick,
    )
    sample_words = w.word_table[word_idx].tolist()
    bio_pick = rng.integers(0, 15, (n, 4))
    name_pick = rng.integers(0, 1000, (n, 3))
    created_ms = _ms(now) - rng.integers(0, 3 * 365 * 86_400_000, n)

    latent = ListingLatent(
        niche=niche,
        niche2=niche2,
        fake=fake,
        overexposed=overexposed,
        quality=quality.astype(np.float32),
        platform_mask=platform_mask,
        refused_mask=refused_mask,
        available_until=available_until.astype(np.int32),
        aud_country=aud_c.astype(np.float32),
        aud_age=ages.astype(np.float32),
        aud_gender=genders.astype(np.float32),
        aud_language=lang_org.astype(np.float32),
        ask_usd=ask_usd.astype(np.float32),
    )

    # --- assemble the dicts (the only per-listing Python loop) -------------------------------
    months_iso = _month_starts(now, months)
    now_day = _day_number(now)
    L = {
        "niche": niche.tolist(),
        "niche2": niche2.tolist(),
        "home": home.tolist(),
        "add_en": add_en.tolist(),
        "acc_platform": acc_platform.tolist(),
        "followers": np.round(followers).astype(np.int64).tolist(),
        "views": np.round(views).astype(np.int64).tolist(),
        "likes": np.round(likes).astype(np.int64).tolist(),
        "comments": np.round(comments).astype(np.int64).tolist(),
        "shares": np.round(shares).astype(np.int64).tolist(),
        "saves": np.round(saves).astype(np.int64).tolist(),
        "ppw": posts_per_week.tolist(),
        "hist": hist.tolist(),
        "pct_c": _sparse_rows(pct_c, mv.COUNTRIES),
        "pct_age": _sparse_rows(pct_age, mv.AGE_BANDS),
        "pct_gender": _sparse_rows(pct_gender, mv.GENDERS),
        "pct_lang": _sparse_rows(pct_lang, mv.LANGUAGES),
        "available": available.tolist(),
        "until": available_until.tolist(),
        "refused": _true_positions(refused, CATEGORIES),
        "value_pick": value_pick.tolist(),
        "bio_pick": bio_pick.tolist(),
        "name_pick": name_pick.tolist(),
        "created_ms": created_ms.tolist(),
        "card_amount": card_amount.tolist(),
        "on_card": on_card.tolist(),
    }
    sp_start = (np.cumsum(n_total) - n_total).tolist()
    sp_count = n_total.tolist()
    sp_brand = sponsor.tolist()
    iso_of = np.array([_iso(now_day - k) for k in range(366)], dtype=object)
    sp_day = iso_of[days_ago].tolist()
    sp_plat = sp_platform.tolist()

    platforms = _P
    deliverables = mv.DELIVERABLES
    niches = sv.NICHES
    ids: list[str] = []
    listings: list[dict[str, Any]] = []
    first_global = block * BLOCK
    for i in range(n):
        nz = L["niche"][i]
        nz2 = L["niche2"][i]
        ni = niches[nz]
        h = L["home"][i]
        home_code = w.home_codes[h]
        langs = list(w.home_langs[h])
        if L["add_en"][i] and "en" not in langs:
            langs.append("en")
        native = _native(w.home_langs[h])
        first_names, last_names = sv.NAMES.get(native, sv.NAMES["en"])
        np_i = L["name_pick"][i]
        first = first_names[np_i[0] % len(first_names)]
        last = last_names[np_i[1] % len(last_names)]
        handle = f"{_ascii_slug(first + last) or 'creator'}.{_base36(first_global + i)}"
        listing_id = new_id("influencer", ms=L["created_ms"][i], rng=id_rng)
        ids.append(listing_id)

        words = w.niche_words[nz]
        topics = list(dict.fromkeys(ni.topics[: 1 + np_i[2] % len(ni.topics)]))
        if nz2 >= 0:
            topics = list(dict.fromkeys([*topics, niches[nz2].topics[0]]))
        city = w.cities[h][(np_i[2] // 7) % len(w.cities[h])]
        bp = L["bio_pick"][i]
        bio_en = L["add_en"][i] or native == "en"
        if bio_en:
            bio = (
                f"{topics[0].replace('-', ' ').capitalize()} from {city}. "
                f"{words[bp[0]].capitalize()}, {words[bp[1]]} and {words[bp[2]]}."
            )
        else:
            filler = sv.FILLER_WORDS[native]
            bio = (
                f"{words[bp[0]].capitalize()} · {words[bp[1]]} · "
                f"{filler[bp[3] % 20]} {filler[bp[2] % 20]} · {city}"
            )
        sw = sample_words[i]
        samples = [
            " ".join(sw[s]) + " #" + topics[s % len(topics)].replace("-", "") for s in range(3)
        ]

        accounts = []
        ap = L["acc_platform"][i]
        for s in range(3):
            p = ap[s]
            if p < 0:
                continue
            pname = platforms[p]
            hist_i = L["hist"][i][s]
            accounts.append(
                {
                    "id": new_id("social_account", ms=L["created_ms"][i], rng=id_rng),
                    "platform": pname,
                    "handle": handle,
                    "url": _profile_url(pname, handle),
                    "followers": L["followers"][i][s],
                    "avg_views": L["views"][i][s],
                    "avg_likes": L["likes"][i][s],
                    "avg_comments": L["comments"][i][s],
                    "avg_shares": L["shares"][i][s],
                    "avg_saves": L["saves"][i][s],
                    "posts_per_week": L["ppw"][i][s],
                    "follower_history": [
                        {"date": months_iso[m], "followers": hist_i[m]} for m in range(months)
                    ],
                }
            )

        start = sp_start[i]
        sponsored = [
            {
                "brand": w.sponsor_names[sp_brand[j]],
                "category": w.sponsor_categories[sp_brand[j]],
                "date": sp_day[j],
                "platform": platforms[sp_plat[j]],
            }
            for j in range(start, start + sp_count[i])
        ]

        currency = w.home_currency[h]
        card = L["card_amount"][i]
        listed = L["on_card"][i]
        rate_card = [
            {"deliverable_type": deliverables[d], "amount": card[d], "currency": currency}
            for d in range(len(deliverables))
            if listed[d]
        ]
        vals = list(ni.values)
        extra = ("community", "honesty", "quality", "diversity", "humour", "education", "", "")[
            L["value_pick"][i]
        ]
        if extra and extra not in vals:
            vals.append(extra)
        until = L["until"][i]
        listings.append(
            {
                "id": listing_id,
                "display_name": f"{first} {last}",
                "bio": bio,
                "country": home_code,
                "languages": langs,
                "topics": topics,
                "content_samples": samples,
                "values": vals,
                "refused_categories": L["refused"][i],
                "available": L["available"][i],
                "unavailable_until": None if until in (-1, NO_DATE) else _iso(until),
                "audience": {
                    "countries": L["pct_c"][i],
                    "age_bands": L["pct_age"][i],
                    "genders": L["pct_gender"][i],
                    "languages": L["pct_lang"][i],
                },
                "accounts": accounts,
                "sponsored_posts": sponsored,
                "rate_card": rate_card,
            }
        )
    return InfluencerBatch(ids=ids, listings=listings, latent=latent)


def _true_positions(mask: np.ndarray, keys: tuple[str, ...]) -> list[list[str]]:
    """Each row of a boolean matrix as the list of keys where it is True."""
    rows, cols = np.nonzero(mask)
    names = np.array(keys, dtype=object)[cols].tolist()
    bounds = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(mask)))]).tolist()
    return [names[a:b] for a, b in pairwise(bounds)]


def _sparse_rows(pct: np.ndarray, keys: tuple[str, ...]) -> list[dict[str, float]]:
    """Each row of a percentage matrix as {key: value} without the zeros (vectorised split)."""
    rows, cols = np.nonzero(pct > 0)
    names = np.array(keys, dtype=object)[cols].tolist()
    values = pct[rows, cols].tolist()
    bounds = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(pct)))]).tolist()
    return [dict(zip(names[a:b], values[a:b], strict=True)) for a, b in pairwise(bounds)]


def _profile_url(platform: str, handle: str) -> str:
    return {
        "instagram": f"https://instagram.com/{handle}",
        "tiktok": f"https://www.tiktok.com/@{handle}",
        "youtube": f"https://www.youtube.com/@{handle}",
        "twitch": f"https://www.twitch.tv/{handle}",
        "x": f"https://x.com/{handle}",
        "blog": f"https://{handle.replace('.', '-')}.blog.example",
        "podcast": f"https://podcasts.example/{handle}",
    }[platform]


# --------------------------------------------------------------------------------------
# Brands and briefs


def _brand_market(brand_id: str) -> str:
    """The home market of a brand: a stable function of its id (the shape has no country)."""
    codes = tuple(sv.HOME_COUNTRIES)
    weights = [sv.HOME_COUNTRIES[c][0] for c in codes]
    rng = random.Random(brand_id)  # noqa: S311 - deterministic choice, not security
    return rng.choices(codes, weights=weights)[0]


def make_brands(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(f"brands:{seed}")  # noqa: S311 - synthetic data
    base_ms = _ms(DEFAULT_NOW) - 400 * 86_400_000
    brands: list[dict[str, Any]] = []
    names: set[str] = set()
    for _ in range(n):
        name = _brand_name(rng)
        while name in names:
            name = _brand_name(rng)
        names.add(name)
        category = rng.choice(sv.BRAND_CATEGORIES)
        related = [x for x in sv.NICHES if category in x.categories] or list(sv.NICHES)
        values = sorted({v for x in rng.sample(related, min(2, len(related))) for v in x.values})
        brands.append(
            {
                "id": new_id("brand", ms=base_ms + rng.randrange(10**10), rng=rng),
                "name": name,
                "website": f"https://{_ascii_slug(name)}.example",
                "category": category,
                "values": values[:2],
                "competitor_brands": [],
                "competitor_categories": [],
                "blocked_influencers": [],
            }
        )
    by_category: dict[str, list[str]] = {}
    for b in brands:
        by_category.setdefault(b["category"], []).append(b["name"])
    for b in brands:
        rivals = [x for x in by_category[b["category"]] if x != b["name"]]
        b["competitor_brands"] = rng.sample(rivals, min(3, len(rivals)))
        if rng.random() < 0.3:
            b["competitor_categories"] = [rng.choice(sv.BRAND_CATEGORIES)]
    return brands


def make_briefs(
    n: int, brands: list[dict[str, Any]], seed: int, now: date = DEFAULT_NOW
) -> list[dict[str, Any]]:
    return make_briefs_with_latent(n, brands, seed, now)[0]


def make_briefs_with_latent(
    n: int, brands: list[dict[str, Any]], seed: int, now: date = DEFAULT_NOW
) -> tuple[list[dict[str, Any]], list[BriefLatent]]:
    if not brands:
        raise ValueError("briefs need at least one brand")
    rng = random.Random(f"briefs:{seed}")  # noqa: S311 - synthetic data
    briefs: list[dict[str, Any]] = []
    latents: list[BriefLatent] = []
    for _ in range(n):
        brand = rng.choice(brands)
        candidates = [i for i, x in enumerate(sv.NICHES) if brand["category"] in x.categories]
        if not candidates:
            candidates = list(range(len(sv.NICHES)))
        ni_idx = rng.choices(candidates, weights=[sv.NICHES[i].popularity for i in candidates])[0]
        ni = sv.NICHES[ni_idx]
        market = _brand_market(brand["id"])
        currency = sv.HOME_COUNTRIES[market][1]
        market_lang = sv.HOME_COUNTRIES[market][2][0]
        region = mv.COUNTRY_FACTS[market][1]

        topics = list(dict.fromkeys([ni.topics[0], *rng.sample(ni.topics, rng.randint(0, 1))]))
        words = rng.sample(ni.words, 8)
        objective = rng.choice(("awareness", "engagement", "traffic", "sales"))
        must = rng.sample(sv.MUST_HAVES, rng.randint(1, 3))
        title = f"{words[0].capitalize()} and {words[1]} with {brand['name']}"
        description = (
            f"{sv.OBJECTIVE_PHRASES[objective].format(brand=brand['name'])}. We are looking for "
            f"creators who make content about {' and '.join(t.replace('-', ' ') for t in topics)}"
            f": {', '.join(words[2:7])} and {words[7]}. Must haves: {', '.join(must)}."
        )

        r = rng.random()
        if r < 0.65:
            neighbours = [
                c for c in sv.HOME_COUNTRIES if c != market and mv.COUNTRY_FACTS[c][1] == region
            ]
            countries = [market, *rng.sample(neighbours, min(len(neighbours), rng.randint(0, 2)))]
        elif r < 0.8:
            countries = [c for c in sv.HOME_COUNTRIES if mv.COUNTRY_FACTS[c][1] == region]
        else:
            countries = []
        profile = np.array(sv.AGE_PROFILES[ni.ages])
        if rng.random() < 0.7:
            top = int(profile.argmax())
            lo = max(0, top - rng.randint(0, 1))
            hi = min(len(mv.AGE_BANDS) - 1, top + rng.randint(0, 1))
            age_bands = list(mv.AGE_BANDS[lo : hi + 1])
        else:
            age_bands = []
        genders: list[str] = []
        if ni.female > 0.75 and rng.random() < 0.5:
            genders = ["female"]
        elif ni.female < 0.25 and rng.random() < 0.5:
            genders = ["male"]
        languages = [market_lang] if rng.random() < 0.4 else []

        ranked = sorted(ni.platforms, key=lambda p: -ni.platforms[p] * rng.uniform(0.5, 1.5))
        platforms = ranked[: rng.choice((1, 1, 2))]
        deliverables = []
        for p in platforms:
            types = [d for d in mv.DELIVERABLES if mv.DELIVERABLE_PLATFORM[d] == p]
            deliverables.append({"type": rng.choice(types), "count": rng.randint(1, 3)})

        # The brand budgets for creators of one size (nano .. mid), at a fair rate.
        target_audience = 10 ** rng.uniform(3.7, 5.6)
        fair_usd = sum(
            d["count"]
            * max(
                DELIVERABLE_TYPES[d["type"]].median_cents_per_1k * target_audience / 1000,
                DELIVERABLE_TYPES[d["type"]].min_fee_cents,
            )
            for d in deliverables
        )
        fx = float(USD_TO_CURRENCY[currency])
        exp = MINOR_UNIT_EXPONENTS[currency]
        lo_major = float(_nice_amount(np.array([fair_usd * 0.5 / 100 * fx]))[0])
        hi_major = float(_nice_amount(np.array([fair_usd * 1.6 / 100 * fx]))[0])
        per_min = round(lo_major * 10**exp)
        per_max = round(hi_major * 10**exp)
        total = per_max * rng.randint(3, 15)

        deadline = now + timedelta(days=rng.randint(7, 30))
        content_due = deadline + timedelta(days=rng.randint(10, 25))
        publish_start = content_due + timedelta(days=rng.randint(1, 5))
        publish_end = publish_start + timedelta(days=rng.randint(7, 30))
        state = rng.choices(("open", "draft", "closed"), weights=(85, 7, 8))[0]
        brief_id = new_id("brief", ms=_ms(now) - rng.randrange(30 * 86_400_000), rng=rng)
        kpi_metric = {
            "awareness": "impressions",
            "engagement": "engagements",
            "traffic": "clicks",
            "sales": "conversions",
        }[objective]
        briefs.append(
            {
                "id": brief_id,
                "brand_id": brand["id"],
                "state": state,
                "title": title,
                "objective": objective,
                "description": description,
                "must_haves": must,
                "category": brand["category"],
                "target_audience": {
                    "countries": countries,
                    "age_bands": age_bands,
                    "genders": genders,
                    "languages": languages,
                },
                "topics": topics,
                "platforms": platforms,
                "deliverables": deliverables,
                "budget": {
                    "currency": currency,
                    "total": total,
                    "per_influencer_min": per_min,
                    "per_influencer_max": per_max,
                },
                "timeline": {
                    "application_deadline": deadline.isoformat(),
                    "content_due": content_due.isoformat(),
                    "publish_start": publish_start.isoformat(),
                    "publish_end": publish_end.isoformat(),
                },
                "terms_defaults": {
                    "approval_policy": rng.choice(("none", "first", "all")),
                    "revision_cap": rng.randint(1, 3),
                    "review_window_hours": 72,
                    "usage_rights": {"channels": ["organic"], "days": rng.choice((0, 30, 90))},
                    "exclusivity": {"category": brand["category"], "days": rng.choice((0, 0, 30))},
                    "disclosure_required": True,
                },
                "kpis": [{"metric": kpi_metric, "target": int(target_audience * 2)}],
                "visibility": "invite_only" if rng.random() < 0.15 else "public",
            }
        )
        cents_per_minor = mv.USD_CENTS_PER_MINOR[currency]
        latents.append(
            BriefLatent(
                brief_id=brief_id,
                niche=ni_idx,
                platform_mask=sum(1 << mv.PLATFORM_INDEX[p] for p in platforms),
                category=CATEGORY_INDEX.get(brand["category"], -1),
                publish_start_day=_day_number(publish_start),
                countries=tuple(mv.COUNTRY_INDEX[c] for c in countries),
                age_bands=tuple(mv.AGE_INDEX[a] for a in age_bands),
                genders=tuple(mv.GENDER_INDEX[g] for g in genders),
                languages=tuple(mv.LANGUAGE_INDEX[lang] for lang in languages),
                deliverables=tuple(
                    (mv.DELIVERABLE_INDEX[d["type"]], d["count"]) for d in deliverables
                ),
                budget_min_usd=per_min * cents_per_minor,
                budget_max_usd=per_max * cents_per_minor,
            )
        )
    return briefs, latents


# --------------------------------------------------------------------------------------
# Ground truth


class TruthBuilder:
    """Accumulates graded relevance per brief while listing blocks stream past.

    Grades, from latent variables only:
      3  primary niche is the brief's niche, the organic audience fits (geometric mean of the
         target shares >= 0.5), honest, not over-exposed, asking price within budget-ish
         (1/3 of the minimum .. 1.25 x the maximum), true engagement quality not poor
         (>= 0.8 x typical), and an account on every platform the brief needs;
      2  primary niche with at most one of those shortfalls (audience >= 0.3 still needed),
         or secondary niche with none;
      1  any other niche match that is honest and bookable;
      0  everything else: other niches, fakes, unavailable, wrong platform, refused category.
    """

    def __init__(self, briefs: list[BriefLatent], seed: int) -> None:
        self.seed = seed
        self.briefs = briefs
        self.fake_ids: list[str] = []
        self.grades: dict[str, dict[str, int]] = {b.brief_id: {} for b in briefs}

    def add(self, batch: InfluencerBatch) -> None:
        lat = batch.latent
        ids = batch.ids
        self.fake_ids.extend(ids[i] for i in np.flatnonzero(lat.fake).tolist())
        for b in self.briefs:
            grades = grade_block(b, lat)
            target = self.grades[b.brief_id]
            for i in np.flatnonzero(grades).tolist():
                target[ids[i]] = int(grades[i])

    def result(self) -> Truth:
        return Truth(seed=self.seed, fake_listings=list(self.fake_ids), briefs=self.grades)


def _share(dist: np.ndarray, targets: tuple[int, ...]) -> np.ndarray | None:
    if not targets:
        return None
    return dist[:, list(targets)].sum(axis=1)


def grade_block(b: BriefLatent, lat: ListingLatent) -> np.ndarray:
    """Graded relevance (0-3) of a block of listings for one brief, from latent variables."""
    has_platform = (lat.platform_mask.astype(np.int64) & b.platform_mask) != 0
    available = lat.available_until < b.publish_start_day
    refused = (
        ((lat.refused_mask >> b.category) & 1).astype(bool)
        if b.category >= 0
        else np.zeros(len(lat.niche), bool)
    )
    bookable = has_platform & available & ~refused & ~lat.fake
    primary = lat.niche == b.niche
    secondary = lat.niche2 == b.niche

    shares = [
        s
        for s in (
            _share(lat.aud_country, b.countries),
            _share(lat.aud_age, b.age_bands),
            _share(lat.aud_gender, b.genders),
            _share(lat.aud_language, b.languages),
        )
        if s is not None
    ]
    if shares:
        aud = np.exp(np.mean([np.log(np.maximum(s, 1e-6)) for s in shares], axis=0))
    else:
        aud = np.ones(len(lat.niche))

    cost = np.zeros(len(lat.niche))
    covers = np.ones(len(lat.niche), dtype=bool)
    for d, count in b.deliverables:
        price = lat.ask_usd[:, d].astype(np.float64)
        covers &= ~np.isnan(price)
        cost += count * np.nan_to_num(price, nan=0.0)
    in_budget = (cost >= b.budget_min_usd / 3.0) & (cost <= b.budget_max_usd * 1.25) & covers
    fresh = ~lat.overexposed
    good_quality = lat.quality >= 0.8

    shortfalls = (
        (~in_budget).astype(int) + (~fresh).astype(int) + (~good_quality).astype(int)
        + (aud < 0.5).astype(int)
    )  # fmt: skip
    grade = np.zeros(len(lat.niche), dtype=np.int8)
    grade[bookable & (primary | secondary)] = 1
    grade[bookable & primary & (aud >= 0.3) & (shortfalls <= 1)] = 2
    grade[bookable & secondary & ~primary & (shortfalls == 0)] = 2
    grade[bookable & primary & (shortfalls == 0)] = 3
    return grade


def ground_truth(
    brief_latents: list[BriefLatent], batches: Iterable[InfluencerBatch], seed: int
) -> Truth:
    builder = TruthBuilder(brief_latents, seed)
    for batch in batches:
        builder.add(batch)
    return builder.result()


def write_truth(path: str | Path, truth: Truth) -> None:
    """Write the ground truth as JSON (grades > 0 only). Never loaded into the database."""
    payload = {"seed": truth.seed, "fake_listings": truth.fake_listings, "briefs": truth.briefs}
    Path(path).write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")


# --------------------------------------------------------------------------------------
# Everything at once (small marketplaces: tests, demos, the seed command)


def generate_marketplace(
    listings: int, brands: int, briefs: int, seed: int, *, now: date = DEFAULT_NOW
) -> Marketplace:
    """A whole marketplace in memory. For large `listings` stream with iter_influencer_batches."""
    brand_rows = make_brands(brands, seed)
    brief_rows, brief_latents = make_briefs_with_latent(briefs, brand_rows, seed, now)
    builder = TruthBuilder(brief_latents, seed)
    all_listings: list[dict[str, Any]] = []
    for batch in iter_influencer_batches(listings, seed, now=now):
        builder.add(batch)
        all_listings.extend(batch.listings)
    return Marketplace(
        listings=all_listings,
        brands=brand_rows,
        briefs=brief_rows,
        truth=builder.result(),
        brief_latents=brief_latents,
    )
