"""Relationships (docs/relationships.md): a brand's records of creators, its lists, the
timeline, performance history, re-engagement, and ratings both ways after a contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth import (
    BrandReader,
    BrandWriter,
    CatalogueReader,
    ContractReader,
    ContractWriter,
    InfluencerReader,
    InfluencerWriter,
)
from app.db import Session
from app.deps import Now
from app.errors import AUTH_PROBLEMS, InvalidTransition, problem_responses
from app.models import Side
from app.models.relationship import Rating, Relationship, RelationshipList, RelationshipStatus
from app.pagination import Page, Pagination, page_of
from app.schemas.relationships import (
    ContractRatingsOut,
    PerformanceFiguresOut,
    PerformanceOut,
    RatingIn,
    RatingOut,
    ReEngagedByOut,
    ReEngagementSuggestionOut,
    RelationshipIn,
    RelationshipListIn,
    RelationshipListOut,
    RelationshipOut,
    RelationshipPatch,
    RelationshipTimelineEntryOut,
    RelationshipTimelineOut,
    StatusIn,
    VisibilityIn,
)
from app.services.catalogue.influencers import InfluencerProfileNotFound
from app.services.delivery.contracts import ContractNotFound
from app.services.identity.brands import BrandNotFound
from app.services.relationships import performance, ratings, records, reengagement, timeline
from app.services.relationships.performance import CreatorPerformance
from app.services.relationships.ratings import AlreadyRated, ContractNotFinished
from app.services.relationships.records import (
    CreatorNotFound,
    RelationshipListExists,
    RelationshipListNotFound,
    RelationshipNotFound,
)
from app.services.workflow.state_machine import ActorNotAllowed

router = APIRouter(tags=["relationships"])

BRAND_PROBLEMS = (*AUTH_PROBLEMS, BrandNotFound)


async def _out(session: Session, row: Relationship) -> RelationshipOut:
    return (await _outs(session, [row]))[0]


async def _outs(session: Session, rows: Sequence[Relationship]) -> list[RelationshipOut]:
    if not rows:
        return []
    lists = await records.lists_of(session, rows[0].brand_id, [r.influencer_id for r in rows])
    return [_one(row, lists[row.influencer_id]) for row in rows]


def _one(row: Relationship, lists: list[str]) -> RelationshipOut:
    return RelationshipOut(
        id=row.id,
        brand_id=row.brand_id,
        influencer_id=row.influencer_id,
        status=row.status,
        status_reason=row.status_reason,
        notes=row.notes,
        tags=list(row.tags),
        lists=lists,
        first_contact=row.first_contact,
        first_contact_at=row.first_contact_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _lists_out(
    session: Session, rows: Sequence[RelationshipList]
) -> list[RelationshipListOut]:
    members = await records.list_members(session, rows)
    return [
        RelationshipListOut(
            id=r.id,
            brand_id=r.brand_id,
            name=r.name,
            kind=r.kind,
            influencer_ids=members[r.id],
            created_at=r.created_at,
        )
        for r in rows
    ]


def _performance_out(view: CreatorPerformance, *, whole: bool) -> PerformanceOut:
    visible = performance.FIGURES if whole else view.public
    return PerformanceOut(
        influencer_id=view.influencer_id,
        public=[f for f in performance.FIGURES if f in view.public],
        record=PerformanceFiguresOut.model_validate(performance.figures(view.everyone, visible)),
        with_brand=(
            PerformanceFiguresOut.model_validate(performance.figures(view.own))
            if view.own is not None
            else None
        ),
    )


def _rating_out(row: Rating | None) -> RatingOut | None:
    if row is None:
        return None
    return RatingOut(
        id=row.id,
        contract_id=row.contract_id,
        rater_side=Side(row.rater_side).value,
        scores=row.scores,
        created_at=row.created_at,
    )


def _ratings_out(view: ratings.ContractRatings) -> ContractRatingsOut:
    return ContractRatingsOut(
        contract_id=view.contract.id,
        side=view.side.value,
        mine=_rating_out(view.mine),
        theirs=_rating_out(view.theirs),
        revealed=view.revealed,
        reveal_at=view.reveal_at,
    )


# --- records ------------------------------------------------------------------------------------


@router.get(
    "/v1/brands/{brand_id}/relationships",
    summary="The brand's relationship records",
    description="One per creator the brand has been in touch with (an invitation, a bid, or "
    "added by the brand), oldest first; filter by `status` or `tag` (a tag filter answers "
    "every match in one page). Brand members only: notes, tags and reasons are the brand's.",
    responses=problem_responses(*BRAND_PROBLEMS),
)
async def list_relationships(
    brand_id: str,
    principal: BrandReader,
    session: Session,
    page: Pagination,
    now: Now,
    status_filter: Annotated[RelationshipStatus | None, Query(alias="status")] = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[RelationshipOut]:
    rows, cursor = await records.list_relationships(
        session, principal.user_id, brand_id, page, status=status_filter, tag=tag, now=now
    )
    items = await _outs(session, rows)
    return Page[RelationshipOut](**page_of(items, cursor))


@router.post(
    "/v1/brands/{brand_id}/relationships",
    status_code=status.HTTP_201_CREATED,
    summary="Add a creator to the brand's relationships",
    description="Makes the record of a creator the brand has not contacted yet (201); an "
    "existing record is returned unchanged (200).",
    responses={
        **problem_responses(*BRAND_PROBLEMS),
        200: {"model": RelationshipOut, "description": "The record existed: unchanged"},
    },
)
async def add_relationship(
    brand_id: str,
    body: RelationshipIn,
    principal: BrandWriter,
    session: Session,
    now: Now,
    response: Response,
) -> RelationshipOut:
    row, created = await records.add_relationship(
        session,
        principal.user_id,
        brand_id,
        body.influencer_id,
        notes=body.notes,
        tags=body.tags,
        now=now,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return await _out(session, row)


@router.get(
    "/v1/brands/{brand_id}/relationships/{influencer_id}",
    summary="The brand's record of one creator",
    description="Status (and the brand's reason), notes, tags, the lists the creator is on and "
    "the first contact. Brand members only.",
    responses=problem_responses(*BRAND_PROBLEMS, RelationshipNotFound),
)
async def get_relationship(
    brand_id: str, influencer_id: str, principal: BrandReader, session: Session, now: Now
) -> RelationshipOut:
    row = await records.get_relationship(session, principal.user_id, brand_id, influencer_id, now)
    return await _out(session, row)


@router.patch(
    "/v1/brands/{brand_id}/relationships/{influencer_id}",
    summary="Change the brand's notes and tags on a creator",
    description="The fields given replace the stored ones. Seen by the brand's members only.",
    responses=problem_responses(*BRAND_PROBLEMS, RelationshipNotFound),
)
async def update_relationship(
    brand_id: str,
    influencer_id: str,
    body: RelationshipPatch,
    principal: BrandWriter,
    session: Session,
    now: Now,
) -> RelationshipOut:
    changes = body.model_dump(exclude_unset=True)
    row = await records.update_relationship(
        session, principal.user_id, brand_id, influencer_id, changes, now
    )
    return await _out(session, row)


@router.post(
    "/v1/brands/{brand_id}/relationships/{influencer_id}/status",
    summary="Move a relationship to another status",
    description="prospect, active, ambassador, paused or do_not_work (docs/relationships.md has "
    "the table). paused and do_not_work need a `reason`, seen by the brand only. do_not_work "
    "takes the creator out of the brand's matches and refuses its invitations.",
    responses=problem_responses(
        *BRAND_PROBLEMS, RelationshipNotFound, InvalidTransition, ActorNotAllowed
    ),
)
async def change_status(
    brand_id: str,
    influencer_id: str,
    body: StatusIn,
    principal: BrandWriter,
    session: Session,
    now: Now,
) -> RelationshipOut:
    row = await records.change_status(
        session, principal.user_id, brand_id, influencer_id, body.status, body.reason, now
    )
    return await _out(session, row)


@router.get(
    "/v1/brands/{brand_id}/relationships/{influencer_id}/timeline",
    summary="Every interaction of the brand and a creator",
    description="Oldest first: first contact, invitations, bids, offers, messages, contracts, "
    "deliverables, drafts, proofs, milestones, payments, transfers, disputes, ratings (the "
    "creator's once revealed) and the record's status changes.",
    responses=problem_responses(*BRAND_PROBLEMS, RelationshipNotFound),
)
async def get_timeline(
    brand_id: str, influencer_id: str, principal: BrandReader, session: Session, now: Now
) -> RelationshipTimelineOut:
    row = await records.get_relationship(session, principal.user_id, brand_id, influencer_id, now)
    entries = await timeline.build_timeline(session, row, now)
    return RelationshipTimelineOut(
        relationship_id=row.id,
        influencer_id=row.influencer_id,
        entries=[RelationshipTimelineEntryOut.model_validate(e) for e in entries],
    )


@router.get(
    "/v1/brands/{brand_id}/relationships/{influencer_id}/performance",
    summary="A creator's performance history, as the brand sees it",
    description="`with_brand`: the brand's own history with the creator, every figure. "
    "`record`: the creator's history with all brands, within the figures the creator made "
    "public.",
    responses=problem_responses(*BRAND_PROBLEMS, CreatorNotFound),
)
async def get_brand_performance(
    brand_id: str, influencer_id: str, principal: BrandReader, session: Session, now: Now
) -> PerformanceOut:
    view = await performance.for_brand(session, principal.user_id, brand_id, influencer_id, now)
    return _performance_out(view, whole=False)


# --- lists --------------------------------------------------------------------------------------


@router.get(
    "/v1/brands/{brand_id}/lists",
    summary="The brand's lists of creators",
    description="Shortlists and favourites, oldest first, each with its creators.",
    responses=problem_responses(*BRAND_PROBLEMS),
)
async def list_lists(
    brand_id: str, principal: BrandReader, session: Session, page: Pagination
) -> Page[RelationshipListOut]:
    rows, cursor = await records.list_lists(session, principal.user_id, brand_id, page)
    return Page[RelationshipListOut](**page_of(await _lists_out(session, rows), cursor))


@router.post(
    "/v1/brands/{brand_id}/lists",
    status_code=status.HTTP_201_CREATED,
    summary="Make a list (a shortlist, favourites)",
    description="A name unique within the brand (409 `relationship-list-exists`).",
    responses=problem_responses(*BRAND_PROBLEMS, RelationshipListExists),
)
async def create_list(
    brand_id: str, body: RelationshipListIn, principal: BrandWriter, session: Session, now: Now
) -> RelationshipListOut:
    row = await records.create_list(session, principal.user_id, brand_id, body.name, body.kind, now)
    return (await _lists_out(session, [row]))[0]


@router.get(
    "/v1/brands/{brand_id}/lists/{list_id}",
    summary="One of the brand's lists",
    description="The list and its creators, oldest entry first.",
    responses=problem_responses(*BRAND_PROBLEMS, RelationshipListNotFound),
)
async def get_list(
    brand_id: str, list_id: str, principal: BrandReader, session: Session
) -> RelationshipListOut:
    row = await records.get_list(session, principal.user_id, brand_id, list_id)
    return (await _lists_out(session, [row]))[0]


@router.delete(
    "/v1/brands/{brand_id}/lists/{list_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete one of the brand's lists",
    description="The creators keep their relationship records.",
    responses=problem_responses(*BRAND_PROBLEMS, RelationshipListNotFound),
)
async def delete_list(
    brand_id: str, list_id: str, principal: BrandWriter, session: Session
) -> Response:
    await records.delete_list(session, principal.user_id, brand_id, list_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/v1/brands/{brand_id}/lists/{list_id}/influencers/{influencer_id}",
    summary="Put a creator on a list",
    description="Putting a creator on a list makes the brand's record of them if there is none. "
    "Putting them on again changes nothing.",
    responses=problem_responses(*BRAND_PROBLEMS, RelationshipListNotFound, CreatorNotFound),
)
async def add_to_list(
    brand_id: str,
    list_id: str,
    influencer_id: str,
    principal: BrandWriter,
    session: Session,
    now: Now,
) -> RelationshipListOut:
    row = await records.add_to_list(
        session, principal.user_id, brand_id, list_id, influencer_id, now
    )
    return (await _lists_out(session, [row]))[0]


@router.delete(
    "/v1/brands/{brand_id}/lists/{list_id}/influencers/{influencer_id}",
    summary="Take a creator off a list",
    description="The creator keeps the relationship record; taking them off again changes nothing.",
    responses=problem_responses(*BRAND_PROBLEMS, RelationshipListNotFound),
)
async def remove_from_list(
    brand_id: str, list_id: str, influencer_id: str, principal: BrandWriter, session: Session
) -> RelationshipListOut:
    row = await records.remove_from_list(
        session, principal.user_id, brand_id, list_id, influencer_id
    )
    return (await _lists_out(session, [row]))[0]


# --- re-engagement ------------------------------------------------------------------------------


@router.get(
    "/v1/brands/{brand_id}/re-engagement",
    summary="Strong past performers the brand has not engaged lately",
    description="Creators with a finished contract with the brand, a score with it of at least "
    "0.75 (docs/relationships.md) and no invitation, bid or contract with the brand for "
    "`days` days; not paused or do_not_work. Strongest first, each with the reason.",
    responses=problem_responses(*BRAND_PROBLEMS),
)
async def re_engagement(
    brand_id: str,
    principal: BrandReader,
    session: Session,
    now: Now,
    days: Annotated[int, Query(ge=1, le=reengagement.MAX_DAYS, description="Not engaged for")] = 90,
) -> list[ReEngagementSuggestionOut]:
    await records.require_member(session, principal.user_id, brand_id)
    found = await reengagement.suggestions(session, brand_id, days, now)
    return [ReEngagementSuggestionOut.model_validate(s) for s in found]


# --- the creator's side -------------------------------------------------------------------------


@router.get(
    "/v1/influencers/me/performance",
    summary="Your performance history",
    description="Every figure, with all brands, and which of them brands may see.",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound),
)
async def my_performance(principal: InfluencerReader, session: Session, now: Now) -> PerformanceOut:
    view = await performance.for_creator(session, principal.user_id, now)
    return _performance_out(view, whole=True)


@router.put(
    "/v1/influencers/me/performance/visibility",
    summary="Choose the figures brands may see",
    description="Brands see the chosen figures of your record with all brands; a brand always "
    "sees its own history with you whole. The matching counts your record within these too.",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound),
)
async def set_visibility(
    body: VisibilityIn, principal: InfluencerWriter, session: Session, now: Now
) -> PerformanceOut:
    listing_id = await records.my_listing_id(session, principal.user_id)
    await performance.set_public_figures(session, listing_id, body.public, now)
    view = await performance.for_creator(session, principal.user_id, now)
    return _performance_out(view, whole=True)


@router.get(
    "/v1/influencers/me/re-engaged-by",
    summary="Brands that came back to you",
    description="Brands that invited you or agreed a new contract after a contract with them "
    "had finished; most recent first.",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound),
)
async def re_engaged_by(principal: InfluencerReader, session: Session) -> list[ReEngagedByOut]:
    listing_id = await records.my_listing_id(session, principal.user_id)
    found = await reengagement.re_engaged_by(session, listing_id)
    return [ReEngagedByOut.model_validate(r) for r in found]


@router.get(
    "/v1/influencers/{influencer_id}/performance",
    summary="A creator's public performance history",
    description="The creator's record with all brands, within the figures they made public.",
    responses=problem_responses(*AUTH_PROBLEMS, CreatorNotFound),
)
async def public_performance(
    influencer_id: str, principal: CatalogueReader, session: Session, now: Now
) -> PerformanceOut:
    view = await performance.for_anyone(session, influencer_id, now)
    return _performance_out(view, whole=False)


# --- ratings ------------------------------------------------------------------------------------


@router.post(
    "/v1/contracts/{contract_id}/ratings",
    status_code=status.HTTP_201_CREATED,
    summary="Rate the other party of a finished contract",
    description="Once per side, after the contract completed (or was resolved): 1-5 and a text "
    "per dimension — a brand rates quality, timeliness and communication; a creator rates "
    "brief_clarity, payment and communication. The other side sees it once both have rated "
    "or 14 days after the contract ended.",
    responses=problem_responses(
        *AUTH_PROBLEMS, ContractNotFound, ContractNotFinished, AlreadyRated
    ),
)
async def rate_contract(
    contract_id: str, body: RatingIn, principal: ContractWriter, session: Session, now: Now
) -> ContractRatingsOut:
    scores = {d: v.model_dump() for d, v in body.scores.items()}
    view = await ratings.rate(session, principal.user_id, contract_id, scores, now)
    return _ratings_out(view)


@router.get(
    "/v1/contracts/{contract_id}/ratings",
    summary="The contract's ratings",
    description="Your side's rating, and the other side's once revealed.",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound),
)
async def get_contract_ratings(
    contract_id: str, principal: ContractReader, session: Session, now: Now
) -> ContractRatingsOut:
    view = await ratings.contract_ratings(session, principal.user_id, contract_id, now)
    return _ratings_out(view)
