"""Ranking listings for a brief (and briefs for a listing), with a reason per component.

Pipeline per brief, vectorised over the index's columns (float32, no Python loop over
listings):

1. Hard filters: an account on one of the brief's platforms (or the platforms of its
   deliverables), available for the publishing window, the brief's category not refused,
   not blocked by the brand, no exclusivity conflict, plus optional ``RankFilters``. A brief
   whose ``platform_coverage`` is "required" adds ``RankFilters.every_platform`` itself.
2. Components, each in [0, 1]:

   ================== =====================================================================
   topic_relevance    0.35 x depth-weighted share of the brief's topics the listing declares
                      (its first topic counts 1, the second 0.6, later ones less: main vs
                      side subject;
                      the creators' own topic names closest to the brief's words count as
                      the brief's topics, by closeness: ``_infer_topics``; a creator who
                      declares none of them but a topic the market declares with one of
                      them, a neighbouring subject, counts ``ADJACENT_SHARE``:
                      ``_adjacent_topics``) +
                      0.65 x TF-IDF cosine of the brief's text and topics, expanded with the
                      topics' profiles (the words creators on that topic use, any language;
                      inferred topics' too),
                      vs bio + samples + topics (saturating at 0.3); the more of a creator's
                      posts are on the topic, the higher the cosine; all of it x the
                      subject's depth: the share of the creator's content samples (and
                      recent posts' captions: ``posts.listing_captions``) placed
                      under a topic close to the brief (``SUBJECT_RATIO``), full from
                      ``DEPTH_FULL`` (a main subject), ``DEPTH_FLOOR`` at none (a side
                      subject); fewer than ``index.SAMPLE_MIN`` placed samples: x 1
   audience_fit       share of the audience in the target countries, ages, genders and
                      languages, each full at 80 %, combined by geometric mean over the
                      targeted dimensions ** 0.8 x the weakest dimension ** 0.2 (the brief
                      asks for every target at once: ``AUDIENCE_WEAKEST``; an empty target
                      is "any": 1); a dimension the listing does not report is estimated
                      (``UNKNOWN_AUDIENCE_*``), not 0; a creator whose country is not given
                      counts as living in the target when it makes content in a target
                      country's first language other than English (``_at_home``)
   authenticity       fake-follower evidence (see ``authenticity``), 1 = no evidence
   engagement_quality engagement rate / median of same platform and size: 1x -> 0.5,
                      2.5x -> 0.83, then falling (far above the tier is a warning sign),
                      1/4x -> 0 (log scale); best of the brief's platforms
   price_fit          rate card (or the fair-rate prior where the card has no price) for
                      the brief's deliverables vs the per-influencer budget: 1 inside,
                      max / cost above, (cost / min)^0.35 below; times a penalty above
                      1.5x the fair median for the creator's reach; times the share of
                      the deliverables the creator has a platform for, the cost being
                      scaled to the whole brief at its rates (with ``platform_coverage``
                      "alternatives": neither, what it asks for the deliverables it can
                      make is compared with the budget as it is; the crowded-budget check
                      prices candidates alike). When most topically
                      relevant candidates cost more than the maximum, the budget is below the
                      market: up to their median cost (at most 3x the maximum) price falls
                      only gently, beyond it as usual (relevance leads, yet a creator asking
                      many times the market still sinks), and the ranking says so
   over_exposure      1 = fresh; falls with the sponsored share of the last 90 days of
                      posts above 20 % (0 at 40 %) and with more than 6 brands in the last
                      30 days
   relationship       0.5 (neutral) unless the caller passes relationship scores
   ================== =====================================================================

3. score = weighted geometric mean of (0.02 + 0.98 x component; audience fit's floor 0.04:
   the subject comes first) x authenticity^1.5 x
   coverage^``COVERAGE_POWER`` (the share of the brief's deliverables the creator has a
   platform for; 1 for any share when the brief's ``platform_coverage`` is "alternatives",
   and under "required" only creators on every platform rank). The geometric mean makes a
   match an "and" of its components; the
   authenticity factor makes an account with fake-follower evidence sink (an authenticity
   weight of 0 turns it off too). Default weights: topic 0.30, audience 0.30, authenticity
   0.05, engagement 0.10, price 0.10, over-exposure 0.15, relationship 0.05; a caller's
   weights override by
   name. Three gates then put a listing after every ungated one, whatever else it scores
   (score x ``GATE_FACTOR``), each with its evidence in ``Match.gates`` and each relaxable
   through ``RankFilters``: authenticity below ``authenticity.GATE`` (fake followers),
   heavy over-exposure (at least 35 % of the last 90 days' posts sponsored, or at least
   ``authenticity.HEAVY_BRANDS_30`` brands in the last 30 days), and an inactive account (no
   dated post in ``INACTIVE_DAYS`` and no posting rate declared; the recent posts date it
   when any is dated, the declared sponsored posts only otherwise).
4. Top-k by ``np.argpartition``, ties by listing id; keyset cursor for the next page.
   Rows whose topic relevance is below a ``PRUNE_TOPIC`` threshold are scored only when the bound
   on their score does not rule them out, so the result is exact. Reasons are built only
   for the rows returned.

Money is compared in US cents with the static FX table of the fair-rate guidance
(``vocab.USD_CENTS_PER_MINOR``). The fair range mirrors ``rates.estimate_rate``'s prior
(median per 1,000 audience x engagement multiplier, minimum fee), vectorised; it ignores
agreed-price market data, usage rights and exclusivity uplifts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np

from app.services.catalogue.currencies import MINOR_UNIT_EXPONENTS
from app.services.catalogue.deliverable_types import DELIVERABLE_TYPES
from app.services.matching import authenticity as au
from app.services.matching import text as tx
from app.services.matching import vocab as mv
from app.services.matching.index import (
    SAMPLE_MIN,
    ListingIndex,
    day_number,
    geo_consistent,
    iso_day,
    topic_col,
)

COMPONENTS: tuple[str, ...] = (
    "topic_relevance",
    "audience_fit",
    "authenticity",
    "engagement_quality",
    "price_fit",
    "over_exposure",
    "relationship",
)
# Relevance (topic, audience) leads; price informs. Tuned on rapport_dev/world2 seeds 11-13,
# rapport_dev/seed seeds 21-23 and (round 3) rapport_dev/world3 seeds 31-33, never on the
# reported seeds (benchmarks/matching/README.md).
DEFAULT_WEIGHTS: dict[str, float] = {
    "topic_relevance": 0.30,
    "audience_fit": 0.30,
    "authenticity": 0.05,
    "engagement_quality": 0.10,
    "price_fit": 0.10,
    "over_exposure": 0.15,
    "relationship": 0.05,
}
# Score x authenticity ** this. Strong fake-follower evidence is the gate's (``au.GATE``); this
# factor orders the doubtful rest. Squared, one ambiguous signal (0.87) cost a quarter of the
# score, more than the doubt is worth; linear (a brand's expected value) let more fakes
# through on the tuning seeds. Tuned on the tuning seeds of all three generators (round 5).
AUTHENTICITY_GATE_POWER = 1.5
COSINE_SATURATION = 0.3  # a cosine this high is as relevant as text gets
EXPANSION = 0.25  # weight of the topics' profiles in the query (the brief's own words: the rest)
# Weight of the declared topics (by depth) in topic relevance, the text the rest (round 5: was
# 0.25; with the creators' own topic names matched to the brief, declarations say more).
TOPIC_SHARE_WEIGHT = 0.35
FAIR_OVERSHOOT = 1.5  # asking more than this x the fair median is penalised
UNDER_BUDGET_POWER = 0.35
OVER_BUDGET_POWER = 1.0
AUDIENCE_ENOUGH = 0.8  # this share of the audience in the target is a full audience fit
# Audience fit over several targeted dimensions: geometric mean ** (1 - this) x the weakest
# dimension's fit ** this (round 7: the geometric mean alone let a well-placed country make up
# for an audience of the wrong age).
AUDIENCE_WEAKEST = 0.2
# When more than this share of the topically relevant candidates cost more than the budget's
# maximum, the budget is below the market for this brief: a price up to the relevant
# candidates' median (at most NEGOTIABLE x the maximum) is what the market asks and costs
# little (power CROWDED_OVER_POWER); beyond that price falls as usual, so a creator asking
# many times what comparable creators ask still sinks. The ranking says so (`rank`'s `notes`).
CROWDED_SHARE = 0.5
CROWDED_OVER_POWER = 0.25
NEGOTIABLE = 3.0
ENGAGEMENT_PEAK = 2.5  # engagement up to this x the tier median is better; beyond, suspicious
MAX_LIMIT = 1000
# Topics inferred from the brief's words (``_infer_topics``): a declared topic whose profile
# has a cosine of at least INFER_MIN with the brief's words and INFER_RATIO x the closest one,
# at most INFER_MAX of them. Each counts, by its closeness, as one of the brief's own topics
# in the declared share and in the query expansion.
INFER_MIN = 0.05
INFER_RATIO = 0.6
INFER_MAX = 4
# Topic depth from the content samples (``index.SAMPLE_MIN``): a sample is on the brief's
# subject when the topic it was placed under has a profile at least SUBJECT_RATIO x as close
# to the brief's words as the closest topic's. Topic relevance x (DEPTH_FLOOR + (1 -
# DEPTH_FLOOR) x min(share on the subject / DEPTH_FULL, 1)): a subject that is at least
# DEPTH_FULL of what the creator posts is a main subject; under it, the less, the lower.
# Tuned on the twelve tuning worlds (issue 13). Round 7 kept 40 % / 0.7: full at 60 % then
# cost world3 31 its fake+over-exposed share (1.8 -> 2.5 %). Round 9, with partial platform
# coverage scored x coverage ** 0.25, swept full 0.4-0.8 and floor 0.5-0.7: from 0.6 to 0.8
# every generator gains and fake shares move a slot at most; a floor under 0.6 costs world3.
# 70 % / 0.65 (the middle of that plateau): world3 0.807 -> 0.811, world4 0.807 -> 0.818,
# seed 0.918 -> 0.921, world2 0.920 -> 0.923. A creator who posts on the subject half the
# time covers it, but not as its own.
SUBJECT_RATIO = 0.5
DEPTH_FULL = 0.7
DEPTH_FLOOR = 0.65
# Neighbouring subjects (round 8): a creator who declares none of the brief's topics (nor an
# inferred one) but a topic the market declares together with one of them, ADJACENT_LIFT x as
# often as by chance or more (``index.topic_adjacent``), counts as declaring ADJACENT_SHARE of
# the brief's subject (by the declared topic's depth; a full declared match is 1): above an
# unrelated creator at home (world2's, world3's and world4's truths grade such a neighbour 1),
# but, at 0.1 (topic relevance ~0.035), still below the subject's creators abroad, which the
# seed generator's truth grades 1 and its neighbours 0. Tuned on the twelve tuning worlds:
# share 0.2-0.3 lifts world3 33 by 0.01 but costs seed 22 0.02-0.04; lift 2-3 lets in
# neighbours the seed generator's families make by chance (lift 2-3.2 there, 2.5-10 in world3).
ADJACENT_SHARE = 0.1
ADJACENT_LIFT = 4.0
# Score x (share of the brief's deliverables the creator can make) ** this: a creator for half
# of them x 0.84. The four generators' truths read a brief's two platforms four ways (world3:
# every one required, so a creator on one is graded 0; world4: alternatives; the seed
# generator: one grade less; world2 names one platform), and nothing in a brief or its market
# tells which a brand means (round 6-8). Round 9 swept the power on the tuning worlds: 0.5
# (square root, rounds 1-8) 0.831 / 0.743 on world3 / world4, 0.35 0.818 / 0.781, 0.25 0.807 /
# 0.807, 0.15 0.796 / 0.840, 0 0.771 / 0.868 (the seed generator +0.005..+0.009 below 0.5,
# world2 unchanged). 0.25 is where the two opposite truths lose alike: the default that is
# least wrong on a world we have not seen. A brand that means one reading says so with the
# brief's `platform_coverage`.
COVERAGE_POWER = 0.25
# What the brief's platforms mean (the brief's `platform_coverage`): "preferred" (the default)
# scores a creator for part of the deliverables lower (score x coverage ** COVERAGE_POWER, price
# for the whole brief at its rates, times the coverage); "required" ranks only creators on
# every platform (the `every_platform` filter); "alternatives" takes the platforms as
# alternatives: a creator for any of them is a full match, priced on what it can make.
PLATFORM_COVERAGE: tuple[str, ...] = ("preferred", "required", "alternatives")

_PRICE_MEDIAN = np.array(
    [DELIVERABLE_TYPES[d].median_cents_per_1k for d in mv.DELIVERABLES], dtype=np.float32
)
_PRICE_MIN = np.array([DELIVERABLE_TYPES[d].min_fee_cents for d in mv.DELIVERABLES], np.float32)
_DELIVERABLE_P = np.array([mv.PLATFORM_INDEX[mv.DELIVERABLE_PLATFORM[d]] for d in mv.DELIVERABLES])


# The index's audience column of each targeted dimension.
_AUDIENCE_COLUMNS = {
    "countries": "aud_country",
    "age_bands": "aud_age",
    "genders": "aud_gender",
    "languages": "aud_lang",
}


@dataclass(frozen=True)
class Match:
    """One ranked listing: score in [0, 1] and, per component, (value in [0, 1], reason).

    `gates` names the hard lines the listing crossed (fake-follower evidence, heavy
    over-exposure), each with its evidence: a gated listing ranks after every ungated one.
    """

    listing_id: str
    score: float
    components: dict[str, tuple[float, str]]
    gates: dict[str, str] = field(default_factory=dict)

    @property
    def cursor(self) -> str:
        """Opaque keyset cursor: pass as `offset_cursor` to get the results after this one."""
        return f"{self.score!r}|{self.listing_id}"


@dataclass(frozen=True)
class BriefMatch:
    """One ranked brief for a listing (reverse ranking), with the same components."""

    brief_id: str
    score: float
    components: dict[str, tuple[float, str]]


@dataclass(frozen=True)
class RankFilters:
    """Optional extra hard filters (the brief's own filters always apply)."""

    countries: frozenset[str] = frozenset()  # the creator's home country
    languages: frozenset[str] = frozenset()  # creator speaks any of these
    min_followers: int | None = None  # on the brief's platforms (largest account)
    max_followers: int | None = None
    min_authenticity: float | None = None
    # Only creators with an account on every platform of the brief (by default a creator
    # missing one ranks lower, as part of a match: the brand could split the campaign).
    every_platform: bool = False
    # Gates (on by default): listings past them rank after every other. A brand relaxes one
    # to rank such listings by their score like any other.
    gate_fake_followers: bool = True
    gate_over_exposure: bool = True
    gate_inactive: bool = True


GATES: tuple[str, ...] = ("fake_followers", "over_exposure", "inactive")
# No dated post in this many days and no posting rate declared: an inactive account (the
# window every other activity signal reads). Either one alone convicts nobody: posts a
# creator lists may be old favourites, and a rate left out is only data left out.
INACTIVE_DAYS = 90
GATE_FACTOR = 1e-3  # a gated score is below every ungated one (see `combine`)


# --------------------------------------------------------------------------------------
# Weights


def resolve_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """Defaults overridden by `weights`; unknown names, negatives, NaN or all-zero raise."""
    resolved = dict(DEFAULT_WEIGHTS)
    for name, value in (weights or {}).items():
        if name not in DEFAULT_WEIGHTS:
            raise ValueError(f"unknown score component {name!r}; known: {', '.join(COMPONENTS)}")
        v = float(value)
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"weight of {name} must be a finite number >= 0, got {value!r}")
        resolved[name] = v
    if sum(resolved.values()) <= 0:
        raise ValueError("at least one weight must be positive")
    return resolved


# --------------------------------------------------------------------------------------
# The brief, resolved against the index


@dataclass
class BriefQuery:
    brief: Mapping[str, Any]
    platform_mask: int
    platforms: list[int]
    deliverables: list[tuple[int, int]]
    budget_min: float | None  # US cents
    budget_max: float | None
    currency: str
    cents_per_minor: float
    category_mask: int
    start_day: int
    countries: list[int]
    ages: list[int]
    genders: list[int]
    languages: list[int]
    text_cols: np.ndarray
    text_vals: np.ndarray
    word_of: dict[int, str]
    topic_cols: np.ndarray
    topics: list[str] = field(default_factory=list)
    # The creators' own topic names the brief's words are about (``_infer_topics``): hashed
    # topic, closeness relative to the closest (0-1].
    inferred: list[tuple[int, float]] = field(default_factory=list)
    # US cents: the market's price for this brief when the budget is crowded (see
    # CROWDED_SHARE), the point up to which cost over the maximum is only mildly penalised.
    market_ceiling: float | None = None
    platform_coverage: str = "preferred"  # one of PLATFORM_COVERAGE
    # Profiled topics close to the brief's words and topics (``SUBJECT_RATIO``): a content
    # sample placed under one of them is on the brief's subject.
    subject_topics: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    # Topics the market declares with the brief's (``_adjacent_topics``): (neighbour, weight,
    # the brief's topic it neighbours, lift), hashed.
    adjacent: list[tuple[int, float, int, float]] = field(default_factory=list)


def resolve_brief(index: ListingIndex, brief: Mapping[str, Any]) -> BriefQuery:
    deliverables = []
    for item in brief.get("deliverables") or ():
        k = mv.DELIVERABLE_INDEX.get(item.get("type"))
        if k is not None:
            deliverables.append((k, max(int(item.get("count") or 1), 1)))
    platforms = [
        mv.PLATFORM_INDEX[p] for p in brief.get("platforms") or () if p in mv.PLATFORM_INDEX
    ]
    if not platforms:
        platforms = sorted({int(_DELIVERABLE_P[k]) for k, _ in deliverables})
    if not platforms:
        platforms = list(range(len(mv.PLATFORMS)))  # no platform asked: any will do
    budget = brief.get("budget") or {}
    currency = budget.get("currency") or "USD"
    rate = mv.USD_CENTS_PER_MINOR.get(currency)
    lo, hi = budget.get("per_influencer_min"), budget.get("per_influencer_max")
    timeline = brief.get("timeline") or {}
    start = timeline.get("publish_start") or timeline.get("content_due")
    target = brief.get("target_audience") or {}
    cols, word_of = tx.brief_terms(dict(brief))
    qcols, qvals = tx.weighted_query(cols, index.idf)
    topics = [t for t in brief.get("topics") or () if t]
    inferred = _infer_topics(index, qcols, qvals, topics)
    topic_cols = np.unique(np.array([topic_col(t) for t in topics], dtype=np.int32))
    qcols, qvals = _expand(index, qcols, qvals, topics, inferred)
    coverage = brief.get("platform_coverage") or "preferred"
    if coverage not in PLATFORM_COVERAGE:
        raise ValueError(
            f"unknown platform_coverage {coverage!r}; known: {', '.join(PLATFORM_COVERAGE)}"
        )
    return BriefQuery(
        brief=brief,
        platform_mask=sum(1 << p for p in platforms),
        platforms=platforms,
        deliverables=deliverables,
        budget_min=float(lo) * rate if (lo is not None and rate) else None,
        budget_max=float(hi) * rate if (hi is not None and rate) else None,
        currency=currency if rate else "USD",
        cents_per_minor=rate or 1.0,
        category_mask=index.category_mask(brief.get("category")),
        start_day=day_number(start) if start else index.as_of_day,
        countries=_indices(target.get("countries"), mv.COUNTRY_INDEX, mv.OTHER_COUNTRY),
        ages=_indices(target.get("age_bands"), mv.AGE_INDEX, None),
        genders=_indices(target.get("genders"), mv.GENDER_INDEX, None),
        languages=_indices(target.get("languages"), mv.LANGUAGE_INDEX, mv.OTHER_LANGUAGE),
        text_cols=qcols,
        text_vals=qvals,
        word_of=word_of,
        topic_cols=topic_cols,
        topics=topics,
        inferred=inferred,
        adjacent=_adjacent_topics(index, topic_cols, inferred),
        platform_coverage=coverage,
        subject_topics=_subject_topics(index, qcols, qvals),
    )


def _subject_topics(index: ListingIndex, qcols: np.ndarray, qvals: np.ndarray) -> np.ndarray:
    """The profiled topics whose profile is close to the (expanded) query: at least INFER_MIN
    and SUBJECT_RATIO x the closest. A content sample placed under one is about the brief."""
    cols, sims = index.topics_like(qcols, qvals)
    if not len(sims) or float(sims.max()) < INFER_MIN:
        return np.zeros(0, np.int32)
    keep = sims >= SUBJECT_RATIO * float(sims.max())
    return np.unique(cols[keep]).astype(np.int32)


def _infer_topics(
    index: ListingIndex, qcols: np.ndarray, qvals: np.ndarray, topics: list[str]
) -> list[tuple[int, float]]:
    """The creators' own topic names for what the brief describes: declared topics whose
    profile (the words their creators use) is close to the brief's words, at least
    ``INFER_MIN`` and ``INFER_RATIO`` x the closest. A brand writes "footwear" where creators
    declare "sneakers" or "sneaker-collecting"; matching names only, the brief's subject
    would be declared by nobody. The brief's own topics are not repeated here."""
    cols, sims = index.topics_like(qcols, qvals)
    if not len(sims):
        return []
    best = float(sims.max())
    if best < INFER_MIN:
        return []
    own = {topic_col(t) for t in topics}
    keep = np.flatnonzero(sims >= max(INFER_MIN, INFER_RATIO * best))
    keep = keep[np.argsort(-sims[keep], kind="stable")][:INFER_MAX]
    return [(int(cols[k]), float(sims[k]) / best) for k in keep if int(cols[k]) not in own]


def _adjacent_topics(
    index: ListingIndex, topic_cols: np.ndarray, inferred: list[tuple[int, float]]
) -> list[tuple[int, float, int, float]]:
    """The topics the market declares together with the brief's own and inferred topics (lift
    at least ``ADJACENT_LIFT``), none of those themselves: (neighbour, weight, the brief's
    topic, lift), the weight being the brief's topic's (an inferred topic's closeness, 1 for
    its own); a neighbour of several keeps the heaviest."""
    sources = [(int(t), 1.0) for t in topic_cols.tolist()] + list(inferred)
    own = {t for t, _ in sources}
    best: dict[int, tuple[float, int, float]] = {}
    for t, r in sources:
        near = index.topic_adjacent.get(t)
        if near is None:
            continue
        for b, lift in zip(near[0].tolist(), near[1].tolist(), strict=True):
            if b in own or lift < ADJACENT_LIFT:
                continue
            if b not in best or (r, lift) > best[b][::2]:
                best[b] = (r, t, lift)
    return [(b, r, t, lift) for b, (r, t, lift) in sorted(best.items())]


def _expand(
    index: ListingIndex,
    qcols: np.ndarray,
    qvals: np.ndarray,
    topics: list[str],
    inferred: list[tuple[int, float]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Add the profiles (the words their creators use, in any language) of the brief's topics
    and of the topics inferred from its words to the query with weight EXPANSION against the
    brief's own words; L2-normalised."""
    weighted = [(p, 1.0) for t in topics if (p := index.topic_profiles.get(topic_col(t)))]
    weighted += [(index.topic_profiles[t], r) for t, r in inferred or ()]
    profiles = [p for p, _ in weighted]
    if not profiles:
        return qcols, qvals
    cols = np.concatenate([qcols, *(p[0] for p in profiles)])
    total = sum(r for _, r in weighted)
    own = np.float32(1.0 - EXPANSION) if len(qcols) else np.float32(0.0)
    vals = np.concatenate(
        [qvals * own, *(p[1] * np.float32(EXPANSION * r / total) for p, r in weighted)]
    )
    uniq, inverse = np.unique(cols, return_inverse=True)
    merged = np.zeros(len(uniq), np.float64)
    np.add.at(merged, inverse, vals)
    norm = float(np.sqrt((merged**2).sum()))
    if norm == 0.0:
        return qcols, qvals
    return uniq.astype(np.int32), (merged / norm).astype(np.float32)


def _indices(names: Iterable[str] | None, vocab: Mapping[str, int], other: int | None) -> list[int]:
    """Vocabulary positions of the names; unknown names map to `other` (or are dropped)."""
    out = {vocab.get(name, other) for name in names or ()}
    return sorted(k for k in out if k is not None)


# --------------------------------------------------------------------------------------
# Hard filters


def hard_filter_mask(
    index: ListingIndex,
    q: BriefQuery,
    *,
    filters: RankFilters | None = None,
    blocked_ids: Iterable[str] = (),
    exclusivity_conflicts: Iterable[str] = (),
) -> np.ndarray:
    n = index.n
    c = index.cols
    mask = c["alive"][:n].copy()
    mask &= (c["platform_mask"][:n] & np.uint8(q.platform_mask)) != 0
    mask &= c["available"][:n] | (c["unavail_until"][:n] < q.start_day)
    if q.category_mask:
        mask &= (c["refused_mask"][:n] & np.uint64(q.category_mask)) == 0
    filters = _with_brief_filters(q, filters)
    if filters is not None:
        mask &= _extra_filter_mask(index, q, filters, slice(0, n))
    for lid in (*blocked_ids, *exclusivity_conflicts):
        row = index.row_of.get(lid)
        if row is not None:
            mask[row] = False
    return mask


def _extra_filter_mask(
    index: ListingIndex, q: BriefQuery, f: RankFilters, rows: slice
) -> np.ndarray:
    c = index.cols
    out = np.ones(rows.stop - rows.start, dtype=bool)
    if f.countries:
        wanted = [mv.COUNTRY_INDEX[x] for x in f.countries if x in mv.COUNTRY_INDEX]
        out &= np.isin(c["country"][rows], wanted)
    if f.languages:
        bits = sum(1 << mv.LANGUAGE_INDEX[x] for x in f.languages if x in mv.LANGUAGE_INDEX)
        out &= (c["lang_mask"][rows] & np.uint64(bits)) != 0
    if f.min_followers is not None or f.max_followers is not None:
        reach = c["followers"][q.platforms, rows].max(axis=0)
        if f.min_followers is not None:
            out &= reach >= f.min_followers
        if f.max_followers is not None:
            out &= reach <= f.max_followers
    if f.min_authenticity is not None:
        out &= c["authenticity"][rows] >= f.min_authenticity
    if f.every_platform and _named_platforms(q):
        out &= (c["platform_mask"][rows] & np.uint8(q.platform_mask)) == q.platform_mask
    return out


def _with_brief_filters(q: BriefQuery, filters: RankFilters | None) -> RankFilters | None:
    """The request's filters and the brief's own: a brief whose platforms are all required
    (``platform_coverage`` "required") filters as the request's ``every_platform=true``."""
    if q.platform_coverage != "required" or (filters is not None and filters.every_platform):
        return filters
    return replace(filters or RankFilters(), every_platform=True)


def _named_platforms(q: BriefQuery) -> bool:
    """Whether the brief names its platforms (directly or by its deliverables); a brief that
    names none accepts any, and "every platform" would mean all of them."""
    return bool(q.brief.get("platforms") or q.deliverables)


# --------------------------------------------------------------------------------------
# Components (vectorised over a row range)


@dataclass
class _Parts:
    topic_share: np.ndarray
    cosine: np.ndarray
    shares: list[tuple[str, np.ndarray]]
    cost: np.ndarray
    fair: np.ndarray
    coverage: np.ndarray
    best_ratio: np.ndarray
    on_subject: np.ndarray | None = None  # share of the placed content samples on the subject


@dataclass
class _Topic:
    """Topic relevance of every row (cheap: only the query's posting lists are touched)."""

    relevance: np.ndarray
    share: np.ndarray
    cosine: np.ndarray
    # Share of the placed content samples on the brief's subject (None: the brief's words
    # are close to no topic); rows with fewer than index.SAMPLE_MIN placed are not judged.
    on_subject: np.ndarray | None = None


def topic_relevance(index: ListingIndex, q: BriefQuery) -> _Topic:
    # Full-length float32 arrays (a million rows: 4 MB each), so as few as possible are made:
    # the arithmetic is in place, the same operations in the same order.
    n = index.n
    one = np.float32(1.0)
    cosine = index.text.scores(q.text_cols, q.text_vals, n)
    if len(q.topic_cols) or q.inferred:
        n_topics = max(len(q.topic_cols), 1)
        per_topic = np.full(len(q.topic_cols), 1.0 / n_topics, np.float32)
        cols = q.topic_cols
        if q.inferred:
            # A creator declaring a topic the brief's words are about (under the creators'
            # name for it) declares the brief's subject, as far as the names are close.
            extra = np.array([t for t, _ in q.inferred], dtype=np.int32)
            weight = np.array([r for _, r in q.inferred], np.float32) * np.float32(1 / n_topics)
            cols = np.concatenate([cols, extra])
            per_topic = np.concatenate([per_topic, weight])
        share = index.topics.scores(cols, per_topic, n)
        np.minimum(share, one, out=share)
        if q.adjacent:
            # A neighbouring subject: a small share of the brief's, by the declared depth.
            near = index.topics.scores(
                np.array([b for b, *_ in q.adjacent], dtype=np.int32),
                np.array([r for _, r, *_ in q.adjacent], np.float32) * np.float32(ADJACENT_SHARE),
                n,
            )
            np.minimum(near, np.float32(ADJACENT_SHARE), out=near)
            np.maximum(share, near, out=share)
        text_part = cosine * np.float32(1 / COSINE_SATURATION)
        np.minimum(text_part, one, out=text_part)
        text_part *= np.float32(1 - TOPIC_SHARE_WEIGHT)
        topic = np.float32(TOPIC_SHARE_WEIGHT) * share
        topic += text_part
    elif len(q.text_cols):
        share = np.zeros(n, np.float32)
        topic = cosine * np.float32(1 / COSINE_SATURATION)
        np.minimum(topic, one, out=topic)
    else:
        share = np.zeros(n, np.float32)
        topic = np.full(n, 0.5, np.float32)
    on_subject = None
    if len(q.subject_topics):
        # Depth: how much of what the creator posts is on the subject. A creator whose
        # samples are mostly about other subjects covers this one on the side.
        on_subject = index.samples.scores(
            q.subject_topics, np.ones(len(q.subject_topics), np.float32), n
        )
        np.minimum(on_subject, one, out=on_subject)
        depth = on_subject * np.float32(1 / DEPTH_FULL)
        np.minimum(depth, one, out=depth)
        depth *= np.float32(1 - DEPTH_FLOOR)
        depth += np.float32(DEPTH_FLOOR)
        depth[index.cols["samples_placed"][:n] < SAMPLE_MIN] = one  # no evidence: no judgement
        topic *= depth
    return _Topic(topic, share, cosine, on_subject)


def components(
    index: ListingIndex,
    q: BriefQuery,
    rows: np.ndarray,
    relationship: Mapping[str, float | tuple[float, str]] | None = None,
    topic: _Topic | None = None,
) -> tuple[dict[str, np.ndarray], _Parts]:
    """Every component for the given rows (an index array), vectorised."""
    c = index.cols
    n_rows = len(rows)
    t = topic if topic is not None else topic_relevance(index, q)

    # Audience fit: geometric mean of the targeted dimensions' shares.
    shares: list[tuple[str, np.ndarray]] = []
    for name, targets in (
        ("countries", q.countries),
        ("age_bands", q.ages),
        ("genders", q.genders),
        ("languages", q.languages),
    ):
        if targets:
            arr = c[_AUDIENCE_COLUMNS[name]]
            total = arr[targets[0]][rows].astype(np.float32)
            for k in targets[1:]:
                total += arr[k][rows]
            share = np.minimum(total * np.float32(1 / 200), 1.0)
            # A dimension the listing does not report is unknown, not 0 %: estimated from
            # what the listing does say (most of an audience lives in the creator's country
            # and speaks the creator's languages), else neutral. Missing data never convicts.
            nothing = np.flatnonzero(total == 0)
            if len(nothing):
                silent = nothing[_silent(arr, rows[nothing])]
                if len(silent):
                    share[silent] = _unknown_share(index, name, targets, rows[silent])
            shares.append((name, share.astype(np.float32)))
    if shares:
        # A share at or above AUDIENCE_ENOUGH of the target is a full fit: past that point a
        # bigger share is no better a match (creators with international audiences are not
        # pushed down by the foreign part of an audience that already reaches the target).
        prod = np.minimum(shares[0][1] * np.float32(1 / AUDIENCE_ENOUGH), 1.0)
        weakest = prod.copy()
        for _, sh in shares[1:]:
            fit = np.minimum(sh * np.float32(1 / AUDIENCE_ENOUGH), 1.0)
            prod *= fit
            np.minimum(weakest, fit, out=weakest)
        audience = prod
        if len(shares) > 1:
            # The brief asks for all of its targets at once (Germans *and* 25-34): a dimension
            # far off the target is not made up for by the others, so the weakest one counts
            # extra (``AUDIENCE_WEAKEST``) on top of the geometric mean.
            audience = prod ** np.float32((1.0 - AUDIENCE_WEAKEST) / len(shares))
            audience *= weakest ** np.float32(AUDIENCE_WEAKEST)
    else:
        audience = np.ones(n_rows, np.float32)

    # Engagement quality on the brief's platforms.
    er_ratio = c["er_ratio"]
    best = er_ratio[q.platforms[0]][rows]
    for p in q.platforms[1:]:
        best = np.fmax(best, er_ratio[p][rows])
    eng = engagement_curve(best)

    # Price fit.
    cost, fair, coverage = _costs(c, q, rows)
    price_fit = _price_fit(q, cost, fair, coverage)

    rel = np.full(n_rows, 0.5, np.float32)
    if relationship:
        known: list[int] = []
        values: list[float] = []
        for lid, value in relationship.items():
            row = index.row_of.get(lid)
            if row is not None:
                v = value[0] if isinstance(value, tuple) else value
                known.append(row)
                values.append(min(max(float(v), 0.0), 1.0))
        if known and n_rows:
            # Where each known listing sits in `rows` (rows are distinct), by binary search
            # rather than one scan of `rows` per listing.
            wanted = np.array(known, dtype=np.int64)
            sorter = np.argsort(rows, kind="stable")
            at = np.minimum(np.searchsorted(rows, wanted, sorter=sorter), n_rows - 1)
            slots = sorter[at]
            hit = rows[slots] == wanted
            rel[slots[hit]] = np.array(values, dtype=np.float64)[hit]

    comps = {
        "topic_relevance": t.relevance[rows],
        "audience_fit": audience.astype(np.float32),
        "authenticity": c["authenticity"][rows],
        "engagement_quality": eng,
        "price_fit": price_fit,
        "over_exposure": c["freshness"][rows],
        "relationship": rel,
    }
    parts = _Parts(
        t.share[rows],
        t.cosine[rows],
        shares,
        cost,
        fair,
        coverage,
        best,
        t.on_subject[rows] if t.on_subject is not None else None,
    )
    return comps, parts


def _costs(
    c: Mapping[str, np.ndarray], q: BriefQuery, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The brief's deliverables priced for each row (rate card, else the fair-rate prior), in
    US cents: (cost, fair median, coverage: the share of the deliverables it has a platform
    for; 1 when the brief lists none)."""
    n_rows = len(rows)
    er_ratio = c["er_ratio"]
    cost = np.zeros(n_rows, np.float32)
    fair = np.zeros(n_rows, np.float32)
    covered = np.zeros(n_rows, np.float32)
    total_count = sum(cnt for _, cnt in q.deliverables)
    for d, cnt in q.deliverables:
        p = int(_DELIVERABLE_P[d])
        followers = c["followers"][p][rows]
        size = followers
        if mv.PLATFORMS[p] in mv.AUDIENCE_FROM_VIEWS:
            # Listens or reads per episode; unknown (not reported) is not 0: the subscribers.
            views = c["views"][p][rows]
            size = np.where(views > 0, views, followers)
        has = followers > 0
        ratio = er_ratio[p][rows]
        mult = np.clip(np.sqrt(np.where(np.isnan(ratio), 1.0, ratio)), 0.7, 1.5)
        fair_d = np.maximum(_PRICE_MEDIAN[d] * size * np.float32(1 / 1000) * mult, _PRICE_MIN[d])
        asked = c["price"][d][rows]
        price = np.where(np.isnan(asked), fair_d, asked)
        cost += np.where(has, cnt * price, 0.0).astype(np.float32)
        fair += np.where(has, cnt * fair_d, 0.0).astype(np.float32)
        covered += np.where(has, np.float32(cnt), np.float32(0))
    if not total_count:
        return cost, fair, np.ones(n_rows, np.float32)
    return cost, fair, covered / np.float32(total_count)


def _whole_brief(cost: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """What the creator's rates would cost for all of the brief's deliverables: a creator who
    can make a quarter of them is compared with the budget for all of them at four times its
    price for that quarter (a quarter of the budget), not found "cheaper than planned"."""
    whole: np.ndarray = np.where(coverage > 0, cost / np.maximum(coverage, 1e-6), cost)
    return whole.astype(np.float32)


def _counted(q: BriefQuery, coverage: np.ndarray) -> np.ndarray:
    """The coverage the score and the price count: the share of the deliverables itself, or,
    when the brief takes its platforms as alternatives, 1 for a creator who can make any of
    them (0 for one who can make none)."""
    if q.platform_coverage != "alternatives":
        return coverage
    return (coverage > 0).astype(np.float32)


def _price_fit(
    q: BriefQuery, cost: np.ndarray, fair: np.ndarray, coverage: np.ndarray
) -> np.ndarray:
    """Price fit from `_costs`: the budget, the fair median, the deliverables covered (as
    the brief counts them, `_counted`: with alternatives, what the creator asks for the
    deliverables it can make is compared with the budget as it is)."""
    n_rows = len(cost)
    if not q.deliverables:
        return np.ones(n_rows, np.float32)
    budget_fit = np.ones(n_rows, np.float32)
    coverage = _counted(q, coverage)
    asked, cost = cost, _whole_brief(cost, coverage)
    if q.budget_max is not None:
        over = cost > q.budget_max
        if q.market_ceiling is not None and q.market_ceiling > q.budget_max > 0:
            # Crowded budget: the market's price costs little, beyond it as usual.
            ceiling = np.float32(q.market_ceiling)
            within = np.minimum(cost, ceiling)
            fit = (q.budget_max / np.maximum(within, 1.0)) ** np.float32(CROWDED_OVER_POWER)
            fit *= (ceiling / np.maximum(cost, ceiling)) ** np.float32(OVER_BUDGET_POWER)
        else:
            fit = (q.budget_max / np.maximum(cost, 1.0)) ** np.float32(OVER_BUDGET_POWER)
        budget_fit = np.where(over, fit, budget_fit)
    if q.budget_min is not None and q.budget_min > 0:
        under = cost < q.budget_min
        # Cheaper than planned is fine for the wallet but hints at a smaller creator than
        # the brand had in mind: a gentle penalty.
        below = (np.maximum(cost, 0.0) / q.budget_min) ** np.float32(UNDER_BUDGET_POWER)
        budget_fit = np.where(under, below, budget_fit)
    fairness = np.minimum(1.0, FAIR_OVERSHOOT * fair / np.maximum(asked, 1.0))
    price_fit: np.ndarray = (budget_fit * fairness * coverage).astype(np.float32)
    return price_fit


FLOOR = 0.02  # components enter the geometric mean as FLOOR + (1 - FLOOR) x value
# Audience fit's floor is higher (round 6): a creator on the brief's subject whose audience
# lives elsewhere is a weak match (the content fits; the reach is wrong), one whose content
# is about something else is none however well placed the audience. With one floor for both,
# an unrelated creator with the target audience outranked the subject's creators in narrow
# markets (one country, one language) where few on-topic creators reach the target.
AUDIENCE_FLOOR = 0.04
_FLOORS = {"audience_fit": AUDIENCE_FLOOR}
# An audience the listing does not report: the share guessed in the target when the creator
# lives in (or speaks the language of) a target, when not, and for ages and genders; the
# first two only where too few creators report that dimension (``_audience_prior``).
UNKNOWN_AUDIENCE_HOME, UNKNOWN_AUDIENCE_AWAY, UNKNOWN_AUDIENCE_NEUTRAL = 0.4, 0.05, 0.5


_ORDER_SAMPLE = 4096  # rows sampled to order a dimension's columns, most reported first


def _silent(arr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions in `rows` of the rows with nothing at all in the audience dimension `arr`
    (columns x index rows). Column by column, most often reported first, dropping every row
    found to report something: a few passes over the rows instead of one per column (up to
    61), the same answer as summing the whole dimension."""
    order = np.argsort(-np.count_nonzero(arr[:, :_ORDER_SAMPLE], axis=1), kind="stable")
    left = np.arange(len(rows))
    for k in order.tolist():
        if not len(left):
            break
        zero = arr[k][rows] == 0
        left, rows = left[zero], rows[zero]
    return left


def _unknown_share(
    index: ListingIndex, name: str, targets: list[int], rows: np.ndarray
) -> np.ndarray:
    """The estimated share in the target for rows that report nothing in this dimension:
    what the creators who do report show on average, those living in (speaking the language
    of) a target apart from the others (``_audience_prior``); ages and genders neutral."""
    if name not in ("countries", "languages"):
        return np.full(len(rows), UNKNOWN_AUDIENCE_NEUTRAL, np.float32)
    at_home, away, _, _ = _audience_prior(index, name, targets)
    return np.where(_at_home(index.cols, name, targets, rows), at_home, away).astype(np.float32)


# Per country, the bit (in ``lang_mask``) of its first language unless that is English, else
# 0: the language that places a creator whose country is not given (round 7, world4). English
# places nobody (creators everywhere make content in it), nor do a country's second languages
# (Spanish in the US, French in Belgium and Canada).
_PLACING_LANGUAGE = np.array(
    [
        1 << mv.LANGUAGE_INDEX[facts[0][0]]
        if (facts := mv.COUNTRY_FACTS.get(code)) and facts[0][0] != "en"
        else 0
        for code in mv.COUNTRIES
    ],
    dtype=np.uint64,
)


def _at_home(
    c: Mapping[str, np.ndarray], name: str, targets: list[int], rows: np.ndarray | slice
) -> np.ndarray:
    """Whether each row's creator lives in a target country (`name` "countries") or speaks a
    target language ("languages"): the group whose reports estimate an unreported audience.
    A creator whose country is not given (or not one the index lists) counts as living in the
    target when it makes content in a target country's first language other than English
    (``_placed_by_language``): a Spanish-language creator of unknown country on a brief for
    Spain and Mexico is estimated like the creators there, not like those abroad."""
    if name == "countries":
        home: np.ndarray = np.isin(c["country"][rows], targets)
        home |= _placed_by_language(c, targets, rows)
        return home
    bits = sum(1 << k for k in targets if k < 64)
    speaks: np.ndarray = (c["lang_mask"][rows] & np.uint64(bits)) != 0
    return speaks


def _placing_bits(countries: list[int]) -> int:
    """The ``lang_mask`` bits of the languages that place a creator of unknown country in one
    of these countries (``_PLACING_LANGUAGE``)."""
    return int(np.bitwise_or.reduce(_PLACING_LANGUAGE[countries])) if countries else 0


def _placed_by_language(
    c: Mapping[str, np.ndarray], targets: list[int], rows: np.ndarray | slice
) -> np.ndarray:
    """Rows whose country is not given (or not listed) and whose creator makes content in a
    target country's first language other than English (``_PLACING_LANGUAGE``)."""
    bits = _placing_bits(targets)
    placed: np.ndarray = c["country"][rows] == mv.OTHER_COUNTRY
    if bits:
        placed &= (c["lang_mask"][rows] & np.uint64(bits)) != 0
    else:
        placed[:] = False
    return placed


PRIOR_SAMPLE = 100_000  # reporting rows an audience prior is averaged over, at most
PRIOR_MIN_ROWS = 30  # fewer reporting creators in a group: the constant is used instead


def _audience_prior(
    index: ListingIndex, name: str, targets: list[int]
) -> tuple[float, float, bool, bool]:
    """Mean share in the target among the creators who report this dimension, for those who
    live in (speak the language of) a target and for the others: the expected audience of
    a creator who reports none. A creator abroad reaches a given market a little (how
    little depends on the market: 0-12 % on world3's briefs), one at home mostly. Cached per
    target until the index's statistics are refitted; UNKNOWN_AUDIENCE_* when too few
    creators report (the last two values say whether each was measured)."""
    key = (name, *targets)
    cached = index.audience_priors.get(key)
    if cached is not None:
        return cached
    c = index.cols
    col = _AUDIENCE_COLUMNS[name]
    n = index.n
    step = max(1, n // PRIOR_SAMPLE)
    arr = c[col][:, :n:step]
    reports = (arr.sum(axis=0) > 0) & c["alive"][:n:step]
    total = arr[targets].sum(axis=0).astype(np.float32) * np.float32(1 / 200)
    home = _at_home(c, name, targets, slice(0, n, step))
    out, measured = [], []
    for group, default in ((home, UNKNOWN_AUDIENCE_HOME), (~home, UNKNOWN_AUDIENCE_AWAY)):
        picked = total[reports & group]
        measured.append(len(picked) >= PRIOR_MIN_ROWS)
        out.append(min(float(picked.mean()), 1.0) if measured[-1] else default)
    prior = (out[0], out[1], measured[0], measured[1])
    index.audience_priors[key] = prior
    return prior


def engagement_curve(ratio: np.ndarray) -> np.ndarray:
    """Engagement / tier median -> quality: 1x -> 0.5, rising to ENGAGEMENT_PEAK (0.83), then
    falling (4x -> 0.5, 8x -> 0.15): engagement far above the tier is a warning sign (pods,
    bought likes), not a quality. NaN (no data) -> 0.5, neutral."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log2(np.maximum(ratio, 1e-3))
        peak = np.float32(math.log2(ENGAGEMENT_PEAK))
        up = 0.5 + 0.25 * lg
        down = 0.5 + 0.25 * peak - 0.5 * (lg - peak)
        eng = np.clip(np.where(lg <= peak, up, down), 0.0, 1.0)
    return np.where(np.isfinite(ratio), eng, 0.5).astype(np.float32)


def gate_masks(
    index: ListingIndex, rows: np.ndarray, filters: RankFilters | None
) -> dict[str, np.ndarray]:
    """Per gate, which rows cross it (only the gates in force)."""
    c = index.cols
    out: dict[str, np.ndarray] = {}
    if filters is None or filters.gate_fake_followers:
        out["fake_followers"] = c["authenticity"][rows] < np.float32(au.GATE)
    if filters is None or filters.gate_over_exposure:
        share = au.sponsored_share(
            c["sponsored90"][rows], c["recent_posts"][rows], c["post_sponsored"][rows]
        )
        heavy = share >= np.float32(au.HEAVY_SPONSORED_SHARE)
        out["over_exposure"] = heavy | (c["concurrent30"][rows] >= np.float32(au.HEAVY_BRANDS_30))
    if filters is None or filters.gate_inactive:
        last = c["last_post_day"][rows].astype(np.int32)
        stale = (last > 0) & (last < index.as_of_day - INACTIVE_DAYS)
        out["inactive"] = stale & (c["recent_posts"][rows] <= 0)
    return out


def combine(comps: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted geometric mean of the components, times the authenticity gate.

    A geometric mean makes the score an "and": a listing must fit on every weighted
    component, which is what a brand means by a good match (the right niche *and* the
    right audience *and* affordable). The floor keeps one zero from erasing the order of
    everything else; audience fit's is higher (``AUDIENCE_FLOOR``): the subject comes first.
    """
    total = float(sum(weights.values()))
    log_score = np.zeros_like(comps["topic_relevance"])
    for name, w in weights.items():
        if w:
            floor = _FLOORS.get(name, FLOOR)
            value = np.float32(floor) + np.float32(1 - floor) * comps[name]
            log_score += np.float32(w / total) * np.log(value)
    if weights.get("authenticity", 0) > 0:
        log_score += np.float32(AUTHENTICITY_GATE_POWER) * np.log(
            np.maximum(comps["authenticity"], np.float32(1e-6))
        )
    score: np.ndarray = np.exp(log_score)
    return score


# --------------------------------------------------------------------------------------
# Ranking

# Topic-relevance thresholds tried in turn: rows below a threshold are scored only if the
# rows above cannot fill the top k, since their score is at most
# (FLOOR + (1 - FLOOR) x threshold) ** (topic weight share).
PRUNE_TOPIC: tuple[float, ...] = (0.15, 0.05)


def rank(
    index: ListingIndex,
    brief: Mapping[str, Any],
    *,
    weights: Mapping[str, float] | None = None,
    limit: int = 20,
    offset_cursor: str | None = None,
    filters: RankFilters | None = None,
    blocked_ids: Iterable[str] = (),
    exclusivity_conflicts: Iterable[str] = (),
    relationship: Mapping[str, float | tuple[float, str]] | None = None,
    notes: list[str] | None = None,
) -> list[Match]:
    """Top `limit` listings for the brief, best first, each with its component reasons.

    Exact: rows are pruned only when a bound proves they cannot reach the top `limit`.
    Listings past a gate (``RankFilters.gate_*``) rank after every other. `notes`, when
    given, receives sentences about the ranking as a whole (e.g. a crowded budget).
    """
    w = resolve_weights(weights)
    limit = max(0, min(int(limit), MAX_LIMIT))
    q = resolve_brief(index, brief)
    mask = hard_filter_mask(
        index,
        q,
        filters=filters,
        blocked_ids=blocked_ids,
        exclusivity_conflicts=exclusivity_conflicts,
    )
    if limit == 0 or not mask.any():
        return []
    cursor = _parse_cursor(offset_cursor) if offset_cursor else None
    topic = topic_relevance(index, q)
    # The candidates and their topic relevance, gathered once: the steps below select among
    # them rather than pass over every row of the index again.
    cand = np.flatnonzero(mask)
    relevance = topic.relevance[cand]
    w = _crowded_budget(index, q, cand[relevance >= 0.3], w, notes)

    # Every component is <= 1, so a row's score is at most its topic term to the power of
    # the topic weight's share (times 1 for the rest). Score the rows above a topic
    # threshold first; widen only when the k-th best score found does not beat the bound
    # of the rows left out (the result is exact either way).
    share = w["topic_relevance"] / sum(w.values())
    result = None
    for threshold in (*PRUNE_TOPIC, 0.0) if share > 0 else (0.0,):
        if threshold > 0:
            rows = cand[relevance >= threshold]
            if len(rows) == len(cand):
                continue
        else:
            rows = cand
        result = _top(index, q, rows, w, topic, limit, cursor, relationship, filters)
        bound = (FLOOR + (1 - FLOOR) * threshold) ** share if threshold > 0 else 0.0
        if result is not None and len(result[0]) == limit and result[1][-1] > bound:
            break
    if result is None:
        return []
    top_rows, top_scores, comps, parts, positions, gated = result
    why = _ReasonData.collect(index, q, np.array(top_rows, dtype=np.int64))
    return [
        Match(
            listing_id=index.ids[r],
            score=float(sc),
            components=_reasons(index, q, r, pos, comps, parts, relationship, why, k),
            gates=_gate_reasons(index, r, gated, pos, why, k),
        )
        for k, (r, sc, pos) in enumerate(zip(top_rows, top_scores, positions, strict=True))
    ]


def _crowded_budget(
    index: ListingIndex,
    q: BriefQuery,
    relevant: np.ndarray,
    w: dict[str, float],
    notes: list[str] | None,
) -> dict[str, float]:
    """Set the market's price (`q.market_ceiling`) when most of the `relevant` candidates
    (topic relevance >= 0.3) cost more than the budget allows."""
    if q.budget_max is None or not q.deliverables or not w.get("price_fit"):
        return w
    if len(relevant) < 10:
        return w
    cost, _, coverage = _costs(index.cols, q, relevant)  # the price alone decides
    cost = _whole_brief(cost, _counted(q, coverage))  # as `_price_fit` prices them
    over = float(np.mean(cost > q.budget_max))
    if over <= CROWDED_SHARE or q.budget_max <= 0:
        return w
    market = float(np.median(cost[coverage > 0]))
    q.market_ceiling = min(market, NEGOTIABLE * q.budget_max)
    if notes is not None:
        notes.append(
            f"{over * 100:.0f}% of the relevant creators cost more than the per-influencer "
            f"maximum of {_money(q.budget_max, q)} (their median: {_money(market, q)}): up to "
            f"{_money(q.market_ceiling, q)} price counts little and relevance leads; creators "
            "asking more still rank lower; consider raising the budget"
        )
    return w


def match_score(
    comps: Mapping[str, np.ndarray], w: Mapping[str, float], q: BriefQuery, parts: _Parts
) -> np.ndarray:
    """The components combined (`combine`) times the coverage factor: a creator who can
    deliver only part of the brief (no account on one of its platforms) is only part of a
    match, whatever the weights: the brand would need someone else for the rest (unless the
    brief takes its platforms as alternatives: `_counted`). Both directions score with it."""
    covered = _counted(q, parts.coverage)
    score: np.ndarray = (combine(comps, w) * covered ** np.float32(COVERAGE_POWER)).astype(
        np.float32
    )
    return score


def _top(
    index: ListingIndex,
    q: BriefQuery,
    rows: np.ndarray,
    w: Mapping[str, float],
    topic: _Topic,
    limit: int,
    cursor: tuple[float, str] | None,
    relationship: Mapping[str, float | tuple[float, str]] | None,
    filters: RankFilters | None = None,
) -> (
    tuple[list[int], list[float], dict[str, np.ndarray], _Parts, list[int], dict[str, np.ndarray]]
    | None
):
    """Score `rows`, apply the cursor, return the best `limit` (rows, scores, positions)."""
    if len(rows) == 0:
        return None
    comps, parts = components(index, q, rows, relationship, topic)
    score = match_score(comps, w, q, parts)
    gated = gate_masks(index, rows, filters)
    for crossed in gated.values():
        score = np.where(crossed, score * np.float32(GATE_FACTOR), score).astype(np.float32)
    if cursor is not None:
        last_score, last_id = cursor
        after = score < np.float32(last_score)
        ties = np.flatnonzero(score == np.float32(last_score))
        after[ties] = [index.ids[rows[t]] > last_id for t in ties.tolist()]
        score = np.where(after, score, -np.inf).astype(np.float32)
    live = int(np.count_nonzero(score > -np.inf))
    if live == 0:
        return None
    k = min(limit, live)
    top = np.argpartition(-score, k - 1)[:k] if k < len(score) else np.arange(len(score))
    # Include every position tied with the k-th score so ties break by id, deterministically.
    kth = score[top].min()
    top = np.union1d(top, np.flatnonzero(score == kth))
    top = top[score[top] > -np.inf]
    order = sorted(top.tolist(), key=lambda t: (-float(score[t]), index.ids[rows[t]]))[:k]
    return (
        [int(rows[t]) for t in order],
        [float(score[t]) for t in order],
        comps,
        parts,
        order,
        gated,
    )


def _parse_cursor(cursor: str) -> tuple[float, str]:
    try:
        s, lid = cursor.split("|", 1)
        return float(s), lid
    except ValueError as exc:
        raise ValueError(f"malformed cursor {cursor!r}") from exc


def filtered_out_reason(
    index: ListingIndex,
    brief: Mapping[str, Any],
    listing_id: str,
    *,
    filters: RankFilters | None = None,
    blocked_ids: Iterable[str] = (),
    exclusivity_conflicts: Iterable[str] = (),
) -> str | None:
    """Why the listing cannot appear in the brief's ranking; None when it can."""
    row = index.row_of.get(listing_id)
    if row is None:
        return "listing is not in the matching index (unknown, removed or not yet indexed)"
    if listing_id in set(blocked_ids):
        return "the brand has blocked this influencer"
    if listing_id in set(exclusivity_conflicts):
        return "an exclusivity clause in an existing contract conflicts with this brief"
    q = resolve_brief(index, brief)
    c = index.cols
    if not int(c["platform_mask"][row]) & q.platform_mask:
        wanted = "/".join(mv.PLATFORMS[p] for p in q.platforms)
        have = "/".join(
            p for i, p in enumerate(mv.PLATFORMS) if int(c["platform_mask"][row]) >> i & 1
        )
        return f"no account on the brief's platforms ({wanted}); has {have or 'no accounts'}"
    if not c["available"][row] and not c["unavail_until"][row] < q.start_day:
        until = int(c["unavail_until"][row])
        when = (
            "until further notice" if until >= np.iinfo(np.int32).max else f"until {iso_day(until)}"
        )
        return f"unavailable {when}, the brief publishes from {iso_day(q.start_day)}"
    if q.category_mask and int(c["refused_mask"][row]) & q.category_mask:
        return f"refuses the brief's category ({brief.get('category')})"
    asked = filters
    filters = _with_brief_filters(q, filters)
    if filters is not None and filters.every_platform and _named_platforms(q):
        have_mask = int(c["platform_mask"][row])
        missing = [mv.PLATFORMS[p] for p in q.platforms if not have_mask >> p & 1]
        if missing:
            by = (
                "every_platform"
                if asked is not None and asked.every_platform
                else "the brief's platform_coverage: required"
            )
            return (
                f"no account on {'/'.join(missing)}, and every platform of the brief is "
                f"required ({by})"
            )
    if filters is not None and not _extra_filter_mask(index, q, filters, slice(row, row + 1))[0]:
        return "excluded by the search filters (country, language, followers or authenticity)"
    return None


# --------------------------------------------------------------------------------------
# Reverse ranking: briefs for one listing


def rank_briefs_for_listing(
    listing: Mapping[str, Any],
    briefs: Iterable[Mapping[str, Any]],
    *,
    index: ListingIndex | None = None,
    weights: Mapping[str, float] | None = None,
    limit: int = 20,
    exclusivity_conflicts: Iterable[str] = (),
    blocked_by_brands: Iterable[str] = (),
    relationship: Mapping[str, float | tuple[float, str]] | None = None,
) -> list[BriefMatch]:
    """Briefs ranked for one listing with the same components, filters and reasons.

    `index` lends its statistics (IDF, engagement medians) so scores are comparable with the
    forward ranking; without it IDF is flat and medians are the priors. Left out: briefs
    whose hard filters exclude the listing, brief ids in `exclusivity_conflicts`, briefs of
    the brand ids in `blocked_by_brands` (brands that blocked this influencer).
    `relationship` maps a brief id or brand id to a score (or (score, reason)).
    Briefs are few, so this loops over them; reasons are built for the returned ones only.
    """
    w = resolve_weights(weights)
    mini = ListingIndex(as_of=index.as_of if index is not None else None)
    if index is not None:
        mini.idf = index.idf
        mini.stats = index.stats
        mini.categories = dict(index.categories)
    else:
        mini.idf = np.ones(tx.N_FEATURES, np.float32)
    mini.upsert(listing)
    if index is not None:
        # The index's topic profiles and names too (after the upsert, which may refit the
        # mini index's own): a brief's topics are inferred and expanded as in the forward
        # ranking.
        mini.topic_profiles = index.topic_profiles
        mini.topic_adjacent = index.topic_adjacent
        mini.topic_names = {**index.topic_names, **mini.topic_names}
    lid = listing["id"]
    conflicts = set(exclusivity_conflicts)
    blocked = set(blocked_by_brands)
    scored: list[tuple[float, str, Any]] = []
    rows = np.zeros(1, dtype=np.int64)
    for brief in briefs:
        if brief.get("id") in conflicts or brief.get("brand_id") in blocked:
            continue
        q = resolve_brief(mini, brief)
        if not hard_filter_mask(mini, q)[0]:
            continue
        if index is not None:
            # An unreported audience is estimated from the index's reporting creators, not
            # from this one listing (see `_audience_prior`).
            for name, targets in (("countries", q.countries), ("languages", q.languages)):
                if targets:
                    key = (name, *targets)
                    mini.audience_priors[key] = _audience_prior(index, name, targets)
        rel = None
        if relationship:
            brand_id: str | None = brief.get("brand_id")
            v = relationship.get(brief["id"]) or (
                relationship.get(brand_id) if brand_id is not None else None
            )
            rel = {lid: v} if v is not None else None
        comps, parts = components(mini, q, rows, rel)
        score = float(match_score(comps, w, q, parts)[0])
        scored.append((score, brief["id"], (q, comps, parts, rel)))
    scored.sort(key=lambda item: (-item[0], item[1]))
    out = []
    for score, brief_id, (q, comps, parts, rel) in scored[: max(0, limit)]:
        why = _ReasonData.collect(mini, q, rows)
        reasons = _reasons(mini, q, 0, 0, comps, parts, rel, why, 0)
        out.append(BriefMatch(brief_id=brief_id, score=score, components=reasons))
    return out


# --------------------------------------------------------------------------------------
# Reasons (only for the rows returned)


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _major(usd_cents: float, q: BriefQuery) -> str:
    minor = usd_cents / q.cents_per_minor
    return f"{minor / 10 ** MINOR_UNIT_EXPONENTS.get(q.currency, 2):,.0f}"


def _money(usd_cents: float, q: BriefQuery) -> str:
    """An amount in the brief's currency, whole major units (display only)."""
    return f"{_major(usd_cents, q)} {q.currency}"


@dataclass
class _ReasonData:
    """Per-returned-row facts for the reasons, gathered in one vectorised pass."""

    topic_hit: np.ndarray  # (rows, brief topics)
    inferred_hit: np.ndarray  # (rows, inferred topics)
    adjacent_hit: np.ndarray  # (rows, neighbouring topics)
    text_hit: np.ndarray  # (rows, query columns)
    evidence: au.Evidence
    # The query's words, heaviest first: (position in q.text_cols, word), once per ranking.
    words: list[tuple[int, str]]
    # Per row, for the audience reason: whether it reports anything in each dimension, and
    # whether its creator lives in a target country / speaks a target language.
    reported: dict[str, list[bool]]
    at_home: dict[str, list[bool]]
    # Per row: the sponsored share of its flagged posts (nan: no per-post data).
    flagged: list[float]

    @classmethod
    def collect(cls, index: ListingIndex, q: BriefQuery, rows: np.ndarray) -> _ReasonData:
        topic_cols = np.array([topic_col(t) for t in q.topics], dtype=np.int64)
        cols = q.text_cols.tolist()
        c = index.cols
        return cls(
            topic_hit=index.topics.contains(rows, topic_cols, index.n),
            inferred_hit=index.topics.contains(
                rows, np.array([t for t, _ in q.inferred], dtype=np.int64), index.n
            ),
            adjacent_hit=index.topics.contains(
                rows, np.array([b for b, *_ in q.adjacent], dtype=np.int64), index.n
            ),
            text_hit=index.text.contains(rows, q.text_cols, index.n),
            evidence=index.evidence(rows),
            words=[
                (j, q.word_of[cols[j]])
                for j in np.argsort(-q.text_vals).tolist()
                if cols[j] in q.word_of
            ],
            reported={
                name: (c[col][:, rows] != 0).any(axis=0).tolist()
                for name, col in _AUDIENCE_COLUMNS.items()
            },
            at_home={
                "countries": _at_home(c, "countries", q.countries, rows).tolist(),
                "languages": _at_home(c, "languages", q.languages, rows).tolist(),
            },
            flagged=au.share_of(c["post_sponsored"][rows]).tolist(),
        )


def _reasons(
    index: ListingIndex,
    q: BriefQuery,
    row: int,
    i: int,
    comps: Mapping[str, np.ndarray],
    parts: _Parts,
    relationship: Mapping[str, float | tuple[float, str]] | None,
    why: _ReasonData,
    k: int,
) -> dict[str, tuple[float, str]]:
    """Reasons for index row `row`: values at position `i` of `comps`, facts at `k` of `why`."""
    c = index.cols
    out: dict[str, tuple[float, str]] = {}

    # Topic relevance.
    have_topics = [t for t, h in zip(q.topics, why.topic_hit[k], strict=True) if h]
    words = []
    if len(q.text_cols):
        hit = why.text_hit[k].tolist()
        words = [word for j, word in why.words if hit[j]][:5]
    like = [
        index.topic_names.get(t, f"topic #{t}")
        for (t, _), h in zip(q.inferred, why.inferred_hit[k], strict=True)
        if h
    ]
    like_text = (
        f"declares {', '.join(like)} (creators' name{'s' if len(like) > 1 else ''} for what "
        "the brief describes, from the words they use)"
    )
    if have_topics:
        topic_text = f"shares topic{'s' if len(have_topics) > 1 else ''} {', '.join(have_topics)}"
        if like:
            topic_text += f"; {like_text}"
    elif like:
        topic_text = like_text
    elif near := [a for a, h in zip(q.adjacent, why.adjacent_hit[k], strict=True) if h]:
        # The strongest neighbour: the one declared together most often, as the evidence.
        b, _, t, lift = max(near, key=lambda a: (a[1], a[3]))
        slug = index.topic_names.get
        topic_text = (
            f"declares {slug(b, f'topic #{b}')}, which creators of {slug(t, f'topic #{t}')} "
            f"often cover too (declared together {lift:.1f}x as often as by chance: a related "
            "topic)"
        )
    elif q.topics:
        topic_text = f"none of the brief's topics ({', '.join(q.topics)})"
    else:
        topic_text = "the brief names no topics"
    word_text = f"; content mentions {', '.join(words)}" if words else "; few words in common"
    # The similarity belongs to the words; the depth part, in brackets of its own, comes after.
    word_text += f" (text similarity {float(parts.cosine[i]):.2f})"
    n_placed = int(c["samples_placed"][row])
    if parts.on_subject is not None and n_placed >= SAMPLE_MIN:
        on = round(float(parts.on_subject[i]) * n_placed)
        what = (
            "content samples and post captions"
            if int(c["evidence_mask"][row]) & au.SAMPLES_CAPTIONED
            else "content samples"
        )
        word_text += f"; {on} of {n_placed} {what} on the brief's subject" + (
            " (a main subject)"
            if on >= DEPTH_FULL * n_placed
            else f" (a side subject: under {DEPTH_FULL:.0%} of the content)"
        )
    out["topic_relevance"] = (
        float(comps["topic_relevance"][i]),
        f"{topic_text}{word_text}",
    )

    # Audience fit.
    if parts.shares:
        target = q.brief.get("target_audience") or {}
        bits = []
        for name, share in parts.shares:
            s = float(share[i])
            label = {
                "countries": "in " + "/".join(target.get("countries") or ()),
                "age_bands": "aged " + _age_label(target.get("age_bands") or ()),
                "genders": "/".join(target.get("genders") or ()),
                "languages": "speak " + "/".join(target.get("languages") or ()),
            }[name]
            reported = why.reported[name][k]
            if not reported and name in ("countries", "languages"):
                # The estimate `_unknown_share` used, and whose reports it averages.
                targets = q.countries if name == "countries" else q.languages
                home = why.at_home[name][k]
                placed = ""
                if name == "countries":
                    who = "living in" if home else "outside"
                    if home and int(c["country"][row]) == mv.OTHER_COUNTRY:
                        placing = _placing_bits(q.countries)
                        spoken = [
                            lang
                            for j, lang in enumerate(mv.LANGUAGES)
                            if (placing & int(c["lang_mask"][row])) >> j & 1
                        ]
                        placed = (
                            f"; no country given, content in {'/'.join(spoken)}: estimated "
                            "like the creators living there"
                        )
                else:
                    who = "speaking" if home else "not speaking"
                where = "/".join(target.get(name) or ())
                prior = _audience_prior(index, name, targets)
                bits.append(
                    f"~{_pct(s)} {label} (not reported: the mean that creators {who} {where} "
                    f"report{placed})"
                    if prior[2 if home else 3]
                    else f"~{_pct(s)} {label} (not reported, and too few creators {who} "
                    f"{where} report theirs: a prior{placed})"
                )
            elif not reported:
                bits.append(f"~{_pct(s)} {label} (not reported: neutral)")
            else:
                bits.append(f"{_pct(s)} {label}")
        audience_text = f"audience: {', '.join(bits)}"
        fits = [min(float(share[i]) / AUDIENCE_ENOUGH, 1.0) for _, share in parts.shares]
        if len(fits) > 1 and min(fits) < min(max(fits), 1.0):
            # The weakest dimension counts extra in the fit (``AUDIENCE_WEAKEST``).
            weakest = bits[fits.index(min(fits))]
            audience_text += f"; weakest: {weakest}, which counts extra (every target at once)"
    else:
        audience_text = "the brief sets no target audience, so any audience fits"
    out["audience_fit"] = (float(comps["audience_fit"][i]), audience_text)

    out["authenticity"] = (
        float(comps["authenticity"][i]),
        _authenticity_reason(index, row, why.evidence, k),
    )

    # Engagement quality.
    best_ratio = float(parts.best_ratio[i])
    if math.isfinite(best_ratio):
        ratios = [(float(c["er_ratio"][p, row]), p) for p in q.platforms]
        ratio, p = max((r, p) for r, p in ratios if math.isfinite(r))
        f = float(c["followers"][p, row])
        er = float(c["er"][p, row])
        median = er / ratio if ratio > 0 else float("nan")
        tier = mv.tier_of(f)
        plat = mv.PLATFORM_LABEL[mv.PLATFORMS[p]]
        if ratio >= 1:
            rel_text = f"{ratio:.1f}x the {tier}-{plat} median {median * 100:.1f}%"
        else:
            rel_text = (
                f"{1 / max(ratio, 1e-3):.1f}x below the {tier}-{plat} median {median * 100:.1f}%"
            )
        eng_text = f"engagement {er * 100:.1f}% on {plat} ({f:,.0f} followers) is {rel_text}"
    else:
        eng_text = "no engagement data on the brief's platforms (neutral)"
    out["engagement_quality"] = (float(comps["engagement_quality"][i]), eng_text)

    # Price fit.
    if q.deliverables:
        items, missing = [], []
        for d, cnt in q.deliverables:
            if not c["followers"][int(_DELIVERABLE_P[d]), row] > 0:
                missing.append(f"{cnt} x {mv.DELIVERABLES[d]}")  # no account: not in the cost
                continue
            asked = float(c["price"][d, row])
            src = "rate card" if math.isfinite(asked) else "estimate"
            items.append(f"{cnt} x {mv.DELIVERABLES[d]} ({src})")
        cost, coverage = float(parts.cost[i]), float(parts.coverage[i])
        alternatives = q.platform_coverage == "alternatives"
        text = f"{' + '.join(items) or 'nothing'} = {_money(cost, q)}"
        if 0 < coverage < 1 and alternatives:
            text += f" for the {_pct(coverage)} of them it can make"
        elif 0 < coverage < 1:
            cost /= coverage  # the budget is for all of the deliverables (`_whole_brief`)
            text += f" for {_pct(coverage)} of them ({_money(cost, q)} for all at its rates)"
        if q.budget_min is not None and q.budget_max is not None:
            rng_text = f"{_major(q.budget_min, q)}-{_major(q.budget_max, q)} {q.currency}"
            if cost > q.budget_max > 0:
                text += f", {cost / q.budget_max:.1f}x over the {rng_text} budget"
                if q.market_ceiling is not None and q.market_ceiling > q.budget_max:
                    text += (
                        f" (most relevant creators cost more too: up to "
                        f"{_money(q.market_ceiling, q)} counts little)"
                        if cost <= q.market_ceiling
                        else f", {cost / q.market_ceiling:.1f}x what relevant creators ask "
                        f"({_money(q.market_ceiling, q)})"
                    )
            elif cost > q.budget_max:  # a budget of 0 has no ratio to give
                text += f", over the {rng_text} budget"
            elif cost < q.budget_min:
                text += f", below the {rng_text} budget (smaller creator than planned)"
            else:
                text += f", within the {rng_text} budget"
        fair, asked = float(parts.fair[i]), float(parts.cost[i])
        if fair > 0 and asked > FAIR_OVERSHOOT * fair:
            text += f"; asks {asked / fair:.1f}x the fair median {_money(fair, q)} for its reach"
        no_account = f", no account for {' + '.join(missing)}" if missing else ""
        if coverage < 1 and alternatives and coverage > 0:
            text += (
                f"; can make {_pct(coverage)} of the deliverables{no_account}; the brief takes "
                "its platforms as alternatives (no penalty)"
            )
        elif coverage < 1:
            text += (
                f"; can deliver only {_pct(coverage)} of the deliverables{no_account} (the brief "
                "prefers creators for all of them: ranked lower)"
                if q.platform_coverage == "preferred"
                else f"; can deliver only {_pct(coverage)} of the deliverables{no_account}"
            )
    else:
        text = "the brief lists no deliverables to price"
    out["price_fit"] = (float(comps["price_fit"][i]), text)

    # Over-exposure.
    brands = int(c["concurrent30"][row])
    brands_text = f"{brands} brand{'s' if brands != 1 else ''} in the last 30 days"
    out["over_exposure"] = (
        float(comps["over_exposure"][i]),
        f"{_sponsored_text(index, row, why.flagged[k])}; {brands_text}",
    )

    # Relationship.
    lid = index.ids[row]
    value = (relationship or {}).get(lid)
    if value is None:
        rel_text = "no history with this brand (neutral)"
    elif isinstance(value, tuple):
        rel_text = value[1]
    else:
        rel_text = f"past work with this brand scores {float(value):.2f}"
    out["relationship"] = (float(comps["relationship"][i]), rel_text)
    return out


def _age_label(bands: Iterable[str]) -> str:
    bands = [b for b in bands if b in mv.AGE_INDEX]
    if not bands:
        return "any age"
    idx = sorted(mv.AGE_INDEX[b] for b in bands)
    if idx == list(range(idx[0], idx[-1] + 1)) and len(idx) > 1:
        lo = mv.AGE_BANDS[idx[0]].split("-")[0]
        hi = mv.AGE_BANDS[idx[-1]]
        hi = hi.split("-")[1] if "-" in hi else "+"
        return f"{lo}-{hi}" if hi != "+" else f"{lo}+"
    return "/".join(mv.AGE_BANDS[k] for k in idx)


def _gate_reasons(
    index: ListingIndex,
    row: int,
    gated: Mapping[str, np.ndarray],
    pos: int,
    why: _ReasonData,
    k: int,
) -> dict[str, str]:
    """For each gate the row crossed: the evidence, and how the brand relaxes it."""
    c = index.cols
    out: dict[str, str] = {}
    crossed = gated.get("fake_followers")
    if crossed is not None and crossed[pos]:
        out["fake_followers"] = (
            f"authenticity {float(c['authenticity'][row]):.2f} is below {au.GATE:.2f}: "
            f"{_authenticity_reason(index, row, why.evidence, k)}; ranked after every listing "
            "without such evidence (relax=fake_followers ranks it by its score)"
        )
    crossed = gated.get("over_exposure")
    if crossed is not None and crossed[pos]:
        brands = int(c["concurrent30"][row])
        out["over_exposure"] = (
            f"{_sponsored_text(index, row)}; {brands} brand{'s' if brands != 1 else ''} in the "
            f"last 30 days (at least {_pct(au.HEAVY_SPONSORED_SHARE)} sponsored or "
            f"{au.HEAVY_BRANDS_30} brands a month is heavy over-exposure); ranked after every "
            "listing that is not (relax=over_exposure ranks it by its score)"
        )
    crossed = gated.get("inactive")
    if crossed is not None and crossed[pos]:
        last = iso_day(int(c["last_post_day"][row]))
        days = index.as_of_day - int(c["last_post_day"][row])
        out["inactive"] = (
            f"newest post {last} ({days} days ago) and no posting rate declared: no post in "
            f"the last {INACTIVE_DAYS} days is an inactive account; ranked after every active "
            "listing (relax=inactive ranks it by its score)"
        )
    return out


def _sponsored_text(index: ListingIndex, row: int, flagged: float | None = None) -> str:
    """The sponsored share and where it comes from: the posts' own flags (`flagged`, when the
    caller has it already), or the declared sponsored posts against the posting rate."""
    c = index.cols
    if flagged is None:
        flagged = float(au.share_of(c["post_sponsored"][row : row + 1])[0])
    if math.isfinite(flagged):
        return f"{_pct(flagged)} of the last 90 days' posts flagged sponsored (per-post data)"
    n90 = float(c["sponsored90"][row])
    posts = float(c["recent_posts"][row])
    if posts > 0:
        return (
            f"{n90:.0f} of ~{posts:.0f} posts in the last 90 days sponsored "
            f"({_pct(n90 / max(posts, 1.0))})"
        )
    return f"{n90:.0f} sponsored posts in the last 90 days (posting rate unknown)"


def _authenticity_reason(index: ListingIndex, row: int, ev: au.Evidence, k: int) -> str:
    c = index.cols
    signals = []
    main = int(c["main_platform"][row])
    plat = tier = ""
    if main >= 0:
        ratio = float(c["er_ratio"][main, row])
        er = float(c["er"][main, row])
        f = float(c["followers"][main, row])
        plat = mv.PLATFORM_LABEL[mv.PLATFORMS[main]]
        tier = mv.tier_of(f)
        if math.isfinite(ratio) and ratio > 0:
            median = er / ratio
            if ev.engagement[k] > 0:
                reach = float(ev.reach_ratio[k])
                signals.append(
                    f"engagement {er * 100:.1f}% is {1 / ratio:.1f}x below the {tier}-{plat} "
                    f"median {median * 100:.1f}%"
                    + (
                        " (alone: weak evidence, also what a weak honest creator looks like)"
                        if ev.backing[k] == 0
                        else ""
                    )
                    + (
                        f" and views per follower {1 / max(reach, 1e-3):.1f}x below similar "
                        "accounts' (followers who neither engage nor watch)"
                        if math.isfinite(reach) and reach < 0.8
                        else ""
                    )
                )
            if ev.high[k] > 0:
                signals.append(
                    f"engagement {er * 100:.1f}% is {ratio:.1f}x the {tier}-{plat} median "
                    f"{median * 100:.1f}% (far above the tier: pods or bought likes)"
                )
    explained = ""
    if ev.spike[k] > 0:
        day = int(c["spike_day"][row])
        month = date.fromordinal(date(1970, 1, 1).toordinal() + day).strftime("%B %Y")
        spike = f"follower spike +{float(c['spike'][row]) * 100:.0f}% above usual growth in {month}"
        jumped = int(c["spike_platform"][row])
        if jumped >= 0 and jumped != main:
            spike += f" on {mv.PLATFORM_LABEL[mv.PLATFORMS[jumped]]}"
        if ev.spike_low[k] > 0:
            below = [
                f"{what} {1 / max(ratio, 1e-3):.1f}x below similar accounts'"
                for what, ratio in (
                    ("engagement", float(ev.spike_er[k])),
                    ("views per follower", float(ev.spike_reach[k])),
                )
                if math.isfinite(ratio) and ratio < au.BELOW_FROM
            ]
            spike += " (that account's " + " and ".join(below) + ": followers who do not engage)"
        if ev.spike_explained[k]:
            explained = f"{spike}, after a viral post (growth the audience earned)"
            if ev.spike[k] * au.W_SPIKE >= 0.5:  # still counts a little
                signals.append(explained)
        else:
            signals.append(
                spike
                + (
                    " (alone: weak evidence, also what a breakout month looks like)"
                    if ev.spike_backing[k] == 0
                    else ""
                )
            )
    if ev.likes_per_view[k] > 0:
        signals.append(
            f"likes per view {float(ev.lv_ratio[k]):.1f}x the platform median "
            "(likes without an audience behind them: bought likes or pods)"
        )
    if ev.low_effort[k] > 0:
        signals.append(
            f"{float(ev.low_effort_share[k]) * 100:.0f}% of sampled comments emoji-only, "
            "generic or repeated (an engagement pod's comments)"
        )
    if ev.surge[k] > 0:
        grew = math.expm1(float(c["surge"][row]))
        signals.append(
            f"followers grew {grew * 100:.0f}% beyond their usual pace over a third of the "
            "history" + (" while engagement did not follow" if ev.engagement[k] > 0 else "")
        )
    if ev.comments[k] > 0:
        r = float(ev.cl_ratio[k])
        where = ""
        if ev.cl_on_spike[k]:
            where = f" on {mv.PLATFORM_LABEL[mv.PLATFORMS[int(c['spike_platform'][row])]]}"
        signals.append(
            f"comments per like{where} {r:.1f}x the platform median"
            if r > 1
            else f"comments per like{where} {1 / max(r, 1e-3):.1f}x below the platform median"
        )
    geo_text = ""
    if ev.geo_raw[k] > 0:
        country = c["country"][row : row + 1]
        ok = geo_consistent(country, c["lang_mask"][row : row + 1])[:, 0]
        aud = c["aud_country"][:, row].astype(np.float32) / 2.0
        odd = [(float(aud[k]), mv.COUNTRIES[k]) for k in np.flatnonzero(~ok & (aud > 0)).tolist()]
        odd.sort(reverse=True)
        names = "/".join(code for _, code in odd[:3])
        langs = "/".join(
            lang for k, lang in enumerate(mv.LANGUAGES) if int(c["lang_mask"][row]) >> k & 1
        )
        placed = " (counting only named countries)" if aud[mv.OTHER_COUNTRY] > 0 else ""
        geo_text = (
            f"{float(c['geo_mismatch'][row]) * 100:.0f}% of the audience{placed} in {names}, "
            f"which fit neither the creator's country ({mv.COUNTRIES[int(country[0])]}) nor "
            f"languages ({langs})"
        )
        if ev.geo[k] > 0:
            reach = float(ev.reach_ratio[k])
            if math.isfinite(reach) and reach < 0.8:
                geo_text += (
                    f", with views per follower {1 / max(reach, 1e-3):.1f}x below similar "
                    "accounts' (followers who do not watch)"
                )
            signals.append(geo_text)
    missing = []
    known = int(c["evidence_mask"][row])
    if main < 0 or not math.isfinite(float(c["er_ratio"][main, row])):
        missing.append("engagement")
    if not math.isfinite(float(c["cl_main"][row])):
        missing.append("comments per like")
    if not known & au.HAS_HISTORY:
        missing.append("follower history")
    if not known & au.HAS_AUDIENCE:
        missing.append("audience countries")
    if not known & au.HAS_POSTS:
        missing.append("per-post metrics")
    if not known & au.HAS_COMMENTS:
        missing.append("comment samples")
    unknown = f" (not checked, no data: {', '.join(missing)})" if missing else ""
    if not signals:
        text = "no signs of bought followers: engagement, growth and audience look organic"
        checked = []
        if math.isfinite(float(ev.lv_ratio[k])):
            checked.append(f"likes per view {float(ev.lv_ratio[k]):.1f}x the platform median")
        if math.isfinite(float(ev.low_effort_share[k])):
            checked.append(
                f"{float(ev.low_effort_share[k]) * 100:.0f}% low-effort comments in the sample"
            )
        if checked:
            text += f" ({', '.join(checked)})"
        if explained:
            text += f"; {explained}"
        if geo_text:
            text += f"; {geo_text}, but nothing else points to bought followers"
        return text + unknown
    return "; ".join(signals) + unknown


__all__ = [
    "COMPONENTS",
    "DEFAULT_WEIGHTS",
    "GATES",
    "BriefMatch",
    "Match",
    "RankFilters",
    "filtered_out_reason",
    "hard_filter_mask",
    "rank",
    "rank_briefs_for_listing",
    "resolve_weights",
]
