"""Tests for fair-rate guidance (app.services.catalogue.rates) and its catalogues."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.catalogue import currencies
from app.services.catalogue.deliverable_types import (
    DELIVERABLE_TYPES,
    PLATFORMS,
    deliverable_types_for_platform,
    get_deliverable_type,
)
from app.services.catalogue.rates import (
    DEFAULT_BRIEF_AUDIENCE,
    ENGAGEMENT_MAX_MULTIPLIER,
    ENGAGEMENT_MIN_MULTIPLIER,
    MARKET_ONLY_SAMPLES,
    MIN_MARKET_SAMPLES,
    USAGE_UPLIFT_PER_30_DAYS,
    USD_TO_CURRENCY,
    AgreedPrice,
    RateEstimate,
    brief_budget_warning,
    estimate_rate,
    format_money,
)

ALL_TYPES = sorted(DELIVERABLE_TYPES)
CHANNELS = sorted(USAGE_UPLIFT_PER_30_DAYS)


def _estimate(deliverable_type: str = "instagram_post", **kwargs: object) -> RateEstimate:
    platform = get_deliverable_type(deliverable_type).platform
    kwargs.setdefault("audience_size", 50_000)
    kwargs.setdefault("engagement_rate", None)
    return estimate_rate(platform, deliverable_type, **kwargs)  # type: ignore[arg-type]


def _agreed(amount_usd_cents: int, n: int, audience: int = 50_000) -> list[AgreedPrice]:
    return [
        AgreedPrice("instagram_post", "instagram", audience, amount_usd_cents, "USD")
        for _ in range(n)
    ]


# --- catalogues -------------------------------------------------------------------------


def test_catalogue_covers_every_platform() -> None:
    assert {t.platform for t in DELIVERABLE_TYPES.values()} == PLATFORMS
    assert {t.name for t in deliverable_types_for_platform("instagram")} == {
        "instagram_post",
        "instagram_reel",
        "instagram_story",
    }


def test_catalogue_is_read_only() -> None:
    with pytest.raises(TypeError):
        DELIVERABLE_TYPES["new_type"] = DELIVERABLE_TYPES["x_post"]  # type: ignore[index]


def test_every_supported_currency_has_a_conversion_rate() -> None:
    assert set(USD_TO_CURRENCY) == set(currencies.MINOR_UNIT_EXPONENTS)


def test_currency_helpers() -> None:
    assert currencies.minor_unit_exponent("USD") == 2
    assert currencies.minor_unit_exponent("jpy") == 0
    assert currencies.minor_unit_exponent("KRW") == 0
    assert currencies.is_supported("eur")
    assert not currencies.is_supported("XYZ")
    with pytest.raises(ValueError, match="unsupported currency"):
        currencies.minor_unit_exponent("XYZ")


def test_format_money() -> None:
    assert format_money(123_456, "USD") == "1,234.56 USD"
    assert format_money(15_000, "JPY") == "15,000 JPY"


# --- basic shape ------------------------------------------------------------------------


@pytest.mark.parametrize("deliverable_type", ALL_TYPES)
@pytest.mark.parametrize("audience", [0, 800, 25_000, 250_000, 3_000_000])
def test_quantiles_are_ordered_ints(deliverable_type: str, audience: int) -> None:
    estimate = _estimate(deliverable_type, audience_size=audience, engagement_rate=0.03)
    for value in (estimate.p25, estimate.median, estimate.p75):
        assert type(value) is int
    assert 0 < estimate.p25 <= estimate.median <= estimate.p75
    assert estimate.source == "prior"
    assert estimate.currency == "USD"


def test_prior_matches_the_ten_dollars_per_thousand_rule() -> None:
    estimate = _estimate("instagram_post", audience_size=100_000)
    assert estimate.median == 100_000  # $1,000.00 for 100k followers
    assert "Prior for instagram_post" in estimate.basis[0]
    assert "industry rate guides" in estimate.basis[0]


def test_minimum_fee_applies_to_tiny_accounts() -> None:
    estimate = _estimate("youtube_video", audience_size=500)
    minimum = get_deliverable_type("youtube_video").min_fee_cents
    assert estimate.p25 == estimate.median == estimate.p75 == minimum
    assert any("minimum fee" in sentence for sentence in estimate.basis)


def test_basis_explains_every_step() -> None:
    estimate = _estimate(
        "instagram_reel",
        engagement_rate=0.05,
        usage_rights_days=90,
        usage_channels=["paid_social", "website"],
        exclusivity_days=60,
        currency="EUR",
    )
    text = " ".join(estimate.basis)
    for fragment in (
        "per 1,000 followers",
        "Engagement rate 5.0%",
        "Usage rights for 90 days",
        "Exclusivity for 60 days",
        "No agreed prices on Rapport were blended in",
        "1 USD = 0.92 EUR",
    ):
        assert fragment in text


# --- currency ---------------------------------------------------------------------------


def test_zero_decimal_currency_counts_whole_yen() -> None:
    usd = _estimate(currency="USD")
    jpy = _estimate(currency="JPY")
    rate = USD_TO_CURRENCY["JPY"]
    # USD cents / 100 * 151 yen per dollar: the yen count is ~100x smaller than
    # cents x rate, i.e. 151 / 100 = 1.51 yen per US cent.
    assert jpy.median == round(usd.median * rate / 100)
    assert jpy.currency == "JPY"
    krw = _estimate(currency="krw")
    assert krw.currency == "KRW"
    assert krw.median == round(usd.median * USD_TO_CURRENCY["KRW"] / 100)


def test_two_decimal_conversion() -> None:
    usd = _estimate(currency="USD")
    eur = _estimate(currency="EUR")
    assert eur.median == round(usd.median * USD_TO_CURRENCY["EUR"])


# --- monotonicity -----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    deliverable_type=st.sampled_from(ALL_TYPES),
    audience=st.integers(0, 5_000_000),
    engagement=st.none() | st.floats(0, 1),
    days=st.tuples(st.integers(0, 2_000), st.integers(0, 2_000)).map(sorted),
    exclusivity=st.tuples(st.integers(0, 2_000), st.integers(0, 2_000)).map(sorted),
    channels=st.lists(st.sampled_from(CHANNELS), unique=True),
    extra_channels=st.lists(st.sampled_from(CHANNELS), unique=True),
    currency=st.sampled_from(sorted(USD_TO_CURRENCY)),
)
def test_more_usage_or_exclusivity_never_lowers_any_quantile(
    deliverable_type: str,
    audience: int,
    engagement: float | None,
    days: list[int],
    exclusivity: list[int],
    channels: list[str],
    extra_channels: list[str],
    currency: str,
) -> None:
    common = {"audience_size": audience, "engagement_rate": engagement, "currency": currency}
    low = _estimate(
        deliverable_type,
        usage_rights_days=days[0],
        usage_channels=channels,
        exclusivity_days=exclusivity[0],
        **common,
    )
    high = _estimate(
        deliverable_type,
        usage_rights_days=days[1],
        usage_channels=channels + extra_channels,
        exclusivity_days=exclusivity[1],
        **common,
    )
    assert low.p25 <= high.p25
    assert low.median <= high.median
    assert low.p75 <= high.p75


@settings(max_examples=200, deadline=None)
@given(
    deliverable_type=st.sampled_from(ALL_TYPES),
    audiences=st.tuples(st.integers(0, 5_000_000), st.integers(0, 5_000_000)).map(sorted),
    engagement=st.none() | st.floats(0, 1),
)
def test_bigger_audience_never_lowers_any_quantile(
    deliverable_type: str, audiences: list[int], engagement: float | None
) -> None:
    small = _estimate(deliverable_type, audience_size=audiences[0], engagement_rate=engagement)
    large = _estimate(deliverable_type, audience_size=audiences[1], engagement_rate=engagement)
    assert small.p25 <= large.p25
    assert small.median <= large.median
    assert small.p75 <= large.p75


def test_organic_only_usage_adds_nothing() -> None:
    base = _estimate()
    organic = _estimate(usage_rights_days=365, usage_channels=["organic"])
    assert organic.median == base.median
    assert any("organic channels only add nothing" in s for s in organic.basis)


def test_usage_days_without_channels_assume_paid_social() -> None:
    assumed = _estimate(usage_rights_days=30)
    explicit = _estimate(usage_rights_days=30, usage_channels=["paid_social"])
    assert assumed.median == explicit.median > _estimate().median
    assert any("paid_social assumed" in s for s in assumed.basis)


def test_uplifts_are_capped() -> None:
    year = _estimate(usage_rights_days=3_650, usage_channels=CHANNELS, exclusivity_days=3_650)
    decade = _estimate(usage_rights_days=36_500, usage_channels=CHANNELS, exclusivity_days=36_500)
    assert year.median == decade.median == _estimate().median * 5  # x2.5 usage, x2 exclusivity


# --- engagement -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    deliverable_type=st.sampled_from(["instagram_post", "tiktok_video", "youtube_video"]),
    audience=st.integers(200_000, 5_000_000),  # large enough that the minimum fee is moot
    engagement=st.floats(0, 1),
)
def test_engagement_adjustment_is_bounded(
    deliverable_type: str, audience: int, engagement: float
) -> None:
    neutral = _estimate(deliverable_type, audience_size=audience)
    adjusted = _estimate(deliverable_type, audience_size=audience, engagement_rate=engagement)
    ratio = adjusted.median / neutral.median
    assert ENGAGEMENT_MIN_MULTIPLIER - 0.001 <= ratio <= ENGAGEMENT_MAX_MULTIPLIER + 0.001


def test_engagement_direction_and_bounds() -> None:
    neutral = _estimate(audience_size=300_000).median
    assert _estimate(audience_size=300_000, engagement_rate=0.10).median == round(neutral * 1.5)
    assert _estimate(audience_size=300_000, engagement_rate=0.0).median == round(neutral * 0.7)
    typical = _estimate(audience_size=300_000, engagement_rate=0.018).median  # mid tier
    assert typical == neutral


def test_engagement_is_ignored_for_podcasts() -> None:
    estimate = _estimate("podcast_mention", engagement_rate=0.2)
    assert estimate.median == _estimate("podcast_mention").median
    assert any("not used to price podcast" in s for s in estimate.basis)


@pytest.mark.parametrize("engagement", [-0.01, 1.5, 3.5, float("nan"), float("inf")])
def test_engagement_out_of_range_raises(engagement: float) -> None:
    with pytest.raises(ValueError, match="engagement_rate"):
        _estimate(engagement_rate=engagement)


# --- blending ---------------------------------------------------------------------------


def test_blending_switches_on_at_twenty_samples() -> None:
    market_price = 100_000  # $1,000 for 50k followers = $20 per 1k, double the prior
    below = _estimate(agreed_prices=_agreed(market_price, MIN_MARKET_SAMPLES - 1))
    at = _estimate(agreed_prices=_agreed(market_price, MIN_MARKET_SAMPLES))
    prior = _estimate()
    assert below.source == "prior"
    assert below.median == prior.median
    assert below.sample_count == MIN_MARKET_SAMPLES - 1
    assert at.source == "blended"
    assert at.sample_count == MIN_MARKET_SAMPLES
    assert prior.median < at.median < market_price
    # Prior weight 20 vs 20 samples: exactly halfway.
    assert at.median == (prior.median + market_price) // 2
    assert any("Blended 20 comparable agreed prices" in s for s in at.basis)
    assert any("found 19" in s for s in below.basis)


def test_more_samples_move_the_median_closer_to_the_market() -> None:
    market_price = 20_000
    medians = [
        _estimate(agreed_prices=_agreed(market_price, n)).median
        for n in (MIN_MARKET_SAMPLES, 60, MARKET_ONLY_SAMPLES - 1)
    ]
    assert medians[0] > medians[1] > medians[2] > market_price
    market_only = _estimate(agreed_prices=_agreed(market_price, MARKET_ONLY_SAMPLES))
    assert market_only.source == "market"
    assert market_only.median == market_price


def test_only_comparable_prices_are_blended() -> None:
    noise = [
        AgreedPrice("instagram_reel", "instagram", 50_000, 90_000, "USD"),  # other type
        AgreedPrice("instagram_post", "instagram", 10_000, 90_000, "USD"),  # audience < 1/3
        AgreedPrice("instagram_post", "instagram", 200_000, 90_000, "USD"),  # audience > 3x
        AgreedPrice("instagram_post", "instagram", 50_000, 90_000, "XYZ"),  # bad currency
        AgreedPrice("instagram_post", "instagram", 50_000, -5, "USD"),  # bad amount
    ] * 10
    estimate = _estimate(agreed_prices=noise + _agreed(90_000, 5))
    assert estimate.source == "prior"
    assert estimate.sample_count == 5


def test_agreed_prices_are_converted_and_normalised() -> None:
    # 20 deals at 1,380 EUR with 30 days of paid usage: 1,380 / 0.92 = $1,500, / 1.15 uplift
    # = $1,304.35 base for 50k followers. Blended halfway with the $500 prior.
    deals = [
        AgreedPrice("instagram_post", "instagram", 50_000, 138_000, "EUR", usage_rights_days=30)
        for _ in range(MIN_MARKET_SAMPLES)
    ]
    estimate = _estimate(agreed_prices=deals)
    assert estimate.median == round((50_000 + 150_000 / 1.15) / 2)


@settings(max_examples=100, deadline=None)
@given(amounts=st.lists(st.integers(1, 10_000_000), min_size=20, max_size=250))
def test_blended_quantiles_stay_ordered(amounts: list[int]) -> None:
    prices = [AgreedPrice("instagram_post", "instagram", 50_000, a, "USD") for a in amounts]
    estimate = _estimate(agreed_prices=prices)
    assert estimate.source in {"blended", "market"}
    assert estimate.p25 <= estimate.median <= estimate.p75


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "deliverable_type", "currency", "message"),
    [
        ("facebook", "instagram_post", "USD", "unknown platform"),
        ("instagram", "instagram_carousel", "USD", "unknown deliverable type"),
        ("instagram", "instagram_post", "XYZ", "unsupported currency"),
        ("tiktok", "youtube_video", "USD", "belongs to platform 'youtube'"),
        ("youtube", "instagram_story", "USD", "belongs to platform 'instagram'"),
    ],
)
def test_invalid_inputs_raise_value_error(
    platform: str, deliverable_type: str, currency: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        estimate_rate(platform, deliverable_type, 10_000, None, currency=currency)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"audience_size": -1},
        {"usage_rights_days": -30},
        {"exclusivity_days": -1},
        {"usage_channels": ["billboards"]},
        {"audience_size": True},
    ],
)
def test_out_of_range_arguments_raise_value_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _estimate(**kwargs)


# --- brief budget warning ---------------------------------------------------------------


def test_budget_warning_when_below_p25() -> None:
    warning = brief_budget_warning([("instagram_post", 2), ("instagram_story", 1)], 30_000, "USD")
    assert warning is not None
    assert "300.00 USD" in warning
    assert "700.00 USD" in warning  # 2 x $300 + 1 x $100 p25 at 50k followers
    assert "2 x instagram_post + 1 x instagram_story" in warning
    assert f"{DEFAULT_BRIEF_AUDIENCE:,}" in warning


def test_no_warning_when_budget_is_enough() -> None:
    assert (
        brief_budget_warning([("instagram_post", 2), ("instagram_story", 1)], 70_000, "USD") is None
    )
    assert brief_budget_warning([], 0, "USD") is None


def test_budget_warning_uses_audience_hint_and_currency() -> None:
    deliverables = [("youtube_video", 1)]
    assert brief_budget_warning(deliverables, 1_000_000, "JPY", audience_size_hint=5_000) is None
    warning = brief_budget_warning(deliverables, 1_000_000, "JPY", audience_size_hint=1_000_000)
    assert warning is not None
    assert "JPY" in warning
    assert "1,000,000-person audience" in warning


@pytest.mark.parametrize(
    ("deliverables", "budget", "currency"),
    [
        ([("instagram_post", 0)], 10_000, "USD"),
        ([("instagram_carousel", 1)], 10_000, "USD"),
        ([("instagram_post", 1)], -1, "USD"),
        ([("instagram_post", 1)], 10_000, "ABC"),
    ],
)
def test_budget_warning_rejects_bad_input(
    deliverables: list[tuple[str, int]], budget: int, currency: str
) -> None:
    with pytest.raises(ValueError):
        brief_budget_warning(deliverables, budget, currency)
