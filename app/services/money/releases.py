"""Release, transfer, payout: a met milestone's money goes to the influencer
(docs/payments.md, "Release and transfer").

`money.release_milestone` {milestone_id} — enqueued by delivery when a milestone becomes
`releasable`. Database only, one transaction: lock the milestone; if the contract is
`disputed`, hold (look again later, visibly); else book the ledger's release (escrow →
influencer payable, key `release:<mst>`), move the milestone `releasable → released`
(delivery's `mark_released`), and if the
influencer's account can receive transfers enqueue `money.transfer_milestone`; otherwise the
milestone waits in `released` (`waiting_for: payouts_enabled`) until `account.updated` enables
the account and enqueues its waiting transfers. Twenty concurrent runs release once: the
milestone's row lock and compare-and-set, and the ledger's key.

`money.transfer_milestone` {milestone_id} — claim → call → record:
1. a short read: the milestone (`released`?), contract, funding charge, payout account;
2. the Stripe Transfer — amount = the milestone's, destination = the connected account,
   `transfer_group` = the contract, `source_transaction` = the funding charge, metadata naming
   the milestone — with the key `transfer:<mst>:<acct>` on every attempt of every job (the
   destination in it: after "No such destination" the account is marked unknown and the
   transfer waits for the creator's new account, `enqueue_waiting_transfers`). Stripe forgets
   keys after 24 h, so a job that may have posted before (a retry, a re-enqueued job) first
   looks the transfer up (`list_transfers(transfer_group=…)`, metadata `rapport_milestone_id`);
3. record in the job's transaction: the `transfers` row (the milestone's money state is then
   `transferred`), the ledger's transfer (key `transfer:<mst>`), and with
   `RAPPORT_PAYOUT_MODE=per_transfer` the payout job. A crash between 2 and 3 re-runs the job
   with the same key: one transfer.

`money.payout_transfer` {transfer_id} (per_transfer mode): a payout of the transferred amount
from the connected account to its bank (key `payout:<trf>`), recorded in `payouts`.

Webhooks: `transfer.reversed` books each reversal (`book_transfer_reversal`, key
`transfer_reversal:<trr>`); `transfer.created` / `transfer.updated` are checked against our
rows; `payout.paid` / `payout.failed` (Connect events) record the payout per influencer, with
Stripe's failure code and message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import add_unique
from app.integrations.stripe import (
    StripeGateway,
    StripeRequestRejected,
    idempotency_key,
)
from app.models import (
    Contract,
    Job,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    Milestone,
    Payment,
    PayoutAccount,
    Transfer,
)
from app.models.contract import ContractState, MilestoneState
from app.models.ledger import EntryKind
from app.models.money import Payout
from app.models.stripe_event import StripeEventOutcome
from app.services.delivery.milestones import MILESTONES
from app.services.money import ledger, payouts, settlement
from app.services.money.contract_money import fresh_contract, hold, lock_milestone, stripe_id
from app.services.money.stripe_events import EventContext, Handled, follow_newest, status_rank
from app.services.workflow import events
from app.services.workflow.jobs import (
    PAYOUT_TOPIC,
    RELEASE_TOPIC,
    TRANSFER_TOPIC,
    ClaimedJob,
    JobContext,
    PermanentJobError,
)
from app.services.workflow.outbox import enqueue
from app.services.workflow.state_machine import Actor

logger = logging.getLogger("rapport.money.releases")

# Stripe keeps idempotency keys for 24 h; a job older than this may find its key forgotten.
STRIPE_KEY_TTL = timedelta(hours=24)

_LEDGER_REFUSALS = (
    ledger.InsufficientEscrow,
    ledger.ReleaseExceedsFunding,
    ledger.AlreadyReleased,
    ledger.CurrencyMismatch,
    ledger.NotReleased,
    ledger.AlreadyTransferred,
    ledger.TransferExceedsRelease,
)


def transfer_job_key(milestone_id: str, why: str | None = None) -> str:
    return f"{TRANSFER_TOPIC}:{milestone_id}" + (f":{why}" if why else "")


async def enqueue_release(
    session: AsyncSession, milestone_id: str, now: datetime, *, key: str | None = None
) -> Job:
    """For delivery (and tests): release this milestone's money (it must be `releasable`)."""
    return await enqueue(
        session,
        RELEASE_TOPIC,
        {"milestone_id": milestone_id},
        now=now,
        idempotency_key=key or f"{RELEASE_TOPIC}:{milestone_id}",
    )


# --- release --------------------------------------------------------------------------------


async def release_milestone(ctx: JobContext, job: ClaimedJob) -> None:
    milestone_id = job.payload["milestone_id"]
    session = ctx.session
    # Lock order (delivery's too): the contract, its milestones, then the ledger.
    contract_id = await session.scalar(
        select(Milestone.contract_id).where(Milestone.id == milestone_id)
    )
    if contract_id is None:
        raise PermanentJobError(f"no milestone {milestone_id}")
    contract = await fresh_contract(session, contract_id, lock=True)
    milestone = await lock_milestone(session, milestone_id)
    assert contract is not None and milestone is not None
    if milestone.state == MilestoneState.released.value:
        # Released by an earlier run: make sure its transfer is on its way (idempotent).
        await _enqueue_transfer_if_possible(session, contract, milestone_id, ctx.now)
        return
    if milestone.state != MilestoneState.releasable.value:
        logger.warning(
            "nothing to release",
            extra={"milestone": milestone_id, "milestone_state": milestone.state},
        )
        return
    if contract.state == ContractState.disputed.value:
        await hold(
            ctx, RELEASE_TOPIC, job.payload, f"{contract.id} is disputed: {milestone_id} waits"
        )
        return
    try:
        await ledger.book_release(
            session,
            contract.id,
            milestone_id,
            milestone.amount,
            milestone.currency,
            memo=f"milestone {milestone.position} of {contract.id}",
            now=ctx.now,
        )
    except _LEDGER_REFUSALS as exc:
        raise PermanentJobError(f"the ledger refused to release {milestone_id}: {exc}") from exc
    await MILESTONES.fire(session, milestone, "mark_released", Actor("system", job.id), ctx.now)
    await _enqueue_transfer_if_possible(session, contract, milestone_id, ctx.now)
    logger.info("milestone released", extra={"milestone": milestone_id, "contract": contract.id})


async def _enqueue_transfer_if_possible(
    session: AsyncSession, contract: Contract, milestone_id: str, now: datetime
) -> bool:
    account = await payouts.payout_account_for(session, contract.influencer_id)
    if not payouts.can_receive_transfers(account):
        logger.info(
            "released; waiting for payouts to be enabled",
            extra={"milestone": milestone_id, "influencer": contract.influencer_id},
        )
        return False
    await enqueue(
        session,
        TRANSFER_TOPIC,
        {"milestone_id": milestone_id},
        now=now,
        idempotency_key=transfer_job_key(milestone_id),
    )
    return True


# --- transfer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TransferPlan:
    milestone_id: str
    contract_id: str
    contract_state: str
    influencer_id: str
    amount: int
    currency: str
    charge_id: str
    destination: str | None
    can_receive: bool
    job_created_at: datetime | None


async def released_amount(session: AsyncSession, milestone_id: str) -> int:
    """What the ledger released for a milestone (0: nothing)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(JournalLine.amount), 0))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .join(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
        .where(
            JournalEntry.milestone_id == milestone_id,
            JournalEntry.kind == EntryKind.release,
            LedgerAccount.code.like(f"{ledger.PAYABLE}:%"),
        )
    )
    return -int(total or 0)


async def _plan_transfer(
    session: AsyncSession, milestone_id: str, job_id: str, settlement: bool = False
) -> _TransferPlan | str:
    """What the transfer needs, or why there is nothing to do."""
    milestone = await session.get(Milestone, milestone_id, populate_existing=True)
    if milestone is None:
        raise PermanentJobError(f"no milestone {milestone_id}")
    amount = milestone.amount
    if milestone.state != MilestoneState.released.value:
        # A dispute settled partly for the influencer releases part of a cancelled milestone
        # (app/services/money/refunds.py): the ledger's release says how much.
        amount = await released_amount(session, milestone_id) if settlement else 0
        if amount <= 0:
            return f"the milestone is {milestone.state}, not released"
    if await session.scalar(select(Transfer.id).where(Transfer.milestone_id == milestone_id)):
        return "already transferred"
    contract = await session.get(Contract, milestone.contract_id, populate_existing=True)
    assert contract is not None
    charge_id = await session.scalar(
        select(Payment.charge_id).where(
            Payment.contract_id == contract.id, Payment.status == "succeeded"
        )
    )
    if charge_id is None:
        raise PermanentJobError(f"{contract.id} has no succeeded funding charge")
    account = await payouts.payout_account_for(session, contract.influencer_id)
    created_at = await session.scalar(select(Job.created_at).where(Job.id == job_id))
    return _TransferPlan(
        milestone_id=milestone_id,
        contract_id=contract.id,
        contract_state=contract.state,
        influencer_id=contract.influencer_id,
        amount=amount,
        currency=milestone.currency,
        charge_id=charge_id,
        destination=account.stripe_account_id if account is not None else None,
        can_receive=payouts.can_receive_transfers(account),
        job_created_at=created_at,
    )


def _may_have_posted_before(ctx: JobContext, job: ClaimedJob, plan: _TransferPlan) -> bool:
    """True when an earlier attempt (of this job or an earlier one) may have created the
    transfer under a key Stripe has forgotten since: look it up before posting again."""
    if job.attempts > 1 or job.idempotency_key != transfer_job_key(plan.milestone_id):
        return True
    created = plan.job_created_at
    return created is not None and ctx.now - created >= STRIPE_KEY_TTL - timedelta(hours=1)


async def find_transfer(gateway: StripeGateway, contract_id: str, milestone_id: str) -> Any | None:
    """The Stripe transfer of a milestone, found by its group and metadata (oldest first)."""
    found = [
        t
        for t in await gateway.list_transfers(transfer_group=contract_id)
        if (t.to_dict().get("metadata") or {}).get("rapport_milestone_id") == milestone_id
    ]
    if len(found) > 1:
        logger.error(
            "more than one Stripe transfer for a milestone",
            extra={"milestone": milestone_id, "transfers": [t.id for t in found]},
        )
    return min(found, key=lambda t: (t.created, t.id)) if found else None


async def transfer_milestone(ctx: JobContext, job: ClaimedJob) -> None:
    milestone_id = job.payload["milestone_id"]
    gateway = ctx.stripe()
    async with ctx.transaction() as s:
        plan = await _plan_transfer(s, milestone_id, job.id, bool(job.payload.get("settlement")))
    if isinstance(plan, str):
        logger.info("no transfer: %s", plan, extra={"milestone": milestone_id})
        return
    if plan.contract_state == ContractState.disputed.value:
        await hold(ctx, TRANSFER_TOPIC, job.payload, f"{plan.contract_id} is disputed")
        return
    if not plan.can_receive or plan.destination is None:
        logger.info("transfer waits for payouts_enabled", extra={"milestone": milestone_id})
        return
    transfer = None
    if _may_have_posted_before(ctx, job, plan):
        transfer = await find_transfer(gateway, plan.contract_id, milestone_id)
    if transfer is None:
        # In the currency Stripe settled the charge in, converted at the charge's rate
        # (services/money/settlement.py): a `source_transaction` transfer in any other is refused.
        settled = await settlement.charge_settlement(gateway, plan.charge_id)
        try:
            transfer = await gateway.create_transfer(
                amount=settlement.to_settlement(plan.amount, plan.currency, settled),
                currency=settled.currency,
                destination=plan.destination,
                transfer_group=plan.contract_id,
                source_transaction=plan.charge_id,
                description=f"Rapport milestone {milestone_id}",
                metadata={
                    "rapport_milestone_id": milestone_id,
                    "rapport_contract_id": plan.contract_id,
                    "rapport_influencer_id": plan.influencer_id,
                },
                # The destination is part of the key: a creator who onboarded again onto a new
                # account (Stripe forgot the old one) gets the transfer there, not the stored
                # "No such destination" of the old key.
                idempotency_key=idempotency_key("transfer", milestone_id, plan.destination),
            )
        except StripeRequestRejected as exc:
            if exc.code == "insufficient_capabilities_for_transfer":
                # Stripe disabled the account since we last heard; account.updated re-enqueues.
                logger.warning("transfer refused: account cannot receive transfers yet")
                return
            if payouts.account_unknown(exc):
                # "No such destination": Stripe no longer knows the account (a wiped sandbox, a
                # key of another Stripe account). Not the money's fault: the account is marked
                # unknown, the creator is told to onboard again, and the account.updated of
                # the new account enqueues this transfer again (enqueue_waiting_transfers).
                await payouts.mark_account_unknown(ctx.session, plan.destination)
                logger.warning(
                    "transfer waits: Stripe does not know the destination account",
                    extra={"milestone": milestone_id, "stripe_account": plan.destination},
                )
                return
            raise PermanentJobError(
                f"Stripe refused the transfer of {milestone_id}: {exc.message}"
            ) from exc
    await record_transfer(ctx, plan, transfer)


def _in_deal_currency(settled: int, settled_total: int, deal_total: int) -> int:
    """A part of a transfer Stripe reports in the settlement currency (a reversal), in the
    deal's currency: proportionally, half up (the whole is exact)."""
    if settled_total == deal_total or settled_total <= 0:
        return settled
    return (2 * settled * deal_total + settled_total) // (2 * settled_total)


async def record_transfer(ctx: JobContext, plan: _TransferPlan, transfer: Any) -> None:
    session = ctx.session
    contract = await fresh_contract(session, plan.contract_id, lock=True)
    milestone = await lock_milestone(session, plan.milestone_id)
    assert contract is not None and milestone is not None
    row = await session.scalar(
        select(Transfer)
        .where(Transfer.milestone_id == plan.milestone_id)
        .execution_options(populate_existing=True)
    )
    if row is None:
        row = Transfer(
            milestone_id=plan.milestone_id,
            contract_id=plan.contract_id,
            influencer_id=plan.influencer_id,
            stripe_transfer_id=transfer.id,
            destination=stripe_id(transfer.destination) or plan.destination or "",
            # The deal's currency (what the milestone is worth to the creator); the settled
            # amount is Stripe's transfer and the ledger's `conversion` entry.
            amount=plan.amount,
            currency=plan.currency,
            amount_reversed=_in_deal_currency(
                transfer.to_dict().get("amount_reversed") or 0, transfer.amount, plan.amount
            ),
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        session.add(row)
        await session.flush()
        # issue 14: the public event (for the contract's parties)
        await events.emit(session, "transfer", row, "transfer.created", ctx.now)
    elif row.stripe_transfer_id != transfer.id:
        logger.error(
            "a second Stripe transfer for a milestone",
            extra={"milestone": plan.milestone_id, "ours": row.stripe_transfer_id},
        )
        raise PermanentJobError(
            f"{plan.milestone_id} already has transfer {row.stripe_transfer_id}, "
            f"Stripe returned {transfer.id}: see `rapport reconcile`"
        )
    await ledger.book_transfer(
        session,
        plan.contract_id,
        plan.milestone_id,
        row.amount,
        row.currency,
        row.stripe_transfer_id,
        memo=f"to {row.destination}",
        now=ctx.now,
    )
    txn = stripe_id(transfer.to_dict().get("balance_transaction"))
    if txn and str(transfer.currency).upper() != row.currency:
        await ledger.book_conversion(
            session,
            amount=row.amount,
            currency=row.currency,
            settled_amount=int(transfer.amount),
            settled_currency=str(transfer.currency),
            incoming=False,
            txn_id=txn,
            source=row.stripe_transfer_id,
            milestone_id=row.milestone_id,
            memo=f"{row.stripe_transfer_id} sent in {str(transfer.currency).upper()}",
            now=ctx.now,
        )
    if ctx.settings.payout_mode == "per_transfer":
        await enqueue(
            session,
            PAYOUT_TOPIC,
            {"transfer_id": row.id},
            now=ctx.now,
            idempotency_key=f"{PAYOUT_TOPIC}:{row.id}",
        )
    logger.info(
        "milestone transferred",
        extra={"milestone": plan.milestone_id, "stripe_transfer": row.stripe_transfer_id},
    )


# --- account.updated: transfers that waited for payouts ---------------------------------------


async def enqueue_waiting_transfers(ctx: EventContext) -> str | None:
    """After `account.updated`: when the account can receive transfers, enqueue a transfer for
    every released milestone of the influencer that waited for it."""
    account = await ctx.session.scalar(
        select(PayoutAccount).where(PayoutAccount.stripe_account_id == ctx.data_object.get("id"))
    )
    if account is None or not payouts.can_receive_transfers(account):
        return None
    waiting = list(
        await ctx.session.scalars(
            select(Milestone.id)
            .join(Contract, Contract.id == Milestone.contract_id)
            .where(
                Contract.influencer_id == account.influencer_id,
                Milestone.state == MilestoneState.released.value,
            )
            .order_by(Milestone.id)
        )
    )
    for milestone_id in waiting:
        await enqueue(
            ctx.session,
            TRANSFER_TOPIC,
            {"milestone_id": milestone_id},
            now=ctx.now,
            idempotency_key=transfer_job_key(milestone_id, ctx.event.stripe_event_id),
        )
    return f"{len(waiting)} waiting transfer(s) enqueued" if waiting else None


# --- payouts --------------------------------------------------------------------------------


async def payout_transfer(ctx: JobContext, job: ClaimedJob) -> None:
    # Which currency, and waiting for Stripe to make the funds available (a refusal with
    # balance_insufficient waits and retries): app/services/money/payouts.py.
    await payouts.pay_out_transfer(ctx, job, _store_payout)


def _arrival(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None


async def _store_payout(
    session: AsyncSession,
    payout: dict[str, Any],
    influencer_id: str,
    stripe_account: str,
    now: datetime,
    transfer_id: str | None = None,
    *,
    newest: bool = True,
) -> Payout:
    row = await session.scalar(
        select(Payout)
        .where(Payout.stripe_payout_id == payout["id"])
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        row = Payout(
            influencer_id=influencer_id,
            stripe_account_id=stripe_account,
            stripe_payout_id=payout["id"],
            transfer_id=transfer_id,
            amount=payout["amount"],
            currency=str(payout["currency"]).upper(),
            status=payout.get("status") or "pending",
            created_at=now,
            updated_at=now,
        )
        if not await add_unique(session, row):
            return await _store_payout(
                session, payout, influencer_id, stripe_account, now, transfer_id, newest=newest
            )
    if transfer_id is not None and row.transfer_id is None:
        row.transfer_id = transfer_id
    # The state follows the payout's status order (stripe_events.STATUS_ORDER): an answer or
    # event with a lower-ranked status is older news — `failed` never goes back to `paid` —
    # and `newest` is False for an event older than the one applied (`follow_newest`).
    status = payout.get("status") or row.status
    if newest and status_rank("payout", status) >= status_rank("payout", row.status):
        row.status = status
        row.failure_code = payout.get("failure_code") or row.failure_code
        row.failure_message = payout.get("failure_message") or row.failure_message
        row.arrival_date = _arrival(payout.get("arrival_date")) or row.arrival_date
    row.updated_at = now
    await session.flush()
    # issue 14: `payout.<status>` when its status is news to the event feed
    await events.emit_if_changed(session, "payout", row, "status", row.status, now)
    return row


async def _payout_event(ctx: EventContext) -> Handled:
    payout = ctx.data_object
    account_id = ctx.event.account or payout.get("destination")
    account = await ctx.session.scalar(
        select(PayoutAccount).where(PayoutAccount.stripe_account_id == ctx.event.account)
    )
    if account is None:
        return Handled(
            StripeEventOutcome.ignored,
            f"payout {payout.get('id')} is on {account_id}, no influencer's account",
        )
    newest = await follow_newest(ctx, "payout", status=payout.get("status"))
    row = await _store_payout(
        ctx.session,
        payout,
        account.influencer_id,
        account.stripe_account_id,
        ctx.now,
        newest=newest,
    )
    note = f"payout {row.stripe_payout_id} of {row.amount} {row.currency} {row.status}"
    if not newest or row.status != payout.get("status"):
        note += f" (this event's {payout.get('status')} is older news: not applied)"
    if row.status == "failed":
        note += f": {row.failure_code} — {row.failure_message}"
    return Handled(StripeEventOutcome.applied, note)


async def payout_paid(ctx: EventContext) -> Handled:
    return await _payout_event(ctx)


async def payout_failed(ctx: EventContext) -> Handled:
    return await _payout_event(ctx)


# Automatic payouts (Stripe's schedule): recorded from their creation, so a payout on its way
# shows in the earnings before it is paid; a canceled one is not counted.
async def payout_changed(ctx: EventContext) -> Handled:
    return await _payout_event(ctx)


# --- transfer webhooks ----------------------------------------------------------------------


async def _our_transfer(session: AsyncSession, transfer_id: str | None) -> Transfer | None:
    return await session.scalar(
        select(Transfer)
        .where(Transfer.stripe_transfer_id == transfer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def transfer_created(ctx: EventContext) -> Handled:
    transfer = ctx.data_object
    row = await _our_transfer(ctx.session, transfer.get("id"))
    if row is not None:
        return Handled(StripeEventOutcome.applied, f"recorded as {row.id} ({row.milestone_id})")
    milestone = (transfer.get("metadata") or {}).get("rapport_milestone_id")
    if milestone:
        return Handled(
            StripeEventOutcome.ignored,
            f"transfer for {milestone} not recorded yet: its transfer job records it",
        )
    return Handled(StripeEventOutcome.ignored, "not a Rapport transfer")


async def transfer_updated(ctx: EventContext) -> Handled:
    row = await _our_transfer(ctx.session, ctx.data_object.get("id"))
    if row is None:
        return Handled(StripeEventOutcome.ignored, "not a transfer Rapport recorded")
    return Handled(StripeEventOutcome.ignored, f"{row.id}: nothing Rapport tracks changed")


async def transfer_reversed(ctx: EventContext) -> Handled:
    transfer = ctx.data_object
    row = await _our_transfer(ctx.session, transfer.get("id"))
    if row is None:
        return Handled(StripeEventOutcome.ignored, "not a transfer Rapport recorded")
    reversals = ((transfer.get("reversals") or {}).get("data")) or []
    booked = 0
    # Stripe reports reversals in the transfer's (settlement) currency; each is booked in the
    # deal's as the difference of the converted running totals, so they sum to the whole.
    settled_total, before = int(transfer.get("amount") or row.amount), 0
    for reversal in sorted(reversals, key=lambda r: (r.get("created") or 0, r["id"])):
        after = before + int(reversal["amount"])
        amount = _in_deal_currency(after, settled_total, row.amount) - _in_deal_currency(
            before, settled_total, row.amount
        )
        before = after
        _, created = await ledger.book_transfer_reversal(
            ctx.session,
            row.contract_id,
            row.milestone_id,
            amount,
            row.currency,
            reversal["id"],
            memo=f"reversal of {row.stripe_transfer_id}",
            now=ctx.now,
        )
        txn = stripe_id(reversal.get("balance_transaction"))
        if txn and str(transfer.get("currency") or "").upper() not in ("", row.currency):
            await ledger.book_conversion(
                ctx.session,
                amount=amount,
                currency=row.currency,
                settled_amount=int(reversal["amount"]),
                settled_currency=str(transfer["currency"]),
                incoming=True,
                txn_id=txn,
                source=reversal["id"],
                milestone_id=row.milestone_id,
                memo=f"reversal {reversal['id']} in {str(transfer['currency']).upper()}",
                now=ctx.now,
            )
        booked += int(created)
    # Reversals only add up: an older event's smaller `amount_reversed` is not written back.
    reversed_now = _in_deal_currency(
        int(transfer.get("amount_reversed") or 0), int(transfer.get("amount") or 0), row.amount
    )
    reversed_before = row.amount_reversed
    if await follow_newest(ctx, "transfer", rank=reversed_now):
        row.amount_reversed = max(row.amount_reversed, reversed_now)
    row.updated_at = ctx.now
    if row.amount_reversed > reversed_before:  # issue 14: the public event
        await events.emit(ctx.session, "transfer", row, "transfer.reversed", ctx.now)
    return Handled(
        StripeEventOutcome.applied,
        f"{row.stripe_transfer_id}: {booked} reversal(s) booked; "
        f"{row.amount_reversed} of {row.amount} reversed",
    )
