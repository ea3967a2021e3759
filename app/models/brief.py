"""Briefs: what a brand wants made, for whom, by when and for how much.

The brief's document fields are stored as the API shapes them (docs/design/catalogue-shapes.md);
the budget and timeline are plain columns because the catalogue filters and sorts on them, and
the lists it filters on (topics, platforms, target countries, deliverable types) are also written
to small side tables by `app.services.catalogue.search_columns`. The lifecycle is declared once, in
`app.services.catalogue.briefs.TRANSITIONS`.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JsonDoc, created_at_column, public_id_column, updated_at_column
from app.models.brand import _enum


class BriefState(enum.StrEnum):
    draft = "draft"
    open = "open"
    closed = "closed"
    completed = "completed"
    cancelled = "cancelled"


class Visibility(enum.StrEnum):
    public = "public"
    invite_only = "invite_only"


class PlatformCoverage(enum.StrEnum):
    """What a brief's platforms mean for its creators (the matching engine's
    `scoring.PLATFORM_COVERAGE`, same values): `preferred` ranks a creator who can make only part
    of the deliverables lower; `required` ranks only creators on every platform; `alternatives`
    takes the platforms as alternatives (a creator on any of them is a full match)."""

    preferred = "preferred"
    required = "required"
    alternatives = "alternatives"


class Brief(Base):
    __tablename__ = "briefs"
    __table_args__ = (
        Index("ix_briefs_state_created_at_id", "state", "created_at", "id"),
        # The catalogue's newest-first pages under its visibility filter (migration 0016).
        Index("ix_briefs_created_at_id", "created_at", "id"),
        Index("ix_briefs_state_deadline_id", "state", "application_deadline", "id"),
    )

    id: Mapped[str] = public_id_column("brief")
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[BriefState] = mapped_column(
        _enum(BriefState, "brief_state"), default=BriefState.draft
    )
    # Bumped by every write (ORM updates and state compare-and-sets alike): an edit that raced
    # a transition fails instead of changing a brief that is no longer a draft.
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(200))
    objective: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    must_haves: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    category: Mapped[str | None] = mapped_column(String(60), default=None)
    target_audience: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    topics: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    platforms: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    deliverables: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    currency: Mapped[str] = mapped_column(String(3))
    budget_total: Mapped[int] = mapped_column(BigInteger)
    per_influencer_min: Mapped[int] = mapped_column(BigInteger)
    per_influencer_max: Mapped[int] = mapped_column(BigInteger)
    application_deadline: Mapped[date] = mapped_column(Date)
    content_due: Mapped[date] = mapped_column(Date)
    publish_start: Mapped[date] = mapped_column(Date)
    publish_end: Mapped[date] = mapped_column(Date)
    terms_defaults: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    kpis: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    # The brand's own weights for ranking listings against this brief (None: the defaults).
    match_weights: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, default=None)
    # Whether every creator must be on every platform of the brief (migration 0024).
    platform_coverage: Mapped[PlatformCoverage] = mapped_column(
        _enum(PlatformCoverage, "brief_platform_coverage"),
        default=PlatformCoverage.preferred,
        server_default=PlatformCoverage.preferred.value,
    )
    visibility: Mapped[Visibility] = mapped_column(
        _enum(Visibility, "brief_visibility"), default=Visibility.public
    )
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    __mapper_args__ = {"version_id_col": version}


class BriefTopic(Base):
    __tablename__ = "brief_topics"
    __table_args__ = (Index("ix_brief_topics_topic", "topic", "brief_id"),)

    brief_id: Mapped[str] = mapped_column(
        ForeignKey("briefs.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(60), primary_key=True)


class BriefPlatform(Base):
    __tablename__ = "brief_platforms"
    __table_args__ = (Index("ix_brief_platforms_platform", "platform", "brief_id"),)

    brief_id: Mapped[str] = mapped_column(
        ForeignKey("briefs.id", ondelete="CASCADE"), primary_key=True
    )
    platform: Mapped[str] = mapped_column(String(20), primary_key=True)


class BriefCountry(Base):
    """A target country. A brief with none targets any country."""

    __tablename__ = "brief_countries"
    __table_args__ = (Index("ix_brief_countries_country", "country", "brief_id"),)

    brief_id: Mapped[str] = mapped_column(
        ForeignKey("briefs.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str] = mapped_column(String(2), primary_key=True)


class BriefDeliverableType(Base):
    __tablename__ = "brief_deliverable_types"
    __table_args__ = (Index("ix_brief_deliverable_types_type", "deliverable_type", "brief_id"),)

    brief_id: Mapped[str] = mapped_column(
        ForeignKey("briefs.id", ondelete="CASCADE"), primary_key=True
    )
    deliverable_type: Mapped[str] = mapped_column(String(40), primary_key=True)
