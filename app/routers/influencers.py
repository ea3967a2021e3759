from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth import CatalogueReader, InfluencerReader, InfluencerWriter
from app.db import Session, reads_only
from app.deps import Now
from app.errors import AUTH_PROBLEMS, problem_responses
from app.models import Influencer
from app.pagination import Page, Pagination, page_of
from app.schemas.influencers import (
    AccountIn,
    AccountOut,
    AccountPatch,
    InfluencerIn,
    InfluencerOut,
    InfluencerPatch,
    ListingOut,
    ListingQuery,
)
from app.services.catalogue import influencers as service
from app.services.catalogue.influencers import (
    HandleTaken,
    InfluencerProfileExists,
    InfluencerProfileNotFound,
    ListingFilters,
    ListingNotFound,
    SocialAccountNotFound,
)

router = APIRouter(tags=["influencers"])


def _own_out(listing: Influencer) -> InfluencerOut:
    return InfluencerOut.model_validate(listing)


# --- your own listing (the `me` routes come before `/{influencer_id}`) ------------------------


@router.post(
    "/v1/influencers/me",
    status_code=status.HTTP_201_CREATED,
    summary="Create your influencer listing (one per account)",
    description="The full listing shape; `accounts` may be given here or added later.",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileExists, HandleTaken),
)
async def create_own_profile(
    body: InfluencerIn, principal: InfluencerWriter, session: Session, now: Now
) -> InfluencerOut:
    fields = body.model_dump(mode="json", exclude={"accounts"})
    accounts = [a.model_dump(mode="json") for a in body.accounts]
    listing = await service.create_profile(session, principal.user_id, fields, accounts, now=now)
    return _own_out(listing)


@router.get(
    "/v1/influencers/me",
    summary="Your influencer listing",
    description="The influencer listing of the signed-in account, as brands see it, with its "
    "social accounts. 404 until you create one with `POST /v1/influencers/me`.",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound),
)
async def get_own_profile(principal: InfluencerReader, session: Session) -> InfluencerOut:
    return _own_out(await service.get_own_profile(session, principal.user_id))


@router.patch(
    "/v1/influencers/me",
    summary="Change your influencer listing",
    description="Only the fields you send change, each replaced whole; `null` clears "
    "`country` and `unavailable_until`. Accounts change under `/v1/influencers/me/accounts`.",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound),
)
async def update_own_profile(
    body: InfluencerPatch, principal: InfluencerWriter, session: Session
) -> InfluencerOut:
    changes = body.model_dump(mode="json", exclude_unset=True)
    return _own_out(await service.update_own_profile(session, principal.user_id, changes))


@router.get(
    "/v1/influencers/me/accounts",
    summary="Your social accounts",
    description="The social accounts on your listing (platform, handle, followers and engagement).",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound),
)
async def list_own_accounts(principal: InfluencerReader, session: Session) -> list[AccountOut]:
    accounts = await service.list_own_accounts(session, principal.user_id)
    return [AccountOut.model_validate(a) for a in accounts]


@router.post(
    "/v1/influencers/me/accounts",
    status_code=status.HTTP_201_CREATED,
    summary="Add a social account to your listing",
    description="The handle must be unique on its platform, case-insensitively.",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound, HandleTaken),
)
async def add_own_account(
    body: AccountIn, principal: InfluencerWriter, session: Session, now: Now
) -> AccountOut:
    fields = body.model_dump(mode="json")
    account = await service.add_account(session, principal.user_id, fields, now=now)
    return AccountOut.model_validate(account)


@router.patch(
    "/v1/influencers/me/accounts/{account_id}",
    summary="Change one of your social accounts",
    description="Only the fields you send change; the platform is fixed.",
    responses=problem_responses(
        *AUTH_PROBLEMS, InfluencerProfileNotFound, SocialAccountNotFound, HandleTaken
    ),
)
async def update_own_account(
    account_id: str, body: AccountPatch, principal: InfluencerWriter, session: Session, now: Now
) -> AccountOut:
    changes = body.model_dump(mode="json", exclude_unset=True)
    account = await service.update_account(session, principal.user_id, account_id, changes, now=now)
    return AccountOut.model_validate(account)


@router.delete(
    "/v1/influencers/me/accounts/{account_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove one of your social accounts",
    description="The account leaves your listing at once, and matching stops counting it.",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound, SocialAccountNotFound),
)
async def delete_own_account(
    account_id: str, principal: InfluencerWriter, session: Session
) -> Response:
    await service.delete_account(session, principal.user_id, account_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the public catalogue ---------------------------------------------------------------------


@router.get(
    "/v1/influencers",
    summary="Search influencer listings",
    description="Filters narrow the result (a repeated filter matches any of its values); `q` "
    "matches listings containing every word. Sorted by `sort`, then id; cursor-paginated. See "
    "docs/catalogue.md.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
@reads_only
async def search_listings(
    query: Annotated[ListingQuery, Query()],
    principal: CatalogueReader,
    session: Session,
    page: Pagination,
) -> Page[ListingOut]:
    filters = ListingFilters(**query.model_dump(mode="json"))
    rows, cursor = await service.search_listings(session, filters, page)
    return Page[ListingOut](**page_of([ListingOut.model_validate(r) for r in rows], cursor))


@router.get(
    "/v1/influencers/{influencer_id}",
    summary="An influencer listing",
    description="A creator's public listing: profile, social accounts, audience, topics and rate "
    "card.",
    responses=problem_responses(*AUTH_PROBLEMS, ListingNotFound),
)
@reads_only
async def get_listing(
    influencer_id: str, principal: CatalogueReader, session: Session
) -> ListingOut:
    return ListingOut.model_validate(await service.get_listing(session, influencer_id))
