from __future__ import annotations

from fastapi import APIRouter, status

from app.auth import InfluencerReader, InfluencerWriter
from app.db import Session
from app.errors import AUTH_PROBLEMS, InvalidRequest, problem_responses
from app.schemas.influencers import InfluencerIn, InfluencerOut, InfluencerPatch
from app.services import influencers as service
from app.services.influencers import InfluencerProfileExists, InfluencerProfileNotFound

router = APIRouter(tags=["influencers"])


@router.post(
    "/v1/influencers/me",
    status_code=status.HTTP_201_CREATED,
    summary="Create your influencer profile (one per account)",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileExists),
)
async def create_own_profile(
    body: InfluencerIn, principal: InfluencerWriter, session: Session
) -> InfluencerOut:
    profile = await service.create_profile(session, principal.user_id, body.model_dump())
    return InfluencerOut.model_validate(profile)


@router.get(
    "/v1/influencers/me",
    summary="Your influencer profile",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound),
)
async def get_own_profile(principal: InfluencerReader, session: Session) -> InfluencerOut:
    return InfluencerOut.model_validate(await service.get_own_profile(session, principal.user_id))


@router.patch(
    "/v1/influencers/me",
    summary="Change your influencer profile",
    description="Only the fields you send change; `null` clears an optional field.",
    responses=problem_responses(*AUTH_PROBLEMS, InfluencerProfileNotFound),
)
async def update_own_profile(
    body: InfluencerPatch, principal: InfluencerWriter, session: Session
) -> InfluencerOut:
    changes = body.model_dump(exclude_unset=True)
    for required in ("display_name", "bio", "languages"):
        if required in changes and changes[required] is None:
            raise InvalidRequest.field(required, "cannot be null", "not_nullable")
    profile = await service.update_own_profile(session, principal.user_id, changes)
    return InfluencerOut.model_validate(profile)
