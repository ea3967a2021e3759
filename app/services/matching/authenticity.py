"""Fake-follower risk and over-exposure, vectorised over the index's columns.

Authenticity weighs evidence that separates fraud from honest variety; no signal convicts
alone, and a signal without data is no evidence (it only lowers the confidence shown):

- engagement too low for the reach: the main account's engagement rate against the median
  of accounts of the same platform and follower size (half-decade bins, computed from the
  index itself); bought followers do not like or comment, so the rate drops by their share.
  Alone it is weak evidence (a weak honest creator looks the same, and engagement quality
  already ranks them lower); it counts fully only with another sign of bought followers
  (growth, geography, views, comments, likes: ``ENGAGEMENT_BACKING``); and even mildly low,
  it counts when views per follower are low too (followers who neither engage nor watch:
  ``IDLE``);
- engagement far too high for the reach (from 2.5x the tier's median, where engagement quality
  stops rising, to 5x): engagement pods and bought likes; above all together with comments out
  of proportion to likes;
- comments per like far from the platform's median (bot comments, or bought likes alone);
- a follower spike: the largest one-step growth above the account's usual growth. Alone it is
  weak evidence (a breakout month looks the same); it counts fully only with another sign of
  bought followers (engagement or views per follower that did not follow, on the main account
  or on the account that jumped, geography, comments, likes, a surge besides the jump:
  ``SPIKE_BACKING``);
- a surge: growth over a third of the history far above the account's usual pace (followers
  bought a little at a time), which counts most when engagement did not follow;
- audience geography: the share of the audience in countries that are neither the creator's
  country nor its region and speak none of its languages (the US fits every creator:
  ``index.geo_consistent``), of the audience in countries the index names (the rest, "other",
  says nothing either way). It counts only *together with*
  other evidence: many honest creators (English-language, travel, gaming, diaspora) have
  mostly foreign audiences, so a foreign share alone is never evidence;
- from per-post metrics (``posts``): likes per view far above the platform's median (likes
  with no audience behind them: bought likes, pods), and a follower spike that a viral post
  explains (its weight is cut to a quarter: growth the audience earned);
- from comment samples: a share of low-effort comments (emoji only, generic compliments,
  repeats) far above what every popular account gets — an engagement pod's fingerprint.

Each becomes a number in [0, 1]; they add up as log-odds (so two moderate signals outweigh
one strong one) and authenticity = 1 - sigmoid(2 z), times a confidence factor in
[``MIN_CONFIDENCE``, 1] for the share of the six kinds of data present (engagement, comments
per like, follower history, audience countries, per-post metrics, comment samples). With no
evidence and full data authenticity is ~0.99; a viral month alone ~0.9; pods, gradual buying
and farmed audiences fall below the gate (``GATE``), which removes them from the top of a ranking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from app.services.matching import vocab as mv

N_PLATFORMS = len(mv.PLATFORMS)
N_BINS = 11  # half-decades of followers from 1k (bin 0 is < 3.2k) to >= 100M

# Evidence weights and bias in log-odds; the bias sets the authenticity of a clean account.
W_ENGAGEMENT = 1.5  # engagement too low for the reach, alone: weak evidence (weak creators)
W_ENGAGEMENT_BACKED = 2.0  # ... added as far as another sign of bought followers backs it
ENGAGEMENT_BACKING = 0.5  # other evidence that lets low engagement count fully
W_HIGH = 2.5  # engagement far too high for the reach
# Engagement from 2.5x the tier's median (where engagement quality stops rising: below it,
# high engagement is a strong creator) to 5x (full): log2 of the ratio where it starts, span.
HIGH_FROM, HIGH_SPAN = math.log2(2.5), 1.0
W_SPIKE = 1.5  # a follower spike another sign of bought followers backs (``SPIKE_BACKING``)
W_SPIKE_ALONE = 0.75  # ... alone: weak evidence (a breakout month looks the same)
SPIKE_BACKING = 0.5  # other evidence that lets a spike count fully
W_SURGE = 1.5
W_GEO = 3.0  # only as far as other evidence corroborates it
W_COMMENTS = 2.5
W_POD = 2.0  # high engagement *and* comments out of proportion: a pod's fingerprint
W_GROWTH_NO_ENGAGEMENT = 2.0  # a surge that engagement did not follow
W_LIKES_PER_VIEW = 2.5  # likes per view far above the platform's median
W_LOW_EFFORT = 2.5  # most sampled comments emoji, generic or repeated
W_POD_COMMENTS = 1.5  # engagement far too high *and* low-effort comments
GEO_FROM, GEO_SPAN = 0.12, 0.2  # inconsistent audience share where geography starts / is full
GEO_SOFT_LOW = 1.0  # how much mildly low engagement backs an inconsistent geography
GEO_BACKING = 0.3  # other evidence that lets geography count fully
SPIKE_EXPLAINED_FACTOR = 0.25  # a spike a viral post explains keeps a quarter of its weight
# Engagement evidence at least this x (how far engagement is below the tier) x (how far views
# per follower are below similar accounts'), each from 1.2x below (full at 2.5x): followers
# who neither engage nor watch (round 6).
IDLE = 0.6
BIAS = -2.5
MIN_CONFIDENCE = 0.95  # authenticity factor when no signal has data
GATE = 0.35  # below this, the fake-follower gate removes a listing from the top
# evidence_mask bits (index column): which signals have data; missing data is not evidence.
HAS_ENGAGEMENT, HAS_HISTORY, HAS_AUDIENCE = 1, 2, 4
HAS_POSTS, HAS_COMMENTS = 8, 16  # per-post metrics (3+ posts), comment samples (10+)
SPIKE_EXPLAINED = 32  # the follower spike follows a viral post
# Not authenticity's: some of the samples the index placed under topics (topic depth) are post
# captions, so the depth reason names them (kept here with the other bits of the column).
SAMPLES_CAPTIONED = 64
N_DATA_KINDS = 6
# Shares kept as uint8 in half-percent units; this code means "unknown".
UNKNOWN_SHARE = 255


def share_code(share: float) -> int:
    """A share in [0, 1] (NaN: unknown) -> its uint8 column code."""
    if not math.isfinite(share):
        return UNKNOWN_SHARE
    return round(min(max(share, 0.0), 1.0) * 200)


def share_of(code: np.ndarray) -> np.ndarray:
    """uint8 column codes -> shares in [0, 1], NaN where unknown."""
    out: np.ndarray = np.where(
        code == UNKNOWN_SHARE, np.nan, code.astype(np.float32) / np.float32(200)
    ).astype(np.float32)
    return out


MIN_BIN_COUNT = 30  # fewer accounts than this in a bin: use the typical-rate prior


# Likes per view by platform, where the index has too few accounts with views to say.
PRIOR_LV = np.array([0.08, 0.07, 0.035, 0.05, 0.02, 0.02, 0.02], dtype=np.float32)


@dataclass
class EngagementStats:
    """Index-wide medians that turn raw rates into 'compared with similar accounts'."""

    er_median: np.ndarray  # (platforms, bins)
    cl_median: np.ndarray  # (platforms,)
    lv_median: np.ndarray = field(default_factory=lambda: PRIOR_LV.copy())  # (platforms,)
    # Views per follower by (platform, bin); NaN where the index has too few accounts to say.
    vf_median: np.ndarray = field(
        default_factory=lambda: np.full((N_PLATFORMS, N_BINS), np.nan, np.float32)
    )


def follower_bin(followers: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        b = np.floor((np.log10(np.maximum(followers, 1.0)) - 3.0) * 2.0 + 1.0)
    bins: np.ndarray = np.clip(b, 0, N_BINS - 1).astype(np.int8)
    return bins


def _prior_er() -> np.ndarray:
    """Typical rates by platform and bin from the tier table (used where data is thin)."""
    mids = 10 ** (3.0 + (np.arange(N_BINS) - 0.5) / 2.0)
    out = np.zeros((N_PLATFORMS, N_BINS), dtype=np.float32)
    for p, name in enumerate(mv.PLATFORMS):
        for b, f in enumerate(mids):
            out[p, b] = mv.TYPICAL_ER[name][mv.tier_of(float(f))]
    return out


PRIOR_ER = _prior_er()
PRIOR_CL = np.array([0.03, 0.012, 0.05, 0.25, 0.08, 0.6, 0.4], dtype=np.float32)


def compute_stats(
    followers: np.ndarray,
    er: np.ndarray,
    cl_main: np.ndarray,
    main_platform: np.ndarray,
    alive: np.ndarray,
    likes_per_view: np.ndarray | None = None,
    views: np.ndarray | None = None,
) -> EngagementStats:
    """Medians of engagement per (platform, follower bin), and of comments per like and likes
    per view per platform (main accounts)."""
    er_median = PRIOR_ER.copy()
    cl_median = PRIOR_CL.copy()
    lv_median = PRIOR_LV.copy()
    bins = follower_bin(followers)
    for p in range(N_PLATFORMS):
        has = alive & (followers[p] > 0) & np.isfinite(er[p])
        rates, b = er[p][has], bins[p][has]
        if len(rates) == 0:
            continue
        order = np.argsort(b, kind="stable")
        rates, b = rates[order], b[order]
        bounds = np.searchsorted(b, np.arange(N_BINS + 1))
        for k in range(N_BINS):
            lo, hi = bounds[k], bounds[k + 1]
            if hi - lo >= MIN_BIN_COUNT:
                er_median[p, k] = np.median(rates[lo:hi])
        cl = cl_main[alive & (main_platform == p) & np.isfinite(cl_main)]
        if len(cl) >= MIN_BIN_COUNT:
            cl_median[p] = np.median(cl)
    if likes_per_view is not None:
        lv_all = likes_per_view.astype(np.float32)
        for p in range(N_PLATFORMS):
            lv = lv_all[alive & (main_platform == p) & np.isfinite(lv_all) & (lv_all > 0)]
            if len(lv) >= MIN_BIN_COUNT:
                lv_median[p] = np.median(lv)
    vf_median = np.full((N_PLATFORMS, N_BINS), np.nan, np.float32)
    if views is not None:
        for p in range(N_PLATFORMS):
            has = alive & (followers[p] > 0) & (views[p] > 0)
            vf, b = views[p][has] / followers[p][has], bins[p][has]
            for k in range(N_BINS):
                in_bin = vf[b == k]
                if len(in_bin) >= MIN_BIN_COUNT:
                    vf_median[p, k] = np.median(in_bin)
    return EngagementStats(
        er_median=er_median, cl_median=cl_median, lv_median=lv_median, vf_median=vf_median
    )


def engagement_ratio(followers: np.ndarray, er: np.ndarray, stats: EngagementStats) -> np.ndarray:
    """Engagement rate / median of similar accounts, per platform (NaN without an account)."""
    bins = follower_bin(followers)
    med = stats.er_median[np.arange(N_PLATFORMS)[:, None], bins]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(followers > 0, er / med, np.nan)
    return ratio.astype(np.float32)


@dataclass
class Evidence:
    engagement: np.ndarray  # too low
    high: np.ndarray  # too high
    spike: np.ndarray
    surge: np.ndarray
    geo: np.ndarray  # as corroborated (0 without other evidence)
    geo_raw: np.ndarray
    comments: np.ndarray
    cl_ratio: np.ndarray  # comments/likes over the platform median
    confidence: np.ndarray  # share of the signals that had data
    likes_per_view: np.ndarray  # far too many likes per view
    lv_ratio: np.ndarray  # likes per view over the platform median (NaN: unknown)
    low_effort: np.ndarray  # mostly low-effort comments
    low_effort_share: np.ndarray  # share of low-effort comments (NaN: unknown)
    spike_explained: np.ndarray  # bool: a viral post explains the spike
    reach_ratio: np.ndarray  # views per follower over similar accounts' median (NaN: unknown)
    backing: np.ndarray  # in [0, 1]: how far other signs back low engagement
    spike_backing: np.ndarray  # in [0, 1]: how far other signs back a follower spike
    # The account whose history holds the spike, over similar accounts' medians (NaN:
    # unknown): engagement and views per follower that did not follow the jump back it.
    spike_er: np.ndarray
    spike_reach: np.ndarray
    spike_low: np.ndarray  # in [0, 1]: how far they are below
    cl_on_spike: np.ndarray  # bool: ``comments``/``cl_ratio`` are that account's, not the main's


BELOW_FROM = 2**-0.3  # a ratio to similar accounts' median below this (0.81x) starts to count


def _below(ratio: np.ndarray) -> np.ndarray:
    """How far a ratio to similar accounts' median is below it: 0 down to 0.81x, 1 at 0.41x
    (NaN, unknown: 0). Mildly low engagement or views per follower (``soft_low``)."""
    log = np.log2(np.maximum(np.nan_to_num(ratio, nan=1.0), 1e-3))
    below: np.ndarray = np.clip((-log - 0.3) / 1.0, 0.0, 1.0)
    return below


def _cl_off(ratio: np.ndarray) -> np.ndarray:
    """How far comments per like are from the platform's median, either way: 0 within 2.3x,
    1 from 5.7x (NaN, unknown: 0): bot comments, or likes bought without comments."""
    dev = np.abs(np.log2(np.nan_to_num(ratio, nan=1.0, posinf=1.0) + 1e-6))
    off: np.ndarray = np.clip((dev - 1.2) / 1.3, 0.0, 1.0)
    return off


def evidence(
    main_ratio: np.ndarray,
    spike: np.ndarray,
    surge: np.ndarray,
    geo_mismatch: np.ndarray,
    cl_main: np.ndarray,
    main_platform: np.ndarray,
    known: np.ndarray,
    stats: EngagementStats,
    likes_per_view: np.ndarray | None = None,
    low_effort_code: np.ndarray | None = None,
    main_reach: np.ndarray | None = None,
    spike_account: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Evidence:
    n = len(main_ratio)
    reach = main_reach if main_reach is not None else np.full(n, np.nan, np.float32)
    lv = (
        likes_per_view.astype(np.float32)
        if likes_per_view is not None
        else np.full(n, np.nan, np.float32)
    )
    low = (
        share_of(low_effort_code) if low_effort_code is not None else np.full(n, np.nan, np.float32)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log2(np.maximum(np.nan_to_num(main_ratio, nan=1.0), 1e-3))
        e_er = np.clip((-log_ratio - 0.6) / 1.4, 0.0, 1.0)
        soft_low = _below(main_ratio)
        e_high = np.clip((log_ratio - HIGH_FROM) / HIGH_SPAN, 0.0, 1.0)
        e_spike = np.clip((spike - 0.12) / 0.3, 0.0, 1.0)
        e_surge = np.clip((surge - 0.25) / 0.35, 0.0, 1.0)
        e_geo_raw = np.clip((geo_mismatch - GEO_FROM) / GEO_SPAN, 0.0, 1.0)
        cl_ratio = cl_main / stats.cl_median[np.maximum(main_platform, 0)]
        e_cl = _cl_off(cl_ratio)
        lv_ratio = lv / stats.lv_median[np.maximum(main_platform, 0)]
        lv_ratio = np.where((main_platform >= 0) & (lv > 0), lv_ratio, np.nan)
        # Likes per view 2.5x the platform's median start to count, 5.7x count fully.
        e_lv = np.clip((np.log2(np.nan_to_num(lv_ratio, nan=1.0)) - 1.3) / 1.2, 0.0, 1.0)
        # Low-effort comments: up to ~45 % is ordinary for a popular account; 75 % is a pod.
        e_low = np.clip((np.nan_to_num(low, nan=0.0) - 0.45) / 0.3, 0.0, 1.0)
        # Views per follower below similar accounts': followers who never watch.
        soft_low_reach = _below(reach)
        # The account that jumped: its own engagement and views per follower (bought
        # followers on a second account leave the main one's figures clean).
        unknown = np.full(n, np.nan, np.float32)
        s_er, s_reach, s_cl = spike_account if spike_account is not None else (unknown,) * 3
        spike_low = np.maximum(_below(s_er), _below(s_reach))
        # Comments out of proportion to likes on the account that jumped count as on the main
        # one (bot comments, or likes bought with the followers).
        e_cl_spike = _cl_off(s_cl)
        cl_on_spike = e_cl_spike > e_cl
        e_cl = np.maximum(e_cl, e_cl_spike)
        cl_ratio = np.where(cl_on_spike, s_cl, cl_ratio)
    explained = (known & SPIKE_EXPLAINED) != 0
    e_spike = np.where(explained, e_spike * SPIKE_EXPLAINED_FACTOR, e_spike)
    # Geography counts only as far as other evidence backs it; engagement even mildly below
    # the tier (``soft_low``: bought followers do not engage) backs it too.
    other = e_er + e_high + e_spike + e_surge * soft_low + e_cl + e_lv + e_low
    backing = other + GEO_SOFT_LOW * np.maximum(soft_low, soft_low_reach)
    e_geo = e_geo_raw * np.clip(backing / GEO_BACKING, 0.0, 1.0)
    # Followers who neither engage nor watch: engagement *and* views per follower below similar
    # accounts' are the two rates a padded follower count lowers together, so mildly low
    # engagement counts as evidence when views per follower are low too (``IDLE``).
    e_er = np.maximum(e_er, IDLE * soft_low * soft_low_reach)
    e_surge_eff = e_surge * (1.0 + W_GROWTH_NO_ENGAGEMENT / W_SURGE * soft_low)
    # Low engagement alone is what a weak (honest) creator looks like as well as an account
    # padded with bought followers: it counts fully only with another sign of those followers
    # (growth steps or surges, an audience where the creator is not, followers who do not
    # watch, odd comments or likes).
    corroborating = e_spike + e_surge + e_geo_raw + e_cl + e_lv + e_low + soft_low_reach
    engagement_backing = np.clip(corroborating / ENGAGEMENT_BACKING, 0.0, 1.0)
    # A follower spike alone is what a breakout month looks like too (a post the per-post data
    # does not show, press, a collaboration); bought followers in one jump leave other marks:
    # engagement or views per follower that did not follow, an audience where the creator is
    # not, odd comments or likes, or a sustained climb besides the jump (bought in rounds).
    spike_backing = np.clip(
        (
            np.maximum(np.maximum(soft_low, soft_low_reach), spike_low)
            + e_geo_raw
            + e_cl
            + e_lv
            + e_low
            + e_high
            + e_surge
        )
        / SPIKE_BACKING,
        0.0,
        1.0,
    )
    has_er = np.isfinite(main_ratio)
    has_cl = np.isfinite(cl_main)
    has_hist = (known & HAS_HISTORY) != 0
    has_aud = (known & HAS_AUDIENCE) != 0
    has_posts = (known & HAS_POSTS) != 0
    has_comments = (known & HAS_COMMENTS) != 0
    confidence = (
        has_er.astype(np.float32) + has_cl + has_hist + has_aud + has_posts + has_comments
    ) / np.float32(N_DATA_KINDS)
    return Evidence(
        engagement=e_er.astype(np.float32),
        high=e_high.astype(np.float32),
        spike=e_spike.astype(np.float32),
        surge=e_surge_eff.astype(np.float32),
        geo=e_geo.astype(np.float32),
        geo_raw=e_geo_raw.astype(np.float32),
        comments=e_cl.astype(np.float32),
        cl_ratio=np.nan_to_num(cl_ratio, nan=1.0).astype(np.float32),
        confidence=confidence.astype(np.float32),
        likes_per_view=e_lv.astype(np.float32),
        lv_ratio=lv_ratio.astype(np.float32),
        low_effort=e_low.astype(np.float32),
        low_effort_share=low.astype(np.float32),
        spike_explained=explained,
        reach_ratio=reach.astype(np.float32),
        backing=engagement_backing.astype(np.float32),
        spike_backing=spike_backing.astype(np.float32),
        spike_er=s_er.astype(np.float32),
        spike_reach=s_reach.astype(np.float32),
        spike_low=spike_low.astype(np.float32),
        cl_on_spike=cl_on_spike,
    )


def authenticity_from(ev: Evidence) -> np.ndarray:
    z = (W_ENGAGEMENT + W_ENGAGEMENT_BACKED * ev.backing) * ev.engagement
    z = z + W_HIGH * ev.high
    z = z + (W_SPIKE_ALONE + (W_SPIKE - W_SPIKE_ALONE) * ev.spike_backing) * ev.spike
    z = z + W_SURGE * ev.surge + W_GEO * ev.geo + W_COMMENTS * ev.comments
    z = z + W_POD * ev.high * ev.comments + BIAS
    z = z + W_LIKES_PER_VIEW * ev.likes_per_view + W_LOW_EFFORT * ev.low_effort
    z = z + W_POD_COMMENTS * np.maximum(ev.high, ev.likes_per_view) * ev.low_effort
    a = 1.0 - 1.0 / (1.0 + np.exp(-2.0 * z))
    a *= MIN_CONFIDENCE + (1.0 - MIN_CONFIDENCE) * ev.confidence
    authenticity: np.ndarray = a.astype(np.float32)
    return authenticity


# At or above: the over-exposure gate. More than about one post in three an advertisement is
# what all three generators' truths grade down and what a brand calls over-exposed (round 6:
# was half; creators at 35-40 % kept top-10 slots on thin briefs with freshness 0-0.25).
HEAVY_SPONSORED_SHARE = 0.35
# At or above this many brands in the last 30 days (about one every working day): the
# over-exposure gate too, whatever the share. A creator who posts a lot can advertise a new
# brand every day and still keep the share low; the audience then sees one brand's
# message among twenty others that month, which is what a brand means by over-exposed.
HEAVY_BRANDS_30 = 20


def sponsored_share(
    sponsored90: np.ndarray, recent_posts: np.ndarray, post_code: np.ndarray | None = None
) -> np.ndarray:
    """Sponsored share of the last 90 days' posts: from the posts' own sponsored flags where
    enough are known (`post_code`, the index's `post_sponsored` column), else the declared
    sponsored posts over the posting rate; 0 when neither is known (no posts_per_week): an
    unknown rate is no evidence of over-exposure."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(recent_posts > 0, sponsored90 / np.maximum(recent_posts, 1.0), 0.0)
    if post_code is not None:
        flagged = share_of(post_code)
        share = np.where(np.isfinite(flagged), flagged, share)
    return share.astype(np.float32)


FRESH_SHARE = (0.2, 0.4)  # sponsored share where freshness starts to fall, and reaches 0
FRESH_BRANDS = (6.0, 12.0)  # brands in the last 30 days: same


def freshness(
    sponsored90: np.ndarray,
    concurrent30: np.ndarray,
    recent_posts: np.ndarray,
    post_code: np.ndarray | None = None,
) -> np.ndarray:
    """1 = fresh; falls with the sponsored share of recent posts (``FRESH_SHARE``) and with
    many concurrent deals (``FRESH_BRANDS``). A few brands a month is ordinary work for a
    creator; most posts being ads is what tires an audience."""
    share = sponsored_share(sponsored90, recent_posts, post_code)
    lo, hi = FRESH_SHARE
    over_share = np.clip((share - lo) / (hi - lo), 0.0, 1.0)
    lo, hi = FRESH_BRANDS
    over_deals = np.clip((concurrent30 - lo) / (hi - lo), 0.0, 1.0)
    fresh: np.ndarray = (1.0 - np.maximum(over_share, over_deals)).astype(np.float32)
    return fresh
