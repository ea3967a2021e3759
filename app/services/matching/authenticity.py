"""Fake-follower risk and over-exposure, vectorised over the index's columns.

Authenticity combines four pieces of evidence, none conclusive alone (viral months, shy
audiences and foreign fans are all real):

- engagement anomaly: the main account's engagement rate against the median of accounts of
  the same platform and follower size (half-decade bins, computed from the index itself);
  bought followers do not like or comment, so the rate drops by the bought share;
- follower spike: the largest one-month growth in the follower history above the account's
  usual monthly growth (bought followers arrive at once);
- audience geography: the share of the audience in countries that are neither the creator's
  country nor its region and speak none of the creator's languages (click farms);
- comment/like ratio: far below (bought likes) or far above (bot comments) the platform's
  median.

Each becomes a number in [0, 1]; they add up as log-odds (so two moderate signals outweigh
one strong one) and authenticity = 1 - sigmoid(2 z). With no evidence authenticity is
~0.99; a viral month alone ~0.88; low engagement plus a spike plus a click-farm audience ~0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.services.matching import vocab as mv

N_PLATFORMS = len(mv.PLATFORMS)
N_BINS = 11  # half-decades of followers from 1k (bin 0 is < 3.2k) to >= 100M

# Evidence weights and bias in log-odds; the bias sets the authenticity of a clean account.
W_ENGAGEMENT = 2.5
W_SPIKE = 1.5
W_GEO = 2.5
W_COMMENTS = 2.5
BIAS = -2.5
MIN_BIN_COUNT = 30  # fewer accounts than this in a bin: use the typical-rate prior


@dataclass
class EngagementStats:
    """Index-wide medians that turn raw rates into 'compared with similar accounts'."""

    er_median: np.ndarray  # (platforms, bins)
    cl_median: np.ndarray  # (platforms,)


def follower_bin(followers: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        b = np.floor((np.log10(np.maximum(followers, 1.0)) - 3.0) * 2.0 + 1.0)
    return np.clip(b, 0, N_BINS - 1).astype(np.int8)


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
) -> EngagementStats:
    """Medians of engagement per (platform, follower bin) and of comments/likes per platform."""
    er_median = PRIOR_ER.copy()
    cl_median = PRIOR_CL.copy()
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
    return EngagementStats(er_median=er_median, cl_median=cl_median)


def engagement_ratio(followers: np.ndarray, er: np.ndarray, stats: EngagementStats) -> np.ndarray:
    """Engagement rate / median of similar accounts, per platform (NaN without an account)."""
    bins = follower_bin(followers)
    med = stats.er_median[np.arange(N_PLATFORMS)[:, None], bins]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(followers > 0, er / med, np.nan)
    return ratio.astype(np.float32)


@dataclass
class Evidence:
    engagement: np.ndarray
    spike: np.ndarray
    geo: np.ndarray
    comments: np.ndarray
    cl_ratio: np.ndarray  # comments/likes over the platform median


def evidence(
    main_ratio: np.ndarray,
    spike: np.ndarray,
    geo_mismatch: np.ndarray,
    cl_main: np.ndarray,
    main_platform: np.ndarray,
    stats: EngagementStats,
) -> Evidence:
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.log2(1.0 / np.maximum(np.nan_to_num(main_ratio, nan=1.0), 1e-3))
        e_er = np.clip((low - 0.6) / 1.4, 0.0, 1.0)
        e_spike = np.clip((spike - 0.12) / 0.3, 0.0, 1.0)
        e_geo = np.clip((geo_mismatch - 0.15) / 0.3, 0.0, 1.0)
        cl_ratio = cl_main / stats.cl_median[np.maximum(main_platform, 0)]
        dev = np.abs(np.log2(np.nan_to_num(cl_ratio, nan=1.0, posinf=1.0) + 1e-6))
        e_cl = np.clip((dev - 1.2) / 1.3, 0.0, 1.0)
    return Evidence(
        engagement=e_er.astype(np.float32),
        spike=e_spike.astype(np.float32),
        geo=e_geo.astype(np.float32),
        comments=e_cl.astype(np.float32),
        cl_ratio=np.nan_to_num(cl_ratio, nan=1.0).astype(np.float32),
    )


def authenticity_from(ev: Evidence) -> np.ndarray:
    z = W_ENGAGEMENT * ev.engagement + W_SPIKE * ev.spike + W_GEO * ev.geo
    z = z + W_COMMENTS * ev.comments + BIAS
    return (1.0 - 1.0 / (1.0 + np.exp(-2.0 * z))).astype(np.float32)


def freshness(sponsored90: np.ndarray, concurrent30: np.ndarray, recent_posts: np.ndarray):
    """1 = fresh; falls with the sponsored share of recent posts (above 15 %, 0 at 40 %) and
    with concurrent deals (brands in the last 30 days above 3, 0 at 6)."""
    share = sponsored90 / np.maximum(recent_posts, 1.0)
    over_share = np.clip((share - 0.15) / 0.25, 0.0, 1.0)
    over_deals = np.clip((concurrent30 - 3.0) / 3.0, 0.0, 1.0)
    return (1.0 - np.maximum(over_share, over_deals)).astype(np.float32)
