from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from app.schemas.common import Input, Output, StrictBool

Platform = Literal["instagram", "tiktok", "youtube", "twitch", "x", "blog", "podcast"]


class DisclosureCheckIn(Input):
    platform: Platform
    text: Annotated[str, StringConstraints(max_length=20000)] = Field(
        description="The caption, description, post or show notes as published"
    )
    paid_partnership_label: StrictBool | None = Field(
        None, description="Whether the platform's own paid-partnership label is switched on"
    )


class DisclosureCheckOut(Output):
    passed: bool
    reasons: list[str] = Field(description="Why it passed or failed, and how to fix a failure")
    marker: str | None = Field(description="The disclosure marker that counted, if any")
    position: int | None = Field(description="Character offset of that marker in the text")


class RateEstimateOut(Output):
    platform: Platform
    deliverable_type: str
    currency: str
    p25: int = Field(description="Lower quartile, in the currency's minor unit")
    median: int
    p75: int
    source: Literal["prior", "blended", "market"] = Field(
        description="`prior`: the documented public-rate prior; `blended`: prior and prices "
        "agreed on Rapport; `market`: agreed prices only"
    )
    sample_count: int = Field(description="Comparable prices agreed on Rapport that were used")
    basis: list[str] = Field(description="How the estimate was made, in words")
