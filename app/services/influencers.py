"""Influencer profiles: at most one per user, managed only by that user."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound
from app.models import Influencer


class InfluencerProfileExists(Conflict):
    slug, title = "influencer-profile-exists", "You already have an influencer profile"


class InfluencerProfileNotFound(NotFound):
    slug, title = "influencer-profile-not-found", "You have no influencer profile yet"


async def create_profile(session: AsyncSession, user_id: str, fields: dict[str, Any]) -> Influencer:
    profile = Influencer(user_id=user_id, **fields)
    session.add(profile)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise InfluencerProfileExists(
            "You already have an influencer profile; change it with PATCH /v1/influencers/me"
        ) from exc
    return profile


async def get_own_profile(session: AsyncSession, user_id: str) -> Influencer:
    profile = await session.scalar(select(Influencer).where(Influencer.user_id == user_id))
    if profile is None:
        raise InfluencerProfileNotFound("Create it with POST /v1/influencers/me")
    return profile


async def update_own_profile(
    session: AsyncSession, user_id: str, changes: dict[str, Any]
) -> Influencer:
    profile = await get_own_profile(session, user_id)
    for field, value in changes.items():
        setattr(profile, field, value)
    await session.flush()
    return profile
