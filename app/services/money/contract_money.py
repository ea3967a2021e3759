"""What the money flows share: job topics, the milestone's money transitions, holds while a
contract is disputed, and the small helpers the jobs and webhook handlers use
(docs/payments.md, "Release and transfer").

The flows themselves: app/services/money/funding.py (the brand pays), app/services/money/releases.py
(release → transfer → payout), app/services/money/refunds.py (refunds, chargebacks),
money/earnings.py (what an influencer sees), money/reconcile.py (ledger vs Stripe).

**The milestone's money moves** go through delivery's milestone machine
(services/delivery/milestones.py, `MILESTONES`): delivery moves a milestone `pending → releasable`
(met) or `pending → refundable` (a late deliverable cancelled) and enqueues the money job; the
money jobs report back with `mark_released` (`releasable → released`) and `mark_refunded`
(`refundable → refunded`). A transfer does not move the milestone: for delivery the milestone is
settled once released; whether its money reached the influencer is the transfer's record
(`transfers`), shown as the milestone's `money_state` (`transferred`) in the earnings.

**The contract.** The money code adds `MONEY_CONTRACT_TRANSITIONS` to the contract's machine:
`chargeback` (active, delivered, completed → disputed; system) when Stripe opens a dispute on
the funding charge; and `cancel_funding` as an effect of `expire` and of `cancel` before
funding (the PaymentIntent is cancelled at Stripe).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Contract, Milestone
from app.services.workflow.jobs import CANCEL_FUNDING_TOPIC, JobContext
from app.services.workflow.outbox import enqueue
from app.services.workflow.state_machine import Transition, enqueue_job

logger = logging.getLogger("rapport.money")

# Milestone states (plain strings: the column has no CHECK; delivery adds its own).
PENDING = "pending"
RELEASABLE = "releasable"
REFUNDABLE = "refundable"
RELEASED = "released"
TRANSFERRED = "transferred"
REFUNDED = "refunded"

# The contract's state while its money is frozen (a dispute, or a chargeback).
DISPUTED = "disputed"

# Effect of the contract's `expire` and pre-funding `cancel`: cancel the PaymentIntent.
cancel_funding_effect = enqueue_job(
    CANCEL_FUNDING_TOPIC,
    lambda c: {"contract_id": c.obj.id},
    key=lambda c: f"{CANCEL_FUNDING_TOPIC}:{c.obj.id}",
)


async def _resume_after_chargeback(ctx: Any) -> None:
    # The same effect as a party withdrawing a dispute (delivery's `resume`).
    from app.services.delivery.contract_delivery import _after_resume

    await _after_resume(ctx)


MONEY_CONTRACT_TRANSITIONS: list[Transition] = [
    Transition(
        "chargeback",
        {"active", "delivered", "completed"},
        DISPUTED,
        actors={"system"},
        description="The brand's bank disputed the funding charge: the contract's money is frozen",
    ),
    Transition(
        "chargeback_won",
        {DISPUTED},
        "active",
        actors={"system"},
        effects=[_resume_after_chargeback],
        description="Stripe closed the dispute for the platform (won, or an inquiry closed): "
        "money may move again; the contract moves on as its deliverables and milestones say",
    ),
]


async def lock_milestone(session: AsyncSession, milestone_id: str) -> Milestone | None:
    """The milestone, fresh, with its row lock (PostgreSQL; SQLite serialises writers)."""
    return await session.scalar(
        select(Milestone)
        .where(Milestone.id == milestone_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def fresh_contract(
    session: AsyncSession, contract_id: str, *, lock: bool = False
) -> Contract | None:
    stmt = select(Contract).where(Contract.id == contract_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def hold(ctx: JobContext, topic: str, payload: dict[str, Any], why: str) -> None:
    """The contract is disputed: do nothing now and look again later, visibly (a new job of the
    same topic, due after `RAPPORT_MONEY_HOLD_RECHECK_MINUTES`; the log says why)."""
    settings = ctx.settings
    n = int(payload.get("hold", 0)) + 1
    subject = payload.get("milestone_id") or payload.get("contract_id") or ctx.job.id
    await enqueue(
        ctx.session,
        topic,
        {**payload, "hold": n},
        now=ctx.now,
        idempotency_key=f"{topic}:{subject}:hold:{n}",
        run_after=ctx.now + timedelta(minutes=settings.money_hold_recheck_minutes),
    )
    logger.warning(
        "money held: %s",
        why,
        extra={"job_id": ctx.job.id, "topic": topic, "subject": subject, "hold": n},
    )


def stripe_id(value: Any) -> str | None:
    """An expandable Stripe field's id (`"ch_…"` or `{"id": "ch_…", …}`)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) else None
    found = getattr(value, "id", None)
    return found if isinstance(found, str) else None


def charge_of(intent: Any) -> str | None:
    """The succeeded charge of a PaymentIntent (dict or SDK object), API 2020-08-27 or later."""
    data = intent if isinstance(intent, dict) else intent.to_dict()
    latest = stripe_id(data.get("latest_charge"))
    if latest:
        return latest
    charges = (data.get("charges") or {}).get("data") or []
    for charge in charges:
        if charge.get("status") == "succeeded" or charge.get("paid"):
            return charge.get("id")  # type: ignore[no-any-return]
    return charges[0].get("id") if charges else None
