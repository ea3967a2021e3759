"""Tenancy: who may see a brand-and-influencer row, and on which side the caller stands.

Rows that belong to a deal (bids, offers through their bid, contracts, deliverables, disputes …)
carry `brand_id` and `influencer_id`. A user is a party to such a row when they are a member of
its brand (`member_brands`) or own its influencer listing (`my_listings`); `party_filter` puts
both in a query's WHERE, so a row of anyone else's deal is never loaded (the route answers 404).
`party_of` then says which side the user acts as — the engine's actor (`brand` with the brand's
id, `influencer` with the listing's id).

A leaf of the identity package: it imports models and the engine's `Actor` only, so every domain
above (catalogue, matching, negotiation, delivery, money) can import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import BrandMember, Influencer, Side
from app.services.workflow.state_machine import Actor


@dataclass(frozen=True)
class Party:
    """The caller as one side of a deal."""

    side: Side
    actor: Actor
    user_id: str


def member_brands(user_id: str) -> Select[str]:
    """The ids of the brands a user belongs to: the tenant filter for brand-owned objects."""
    return select(BrandMember.brand_id).where(BrandMember.user_id == user_id)


def my_listings(user_id: str) -> Select[str]:
    """The id of the user's influencer listing (at most one)."""
    return select(Influencer.id).where(Influencer.user_id == user_id)


def party_filter(model: Any, user_id: str) -> ColumnElement[bool]:
    """Rows (of a model with `brand_id` and `influencer_id`) the user is a party to."""
    return or_(
        model.brand_id.in_(member_brands(user_id)),
        model.influencer_id.in_(my_listings(user_id)),
    )


async def party_of(session: AsyncSession, user_id: str, brand_id: str, influencer_id: str) -> Party:
    """Which side the user is on (they are a party: the row came through `party_filter`).
    Someone on both sides — a brand member who became so after bidding — acts as the brand."""
    member = await session.scalar(
        select(BrandMember.user_id).where(
            BrandMember.brand_id == brand_id, BrandMember.user_id == user_id
        )
    )
    if member is not None:
        return Party(Side.brand, Actor("brand", brand_id), user_id)
    return Party(Side.influencer, Actor("influencer", influencer_id), user_id)
