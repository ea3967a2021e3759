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

When a milestone is met, and when its settlement completes the contract, is decided in
services/delivery/completion.py (`release_met`, `refund_pending`, `evaluate_contract`).

Jobs are keyed by milestone (`money.release_milestone:<mst>`, `money.refund_milestone:<mst>`),
so a milestone's money job is written once however often its release is attempted.
Payloads: `{"milestone_id", "contract_id", "amount", "currency"}` (plus the engine's `kind`,
`object_id`, `transition_id`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.models import Contract, Milestone, MilestoneState
from app.models.contract import RELEASABLE_CONTRACT_STATES
from app.services.delivery.completion import evaluate_contract
from app.services.workflow.effects import enqueue_job
from app.services.workflow.jobs import REFUND_MILESTONE_TOPIC, RELEASE_TOPIC
from app.services.workflow.state_machine import StateMachine, Transition, TransitionContext

M = MilestoneState
Ctx = TransitionContext[Milestone]


async def contract_not_frozen(ctx: Ctx) -> bool | str:
    """the contract's money is not frozen"""
    state = await ctx.session.scalar(
        select(Contract.state).where(Contract.id == ctx.obj.contract_id)
    )
    if state not in RELEASABLE_CONTRACT_STATES:
        return f"the contract is {state}: its money cannot be released now"
    return True


def _payload(ctx: Ctx) -> dict[str, Any]:
    m = ctx.obj
    return {
        "milestone_id": m.id,
        "contract_id": m.contract_id,
        "amount": m.amount,
        "currency": m.currency,
    }


async def _settled(ctx: Ctx) -> None:
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
