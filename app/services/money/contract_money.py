"""What the money flows share: holds while a contract is disputed, and the small helpers the
jobs and webhook handlers use (docs/payments.md, "Release and transfer").

The flows themselves: app/services/money/funding.py (the brand pays), app/services/money/releases.py
(release → transfer → payout), app/services/money/refunds.py (refunds, chargebacks),
money/earnings.py (what an influencer sees), money/reconcile.py (ledger vs Stripe). Their job
topics are in app/services/workflow/jobs.py; the states they read (`ContractState.disputed`,
`MilestoneState.releasable` …) in app/models/contract.py.

**The milestone's money moves** go through delivery's milestone machine
(services/delivery/milestones.py, `MILESTONES`): delivery moves a milestone `pending → releasable`
(met) or `pending → refundable` (a late deliverable cancelled) and enqueues the money job; the
money jobs report back with `mark_released` (`releasable → released`) and `mark_refunded`
(`refundable → refunded`). A transfer does not move the milestone: for delivery the milestone is
settled once released; whether its money reached the influencer is the transfer's record
(`transfers`), shown as the milestone's `money_state` (`transferred`) in the earnings.

**The contract.** Its whole table is delivery's (services/delivery/contracts.py): the money code
fires `fund` when the payment succeeded and `chargeback` when Stripe opens a dispute on the
funding charge, and reacts to the contract's moves through the jobs they enqueue
(`money.cancel_funding` when it expires or is cancelled before funding, `money.refund_contract`
when a funded one is cancelled) — it adds no rows.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Contract, Milestone
from app.services.workflow.jobs import JobContext
from app.services.workflow.outbox import enqueue

logger = logging.getLogger("rapport.money")


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
            charge_id: str | None = charge.get("id")
            return charge_id
    return charges[0].get("id") if charges else None
