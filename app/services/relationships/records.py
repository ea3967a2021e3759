"""Relationship records: one per brand-influencer pair (docs/relationships.md).

A record is made on first contact: negotiation calls `CONTACT_HOOKS` on an invitation or a bid
(wiring.py puts `record_contact` there), the brand adds a creator itself
(`POST /v1/brands/{id}/relationships`, or by putting them on a list), and `sync_brand` adopts
any contact the hooks did not see (contacts made before this table existed) whenever a brand
reads its records. A pair with a contract moves from `prospect` to `active` by itself, and to
`ambassador` when it agrees an ambassador programme (`programme_started`).

The status machine (`RELATIONSHIPS`; every move is an audit row, so it shows in the timeline):

| action           | from                                 | to          | who            |
|------------------|--------------------------------------|-------------|----------------|
| activate         | prospect, ambassador, paused         | active      | brand, system  |
| make_ambassador  | prospect, active, paused             | ambassador  | brand, system  |
| pause            | prospect, active, ambassador         | paused      | brand          |
| mark_do_not_work | prospect, active, ambassador, paused | do_not_work | brand          |
| reconsider       | do_not_work                          | prospect    | brand          |

`do_not_work` needs a reason; it takes the creator out of the brand's matches and refuses the
brand's invitations (matching and negotiation read the rows). The reason, the notes and the tags
are the brand's: no route shows them to anyone outside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

from app.db import add_unique
from app.errors import Conflict, InvalidRequest, NotFound
from app.models import (
    Bid,
    BrandMember,
    Brief,
    BriefInvitation,
    Contract,
    Influencer,
)
from app.models.relationship import (
    FirstContact,
    ListKind,
    Relationship,
    RelationshipList,
    RelationshipListEntry,
    RelationshipStatus,
)
from app.pagination import PageParams, SortKey, paginate
from app.services.catalogue.influencers import InfluencerProfileNotFound
from app.services.identity.brands import BrandNotFound
from app.services.workflow.state_machine import Actor, StateMachine, Transition

S = RelationshipStatus
MAX_TAGS = 30


class RelationshipNotFound(NotFound):
    slug, title = "relationship-not-found", "No such relationship"


class RelationshipListNotFound(NotFound):
    slug, title = "relationship-list-not-found", "No such list"


class RelationshipListExists(Conflict):
    slug, title = "relationship-list-exists", "The brand already has a list of this name"


class CreatorNotFound(NotFound):
    slug, title = "creator-not-found", "No such influencer listing"


RELATIONSHIPS = StateMachine(
    kind="relationship",
    model=Relationship,
    state_column="status",
    transitions=[
        Transition(
            "activate",
            {S.prospect, S.ambassador, S.paused},
            S.active,
            actors={"brand", "system"},
            description="working together (the system does it when a contract is agreed)",
        ),
        Transition(
            "make_ambassador",
            {S.prospect, S.active, S.paused},
            S.ambassador,
            actors={"brand", "system"},
            description="a long-term partner of the brand (the system does it when an "
            "ambassador programme is agreed, from prospect or active)",
        ),
        Transition(
            "pause",
            {S.prospect, S.active, S.ambassador},
            S.paused,
            actors={"brand"},
            description="on hold, with the brand's reason",
        ),
        Transition(
            "mark_do_not_work",
            {S.prospect, S.active, S.ambassador, S.paused},
            S.do_not_work,
            actors={"brand"},
            description="out of the brand's matches and invitations, with the brand's reason",
        ),
        Transition(
            "reconsider",
            {S.do_not_work},
            S.prospect,
            actors={"brand"},
            description="back to a prospect",
        ),
    ],
)


def touch(row: Relationship, now: datetime) -> None:
    """`updated_at` from the app's clock: set and marked changed even when equal, else the
    column's `onupdate` (the wall clock) would fill it in the UPDATE."""
    row.updated_at = now
    attributes.flag_modified(row, "updated_at")


# --- access ---------------------------------------------------------------------------------


async def require_member(session: AsyncSession, user_id: str, brand_id: str) -> None:
    """A brand the caller belongs to, else 404 (another tenant's brand is not there for them)."""
    found = await session.scalar(
        select(BrandMember.brand_id).where(
            BrandMember.brand_id == brand_id, BrandMember.user_id == user_id
        )
    )
    if not found:
        raise BrandNotFound(f"No brand {brand_id} among your brands")


async def require_listing(session: AsyncSession, influencer_id: str, field: str | None) -> None:
    if await session.get(Influencer, influencer_id) is None:
        if field is not None:
            raise InvalidRequest.field(field, f"no listing {influencer_id}", "unknown_influencer")
        raise CreatorNotFound(f"No influencer listing {influencer_id}")


async def my_listing_id(session: AsyncSession, user_id: str) -> str:
    found = await session.scalar(select(Influencer.id).where(Influencer.user_id == user_id))
    if found is None:
        raise InfluencerProfileNotFound("Create it with POST /v1/influencers/me")
    return found


# --- first contact ----------------------------------------------------------------------------


async def record_contact(
    session: AsyncSession,
    brand_id: str,
    influencer_id: str,
    kind: FirstContact,
    at: datetime,
) -> Relationship:
    """The pair's record, made now when this is the first contact (concurrent firsts: one wins)."""
    row = await _pair(session, brand_id, influencer_id)
    if row is not None:
        return row
    await add_unique(
        session,
        Relationship(
            brand_id=brand_id,
            influencer_id=influencer_id,
            status=S.prospect,
            notes="",
            tags=[],
            first_contact=kind,
            first_contact_at=at,
            created_at=at,
            updated_at=at,
        ),
    )
    row = await _pair(session, brand_id, influencer_id)
    assert row is not None
    return row


async def contact_hook(
    session: AsyncSession, brand_id: str, influencer_id: str, kind: str, at: datetime
) -> None:
    """The shape negotiation's `CONTACT_HOOKS` call (kind: "invitation" or "bid")."""
    await record_contact(session, brand_id, influencer_id, FirstContact(kind), at)


async def programme_started(
    session: AsyncSession, brand_id: str, influencer_id: str, programme_id: str, now: datetime
) -> None:
    """An ambassador programme was agreed: a prospect or active creator becomes the brand's
    ambassador (a paused record stays as the brand left it)."""
    row = await record_contact(session, brand_id, influencer_id, FirstContact.bid, now)
    if row.status in (S.prospect, S.active):
        await RELATIONSHIPS.fire(
            session,
            row,
            "make_ambassador",
            Actor("system", programme_id),
            now,
            reason=f"ambassador programme {programme_id} agreed",
        )
        touch(row, now)


async def _pair(session: AsyncSession, brand_id: str, influencer_id: str) -> Relationship | None:
    return await session.scalar(
        select(Relationship).where(
            Relationship.brand_id == brand_id, Relationship.influencer_id == influencer_id
        )
    )


async def sync_brand(session: AsyncSession, brand_id: str, now: datetime) -> None:
    """Adopt contacts no hook recorded; a prospect with a contract becomes active."""
    invited = select(
        BriefInvitation.influencer_id, func.min(BriefInvitation.created_at).label("at")
    ).join(Brief, Brief.id == BriefInvitation.brief_id)
    invited = invited.where(Brief.brand_id == brand_id).group_by(BriefInvitation.influencer_id)
    bids = (
        select(Bid.influencer_id, func.min(Bid.created_at).label("at"))
        .where(Bid.brand_id == brand_id)
        .group_by(Bid.influencer_id)
    )
    known = set(
        await session.scalars(
            select(Relationship.influencer_id).where(Relationship.brand_id == brand_id)
        )
    )
    first: dict[str, tuple[datetime, FirstContact]] = {}
    for stmt, kind in ((invited, FirstContact.invitation), (bids, FirstContact.bid)):
        for influencer_id, at in await session.execute(stmt):
            if influencer_id in known:
                continue
            if influencer_id not in first or at < first[influencer_id][0]:
                first[influencer_id] = (at, kind)
    for influencer_id, (at, kind) in sorted(first.items()):
        await record_contact(session, brand_id, influencer_id, kind, at)
    with_contract = select(Contract.influencer_id).where(Contract.brand_id == brand_id)
    prospects = await session.scalars(
        select(Relationship).where(
            Relationship.brand_id == brand_id,
            Relationship.status == S.prospect,
            Relationship.influencer_id.in_(with_contract),
        )
    )
    await _activate_with_contract(session, list(prospects), now)


async def _activate_with_contract(
    session: AsyncSession, rows: Sequence[Relationship], now: datetime
) -> None:
    """Prospects that have a contract with the brand are working with it: active."""
    for row in rows:
        contract_at = await session.scalar(
            select(func.min(Contract.accepted_at)).where(
                Contract.brand_id == row.brand_id, Contract.influencer_id == row.influencer_id
            )
        )
        if row.status == S.prospect and contract_at is not None:
            await RELATIONSHIPS.fire(
                session,
                row,
                "activate",
                Actor("system", "contract"),
                max(now, contract_at),
                reason="a contract was agreed",
            )
            touch(row, max(now, contract_at))


# --- reading and editing ----------------------------------------------------------------------


async def list_relationships(
    session: AsyncSession,
    user_id: str,
    brand_id: str,
    page: PageParams,
    *,
    status: RelationshipStatus | None,
    tag: str | None,
    now: datetime,
) -> tuple[list[Relationship], str | None]:
    await require_member(session, user_id, brand_id)
    await sync_brand(session, brand_id, now)
    stmt = select(Relationship).where(Relationship.brand_id == brand_id)
    if status is not None:
        stmt = stmt.where(Relationship.status == status)
    if tag is None:
        return await paginate(session, stmt, [SortKey(Relationship.id)], page)
    # Tags live in a JSON list; filtering in Python keeps one query shape on both databases, so
    # a tag filter answers every match at once (a brand's records number in the thousands).
    rows = await session.scalars(stmt.order_by(Relationship.id))
    return [r for r in rows if tag in r.tags], None


async def get_relationship(
    session: AsyncSession, user_id: str, brand_id: str, influencer_id: str, now: datetime
) -> Relationship:
    await require_member(session, user_id, brand_id)
    row = await _pair(session, brand_id, influencer_id)
    if row is None:
        await sync_brand(session, brand_id, now)
        row = await _pair(session, brand_id, influencer_id)
    elif row.status == S.prospect:
        await _activate_with_contract(session, [row], now)
    if row is None:
        raise RelationshipNotFound(
            f"Your brand has no relationship with {influencer_id} yet: invite them, or add them "
            f"with POST /v1/brands/{brand_id}/relationships"
        )
    return row


def clean_tags(tags: Sequence[str]) -> list[str]:
    """Trimmed, lower-cased, deduplicated in order."""
    out: list[str] = []
    for tag in tags:
        t = tag.strip().lower()
        if t and t not in out:
            out.append(t)
    if len(out) > MAX_TAGS:
        raise InvalidRequest.field("tags", f"at most {MAX_TAGS} tags", "max_items")
    return out


async def add_relationship(
    session: AsyncSession,
    user_id: str,
    brand_id: str,
    influencer_id: str,
    *,
    notes: str | None,
    tags: Sequence[str] | None,
    now: datetime,
) -> tuple[Relationship, bool]:
    """The brand adds a creator; (record, created). An existing record is returned as it is."""
    await require_member(session, user_id, brand_id)
    await require_listing(session, influencer_id, "influencer_id")
    existing = await _pair(session, brand_id, influencer_id)
    if existing is not None:
        return existing, False
    row = await record_contact(session, brand_id, influencer_id, FirstContact.brand, now)
    if notes is not None:
        row.notes = notes
    if tags is not None:
        row.tags = clean_tags(tags)
    touch(row, now)
    await session.flush()
    return row, True


async def update_relationship(
    session: AsyncSession,
    user_id: str,
    brand_id: str,
    influencer_id: str,
    changes: dict[str, Any],
    now: datetime,
) -> Relationship:
    row = await get_relationship(session, user_id, brand_id, influencer_id, now)
    if "notes" in changes:
        row.notes = changes["notes"] or ""
    if "tags" in changes:
        row.tags = clean_tags(changes["tags"] or [])
    touch(row, now)
    await session.flush()
    return row


_ACTION_TO = {t.to_state: t.action for t in RELATIONSHIPS.transitions}
NEEDS_REASON = frozenset({S.do_not_work, S.paused})


async def change_status(
    session: AsyncSession,
    user_id: str,
    brand_id: str,
    influencer_id: str,
    status: RelationshipStatus,
    reason: str | None,
    now: datetime,
) -> Relationship:
    """Move the record to `status` (the one transition that leads there from where it is)."""
    row = await get_relationship(session, user_id, brand_id, influencer_id, now)
    reason = (reason or "").strip() or None
    if status in NEEDS_REASON and reason is None:
        raise InvalidRequest.field("reason", f"is required to set {status.value}", "missing")
    if row.status == status:
        row.status_reason = reason  # same status: the brand restates its reason
    else:
        await RELATIONSHIPS.fire(
            session,
            row,
            _ACTION_TO[status.value],
            Actor("brand", brand_id),
            now,
            reason=reason,
            data={"user_id": user_id},
        )
        row.status_reason = reason
    touch(row, now)
    await session.flush()
    return row


# --- lists ------------------------------------------------------------------------------------


async def create_list(
    session: AsyncSession, user_id: str, brand_id: str, name: str, kind: ListKind, now: datetime
) -> RelationshipList:
    await require_member(session, user_id, brand_id)
    row = RelationshipList(brand_id=brand_id, name=name.strip(), kind=kind, created_at=now)
    if not await add_unique(session, row):
        raise RelationshipListExists(f"Your brand already has a list named {name.strip()!r}")
    return row


async def list_lists(
    session: AsyncSession, user_id: str, brand_id: str, page: PageParams
) -> tuple[list[RelationshipList], str | None]:
    await require_member(session, user_id, brand_id)
    stmt = select(RelationshipList).where(RelationshipList.brand_id == brand_id)
    return await paginate(session, stmt, [SortKey(RelationshipList.id)], page)


async def get_list(
    session: AsyncSession, user_id: str, brand_id: str, list_id: str
) -> RelationshipList:
    await require_member(session, user_id, brand_id)
    row = await session.scalar(
        select(RelationshipList).where(
            RelationshipList.id == list_id, RelationshipList.brand_id == brand_id
        )
    )
    if row is None:
        raise RelationshipListNotFound(f"No list {list_id} in brand {brand_id}")
    return row


async def list_members(
    session: AsyncSession, lists: Sequence[RelationshipList]
) -> dict[str, list[str]]:
    """Each list's influencer ids, oldest entry first (one query)."""
    out: dict[str, list[str]] = {x.id: [] for x in lists}
    rows = await session.execute(
        select(RelationshipListEntry.list_id, RelationshipListEntry.influencer_id)
        .where(RelationshipListEntry.list_id.in_(list(out)))
        .order_by(RelationshipListEntry.added_at, RelationshipListEntry.influencer_id)
    )
    for list_id, influencer_id in rows:
        out[list_id].append(influencer_id)
    return out


async def delete_list(session: AsyncSession, user_id: str, brand_id: str, list_id: str) -> None:
    row = await get_list(session, user_id, brand_id, list_id)
    await session.delete(row)
    await session.flush()


async def add_to_list(
    session: AsyncSession,
    user_id: str,
    brand_id: str,
    list_id: str,
    influencer_id: str,
    now: datetime,
) -> RelationshipList:
    """Putting a creator on a list is a contact by the brand: the pair gets its record."""
    row = await get_list(session, user_id, brand_id, list_id)
    await require_listing(session, influencer_id, None)
    await record_contact(session, brand_id, influencer_id, FirstContact.brand, now)
    await add_unique(
        session, RelationshipListEntry(list_id=row.id, influencer_id=influencer_id, added_at=now)
    )
    return row


async def remove_from_list(
    session: AsyncSession, user_id: str, brand_id: str, list_id: str, influencer_id: str
) -> RelationshipList:
    row = await get_list(session, user_id, brand_id, list_id)
    await session.execute(
        delete(RelationshipListEntry).where(
            RelationshipListEntry.list_id == row.id,
            RelationshipListEntry.influencer_id == influencer_id,
        )
    )
    return row


async def lists_of(
    session: AsyncSession, brand_id: str, influencer_ids: Sequence[str]
) -> dict[str, list[str]]:
    """Per creator, the names of the brand's lists they are on (one query for a page)."""
    out: dict[str, list[str]] = {i: [] for i in influencer_ids}
    rows = await session.execute(
        select(RelationshipListEntry.influencer_id, RelationshipList.name)
        .join(RelationshipList, RelationshipListEntry.list_id == RelationshipList.id)
        .where(
            RelationshipList.brand_id == brand_id,
            RelationshipListEntry.influencer_id.in_(list(influencer_ids)),
        )
        .order_by(RelationshipList.name)
    )
    for influencer_id, name in rows:
        out[influencer_id].append(name)
    return out
