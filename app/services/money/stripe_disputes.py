"""Stripe disputes on funding charges: inquiries and chargebacks, from opening to close
(docs/payments.md, "Disputes (chargebacks)").

Every `charge.dispute.*` event goes through `apply_dispute_event`, whatever its type and age:

1. **The record** (`stripe_disputes`, keyed by Stripe's `dp_…`) takes the dispute's status,
   reason, amount and evidence due date from the event — only when the event is the newest by
   the dispute's status order and `created` (`stripe_events.follow_newest`); an older event
   changes nothing there.
2. **The money** follows Stripe's balance transactions of the dispute, never the event type: a
   withdrawal (`amount` < 0) books the ledger's `chargeback` (key `chargeback:<dp>`: escrow
   first, the rest a platform loss) and the dispute fee (`fee` entry, key
   `dispute_fee:<txn>`); a reinstatement (`amount` > 0, the dispute won) books the exact
   `chargeback_reversal` (and a fee Stripe gives back, if it does). The balance transactions a
   dispute carries only grow, so every event — `funds_withdrawn` before `created`, `closed`
   before `funds_reinstated` — books the same entries once (the keys). An inquiry
   (`warning_needs_response`) has none: nothing is booked.
3. **The freeze** follows the record's status. A chargeback (`needs_response`, `under_review`,
   `lost`) freezes the contract (`chargeback`: → `disputed`) and opens the contract's dispute
   record (`disputes.open_for_chargeback`, escalated: the operators' queue), visible to both
   parties with Stripe's side attached. An inquiry freezes nothing — Stripe took nothing. A
   dispute closed `won` (or an inquiry closed, or the charge refunded instead) unfreezes what it
   froze: the dispute record is closed (`chargeback_closed`) and the contract resumes
   (`chargeback_won`); a `lost` one stays for an operator to resolve (the money is already
   booked as gone).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Dispute, DisputeState, Payment
from app.models.contract import ContractState
from app.models.ledger import EntryKind
from app.models.stripe_event import StripeDispute, StripeEventOutcome
from app.pagination import PageParams, SortKey, paginate
from app.services.delivery.contracts import CONTRACTS, load_contract
from app.services.delivery.disputes import DISPUTES, open_for_chargeback
from app.services.money import ledger
from app.services.money.contract_money import fresh_contract
from app.services.money.stripe_events import EventContext, Handled, follow_newest
from app.services.workflow.state_machine import Actor

logger = logging.getLogger("rapport.money.disputes")

# Dispute statuses that hold the contract's money: Stripe took it, or will unless we win.
FREEZES = frozenset({"needs_response", "under_review", "lost"})
# Closed for the platform: what the dispute froze moves again.
UNFREEZES = frozenset({"won", "warning_closed", "charge_refunded"})
CLOSED = frozenset({"won", "lost", "warning_closed", "charge_refunded"})


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None


async def _balance_transactions(ctx: EventContext, dispute: dict[str, Any]) -> list[dict[str, Any]]:
    """The dispute's balance transactions as objects (API 2020-08-27 embeds them; given as ids,
    they are read from Stripe by `source`)."""
    items = dispute.get("balance_transactions") or []
    if all(isinstance(item, dict) for item in items):
        return list(items)
    gateway = ctx.job.resources.stripe if ctx.job else None
    if gateway is None:
        raise RuntimeError("a dispute's balance transactions need the Stripe gateway")
    wanted = {item for item in items if isinstance(item, str)}
    found = [t.to_dict() for t in await gateway.list_balance_transactions(source=dispute["id"])]
    return [t for t in found if t["id"] in wanted] + [i for i in items if isinstance(i, dict)]


async def _record(
    session: AsyncSession, dispute: dict[str, Any], payment: Payment, now: datetime
) -> StripeDispute:
    row = await session.scalar(
        select(StripeDispute)
        .where(StripeDispute.id == dispute["id"])
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        row = StripeDispute(
            id=dispute["id"],
            contract_id=payment.contract_id,
            charge_id=payment.charge_id or str(dispute.get("charge")),
            status=str(dispute.get("status") or "needs_response"),
            amount=int(dispute["amount"]),
            currency=str(dispute.get("currency") or payment.currency).upper(),
            funds_withdrawn=0,
            funds_reinstated=0,
            dispute_fee=0,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
    return row


def _take_state(row: StripeDispute, dispute: dict[str, Any], now: datetime) -> None:
    row.status = str(dispute.get("status") or row.status)
    row.reason = dispute.get("reason") or row.reason
    row.amount = int(dispute.get("amount") or row.amount)
    row.evidence_due_by = _time((dispute.get("evidence_details") or {}).get("due_by"))
    if row.status in CLOSED and row.closed_at is None:
        row.closed_at = now
    row.updated_at = now


async def _book_money(
    ctx: EventContext, row: StripeDispute, payment: Payment, txns: Sequence[dict[str, Any]]
) -> list[str]:
    """Book what Stripe's balance transactions of the dispute moved (idempotent by key)."""
    session, notes = ctx.session, []
    withdrawals = [t for t in txns if int(t["amount"]) < 0]
    reinstatements = [t for t in txns if int(t["amount"]) > 0]
    for txn in withdrawals + reinstatements:
        row.settlement_currency = str(txn["currency"]).upper()
    withdrawn = -sum(int(t["amount"]) for t in withdrawals)
    reinstated = sum(int(t["amount"]) for t in reinstatements)
    settled = row.settlement_currency
    if withdrawn:
        _, created = await ledger.book_chargeback(
            session,
            payment.contract_id,
            _in_contract_currency(row, payment, withdrawn),
            payment.currency,
            row.id,
            memo=f"Stripe dispute {row.id} ({row.reason}): funds withdrawn",
            now=ctx.now,
        )
        if created:
            notes.append(f"chargeback of {withdrawn} {settled} booked")
    if reinstated:
        _, created = await ledger.book_chargeback_reversal(
            session,
            payment.contract_id,
            _in_contract_currency(row, payment, reinstated),
            payment.currency,
            row.id,
            memo=f"Stripe dispute {row.id} won: funds reinstated",
            now=ctx.now,
        )
        if created:
            notes.append(f"{reinstated} {settled} reinstated")
    for txn in withdrawals + reinstatements:
        # Settled in another currency than the contract's: swap the deal-currency amount the
        # chargeback (or its reversal) booked for what Stripe moved (services/money/settlement.py).
        await ledger.book_conversion(
            session,
            amount=_in_contract_currency(row, payment, abs(int(txn["amount"]))),
            currency=payment.currency,
            settled_amount=abs(int(txn["amount"])),
            settled_currency=str(txn["currency"]),
            incoming=int(txn["amount"]) > 0,
            txn_id=txn["id"],
            source=row.id,
            memo=f"dispute {row.id} settled in {str(txn['currency']).upper()}",
            now=ctx.now,
        )
    for txn in txns:
        fee = int(txn.get("fee") or 0)
        if fee == 0:
            continue
        currency = str(txn["currency"]).upper()
        _, created = await ledger.post_entry(
            session,
            EntryKind.fee,
            [(ledger.STRIPE_FEES, fee, currency), (ledger.STRIPE_BALANCE, -fee, currency)],
            f"dispute_fee:{txn['id']}",
            external_ref=row.id,
            memo=f"Stripe's dispute fee for {row.id} ({txn['id']})",
            now=ctx.now,
        )
        if created:
            notes.append(f"dispute fee {fee} {currency} booked")
    # A dispute's balance transactions only grow: an event carrying fewer is older news.
    known = bool(row.funds_withdrawn) + bool(row.funds_reinstated)
    if len(txns) >= known:
        row.funds_withdrawn, row.funds_reinstated = withdrawn, reinstated
        row.dispute_fee = sum(int(t.get("fee") or 0) for t in txns)
    return notes


def _in_contract_currency(row: StripeDispute, payment: Payment, settled: int) -> int:
    """The dispute's amount in the contract's currency: what Stripe moved when it settles in
    the contract's currency, else the dispute's own amount (in the charge's currency, which is
    the contract's)."""
    if row.settlement_currency in (None, payment.currency):
        return settled
    return row.amount


async def _linked_dispute(session: AsyncSession, row: StripeDispute) -> Dispute | None:
    if row.dispute_id is None:
        return None
    return await session.scalar(
        select(Dispute)
        .where(Dispute.id == row.dispute_id)
        .execution_options(populate_existing=True)
    )


async def _freeze(ctx: EventContext, row: StripeDispute) -> str:
    session = ctx.session
    linked = await _linked_dispute(session, row)
    if linked is not None and linked.state in (DisputeState.open, DisputeState.escalated):
        return ""
    if linked is not None:
        return "its dispute record is settled already"
    contract = await fresh_contract(session, row.contract_id, lock=True)
    assert contract is not None
    actor = Actor("system", ctx.event.stripe_event_id)
    # The states a chargeback freezes are the contract table's (its `chargeback` row).
    if CONTRACTS.transition_for(contract.state, "chargeback") is not None:
        await CONTRACTS.fire(
            session,
            contract,
            "chargeback",
            actor,
            ctx.now,
            reason=f"Stripe dispute {row.id} ({row.reason})",
            data={"stripe_dispute": row.id},
        )
    elif contract.state != ContractState.disputed.value:
        return f"contract is {contract.state}: nothing to freeze"
    record = await open_for_chargeback(
        session,
        row.contract_id,
        ctx.now,
        reason=f"chargeback: {row.reason or 'unknown reason'}",
        details=f"The brand's bank disputed the funding charge {row.charge_id} "
        f"(Stripe dispute {row.id}, {row.amount} {row.currency}).",
    )
    row.dispute_id = record.id
    return f"contract frozen; dispute record {record.id}"


async def _unfreeze(ctx: EventContext, row: StripeDispute) -> str:
    linked = await _linked_dispute(ctx.session, row)
    if linked is None or linked.state not in (DisputeState.open, DisputeState.escalated):
        return ""
    if linked.opened_by is not None:
        return f"the contract stays frozen by the {linked.opened_by}'s dispute {linked.id}"
    await DISPUTES.fire(
        ctx.session,
        linked,
        "chargeback_closed",
        Actor("system", ctx.event.stripe_event_id),
        ctx.now,
        reason=f"Stripe closed dispute {row.id}: {row.status}",
        data={"stripe_dispute": row.id},
    )
    return f"dispute record {linked.id} closed; contract resumed"


async def _payment_by_charge(session: AsyncSession, charge_id: str | None) -> Payment | None:
    if not charge_id:
        return None
    return await session.scalar(select(Payment).where(Payment.charge_id == charge_id))


async def apply_dispute_event(ctx: EventContext) -> Handled:
    session, dispute = ctx.session, ctx.data_object
    payment = await _payment_by_charge(session, dispute.get("charge"))
    if payment is None:
        return Handled(StripeEventOutcome.ignored, f"{dispute.get('charge')} is not ours")
    # Contract first, then the dispute's rows, then the ledger: the money paths' lock order.
    await fresh_contract(session, payment.contract_id, lock=True)
    row = await _record(session, dispute, payment, ctx.now)
    status = str(dispute.get("status") or row.status)
    newest = await follow_newest(ctx, "dispute", status=status)
    if newest:
        _take_state(row, dispute, ctx.now)
    notes = await _book_money(ctx, row, payment, await _balance_transactions(ctx, dispute))
    if row.status in UNFREEZES:
        moved = await _unfreeze(ctx, row)
    elif row.status in FREEZES:
        moved = await _freeze(ctx, row)
    else:
        moved = "an inquiry: nothing frozen"
    notes = [
        f"dispute {row.id} {row.status}" + ("" if newest else " (an older event: state kept)"),
        *notes,
        *([moved] if moved else []),
    ]
    await session.flush()
    return Handled(StripeEventOutcome.applied, "; ".join(notes))


_NEWEST_FIRST = [
    SortKey(StripeDispute.created_at, descending=True),
    SortKey(StripeDispute.id, descending=True),
]


async def contract_payment_disputes(
    session: AsyncSession, user_id: str, contract_id: str, page: PageParams
) -> tuple[list[StripeDispute], str | None]:
    """The contract's Stripe disputes, newest first, for one of its parties (404 otherwise)."""
    contract, _ = await load_contract(session, user_id, contract_id)
    stmt = select(StripeDispute).where(StripeDispute.contract_id == contract.id)
    return await paginate(session, stmt, _NEWEST_FIRST, page)


async def all_payment_disputes(
    session: AsyncSession, statuses: list[str], page: PageParams
) -> tuple[list[StripeDispute], str | None]:
    """The operators' list: every Stripe dispute (inquiries too), newest first."""
    stmt = select(StripeDispute)
    if statuses:
        stmt = stmt.where(StripeDispute.status.in_(statuses))
    return await paginate(session, stmt, _NEWEST_FIRST, page)


async def by_dispute_record(
    session: AsyncSession, dispute_ids: Sequence[str]
) -> dict[str, StripeDispute]:
    """Stripe's side of the contract dispute records opened for chargebacks."""
    if not dispute_ids:
        return {}
    rows = await session.scalars(
        select(StripeDispute).where(StripeDispute.dispute_id.in_(list(dispute_ids)))
    )
    return {row.dispute_id: row for row in rows if row.dispute_id is not None}
