"""Ambassador programmes (docs/relationships.md): recurring contracts and their periods."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from app.models import Interval, ProgrammeState, Side
from app.schemas.common import Input, Output, Text5000


class NoticeIn(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "We are moving our budget to podcasts"}]}
    )

    reason: Text5000 | None = Field(None, description="Why; both parties read it on the programme")


class PerPeriodOut(Output):
    price: int = Field(description="What one period pays the creator, in minor units")
    currency: str
    deliverables: int = Field(description="Deliverables due each period")


class PeriodFundingOut(Output):
    status: str = Field(
        description="The period's PaymentIntent's status (`succeeded`, `requires_payment_method` "
        "after a decline …)"
    )
    failure_code: str | None = Field(description="Stripe's decline code, when it failed")
    failure_message: str | None = Field(description="Stripe's words for the failure")


class ProgrammePeriodOut(Output):
    period_no: int
    starts_at: datetime
    contract_id: str = Field(examples=["ctr_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    contract_state: str = Field(description="awaiting_funding, active, completed …")
    funding_due_at: datetime = Field(description="Unfunded by then, the programme lapses")
    funded_at: datetime | None
    funding: PeriodFundingOut | None = Field(
        description="The brand's payment for the period; null before any was attempted"
    )


class ProgrammeOut(Output):
    id: str = Field(examples=["amb_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    offer_id: str = Field(description="The accepted offer whose terms recur")
    bid_id: str
    brief_id: str
    brand_id: str
    influencer_id: str
    state: ProgrammeState = Field(
        description="active, notice_given, ended (the notice ran out) or lapsed (a period went "
        "unfunded, or a renewal was forbidden)"
    )
    interval: Interval
    interval_count: int = Field(description="A period is this many weeks or months")
    notice_days: int
    per_period: PerPeriodOut
    starts_at: datetime = Field(description="Period 1's start: the acceptance")
    current_period: int = Field(description="The newest period started")
    next_renewal_at: datetime | None = Field(
        description="When the next period starts; null once none will"
    )
    notice_given_at: datetime | None
    notice_given_by: Side | None
    notice_reason: str | None
    notice_ends_at: datetime | None = Field(description="No period starts at or after this")
    ended_at: datetime | None
    end_reason: str | None = Field(description="Why it ended or lapsed")
    periods: list[ProgrammePeriodOut] = Field(description="Every period so far, oldest first")
    side: Side = Field(description="Your side of this programme")
    allowed_actions: list[str] = Field(description="What your side may do to it now")
    created_at: datetime
