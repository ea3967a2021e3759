"""The double-entry ledger: accounts, journal entries and their lines (append-only).

- `ledger_contracts`: the ledger's view of one contract — the currency its money is held in, and
  the row every booking on that contract locks first (`SELECT … FOR UPDATE` on PostgreSQL), so two
  concurrent releases or refunds of one contract serialise instead of both passing the checks.
- `ledger_accounts`: one row per (code, currency); the chart of accounts (which codes exist, their
  type) lives in app/services/money/ledger.py and docs/ledger.md. Accounts are created lazily by the
  first entry that touches them.
- `journal_entries`: one business event (a funding charge, a release, a Stripe transfer …). Its
  `idempotency_key` is unique, so the same event can never be booked twice.
- `journal_lines`: the entry's movements, signed integers in the currency's minor unit
  (positive = debit, negative = credit). Every entry's lines sum to zero per currency.

Rows are never updated or deleted: a mistake is corrected by a new entry (`adjustment`).

`contract_id` and `milestone_id` hold the public ids (`ctr_…`, `mst_…`) as plain strings, without
a foreign key for now: the contracts and milestones tables are being written alongside this one,
and the foreign keys are added by a later migration once they exist.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, created_at_column, public_id_column


class AccountType(enum.StrEnum):
    asset = "asset"
    liability = "liability"
    revenue = "revenue"
    expense = "expense"
    equity = "equity"


class EntryKind(enum.StrEnum):
    funding = "funding"
    fee = "fee"
    release = "release"
    transfer = "transfer"
    transfer_reversal = "transfer_reversal"
    refund = "refund"
    chargeback = "chargeback"
    chargeback_reversal = "chargeback_reversal"
    adjustment = "adjustment"
    # A movement settled by Stripe in another currency than the deal's: the deal-currency
    # amount swapped for the settled one through `platform:fx` (docs/ledger.md).
    conversion = "conversion"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Plain strings with a CHECK (as in app/models/brand.py): a new value is a small migration.
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=20)


class LedgerContract(Base):
    """The per-contract lock row and the contract's currency (pinned by its first booking)."""

    __tablename__ = "ledger_contracts"

    # `ctr_…`; no foreign key yet (see the module docstring).
    contract_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = created_at_column()


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("code", "currency"),)

    id: Mapped[str] = public_id_column("ledger_account")
    # `platform:stripe_balance`, `escrow:ctr_…`, `influencer_payable:ctr_…` … (the chart).
    code: Mapped[str] = mapped_column(String(100))
    type: Mapped[AccountType] = mapped_column(_enum(AccountType, "ledger_account_type"))
    currency: Mapped[str] = mapped_column(String(3))
    # Set on per-contract accounts (escrow, payable); no foreign key yet.
    contract_id: Mapped[str | None] = mapped_column(String(40), index=True, default=None)
    created_at: Mapped[datetime] = created_at_column()


class JournalEntry(Base):
    __tablename__ = "journal_entries"

    id: Mapped[str] = public_id_column("journal_entry")
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind, "journal_entry_kind"))
    # `ctr_…` / `mst_…` public ids; no foreign keys yet (see the module docstring).
    contract_id: Mapped[str | None] = mapped_column(String(40), index=True, default=None)
    milestone_id: Mapped[str | None] = mapped_column(String(40), index=True, default=None)
    # The business event: `release:mst_…`, `transfer:mst_…`, `funding:ch_…`, `stripe:evt_…`.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # The Stripe object behind the entry (charge, transfer, reversal, refund, dispute), if any.
    external_ref: Mapped[str | None] = mapped_column(String(255), index=True, default=None)
    memo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()

    lines: Mapped[list[JournalLine]] = relationship(
        back_populates="entry", lazy="raise", order_by="JournalLine.line_no"
    )


class JournalLine(Base):
    __tablename__ = "journal_lines"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_journal_lines_account_id", "account_id"),
    )

    entry_id: Mapped[str] = mapped_column(
        ForeignKey("journal_entries.id", ondelete="RESTRICT"), primary_key=True
    )
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="RESTRICT"))
    # Signed minor units: positive = debit, negative = credit. Never a float.
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))

    entry: Mapped[JournalEntry] = relationship(back_populates="lines", lazy="raise")
    account: Mapped[LedgerAccount] = relationship(lazy="raise")
