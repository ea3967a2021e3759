"""Contracts: what an accepted offer binds both parties to.

- `contracts`: one per accepted offer (and so per bid), with a JSON snapshot of the accepted terms,
  the funding deadline and the exclusivity it imposes on the influencer (category + last day) —
  or, for an ambassador programme (app/models/programme.py), one per offer and period
  (`period_no`; a one-off contract is period 1).
- `deliverables`: one row per unit of work (an offer line `2 x instagram_reel` makes two), each
  with its due date.
- `milestones`: the payment schedule — an amount released when its deliverables are done (an
  "on completion" milestone names every deliverable) — and `milestone_deliverables` links them.

States are plain strings (no CHECK constraint), unlike most tables, so a new state does not need
a table rebuild on SQLite; the machines themselves refuse any state they do not declare
(app/services/delivery/contracts.py, deliverables.py and milestones.py, one table each). The
sets of states the rules name (`WORKING_STATES`, `SETTLED_MILESTONE_STATES` …) are defined below,
once, for every layer that reads them.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, JsonDoc, created_at_column, public_id_column


class ContractState(enum.StrEnum):
    awaiting_funding = "awaiting_funding"
    active = "active"
    expired = "expired"
    cancelled = "cancelled"
    # delivery (app/services/delivery/contracts.py, docs/delivery.md)
    delivered = "delivered"
    completed = "completed"
    disputed = "disputed"
    resolved = "resolved"


class DeliverableState(enum.StrEnum):
    pending = "pending"
    # delivery (app/services/delivery/deliverables.py, docs/delivery.md)
    in_review = "in_review"
    changes_requested = "changes_requested"
    approved = "approved"
    published = "published"
    confirmed = "confirmed"
    proof_disputed = "proof_disputed"
    cancelled = "cancelled"


class MilestoneState(enum.StrEnum):
    pending = "pending"
    # delivery and money (app/services/delivery/milestones.py, docs/delivery.md)
    releasable = "releasable"
    refundable = "refundable"
    released = "released"
    refunded = "refunded"
    cancelled = "cancelled"


# --- state sets (each defined here, once; the machines' rules name them) ---------------------

C, D, M = ContractState, DeliverableState, MilestoneState
# A contract in one of these no longer binds the influencer to its exclusivity.
RELEASING_STATES: frozenset[str] = frozenset({C.expired.value, C.cancelled.value})
# Deliverables and drafts move while the contract is in one of these (a dispute freezes money,
# not work).
WORKING_STATES: frozenset[str] = frozenset({C.active.value, C.disputed.value})
# A milestone's money may be released while its contract is in one of these (never disputed).
RELEASABLE_CONTRACT_STATES: frozenset[str] = frozenset(
    {C.active.value, C.delivered.value, C.resolved.value}
)
# A deliverable in one of these is still work to do: it can be drafted, extended, flagged late
# or cancelled.
OPEN_WORK: tuple[DeliverableState, ...] = (D.pending, D.in_review, D.changes_requested, D.approved)
# A deliverable in one of these is done with (the contract is delivered when all are).
FINAL_DELIVERABLE_STATES: frozenset[str] = frozenset({D.confirmed.value, D.cancelled.value})
# A milestone in one of these has settled: its money has moved or will not (the delivered
# contract is completed when all have).
SETTLED_MILESTONE_STATES: frozenset[str] = frozenset(
    {M.released.value, M.refunded.value, M.cancelled.value}
)
# A milestone in one of these still holds money in escrow that a dispute's resolution can move.
UNRELEASED_MILESTONE_STATES: frozenset[str] = frozenset({M.pending.value, M.releasable.value})
# A payment landing on a contract in one of these is refunded in full (it takes no money).
DEAD_CONTRACT_STATES: frozenset[str] = frozenset({C.expired.value, C.cancelled.value})
# A contract in one of these was never funded: it has no earnings to show the influencer.
NEVER_FUNDED_STATES: frozenset[str] = frozenset({C.awaiting_funding.value, C.expired.value})
del C, D, M


def late_at(due: date) -> datetime:
    """A deliverable is late once its due date is over (midnight UTC after it)."""
    return datetime.combine(due + timedelta(days=1), time(0), tzinfo=UTC)


class Contract(Base):
    __tablename__ = "contracts"
    __table_args__ = (
        Index("ix_contracts_brand_id_id", "brand_id", "id"),
        Index("ix_contracts_influencer_id_id", "influencer_id", "id"),
        # The exclusivity check: an influencer's contracts whose exclusivity is still running.
        Index("ix_contracts_influencer_exclusivity", "influencer_id", "exclusivity_until"),
        # One contract per accepted offer and period: a one-off deal is its only period (1);
        # an ambassador programme's renewals are periods 2, 3 … of the same offer, and this is
        # what makes a renewal run twice make one period.
        UniqueConstraint("bid_id", "period_no", name="uq_contracts_bid_period"),
        UniqueConstraint("offer_id", "period_no", name="uq_contracts_offer_period"),
    )

    id: Mapped[str] = public_id_column("contract")
    # Money hangs off a contract: its parents cannot be deleted from under it (RESTRICT).
    bid_id: Mapped[str] = mapped_column(ForeignKey("bids.id", ondelete="RESTRICT"))
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id", ondelete="RESTRICT"))
    brief_id: Mapped[str] = mapped_column(ForeignKey("briefs.id", ondelete="RESTRICT"), index=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id", ondelete="RESTRICT"))
    influencer_id: Mapped[str] = mapped_column(ForeignKey("influencers.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(String(30), default=ContractState.awaiting_funding.value)
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # The accepted offer's terms, verbatim (price, currency, deliverables, schedule …).
    terms: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    accepted_at: Mapped[datetime] = mapped_column()
    funding_due_at: Mapped[datetime] = mapped_column()
    funded_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    # Exclusivity: no other brand's deal in this category from acceptance until `until`
    # (both days included); none when the terms ask for none.
    exclusivity_category: Mapped[str | None] = mapped_column(String(60), default=None)
    exclusivity_from: Mapped[date | None] = mapped_column(Date, default=None)
    exclusivity_until: Mapped[date | None] = mapped_column(Date, default=None)
    # The ambassador programme (issue 15) this contract is a period of, and which period.
    programme_id: Mapped[str | None] = mapped_column(
        ForeignKey("ambassador_programmes.id", ondelete="RESTRICT"), index=True, default=None
    )
    period_no: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    created_at: Mapped[datetime] = created_at_column()

    deliverables: Mapped[list[Deliverable]] = relationship(
        order_by="Deliverable.position", lazy="raise", viewonly=True
    )
    milestones: Mapped[list[Milestone]] = relationship(
        order_by="Milestone.position", lazy="raise", viewonly=True
    )


class Deliverable(Base):
    __tablename__ = "deliverables"
    __table_args__ = (Index("ix_deliverables_contract_id_position", "contract_id", "position"),)

    id: Mapped[str] = public_id_column("deliverable")
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    # The offer line this unit comes from (`key`), and its number within the line (1 … count).
    key: Mapped[str] = mapped_column(String(60))
    unit: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    due_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(30), default=DeliverableState.pending.value)
    # delivery (docs/delivery.md): flagged late by a timer at the end of the due date (UTC)
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    late_since: Mapped[datetime | None] = mapped_column(default=None)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = created_at_column()


class Milestone(Base):
    __tablename__ = "milestones"
    __table_args__ = (Index("ix_milestones_contract_id_position", "contract_id", "position"),)

    id: Mapped[str] = public_id_column("milestone")
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # True: due when every deliverable is done (it is linked to all of them).
    on_completion: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(30), default=MilestoneState.pending.value)
    created_at: Mapped[datetime] = created_at_column()


class MilestoneDeliverable(Base):
    """A milestone is met when all of its deliverables are."""

    __tablename__ = "milestone_deliverables"

    milestone_id: Mapped[str] = mapped_column(
        ForeignKey("milestones.id", ondelete="CASCADE"), primary_key=True
    )
    deliverable_id: Mapped[str] = mapped_column(
        ForeignKey("deliverables.id", ondelete="CASCADE"), primary_key=True, index=True
    )
