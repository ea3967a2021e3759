"""Disputes: either party freezes a contract's money until it is withdrawn or an operator decides.

Opening one (`POST /v1/contracts/{id}/disputes`, either party, the contract `active` or
`delivered`) moves the contract to `disputed`: no milestone is released meanwhile (the
milestone machine's `release` refuses, met milestones wait, and the money code holds release
jobs already written). Work goes on: drafts, proofs and reviews still move. After
`RAPPORT_DISPUTE_ESCALATION_HOURS` (7 days) unsettled, a timer marks it `escalated` for the
operators' queue.

| action   | from            | to        | who                            |
|----------|-----------------|-----------|--------------------------------|
| escalate | open            | escalated | system (timer)                 |
| withdraw | open, escalated | withdrawn | brand, influencer — the opener |
| resolve  | open, escalated | resolved  | operator                       |
| chargeback_closed | open, escalated | withdrawn | system (Stripe closed it won) |

`withdraw` fires the contract's `resume` (→ active; milestones met meanwhile are released, the
contract re-evaluated); `resolve` fires the contract's `resolve` (→ resolved) and settles the
money as below.

A contract frozen by a **chargeback** (the payments code's `chargeback` transition) gets its
record from `open_for_chargeback` (opened by nobody, `escalated` at once), and is resolved the
same way — or closed by Stripe (`chargeback_closed`: the dispute won, the contract's
`chargeback_won` resumes it). app/services/money/stripe_disputes.py keeps Stripe's side of it.

Resolutions (the operator's note is the audit rows' reason, the operator their actor):
- `release`: every pending milestone → `releasable` with its `money.release_milestone` job
  (milestones already releasable keep the job they have);
- `full_refund`: every pending or releasable milestone → `cancelled`; one job
  `money.refund_contract` `{contract_id, amount: "unreleased", dispute_id, resolution,
  unreleased_amount, currency, milestone_ids}`;
- `partial_refund` (`refund_amount`, 1 … the unreleased amount): the same milestones →
  `cancelled`; one job `money.refund_contract` `{contract_id, amount: refund_amount, dispute_id,
  resolution, unreleased_amount, remainder_to_influencer, currency, milestone_ids}` — the money
  code refunds `amount` and releases the remainder to the influencer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidRequest, NotFound
from app.ids import new_id
from app.models import (
    Contract,
    Dispute,
    DisputeState,
    Milestone,
    MilestoneState,
    Resolution,
    StateTransition,
)
from app.models.contract import UNRELEASED_MILESTONE_STATES
from app.pagination import PageParams, SortKey, paginate
from app.services.delivery.completion import contract_milestone_ids, lock_contract, lock_milestones
from app.services.delivery.contracts import CONTRACTS, load_contract
from app.services.delivery.milestones import MILESTONES
from app.services.identity.tenancy import Party, party_filter, party_of
from app.services.workflow import events, outbox, timers
from app.services.workflow.effects import cancel_timer, set_columns
from app.services.workflow.jobs import REFUND_CONTRACT_TOPIC
from app.services.workflow.state_machine import Actor, StateMachine, Transition, TransitionContext

S = DisputeState
UNRELEASED = UNRELEASED_MILESTONE_STATES
Ctx = TransitionContext[Dispute]


@dataclass(frozen=True)
class Decision:
    """`fire(params=…)` of the dispute's `resolve`: the operator's decision."""

    resolution: Resolution = Resolution.release
    refund_amount: int | None = None
    note: str | None = None


class DisputeNotFound(NotFound):
    slug, title = "dispute-not-found", "No such dispute"


def the_opener(ctx: Ctx) -> bool | str:
    """only the party who opened the dispute withdraws it"""
    return ctx.actor.kind == ctx.obj.opened_by or "only the party who opened it can withdraw it"


async def _resume_contract(ctx: Ctx) -> None:
    contract = await lock_contract(ctx.session, ctx.obj.contract_id)
    await CONTRACTS.fire(
        ctx.session,
        contract,
        "resume",
        ctx.actor,
        ctx.now,
        reason=f"dispute {ctx.obj.id} withdrawn",
        data={"dispute_id": ctx.obj.id},
    )


def _record_resolution(ctx: Ctx) -> None:
    dispute = ctx.obj
    decision = ctx.params_as(Decision)
    dispute.resolution = decision.resolution
    dispute.refund_amount = decision.refund_amount
    dispute.note = decision.note
    dispute.resolved_by = ctx.actor.id
    dispute.resolved_at = ctx.now


async def _settle(ctx: Ctx) -> None:
    """Close the contract and write the money jobs the resolution calls for."""
    dispute = ctx.obj
    decision = ctx.params_as(Decision)
    resolution, note = decision.resolution, decision.note
    data = {
        "dispute_id": dispute.id,
        "resolution": resolution.value,
        "refund_amount": dispute.refund_amount,
    }
    contract = await lock_contract(ctx.session, dispute.contract_id)
    await CONTRACTS.fire(
        ctx.session, contract, "resolve", ctx.actor, ctx.now, reason=note, data=data
    )
    milestones = await lock_milestones(
        ctx.session, await contract_milestone_ids(ctx.session, contract.id)
    )
    unreleased = [m for m in milestones if m.state in UNRELEASED]
    if resolution is Resolution.release:
        for m in unreleased:
            if m.state == MilestoneState.pending.value:
                await MILESTONES.fire(
                    ctx.session, m, "release", ctx.actor, ctx.now, reason=note, data=data
                )
        return
    for m in unreleased:
        await MILESTONES.fire(ctx.session, m, "cancel", ctx.actor, ctx.now, reason=note, data=data)
    total = sum(m.amount for m in unreleased)
    payload: dict[str, Any] = {
        "contract_id": contract.id,
        "dispute_id": dispute.id,
        "resolution": resolution.value,
        "unreleased_amount": total,
        "currency": contract.currency,
        "milestone_ids": [m.id for m in unreleased],
    }
    if resolution is Resolution.full_refund:
        payload["amount"] = "unreleased"
    else:
        assert dispute.refund_amount is not None
        payload["amount"] = dispute.refund_amount
        payload["remainder_to_influencer"] = total - dispute.refund_amount
    await outbox.enqueue(
        ctx.session,
        REFUND_CONTRACT_TOPIC,
        payload,
        now=ctx.now,
        idempotency_key=f"{REFUND_CONTRACT_TOPIC}:{dispute.id}",
    )


async def _chargeback_won(ctx: Ctx) -> None:
    contract = await lock_contract(ctx.session, ctx.obj.contract_id)
    await CONTRACTS.fire(
        ctx.session,
        contract,
        "chargeback_won",
        ctx.actor,
        ctx.now,
        reason=f"Stripe closed the chargeback of {ctx.obj.id}",
        data={"dispute_id": ctx.obj.id},
    )


def _opened_for_chargeback(ctx: Ctx) -> bool | str:
    """only a dispute opened for a chargeback (a party's is theirs to settle)"""
    return ctx.obj.opened_by is None or "a party's dispute is settled by its parties"


DISPUTE_TRANSITIONS: list[Transition] = [
    Transition(
        "escalate",
        {S.open},
        S.escalated,
        actors={"system"},
        effects=[set_columns(escalated_at=lambda c: c.now)],
        description="Unsettled after the escalation delay: the operators take it up",
    ),
    Transition(
        "withdraw",
        {S.open, S.escalated},
        S.withdrawn,
        actors={"brand", "influencer"},
        guard=the_opener,
        effects=[cancel_timer(), set_columns(withdrawn_at=lambda c: c.now), _resume_contract],
        description="The party who opened it takes it back: the contract resumes",
    ),
    Transition(
        "resolve",
        {S.open, S.escalated},
        S.resolved,
        actors={"operator"},
        effects=[cancel_timer(), _record_resolution, _settle],
        description="An operator decides: release, partial refund or full refund",
    ),
    Transition(
        "chargeback_closed",
        {S.open, S.escalated},
        S.withdrawn,
        actors={"system"},
        guard=_opened_for_chargeback,
        effects=[cancel_timer(), set_columns(withdrawn_at=lambda c: c.now), _chargeback_won],
        description="Stripe closed the chargeback for the platform (won): the money it froze "
        "moves again",
    ),
]
DISPUTES = StateMachine(
    "dispute", Dispute, DISPUTE_TRANSITIONS, lock_parent=(Contract, "contract_id")
)


# --- parties --------------------------------------------------------------------------------


async def open_dispute(
    session: AsyncSession,
    user_id: str,
    contract_id: str,
    now: datetime,
    *,
    reason: str,
    details: str,
    escalation: timedelta,
) -> Dispute:
    contract, party = await load_contract(session, user_id, contract_id)
    before = contract.state
    dispute_id = new_id("dispute")
    await CONTRACTS.fire(
        session,
        contract,
        "dispute",
        party.actor,
        now,
        reason=reason,
        data={"dispute_id": dispute_id, "user_id": user_id},
    )
    dispute = Dispute(
        id=dispute_id,
        contract_id=contract.id,
        opened_by=party.side,
        opened_by_user=user_id,
        reason=reason,
        details=details,
        state=S.open,
        contract_state_before=before,
        escalates_at=now + escalation,
        currency=contract.currency,
        created_at=now,
    )
    session.add(dispute)
    await session.flush()
    await timers.schedule(
        session, DISPUTES.kind, dispute.id, "escalate", dispute.escalates_at, now=now
    )
    await events.emit(session, "dispute", dispute, "dispute.open", now)  # issue 14
    return dispute


async def open_for_chargeback(
    session: AsyncSession,
    contract_id: str,
    now: datetime,
    *,
    reason: str = "chargeback",
    details: str = "",
) -> Dispute:
    """The dispute record of a contract the payments code froze (`chargeback`: the brand's bank
    disputed the funding charge), so operators can resolve it like any other. It opens
    `escalated` (operators act on it, no party can withdraw it) and is idempotent: the contract's
    unsettled dispute, if it has one, is returned instead. The contract must be `disputed`."""
    existing = await session.scalar(
        select(Dispute).where(
            Dispute.contract_id == contract_id, Dispute.state.in_([S.open, S.escalated])
        )
    )
    if existing is not None:
        return existing
    contract = await lock_contract(session, contract_id)
    if contract.state != "disputed":
        raise ValueError(f"contract {contract_id} is {contract.state}, not disputed")
    before = await session.scalar(
        select(StateTransition.from_state)
        .where(
            StateTransition.kind == "contract",
            StateTransition.object_id == contract_id,
            StateTransition.to_state == "disputed",
        )
        .order_by(StateTransition.at.desc(), StateTransition.id.desc())
        .limit(1)
    )
    dispute = Dispute(
        contract_id=contract_id,
        opened_by=None,
        reason=reason,
        details=details,
        state=S.escalated,
        contract_state_before=before or "active",
        escalates_at=now,
        escalated_at=now,
        currency=contract.currency,
        created_at=now,
    )
    session.add(dispute)
    await session.flush()
    await events.emit(session, "dispute", dispute, "dispute.escalated", now)  # issue 14
    return dispute


async def load_dispute(
    session: AsyncSession, user_id: str, dispute_id: str
) -> tuple[Dispute, Party]:
    dispute = await session.scalar(
        select(Dispute)
        .join(Contract, Contract.id == Dispute.contract_id)
        .where(Dispute.id == dispute_id, party_filter(Contract, user_id))
        .execution_options(populate_existing=True)
    )
    if dispute is None:
        raise DisputeNotFound(f"No dispute {dispute_id} that you are a party to")
    contract = await session.get(Contract, dispute.contract_id)
    assert contract is not None
    return dispute, await party_of(session, user_id, contract.brand_id, contract.influencer_id)


async def list_contract_disputes(
    session: AsyncSession, user_id: str, contract_id: str, page: PageParams
) -> tuple[list[Dispute], str | None]:
    contract, _ = await load_contract(session, user_id, contract_id)
    return await paginate(
        session,
        select(Dispute).where(Dispute.contract_id == contract.id),
        [SortKey(Dispute.id, descending=True)],
        page,
    )


async def withdraw(
    session: AsyncSession, user_id: str, dispute_id: str, now: datetime, reason: str | None
) -> Dispute:
    dispute, party = await load_dispute(session, user_id, dispute_id)
    await DISPUTES.fire(
        session, dispute, "withdraw", party.actor, now, reason=reason, data={"user_id": user_id}
    )
    return dispute


# --- operators ------------------------------------------------------------------------------


async def get_dispute(session: AsyncSession, dispute_id: str) -> Dispute:
    dispute = await session.scalar(
        select(Dispute).where(Dispute.id == dispute_id).execution_options(populate_existing=True)
    )
    if dispute is None:
        raise DisputeNotFound(f"No dispute {dispute_id}")
    return dispute


async def list_disputes(
    session: AsyncSession, states: list[DisputeState], page: PageParams
) -> tuple[list[Dispute], str | None]:
    """The operators' queue, oldest first."""
    stmt = select(Dispute)
    if states:
        stmt = stmt.where(Dispute.state.in_(states))
    return await paginate(session, stmt, [SortKey(Dispute.id)], page)


async def unreleased_amount(session: AsyncSession, contract_id: str) -> int:
    amounts = await session.scalars(
        select(Milestone.amount).where(
            Milestone.contract_id == contract_id, Milestone.state.in_(UNRELEASED)
        )
    )
    return int(sum(amounts))


@dataclass(frozen=True)
class OperatorView:
    """What an operator sees beside a dispute: the contract's state and its money at stake."""

    contract: Contract
    milestones: list[Milestone]
    unreleased_amount: int


async def operator_view(session: AsyncSession, dispute: Dispute) -> OperatorView:
    contract = await session.get(Contract, dispute.contract_id, populate_existing=True)
    if contract is None:  # a dispute's contract is never deleted
        raise DisputeNotFound(f"The contract of dispute {dispute.id} is gone")
    milestones = list(
        await session.scalars(
            select(Milestone)
            .where(Milestone.contract_id == contract.id)
            .order_by(Milestone.position)
            .execution_options(populate_existing=True)
        )
    )
    unreleased = sum(m.amount for m in milestones if m.state in UNRELEASED)
    return OperatorView(contract, milestones, unreleased)


async def resolve(
    session: AsyncSession,
    operator_id: str,
    dispute_id: str,
    now: datetime,
    *,
    resolution: Resolution,
    refund_amount: int | None,
    note: str,
) -> Dispute:
    dispute = await get_dispute(session, dispute_id)
    actor = Actor("operator", operator_id)
    DISPUTES.check(dispute.state, "resolve", actor)  # a settled dispute is a 409 before a 422
    if resolution is Resolution.partial_refund:
        if refund_amount is None:
            raise InvalidRequest.field(
                "refund_amount", "is required with a partial_refund", "missing"
            )
        available = await unreleased_amount(session, dispute.contract_id)
        if refund_amount > available:
            raise InvalidRequest.field(
                "refund_amount",
                f"must be at most the {available} {dispute.currency} not yet released",
                "less_than_equal",
            )
    elif refund_amount is not None:
        raise InvalidRequest.field("refund_amount", "is only for a partial_refund", "not_allowed")
    await DISPUTES.fire(
        session,
        dispute,
        "resolve",
        actor,
        now,
        reason=note,
        data={"resolution": resolution.value, "refund_amount": refund_amount},
        params=Decision(resolution, refund_amount, note),
    )
    return dispute
