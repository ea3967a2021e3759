"""Relationships (docs/relationships.md): records, lists, timelines, performance, ratings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from app.models.relationship import FirstContact, ListKind, RelationshipStatus
from app.schemas.common import Input, Output, StrictInt, Text200, Text5000

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Tags = Annotated[list[Tag], Field(max_length=30)]
Figure = Literal["on_time", "revisions", "metrics", "disclosure", "ratings"]

# --- records ------------------------------------------------------------------------------------


class RelationshipOut(Output):
    """The brand's record of one creator. Notes, tags and the status reason are the brand's."""

    id: str = Field(examples=["rel_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    brand_id: str
    influencer_id: str
    status: RelationshipStatus
    status_reason: str | None = Field(
        description="Why the brand paused the creator or marked them do_not_work"
    )
    notes: str
    tags: list[str]
    lists: list[str] = Field(description="The brand's lists the creator is on (names)")
    first_contact: FirstContact = Field(description="invitation, bid, or brand (added by it)")
    first_contact_at: datetime
    created_at: datetime
    updated_at: datetime


class RelationshipIn(Input):
    influencer_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    notes: Text5000 | None = None
    tags: Tags | None = None


class RelationshipPatch(Input):
    notes: Text5000 | None = Field(None, description="The brand's private notes (replaced)")
    tags: Tags | None = Field(None, description="The brand's private tags (replaced)")


class StatusIn(Input):
    status: RelationshipStatus
    reason: Text5000 | None = Field(
        None, description="Required for paused and do_not_work; seen by the brand only"
    )


class RelationshipTimelineEntryOut(Output):
    at: datetime
    kind: str = Field(description="relationship, invitation, bid, offer, message, contract, …")
    object_id: str
    event: str = Field(description="What happened to the object (a transition's action, …)")
    summary: str
    actor: str | None = Field(description="brand, influencer, operator or system")
    contract_id: str | None
    bid_id: str | None


class RelationshipTimelineOut(Output):
    relationship_id: str
    influencer_id: str
    entries: list[RelationshipTimelineEntryOut]


# --- lists --------------------------------------------------------------------------------------


class RelationshipListIn(Input):
    name: Text200
    kind: ListKind = ListKind.shortlist


class RelationshipListOut(Output):
    id: str = Field(examples=["rls_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    brand_id: str
    name: str
    kind: ListKind
    influencer_ids: list[str] = Field(description="Oldest entry first")
    created_at: datetime


# --- performance --------------------------------------------------------------------------------


class RateFigureOut(Output):
    rate: float | None = Field(description="count / of; null (with the reason) when `of` is 0")
    count: int
    of: int
    reason: str


class RatingsFigureOut(Output):
    mean: float | None = Field(description="Mean 1-5 of the revealed ratings by brands")
    count: int
    by_dimension: dict[str, float] = Field(
        examples=[{"communication": 4.5, "quality": 4.8, "timeliness": 4.0}]
    )
    reason: str


class PerformanceFiguresOut(Output):
    """A figure is null when the viewer may not see it (the creator kept it private)."""

    finished_contracts: int
    on_time: RateFigureOut | None = Field(description="Published on or before the due date")
    revisions: RateFigureOut | None = Field(
        description="Revision rounds used against the cap (lower is better)"
    )
    metrics: RateFigureOut | None = Field(
        description="KPIs met; `rate` is the mean attainment min(reported / target, 1)"
    )
    disclosure: RateFigureOut | None = Field(description="Posts that passed the disclosure check")
    ratings: RatingsFigureOut | None
    score: float | None = Field(description="Mean of the visible figures as goodness in [0, 1]")


class PerformanceOut(Output):
    influencer_id: str
    public: list[Figure] = Field(description="The figures the creator shows brands")
    record: PerformanceFiguresOut = Field(
        description="With all brands (for a brand or anyone: within the public figures)"
    )
    with_brand: PerformanceFiguresOut | None = Field(
        None, description="The asking brand's own history with the creator, every figure"
    )


class VisibilityIn(Input):
    public: Annotated[list[Figure], Field(max_length=5)] = Field(
        description="The figures brands may see; the rest stay the creator's"
    )


# --- re-engagement ------------------------------------------------------------------------------


class ReEngagementSuggestionOut(Output):
    influencer_id: str
    score: float = Field(description="The creator's score with the brand (every figure)")
    last_engaged_at: datetime
    days_since: int
    reason: str


class ReEngagedByOut(Output):
    brand_id: str
    brand_name: str
    finished_contracts: int
    first_finished_at: datetime
    re_engaged_at: datetime = Field(description="The brand's first contact after that")
    times: int = Field(description="Invitations and contracts since the first finished contract")
    reason: str


# --- ratings ------------------------------------------------------------------------------------


class DimensionIn(Input):
    score: StrictInt = Field(ge=1, le=5)
    text: Text5000 = ""


class DimensionOut(Output):
    score: int
    text: str


class RatingIn(Input):
    """The brand rates quality, timeliness, communication; the creator rates brief_clarity,
    payment, communication."""

    scores: dict[Annotated[str, StringConstraints(max_length=40)], DimensionIn] = Field(
        examples=[
            {
                "quality": {"score": 5, "text": "Great reels"},
                "timeliness": {"score": 4, "text": ""},
                "communication": {"score": 5, "text": "Quick answers"},
            }
        ]
    )


class RatingOut(Output):
    id: str = Field(examples=["rtg_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    contract_id: str
    rater_side: Literal["brand", "influencer"]
    scores: dict[str, DimensionOut] = Field(
        examples=[
            {
                "quality": {"score": 5, "text": "Great reels"},
                "timeliness": {"score": 4, "text": "One a day late"},
                "communication": {"score": 5, "text": "Quick answers"},
            }
        ]
    )
    created_at: datetime


class ContractRatingsOut(Output):
    contract_id: str
    side: Literal["brand", "influencer"] = Field(description="The caller's side")
    mine: RatingOut | None
    theirs: RatingOut | None = Field(description="Null until revealed (or not rated)")
    revealed: bool
    reveal_at: datetime | None = Field(
        description="When both ratings show: the second rating, or 14 days after the end"
    )
