"""Contracts (docs/negotiation.md): the accepted terms, deliverables and milestones."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from app.models import Side
from app.schemas.common import Output
from app.schemas.negotiation import TermsOut


class ContractDeliverableOut(Output):
    id: str = Field(examples=["dlv_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    position: int
    key: str = Field(description="The offer line it comes from")
    unit: int = Field(description="1 … the line's count")
    type: str
    due_date: date
    state: str


class MilestoneOut(Output):
    id: str = Field(examples=["mst_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    position: int
    name: str | None
    amount: int
    currency: str
    on_completion: bool
    deliverable_ids: list[str] = Field(description="Paid when all of these are done")
    state: str


class ExclusivityWindowOut(Output):
    category: str
    starts_on: date
    until: date = Field(description="The last day (inclusive)")


class ContractOut(Output):
    id: str = Field(examples=["ctr_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    bid_id: str
    offer_id: str
    brief_id: str
    brand_id: str
    influencer_id: str
    state: str = Field(description="awaiting_funding, active, expired, cancelled, …")
    price: int
    currency: str
    terms: TermsOut = Field(description="The accepted offer's terms, verbatim")
    accepted_at: datetime
    funding_due_at: datetime = Field(description="Unfunded by then, the contract expires")
    funded_at: datetime | None
    ended_at: datetime | None
    exclusivity: ExclusivityWindowOut | None
    programme_id: str | None = Field(
        description="The ambassador programme this contract is a period of (docs/relationships.md)"
    )
    period_no: int = Field(description="The programme's period (1 for a one-off contract)")
    deliverables: list[ContractDeliverableOut]
    milestones: list[MilestoneOut]
    side: Side = Field(description="Your side of this contract")
    allowed_actions: list[str] = Field(description="What your side may do to it now")
    created_at: datetime
