from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from app.auth import BriefReader
from app.db import Session, reads_primary
from app.deps import AppListingIndex, Now
from app.errors import AUTH_PROBLEMS, InvalidRequest, problem_responses
from app.pagination import resolve_limit
from app.schemas.matching import (
    BriefMatchOut,
    Component,
    ListingMatchOut,
    MatchesOut,
    RecommendedBriefsOut,
)
from app.services.catalogue.briefs import BriefNotFound
from app.services.matching import service
from app.services.matching.scoring import RankFilters, resolve_weights
from app.services.matching.service import ListingNotMatched

router = APIRouter(tags=["matching"])

WEIGHTS_HELP = (
    "Override component weights, e.g. `topic_relevance:0.5,price_fit:0.1` (names: "
    "topic_relevance, audience_fit, authenticity, engagement_quality, price_fit, over_exposure, "
    "relationship); negative or all-zero weights are a 422"
)


def _components(raw: dict[str, tuple[float, str]]) -> dict[str, Component]:
    return {name: Component(value=value, reason=reason) for name, (value, reason) in raw.items()}


@router.get(
    "/v1/briefs/{brief_id}/matches",
    summary="Listings ranked for a brief, with every score component explained",
    description="Hard filters first (platform, availability, refused categories, the brand's "
    "blocked list, other brands' active exclusivity in the brief's category), then seven "
    "components in [0, 1] combined by weights. Three gates put listings with high "
    "fake-follower evidence, heavy over-exposure or no recent activity after every other, "
    "with the evidence in `gates` "
    "(`relax` turns a gate off). Brand members only. Pass `explain=inf_…` "
    "(repeatable) to learn why a listing is excluded.",
    responses=problem_responses(*AUTH_PROBLEMS, BriefNotFound),
)
@reads_primary
async def list_brief_matches(
    brief_id: str,
    request: Request,
    principal: BriefReader,
    session: Session,
    now: Now,
    listing_index: AppListingIndex,
    weights: Annotated[str | None, Query(max_length=500, description=WEIGHTS_HELP)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    explain: Annotated[list[str] | None, Query(max_length=20)] = None,
    country: Annotated[
        list[str] | None, Query(description="Creator's home country (ISO 3166-1), any of")
    ] = None,
    language: Annotated[list[str] | None, Query(description="Creator speaks any of")] = None,
    followers_min: Annotated[int | None, Query(ge=0)] = None,
    followers_max: Annotated[int | None, Query(ge=0)] = None,
    min_authenticity: Annotated[float | None, Query(ge=0, le=1)] = None,
    every_platform: Annotated[
        bool,
        Query(
            description="Only creators with an account on every platform of the brief. By "
            "default a creator missing one of them ranks lower (score x the share of the "
            "deliverables they can make to the power 0.25: x 0.84 for half of them): the "
            "campaign could be split. A brief "
            "says so itself with `platform_coverage` (`required`: this filter, always; "
            "`alternatives`: no penalty for a creator on only some of the platforms)"
        ),
    ] = False,
    relax: Annotated[
        list[Literal["fake_followers", "over_exposure", "inactive"]] | None,
        Query(
            description="Gates to turn off (repeatable): by default listings with high "
            "fake-follower evidence, most recent posts sponsored, or no post in 90 days and "
            "no posting rate (inactive) rank after every other"
        ),
    ] = None,
) -> MatchesOut:
    parsed = service.parse_weights(weights)
    if followers_min is not None and followers_max is not None and followers_min > followers_max:
        raise InvalidRequest.field("followers_min", "must not exceed followers_max", "range")
    filters = RankFilters(
        countries=frozenset(c.upper() for c in country or []),
        languages=frozenset(x.lower() for x in language or []),
        min_followers=followers_min,
        max_followers=followers_max,
        min_authenticity=min_authenticity,
        every_platform=every_platform,
        gate_fake_followers="fake_followers" not in (relax or ()),
        gate_over_exposure="over_exposure" not in (relax or ()),
        gate_inactive="inactive" not in (relax or ()),
    )
    result = await service.matches_for_brief(
        session,
        listing_index,
        principal.user_id,
        brief_id,
        today=now.date(),
        weights=parsed,
        limit=resolve_limit(request, limit),
        cursor=cursor,
        explain=explain or [],
        filters=filters,
    )
    names = await service.listing_names(session, [m.listing_id for m in result.matches])
    return MatchesOut(
        brief_id=brief_id,
        data=[
            ListingMatchOut(
                listing_id=m.listing_id,
                display_name=names.get(m.listing_id),
                score=m.score,
                components=_components(m.components),
                gates=m.gates,
            )
            for m in result.matches
        ],
        next_cursor=result.next_cursor,
        has_more=result.next_cursor is not None,
        weights=result.weights,
        notes=result.notes,
        excluded=result.excluded,
    )


@router.get(
    "/v1/influencers/me/recommended-briefs",
    tags=["influencers"],
    summary="Open briefs ranked for your listing, with the same explanation",
    description="Open public briefs ranked by how well they fit your listing, each with the "
    "components of its score. An empty list says why (for example, a listing without social "
    "accounts) in `reason`.",
    responses=problem_responses(*AUTH_PROBLEMS, ListingNotMatched),
)
async def list_recommended_briefs(
    request: Request,
    principal: BriefReader,
    session: Session,
    now: Now,
    listing_index: AppListingIndex,
    weights: Annotated[str | None, Query(max_length=500, description=WEIGHTS_HELP)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> RecommendedBriefsOut:
    parsed = service.parse_weights(weights)
    found = await service.recommended_briefs(
        session,
        listing_index,
        principal.user_id,
        today=now.date(),
        weights=parsed,
        limit=resolve_limit(request, limit),
    )
    titles = await service.brief_titles(session, [b.brief_id for b in found])
    return RecommendedBriefsOut(
        data=[
            BriefMatchOut(
                brief_id=b.brief_id,
                title=titles.get(b.brief_id),
                score=b.score,
                components=_components(b.components),
            )
            for b in found
        ],
        weights=resolve_weights(parsed),
        reason=None
        if found
        else await service.why_no_recommended_briefs(
            session, listing_index, principal.user_id, today=now.date()
        ),
    )
