"""Delivery: what happens to a contract's deliverables once it is funded (docs/delivery.md).

- `drafts` (`drf_…`): versions of a deliverable's content the influencer submits for review —
  caption, media URLs, notes — numbered per deliverable (`version_no` 1, 2, …). Each has its own
  review (`in_review` → `approved` | `changes_requested`, or `withdrawn`), the brand's feedback,
  the review deadline and whether the approval was automatic (the window lapsed). `required`
  says whether the contract's approval policy asked for it; a voluntary draft never blocks.
- `proofs` (`prf_…`): proof of publication (post URL, time, platform post id, caption) with the
  disclosure check's result; numbered per deliverable (a disputed proof may be replaced).
- `deadline_extensions` (`ext_…`): a party proposes a later due date, the other answers.
- `metric_reports` (`mtr_…`): figures of a published deliverable. A *series* is one party's
  reports from one source; a correction is the next version of its series and supersedes the
  previous one (which keeps `superseded_at` / `superseded_by_id`).
- `disputes` (`dsp_…`): a party's complaint about a contract; it freezes the contract's money
  until the parties withdraw it or an operator resolves it.

The machines are declared in app/services/delivery/deliverables.py (deliverables and drafts),
services/delivery/milestones.py, services/delivery/extensions.py and services/delivery/disputes.py.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JsonDoc, created_at_column, public_id_column
from app.models.brand import _enum
from app.models.negotiation import Side


class DraftState(enum.StrEnum):
    in_review = "in_review"
    approved = "approved"
    changes_requested = "changes_requested"
    withdrawn = "withdrawn"


class ProofState(enum.StrEnum):
    submitted = "submitted"
    confirmed = "confirmed"
    disputed = "disputed"


class ExtensionState(enum.StrEnum):
    proposed = "proposed"
    accepted = "accepted"
    declined = "declined"
    withdrawn = "withdrawn"
    cancelled = "cancelled"  # the deliverable was published or cancelled first


class MetricSource(enum.StrEnum):
    self_reported = "self_reported"
    platform_api = "platform_api"
    screenshot = "screenshot"


class DisputeState(enum.StrEnum):
    open = "open"
    escalated = "escalated"  # nobody settled it within the escalation delay
    resolved = "resolved"
    withdrawn = "withdrawn"


class Resolution(enum.StrEnum):
    release = "release"
    partial_refund = "partial_refund"
    full_refund = "full_refund"


METRIC_FIELDS: tuple[str, ...] = (
    "impressions",
    "reach",
    "likes",
    "comments",
    "shares",
    "saves",
    "clicks",
    "conversions",
)


class Draft(Base):
    __tablename__ = "drafts"
    __table_args__ = (
        UniqueConstraint("deliverable_id", "version_no"),
        Index("ix_drafts_deliverable_id_state", "deliverable_id", "state"),
    )

    id: Mapped[str] = public_id_column("draft")
    deliverable_id: Mapped[str] = mapped_column(ForeignKey("deliverables.id", ondelete="CASCADE"))
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    version_no: Mapped[int] = mapped_column(Integer)
    # Whether the approval policy asked for this draft (a voluntary one never blocks proof).
    required: Mapped[bool] = mapped_column(Boolean)
    caption: Mapped[str] = mapped_column(Text)
    media_urls: Mapped[list[str]] = mapped_column(JsonDoc)
    notes: Mapped[str] = mapped_column(Text)
    state: Mapped[DraftState] = mapped_column(_enum(DraftState, "draft_state"))
    submitted_by: Mapped[str | None] = mapped_column(String(40), default=None)
    submitted_at: Mapped[datetime] = mapped_column()
    review_due_at: Mapped[datetime] = mapped_column()
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    reviewed_by: Mapped[str | None] = mapped_column(String(40), default=None)
    feedback: Mapped[str | None] = mapped_column(Text, default=None)
    approved_automatically: Mapped[bool] = mapped_column(Boolean, default=False)
    # `check_disclosure` of the caption at submission: {passed, reasons, marker, position}.
    disclosure: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = created_at_column()


class Proof(Base):
    __tablename__ = "proofs"
    __table_args__ = (UniqueConstraint("deliverable_id", "version_no"),)

    id: Mapped[str] = public_id_column("proof")
    deliverable_id: Mapped[str] = mapped_column(ForeignKey("deliverables.id", ondelete="CASCADE"))
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    version_no: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2048))
    published_at: Mapped[datetime] = mapped_column()
    platform_post_id: Mapped[str] = mapped_column(String(200))
    caption: Mapped[str] = mapped_column(Text)
    paid_partnership_label: Mapped[bool | None] = mapped_column(Boolean, default=None)
    disclosure: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    state: Mapped[ProofState] = mapped_column(_enum(ProofState, "proof_state"))
    submitted_by: Mapped[str | None] = mapped_column(String(40), default=None)
    submitted_at: Mapped[datetime] = mapped_column()
    verification_due_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str | None] = mapped_column(String(40), default=None)
    confirmed_automatically: Mapped[bool] = mapped_column(Boolean, default=False)
    dispute_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = created_at_column()


class DeadlineExtension(Base):
    __tablename__ = "deadline_extensions"
    __table_args__ = (Index("ix_deadline_extensions_deliverable_id_id", "deliverable_id", "id"),)

    id: Mapped[str] = public_id_column("extension")
    deliverable_id: Mapped[str] = mapped_column(ForeignKey("deliverables.id", ondelete="CASCADE"))
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    proposed_by: Mapped[Side] = mapped_column(_enum(Side, "extension_side"))
    proposed_by_user: Mapped[str | None] = mapped_column(String(40), default=None)
    previous_due_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[ExtensionState] = mapped_column(_enum(ExtensionState, "extension_state"))
    responded_by_user: Mapped[str | None] = mapped_column(String(40), default=None)
    responded_at: Mapped[datetime | None] = mapped_column(default=None)
    response_note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = created_at_column()


class MetricReport(Base):
    __tablename__ = "metric_reports"
    __table_args__ = (
        UniqueConstraint("deliverable_id", "reported_by", "source", "version_no"),
        Index("ix_metric_reports_deliverable_id_id", "deliverable_id", "id"),
    )

    id: Mapped[str] = public_id_column("metric_report")
    deliverable_id: Mapped[str] = mapped_column(ForeignKey("deliverables.id", ondelete="CASCADE"))
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    reported_by: Mapped[Side] = mapped_column(_enum(Side, "metric_side"))
    reported_by_user: Mapped[str | None] = mapped_column(String(40), default=None)
    source: Mapped[MetricSource] = mapped_column(_enum(MetricSource, "metric_source"))
    version_no: Mapped[int] = mapped_column(Integer)
    supersedes_id: Mapped[str | None] = mapped_column(
        ForeignKey("metric_reports.id", ondelete="SET NULL"), default=None
    )
    superseded_by_id: Mapped[str | None] = mapped_column(String(40), default=None)
    superseded_at: Mapped[datetime | None] = mapped_column(default=None)
    impressions: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reach: Mapped[int | None] = mapped_column(BigInteger, default=None)
    likes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    comments: Mapped[int | None] = mapped_column(BigInteger, default=None)
    shares: Mapped[int | None] = mapped_column(BigInteger, default=None)
    saves: Mapped[int | None] = mapped_column(BigInteger, default=None)
    clicks: Mapped[int | None] = mapped_column(BigInteger, default=None)
    conversions: Mapped[int | None] = mapped_column(BigInteger, default=None)
    revenue: Mapped[int | None] = mapped_column(BigInteger, default=None)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    measured_at: Mapped[datetime] = mapped_column()
    evidence_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = created_at_column()


class Dispute(Base):
    __tablename__ = "disputes"
    __table_args__ = (
        Index("ix_disputes_contract_id_id", "contract_id", "id"),
        Index("ix_disputes_state_id", "state", "id"),
        # At most one dispute per contract is unsettled (the contract is `disputed` meanwhile).
        Index(
            "uq_disputes_contract_unsettled",
            "contract_id",
            unique=True,
            sqlite_where=text("state IN ('open', 'escalated')"),
            postgresql_where=text("state IN ('open', 'escalated')"),
        ),
    )

    id: Mapped[str] = public_id_column("dispute")
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="RESTRICT"))
    # None: opened for the platform (a chargeback on the funding charge), not by a party.
    opened_by: Mapped[Side | None] = mapped_column(_enum(Side, "dispute_side"), default=None)
    opened_by_user: Mapped[str | None] = mapped_column(String(40), default=None)
    reason: Mapped[str] = mapped_column(String(200))
    details: Mapped[str] = mapped_column(Text)
    state: Mapped[DisputeState] = mapped_column(_enum(DisputeState, "dispute_state"))
    # The contract's state when the dispute opened (`active` or `delivered`).
    contract_state_before: Mapped[str] = mapped_column(String(30))
    escalates_at: Mapped[datetime] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution: Mapped[Resolution | None] = mapped_column(
        _enum(Resolution, "dispute_resolution"), default=None
    )
    refund_amount: Mapped[int | None] = mapped_column(BigInteger, default=None)
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(40), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = created_at_column()
