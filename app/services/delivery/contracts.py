"""Contracts: made when an offer is accepted, funded by the brand, delivered, settled.

**Creation** (`create_contract`, installed by app/services/wiring.py among the negotiation's
`offers.ACCEPTANCE_HOOKS` and so run by the offer's `accept` transition, in its transaction):
the contract (`ctr_…`, state `awaiting_funding`) with a snapshot of the accepted terms; one
deliverable (`dlv_…`, state `pending`) per unit of each offer line (`2 x instagram_reel` makes
two), each with its due date; one milestone (`mst_…`, state `pending`) per payment-schedule
entry, linked to the deliverables it pays for (an "on completion" milestone to all of them);
the funding-window timer (`expire` at `funding_due_at`, the terms' `funding_window_hours` after
acceptance, 7 days by default); and the exclusivity it imposes — checked again here, with the
influencer's row locked (services/negotiation/exclusivity.py).

**The lifecycle** — `CONTRACTS`, the one declared table (`CONTRACT_TRANSITIONS`):

| action          | from                       | to        | who            | guard / note      |
|-----------------|----------------------------|-----------|----------------|-------------------|
| fund            | awaiting_funding           | active    | system         | late timers       |
| expire          | awaiting_funding           | expired   | system (timer) | window over ¹     |
| cancel          | awaiting_funding           | cancelled | both           | ¹                 |
| cancel          | active                     | cancelled | both           | no work started ² |
| deliver         | active                     | delivered | system         | all final, 1+ ok  |
| end_unfulfilled | active                     | cancelled | system         | all cancelled     |
| complete        | delivered                  | completed | system         | all paid or not   |
| dispute         | active, delivered          | disputed  | both           |                   |
| resume          | disputed                   | active    | both           | ³                 |
| resolve         | disputed                   | resolved  | operator       |                   |
| chargeback      | active/delivered/completed | disputed  | system         | Stripe's dispute  |
| chargeback_won  | disputed                   | active    | system         | ³                 |

Both: the brand or the influencer. "All final, 1+ ok": every deliverable confirmed or
cancelled, one at least confirmed; "all paid or not": every milestone released, refunded or
cancelled. ¹ a `money.cancel_funding` job cancels the brand's PaymentIntent; ² every deliverable
and pending milestone is cancelled with it (`effects.cascade`, through the machine registry) and
a `money.refund_contract` job `{contract_id, amount: "unreleased", reason: "cancelled"}` returns
the money; ³ the milestones met meanwhile are released and the contract re-evaluated
(services/delivery/completion.py). Ending moves set `ended_at`.

`fund` is fired by the payments code when the brand's payment succeeded
(services/money/funding.py) and arms each deliverable's late timer (`flag_late` at the end of
its due date, UTC). The disputes service fires `dispute`, `resume` and `resolve`
(services/delivery/disputes.py); the payments code fires `chargeback`, and `chargeback_won`
through the dispute record (services/money/stripe_disputes.py). Money reacts to these moves
through the jobs they enqueue (topics in services/workflow/jobs.py), never by adding rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.errors import NotFound
from app.ids import new_id
from app.models import (
    Bid,
    Brief,
    Contract,
    ContractState,
    Deliverable,
    DeliverableState,
    Draft,
    Influencer,
    Milestone,
    MilestoneDeliverable,
    MilestoneState,
    Offer,
    Side,
)
from app.models.contract import FINAL_DELIVERABLE_STATES, late_at
from app.pagination import PageParams, SortKey, paginate
from app.services.delivery.completion import (
    contract_milestone_ids,
    deliverable_states,
    milestones_settled,
    resume_settlement,
)
from app.services.identity.tenancy import Party, member_brands, my_listings, party_filter, party_of
from app.services.negotiation.exclusivity import check_terms_exclusivity
from app.services.negotiation.terms import exclusivity_window
from app.services.workflow import events, timers
from app.services.workflow.effects import cancel_timer, cascade, enqueue_job, set_columns
from app.services.workflow.jobs import CANCEL_FUNDING_TOPIC, REFUND_CONTRACT_TOPIC
from app.services.workflow.state_machine import (
    Actor,
    StateMachine,
    Transition,
    TransitionContext,
    list_transitions,
)

C = ContractState
D = DeliverableState
Ctx = TransitionContext[Contract]


class ContractNotFound(NotFound):
    slug, title = "contract-not-found", "No such contract"


# --- guards -------------------------------------------------------------------------------------


def funding_window_over(ctx: Ctx) -> bool:
    """the funding window is still open"""
    return bool(ctx.now >= ctx.obj.funding_due_at)


async def no_work_started(ctx: Ctx) -> bool | str:
    """no work has started on the contract"""
    states = await deliverable_states(ctx.session, ctx.obj.id)
    drafts = await ctx.session.scalar(
        select(func.count()).select_from(Draft).where(Draft.contract_id == ctx.obj.id)
    )
    if drafts or any(s != D.pending.value for s in states):
        return (
            "work has started on this contract: cancel single deliverables "
            "(POST /v1/deliverables/{id}/cancel) or open a dispute"
        )
    return True


async def all_settled_one_confirmed(ctx: Ctx) -> bool | str:
    """every deliverable is confirmed or cancelled, and one at least confirmed"""
    states = await deliverable_states(ctx.session, ctx.obj.id)
    return all(s in FINAL_DELIVERABLE_STATES for s in states) and D.confirmed.value in states


async def all_cancelled(ctx: Ctx) -> bool | str:
    """every deliverable is cancelled"""
    states = await deliverable_states(ctx.session, ctx.obj.id)
    return bool(states) and all(s == D.cancelled.value for s in states)


async def all_milestones_settled(ctx: Ctx) -> bool | str:
    """every milestone is released, refunded or cancelled"""
    return await milestones_settled(ctx.session, ctx.obj.id)


# --- effects ------------------------------------------------------------------------------------


def _now(ctx: Ctx) -> datetime:
    return ctx.now


async def start_delivery(ctx: Ctx) -> None:
    """Effect of `fund`: the work is due now; each deliverable gets its late timer."""
    rows = await ctx.session.scalars(
        select(Deliverable).where(Deliverable.contract_id == ctx.obj.id)
    )
    for deliverable in rows:
        await timers.schedule(
            ctx.session,
            "deliverable",
            deliverable.id,
            "flag_late",
            late_at(deliverable.due_date),
            now=ctx.now,
        )


async def _open_deliverables(ctx: Ctx) -> list[str]:
    return list(
        await ctx.session.scalars(
            select(Deliverable.id)
            .where(Deliverable.contract_id == ctx.obj.id, Deliverable.state != D.cancelled.value)
            .order_by(Deliverable.position)
        )
    )


async def _milestones(ctx: Ctx) -> list[str]:
    return await contract_milestone_ids(ctx.session, ctx.obj.id)


async def _resume_settlement(ctx: Ctx) -> None:
    """Money frozen by the dispute may move again: release what was met meanwhile."""
    await resume_settlement(ctx.session, ctx.obj.id, Actor("system", ctx.transition_id), ctx.now)


# Effect of `expire` and of `cancel` before funding: the brand's PaymentIntent is cancelled.
_cancel_funding = enqueue_job(
    CANCEL_FUNDING_TOPIC,
    lambda c: {"contract_id": c.obj.id},
    key=lambda c: f"{CANCEL_FUNDING_TOPIC}:{c.obj.id}",
)

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
        effects=[set_columns(ended_at=_now), _cancel_funding],
        description="Not funded within the funding window",
    ),
    Transition(
        "cancel",
        {C.awaiting_funding},
        C.cancelled,
        actors={"brand", "influencer"},
        effects=[cancel_timer("expire"), set_columns(ended_at=_now), _cancel_funding],
        description="Either party calls the deal off before it is funded",
    ),
    Transition(
        "cancel",
        {C.active},
        C.cancelled,
        actors={"brand", "influencer"},
        guard=no_work_started,
        effects=[
            # Every deliverable and milestone ends with it; the contract-level refund job
            # returns the money.
            cascade("deliverable", "cancel", ids_from=_open_deliverables),
            cascade(
                "milestone",
                "cancel",
                ids_from=_milestones,
                only_from={MilestoneState.pending},
                lock=True,
            ),
            enqueue_job(
                REFUND_CONTRACT_TOPIC,
                lambda c: {"contract_id": c.obj.id, "amount": "unreleased", "reason": "cancelled"},
            ),
            set_columns(ended_at=_now),
        ],
        description="Either party calls the funded deal off before any work: full refund",
    ),
    Transition(
        "deliver",
        {C.active},
        C.delivered,
        actors={"system"},
        guard=all_settled_one_confirmed,
        description="Every deliverable is confirmed or cancelled",
    ),
    Transition(
        "end_unfulfilled",
        {C.active},
        C.cancelled,
        actors={"system"},
        guard=all_cancelled,
        effects=[set_columns(ended_at=_now)],
        description="Every deliverable was cancelled",
    ),
    Transition(
        "complete",
        {C.delivered},
        C.completed,
        actors={"system"},
        guard=all_milestones_settled,
        effects=[set_columns(ended_at=_now)],
        description="Delivered, and every milestone's money has moved",
    ),
    Transition(
        "dispute",
        {C.active, C.delivered},
        C.disputed,
        actors={"brand", "influencer"},
        description="A party opened a dispute: the contract's money is frozen",
    ),
    Transition(
        "resume",
        {C.disputed},
        C.active,
        actors={"brand", "influencer"},
        effects=[_resume_settlement],
        description="The dispute was withdrawn: money may move again",
    ),
    Transition(
        "resolve",
        {C.disputed},
        C.resolved,
        actors={"operator"},
        effects=[set_columns(ended_at=_now)],
        description="An operator resolved the dispute (release, partial or full refund)",
    ),
    Transition(
        "chargeback",
        {C.active, C.delivered, C.completed},
        C.disputed,
        actors={"system"},
        description="The brand's bank disputed the funding charge: the contract's money is frozen",
    ),
    Transition(
        "chargeback_won",
        {C.disputed},
        C.active,
        actors={"system"},
        effects=[_resume_settlement],
        description="Stripe closed the dispute for the platform (won, or an inquiry closed): "
        "money may move again; the contract moves on as its deliverables and milestones say",
    ),
]
CONTRACTS = StateMachine("contract", Contract, CONTRACT_TRANSITIONS)


# --- creation -----------------------------------------------------------------------------------


async def create_contract(
    session: AsyncSession, bid: Bid, offer: Offer, brief: Brief, now: datetime
) -> Contract:
    """The contract of an accepted offer, in the caller's transaction."""
    return await _create(session, bid, offer.id, brief, offer.terms, now)


async def create_period_contract(
    session: AsyncSession,
    bid: Bid,
    offer_id: str,
    brief: Brief,
    terms: dict[str, Any],
    now: datetime,
    *,
    programme_id: str,
    period_no: int,
) -> Contract:
    """Period `period_no` of an ambassador programme (issue 15; the relationships domain calls
    it when a period starts): a contract like any other — awaiting funding, its deliverables,
    milestones and funding timer — on the period's `terms`, made in the caller's transaction.
    A second one for the same offer and period is refused by the database
    (`uq_contracts_offer_period`)."""
    return await _create(
        session, bid, offer_id, brief, terms, now, programme_id=programme_id, period_no=period_no
    )


async def _create(
    session: AsyncSession,
    bid: Bid,
    offer_id: str,
    brief: Brief,
    terms: dict[str, Any],
    now: datetime,
    *,
    programme_id: str | None = None,
    period_no: int = 1,
) -> Contract:
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
    await check_terms_exclusivity(session, bid, brief, terms, now)
    window = exclusivity_window(terms, now.date())
    contract = Contract(
        id=new_id("contract"),
        bid_id=bid.id,
        offer_id=offer_id,
        brief_id=bid.brief_id,
        brand_id=bid.brand_id,
        influencer_id=bid.influencer_id,
        state=C.awaiting_funding.value,
        price=terms["price"],
        currency=terms["currency"],
        terms=terms,
        accepted_at=now,
        funding_due_at=now + timedelta(hours=terms["funding_window_hours"]),
        exclusivity_category=window[0] if window else None,
        exclusivity_from=now.date() if window else None,
        exclusivity_until=window[1] if window else None,
        programme_id=programme_id,
        period_no=period_no,
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
            currency=terms["currency"],
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
    # issue 14: the public event (`contract.awaiting_funding`)
    await events.emit(session, "contract", contract, f"contract.{contract.state}", now)
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
    """The contract the offer's acceptance made (an ambassador programme's period 1)."""
    return await session.scalar(
        select(Contract.id).where(Contract.offer_id == offer_id, Contract.period_no == 1)
    )


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
