"""Contracts: made when an offer is accepted, funded by the brand, then delivered.

**Creation** (`create_contract`, run by the offer's `accept` transition, in its transaction):
the contract (`ctr_…`, state `awaiting_funding`) with a snapshot of the accepted terms; one
deliverable (`dlv_…`, state `pending`) per unit of each offer line (`2 x instagram_reel` makes
two), each with its due date; one milestone (`mst_…`, state `pending`) per payment-schedule
entry, linked to the deliverables it pays for (an "on completion" milestone to all of them);
the funding-window timer (`expire` at `funding_due_at`, the terms' `funding_window_hours` after
acceptance, 7 days by default); and the exclusivity it imposes.

**Exclusivity.** Terms with `exclusivity: {category, days > 0}` bind the influencer from
acceptance until `days` after the last deliverable is due (`exclusivity_from` …
`exclusivity_until`). A deal with another brand conflicts when it is in that category (its
brief's category or the exclusivity it asks for) and its work (today … its last due date)
overlaps that window, while the binding contract is not expired or cancelled
(`RELEASING_STATES`). The check runs when an offer is made and again when it is accepted (with
the influencer's row locked, so two brands' acceptances cannot both pass): 409
`exclusivity-conflict`, naming the contract and the last day.

**The lifecycle** — `CONTRACT_TRANSITIONS`, extended by delivery and payments:

| action | from             | to        | who               | guard / effects                  |
|--------|------------------|-----------|-------------------|----------------------------------|
| fund   | awaiting_funding | active    | system            | no timer; `funded_at`            |
| expire | awaiting_funding | expired   | system (timer)    | window over; `ended_at`          |
| cancel | awaiting_funding | cancelled | brand, influencer | no timer; `ended_at`             |

Delivery's rows (cancel after funding, deliver, end_unfulfilled, complete, dispute, resume,
resolve) are declared in services/delivery/contract_delivery.py (`DELIVERY_CONTRACT_TRANSITIONS`,
docs/delivery.md); `fund` also starts the deliverables' late timers (`start_delivery`).

Payments' rows (money/contract_money.py, `MONEY_CONTRACT_TRANSITIONS`): `chargeback` (active,
delivered, completed → disputed; system) when Stripe opens a dispute on the funding charge;
`expire` and `cancel` before funding also cancel the PaymentIntent (`money.cancel_funding`).

The payments code fires `fund` when the brand's payment succeeded:
`await CONTRACTS.fire(session, contract, "fund", Actor("system", <job or event id>), now)`.
Delivery adds its states (e.g. `completed`, `disputed`) as rows of `CONTRACT_TRANSITIONS` and
members of `ContractState`; the state column is a plain string, so no migration is needed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.errors import Conflict, NotFound
from app.ids import new_id
from app.models import (
    Bid,
    Brief,
    Contract,
    ContractState,
    Deliverable,
    DeliverableState,
    Influencer,
    Milestone,
    MilestoneDeliverable,
    MilestoneState,
    Offer,
    Side,
)
from app.pagination import PageParams, SortKey, paginate
from app.services.delivery.contract_delivery import DELIVERY_CONTRACT_TRANSITIONS, start_delivery
from app.services.identity.brands import member_brands
from app.services.money.contract_money import MONEY_CONTRACT_TRANSITIONS, cancel_funding_effect
from app.services.negotiation.bids import Party, my_listings, party_filter, party_of
from app.services.negotiation.terms import deal_categories, exclusivity_window, last_due_date
from app.services.workflow import timers
from app.services.workflow.state_machine import (
    StateMachine,
    Transition,
    TransitionContext,
    cancel_timer,
    list_transitions,
    set_columns,
)

C = ContractState
# A contract in one of these no longer binds the influencer to its exclusivity.
RELEASING_STATES: frozenset[str] = frozenset({C.expired.value, C.cancelled.value})


class ContractNotFound(NotFound):
    slug, title = "contract-not-found", "No such contract"


class ExclusivityConflict(Conflict):
    slug, title = "exclusivity-conflict", "The influencer is bound by another brand's exclusivity"


def funding_window_over(ctx: TransitionContext) -> bool:
    """the funding window is still open"""
    return bool(ctx.now >= ctx.obj.funding_due_at)


def _now(ctx: TransitionContext) -> datetime:
    return ctx.now


CONTRACT_TRANSITIONS: list[Transition] = [
    Transition(
        "fund",
        {C.awaiting_funding},
        C.active,
        actors={"system"},
        effects=[cancel_timer("expire"), set_columns(funded_at=_now), start_delivery],
        description="The brand's payment succeeded: the money is in escrow, work may start",
    ),
    Transition(
        "expire",
        {C.awaiting_funding},
        C.expired,
        actors={"system"},
        guard=funding_window_over,
        effects=[set_columns(ended_at=_now), cancel_funding_effect],
        description="Not funded within the funding window",
    ),
    Transition(
        "cancel",
        {C.awaiting_funding},
        C.cancelled,
        actors={"brand", "influencer"},
        effects=[cancel_timer("expire"), set_columns(ended_at=_now), cancel_funding_effect],
        description="Either party calls the deal off before it is funded",
    ),
]
CONTRACTS = StateMachine(
    "contract",
    Contract,
    CONTRACT_TRANSITIONS + DELIVERY_CONTRACT_TRANSITIONS + MONEY_CONTRACT_TRANSITIONS,
)


# --- exclusivity --------------------------------------------------------------------------------


async def check_exclusivity(
    session: AsyncSession,
    influencer_id: str,
    brand_id: str,
    categories: Iterable[str],
    start: date,
    end: date,
) -> None:
    """Refuse a deal in `categories` from `start` to `end` that another brand's running
    exclusivity forbids."""
    categories = sorted(set(categories))
    if not categories:
        return
    binding = await session.scalar(
        select(Contract)
        .where(
            Contract.influencer_id == influencer_id,
            Contract.brand_id != brand_id,
            Contract.state.not_in(RELEASING_STATES),
            Contract.exclusivity_category.in_(categories),
            Contract.exclusivity_from <= end,
            Contract.exclusivity_until >= start,
        )
        .order_by(Contract.exclusivity_until.desc(), Contract.id)
        .limit(1)
    )
    if binding is not None:
        raise ExclusivityConflict(
            f"The influencer is exclusive to another brand in {binding.exclusivity_category} "
            f"until {binding.exclusivity_until} (contract {binding.id}); a deal in that category "
            "cannot overlap it",
            contract_id=binding.id,
            category=binding.exclusivity_category,
            exclusive_until=binding.exclusivity_until.isoformat()
            if binding.exclusivity_until
            else None,
        )


async def check_terms_exclusivity(
    session: AsyncSession, bid: Bid, brief: Brief, terms: dict[str, Any], now: datetime
) -> None:
    await check_exclusivity(
        session,
        bid.influencer_id,
        bid.brand_id,
        deal_categories(terms, brief),
        now.date(),
        last_due_date(terms),
    )


# --- creation -----------------------------------------------------------------------------------


async def create_contract(
    session: AsyncSession, bid: Bid, offer: Offer, brief: Brief, now: datetime
) -> Contract:
    """The contract of an accepted offer, in the caller's transaction."""
    # Serialise acceptances involving this influencer: the exclusivity check then sees every
    # contract committed before it (PostgreSQL; SQLite serialises writers anyway). `FOR NO KEY
    # UPDATE`, not `FOR UPDATE`: the acceptance already holds a key-share lock on this row (the
    # foreign-key checks of its earlier writes), and two acceptances upgrading to `FOR UPDATE`
    # deadlocked (found by `make load`); no-key-update locks conflict with each other only.
    await session.execute(
        select(Influencer.id)
        .where(Influencer.id == bid.influencer_id)
        .with_for_update(key_share=True)
    )
    terms = offer.terms
    await check_terms_exclusivity(session, bid, brief, terms, now)
    window = exclusivity_window(terms, now.date())
    contract = Contract(
        id=new_id("contract"),
        bid_id=bid.id,
        offer_id=offer.id,
        brief_id=bid.brief_id,
        brand_id=bid.brand_id,
        influencer_id=bid.influencer_id,
        state=C.awaiting_funding.value,
        price=offer.price,
        currency=offer.currency,
        terms=terms,
        accepted_at=now,
        funding_due_at=now + timedelta(hours=terms["funding_window_hours"]),
        exclusivity_category=window[0] if window else None,
        exclusivity_from=now.date() if window else None,
        exclusivity_until=window[1] if window else None,
        created_at=now,
    )
    session.add(contract)
    by_key: dict[str, list[str]] = defaultdict(list)
    all_ids: list[str] = []
    position = 0
    for line in terms["deliverables"]:
        for unit in range(1, line["count"] + 1):
            position += 1
            deliverable = Deliverable(
                id=new_id("deliverable"),
                contract_id=contract.id,
                position=position,
                key=line["key"],
                unit=unit,
                type=line["type"],
                due_date=date.fromisoformat(line["due_date"]),
                state=DeliverableState.pending.value,
                created_at=now,
            )
            session.add(deliverable)
            by_key[line["key"]].append(deliverable.id)
            all_ids.append(deliverable.id)
    links: list[MilestoneDeliverable] = []
    for i, entry in enumerate(terms["payment_schedule"], start=1):
        milestone = Milestone(
            id=new_id("milestone"),
            contract_id=contract.id,
            position=i,
            name=entry.get("name"),
            amount=entry["amount"],
            currency=offer.currency,
            on_completion=entry["on_completion"],
            state=MilestoneState.pending.value,
            created_at=now,
        )
        session.add(milestone)
        covered = (
            all_ids
            if entry["on_completion"]
            else [d for key in entry["deliverables"] for d in by_key[key]]
        )
        links += [
            MilestoneDeliverable(milestone_id=milestone.id, deliverable_id=d) for d in covered
        ]
    await session.flush()
    session.add_all(links)
    await session.flush()
    await timers.schedule(
        session, CONTRACTS.kind, contract.id, "expire", contract.funding_due_at, now=now
    )
    return contract


# --- reading ------------------------------------------------------------------------------------


def _with_children(stmt: Any) -> Any:
    return stmt.options(
        selectinload(Contract.deliverables), selectinload(Contract.milestones)
    ).execution_options(populate_existing=True)


async def load_contract(
    session: AsyncSession, user_id: str, contract_id: str
) -> tuple[Contract, Party]:
    contract = await session.scalar(
        _with_children(select(Contract)).where(
            Contract.id == contract_id, party_filter(Contract, user_id)
        )
    )
    if contract is None:
        raise ContractNotFound(f"No contract {contract_id} that you are a party to")
    return contract, await party_of(session, user_id, contract.brand_id, contract.influencer_id)


async def milestone_links(
    session: AsyncSession, contracts: Sequence[Contract]
) -> dict[str, list[str]]:
    """Deliverable ids of each milestone, in deliverable order."""
    milestone_ids = [m.id for c in contracts for m in c.milestones]
    if not milestone_ids:
        return {}
    rows = await session.execute(
        select(MilestoneDeliverable.milestone_id, MilestoneDeliverable.deliverable_id)
        .join(Deliverable, Deliverable.id == MilestoneDeliverable.deliverable_id)
        .where(MilestoneDeliverable.milestone_id.in_(milestone_ids))
        .order_by(Deliverable.position)
    )
    links: dict[str, list[str]] = defaultdict(list)
    for milestone_id, deliverable_id in rows.all():
        links[milestone_id].append(deliverable_id)
    return links


async def list_contracts(
    session: AsyncSession,
    user_id: str,
    page: PageParams,
    *,
    states: Sequence[str] = (),
    brand_id: str | None = None,
    side: Side | None = None,
) -> tuple[list[Contract], str | None]:
    """The user's contracts, both sides (or one), newest first."""
    if side == Side.influencer:
        where: Any = Contract.influencer_id.in_(my_listings(user_id))
    elif side == Side.brand:
        where = Contract.brand_id.in_(member_brands(user_id))
    else:
        where = party_filter(Contract, user_id)
    stmt = _with_children(select(Contract)).where(where)
    if states:
        stmt = stmt.where(Contract.state.in_(states))
    if brand_id:
        stmt = stmt.where(Contract.brand_id == brand_id)
    return await paginate(session, stmt, [SortKey(Contract.id, descending=True)], page)


async def contract_for_offer(session: AsyncSession, offer_id: str) -> str | None:
    return await session.scalar(select(Contract.id).where(Contract.offer_id == offer_id))


async def contract_transitions(
    session: AsyncSession, user_id: str, contract_id: str, page: PageParams
) -> tuple[list[Any], str | None]:
    contract = await session.scalar(
        select(Contract.id).where(Contract.id == contract_id, party_filter(Contract, user_id))
    )
    if contract is None:
        raise ContractNotFound(f"No contract {contract_id} that you are a party to")
    return await list_transitions(session, CONTRACTS.kind, contract, page)


async def cancel_contract(
    session: AsyncSession, user_id: str, contract_id: str, now: datetime, reason: str | None
) -> tuple[Contract, Party]:
    contract, party = await load_contract(session, user_id, contract_id)
    await CONTRACTS.fire(
        session, contract, "cancel", party.actor, now, reason=reason, data={"user_id": user_id}
    )
    return contract, party
