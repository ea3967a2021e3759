"""Refunds and chargebacks (docs/payments.md, "Refunds" and "Disputes").

`money.refund_milestone` {milestone_id} — delivery enqueues it when a cancelled late
deliverable makes its milestone `refundable`: refund the milestone's amount, then
`refundable → refunded` (delivery's `mark_refunded`). Stripe key `refund:<contract>:<milestone>`.

`money.refund_contract` {contract_id, amount: int | "unreleased", include_fee?, reason?} — on
cancellation after funding and on an operator's dispute resolution: refund `amount` of the
escrow, or everything not released yet; the brand fee only with `include_fee` (a payment that
landed after the contract had expired). Delivery settles the milestones themselves (its
cancellation cancels them). A partial refund that leaves the rest to the influencer
(`remainder_to_influencer`, `milestone_ids`: a dispute's resolution) releases that rest against
those milestones in order and transfers it. Stripe key
`refund:<contract>:<n>` — the contract's n-th refund.

Only unreleased money is ever refunded, and a refund can never race a release for the same
escrow: each refund is **reserved first** — in one transaction, under the contract's ledger lock,
the ledger's `refund` entry (key `refund:<rfd id>`, which refuses more than the escrow holds)
and a `refunds` row (`pending`, its Stripe key fixed) — then Stripe is called with that key, then
the row is marked `succeeded`. A retry finds the row (by the job's business key) and sends the
same key again. When Stripe refuses the refund for good (a disputed charge …) the reservation is
undone by an `adjustment` entry that puts the money back into escrow, the row is `failed` with
Stripe's message, and the job is dead-lettered for an operator.

`charge.refunded` reconciles: each refund of the charge is matched to our row (by id, or by the
`rapport_refund_id` metadata when the webhook beats the job's record step); a refund made outside
Rapport (the Stripe dashboard) is booked from escrow first, then from the fee, and recorded.

Disputes on the funding charge (`charge.dispute.*`): app/services/money/stripe_disputes.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ids import new_id
from app.integrations.stripe import StripeGateway, StripeRequestRejected, idempotency_key
from app.models import Milestone, Payment, Refund
from app.models.contract import MilestoneState
from app.models.ledger import EntryKind
from app.models.stripe_event import StripeEventOutcome
from app.services.delivery.milestones import MILESTONES
from app.services.money import ledger, settlement
from app.services.money.contract_money import fresh_contract, lock_milestone
from app.services.money.releases import transfer_job_key
from app.services.money.stripe_events import EventContext, Handled
from app.services.workflow.jobs import TRANSFER_TOPIC, ClaimedJob, JobContext, PermanentJobError
from app.services.workflow.outbox import enqueue
from app.services.workflow.state_machine import Actor

logger = logging.getLogger("rapport.money.refunds")

UNRELEASED = "unreleased"


@dataclass(frozen=True)
class _Reserved:
    refund_id: str
    contract_id: str
    milestone_id: str | None
    payment_intent_id: str
    amount: int
    fee_amount: int
    currency: str
    status: str
    stripe_key: str
    stripe_refund_id: str | None


async def _succeeded_payment(session: AsyncSession, contract_id: str) -> Payment:
    payment = await session.scalar(
        select(Payment).where(Payment.contract_id == contract_id, Payment.status == "succeeded")
    )
    if payment is None or payment.charge_id is None:
        raise PermanentJobError(f"{contract_id} was never funded: nothing to refund")
    return payment


async def _reserve(
    session: AsyncSession,
    *,
    contract_id: str,
    request_key: str,
    amount: int | str,
    include_fee: bool,
    milestone_id: str | None,
    reason: str | None,
    stripe_key: Callable[[int], str],
) -> _Reserved | None:
    """Book the refund and write its row before Stripe is called (see the module docstring);
    the row already reserved for `request_key`, if any. None: nothing left to refund."""
    row = await session.scalar(
        select(Refund)
        .where(Refund.request_key == request_key)
        .execution_options(populate_existing=True)
    )
    payment = await _succeeded_payment(session, contract_id)
    if row is None:
        money = await ledger.contract_balances(session, contract_id)
        if amount == UNRELEASED:
            value = money.in_escrow
        elif isinstance(amount, int) and not isinstance(amount, bool) and amount >= 0:
            value = amount
        else:
            raise PermanentJobError(f"refund amount must be an integer or 'unreleased': {amount}")
        fee = money.fees if include_fee else 0
        if value + fee == 0:
            return None
        refund_id = new_id("refund")
        try:
            # Locks the contract's ledger row and refuses more than the escrow holds.
            await ledger.book_refund(
                session,
                contract_id,
                value,
                payment.currency,
                refund_id,
                fee_amount=fee,
                memo=reason or "",
            )
        except (ledger.InsufficientEscrow, ledger.RefundExceedsCharge) as exc:
            if amount == UNRELEASED:
                raise  # a release got there first: retry, and refund what is left then
            raise PermanentJobError(f"cannot refund {value} of {contract_id}: {exc}") from exc
        seq = (
            await session.scalar(
                select(func.coalesce(func.max(Refund.seq), 0)).where(
                    Refund.contract_id == contract_id
                )
            )
            or 0
        ) + 1
        row = Refund(
            id=refund_id,
            contract_id=contract_id,
            milestone_id=milestone_id,
            seq=seq,
            request_key=request_key,
            stripe_idempotency_key=stripe_key(seq),
            amount=value,
            fee_amount=fee,
            currency=payment.currency,
            status="pending",
            reason=reason,
        )
        session.add(row)
        await session.flush()
    return _Reserved(
        refund_id=row.id,
        contract_id=contract_id,
        milestone_id=row.milestone_id,
        payment_intent_id=payment.payment_intent_id,
        amount=row.amount,
        fee_amount=row.fee_amount,
        currency=row.currency,
        status=row.status,
        stripe_key=row.stripe_idempotency_key,
        stripe_refund_id=row.stripe_refund_id,
    )


async def _undo(ctx: JobContext, reserved: _Reserved, why: str) -> None:
    """Stripe refused for good: put the money back into escrow (and fees), visibly."""
    async with ctx.transaction() as s:
        row = await s.get(Refund, reserved.refund_id, with_for_update=True)
        assert row is not None
        row.status, row.failure, row.updated_at = "failed", why, ctx.now
        lines = [
            (ledger.escrow_account(reserved.contract_id), -reserved.amount, reserved.currency),
            (ledger.FEES, -reserved.fee_amount, reserved.currency),
            (ledger.STRIPE_BALANCE, reserved.amount + reserved.fee_amount, reserved.currency),
        ]
        await ledger.post_entry(
            s,
            EntryKind.adjustment,
            [line for line in lines if line[1] != 0],
            f"refund_failed:{reserved.refund_id}",
            contract_id=reserved.contract_id,
            external_ref=reserved.refund_id,
            memo=f"Stripe refused refund {reserved.refund_id}: {why}",
            now=ctx.now,
        )


async def _find_refund(gateway: StripeGateway, reserved: _Reserved) -> Any | None:
    """A refund of ours Stripe already made (its key may be forgotten after 24 h)."""
    intent = await gateway.retrieve_payment_intent(reserved.payment_intent_id)
    for charge in (intent.to_dict().get("charges") or {}).get("data") or []:
        for refund in (charge.get("refunds") or {}).get("data") or []:
            if (refund.get("metadata") or {}).get("rapport_refund_id") == reserved.refund_id:
                return refund
    return None


async def _refund_at_stripe(
    ctx: JobContext, job: ClaimedJob, reserved: _Reserved
) -> dict[str, Any] | None:
    gateway = ctx.stripe()
    if reserved.status != "pending":
        return None
    found = await _find_refund(gateway, reserved) if job.attempts > 1 else None
    if found is not None:
        return dict(found)
    try:
        refund = await gateway.create_refund(
            payment_intent=reserved.payment_intent_id,
            amount=reserved.amount + reserved.fee_amount,
            reason="requested_by_customer",
            metadata={
                "rapport_refund_id": reserved.refund_id,
                "rapport_contract_id": reserved.contract_id,
                **(
                    {"rapport_milestone_id": reserved.milestone_id} if reserved.milestone_id else {}
                ),
            },
            idempotency_key=reserved.stripe_key,
        )
    except StripeRequestRejected as exc:
        await _undo(ctx, reserved, exc.message)
        raise PermanentJobError(
            f"Stripe refused refund {reserved.refund_id}: {exc.message}; escrow restored"
        ) from exc
    return refund.to_dict()


async def _book_settlement(
    ctx: JobContext, reserved: _Reserved, stripe_refund: dict[str, Any] | None
) -> None:
    """A refund of a charge Stripe settled in another currency leaves the platform's balance in
    that currency (at the charge's rate): book the conversion (app/services/money/settlement.py)."""
    if stripe_refund is None or not stripe_refund.get("id"):
        return
    gateway = ctx.stripe()
    await settlement.book_refund_settlement(
        ctx.session,
        gateway,
        stripe_refund["id"],
        amount=reserved.amount + reserved.fee_amount,
        currency=reserved.currency,
        now=ctx.now,
    )


async def _mark_refunded(
    session: AsyncSession, refund_id: str, stripe_refund: dict[str, Any] | None, now: Any
) -> None:
    row = await session.get(Refund, refund_id, with_for_update=True, populate_existing=True)
    assert row is not None
    if stripe_refund is not None:
        row.stripe_refund_id = row.stripe_refund_id or stripe_refund["id"]
        status = stripe_refund.get("status") or "succeeded"
        row.status = "succeeded" if status in ("succeeded", "pending") else status
        row.updated_at = now


async def refund_milestone(ctx: JobContext, job: ClaimedJob) -> None:
    milestone_id = job.payload["milestone_id"]
    async with ctx.transaction() as s:
        milestone = await s.get(Milestone, milestone_id, populate_existing=True)
        if milestone is None:
            raise PermanentJobError(f"no milestone {milestone_id}")
        state, contract_id, amount = milestone.state, milestone.contract_id, milestone.amount
        existing = await s.scalar(
            select(Refund.id).where(Refund.request_key == f"milestone:{milestone_id}")
        )
        if state != MilestoneState.refundable.value and existing is None:
            logger.warning(
                "nothing to refund", extra={"milestone": milestone_id, "milestone_state": state}
            )
            return
        reserved = await _reserve(
            s,
            contract_id=contract_id,
            request_key=f"milestone:{milestone_id}",
            amount=amount,
            include_fee=False,
            milestone_id=milestone_id,
            reason=job.payload.get("reason") or "deliverable cancelled",
            stripe_key=lambda _n: idempotency_key("refund", contract_id, milestone_id),
        )
    if reserved is None:
        return
    stripe_refund = await _refund_at_stripe(ctx, job, reserved)
    session = ctx.session
    await fresh_contract(session, contract_id, lock=True)  # contract, then milestone
    await _mark_refunded(session, reserved.refund_id, stripe_refund, ctx.now)
    await _book_settlement(ctx, reserved, stripe_refund)
    locked = await lock_milestone(session, milestone_id)
    if locked is not None and locked.state == MilestoneState.refundable.value:
        await MILESTONES.fire(session, locked, "mark_refunded", Actor("system", job.id), ctx.now)


async def refund_contract(ctx: JobContext, job: ClaimedJob) -> None:
    contract_id = job.payload["contract_id"]
    amount = job.payload.get("amount", UNRELEASED)
    request_key = f"job:{job.idempotency_key or job.id}"
    async with ctx.transaction() as s:
        if await fresh_contract(s, contract_id) is None:
            raise PermanentJobError(f"no contract {contract_id}")
        reserved = await _reserve(
            s,
            contract_id=contract_id,
            request_key=request_key,
            amount=amount,
            include_fee=bool(job.payload.get("include_fee")),
            milestone_id=None,
            reason=job.payload.get("reason"),
            stripe_key=lambda n: idempotency_key("refund", contract_id, n),
        )
    if reserved is not None:
        stripe_refund = await _refund_at_stripe(ctx, job, reserved)
        await _mark_refunded(ctx.session, reserved.refund_id, stripe_refund, ctx.now)
        await _book_settlement(ctx, reserved, stripe_refund)
    remainder = int(job.payload.get("remainder_to_influencer") or 0)
    if remainder > 0:
        await _release_remainder(
            ctx, contract_id, job.payload.get("milestone_ids") or [], remainder
        )


async def _release_remainder(
    ctx: JobContext, contract_id: str, milestone_ids: list[str], remainder: int
) -> None:
    """A dispute resolved with a partial refund: the rest of the unreleased money goes to the
    influencer. It is released against the settled milestones in order (each up to its
    amount; ledger key `release:<mst>`) and each part transferred like a milestone
    (`settlement` transfer jobs, key `transfer:<mst>`)."""
    session = ctx.session
    contract = await fresh_contract(session, contract_id, lock=True)
    assert contract is not None
    rows = list(
        await session.scalars(
            select(Milestone)
            .where(Milestone.id.in_(milestone_ids), Milestone.contract_id == contract_id)
            .order_by(Milestone.position)
        )
    )
    left = remainder
    for milestone in rows:
        part = min(left, milestone.amount)
        if part <= 0:
            break
        await ledger.book_release(
            session,
            contract_id,
            milestone.id,
            part,
            milestone.currency,
            memo="dispute settlement: the influencer's part",
            now=ctx.now,
        )
        await enqueue(
            session,
            TRANSFER_TOPIC,
            {"milestone_id": milestone.id, "settlement": True},
            now=ctx.now,
            idempotency_key=transfer_job_key(milestone.id),
        )
        left -= part
    if left > 0:
        raise PermanentJobError(
            f"{left} of the {remainder} for the influencer has no milestone to release it on"
        )


# --- charge.refunded ------------------------------------------------------------------------


async def _payment_by_charge(session: AsyncSession, charge_id: str | None) -> Payment | None:
    if not charge_id:
        return None
    return await session.scalar(select(Payment).where(Payment.charge_id == charge_id))


async def charge_refunded(ctx: EventContext) -> Handled:
    session, charge = ctx.session, ctx.data_object
    payment = await _payment_by_charge(session, charge.get("id"))
    if payment is None:
        return Handled(StripeEventOutcome.ignored, f"{charge.get('id')} funds no Rapport contract")
    matched, booked, notes = 0, 0, []
    for refund in ((charge.get("refunds") or {}).get("data")) or []:
        ours = (refund.get("metadata") or {}).get("rapport_refund_id")
        row = await session.scalar(
            select(Refund)
            .where((Refund.stripe_refund_id == refund["id"]) | (Refund.id == (ours or "")))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is not None:
            row.stripe_refund_id = row.stripe_refund_id or refund["id"]
            if row.status == "pending":
                row.status, row.updated_at = "succeeded", ctx.now
            matched += 1
            continue
        note = await _book_outside_refund(ctx, payment, refund)
        booked += 1
        if note:
            notes.append(note)
    summary = f"{matched} refund(s) of ours confirmed, {booked} made outside Rapport booked"
    return Handled(StripeEventOutcome.applied, "; ".join([summary, *notes]))


async def _book_outside_refund(
    ctx: EventContext, payment: Payment, refund: dict[str, Any]
) -> str | None:
    session = ctx.session
    amount = int(refund["amount"])
    money = await ledger.contract_balances(session, payment.contract_id)
    from_escrow = min(amount, money.in_escrow)
    from_fee = min(amount - from_escrow, money.fees)
    refund_id = new_id("refund")
    if from_escrow + from_fee > 0:
        await ledger.book_refund(
            session,
            payment.contract_id,
            from_escrow,
            payment.currency,
            refund_id,
            fee_amount=from_fee,
            memo=f"refund {refund['id']} made outside Rapport",
            now=ctx.now,
        )
        gateway = settlement.gateway_of(ctx.job)
        # Settled in another currency: what Stripe took from the balance for it.
        if gateway is not None:
            await settlement.book_refund_settlement(
                session,
                gateway,
                refund["id"],
                amount=from_escrow + from_fee,
                currency=payment.currency,
                now=ctx.now,
            )
    seq = (
        await session.scalar(
            select(func.coalesce(func.max(Refund.seq), 0)).where(
                Refund.contract_id == payment.contract_id
            )
        )
        or 0
    ) + 1
    session.add(
        Refund(
            id=refund_id,
            contract_id=payment.contract_id,
            seq=seq,
            request_key=f"stripe:{refund['id']}",
            stripe_idempotency_key=f"outside:{refund['id']}",
            amount=from_escrow,
            fee_amount=from_fee,
            currency=payment.currency,
            status="succeeded",
            stripe_refund_id=refund["id"],
            reason="made outside Rapport (Stripe dashboard)",
            created_at=ctx.now,
            updated_at=ctx.now,
        )
    )
    await session.flush()
    rest = amount - from_escrow - from_fee
    if rest:
        logger.error("refund beyond escrow and fees", extra={"stripe_refund": refund["id"]})
        return f"{refund['id']}: {rest} beyond escrow and fees is not booked (reconcile)"
    return None
