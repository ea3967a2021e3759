"""Ratings both ways after a contract ends (docs/relationships.md).

Each party rates the other once per finished contract (`completed`, or `resolved` by an
operator): 1-5 and a text per dimension — the brand rates the creator's quality, timeliness and
communication; the creator rates the brand's brief clarity, payment and communication.

Double blind, so that neither rates in retaliation: a rating is shown to the other party only
once both have rated, or 14 days after the contract ended (`REVEAL_AFTER`), whichever comes
first; until then each party sees its own rating only. Rating a contract that has not finished
is a 409 `contract-not-finished`, a second rating a 409 `already-rated`, and a contract the
caller is not a party to a 404.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import add_unique
from app.errors import Conflict, InvalidRequest
from app.models import BrandMember, Contract, Influencer, Side
from app.models.relationship import Rating
from app.services.delivery.contracts import ContractNotFound

REVEAL_AFTER = timedelta(days=14)
FINISHED_STATES: tuple[str, ...] = ("completed", "resolved")
# Who is rated → the dimensions the other party rates.
CREATOR_DIMENSIONS: tuple[str, ...] = ("quality", "timeliness", "communication")
BRAND_DIMENSIONS: tuple[str, ...] = ("brief_clarity", "payment", "communication")


def dimensions_for(rater: Side) -> tuple[str, ...]:
    """The brand rates the creator; the creator rates the brand."""
    return CREATOR_DIMENSIONS if rater is Side.brand else BRAND_DIMENSIONS


class ContractNotFinished(Conflict):
    slug, title = "contract-not-finished", "The contract has not finished yet"


class AlreadyRated(Conflict):
    slug, title = "already-rated", "You have already rated this contract"


def reveal_time(
    ended_at: datetime | None, given: Sequence[tuple[Side, datetime]]
) -> datetime | None:
    """When the contract's ratings become visible to the other party: the second rating, or
    `REVEAL_AFTER` after the contract ended, whichever is first (None: not ended). `given`:
    each rating's side and time."""
    if ended_at is None:
        return None
    deadline = ended_at + REVEAL_AFTER
    if len({side for side, _ in given}) == 2:
        return min(deadline, max(at for _, at in given))
    return deadline


def reveal_at(ended_at: datetime | None, ratings: Sequence[Rating]) -> datetime | None:
    return reveal_time(ended_at, [(r.rater_side, r.created_at) for r in ratings])


def is_revealed(ended_at: datetime | None, ratings: Sequence[Rating], now: datetime) -> bool:
    at = reveal_at(ended_at, ratings)
    return at is not None and now >= at


async def _party_contract(
    session: AsyncSession, user_id: str, contract_id: str
) -> tuple[Contract, Side]:
    """The contract and the caller's side of it; 404 when the caller is not a party."""
    brands = select(BrandMember.brand_id).where(BrandMember.user_id == user_id)
    listings = select(Influencer.id).where(Influencer.user_id == user_id)
    contract = await session.scalar(
        select(Contract).where(
            Contract.id == contract_id,
            or_(Contract.brand_id.in_(brands), Contract.influencer_id.in_(listings)),
        )
    )
    if contract is None:
        raise ContractNotFound(f"No contract {contract_id} you are a party to")
    mine = set(await session.scalars(brands))
    return contract, Side.brand if contract.brand_id in mine else Side.influencer


async def _ratings(session: AsyncSession, contract_id: str) -> list[Rating]:
    rows = await session.scalars(
        select(Rating).where(Rating.contract_id == contract_id).order_by(Rating.created_at)
    )
    return list(rows)


def check_scores(rater: Side, scores: Mapping[str, Mapping[str, object]]) -> None:
    """Exactly the rater's dimensions (the schema checks each 1-5 score and text)."""
    wanted = dimensions_for(rater)
    errors = [
        {"field": f"scores.{d}", "message": "is required", "rule": "missing"}
        for d in wanted
        if d not in scores
    ] + [
        {
            "field": f"scores.{d}",
            "message": f"is not a dimension a {rater.value} rates (one of {', '.join(wanted)})",
            "rule": "unknown_dimension",
        }
        for d in scores
        if d not in wanted
    ]
    if errors:
        raise InvalidRequest("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)


@dataclass(frozen=True)
class ContractRatings:
    contract: Contract
    side: Side
    mine: Rating | None
    theirs: Rating | None  # None until revealed (or when they have not rated)
    reveal_at: datetime | None
    revealed: bool


async def rate(
    session: AsyncSession,
    user_id: str,
    contract_id: str,
    scores: Mapping[str, Mapping[str, object]],
    now: datetime,
) -> ContractRatings:
    contract, side = await _party_contract(session, user_id, contract_id)
    if contract.state not in FINISHED_STATES:
        raise ContractNotFinished(
            f"A contract is rated once it has finished; this one is {contract.state}",
            current_state=contract.state,
        )
    check_scores(side, scores)
    row = Rating(
        contract_id=contract.id,
        brand_id=contract.brand_id,
        influencer_id=contract.influencer_id,
        rater_side=side,
        rated_by_user=user_id,
        scores={d: dict(scores[d]) for d in dimensions_for(side)},
        created_at=now,
    )
    if not await add_unique(session, row):
        raise AlreadyRated(f"Your side has already rated contract {contract.id}")
    return await _view(session, contract, side, now)


async def contract_ratings(
    session: AsyncSession, user_id: str, contract_id: str, now: datetime
) -> ContractRatings:
    contract, side = await _party_contract(session, user_id, contract_id)
    return await _view(session, contract, side, now)


async def _view(
    session: AsyncSession, contract: Contract, side: Side, now: datetime
) -> ContractRatings:
    rows = await _ratings(session, contract.id)
    mine = next((r for r in rows if r.rater_side == side), None)
    theirs = next((r for r in rows if r.rater_side != side), None)
    revealed = is_revealed(contract.ended_at, rows, now)
    return ContractRatings(
        contract,
        side,
        mine,
        theirs if revealed else None,
        reveal_at(contract.ended_at, rows),
        revealed,
    )


def mean_score(rating: Rating) -> float:
    values = [float(v["score"]) for v in rating.scores.values()]
    return sum(values) / len(values)
