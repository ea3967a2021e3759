"""Re-engagement: the revolving door, closed from both sides (docs/relationships.md).

A brand is shown its strong past performers it has not engaged for `days`: creators with at
least one finished contract with the brand whose score with it (performance.py, the brand's
own history, every figure) is at least `STRONG`, whose last engagement by the brand (an
invitation, a bid on its brief, a contract) is older than `days`, and whose record is not
paused or do_not_work. Each suggestion says why; the strongest come first.

A creator is shown the brands that re-engaged them: brands that came back — an invitation or a
new contract — after a contract with them had finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Bid, Brand, Brief, BriefInvitation, Contract
from app.models.relationship import Relationship, RelationshipStatus
from app.services.relationships.performance import History, histories
from app.services.relationships.ratings import FINISHED_STATES

STRONG = 0.75
MAX_DAYS = 3650
HELD_BACK = (RelationshipStatus.paused, RelationshipStatus.do_not_work)


@dataclass(frozen=True)
class Suggestion:
    influencer_id: str
    score: float
    last_engaged_at: datetime
    days_since: int
    history: History
    reason: str


async def _last_engaged(session: AsyncSession, brand_id: str) -> dict[str, datetime]:
    """Per creator, the brand's latest contact: invitation, bid on its brief, or contract."""
    out: dict[str, datetime] = {}
    for stmt in (
        select(BriefInvitation.influencer_id, func.max(BriefInvitation.created_at))
        .join(Brief, Brief.id == BriefInvitation.brief_id)
        .where(Brief.brand_id == brand_id)
        .group_by(BriefInvitation.influencer_id),
        select(Bid.influencer_id, func.max(Bid.created_at))
        .where(Bid.brand_id == brand_id)
        .group_by(Bid.influencer_id),
        select(Contract.influencer_id, func.max(Contract.accepted_at))
        .where(Contract.brand_id == brand_id)
        .group_by(Contract.influencer_id),
    ):
        for influencer_id, at in await session.execute(stmt):
            if at is not None and (influencer_id not in out or at > out[influencer_id]):
                out[influencer_id] = at
    return out


async def suggestions(
    session: AsyncSession, brand_id: str, days: int, now: datetime
) -> list[Suggestion]:
    found = await histories(session, now, brand_id=brand_id)
    last = await _last_engaged(session, brand_id)
    held = set(
        await session.scalars(
            select(Relationship.influencer_id).where(
                Relationship.brand_id == brand_id, Relationship.status.in_(HELD_BACK)
            )
        )
    )
    cutoff = now - timedelta(days=days)
    out: list[Suggestion] = []
    for influencer_id, pairs in found.items():
        own = pairs.get(brand_id)
        if own is None or influencer_id in held:
            continue
        score = own.score()
        at = last.get(influencer_id)
        if score is None or score < STRONG or at is None or at > cutoff:
            continue
        since = (now - at).days
        reason = (
            f"strong past performer with your brand (score {score:.2f}: {own.summary()}); "
            f"not engaged for {since} days (last on {at.date().isoformat()})"
        )
        out.append(Suggestion(influencer_id, score, at, since, own, reason))
    out.sort(key=lambda s: (-s.score, s.last_engaged_at, s.influencer_id))
    return out


@dataclass(frozen=True)
class ReEngagement:
    brand_id: str
    brand_name: str
    finished_contracts: int
    first_finished_at: datetime
    re_engaged_at: datetime
    times: int
    reason: str


async def re_engaged_by(session: AsyncSession, influencer_id: str) -> list[ReEngagement]:
    """Brands that came back after a finished contract, most recent first."""
    finished = await session.execute(
        select(Contract.brand_id, func.min(Contract.ended_at), func.count())
        .where(
            Contract.influencer_id == influencer_id,
            Contract.state.in_(FINISHED_STATES),
            Contract.ended_at.is_not(None),
        )
        .group_by(Contract.brand_id)
    )
    first: dict[str, tuple[datetime, int]] = {
        b: (at, int(n)) for b, at, n in finished if at is not None
    }
    if not first:
        return []
    contacts: dict[str, list[tuple[datetime, str]]] = {b: [] for b in first}
    invitations = await session.execute(
        select(Brief.brand_id, BriefInvitation.created_at)
        .join(Brief, Brief.id == BriefInvitation.brief_id)
        .where(BriefInvitation.influencer_id == influencer_id, Brief.brand_id.in_(list(first)))
    )
    for brand_id, at in invitations:
        contacts[brand_id].append((at, "invitation"))
    contracts = await session.execute(
        select(Contract.brand_id, Contract.accepted_at).where(
            Contract.influencer_id == influencer_id, Contract.brand_id.in_(list(first))
        )
    )
    for brand_id, at in contracts:
        contacts[brand_id].append((at, "contract"))
    brands = await session.execute(select(Brand.id, Brand.name).where(Brand.id.in_(list(first))))
    names = {brand_id: name for brand_id, name in brands}
    out: list[ReEngagement] = []
    for brand_id, (first_end, n) in first.items():
        later = sorted(c for c in contacts[brand_id] if c[0] > first_end)
        if not later:
            continue
        at, how = later[0]
        out.append(
            ReEngagement(
                brand_id,
                names.get(brand_id, ""),
                n,
                first_end,
                at,
                len(later),
                f"came back with a{'n' if how == 'invitation' else ''} {how} on "
                f"{at.date().isoformat()} after your first contract with them ended on "
                f"{first_end.date().isoformat()}",
            )
        )
    out.sort(key=lambda r: (r.re_engaged_at, r.brand_id), reverse=True)
    return out
