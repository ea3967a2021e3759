"""Offers: immutable, versioned terms exchanged on a bid until one side accepts.

**Turns.** The first offer on a bid may come from either side. While the latest offer is open,
only the *other* side may answer it — accept, reject, or counter (make the next offer, which
marks the previous one `countered`); its author waits (409 `not-your-turn`). Once the latest
offer is rejected, expired or cancelled, either side may make the next one. Accepting or
rejecting anything but the latest offer is a 409 `offer-not-latest`; an offer past its
`expires_at` is a 409 `offer-expired` saying when, even before the timer has marked it.

**The offer's lifecycle** — `OFFERS`:

| action  | from        | to        | who                       | guard                       |
|---------|-------------|-----------|---------------------------|-----------------------------|
| send    | draft       | open      | brand, influencer         | (schedules `expire`)        |
| counter | open        | countered | brand, influencer         | not the author              |
| accept  | open        | accepted  | brand, influencer         | not the author, not lapsed  |
| reject  | open        | rejected  | brand, influencer         | not the author, not lapsed  |
| expire  | open        | expired   | system (timer)            | `expires_at` has passed     |
| cancel  | draft, open | cancelled | brand, influencer, system | (the bid ended)             |

`accept` also accepts the bid and runs `ACCEPTANCE_HOOKS` in the same transaction — the wiring
(app/services/wiring.py) installs delivery's `create_contract` there, so the contract is made
without negotiation importing delivery; every move out of `open` cancels the expiry timer.
Making an offer checks another brand's exclusivity (services/negotiation/exclusivity.py).

An offer is created as a `draft` and sent in the same transaction, so its creation is in the
audit trail and its expiry timer is an effect like any other.

**Concurrency.** Every write first claims the negotiation (services/negotiation/bids.py `claim`: a
compare-and-set on `bids.version`, honouring `If-Match`), and offer numbers are unique per bid:
of two concurrent counter-offers one wins and the other gets 412 (stale `If-Match`) or 409; of
fifty concurrent acceptances one makes the contract and the others get 409.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import rfc3339
from app.errors import Conflict, InvalidRequest, NotFound
from app.models import Bid, BidState, Brief, Contract, Offer, OfferState, Side
from app.pagination import PageParams, SortKey, paginate
from app.services.identity.tenancy import Party, party_filter, party_of
from app.services.negotiation.bids import (
    BIDS,
    NEGOTIABLE_STATES,
    ROUTE_ACTIONS,
    NegotiationChanged,
    claim,
    load_bid,
    sides,
    unread_counts,
)
from app.services.negotiation.exclusivity import check_terms_exclusivity
from app.services.negotiation.terms import diff, resolve_offer
from app.services.workflow.effects import cancel_timer, schedule_timer, set_columns
from app.services.workflow.state_machine import Actor, StateMachine, Transition, TransitionContext

OS = OfferState


class OfferNotFound(NotFound):
    slug, title = "offer-not-found", "No such offer"


class OfferNotLatest(Conflict):
    slug, title = "offer-not-latest", "Only the latest offer can be accepted or rejected"


class OfferExpired(Conflict):
    slug, title = "offer-expired", "The offer has expired"


class NotYourTurn(Conflict):
    slug, title = "not-your-turn", "It is the other side's turn"


class BidNotNegotiable(Conflict):
    slug, title = "bid-not-negotiable", "The bid is over; no more offers"


# --- the lifecycle ------------------------------------------------------------------------------


def _other(side: str) -> str:
    return "influencer" if side == "brand" else "brand"


def _lapsed_problem(offer: Offer) -> OfferExpired:
    return OfferExpired(
        f"Offer version {offer.version} expired at {rfc3339(offer.expires_at)}; "
        "make a new offer instead",
        expired_at=rfc3339(offer.expires_at),
    )


def others_turn(ctx: TransitionContext[Offer]) -> bool:
    offer: Offer = ctx.obj
    if ctx.actor.kind == offer.author_side:
        raise NotYourTurn(
            f"You made offer version {offer.version}; only the {_other(offer.author_side)} can "
            f"{ctx.action} it — wait for their answer or for it to expire",
            author=str(offer.author_side),
        )
    return True


def answerable(ctx: TransitionContext[Offer]) -> bool:
    others_turn(ctx)
    if ctx.obj.expires_at <= ctx.now:
        raise _lapsed_problem(ctx.obj)
    return True


def lapsed(ctx: TransitionContext[Offer]) -> bool:
    """the offer has not reached its expiry time"""
    return bool(ctx.obj.expires_at <= ctx.now)


def _expiry(ctx: TransitionContext[Offer]) -> datetime:
    expires_at: datetime = ctx.obj.expires_at
    return expires_at


def _now(ctx: TransitionContext[Offer]) -> datetime:
    return ctx.now


@dataclass(frozen=True)
class Answer:
    """`fire(params=…)` of an offer's `accept` / `reject`: the bid and brief it answers on."""

    bid: Bid | None = None
    brief: Brief | None = None


AcceptanceHook = Callable[[AsyncSession, Bid, Offer, Brief, datetime], Awaitable[object]]
ACCEPTANCE_HOOKS: list[AcceptanceHook] = []
"""What else happens, in the same transaction, when an offer is accepted: filled by
app/services/wiring.py (delivery makes the contract: `contracts.create_contract`). Negotiation
declares the hook so that it never imports the layers above it."""


async def _conclude(ctx: TransitionContext[Offer]) -> None:
    """Acceptance: the bid is accepted and the contract made, in this transaction."""
    answer = ctx.params_as(Answer)
    bid, brief = answer.bid, answer.brief
    if bid is None or brief is None:
        raise TypeError("accepting an offer needs params=Answer(bid, brief)")
    if not ACCEPTANCE_HOOKS:
        # Without them an accepted offer would make no contract: refuse rather than lose it.
        raise RuntimeError("offers.ACCEPTANCE_HOOKS is empty: call app.services.wiring.wire()")
    await BIDS.fire(ctx.session, bid, "accept", ctx.actor, ctx.now, data={"offer_id": ctx.obj.id})
    for hook in ACCEPTANCE_HOOKS:
        await hook(ctx.session, bid, ctx.obj, brief, ctx.now)


OFFER_TRANSITIONS: list[Transition] = [
    Transition(
        "send",
        {OS.draft},
        OS.open,
        actors={"brand", "influencer"},
        effects=[schedule_timer("expire", after=_expiry)],
        description="The author sends the offer; it expires at `expires_at`",
    ),
    Transition(
        "counter",
        {OS.open},
        OS.countered,
        actors={"brand", "influencer"},
        guard=others_turn,
        effects=[cancel_timer("expire"), set_columns(responded_at=_now)],
        description="The other side made the next offer",
    ),
    Transition(
        "accept",
        {OS.open},
        OS.accepted,
        actors={"brand", "influencer"},
        guard=answerable,
        effects=[cancel_timer("expire"), set_columns(responded_at=_now), _conclude],
        description="The other side accepts the latest offer in time: the contract is created",
    ),
    Transition(
        "reject",
        {OS.open},
        OS.rejected,
        actors={"brand", "influencer"},
        guard=answerable,
        effects=[cancel_timer("expire"), set_columns(responded_at=_now)],
        description="The other side rejects the latest offer; the bid stays in negotiation",
    ),
    Transition(
        "expire",
        {OS.open},
        OS.expired,
        actors={"system"},
        guard=lapsed,
        description="Nobody answered before `expires_at`",
    ),
    Transition(
        "cancel",
        {OS.draft, OS.open},
        OS.cancelled,
        actors={"brand", "influencer", "system"},
        effects=[cancel_timer("expire")],
        description="The bid ended while the offer was open",
    ),
]
OFFERS = StateMachine("offer", Offer, OFFER_TRANSITIONS)


# --- reading ------------------------------------------------------------------------------------


async def latest_offer(session: AsyncSession, bid_id: str) -> Offer | None:
    return await session.scalar(
        select(Offer)
        .where(Offer.bid_id == bid_id)
        .order_by(Offer.version.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


async def latest_versions(session: AsyncSession, bid_ids: list[str]) -> dict[str, int]:
    if not bid_ids:
        return {}
    rows = await session.execute(
        select(Offer.bid_id, func.max(Offer.version))
        .where(Offer.bid_id.in_(bid_ids))
        .group_by(Offer.bid_id)
    )
    return {bid_id: version for bid_id, version in rows.all()}


async def load_offer(
    session: AsyncSession, user_id: str, offer_id: str
) -> tuple[Offer, Bid, Party]:
    row = (
        await session.execute(
            select(Offer, Bid)
            .join(Bid, Bid.id == Offer.bid_id)
            .where(Offer.id == offer_id, party_filter(Bid, user_id))
        )
    ).first()
    if row is None:
        raise OfferNotFound(f"No offer {offer_id} that you are a party to")
    offer, bid = row
    return offer, bid, await party_of(session, user_id, bid.brand_id, bid.influencer_id)


async def list_offers(
    session: AsyncSession, user_id: str, bid_id: str, page: PageParams
) -> tuple[Bid, list[Offer], str | None]:
    """A bid's offers, first version first."""
    bid, _ = await load_bid(session, user_id, bid_id)
    rows, cursor = await paginate(
        session, select(Offer).where(Offer.bid_id == bid.id), [SortKey(Offer.version)], page
    )
    return bid, rows, cursor


async def offer_diff(
    session: AsyncSession,
    user_id: str,
    offer_id: str,
    against_id: str,
    document: Callable[[Offer], dict[str, Any]],
) -> list[dict[str, Any]]:
    """What changed from `against` to this offer (both of one bid), comparing each offer's
    `document` (the router's: the terms as the API shows them)."""
    offer, _, _ = await load_offer(session, user_id, offer_id)
    try:
        against, _, _ = await load_offer(session, user_id, against_id)
    except OfferNotFound:
        raise InvalidRequest.field(
            "against", f"no offer {against_id} that you are a party to", "unknown_offer"
        ) from None
    if against.bid_id != offer.bid_id:
        raise InvalidRequest.field(
            "against", "must be an offer of the same bid", "other_bid"
        ) from None
    return diff(document(against), document(offer))


# --- writing ------------------------------------------------------------------------------------


async def _lapse_if_due(session: AsyncSession, offer: Offer, now: datetime) -> None:
    """An open offer past its expiry that the timer has not reached yet expires now."""
    if offer.state == OS.open and offer.expires_at <= now:
        await OFFERS.fire(
            session, offer, "expire", Actor("system"), now, reason="lapsed before its timer fired"
        )


async def make_offer(
    session: AsyncSession,
    user_id: str,
    bid_id: str,
    doc: dict[str, Any],
    now: datetime,
    *,
    offer_expiry: timedelta,
    funding_window_hours: int,
    expected_version: int | None = None,
) -> tuple[Offer, Bid]:
    """The next offer on a bid, by the side whose turn it is (422 for bad terms, 409 out of
    turn / on an ended bid / against another brand's exclusivity, 412 on a stale If-Match)."""
    bid, party = await load_bid(session, user_id, bid_id)
    if bid.state not in NEGOTIABLE_STATES:
        state = BidState(bid.state).value
        raise BidNotNegotiable(f"The bid is {state}; it takes no more offers", current_state=state)
    await claim(session, bid, expected_version)
    brief = await session.get(Brief, bid.brief_id)
    assert brief is not None
    terms, expires_at = resolve_offer(
        doc, brief, now, offer_expiry=offer_expiry, funding_window_hours=funding_window_hours
    )
    latest = await latest_offer(session, bid.id)
    if latest is not None:
        await _lapse_if_due(session, latest, now)
        if latest.state == OS.open:
            # The guard refuses the author of the open offer: it is the other side's turn.
            await OFFERS.fire(
                session, latest, "counter", party.actor, now, data={"user_id": user_id}
            )
    await check_terms_exclusivity(session, bid, brief, terms, now)
    if bid.state != BidState.in_negotiation:
        await BIDS.fire(session, bid, "negotiate", party.actor, now, data={"user_id": user_id})
    offer = Offer(
        bid_id=bid.id,
        version=(latest.version + 1) if latest is not None else 1,
        author_side=party.side,
        author_user_id=user_id,
        state=OS.draft,
        price=terms["price"],
        currency=terms["currency"],
        terms=terms,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(offer)
    try:
        await session.flush()
    except IntegrityError as exc:  # another offer took this number: the claim should prevent it
        raise NegotiationChanged("Another offer was made at the same time; read it") from exc
    await OFFERS.fire(session, offer, "send", party.actor, now, data={"user_id": user_id})
    return offer, bid


async def respond(
    session: AsyncSession,
    user_id: str,
    offer_id: str,
    action: str,
    now: datetime,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
) -> tuple[Offer, Bid]:
    """Accept or reject the other side's latest open offer."""
    if action not in ("accept", "reject"):
        raise ValueError(action)
    offer, bid, party = await load_offer(session, user_id, offer_id)
    await claim(session, bid, expected_version)
    latest = await latest_offer(session, bid.id)
    assert latest is not None
    if latest.id != offer.id:
        raise OfferNotLatest(
            f"Offer version {offer.version} is not the latest: version {latest.version} "
            f"({latest.id}) is; only the latest offer can be {action}ed",
            latest_offer_id=latest.id,
            latest_version=latest.version,
        )
    if offer.state == OS.expired:
        raise _lapsed_problem(offer)
    brief = await session.get(Brief, bid.brief_id)
    await OFFERS.fire(
        session,
        offer,
        action,
        party.actor,
        now,
        reason=reason,
        data={"user_id": user_id},
        params=Answer(bid, brief),
    )
    return offer, bid


# --- views --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BidView:
    """A bid as one of its parties sees it."""

    bid: Bid
    side: Side
    allowed_actions: list[str]
    latest_offer_id: str | None
    contract_id: str | None
    unread_count: int


def _may_offer(bid: Bid, side: Side, latest: Offer | None, now: datetime) -> bool:
    if bid.state not in NEGOTIABLE_STATES:
        return False
    if latest is None or latest.state != OS.open or latest.expires_at <= now:
        return True
    return latest.author_side != side


async def bid_views(
    session: AsyncSession, user_id: str, bid_rows: list[Bid], now: datetime
) -> list[BidView]:
    """Side, allowed actions, latest offer, contract and unread count of each bid (a few
    queries for the whole page)."""
    if not bid_rows:
        return []
    ids = [b.id for b in bid_rows]
    side_of = await sides(session, user_id, bid_rows)
    unread = await unread_counts(session, bid_rows, side_of)
    versions = await latest_versions(session, ids)
    latest: dict[str, Offer] = {}
    if versions:
        pairs = [(bid_id, version) for bid_id, version in versions.items()]
        rows = await session.scalars(
            select(Offer).where(tuple_(Offer.bid_id, Offer.version).in_(pairs))
        )
        latest = {o.bid_id: o for o in rows}
    # The contract the acceptance made: period 1 (an ambassador programme's renewals are
    # further periods of the same bid).
    found = await session.execute(
        select(Contract.bid_id, Contract.id).where(
            Contract.bid_id.in_(ids), Contract.period_no == 1
        )
    )
    contract_ids = {bid_id: contract_id for bid_id, contract_id in found.all()}
    views = []
    for bid in bid_rows:
        side = side_of[bid.id]
        offer = latest.get(bid.id)
        actions = [a for a in BIDS.allowed_actions(bid.state, side.value) if a in ROUTE_ACTIONS]
        if _may_offer(bid, side, offer, now):
            actions.append("offer")
        views.append(
            BidView(
                bid=bid,
                side=side,
                allowed_actions=sorted(actions),
                latest_offer_id=offer.id if offer else None,
                contract_id=contract_ids.get(bid.id),
                unread_count=unread.get(bid.id, 0),
            )
        )
    return views


@dataclass(frozen=True)
class OfferView:
    offer: Offer
    latest: bool
    contract_id: str | None


async def offer_views(session: AsyncSession, offer_rows: list[Offer]) -> list[OfferView]:
    if not offer_rows:
        return []
    versions = await latest_versions(session, sorted({o.bid_id for o in offer_rows}))
    accepted = [o.id for o in offer_rows if o.state == OS.accepted]
    contract_ids: dict[str, str] = {}
    if accepted:
        found = await session.execute(
            select(Contract.offer_id, Contract.id).where(
                Contract.offer_id.in_(accepted), Contract.period_no == 1
            )
        )
        contract_ids = {offer_id: contract_id for offer_id, contract_id in found.all()}
    return [
        OfferView(o, versions.get(o.bid_id) == o.version, contract_ids.get(o.id))
        for o in offer_rows
    ]
