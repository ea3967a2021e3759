"""Invitations, bids, offers (terms) and messages (docs/negotiation.md).

Structure is checked here; the rules against the brief and the clock (the brief's currency,
due dates inside the brief's publishing window and not in the past, the payment schedule
summing to the price, deliverable types on the brief's platforms) live in
`app.services.negotiation.terms`, which names the offending field in the 422.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, Strict, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from app.models import BidState, Interval, OfferState, Side
from app.schemas.briefs import Exclusivity, Kpi, UsageRights
from app.schemas.catalogue import (
    UNIQUE,
    ApprovalPolicy,
    Currency,
    DeliverableTypeName,
    ListingId,
    Url,
    no_duplicates,
)
from app.schemas.common import Input, Output, StrictBool, Text200, Text5000

DeliverableKey = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$", min_length=1, max_length=60),
    Field(description="Names an offer line, for the payment schedule (default `d1`, `d2` …)"),
]
Price = Annotated[
    int,
    Strict(),
    Field(ge=1, le=10**15, description="Integer amount in the minor unit of the brief's currency"),
]
Hours = Annotated[int, Strict(), Field(ge=1, le=720)]
MessageText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)
]


# --- invitations --------------------------------------------------------------------------------


class InvitationsIn(Input):
    influencer_ids: Annotated[
        list[ListingId], Field(min_length=1, max_length=50), AfterValidator(no_duplicates), UNIQUE
    ] = Field(description="Listings (`inf_…`) to invite; inviting one again changes nothing")


class BriefInvitationOut(Output):
    id: str = Field(examples=["inv_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    brief_id: str
    influencer_id: str
    invited_by: str | None
    created_at: datetime


# --- deliverable lines (bids and offers) ----------------------------------------------------------


class DeliverableLine(Input):
    """`count` units of one deliverable type, all due on `due_date` (inside the brief's
    publishing window)."""

    key: DeliverableKey | None = None
    type: DeliverableTypeName
    count: Annotated[int, Strict(), Field(ge=1, le=20)] = 1
    due_date: date


def _unique_keys(lines: list[DeliverableLine]) -> list[DeliverableLine]:
    keys = [line.key for line in lines if line.key is not None]
    if len(keys) != len(set(keys)):
        raise PydanticCustomError("unique_keys", "deliverable keys must be unique")
    return lines


DeliverableLines = Annotated[
    list[DeliverableLine], Field(min_length=1, max_length=20), AfterValidator(_unique_keys)
]


class DeliverableLineOut(Output):
    key: str
    type: str
    count: int
    due_date: date


# --- bids ---------------------------------------------------------------------------------------


class BidTimeline(Input):
    """When the influencer would do the work: from `start_date` (not in the past) to `end_date`
    (not after the brief's publishing window ends)."""

    start_date: date
    end_date: date
    note: Annotated[str, StringConstraints(max_length=1000)] = ""


class BidIn(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "price": 100_000,
                    "currency": "EUR",
                    "deliverables": [
                        {"type": "instagram_reel", "count": 2, "due_date": "2026-12-28"}
                    ],
                    "timeline": {
                        "start_date": "2026-12-01",
                        "end_date": "2027-01-05",
                        "note": "Filming on race week",
                    },
                    "pitch": "Two reels from my race-week breakfast routine, filmed at dawn.",
                }
            ]
        }
    )

    price: Price
    currency: Currency | None = Field(
        None, description="Must be the brief's currency (the default)"
    )
    deliverables: DeliverableLines
    timeline: BidTimeline
    pitch: Text5000 = ""


class BidTimelineOut(Output):
    start_date: date
    end_date: date
    note: str


class BidOut(Output):
    id: str = Field(examples=["bid_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    brief_id: str
    brand_id: str
    influencer_id: str
    state: BidState
    version: int = Field(
        description="The negotiation's version (also the `ETag`); every bid transition and "
        "every offer made, accepted or rejected increments it"
    )
    price: int
    currency: str
    deliverables: list[DeliverableLineOut]
    timeline: BidTimelineOut
    pitch: str
    side: Side = Field(description="Your side of this bid")
    allowed_actions: list[str] = Field(description="What your side may do to the bid now")
    latest_offer_id: str | None
    contract_id: str | None = Field(description="Set once an offer was accepted")
    message_count: int
    unread_count: int = Field(description="Messages from the other side you have not read")
    created_at: datetime


class ReasonIn(Input):
    reason: Text5000 | None = Field(None, description="Why; kept in the audit trail")


# --- offers (terms) -----------------------------------------------------------------------------


class MilestoneIn(Input):
    """A payment: `amount` is released when the named deliverables are done, or when all of
    them are (`on_completion`)."""

    name: Text200 | None = None
    amount: Price
    deliverables: Annotated[
        list[DeliverableKey], Field(max_length=50), AfterValidator(no_duplicates), UNIQUE
    ] = Field(default_factory=list)
    on_completion: StrictBool = False

    @model_validator(mode="after")
    def _one_trigger(self) -> MilestoneIn:
        if bool(self.deliverables) == self.on_completion:
            raise PydanticCustomError(
                "milestone_trigger",
                "name deliverables or set on_completion (exactly one of them)",
            )
        return self


class RecurrenceIn(Input):
    """An ambassador programme (docs/relationships.md): the terms are one period's — its
    deliverables (their due dates are period 1's; each later period's move by whole periods),
    its price and payment schedule — renewed every period until a party gives notice."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"interval": "month", "interval_count": 1, "notice_days": 30}]
        }
    )

    interval: Interval = Field(description="`week` or `month`")
    interval_count: Annotated[int, Strict(), Field(ge=1, le=12)] = Field(
        1, description="A period is this many weeks or months (1-12)"
    )
    notice_days: Annotated[int, Strict(), Field(ge=0, le=365)] = Field(
        30,
        description="Notice either party gives to end it (0-365 days): no period starts after "
        "the notice ends",
    )


class RecurrenceOut(Output):
    interval: Interval
    interval_count: int
    notice_days: int


class OfferIn(Input):
    """New terms. Omitted fields take the brief's terms defaults, then the platform's."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "price": 120_000,
                    "deliverables": [
                        {
                            "key": "reels",
                            "type": "instagram_reel",
                            "count": 2,
                            "due_date": "2026-12-28",
                        },
                        {
                            "key": "story",
                            "type": "instagram_story",
                            "count": 1,
                            "due_date": "2027-01-02",
                        },
                    ],
                    "payment_schedule": [
                        {"name": "Reels live", "amount": 60_000, "deliverables": ["reels"]},
                        {"name": "Wrap-up", "amount": 60_000, "on_completion": True},
                    ],
                }
            ]
        }
    )

    price: Price
    currency: Currency | None = Field(
        None, description="Must be the brief's currency (the default)"
    )
    deliverables: DeliverableLines
    approval_policy: ApprovalPolicy | None = Field(
        None, description="Drafts needed before publishing: none, the first deliverable, all"
    )
    revision_cap: Annotated[int, Strict(), Field(ge=0, le=20)] | None = Field(
        None, description="Revision rounds the brand may request per deliverable"
    )
    review_window_hours: Hours | None = Field(
        None, description="The brand's time to review a draft (default 72); then it is approved"
    )
    verification_window_hours: Hours | None = Field(
        None, description="The brand's time to check a proof (default 72); then it is accepted"
    )
    funding_window_hours: Hours | None = Field(
        None, description="Time to fund the contract after acceptance (default 7 days)"
    )
    usage_rights: UsageRights | None = None
    exclusivity: Exclusivity | None = None
    payment_schedule: Annotated[list[MilestoneIn], Field(min_length=1, max_length=20)] | None = (
        Field(
            None,
            description="Milestones whose amounts sum exactly to the price (default: one "
            "milestone of the whole price on completion)",
        )
    )
    kpis: Annotated[list[Kpi], Field(max_length=20)] | None = None
    disclosure_required: StrictBool | None = None
    recurrence: RecurrenceIn | None = Field(
        None,
        description="Renew these terms every period as an ambassador programme (default: a "
        "one-off contract)",
    )
    expires_at: datetime | None = Field(
        None, description="When the offer lapses (default: 72 hours from now)"
    )


class UsageRightsOut(Output):
    channels: list[str]
    days: int


class ExclusivityOut(Output):
    category: str | None
    days: int


class KpiOut(Output):
    metric: str
    target: int


class MilestoneTermsOut(Output):
    name: str | None
    amount: int
    deliverables: list[str]
    on_completion: bool


class TermsOut(Output):
    price: int
    currency: str
    deliverables: list[DeliverableLineOut]
    approval_policy: str
    revision_cap: int
    review_window_hours: int
    verification_window_hours: int
    funding_window_hours: int
    usage_rights: UsageRightsOut
    exclusivity: ExclusivityOut
    payment_schedule: list[MilestoneTermsOut]
    kpis: list[KpiOut]
    disclosure_required: bool
    recurrence: RecurrenceOut | None = Field(
        None, description="Set for an ambassador programme: the terms are one period's"
    )


class OfferOut(Output):
    id: str = Field(examples=["ofr_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    bid_id: str
    version: int = Field(description="1 for the bid's first offer, then 2, 3 …")
    author: Side = Field(description="The side that made the offer")
    state: OfferState
    terms: TermsOut
    expires_at: datetime
    created_at: datetime
    responded_at: datetime | None
    latest: bool = Field(description="Whether this is the bid's latest offer")
    contract_id: str | None = Field(description="The contract its acceptance created")


class Change(Output):
    field: str = Field(description="Dotted path, e.g. `price` or `deliverables.0.due_date`")
    before: Any = Field(description="The value in `against`")
    after: Any = Field(description="The value in this offer")


class OfferDiffOut(Output):
    offer_id: str
    against: str
    changes: list[Change]


# --- messages -----------------------------------------------------------------------------------


class AttachmentIn(Input):
    url: Url
    title: Text200 | None = None


class MessageIn(Input):
    text: MessageText
    attachments: Annotated[list[AttachmentIn], Field(max_length=10)] = Field(
        default_factory=list, description="Links (http or https), at most 10"
    )


class AttachmentOut(Output):
    url: str
    title: str | None


class MessageOut(Output):
    id: str = Field(examples=["msg_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    bid_id: str
    seq: int = Field(description="1, 2, … in the thread")
    author: Side
    author_user_id: str | None
    text: str
    attachments: list[AttachmentOut]
    created_at: datetime


class ReadIn(Input):
    up_to: str = Field(description="The last message read (`msg_…`); earlier ones count as read")


class ReadMarkerOut(Output):
    bid_id: str
    side: Side
    read_up_to: str | None = Field(description="The last message your side has read")
    read_seq: int
    unread_count: int
