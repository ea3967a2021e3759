from __future__ import annotations

from pydantic import BaseModel, Field


class Component(BaseModel):
    value: float = Field(ge=0, le=1)
    reason: str


class ListingMatchOut(BaseModel):
    listing_id: str
    display_name: str | None = None
    score: float = Field(ge=0, le=1)
    components: dict[str, Component] = Field(
        description="topic_relevance, audience_fit, authenticity, engagement_quality, price_fit, "
        "over_exposure, relationship — each in [0, 1] with its reason"
    )
    gates: dict[str, str] = Field(
        default_factory=dict,
        description="Hard lines this listing crossed (`fake_followers`: high fake-follower "
        "evidence; `over_exposure`: most recent posts sponsored; `inactive`: no post in 90 "
        "days and no posting rate), each with its evidence. A "
        "gated listing ranks after every ungated one; `relax` turns a gate off",
    )


class MatchesOut(BaseModel):
    brief_id: str
    data: list[ListingMatchOut]
    next_cursor: str | None
    has_more: bool
    weights: dict[str, float] = Field(description="The weights this ranking used")
    notes: list[str] = Field(
        default_factory=list,
        description="Remarks on the ranking as a whole, e.g. when most relevant creators cost "
        "more than the brief's per-influencer budget (the order then follows relevance)",
    )
    excluded: dict[str, str] = Field(
        default_factory=dict,
        description="For each listing named in `explain`: why the hard filters exclude it",
    )


class BriefMatchOut(BaseModel):
    brief_id: str
    title: str | None = None
    score: float = Field(ge=0, le=1)
    components: dict[str, Component]


class RecommendedBriefsOut(BaseModel):
    data: list[BriefMatchOut]
    weights: dict[str, float]
    reason: str | None = Field(
        None,
        description="Why the list is empty (no open brief, no social account, the filters that "
        "left every brief out); null when it is not",
        examples=[
            "Your listing has no social accounts, and every brief names the platforms it "
            "wants: add one with POST /v1/influencers/me/accounts"
        ],
    )
