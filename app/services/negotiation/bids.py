"""Invitations, bids and each bid's message thread (docs/negotiation.md).

**Who is a party.** A bid has two sides: the brief's brand (any member of it) and the bidding
influencer (the user whose listing it is). Everyone else gets 404 for the bid and everything
under it (offers, messages, the contract, the audit trail): every read goes through
`party_filter`. The side a caller acts as decides the engine's actor (`brand` with the brand's
id, `influencer` with the listing's id). Bidding on a brief of a brand you belong to is refused,
so the two sides are never the same person.

**The bid's lifecycle** — `BIDS`, the one declared table:

| action    | from                                   | to             | who        |
|-----------|----------------------------------------|----------------|------------|
| shortlist | submitted                              | shortlisted    | brand      |
| negotiate | submitted, shortlisted                 | in_negotiation | either (1) |
| accept    | in_negotiation                         | accepted       | either (2) |
| decline   | submitted, shortlisted, in_negotiation | declined       | brand      |
| withdraw  | submitted, shortlisted, in_negotiation | withdrawn      | influencer |
| expire    | submitted, shortlisted, in_negotiation | expired        | system (3) |

(1) fired by the bid's first offer; (2) fired by accepting an offer, which makes the contract;
(3) guard `expiry_due`. Declining, withdrawing and expiring cancel the open offer, if any (a
`cascade` to the offer machine, fired as whoever ended the bid).

A bid that is submitted or shortlisted expires when its brief's application deadline passes (a
timer at the end of that day, UTC, moved when the brand extends the deadline) or when the brief
leaves `open`; a bid in negotiation carries on after the deadline and a brief's closing, and
expires only when the brief is cancelled or completed. One bid per influencer and brief may be
active (submitted, shortlisted, in_negotiation or accepted): a partial unique index.

**The negotiation's version.** `bids.version` is bumped by every bid transition (the engine's
version column) and by every offer made, accepted or rejected (`claim`, a compare-and-set
`UPDATE bids SET version = version + 1 WHERE id = :id AND version = :seen`). It is the `ETag` of
the bid and of its offer list; a write sent with a stale `If-Match` is a 412, and a write that
raced another one without `If-Match` loses the compare-and-set (409 `negotiation-changed`). On
PostgreSQL the claim also takes the bid's row lock first, so a negotiation's writes serialise.

**Messages.** A thread per bid; `bids.message_count` numbers the messages (`UPDATE … SET
message_count = message_count + 1 … RETURNING`, atomic on both databases) and each side's read
marker is the number of the last message it has read. Unread = the other side's messages after
your marker. The thread closes when the bid is declined, withdrawn or expired.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

from app.clock import utcnow
from app.db import add_unique, rowcount
from app.errors import Conflict, Forbidden, InvalidRequest, NotFound, PreconditionFailed
from app.ids import has_prefix
from app.models import (
    Bid,
    BidMessage,
    BidState,
    Brand,
    BrandMember,
    Brief,
    BriefInvitation,
    BriefState,
    Influencer,
    Offer,
    OfferState,
    Side,
    Visibility,
)
from app.models.relationship import Relationship, RelationshipStatus
from app.pagination import PageParams, SortKey, paginate
from app.services.catalogue import briefs
from app.services.catalogue.briefs import BriefNotFound
from app.services.identity.tenancy import Party, member_brands, my_listings, party_filter, party_of
from app.services.negotiation.terms import resolve_bid
from app.services.workflow import events, timers
from app.services.workflow.effects import cancel_timer, cascade
from app.services.workflow.state_machine import (
    Actor,
    StateMachine,
    Transition,
    TransitionContext,
    list_transitions,
)

B = BidState
NEGOTIABLE_STATES = frozenset({B.submitted, B.shortlisted, B.in_negotiation})
CLOSED_STATES = frozenset({B.declined, B.withdrawn, B.expired})
# Bid actions a party fires through a route of its own (the others are fired by offers/time).
ROUTE_ACTIONS = ("shortlist", "decline", "withdraw")


# --- problems -----------------------------------------------------------------------------------


class BidNotFound(NotFound):
    slug, title = "bid-not-found", "No such bid"


class BriefNotOpen(Conflict):
    slug, title = "brief-not-open", "The brief does not take bids or invitations now"


class BidExists(Conflict):
    slug, title = "bid-exists", "You already have an active bid on this brief"


class InfluencerProfileRequired(Forbidden):
    slug, title = "influencer-profile-required", "Only an influencer can bid"


class InfluencerDoNotWork(Conflict):
    slug, title = "influencer-do-not-work", "Your brand marked this influencer do_not_work"


class InfluencerBlocked(Conflict):
    slug, title = "influencer-blocked", "Your brand's profile blocks this influencer"


class BidsRefusedByBrand(Forbidden):
    """The brand marked the bidder do_not_work (issue 15) or lists them in its profile's
    `blocked_influencers`. The answer names neither which nor the brand's reason: both are the
    brand's private record."""

    slug, title = "bids-refused-by-brand", "This brand does not take bids from you"


class OwnBrief(Forbidden):
    slug, title = "own-brief", "You cannot bid on a brief of a brand you belong to"


class NegotiationChanged(Conflict):
    slug, title = "negotiation-changed", "The negotiation changed while you acted"


class ThreadClosed(Conflict):
    slug, title = "thread-closed", "The bid is over; its thread takes no new messages"


# --- parties ------------------------------------------------------------------------------------


async def load_bid(session: AsyncSession, user_id: str, bid_id: str) -> tuple[Bid, Party]:
    bid = await session.scalar(select(Bid).where(Bid.id == bid_id, party_filter(Bid, user_id)))
    if bid is None:
        raise BidNotFound(f"No bid {bid_id} that you are a party to")
    return bid, await party_of(session, user_id, bid.brand_id, bid.influencer_id)


async def claim(session: AsyncSession, bid: Bid, expected_version: int | None) -> None:
    """Take the negotiation for this request: compare-and-set its version (and, on PostgreSQL,
    its row lock). A stale `If-Match` is a 412; a race lost without one is a 409."""
    if expected_version is not None and expected_version != bid.version:
        raise PreconditionFailed(
            f"The negotiation is at version {bid.version}, not {expected_version}; read it again",
            current_version=bid.version,
        )
    seen = bid.version
    result = await session.execute(
        update(Bid)
        .where(Bid.id == bid.id, Bid.version == seen)
        .values(version=Bid.version + 1)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise NegotiationChanged(
            f"The negotiation of bid {bid.id} changed while you acted (it was at version "
            f"{seen}); read it again and retry",
            expected_version=seen,
        )
    attributes.set_committed_value(bid, "version", seen + 1)


# --- the lifecycle ------------------------------------------------------------------------------


def applications_close_at(brief: Brief) -> datetime:
    """The application deadline is a day: it passes at the end of that day (UTC)."""
    return datetime.combine(brief.application_deadline + timedelta(days=1), time(0), tzinfo=UTC)


async def expiry_due(ctx: TransitionContext[Bid]) -> bool | str:
    brief = await ctx.session.get(Brief, ctx.obj.brief_id)
    if brief is None:
        return True
    if ctx.from_state == B.in_negotiation:
        if brief.state in (BriefState.cancelled, BriefState.completed):
            return True
        return "a bid in negotiation lapses only when its brief is cancelled or completed"
    if brief.state != BriefState.open or ctx.now >= applications_close_at(brief):
        return True
    return f"the brief's application deadline ({brief.application_deadline}) has not passed"


async def _open_offers(ctx: TransitionContext[Bid]) -> list[str]:
    return list(
        await ctx.session.scalars(
            select(Offer.id)
            .where(Offer.bid_id == ctx.obj.id, Offer.state.in_([OfferState.draft, OfferState.open]))
            .order_by(Offer.id)
        )
    )


# The bid is over: its open offer (if any) is cancelled, by whoever ended the bid.
_end_negotiation = cascade(
    "offer",
    "cancel",
    ids_from=_open_offers,
    actor=lambda ctx: ctx.actor,
    reason=lambda ctx: f"the bid was {ctx.to_state}",
)


BID_TRANSITIONS: list[Transition] = [
    Transition(
        "shortlist",
        {B.submitted},
        B.shortlisted,
        actors={"brand"},
        description="The brand marks the bid as one it is considering",
    ),
    Transition(
        "negotiate",
        {B.submitted, B.shortlisted},
        B.in_negotiation,
        actors={"brand", "influencer"},
        effects=[cancel_timer("expire")],
        description="The bid's first offer opens the negotiation; the deadline no longer applies",
    ),
    Transition(
        "accept",
        {B.in_negotiation},
        B.accepted,
        actors={"brand", "influencer"},
        description="An offer was accepted: the contract exists",
    ),
    Transition(
        "decline",
        {B.submitted, B.shortlisted, B.in_negotiation},
        B.declined,
        actors={"brand"},
        effects=[cancel_timer(), _end_negotiation],
        description="The brand turns the bid down; an open offer is cancelled",
    ),
    Transition(
        "withdraw",
        {B.submitted, B.shortlisted, B.in_negotiation},
        B.withdrawn,
        actors={"influencer"},
        effects=[cancel_timer(), _end_negotiation],
        description="The influencer withdraws the bid; an open offer is cancelled",
    ),
    Transition(
        "expire",
        {B.submitted, B.shortlisted, B.in_negotiation},
        B.expired,
        actors={"system"},
        guard=expiry_due,
        effects=[cancel_timer(), _end_negotiation],
        description="The application deadline passed or the brief left `open`",
    ),
]
BIDS = StateMachine("bid", Bid, BID_TRANSITIONS, version_column="version")


async def transition(
    session: AsyncSession,
    user_id: str,
    bid_id: str,
    action: str,
    now: datetime,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
) -> tuple[Bid, Party]:
    """A party's move on the bid (shortlist, decline, withdraw)."""
    if action not in ROUTE_ACTIONS:
        raise ValueError(action)
    bid, party = await load_bid(session, user_id, bid_id)
    await BIDS.fire(
        session,
        bid,
        action,
        party.actor,
        now,
        reason=reason,
        data={"user_id": user_id},
        expected_version=expected_version,
    )
    return bid, party


async def sync_with_brief(session: AsyncSession, brief: Brief, now: datetime) -> None:
    """Run after every change of a brief (one of services/catalogue/briefs.py's `CHANGE_HOOKS`,
    installed by app/services/wiring.py): bids expire when their brief leaves `open`, and their
    deadline timers follow the application deadline."""
    if brief.state == BriefState.draft:
        return
    if brief.state == BriefState.open:
        due = applications_close_at(brief)
        waiting = await session.scalars(
            select(Bid.id).where(
                Bid.brief_id == brief.id, Bid.state.in_([B.submitted, B.shortlisted])
            )
        )
        for bid_id in list(waiting):
            await timers.schedule(session, BIDS.kind, bid_id, "expire", due, now=now)
        return
    states = [B.submitted, B.shortlisted]
    if brief.state in (BriefState.cancelled, BriefState.completed):
        states.append(B.in_negotiation)
    ending = await session.scalars(
        select(Bid).where(Bid.brief_id == brief.id, Bid.state.in_(states)).order_by(Bid.id)
    )
    for bid in list(ending):
        await BIDS.fire(
            session,
            bid,
            "expire",
            Actor("system", brief.id),
            now,
            reason=f"the brief was {BriefState(brief.state).value}",
        )


# --- invitations --------------------------------------------------------------------------------

# First contact of a brand and an influencer (an invitation, a bid): the relationships domain
# opens their record (issue 15). app/services/wiring.py fills it; called in the same transaction.
ContactHook = Callable[[AsyncSession, str, str, str, datetime], Awaitable[None]]
CONTACT_HOOKS: list[ContactHook] = []


async def _refuse_do_not_work(
    session: AsyncSession, brand_id: str, influencer_ids: Sequence[str]
) -> None:
    """The brand's do_not_work records (issue 15) and its profile's `blocked_influencers` refuse
    its invitations, naming the reason to the brand's own members."""
    rows = await session.execute(
        select(Relationship.influencer_id, Relationship.status_reason).where(
            Relationship.brand_id == brand_id,
            Relationship.influencer_id.in_(list(influencer_ids)),
            Relationship.status == RelationshipStatus.do_not_work,
        )
    )
    refused = {i: reason or "no reason given" for i, reason in rows}
    if refused:
        named = "; ".join(f"{i}: {why}" for i, why in sorted(refused.items()))
        raise InfluencerDoNotWork(
            f"Your brand marked these influencers do_not_work ({named}); change the "
            "relationship's status first",
            influencer_ids=sorted(refused),
        )
    blocked_ids = set(
        await session.scalar(select(Brand.blocked_influencers).where(Brand.id == brand_id)) or []
    )
    blocked = sorted(blocked_ids & set(influencer_ids))
    if blocked:
        raise InfluencerBlocked(
            f"Your brand's profile blocks {', '.join(blocked)}; take them out of its "
            "blocked_influencers first",
            influencer_ids=blocked,
        )


async def _refuses_bids_from(session: AsyncSession, brand_id: str, influencer_id: str) -> bool:
    """Whether the brand takes no bids from the influencer: its relationship record marks them
    do_not_work (issue 15) or its profile lists them in `blocked_influencers`."""
    blocked = await session.scalar(select(Brand.blocked_influencers).where(Brand.id == brand_id))
    if influencer_id in (blocked or []):
        return True
    found = await session.scalar(
        select(Relationship.id).where(
            Relationship.brand_id == brand_id,
            Relationship.influencer_id == influencer_id,
            Relationship.status == RelationshipStatus.do_not_work,
        )
    )
    return found is not None


async def _brand_brief(session: AsyncSession, user_id: str, brief_id: str) -> Brief:
    brief = await session.scalar(
        select(Brief).where(Brief.id == brief_id, Brief.brand_id.in_(member_brands(user_id)))
    )
    if brief is None:
        raise BriefNotFound(f"No brief {brief_id} among your brands' briefs")
    return brief


async def invite(
    session: AsyncSession,
    user_id: str,
    brief_id: str,
    influencer_ids: Sequence[str],
    now: datetime | None = None,
) -> list[BriefInvitation]:
    """Invite listings to a draft or open brief; inviting one again changes nothing."""
    brief = await _brand_brief(session, user_id, brief_id)
    if brief.state not in (BriefState.draft, BriefState.open):
        raise BriefNotOpen(
            f"A brief that is {BriefState(brief.state).value} takes no invitations",
            current_state=BriefState(brief.state).value,
        )
    found = set(
        await session.scalars(select(Influencer.id).where(Influencer.id.in_(influencer_ids)))
    )
    errors = [
        {"field": f"influencer_ids.{i}", "message": f"no listing {x}", "rule": "unknown_influencer"}
        for i, x in enumerate(influencer_ids)
        if x not in found
    ]
    if errors:
        raise InvalidRequest("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)
    await _refuse_do_not_work(session, brief.brand_id, influencer_ids)
    existing = set(
        await session.scalars(
            select(BriefInvitation.influencer_id).where(
                BriefInvitation.brief_id == brief.id,
                BriefInvitation.influencer_id.in_(influencer_ids),
            )
        )
    )
    for influencer_id in influencer_ids:
        if influencer_id not in existing:
            # A concurrent invitation of the same listing is a harmless duplicate.
            await add_unique(
                session,
                BriefInvitation(
                    brief_id=brief.id,
                    influencer_id=influencer_id,
                    invited_by=user_id,
                    created_at=now or utcnow(),
                ),
            )
    rows = list(
        await session.scalars(
            select(BriefInvitation)
            .where(
                BriefInvitation.brief_id == brief.id,
                BriefInvitation.influencer_id.in_(influencer_ids),
            )
            .order_by(BriefInvitation.id)
        )
    )
    for row in rows:
        if row.influencer_id not in existing:
            for hook in CONTACT_HOOKS:
                await hook(session, brief.brand_id, row.influencer_id, "invitation", row.created_at)
    return rows


async def list_invitations(
    session: AsyncSession, user_id: str, brief_id: str, page: PageParams
) -> tuple[list[BriefInvitation], str | None]:
    brief = await _brand_brief(session, user_id, brief_id)
    stmt = select(BriefInvitation).where(BriefInvitation.brief_id == brief.id)
    return await paginate(session, stmt, [SortKey(BriefInvitation.id)], page)


async def is_invited(session: AsyncSession, brief_id: str, influencer_id: str) -> bool:
    return (
        await session.scalar(
            select(BriefInvitation.id).where(
                BriefInvitation.brief_id == brief_id,
                BriefInvitation.influencer_id == influencer_id,
            )
        )
        is not None
    )


# --- bids ---------------------------------------------------------------------------------------


async def submit(
    session: AsyncSession, user_id: str, brief_id: str, doc: dict[str, Any], now: datetime
) -> Bid:
    """An influencer's bid on an open brief they can see (invite-only: invitees only)."""
    brief = await briefs.get_brief(session, user_id, brief_id)
    influencer_id = await session.scalar(my_listings(user_id))
    if influencer_id is None:
        raise InfluencerProfileRequired("Create your influencer profile before bidding")
    mine = await session.scalar(
        select(BrandMember.user_id).where(
            BrandMember.brand_id == brief.brand_id, BrandMember.user_id == user_id
        )
    )
    if mine is not None:
        raise OwnBrief("You are a member of this brief's brand")
    if brief.visibility == Visibility.invite_only and not await is_invited(
        session, brief.id, influencer_id
    ):
        raise BriefNotFound(f"No brief {brief_id}")
    if await _refuses_bids_from(session, brief.brand_id, influencer_id):
        raise BidsRefusedByBrand(
            f"The brand of brief {brief.id} does not take bids from you", brief_id=brief.id
        )
    state = BriefState(brief.state)
    if state != BriefState.open:
        raise BriefNotOpen(
            f"A brief that is {state.value} takes no bids", current_state=state.value
        )
    if now >= applications_close_at(brief):
        raise BriefNotOpen(
            f"The brief's application deadline ({brief.application_deadline}) has passed",
            current_state=state.value,
        )
    values = resolve_bid(doc, brief, now)
    bid = Bid(
        brief_id=brief.id,
        brand_id=brief.brand_id,
        influencer_id=influencer_id,
        submitted_by=user_id,
        state=B.submitted,
        version=1,
        created_at=now,
        **values,
    )
    if not await add_unique(session, bid):
        existing = await session.scalar(
            select(Bid.id).where(
                Bid.brief_id == brief.id,
                Bid.influencer_id == influencer_id,
                Bid.state.in_([B.submitted, B.shortlisted, B.in_negotiation, B.accepted]),
            )
        )
        raise BidExists(
            f"You already have an active bid on this brief ({existing}); withdraw it first",
            bid_id=existing,
        )
    await timers.schedule(
        session, BIDS.kind, bid.id, "expire", applications_close_at(brief), now=now
    )
    for hook in CONTACT_HOOKS:
        await hook(session, brief.brand_id, influencer_id, "bid", now)
    await events.emit(session, "bid", bid, "bid.submitted", now)  # issue 14: the public event
    return bid


async def get_bid(session: AsyncSession, user_id: str, bid_id: str) -> tuple[Bid, Party]:
    return await load_bid(session, user_id, bid_id)


BID_ORDER = [SortKey(Bid.id, descending=True)]


async def list_my_bids(
    session: AsyncSession,
    user_id: str,
    page: PageParams,
    *,
    side: Side | None = None,
    states: Sequence[BidState] = (),
    brief_id: str | None = None,
) -> tuple[list[Bid], str | None]:
    """Bids the user made (side influencer), bids their brands received (side brand), or both;
    newest first."""
    if side == Side.influencer:
        where: ColumnElement[bool] = Bid.influencer_id.in_(my_listings(user_id))
    elif side == Side.brand:
        where = Bid.brand_id.in_(member_brands(user_id))
    else:
        where = party_filter(Bid, user_id)
    stmt = select(Bid).where(where)
    if states:
        stmt = stmt.where(Bid.state.in_(states))
    if brief_id:
        stmt = stmt.where(Bid.brief_id == brief_id)
    return await paginate(session, stmt, BID_ORDER, page)


async def list_brief_bids(
    session: AsyncSession,
    user_id: str,
    brief_id: str,
    page: PageParams,
    states: Sequence[BidState] = (),
) -> tuple[list[Bid], str | None]:
    """The bids a brief received (its brand's members only; anyone else 404)."""
    brief = await _brand_brief(session, user_id, brief_id)
    stmt = select(Bid).where(Bid.brief_id == brief.id)
    if states:
        stmt = stmt.where(Bid.state.in_(states))
    return await paginate(session, stmt, BID_ORDER, page)


async def sides(session: AsyncSession, user_id: str, rows: Sequence[Any]) -> dict[str, Side]:
    """The user's side of each bid or contract (rows with `brand_id`; one query)."""
    brands = set(await session.scalars(member_brands(user_id)))
    return {r.id: Side.brand if r.brand_id in brands else Side.influencer for r in rows}


async def bid_transitions(
    session: AsyncSession, user_id: str, bid_id: str, page: PageParams
) -> tuple[list[Any], str | None]:
    bid, _ = await load_bid(session, user_id, bid_id)
    return await list_transitions(session, BIDS.kind, bid.id, page)


# --- messages -----------------------------------------------------------------------------------


def _read_column(side: Side) -> Any:
    return Bid.brand_read_seq if side == Side.brand else Bid.influencer_read_seq


def read_seq(bid: Bid, side: Side) -> int:
    return bid.brand_read_seq if side == Side.brand else bid.influencer_read_seq


async def post_message(
    session: AsyncSession,
    user_id: str,
    bid_id: str,
    text: str,
    attachments: list[dict[str, Any]],
    now: datetime,
) -> BidMessage:
    bid, party = await load_bid(session, user_id, bid_id)
    if bid.state in CLOSED_STATES:
        raise ThreadClosed(
            f"The bid was {BidState(bid.state).value}; its thread is closed",
            current_state=BidState(bid.state).value,
        )
    seq = await session.scalar(
        update(Bid)
        .where(Bid.id == bid.id)
        .values(message_count=Bid.message_count + 1)
        .returning(Bid.message_count)
        .execution_options(synchronize_session=False)
    )
    assert seq is not None
    attributes.set_committed_value(bid, "message_count", seq)
    message = BidMessage(
        bid_id=bid.id,
        seq=seq,
        author_side=party.side,
        author_user_id=user_id,
        body=text,
        attachments=attachments,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    return message


async def list_messages(
    session: AsyncSession, user_id: str, bid_id: str, page: PageParams
) -> tuple[list[BidMessage], str | None]:
    """The thread, oldest first."""
    bid, _ = await load_bid(session, user_id, bid_id)
    stmt = select(BidMessage).where(BidMessage.bid_id == bid.id)
    return await paginate(session, stmt, [SortKey(BidMessage.seq)], page)


@dataclass(frozen=True)
class ReadMarker:
    bid_id: str
    side: Side
    read_up_to: str | None
    read_seq: int
    unread_count: int


async def mark_read(session: AsyncSession, user_id: str, bid_id: str, up_to: str) -> ReadMarker:
    """Your side has read the thread up to (and including) `up_to`; markers never go back."""
    bid, party = await load_bid(session, user_id, bid_id)
    message = None
    if has_prefix(up_to, "message"):
        message = await session.scalar(
            select(BidMessage).where(BidMessage.id == up_to, BidMessage.bid_id == bid.id)
        )
    if message is None:
        raise InvalidRequest.field("up_to", f"no message {up_to} in this thread", "unknown_message")
    column = _read_column(party.side)
    await session.execute(
        update(Bid)
        .where(Bid.id == bid.id, column < message.seq)
        .values({column.key: message.seq})
        .execution_options(synchronize_session=False)
    )
    await session.refresh(bid)
    return await read_marker(session, bid, party.side)


async def read_marker(session: AsyncSession, bid: Bid, side: Side) -> ReadMarker:
    seq = read_seq(bid, side)
    last_read = None
    if seq:
        last_read = await session.scalar(
            select(BidMessage.id).where(BidMessage.bid_id == bid.id, BidMessage.seq == seq)
        )
    unread = (await unread_counts(session, [bid], {bid.id: side})).get(bid.id, 0)
    return ReadMarker(bid.id, side, last_read, seq, unread)


async def unread_counts(
    session: AsyncSession, bids: Sequence[Bid], side_of: dict[str, Side]
) -> dict[str, int]:
    """Messages from the other side after each bid's read marker of `side_of[bid]`."""
    as_brand = [b.id for b in bids if side_of[b.id] == Side.brand]
    as_influencer = [b.id for b in bids if side_of[b.id] == Side.influencer]
    if not bids:
        return {}
    clauses = []
    if as_brand:
        clauses.append(
            and_(
                BidMessage.bid_id.in_(as_brand),
                BidMessage.author_side == Side.influencer,
                BidMessage.seq > Bid.brand_read_seq,
            )
        )
    if as_influencer:
        clauses.append(
            and_(
                BidMessage.bid_id.in_(as_influencer),
                BidMessage.author_side == Side.brand,
                BidMessage.seq > Bid.influencer_read_seq,
            )
        )
    rows = await session.execute(
        select(BidMessage.bid_id, func.count())
        .join(Bid, Bid.id == BidMessage.bid_id)
        .where(or_(*clauses))
        .group_by(BidMessage.bid_id)
    )
    return {bid_id: count for bid_id, count in rows.all()}
