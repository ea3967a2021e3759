"""Relationships (issue 15, docs/relationships.md): what a brand keeps about each creator.

- `relationships` (`rel_…`): one row per brand-influencer pair, made on first contact (an
  invitation, a bid, or the brand adding the creator). `status` moves through the machine in
  app/services/relationships/records.py (`RELATIONSHIPS`); `status_reason` says why (paused,
  do_not_work) and, like `notes` and `tags`, is the brand's alone.
- `relationship_lists` (`rls_…`) and `relationship_list_entries`: a brand's named lists of
  creators (shortlists, favourites).
- `ratings` (`rtg_…`): one per party and finished contract, 1-5 and a text per dimension; the
  other party sees it once both have rated or 14 days after the contract ended.
- `performance_visibility`: which figures of their performance history a creator shows brands.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import (
    Base,
    JsonDoc,
    created_at_column,
    public_id_column,
    updated_at_column,
)
from app.models.brand import _enum
from app.models.negotiation import Side


class RelationshipStatus(enum.StrEnum):
    prospect = "prospect"
    active = "active"
    ambassador = "ambassador"
    paused = "paused"
    do_not_work = "do_not_work"


class FirstContact(enum.StrEnum):
    invitation = "invitation"
    bid = "bid"
    brand = "brand"  # the brand added the creator itself (POST …/relationships)


class ListKind(enum.StrEnum):
    shortlist = "shortlist"
    favourites = "favourites"


class Relationship(Base):
    __tablename__ = "relationships"
    __table_args__ = (
        UniqueConstraint("brand_id", "influencer_id", name="uq_relationships_brand_influencer"),
        Index("ix_relationships_influencer_id", "influencer_id"),
    )

    id: Mapped[str] = public_id_column("relationship")
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    influencer_id: Mapped[str] = mapped_column(ForeignKey("influencers.id", ondelete="CASCADE"))
    status: Mapped[RelationshipStatus] = mapped_column(
        _enum(RelationshipStatus, "relationship_status"), default=RelationshipStatus.prospect
    )
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    first_contact: Mapped[FirstContact] = mapped_column(_enum(FirstContact, "first_contact"))
    first_contact_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class RelationshipList(Base):
    __tablename__ = "relationship_lists"
    __table_args__ = (
        UniqueConstraint("brand_id", "name", name="uq_relationship_lists_brand_name"),
    )

    id: Mapped[str] = public_id_column("relationship_list")
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[ListKind] = mapped_column(_enum(ListKind, "relationship_list_kind"))
    created_at: Mapped[datetime] = created_at_column()


class RelationshipListEntry(Base):
    __tablename__ = "relationship_list_entries"

    list_id: Mapped[str] = mapped_column(
        ForeignKey("relationship_lists.id", ondelete="CASCADE"), primary_key=True
    )
    influencer_id: Mapped[str] = mapped_column(
        ForeignKey("influencers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column()


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("contract_id", "rater_side", name="uq_ratings_contract_side"),
        Index("ix_ratings_influencer_id", "influencer_id"),
        Index("ix_ratings_brand_id", "brand_id"),
    )

    id: Mapped[str] = public_id_column("rating")
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    # The contract's parties, copied: the tenant filters and the history's grouping.
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    influencer_id: Mapped[str] = mapped_column(ForeignKey("influencers.id", ondelete="CASCADE"))
    rater_side: Mapped[Side] = mapped_column(_enum(Side, "rating_side"))
    rated_by_user: Mapped[str | None] = mapped_column(String(40), default=None)
    # {dimension: {"score": 1..5, "text": "…"}}; the dimensions depend on who is rated.
    scores: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column()


class PerformanceVisibility(Base):
    """A creator's choice of figures brands may see (no row: every figure is public)."""

    __tablename__ = "performance_visibility"

    influencer_id: Mapped[str] = mapped_column(
        ForeignKey("influencers.id", ondelete="CASCADE"), primary_key=True
    )
    public: Mapped[list[str]] = mapped_column(JsonDoc)
    updated_at: Mapped[datetime] = updated_at_column()
