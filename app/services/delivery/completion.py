"""Settlement: when a milestone is met and when a contract has run its course (docs/delivery.md).

A milestone is **met** when every deliverable it pays for is confirmed; `release_met` then fires
its `release` (→ `releasable`, with the `money.release_milestone` job) — unless the contract's
money is frozen (a dispute or a chargeback: its state is not in `RELEASABLE_CONTRACT_STATES`),
in which case it waits and the dispute's end looks again. `refund_pending` makes the pending
milestones of a cancelled deliverable `refundable`.

`evaluate_contract` moves the contract on when its parts say so: `active` → `delivered` once
every deliverable is confirmed or cancelled and one at least confirmed (`end_unfulfilled` →
`cancelled` when none was), `delivered` → `completed` once every milestone has settled
(`SETTLED_MILESTONE_STATES`). It takes the contract's row lock first, so two deliverables
finishing at once cannot both miss the other.

The deliverable, milestone, contract and dispute machines all call in here; this module imports
none of them: it fires the `milestone` and `contract` machines through the engine's registry
(`state_machine.machine(kind)`). Lock order everywhere: the contract, then its deliverables, then
its milestones in id order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Contract, Deliverable, Milestone, MilestoneDeliverable
from app.models.contract import (
    FINAL_DELIVERABLE_STATES,
    RELEASABLE_CONTRACT_STATES,
    SETTLED_MILESTONE_STATES,
    ContractState,
    DeliverableState,
    MilestoneState,
)
from app.services.workflow.state_machine import Actor, machine

CONTRACT_KIND: Final = "contract"
MILESTONE_KIND: Final = "milestone"


async def lock_contract(session: AsyncSession, contract_id: str) -> Contract:
    """The contract, fresh, with its row lock (PostgreSQL; SQLite serialises writers)."""
    contract = await session.scalar(
        select(Contract)
        .where(Contract.id == contract_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert contract is not None
    return contract


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
    """The milestones that pay for a deliverable."""
    return list(
        await session.scalars(
            select(MilestoneDeliverable.milestone_id).where(
                MilestoneDeliverable.deliverable_id == deliverable_id
            )
        )
    )


async def contract_milestone_ids(session: AsyncSession, contract_id: str) -> list[str]:
    """A contract's milestones, in id order (the lock order)."""
    return list(
        await session.scalars(
            select(Milestone.id).where(Milestone.contract_id == contract_id).order_by(Milestone.id)
        )
    )


async def deliverable_states(session: AsyncSession, contract_id: str) -> list[str]:
    return list(
        await session.scalars(
            select(Deliverable.state).where(Deliverable.contract_id == contract_id)
        )
    )


async def milestones_settled(session: AsyncSession, contract_id: str) -> bool:
    """Every milestone of the contract is released, refunded or cancelled."""
    states = await session.scalars(
        select(Milestone.state).where(Milestone.contract_id == contract_id)
    )
    return all(s in SETTLED_MILESTONE_STATES for s in states)


async def is_met(session: AsyncSession, milestone_id: str) -> bool:
    """Every deliverable the milestone pays for is confirmed."""
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
    if contract_state not in RELEASABLE_CONTRACT_STATES:
        return []
    milestones = machine(MILESTONE_KIND)
    released = []
    for milestone in await lock_milestones(session, milestone_ids):
        if milestone.state == MilestoneState.pending.value and await is_met(session, milestone.id):
            await milestones.fire(session, milestone, "release", actor, now)
            released.append(milestone)
    return released


async def refund_pending(
    session: AsyncSession, milestone_ids: Iterable[str], actor: Actor, now: datetime, reason: str
) -> list[Milestone]:
    """Make every still-pending milestone among `milestone_ids` refundable."""
    milestones = machine(MILESTONE_KIND)
    refunded = []
    for milestone in await lock_milestones(session, milestone_ids):
        if milestone.state == MilestoneState.pending.value:
            await milestones.fire(session, milestone, "refund", actor, now, reason=reason)
            refunded.append(milestone)
    return refunded


async def evaluate_contract(
    session: AsyncSession, contract_id: str, actor: Actor, now: datetime
) -> Contract:
    """Move the contract on when its deliverables (→ delivered / cancelled) or its milestones
    (→ completed) say so. Takes the contract's row lock first, so two deliverables finishing
    at once cannot both miss the other."""
    contracts = machine(CONTRACT_KIND)
    contract = await lock_contract(session, contract_id)
    system = actor if actor.kind == "system" else Actor("system", actor.id)
    if contract.state == ContractState.active.value:
        states = await deliverable_states(session, contract_id)
        if states and all(s in FINAL_DELIVERABLE_STATES for s in states):
            confirmed = DeliverableState.confirmed.value in states
            action = "deliver" if confirmed else "end_unfulfilled"
            await contracts.fire(session, contract, action, system, now)
    if contract.state == ContractState.delivered.value and await milestones_settled(
        session, contract_id
    ):
        await contracts.fire(session, contract, "complete", system, now)
    return contract


async def resume_settlement(
    session: AsyncSession, contract_id: str, actor: Actor, now: datetime
) -> None:
    """The contract's money may move again (a dispute withdrawn, a chargeback won): release the
    milestones met meanwhile and move the contract on as its parts say."""
    ids = await contract_milestone_ids(session, contract_id)
    await release_met(session, ids, actor, now, ContractState.active.value)
    await evaluate_contract(session, contract_id, actor, now)
