"""Fair-rate guidance: what an influencer can reasonably charge for one deliverable.

``estimate_rate`` returns the 25th percentile, median and 75th percentile of a fair fee in
integer minor units of the requested currency, with a ``basis`` list of sentences that a
person can read to see where the numbers come from. The pipeline, in order:

1. **Prior** (``app.services.catalogue.deliverable_types``): a CPM-style price per 1,000 audience
   members for the deliverable type, in USD cents, rounded from public industry rate
   guides. It is a prior, not market data.
2. **Market blend**: agreed prices from Rapport for the same deliverable type with an
   audience within a factor of ``AUDIENCE_MATCH_FACTOR`` (3) are turned into base USD
   cents per 1,000 audience (their own usage-rights and exclusivity uplifts divided out).
   With ``n`` such samples:

   - ``n < MIN_MARKET_SAMPLES`` (20): the prior alone, ``source="prior"``;
   - ``20 <= n < MARKET_ONLY_SAMPLES`` (200): each quantile is
     ``(PRIOR_WEIGHT * prior_q + n * market_q) / (PRIOR_WEIGHT + n)`` with
     ``PRIOR_WEIGHT = 20``, i.e. the prior counts as 20 observations, so the market gets
     at least half the weight as soon as it is used; ``source="blended"``;
   - ``n >= 200``: the market quantiles alone, ``source="market"``.

   A convex combination of two ordered triples is ordered, so p25 <= median <= p75 holds.
3. **Fee** = per-1k rate x audience / 1,000 x engagement multiplier, floored at the
   type's minimum fee.
4. **Engagement** (instagram, tiktok, youtube, x only): multiplier
   ``sqrt(rate / typical rate for the follower tier)``, bounded to
   [``ENGAGEMENT_MIN_MULTIPLIER``, ``ENGAGEMENT_MAX_MULTIPLIER``] = [0.7, 1.5]. The square
   root damps the effect (double the typical engagement is worth about +41%, not +100%).
   Tiers: nano < 10k, micro < 100k, mid < 500k, macro < 1M, mega >= 1M. Typical rates
   fall with tier, so for a fixed engagement rate the fee never falls as audience grows.
5. **Usage rights**: the brand's right to reuse the content for ``usage_rights_days``
   on ``usage_channels``. Each paid channel adds a percentage per 30 days (prorated by
   day), summed over channels and capped at +150%; ``organic`` adds nothing. When days are
   given without channels, ``paid_social`` is assumed (the usual ask) and the basis says so.
6. **Exclusivity**: +10% per 30 days (prorated), capped at +100%.

Usage and exclusivity multiply every quantile by a factor that never decreases as days or
channels are added, so more rights or exclusivity never lower any quantile.

7. **Currency**: USD cents are converted with a static table of approximate mid-market
   rates (``USD_TO_CURRENCY``), then scaled by the currency's ISO 4217 minor-unit
   exponent (JPY and KRW have none: 1 USD = 100 cents ~ 150 yen). The money arithmetic
   is done in ``Decimal`` and rounded half-up to whole minor units only at the end; the
   multipliers themselves are floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Literal

import numpy as np

from app.services.catalogue.currencies import minor_unit_exponent, normalize_code
from app.services.catalogue.deliverable_types import (
    PLATFORMS,
    DeliverableType,
    get_deliverable_type,
)

MIN_MARKET_SAMPLES = 20
MARKET_ONLY_SAMPLES = 200
PRIOR_WEIGHT = 20  # the prior counts as this many market observations when blending
AUDIENCE_MATCH_FACTOR = 3
DEFAULT_BRIEF_AUDIENCE = 50_000  # the middle of the micro tier, Rapport's typical creator

# Approximate mid-market USD -> currency rates (major units per 1 USD), 2024 averages.
# Static on purpose: guidance should not jump with daily FX moves; refresh yearly.
USD_TO_CURRENCY: MappingProxyType[str, Decimal] = MappingProxyType(
    {
        "USD": Decimal("1"),
        "EUR": Decimal("0.92"),
        "GBP": Decimal("0.79"),
        "CAD": Decimal("1.36"),
        "AUD": Decimal("1.52"),
        "NZD": Decimal("1.65"),
        "CHF": Decimal("0.88"),
        "SEK": Decimal("10.5"),
        "NOK": Decimal("10.7"),
        "DKK": Decimal("6.9"),
        "PLN": Decimal("4.0"),
        "BRL": Decimal("5.4"),
        "MXN": Decimal("18.3"),
        "INR": Decimal("83.5"),
        "SGD": Decimal("1.34"),
        "JPY": Decimal("151"),
        "KRW": Decimal("1360"),
    }
)

ENGAGEMENT_MIN_MULTIPLIER = 0.7
ENGAGEMENT_MAX_MULTIPLIER = 1.5

# Follower tiers: (exclusive upper bound, name); anything above the last bound is "mega".
TIER_UPPER_BOUNDS: tuple[tuple[int, str], ...] = (
    (10_000, "nano"),
    (100_000, "micro"),
    (500_000, "mid"),
    (1_000_000, "macro"),
)

# Typical engagement rate (interactions / audience) per platform and tier, rounded from
# public benchmark reports. Smaller accounts engage more, TikTok far more than X. Twitch,
# blogs and podcasts have no comparable public metric, so engagement does not price them.
TYPICAL_ENGAGEMENT: MappingProxyType[str, dict[str, float]] = MappingProxyType(
    {
        "instagram": {"nano": 0.04, "micro": 0.025, "mid": 0.018, "macro": 0.015, "mega": 0.012},
        "tiktok": {"nano": 0.08, "micro": 0.06, "mid": 0.05, "macro": 0.045, "mega": 0.04},
        "youtube": {"nano": 0.04, "micro": 0.03, "mid": 0.025, "macro": 0.02, "mega": 0.015},
        "x": {"nano": 0.02, "micro": 0.01, "mid": 0.008, "macro": 0.006, "mega": 0.005},
    }
)

# Usage-rights uplift per 30 days of usage, per channel. Organic reposting is part of the
# normal deal; paid amplification and off-platform placements replace paid production.
USAGE_UPLIFT_PER_30_DAYS: MappingProxyType[str, float] = MappingProxyType(
    {
        "organic": 0.0,
        "paid_social": 0.15,
        "website": 0.05,
        "email": 0.05,
        "print": 0.10,
        "ooh": 0.20,
        "tv": 0.25,
    }
)
USAGE_UPLIFT_CAP = 1.5
DEFAULT_USAGE_CHANNEL = "paid_social"
EXCLUSIVITY_UPLIFT_PER_30_DAYS = 0.10
EXCLUSIVITY_UPLIFT_CAP = 1.0

Source = Literal["prior", "blended", "market"]


@dataclass(frozen=True)
class AgreedPrice:
    """A price agreed on Rapport, used as a market observation. ``amount`` is in minor units.

    Agreed prices carry no channel list, so usage days are assumed to be paid social.
    """

    deliverable_type: str
    platform: str
    audience_size: int
    amount: int
    currency: str
    usage_rights_days: int = 0
    exclusivity_days: int = 0


@dataclass(frozen=True)
class RateEstimate:
    """Fair-rate quantiles in integer minor units of ``currency``."""

    p25: int
    median: int
    p75: int
    currency: str
    basis: list[str]
    source: Source
    sample_count: int = 0


@dataclass(frozen=True)
class _Quantiles:
    """USD cents (per 1k audience or per deliverable), kept exact as Decimals."""

    p25: Decimal
    median: Decimal
    p75: Decimal

    def scaled(self, factor: Decimal) -> _Quantiles:
        return _Quantiles(self.p25 * factor, self.median * factor, self.p75 * factor)


def estimate_rate(
    platform: str,
    deliverable_type: str,
    audience_size: int,
    engagement_rate: float | None,
    usage_rights_days: int = 0,
    usage_channels: list[str] | None = None,
    exclusivity_days: int = 0,
    currency: str = "USD",
    agreed_prices: Sequence[AgreedPrice] = (),
) -> RateEstimate:
    """Estimate p25/median/p75 of a fair fee for one deliverable; see the module docstring.

    Raises ``ValueError`` for an unknown platform, deliverable type or currency, a type that
    does not belong to the platform, or out-of-range numbers.
    """
    dtype = _resolve_type(platform, deliverable_type)
    code = normalize_code(currency)
    _require_non_negative_int("audience_size", audience_size)
    _require_non_negative_int("usage_rights_days", usage_rights_days)
    _require_non_negative_int("exclusivity_days", exclusivity_days)
    channels, channels_assumed = _resolve_channels(usage_rights_days, usage_channels)

    if code not in USD_TO_CURRENCY:
        raise ValueError(f"no USD conversion rate for currency {code!r}")

    basis = [_prior_sentence(dtype), _audience_sentence(dtype, audience_size)]
    samples = _comparable_rates(dtype, audience_size, agreed_prices)
    per_1k, source, blend_sentence = _blend(_prior_quantiles(dtype), samples)
    basis.append(blend_sentence)

    engagement, engagement_sentence = _engagement_multiplier(
        dtype.platform, audience_size, engagement_rate
    )
    basis.append(engagement_sentence)

    fee, floor_sentence = _apply_floor(
        per_1k.scaled(Decimal(audience_size) / 1000 * Decimal(engagement)), dtype
    )
    if floor_sentence:
        basis.append(floor_sentence)

    usage = _usage_uplift(usage_rights_days, channels)
    basis.append(_usage_sentence(usage_rights_days, channels, channels_assumed, usage))
    exclusivity = _exclusivity_uplift(exclusivity_days)
    basis.append(_exclusivity_sentence(exclusivity_days, exclusivity))
    fee = fee.scaled(Decimal(1 + usage) * Decimal(1 + exclusivity))

    if code != "USD":
        basis.append(
            f"Converted from USD at a static rate of 1 USD = {USD_TO_CURRENCY[code]} {code}."
        )

    return RateEstimate(
        p25=_usd_cents_to_minor(fee.p25, code),
        median=_usd_cents_to_minor(fee.median, code),
        p75=_usd_cents_to_minor(fee.p75, code),
        currency=code,
        basis=basis,
        source=source,
        sample_count=len(samples),
    )


def brief_budget_warning(
    deliverables: list[tuple[str, int]],
    per_influencer_max: int,
    currency: str,
    audience_size_hint: int | None = None,
) -> str | None:
    """Warn when a brief's per-influencer budget is below the fair p25 for its deliverables.

    ``deliverables`` lists ``(deliverable_type, count)``; ``per_influencer_max`` is in minor
    units of ``currency``. The audience is ``audience_size_hint`` or, when unknown,
    ``DEFAULT_BRIEF_AUDIENCE`` (a typical micro creator). The threshold is the sum of the
    per-deliverable p25s, which equals the p25 of the total when prices move together, and
    is a conservative (low) threshold otherwise. Returns ``None`` when the budget is enough.
    """
    code = normalize_code(currency)
    _require_non_negative_int("per_influencer_max", per_influencer_max)
    audience = DEFAULT_BRIEF_AUDIENCE if audience_size_hint is None else audience_size_hint
    _require_non_negative_int("audience_size_hint", audience)

    total_p25 = 0
    parts: list[str] = []
    for type_name, count in deliverables:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count for {type_name!r} must be a positive integer, got {count!r}")
        dtype = get_deliverable_type(type_name)
        estimate = estimate_rate(dtype.platform, dtype.name, audience, None, currency=code)
        total_p25 += estimate.p25 * count
        parts.append(f"{count} x {dtype.name}")

    if not parts or per_influencer_max >= total_p25:
        return None
    return (
        f"The per-influencer budget of {format_money(per_influencer_max, code)} is below "
        f"{format_money(total_p25, code)}, the 25th-percentile fair rate for "
        f"{' + '.join(parts)} at a {audience:,}-person audience; most creators of that size "
        "would decline. Raise the budget or ask for fewer deliverables."
    )


def format_money(amount_minor: int, currency: str) -> str:
    """Human-readable amount, e.g. ``1,234.56 EUR`` or ``15,000 JPY``."""
    code = normalize_code(currency)
    exponent = minor_unit_exponent(code)
    major = Decimal(amount_minor).scaleb(-exponent)
    return f"{major:,.{exponent}f} {code}"


def follower_tier(audience_size: int) -> str:
    """Tier name for an audience size: nano, micro, mid, macro or mega."""
    for upper_bound, name in TIER_UPPER_BOUNDS:
        if audience_size < upper_bound:
            return name
    return "mega"


# --- validation -------------------------------------------------------------------------


def _resolve_type(platform: str, deliverable_type: str) -> DeliverableType:
    if platform not in PLATFORMS:
        known = ", ".join(sorted(PLATFORMS))
        raise ValueError(f"unknown platform {platform!r}; known platforms: {known}")
    dtype = get_deliverable_type(deliverable_type)
    if dtype.platform != platform:
        raise ValueError(
            f"deliverable type {deliverable_type!r} belongs to platform {dtype.platform!r}, "
            f"not {platform!r}"
        )
    return dtype


def _require_non_negative_int(name: str, value: object) -> None:
    # bool is an int subclass; True days or followers is a caller bug, not a number.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _resolve_channels(days: int, channels: list[str] | None) -> tuple[tuple[str, ...], bool]:
    """Deduplicated, validated channels, and whether the default channel was assumed."""
    if channels is None:
        return ((DEFAULT_USAGE_CHANNEL,), True) if days > 0 else ((), False)
    unknown = sorted({c for c in channels if c not in USAGE_UPLIFT_PER_30_DAYS})
    if unknown:
        known = ", ".join(sorted(USAGE_UPLIFT_PER_30_DAYS))
        raise ValueError(f"unknown usage channel(s) {unknown}; known channels: {known}")
    # Sorted so the float sum is computed in one canonical order.
    return tuple(sorted(set(channels))), False


# --- prior and market -------------------------------------------------------------------


def _prior_quantiles(dtype: DeliverableType) -> _Quantiles:
    return _Quantiles(
        Decimal(dtype.p25_cents_per_1k),
        Decimal(dtype.median_cents_per_1k),
        Decimal(dtype.p75_cents_per_1k),
    )


def _comparable_rates(
    dtype: DeliverableType, audience_size: int, agreed_prices: Sequence[AgreedPrice]
) -> list[float]:
    """Base USD cents per 1k audience of the comparable, well-formed agreed prices."""
    rates: list[float] = []
    for price in agreed_prices:
        if price.deliverable_type != dtype.name or price.platform != dtype.platform:
            continue
        if not _is_well_formed(price):
            continue  # one bad historical row must not break everyone's guidance
        low, high = audience_size / AUDIENCE_MATCH_FACTOR, audience_size * AUDIENCE_MATCH_FACTOR
        if not low <= price.audience_size <= high:
            continue
        code = normalize_code(price.currency)
        usd_cents = (
            Decimal(price.amount).scaleb(2 - minor_unit_exponent(code)) / (USD_TO_CURRENCY[code])
        )
        # Divide out the deal's own uplifts so all samples describe the base deliverable.
        uplift = (1 + _usage_uplift(price.usage_rights_days, (DEFAULT_USAGE_CHANNEL,))) * (
            1 + _exclusivity_uplift(price.exclusivity_days)
        )
        rates.append(float(usd_cents) / (price.audience_size / 1000) / uplift)
    return rates


def _is_well_formed(price: AgreedPrice) -> bool:
    numbers = (price.audience_size, price.amount, price.usage_rights_days, price.exclusivity_days)
    if any(isinstance(n, bool) or not isinstance(n, int) for n in numbers):
        return False
    return (
        price.audience_size > 0
        and price.amount > 0
        and price.usage_rights_days >= 0
        and price.exclusivity_days >= 0
        and _currency_known(price.currency)
    )


def _currency_known(code: str) -> bool:
    try:
        return normalize_code(code) in USD_TO_CURRENCY
    except ValueError:
        return False


def _blend(prior: _Quantiles, samples: list[float]) -> tuple[_Quantiles, Source, str]:
    n = len(samples)
    if n < MIN_MARKET_SAMPLES:
        found = f"found {n}" if n else "found none"
        return (
            prior,
            "prior",
            f"No agreed prices on Rapport were blended in: at least {MIN_MARKET_SAMPLES} "
            f"comparable ones are needed (same type, audience within {AUDIENCE_MATCH_FACTOR}x), "
            f"{found}.",
        )
    p25, median, p75 = (Decimal(float(q)) for q in np.percentile(samples, [25, 50, 75]))
    market = _Quantiles(p25, median, p75)
    if n >= MARKET_ONLY_SAMPLES:
        return (
            market,
            "market",
            f"Used the quantiles of {n} comparable agreed prices on Rapport alone (at least "
            f"{MARKET_ONLY_SAMPLES}), replacing the prior.",
        )
    weight = Decimal(n) / Decimal(n + PRIOR_WEIGHT)
    blended = _Quantiles(
        prior.p25 + weight * (market.p25 - prior.p25),
        prior.median + weight * (market.median - prior.median),
        prior.p75 + weight * (market.p75 - prior.p75),
    )
    return (
        blended,
        "blended",
        f"Blended {n} comparable agreed prices on Rapport (same type, audience within "
        f"{AUDIENCE_MATCH_FACTOR}x) with the prior: market weight {n}/({n}+{PRIOR_WEIGHT}) = "
        f"{float(weight):.0%}.",
    )


# --- adjustments ------------------------------------------------------------------------


def _engagement_multiplier(
    platform: str, audience_size: int, engagement_rate: float | None
) -> tuple[float, str]:
    typical_by_tier = TYPICAL_ENGAGEMENT.get(platform)
    if engagement_rate is None:
        return 1.0, "No engagement rate given: no engagement adjustment (x1.00)."
    if isinstance(engagement_rate, bool) or not isinstance(engagement_rate, int | float):
        raise ValueError(f"engagement_rate must be a number, got {engagement_rate!r}")
    if not 0.0 <= engagement_rate <= 1.0:  # also rejects NaN
        raise ValueError(
            f"engagement_rate must be a fraction between 0 and 1 (0.035 for 3.5%), "
            f"got {engagement_rate!r}"
        )
    if typical_by_tier is None:
        return 1.0, f"Engagement rate is not used to price {platform} deliverables (x1.00)."
    tier = follower_tier(audience_size)
    typical = typical_by_tier[tier]
    raw = math.sqrt(engagement_rate / typical)
    multiplier = min(ENGAGEMENT_MAX_MULTIPLIER, max(ENGAGEMENT_MIN_MULTIPLIER, raw))
    return multiplier, (
        f"Engagement rate {engagement_rate:.1%} vs. a typical {typical:.1%} for {tier} "
        f"{platform} accounts: multiplier x{multiplier:.2f} (square root of the ratio, "
        f"bounded to {ENGAGEMENT_MIN_MULTIPLIER:.2f}-{ENGAGEMENT_MAX_MULTIPLIER:.2f})."
    )


def _apply_floor(fee: _Quantiles, dtype: DeliverableType) -> tuple[_Quantiles, str | None]:
    floor = Decimal(dtype.min_fee_cents)
    floored = _Quantiles(max(fee.p25, floor), max(fee.median, floor), max(fee.p75, floor))
    hit = [name for name in ("p25", "median", "p75") if getattr(fee, name) < floor]
    if not hit:
        return floored, None
    return floored, (
        f"The minimum fee of {format_money(dtype.min_fee_cents, 'USD')} for {dtype.name} "
        f"applies to {', '.join(hit)}."
    )


def _usage_uplift(days: int, channels: tuple[str, ...]) -> float:
    periods = days / 30
    total = 0.0
    for channel in channels:
        total += USAGE_UPLIFT_PER_30_DAYS[channel] * periods
    return min(USAGE_UPLIFT_CAP, total)


def _exclusivity_uplift(days: int) -> float:
    return min(EXCLUSIVITY_UPLIFT_CAP, EXCLUSIVITY_UPLIFT_PER_30_DAYS * days / 30)


def _usage_sentence(days: int, channels: tuple[str, ...], assumed: bool, uplift: float) -> str:
    if days == 0:
        return "No usage rights requested: no usage uplift."
    if not channels or all(USAGE_UPLIFT_PER_30_DAYS[c] == 0 for c in channels):
        return f"Usage rights for {days} days on organic channels only add nothing."
    rates = ", ".join(f"{USAGE_UPLIFT_PER_30_DAYS[c]:.0%} on {c}" for c in channels)
    note = " (no channels given, paid_social assumed)" if assumed else ""
    return (
        f"Usage rights for {days} days{note}: +{uplift:.0%} ({rates} per 30 days, capped at "
        f"+{USAGE_UPLIFT_CAP:.0%})."
    )


def _exclusivity_sentence(days: int, uplift: float) -> str:
    if days == 0:
        return "No exclusivity requested: no exclusivity uplift."
    return (
        f"Exclusivity for {days} days: +{uplift:.0%} ({EXCLUSIVITY_UPLIFT_PER_30_DAYS:.0%} per "
        f"30 days, capped at +{EXCLUSIVITY_UPLIFT_CAP:.0%})."
    )


# --- money ------------------------------------------------------------------------------


def _usd_cents_to_minor(usd_cents: Decimal, code: str) -> int:
    """USD cents -> integer minor units of ``code``, rounded half-up."""
    if code not in USD_TO_CURRENCY:
        raise ValueError(f"no USD conversion rate for supported currency {code!r}")
    # USD has exponent 2: cents -> major units is scaleb(-2), major -> minor is scaleb(exp).
    minor = (usd_cents * USD_TO_CURRENCY[code]).scaleb(minor_unit_exponent(code) - 2)
    return int(minor.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _prior_sentence(dtype: DeliverableType) -> str:
    def usd(cents: int) -> str:
        return format_money(cents, "USD")

    return (
        f"Prior for {dtype.name}: {usd(dtype.p25_cents_per_1k)} / "
        f"{usd(dtype.median_cents_per_1k)} / {usd(dtype.p75_cents_per_1k)} per 1,000 "
        f"{dtype.audience_unit} (p25 / median / p75), rounded from publicly reported industry "
        f"rate guides; minimum fee {usd(dtype.min_fee_cents)}."
    )


def _audience_sentence(dtype: DeliverableType, audience_size: int) -> str:
    return (
        f"Audience: {audience_size:,} {dtype.audience_unit} ({follower_tier(audience_size)} tier)."
    )
