"""Milestones: when a contract's money may move (docs/delivery.md).

A milestone pays for its deliverables (`milestone_deliverables`); it is **met** when every one of
them is confirmed. Delivery decides *that* money should move and writes an outbox job; the money
code (someone else's handlers) moves it and reports back by firing `mark_released` /
`mark_refunded`. No money moves here.

| action        | from                | to         | who              | effect / guard           |
|---------------|---------------------|------------|------------------|--------------------------|
| release       | pending             | releasable | system, operator | `money.release_milestone`¹ |
| refund        | pending             | refundable | system, operator | `money.refund_milestone` |
| cancel        | pending, releasable | cancelled  | system, operator | ² |
| mark_released | releasable          | released   | system (money)   | may complete the contract |
| mark_refunded | refundable          | refunded   | system (money)   | may complete the contract |

¹ only while the contract is active, delivered or resolved (never disputed); ² its money goes
back with a contract-level refund (`money.refund_contract`).

Jobs are keyed by milestone (`money.release_milestone:<mst>`, `money.refund_milestone:<mst>`),
so a milestone's money job is written once however often its release is attempted.
Payloads: `{"milestone_id", "contract_id", "amount", "currency"}` (plus the engine's `kind`,
`object_id`, `transition_id`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Contract,
    ContractState,
    Deliverable,
    DeliverableState,
    Milestone,
    MilestoneDeliverable,
    MilestoneState,
)
from app.services.workflow.jobs import REFUND_MILESTONE_TOPIC, RELEASE_TOPIC
from app.services.workflow.state_machine import (
    Actor,
    StateMachine,
    Transition,
    TransitionContext,
    enqueue_job,
)

M = MilestoneState
# A milestone's money may be released while its contract is in one of these states.
RELEASING_CONTRACT_STATES = frozenset(
    {ContractState.active.value, ContractState.delivered.value, ContractState.resolved.value}
)
SETTLED_STATES = frozenset({M.released.value, M.refunded.value, M.cancelled.value})


async def contract_not_frozen(ctx: TransitionContext) -> bool | str:
    """the contract's money is not frozen"""
    state = await ctx.session.scalar(
        select(Contract.state).where(Contract.id == ctx.obj.contract_id)
    )
    if state not in RELEASING_CONTRACT_STATES:
        return f"the contract is {state}: its money cannot be released now"
    return True


def _payload(ctx: TransitionContext) -> dict[str, Any]:
    m = ctx.obj
    return {
        "milestone_id": m.id,
        "contract_id": m.contract_id,
        "amount": m.amount,
        "currency": m.currency,
    }


async def _settled(ctx: TransitionContext) -> None:
    from app.services.delivery.contract_delivery import evaluate_contract

    await evaluate_contract(ctx.session, ctx.obj.contract_id, ctx.actor, ctx.now)


MILESTONE_TRANSITIONS: list[Transition] = [
    Transition(
        "release",
        {M.pending},
        M.releasable,
        actors={"system", "operator"},
        guard=contract_not_frozen,
        effects=[enqueue_job(RELEASE_TOPIC, _payload, key=lambda c: f"{RELEASE_TOPIC}:{c.obj.id}")],
        description="Every deliverable is confirmed (or an operator released it): pay it out",
    ),
    Transition(
        "refund",
        {M.pending},
        M.refundable,
        actors={"system", "operator"},
        effects=[
            enqueue_job(
                REFUND_MILESTONE_TOPIC,
                _payload,
                key=lambda c: f"{REFUND_MILESTONE_TOPIC}:{c.obj.id}",
            )
        ],
        description="A deliverable it pays for was cancelled: its amount goes back to the brand",
    ),
    Transition(
        "cancel",
        {M.pending, M.releasable},
        M.cancelled,
        actors={"system", "operator"},
        description="Settled by a contract-level refund (cancellation or dispute resolution)",
    ),
    Transition(
        "mark_released",
        {M.releasable},
        M.released,
        actors={"system"},
        effects=[_settled],
        description="The money code released it (escrow → influencer)",
    ),
    Transition(
        "mark_refunded",
        {M.refundable},
        M.refunded,
        actors={"system"},
        effects=[_settled],
        description="The money code refunded it to the brand",
    ),
]
MILESTONES = StateMachine(
    "milestone", Milestone, MILESTONE_TRANSITIONS, lock_parent=(Contract, "contract_id")
)


async def lock_milestones(session: AsyncSession, ids: Iterable[str]) -> list[Milestone]:
    """The milestones, fresh and (on PostgreSQL) row-locked, in id order (one lock order for
    everyone, so two transactions checking the same milestone serialise instead of both
    missing the other's confirmation)."""
    ids = sorted(set(ids))
    if not ids:
        return []
    rows = await session.scalars(
        select(Milestone)
        .where(Milestone.id.in_(ids))
        .order_by(Milestone.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def milestone_ids_of(session: AsyncSession, deliverable_id: str) -> list[str]:
    return list(
        await session.scalars(
            select(MilestoneDeliverable.milestone_id).where(
                MilestoneDeliverable.deliverable_id == deliverable_id
            )
        )
    )


async def contract_milestone_ids(session: AsyncSession, contract_id: str) -> list[str]:
    return list(
        await session.scalars(select(Milestone.id).where(Milestone.contract_id == contract_id))
    )


async def _met(session: AsyncSession, milestone_id: str) -> bool:
    states = await session.scalars(
        select(Deliverable.state)
        .join(MilestoneDeliverable, MilestoneDeliverable.deliverable_id == Deliverable.id)
        .where(MilestoneDeliverable.milestone_id == milestone_id)
    )
    found = list(states)
    return bool(found) and all(s == DeliverableState.confirmed.value for s in found)


async def release_met(
    session: AsyncSession,
    milestone_ids: Iterable[str],
    actor: Actor,
    now: datetime,
    contract_state: str,
) -> list[Milestone]:
    """Release every pending milestone among `milestone_ids` whose deliverables are all
    confirmed — unless the contract's money is frozen (a dispute): then they wait, and the
    dispute's end looks again. Returns the milestones released."""
    if contract_state not in RELEASING_CONTRACT_STATES:
        return []
    released = []
    for milestone in await lock_milestones(session, milestone_ids):
        if milestone.state == M.pending.value and await _met(session, milestone.id):
            await MILESTONES.fire(session, milestone, "release", actor, now)
            released.append(milestone)
    return released


async def refund_pending(
    session: AsyncSession, milestone_ids: Iterable[str], actor: Actor, now: datetime, reason: str
) -> list[Milestone]:
    """Make every still-pending milestone among `milestone_ids` refundable."""
    refunded = []
    for milestone in await lock_milestones(session, milestone_ids):
        if milestone.state == M.pending.value:
            await MILESTONES.fire(session, milestone, "refund", actor, now, reason=reason)
            refunded.append(milestone)
    return refunded
