"""Reconciliation: the ledger against Stripe, every difference reported
(`rapport reconcile`, docs/payments.md "Reconciliation").

What is compared:

1. **Each money movement.** Every ledger entry that moved the platform's Stripe balance names its
   Stripe object (`external_ref`): funding → the charge, transfer → the transfer, reversal → the
   transfer reversal, chargeback / chargeback reversal → the dispute, refund → our refund row →
   its Stripe refund; Stripe's fees booked by the money flows (`fee` entries: the dispute fee)
   name the object they were charged on. Stripe's platform balance transactions are grouped by
   `source` (the same ids). Per object: the ledger's movement of `platform:stripe_balance` must
   equal the sum of the balance transactions' `net` (what Stripe's balance moved: the amount
   less Stripe's fee).
   - `missing_in_stripe`: the ledger booked it, Stripe has no such movement;
   - `missing_in_ledger`: Stripe moved money (a charge, refund, transfer …) the ledger lacks;
   - `amount_mismatch`: both have it, with different amounts;
   - `refund_pending`: a refund reserved in the ledger that Stripe has not confirmed yet
     (in flight, or stuck: its job says why).
   A refund Stripe refused was undone by an adjustment: both net to zero and are skipped.
2. **One transfer per milestone.** For each contract, Stripe's transfers of its
   `transfer_group` by `metadata.rapport_milestone_id`: `duplicate_transfer` when a milestone has
   more than one; `reversal_mismatch` when a transfer's `amount_reversed` differs from the
   reversals booked.
3. **The balance.** Without a `since` window: `platform:stripe_balance` per currency against
   the sum of the platform's balance transactions (payouts of the platform to its own bank
   excluded): `balance_mismatch`.

`reconcile(session, gateway, since=None)` → `ReconcileReport` (`differences`, `checked`,
`ok`). `rapport reconcile` prints it (text or `--json`) and exits 1 when anything differs.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.integrations.stripe import StripeGateway
from app.models import JournalEntry, JournalLine, LedgerAccount, Refund, Transfer
from app.models.ledger import EntryKind
from app.services.money.contract_money import stripe_id
from app.services.money.ledger import STRIPE_BALANCE
from app.services.money.releases import _in_deal_currency

logger = logging.getLogger("rapport.money.reconcile")

# Balance transaction types the platform's own bank payouts produce: not the ledger's business.
_NOT_OURS = frozenset({"payout", "payout_failure", "payout_cancel", "stripe_fee", "tax_fee"})
_MOVES_STRIPE = (
    EntryKind.funding,
    EntryKind.transfer,
    EntryKind.transfer_reversal,
    EntryKind.refund,
    EntryKind.chargeback,
    EntryKind.chargeback_reversal,
    EntryKind.fee,
    EntryKind.conversion,
)


@dataclass(frozen=True)
class Difference:
    kind: str
    object_id: str
    contract_id: str | None
    currency: str | None
    ledger_amount: int | None
    stripe_amount: int | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReconcileReport:
    differences: list[Difference] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def ok(self) -> bool:
        return not self.differences

    def add(self, kind: str, object_id: str, detail: str, **values: Any) -> None:
        self.differences.append(
            Difference(
                kind=kind,
                object_id=object_id,
                contract_id=values.get("contract_id"),
                currency=values.get("currency"),
                ledger_amount=values.get("ledger_amount"),
                stripe_amount=values.get("stripe_amount"),
                detail=detail,
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": dict(self.checked),
            "differences": [d.as_dict() for d in self.differences],
        }


@dataclass
class _Expected:
    amount: int
    currency: str
    contract_id: str | None
    kinds: set[str]


async def _ledger_movements(
    session: AsyncSession, since: datetime | None
) -> tuple[dict[tuple[str, str], _Expected], list[tuple[Refund, int]]]:
    """The ledger's movement of the platform's Stripe balance per Stripe object, and the
    refunds it reserved that Stripe has not confirmed."""
    stmt = (
        select(
            JournalEntry.kind,
            JournalEntry.contract_id,
            JournalEntry.external_ref,
            JournalLine.currency,
            JournalLine.amount,
        )
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
        .where(LedgerAccount.code == STRIPE_BALANCE, JournalEntry.kind.in_(_MOVES_STRIPE))
    )
    if since is not None:
        stmt = stmt.where(JournalEntry.created_at >= since)
    refunds = {r.id: r for r in await session.scalars(select(Refund))}
    expected: dict[tuple[str, str], _Expected] = {}
    pending: list[tuple[Refund, int]] = []
    for kind, contract_id, ref, currency, amount in await session.execute(stmt):
        source = ref
        if kind == EntryKind.refund and ref in refunds:
            row = refunds[ref]
            if row.status == "failed":
                continue  # undone by its `refund_failed` adjustment
            if row.stripe_refund_id is None:
                pending.append((row, int(amount)))
                continue
            source = row.stripe_refund_id
        if source is None:
            continue
        found = expected.setdefault((source, currency), _Expected(0, currency, contract_id, set()))
        found.amount += int(amount)
        found.contract_id = found.contract_id or contract_id
        found.kinds.add(str(kind))
    # A movement Stripe settled in another currency nets to zero in the deal's currency (the
    # `conversion` entry swapped it): only what moved is compared.
    return {k: v for k, v in expected.items() if v.amount != 0}, pending


async def reconcile(
    session: AsyncSession, gateway: StripeGateway, *, since: datetime | None = None
) -> ReconcileReport:
    report = ReconcileReport()
    expected, pending = await _ledger_movements(session, since)
    for row, amount in pending:
        report.add(
            "refund_pending",
            row.id,
            f"refund {row.id} of {row.contract_id} is booked but Stripe has not confirmed it",
            contract_id=row.contract_id,
            currency=row.currency,
            ledger_amount=amount,
        )

    created_gte = int(since.timestamp()) if since is not None else None
    txns = await gateway.list_balance_transactions(created_gte=created_gte)
    actual: dict[tuple[str, str], tuple[int, str, str]] = {}
    balance: dict[str, int] = defaultdict(int)
    for txn_object in txns:
        txn = txn_object.to_dict()
        if txn["type"] in _NOT_OURS:
            continue
        source = stripe_id(txn.get("source")) or txn["id"]
        currency = str(txn["currency"]).upper()
        # `net`: the balance moved by the amount less Stripe's fee (a dispute fee, say).
        net = int(txn["net"] if txn.get("net") is not None else txn["amount"])
        amount, _, kinds = actual.get((source, currency), (0, currency, ""))
        actual[(source, currency)] = (amount + net, currency, f"{kinds} {txn['type']}".strip())
        balance[currency] += net
    report.checked["balance_transactions"] = len(txns)
    report.checked["ledger_movements"] = len(expected)

    for (source, _currency), want in expected.items():
        got = actual.get((source, _currency))
        kinds = "/".join(sorted(want.kinds))
        if got is None:
            report.add(
                "missing_in_stripe",
                source,
                f"the ledger's {kinds} of {source} has no Stripe balance transaction",
                contract_id=want.contract_id,
                currency=want.currency,
                ledger_amount=want.amount,
            )
        elif got[0] != want.amount:
            report.add(
                "amount_mismatch",
                source,
                f"the ledger's {kinds} moved {want.amount}, Stripe's {got[2]} {got[0]}",
                contract_id=want.contract_id,
                currency=want.currency,
                ledger_amount=want.amount,
                stripe_amount=got[0],
            )
    for (source, currency), (amount, _, kinds) in actual.items():
        if (source, currency) not in expected and amount != 0:
            report.add(
                "missing_in_ledger",
                source,
                f"Stripe's {kinds} of {source} ({amount}) is not in the ledger",
                currency=currency,
                stripe_amount=amount,
            )

    await _check_transfers(session, gateway, report)

    if since is None:
        ledger_balance: dict[str, int] = defaultdict(int)
        rows = await session.execute(
            select(LedgerAccount.currency, JournalLine.amount)
            .join(JournalLine, JournalLine.account_id == LedgerAccount.id)
            .where(LedgerAccount.code == STRIPE_BALANCE)
        )
        for currency, amount in rows:
            ledger_balance[currency] += int(amount)
        for currency in sorted(set(ledger_balance) | set(balance)):
            if ledger_balance[currency] != balance[currency]:
                report.add(
                    "balance_mismatch",
                    f"platform:{currency}",
                    f"the ledger holds {ledger_balance[currency]} {currency} at Stripe, "
                    f"Stripe's balance transactions sum to {balance[currency]}",
                    currency=currency,
                    ledger_amount=ledger_balance[currency],
                    stripe_amount=balance[currency],
                )
    if report.differences:
        logger.warning("reconciliation found %d difference(s)", len(report.differences))
    return report


async def _check_transfers(
    session: AsyncSession, gateway: StripeGateway, report: ReconcileReport
) -> None:
    ours = {t.stripe_transfer_id: t for t in await session.scalars(select(Transfer))}
    booked_reversals: dict[str | None, int] = defaultdict(int)
    rows = await session.execute(
        select(JournalEntry.milestone_id, JournalLine.amount)
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
        .where(
            JournalEntry.kind == EntryKind.transfer_reversal, LedgerAccount.code == STRIPE_BALANCE
        )
    )
    for milestone_id, amount in rows:
        booked_reversals[milestone_id] += int(amount)
    funded = await session.scalars(
        select(JournalEntry.contract_id).where(
            JournalEntry.kind == EntryKind.funding, JournalEntry.contract_id.is_not(None)
        )
    )
    # The query leaves out None; the comprehension says so to the type checker.
    contracts = sorted({contract_id for contract_id in funded if contract_id is not None})
    for contract_id in contracts:
        per_milestone: dict[str, list[Any]] = defaultdict(list)
        for found in await gateway.list_transfers(transfer_group=contract_id):
            transfer = found.to_dict()
            report.checked["transfers"] += 1
            milestone = (transfer.get("metadata") or {}).get("rapport_milestone_id")
            per_milestone[milestone or f"(no milestone) {transfer['id']}"].append(transfer)
            row = ours.get(transfer["id"])
            reversed_ = int(transfer.get("amount_reversed") or 0)
            if row is not None and int(transfer["amount"]) != row.amount:
                # Sent in the settlement currency: compare in the deal's, as the ledger books.
                reversed_ = _in_deal_currency(reversed_, int(transfer["amount"]), row.amount)
            if row is not None and reversed_ != booked_reversals.get(row.milestone_id, 0):
                report.add(
                    "reversal_mismatch",
                    transfer["id"],
                    f"Stripe reversed {reversed_} of {transfer['id']}, the ledger "
                    f"{booked_reversals.get(row.milestone_id, 0)}",
                    contract_id=contract_id,
                    currency=str(transfer["currency"]).upper(),
                    ledger_amount=booked_reversals.get(row.milestone_id, 0),
                    stripe_amount=reversed_,
                )
        for milestone, transfers in per_milestone.items():
            if len(transfers) > 1:
                report.add(
                    "duplicate_transfer",
                    milestone,
                    f"{milestone} has {len(transfers)} Stripe transfers: "
                    + ", ".join(t["id"] for t in transfers),
                    contract_id=contract_id,
                    currency=str(transfers[0]["currency"]).upper(),
                    stripe_amount=sum(int(t["amount"]) for t in transfers),
                )
