"""The money flows' own records of what happened at Stripe (docs/payments.md).

The ledger (app/models/ledger.py) says what the money *is*; these tables say which Stripe
objects moved it, so that a retry finds what it already did and reconciliation can compare:

- `payments`: one per contract — the brand's PaymentIntent for price + brand fee, its status,
  its charge (the `source_transaction` of every transfer) and the reason of the last failure.
- `transfers`: one per milestone — the Stripe Transfer of the released amount to the
  influencer's connected account, and how much of it was reversed since.
- `refunds`: each refund of a contract's charge. A row is written (and the ledger booked)
  *before* Stripe is called, under the contract's ledger lock, so two refunds or a refund and a
  release can never both take the same escrow; `stripe_idempotency_key` (`refund:<ctr>:<n>`,
  `refund:<ctr>:<mst>`) is fixed by the row, so every retry sends the same key.
- `payouts`: payouts from an influencer's connected account to their bank (`payout.paid`,
  `payout.failed` with Stripe's failure code and message), or created by Rapport per transfer
  (`RAPPORT_PAYOUT_MODE=per_transfer`).

Statuses are plain strings mirroring Stripe's (`succeeded`, `requires_payment_method`, `paid`,
`failed` …): Stripe adds values, and a new one must not need a table rebuild.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, public_id_column, updated_at_column


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = public_id_column("payment")
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), unique=True
    )
    payment_intent_id: Mapped[str] = mapped_column(String(255), unique=True)
    # amount = the agreed price (escrowed for the influencer); fee = the brand's service fee;
    # the brand is charged amount + fee.
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(40))
    charge_id: Mapped[str | None] = mapped_column(String(255), index=True, default=None)
    failure_code: Mapped[str | None] = mapped_column(String(100), default=None)
    failure_message: Mapped[str | None] = mapped_column(Text, default=None)
    # The Stripe customer it was charged to, and the card Stripe keeps for later charges: set
    # for an ambassador programme's period (the first saves the card the brand confirms with,
    # each renewal charges it while the brand is away; docs/payments.md, "Renewals").
    customer_id: Mapped[str | None] = mapped_column(String(255), default=None)
    saved_payment_method_id: Mapped[str | None] = mapped_column(String(255), default=None)
    # How many times the sandbox-only confirm route confirmed it (its idempotency keys).
    confirmations: Mapped[int] = mapped_column(Integer, default=0)
    succeeded_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    @property
    def total(self) -> int:
        return self.amount + self.fee


class Transfer(Base):
    __tablename__ = "transfers"
    __table_args__ = (Index("ix_transfers_influencer_id_id", "influencer_id", "id"),)

    id: Mapped[str] = public_id_column("transfer")
    # One transfer per milestone, ever (the ledger's `transfer:<mst>` key says the same).
    milestone_id: Mapped[str] = mapped_column(
        ForeignKey("milestones.id", ondelete="RESTRICT"), unique=True
    )
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="RESTRICT"), index=True
    )
    influencer_id: Mapped[str] = mapped_column(ForeignKey("influencers.id", ondelete="RESTRICT"))
    stripe_transfer_id: Mapped[str] = mapped_column(String(255), unique=True)
    destination: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    amount_reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("contract_id", "seq"),)

    id: Mapped[str] = public_id_column("refund")
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="RESTRICT"))
    milestone_id: Mapped[str | None] = mapped_column(
        ForeignKey("milestones.id", ondelete="RESTRICT"), index=True, default=None
    )
    # The n-th refund of the contract.
    seq: Mapped[int] = mapped_column(Integer)
    # What asked for it, once: `job:<job id>`, `milestone:<mst>`, `stripe:<re_…>` (a refund
    # made outside Rapport, found by `charge.refunded`).
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    stripe_idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # from escrow
    fee_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # of the brand fee
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))  # pending, succeeded, failed
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    failure: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Payout(Base):
    __tablename__ = "payouts"
    __table_args__ = (Index("ix_payouts_influencer_id_id", "influencer_id", "id"),)

    id: Mapped[str] = public_id_column("payout")
    influencer_id: Mapped[str] = mapped_column(ForeignKey("influencers.id", ondelete="RESTRICT"))
    stripe_account_id: Mapped[str] = mapped_column(String(255))
    stripe_payout_id: Mapped[str] = mapped_column(String(255), unique=True)
    # Our transfer it pays out, when Rapport created it (`per_transfer` mode).
    transfer_id: Mapped[str | None] = mapped_column(
        ForeignKey("transfers.id", ondelete="RESTRICT"), unique=True, default=None
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))  # pending, in_transit, paid, failed, canceled
    failure_code: Mapped[str | None] = mapped_column(String(100), default=None)
    failure_message: Mapped[str | None] = mapped_column(Text, default=None)
    arrival_date: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
