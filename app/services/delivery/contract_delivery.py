"""The contract's delivery rows, added to `CONTRACT_TRANSITIONS` by services/delivery/contracts.py.

This module imports nothing that imports services/delivery/contracts.py, so contracts.py can import
it at load time; the effects reach the other delivery machines lazily.

| action          | from              | to        | who               | guard             |
|-----------------|-------------------|-----------|-------------------|-------------------|
| cancel          | active            | cancelled | brand, influencer | no work started   |
| deliver         | active            | delivered | system            | all settled, 1+ confirmed |
| end_unfulfilled | active            | cancelled | system            | all cancelled     |
| complete        | delivered         | completed | system            | milestones settled |
| dispute         | active, delivered | disputed  | brand, influencer |                   |
| resume          | disputed          | active    | brand, influencer | (dispute withdrawn) |
| resolve         | disputed          | resolved  | operator          | (dispute resolved) |

Effects: `cancel` cancels every deliverable and milestone and writes `money.refund_contract`
`{contract_id, amount: "unreleased", reason: "cancelled"}`; `resume` releases the milestones met
meanwhile and re-evaluates the contract; `cancel`, `end_unfulfilled`, `complete` and `resolve`
set `ended_at`. "Settled" deliverables are confirmed or cancelled; settled milestones are
released, refunded or cancelled. The disputes service (app/services/delivery/disputes.py) fires
`dispute`, `resume` and `resolve`.

`fund` (declared in contracts.py) also runs `start_delivery`: each deliverable gets its late
timer (`flag_late` at the end of its due date, UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Contract,
    ContractState,
    Deliverable,
    DeliverableState,
    Draft,
    Milestone,
)
from app.services.workflow import timers
from app.services.workflow.jobs import REFUND_CONTRACT_TOPIC
from app.services.workflow.state_machine import (
    Actor,
    Transition,
    TransitionContext,
    enqueue_job,
    set_columns,
)

C = ContractState
D = DeliverableState
# Deliverable and draft moves are allowed while the contract is in one of these states (a
# dispute freezes money, not work).
WORKING_STATES = frozenset({C.active.value, C.disputed.value})
FINAL_DELIVERABLE_STATES = frozenset({D.confirmed.value, D.cancelled.value})


def late_at(due: date) -> datetime:
    """A deliverable is late once its due date is over (midnight UTC after it)."""
    return datetime.combine(due + timedelta(days=1), time(0), tzinfo=UTC)


def _now(ctx: TransitionContext) -> datetime:
    return ctx.now


async def _deliverable_states(session: AsyncSession, contract_id: str) -> list[str]:
    return list(
        await session.scalars(
            select(Deliverable.state).where(Deliverable.contract_id == contract_id)
        )
    )


async def no_work_started(ctx: TransitionContext) -> bool | str:
    """no work has started on the contract"""
    states = await _deliverable_states(ctx.session, ctx.obj.id)
    drafts = await ctx.session.scalar(
        select(func.count()).select_from(Draft).where(Draft.contract_id == ctx.obj.id)
    )
    if drafts or any(s != D.pending.value for s in states):
        return (
            "work has started on this contract: cancel single deliverables "
            "(POST /v1/deliverables/{id}/cancel) or open a dispute"
        )
    return True


async def all_settled_one_confirmed(ctx: TransitionContext) -> bool | str:
    """every deliverable is confirmed or cancelled, and one at least confirmed"""
    states = await _deliverable_states(ctx.session, ctx.obj.id)
    return all(s in FINAL_DELIVERABLE_STATES for s in states) and D.confirmed.value in states


async def all_cancelled(ctx: TransitionContext) -> bool | str:
    """every deliverable is cancelled"""
    states = await _deliverable_states(ctx.session, ctx.obj.id)
    return bool(states) and all(s == D.cancelled.value for s in states)


async def milestones_settled(ctx: TransitionContext) -> bool | str:
    """every milestone is released, refunded or cancelled"""
    from app.services.delivery.milestones import SETTLED_STATES

    states = await ctx.session.scalars(
        select(Milestone.state).where(Milestone.contract_id == ctx.obj.id)
    )
    return all(s in SETTLED_STATES for s in states)


async def _cancel_all_work(ctx: TransitionContext) -> None:
    """The funded contract is called off before work started: every deliverable and
    milestone ends with it (the contract-level refund job returns the money)."""
    from app.services.delivery.deliverables import DELIVERABLES
    from app.services.delivery.milestones import MILESTONES, lock_milestones

    actor = Actor("system", ctx.transition_id)
    rows = await ctx.session.scalars(
        select(Deliverable)
        .where(Deliverable.contract_id == ctx.obj.id, Deliverable.state != D.cancelled.value)
        .order_by(Deliverable.position)
        .execution_options(populate_existing=True)
    )
    for deliverable in list(rows):
        await DELIVERABLES.fire(
            ctx.session, deliverable, "cancel", actor, ctx.now, with_contract=True
        )
    ids = list(
        await ctx.session.scalars(select(Milestone.id).where(Milestone.contract_id == ctx.obj.id))
    )
    for milestone in await lock_milestones(ctx.session, ids):
        if milestone.state == "pending":
            await MILESTONES.fire(ctx.session, milestone, "cancel", actor, ctx.now)


async def _after_resume(ctx: TransitionContext) -> None:
    """Money frozen by the dispute may move again: release what was met meanwhile."""
    from app.services.delivery.milestones import contract_milestone_ids, release_met

    ids = await contract_milestone_ids(ctx.session, ctx.obj.id)
    await release_met(ctx.session, ids, Actor("system", ctx.transition_id), ctx.now, C.active)
    await evaluate_contract(ctx.session, ctx.obj.id, Actor("system", ctx.transition_id), ctx.now)


async def start_delivery(ctx: TransitionContext) -> None:
    """Effect of `fund`: the work is due now; each deliverable gets its late timer."""
    from app.services.delivery.deliverables import DELIVERABLES

    rows = await ctx.session.scalars(
        select(Deliverable).where(Deliverable.contract_id == ctx.obj.id)
    )
    for deliverable in rows:
        await timers.schedule(
            ctx.session,
            DELIVERABLES.kind,
            deliverable.id,
            "flag_late",
            late_at(deliverable.due_date),
            now=ctx.now,
        )


DELIVERY_CONTRACT_TRANSITIONS: list[Transition] = [
    Transition(
        "cancel",
        {C.active},
        C.cancelled,
        actors={"brand", "influencer"},
        guard=no_work_started,
        effects=[
            _cancel_all_work,
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
        guard=milestones_settled,
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
        effects=[_after_resume],
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
]


async def lock_contract(session: AsyncSession, contract_id: str) -> Contract:
    contract = await session.scalar(
        select(Contract)
        .where(Contract.id == contract_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert contract is not None
    return contract


async def evaluate_contract(
    session: AsyncSession, contract_id: str, actor: Actor, now: datetime
) -> Contract:
    """Move the contract on when its deliverables (→ delivered / cancelled) or its milestones
    (→ completed) say so. Takes the contract's row lock first, so two deliverables finishing
    at once cannot both miss the other."""
    from app.services.delivery.contracts import CONTRACTS

    contract = await lock_contract(session, contract_id)
    system = actor if actor.kind == "system" else Actor("system", actor.id)
    if contract.state == C.active.value:
        states = await _deliverable_states(session, contract_id)
        if states and all(s in FINAL_DELIVERABLE_STATES for s in states):
            action = "deliver" if D.confirmed.value in states else "end_unfulfilled"
            await CONTRACTS.fire(session, contract, action, system, now)
    if contract.state == C.delivered.value:
        milestone_states = await session.scalars(
            select(Milestone.state).where(Milestone.contract_id == contract_id)
        )
        from app.services.delivery.milestones import SETTLED_STATES

        if all(s in SETTLED_STATES for s in milestone_states):
            await CONTRACTS.fire(session, contract, "complete", system, now)
    return contract
