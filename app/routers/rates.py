from __future__ import annotations

from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Query

from app.auth import CatalogueReader
from app.errors import AUTH_PROBLEMS, InvalidRequest, problem_responses
from app.schemas.compliance import Platform, RateEstimateOut
from app.services.catalogue.currencies import MINOR_UNIT_EXPONENTS
from app.services.catalogue.deliverable_types import DELIVERABLE_TYPES
from app.services.catalogue.rates import USAGE_UPLIFT_PER_30_DAYS, USD_TO_CURRENCY, estimate_rate

router = APIRouter(tags=["rates"])

UsageChannel = Literal["organic", "paid_social", "website", "email", "print", "ooh", "tv"]
assert set(get_args(UsageChannel)) == set(USAGE_UPLIFT_PER_30_DAYS)  # one list of channels
# The currencies an estimate can be given in (stated in OpenAPI; others are a 422).
RATE_CURRENCIES = sorted(set(MINOR_UNIT_EXPONENTS) & set(USD_TO_CURRENCY))


@router.get(
    "/v1/rates/estimate",
    summary="Fair-rate guidance for one deliverable",
    description="The 25th percentile, median and 75th percentile of a fair price, in minor "
    "units of `currency`, from a documented prior of public CPM-style rates adjusted for "
    "engagement, usage rights and exclusivity (more usage or exclusivity never lowers it); "
    "blended with prices agreed on Rapport once there are at least 20 comparable ones. "
    "`basis` explains every step.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def estimate_fair_rate(
    principal: CatalogueReader,
    platform: Platform,
    deliverable_type: Annotated[
        str,
        Query(
            max_length=50,
            examples=["instagram_reel"],
            json_schema_extra={"enum": sorted(DELIVERABLE_TYPES)},
        ),
    ],
    audience_size: Annotated[int, Query(ge=0, le=1_000_000_000, description="Followers")],
    engagement_rate: Annotated[
        float | None, Query(ge=0, le=1, description="Interactions per follower, e.g. 0.031")
    ] = None,
    usage_rights_days: Annotated[int, Query(ge=0, le=3650)] = 0,
    usage_channels: Annotated[list[UsageChannel] | None, Query()] = None,
    exclusivity_days: Annotated[int, Query(ge=0, le=3650)] = 0,
    currency: Annotated[
        str, Query(pattern="^[A-Z]{3}$", json_schema_extra={"enum": RATE_CURRENCIES})
    ] = "USD",
) -> RateEstimateOut:
    try:
        estimate = estimate_rate(
            platform,
            deliverable_type,
            audience_size,
            engagement_rate,
            usage_rights_days=usage_rights_days,
            usage_channels=list(usage_channels) if usage_channels else None,
            exclusivity_days=exclusivity_days,
            currency=currency,
        )
    except ValueError as exc:
        field = "currency" if "currenc" in str(exc).lower() else "deliverable_type"
        raise InvalidRequest.field(field, str(exc), "unknown_value") from exc
    return RateEstimateOut(
        platform=platform,
        deliverable_type=deliverable_type,
        currency=estimate.currency,
        p25=estimate.p25,
        median=estimate.median,
        p75=estimate.p75,
        source=estimate.source,
        sample_count=estimate.sample_count,
        basis=estimate.basis,
    )
