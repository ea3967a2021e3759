"""Delivery (docs/delivery.md): deliverables, drafts, proofs, extensions, metrics, disputes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, Strict, StringConstraints

from app.models import (
    DisputeState,
    DraftState,
    ExtensionState,
    MetricSource,
    ProofState,
    Resolution,
    Side,
)
from app.schemas.catalogue import Currency, Url
from app.schemas.common import Input, Output, StrictBool, Text200, Text5000

Caption = Annotated[str, StringConstraints(max_length=10_000)]
Required5000 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)
]
Count = Annotated[int, Strict(), Field(ge=0, le=10**15)]
Money = Annotated[
    int, Strict(), Field(ge=0, le=10**15, description="Integer amount in the currency's minor unit")
]


# --- inputs -------------------------------------------------------------------------------------


class DraftIn(Input):
    caption: Caption = Field("", description="The caption as it will be posted")
    media_urls: list[Url] = Field(
        default_factory=list, max_length=20, description="Where the media can be seen (http(s))"
    )
    notes: Text5000 = Field("", description="Notes for the reviewer")


class ApproveIn(Input):
    feedback: Text5000 | None = Field(None, description="Optional words for the influencer")


class RequestChangesIn(Input):
    feedback: Required5000 = Field(description="What to change")


class ProofIn(Input):
    url: Url = Field(description="The published post (http(s))")
    published_at: AwareDatetime = Field(description="When it went live (not in the future)")
    platform_post_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ] = Field(description="The platform's id of the post")
    caption: Caption = Field(description="The caption as published (checked for disclosure)")
    paid_partnership_label: StrictBool | None = Field(
        None, description="The platform's own paid-partnership label is on"
    )


class ReasonRequiredIn(Input):
    reason: Required5000


class ReasonOptionalIn(Input):
    reason: Text5000 | None = Field(None, description="Why; kept in the audit trail")


class ExtensionIn(Input):
    due_date: date = Field(description="The proposed new due date (later than the current one)")
    reason: Required5000


class ExtensionAnswerIn(Input):
    note: Text5000 | None = None


class MetricReportIn(Input):
    source: MetricSource
    impressions: Count | None = None
    reach: Count | None = None
    likes: Count | None = None
    comments: Count | None = None
    shares: Count | None = None
    saves: Count | None = None
    clicks: Count | None = None
    conversions: Count | None = None
    revenue: Money | None = None
    currency: Currency | None = Field(
        None, description="Of `revenue`; the contract's currency when omitted"
    )
    measured_at: AwareDatetime | None = Field(None, description="When measured (default: now)")
    evidence_url: Url | None = Field(None, description="A screenshot or export (http(s))")
    note: Text5000 | None = None


class DisputeIn(Input):
    reason: Text200 = Field(description="In a few words, e.g. `not delivered`, `late`")
    details: Text5000 = Field("", description="What happened")


class ResolveIn(Input):
    resolution: Resolution = Field(
        description="`release`: pay the influencer every unreleased milestone; `partial_refund`: "
        "refund `refund_amount` to the brand and release the rest; `full_refund`: refund "
        "everything not yet released"
    )
    refund_amount: Annotated[int, Strict(), Field(ge=1, le=10**15)] | None = Field(
        None, description="Minor units; required with (and only with) `partial_refund`"
    )
    note: Required5000 = Field(description="Why: kept in the audit trail")


# --- outputs ------------------------------------------------------------------------------------


class DisclosureOut(Output):
    passed: bool
    reasons: list[str]
    marker: str | None
    position: int | None


class DraftOut(Output):
    id: str = Field(examples=["drf_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    deliverable_id: str
    contract_id: str
    version_no: int
    required: bool = Field(description="The approval policy asked for it (else it is voluntary)")
    caption: str
    media_urls: list[str]
    notes: str
    state: DraftState
    submitted_at: datetime
    review_due_at: datetime = Field(description="Approved automatically when this passes")
    reviewed_at: datetime | None
    feedback: str | None
    approved_automatically: bool
    disclosure: DisclosureOut = Field(description="The caption's disclosure check")


class ProofOut(Output):
    id: str = Field(examples=["prf_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    version_no: int
    url: str
    published_at: datetime
    platform_post_id: str
    caption: str
    paid_partnership_label: bool | None
    disclosure: DisclosureOut
    state: ProofState
    submitted_at: datetime
    verification_due_at: datetime = Field(description="Confirmed automatically when this passes")
    decided_at: datetime | None
    confirmed_automatically: bool
    dispute_reason: str | None


class ExtensionOut(Output):
    id: str = Field(examples=["ext_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    deliverable_id: str
    contract_id: str
    proposed_by: Side
    previous_due_date: date
    due_date: date
    reason: str
    state: ExtensionState
    responded_at: datetime | None
    response_note: str | None
    created_at: datetime


class DeliverableDetailOut(Output):
    id: str = Field(examples=["dlv_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    contract_id: str
    position: int
    key: str
    unit: int
    type: str
    platform: str
    due_date: date
    late_at: datetime = Field(description="Flagged late at this time unless published before")
    state: str = Field(
        description="pending, in_review, changes_requested, approved, published, confirmed, "
        "proof_disputed, cancelled"
    )
    late: bool
    late_since: datetime | None
    draft_required: bool = Field(description="The approval policy asks for an approved draft")
    approval_policy: str
    revision_cap: int
    revisions_used: int = Field(description="Change requests made so far")
    published_at: datetime | None
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    latest_draft: DraftOut | None
    proof: ProofOut | None = Field(description="The latest proof")
    open_extension: ExtensionOut | None
    milestone_ids: list[str] = Field(description="The milestones that pay for it")
    side: Side = Field(description="Your side of the contract")
    allowed_actions: list[str] = Field(description="What your side may do to it now")


class MetricReportOut(Output):
    id: str = Field(examples=["mtr_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    deliverable_id: str
    reported_by: Side
    source: MetricSource
    version_no: int
    supersedes_id: str | None
    superseded_by_id: str | None
    superseded_at: datetime | None
    impressions: int | None
    reach: int | None
    likes: int | None
    comments: int | None
    shares: int | None
    saves: int | None
    clicks: int | None
    conversions: int | None
    revenue: int | None
    currency: str | None
    measured_at: datetime
    evidence_url: str | None
    note: str | None
    created_at: datetime


class MetricsOut(Output):
    deliverable_id: str
    latest: list[MetricReportOut] = Field(
        description="The current version of each series (one party's reports from one source)"
    )
    history: list[MetricReportOut] = Field(description="Every version, newest first")


class PaymentDisputeOut(Output):
    """The brand's bank disputing the funding charge, as Stripe reports it
    (app/services/money/stripe_disputes.py)."""

    id: str = Field(description="Stripe's dispute id", examples=["dp_1NvRapport"])
    contract_id: str
    dispute_id: str | None = Field(
        description="The contract's dispute record it froze the money with (a chargeback); "
        "null for an inquiry, which freezes nothing"
    )
    charge_id: str
    status: str = Field(
        description="Stripe's status: warning_needs_response, warning_under_review, "
        "warning_closed (an inquiry); needs_response, under_review, won, lost (a chargeback)"
    )
    is_inquiry: bool
    reason: str | None
    amount: int = Field(description="Disputed, in minor units of `currency` (the charge's)")
    currency: str
    evidence_due_by: datetime | None
    settlement_currency: str | None = Field(description="The currency Stripe moved it in")
    funds_withdrawn: int = Field(description="Taken by Stripe, in the settlement currency")
    funds_reinstated: int = Field(description="Given back by Stripe (won)")
    dispute_fee: int = Field(description="Stripe's dispute fee net of any fee refunded")
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DisputeOut(Output):
    id: str = Field(examples=["dsp_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    contract_id: str
    opened_by: Side | None = Field(description="null: opened for a chargeback on the funding")
    reason: str
    details: str
    state: DisputeState
    contract_state_before: str
    escalates_at: datetime
    escalated_at: datetime | None
    resolution: Resolution | None
    refund_amount: int | None
    currency: str
    note: str | None
    resolved_at: datetime | None
    withdrawn_at: datetime | None
    created_at: datetime
    payment_dispute: PaymentDisputeOut | None = Field(
        default=None, description="Stripe's side, for a dispute opened for a chargeback"
    )


class MilestoneStateOut(Output):
    id: str
    position: int
    amount: int
    currency: str
    state: str


class OperatorDisputeOut(DisputeOut):
    contract_state: str
    opened_by_user: str | None
    resolved_by: str | None
    unreleased_amount: int = Field(description="Sum of the milestones not yet released")
    milestones: list[MilestoneStateOut]
