"""Influencer listings: the influencer profile is the listing (docs/design/catalogue-shapes.md).

The listing's document fields (topics, audience, rate card, …) live on the `influencers` row as
JSON, exactly as the API reads and writes them. Social accounts are rows of their own (they have
ids and routes). What the catalogue filters and sorts on is *also* written, denormalised, into
plain columns and small side tables, so every filter is an indexed equality/range predicate that
behaves identically on SQLite and PostgreSQL:

- `influencers.max_followers` — the largest account's followers (the `followers` sort and range);
- `influencers.search_text` — lower-cased text searched with `LIKE '%term%'` on both databases;
- `listing_topics`, `listing_countries` (audience share), `listing_rates` (rate card).

`services.catalogue.search_columns` computes all of them from the document, for the API and for the
bulk loader alike; nothing else writes them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, JsonDoc, created_at_column, public_id_column, updated_at_column


class Influencer(Base):
    __tablename__ = "influencers"
    __table_args__ = (
        Index("ix_influencers_max_followers_id", "max_followers", "id"),
        Index("ix_influencers_created_at_id", "created_at", "id"),
    )

    id: Mapped[str] = public_id_column("influencer")
    # At most one profile per user. Null for listings imported without an account (the seed).
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True, default=None
    )
    display_name: Mapped[str] = mapped_column(String(200))
    bio: Mapped[str] = mapped_column(Text, default="")
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    languages: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    topics: Mapped[list[Any]] = mapped_column(JsonDoc, default=list, server_default=text("'[]'"))
    content_samples: Mapped[list[Any]] = mapped_column(
        JsonDoc, default=list, server_default=text("'[]'")
    )
    values: Mapped[list[Any]] = mapped_column(JsonDoc, default=list, server_default=text("'[]'"))
    refused_categories: Mapped[list[Any]] = mapped_column(
        JsonDoc, default=list, server_default=text("'[]'")
    )
    available: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    unavailable_until: Mapped[date | None] = mapped_column(Date, default=None)
    audience: Mapped[dict[str, Any]] = mapped_column(
        JsonDoc, default=dict, server_default=text("'{}'")
    )
    sponsored_posts: Mapped[list[Any]] = mapped_column(
        JsonDoc, default=list, server_default=text("'[]'")
    )
    rate_card: Mapped[list[Any]] = mapped_column(JsonDoc, default=list, server_default=text("'[]'"))
    # Derived (see the module docstring); never written by hand.
    max_followers: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    search_text: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    # Loaded explicitly (`selectinload`); touching it unloaded raises instead of querying.
    accounts: Mapped[list[SocialAccount]] = relationship(
        order_by=lambda: [SocialAccount.position, SocialAccount.id], lazy="raise", viewonly=True
    )


class SocialAccount(Base):
    """One account of a listing on one platform; the handle is unique per platform."""

    __tablename__ = "social_accounts"
    __table_args__ = (
        # `handle_key` is the handle lower-cased: uniqueness is case-insensitive on both DBs.
        UniqueConstraint("platform", "handle_key", name="uq_social_accounts_platform_handle"),
        Index("ix_social_accounts_platform_followers", "platform", "followers"),
    )

    id: Mapped[str] = public_id_column("social_account")
    influencer_id: Mapped[str] = mapped_column(
        ForeignKey("influencers.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(20))
    # The listing's own order of its accounts (the first is the main one); new ones go last.
    position: Mapped[int] = mapped_column(Integer, default=0)
    handle: Mapped[str] = mapped_column(String(100))
    handle_key: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2048))
    followers: Mapped[int] = mapped_column(BigInteger, default=0)
    # Averages per post; None = unknown (not reported), which is not 0 (migration 0018).
    avg_views: Mapped[int | None] = mapped_column(BigInteger, default=None)
    avg_likes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    avg_comments: Mapped[int | None] = mapped_column(BigInteger, default=None)
    avg_shares: Mapped[int | None] = mapped_column(BigInteger, default=None)
    avg_saves: Mapped[int | None] = mapped_column(BigInteger, default=None)
    posts_per_week: Mapped[float] = mapped_column(Float, default=0.0)
    follower_history: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    # Per-post counts (`PostMetrics` JSON: posted_at, views, likes, …, sponsored; null =
    # unknown) and a sample of comment texts, as the API takes them.
    recent_posts: Mapped[list[Any]] = mapped_column(
        JsonDoc, default=list, server_default=text("'[]'")
    )
    comment_samples: Mapped[list[Any]] = mapped_column(
        JsonDoc, default=list, server_default=text("'[]'")
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class ListingTopic(Base):
    """Index row: the listing has this topic."""

    __tablename__ = "listing_topics"
    __table_args__ = (Index("ix_listing_topics_topic", "topic", "influencer_id"),)

    influencer_id: Mapped[str] = mapped_column(
        ForeignKey("influencers.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(60), primary_key=True)


class ListingCountry(Base):
    """Index row: this share (percent) of the listing's audience is in this country."""

    __tablename__ = "listing_countries"
    __table_args__ = (Index("ix_listing_countries_country_share", "country", "share"),)

    influencer_id: Mapped[str] = mapped_column(
        ForeignKey("influencers.id", ondelete="CASCADE"), primary_key=True
    )
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    share: Mapped[float] = mapped_column(Float)


class ListingRate(Base):
    """Index row: one rate-card entry (integer minor units of `currency`)."""

    __tablename__ = "listing_rates"
    __table_args__ = (
        Index("ix_listing_rates_type_currency_amount", "deliverable_type", "currency", "amount"),
    )

    influencer_id: Mapped[str] = mapped_column(
        ForeignKey("influencers.id", ondelete="CASCADE"), primary_key=True
    )
    deliverable_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)


class ListingChange(Base):
    """The newest change to each listing (or to one of its accounts), for the matching index.

    Written only by database triggers (migration 0023) on `influencers` and `social_accounts`,
    so a change made behind the API's back (the bulk loader, SQL) is logged like one made
    through it, in the writer's own transaction. One row per listing ever changed, replaced on
    every change with a new `seq`; a deleted listing keeps its row (a tombstone). The index asks
    only for rows newer than what it has seen (app/services/matching/service.py): on SQLite
    `seq`, assigned under the database's single write lock and so in commit order; on
    PostgreSQL `txid`, the writing transaction's id, read back from the oldest transaction still
    running when the index last looked.
    """

    __tablename__ = "listing_changes"
    __table_args__ = ({"sqlite_autoincrement": True},)

    # AUTOINCREMENT on SQLite: a replaced or deleted row's number is never handed out again.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # No foreign key: the row outlives a deleted listing, which is how the index learns of it.
    listing_id: Mapped[str] = mapped_column(String(40), unique=True)
    txid: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
