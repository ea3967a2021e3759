"""The currency Stripe holds the brand's money in (docs/payments.md, "Currencies").

The brand pays in the deal's currency (a EUR contract is a EUR PaymentIntent). Stripe settles
the charge in the platform's currency: the charge's balance transaction says how much
(`amount`, `currency`, `exchange_rate`, Stripe's `fee`, `net`). Everything Rapport then moves
from that charge — transfers to the creator (with `source_transaction`), refunds, chargebacks —
leaves the platform's balance in that settlement currency, so:

- `charge_settlement(gateway, charge_id)` reads the charge's balance transaction;
- `to_settlement(amount, currency, settled)` converts a deal-currency amount at the charge's
  rate — **rounding half up to the settlement currency's minor unit** (Stripe's own rule for
  conversions; integers and `Decimal`, never floats), so 60,000 EUR cents at 1.1 is 66,000 USD
  cents and ¥150,001 at 0.0067 is 1,005.01 USD (100,501 cents);
- `book_charge_settlement` books, beside the contract's deal-currency `funding`, the ledger's
  `conversion` (deal currency → settled currency through `platform:fx`) and Stripe's processing
  fee (a `fee` entry, `platform:stripe_fees`, key `stripe_fee:<txn>`), so that
  `platform:stripe_balance` per currency is what Stripe holds and reconciliation agrees.

A deal and a settlement in the same currency convert nothing (`exchange_rate` null).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.integrations.stripe import StripeGateway
from app.models.ledger import EntryKind
from app.services.catalogue.currencies import minor_unit_exponent
from app.services.money import ledger
from app.services.workflow.jobs import JobContext

logger = logging.getLogger("rapport.money.settlement")


@dataclass(frozen=True)
class Settled:
    """A balance transaction: what Stripe's balance moved, in `currency`."""

    txn_id: str
    currency: str  # upper case
    amount: int
    fee: int
    net: int
    exchange_rate: Decimal | None

    @classmethod
    def of(cls, txn: dict[str, Any]) -> Settled:
        rate = txn.get("exchange_rate")
        return cls(
            txn_id=str(txn["id"]),
            currency=str(txn["currency"]).upper(),
            amount=int(txn["amount"]),
            fee=int(txn.get("fee") or 0),
            net=int(txn["net"] if txn.get("net") is not None else txn["amount"]),
            exchange_rate=Decimal(str(rate)) if rate is not None else None,
        )


def gateway_of(job: JobContext | None) -> StripeGateway | None:
    """The worker's Stripe gateway, when the code runs in a job (None otherwise)."""
    return job.resources.stripe if job is not None else None


async def balance_transactions(gateway: StripeGateway, source: str) -> list[Settled]:
    """The platform's balance transactions of a Stripe object (a charge, refund, transfer …)."""
    return [Settled.of(t.to_dict()) for t in await gateway.list_balance_transactions(source=source)]


async def charge_settlement(gateway: StripeGateway, charge_id: str) -> Settled:
    found = [t for t in await balance_transactions(gateway, charge_id) if t.amount > 0]
    if not found:
        raise LookupError(f"Stripe has no balance transaction for the charge {charge_id}")
    return found[0]


def to_settlement(amount: int, currency: str, settled: Settled) -> int:
    """`amount` minor units of the deal's `currency` in minor units of the charge's settlement
    currency, at the charge's `exchange_rate`, rounded half up."""
    if settled.currency == currency.upper() or settled.exchange_rate is None:
        return amount
    major = Decimal(amount) / (Decimal(10) ** minor_unit_exponent(currency))
    minor = major * settled.exchange_rate * (Decimal(10) ** minor_unit_exponent(settled.currency))
    return int(minor.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_settlement(settled_amount: int, currency: str, settled: Settled) -> int:
    """The reverse (a reversal or reinstatement Stripe reports in the settlement currency)."""
    if settled.currency == currency.upper() or settled.exchange_rate is None:
        return settled_amount
    major = Decimal(settled_amount) / (Decimal(10) ** minor_unit_exponent(settled.currency))
    minor = major / settled.exchange_rate * (Decimal(10) ** minor_unit_exponent(currency))
    return int(minor.quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def book_stripe_fee(
    session: AsyncSession, txn: Settled, source: str, memo: str, now: datetime
) -> bool:
    """Stripe's fee on a balance transaction (negative when Stripe gives it back)."""
    if txn.fee == 0:
        return False
    _, created = await ledger.post_entry(
        session,
        EntryKind.fee,
        [
            (ledger.STRIPE_FEES, txn.fee, txn.currency),
            (ledger.STRIPE_BALANCE, -txn.fee, txn.currency),
        ],
        f"stripe_fee:{txn.txn_id}",
        external_ref=source,
        memo=memo,
        now=now,
    )
    return created


async def book_charge_settlement(
    session: AsyncSession,
    job: JobContext | None,
    *,
    charge_id: str,
    total: int,
    currency: str,
    now: datetime,
) -> str | None:
    """After the contract's `funding` entry (`total` = price + brand fee, in the deal's
    currency): the conversion to what Stripe settled, and Stripe's fee. A note, or None."""
    gateway = gateway_of(job)
    if gateway is None:
        logger.warning("settlement not booked: no Stripe gateway", extra={"charge": charge_id})
        return "settlement not read (no Stripe gateway here): reconcile will say"
    settled = await charge_settlement(gateway, charge_id)
    notes = []
    converted = await ledger.book_conversion(
        session,
        amount=total,
        currency=currency,
        settled_amount=settled.amount,
        settled_currency=settled.currency,
        incoming=True,
        txn_id=settled.txn_id,
        source=charge_id,
        memo=f"{charge_id} settled in {settled.currency} at {settled.exchange_rate}",
        now=now,
    )
    if converted is not None:
        notes.append(f"settled as {settled.amount} {settled.currency} at {settled.exchange_rate}")
    if await book_stripe_fee(session, settled, charge_id, f"Stripe's fee on {charge_id}", now):
        notes.append(f"Stripe fee {settled.fee} {settled.currency}")
    return "; ".join(notes) or None


async def book_refund_settlement(
    session: AsyncSession,
    gateway: StripeGateway,
    refund_id: str,
    *,
    amount: int,
    currency: str,
    now: datetime,
) -> None:
    """A refund of a charge settled in another currency: swap its deal-currency `amount` for
    what Stripe took from the balance for it (nothing to book when no conversion happened)."""
    for txn in await balance_transactions(gateway, refund_id):
        await ledger.book_conversion(
            session,
            amount=amount,
            currency=currency,
            settled_amount=abs(txn.amount),
            settled_currency=txn.currency,
            incoming=False,
            txn_id=txn.txn_id,
            source=refund_id,
            memo=f"refund {refund_id} settled in {txn.currency}",
            now=now,
        )
