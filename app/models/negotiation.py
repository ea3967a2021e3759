"""Negotiation: invitations to briefs, bids, offers (versioned terms) and each bid's messages.

- `brief_invitations`: a brand invited an influencer to a brief. An invite-only brief is visible
  to its invitees (services/catalogue/briefs.py `invited_brief_ids`) and takes bids from them only.
- `bids`: an influencer's application to a brief. At most one *active* bid per influencer and
  brief (`uq_bids_active`, a partial unique index over the active states). `version` is the
  negotiation's version: every bid transition and every offer made, accepted or rejected bumps it
  with a compare-and-set; it is the `ETag` of the bid and of its offers. `message_count` hands out
  the thread's message numbers; `brand_read_seq` / `influencer_read_seq` are the read markers.
- `offers`: immutable terms, numbered per bid (`version` 1, 2, …; unique per bid, so two
  concurrent counter-offers can never both become version n). Only `state` and `responded_at`
  ever change.
- `bid_messages`: the thread between the two parties, numbered per bid (`seq`).

The state machines are declared in negotiation/bids.py (bids) and negotiation/offers.py
(offers); docs/negotiation.md has the tables.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JsonDoc, created_at_column, public_id_column
from app.models.brand import _enum


class Side(enum.StrEnum):
    """The two parties of a negotiation (also the actor kinds that may act in it)."""

    brand = "brand"
    influencer = "influencer"

    @property
    def other(self) -> Side:
        return Side.influencer if self is Side.brand else Side.brand


class BidState(enum.StrEnum):
    submitted = "submitted"
    shortlisted = "shortlisted"
    declined = "declined"
    withdrawn = "withdrawn"
    in_negotiation = "in_negotiation"
    accepted = "accepted"
    expired = "expired"


ACTIVE_BID_STATES: tuple[BidState, ...] = (
    BidState.submitted,
    BidState.shortlisted,
    BidState.in_negotiation,
    BidState.accepted,
)
_ACTIVE_SQL = "state IN ({})".format(", ".join(f"'{s.value}'" for s in ACTIVE_BID_STATES))


class OfferState(enum.StrEnum):
    draft = "draft"  # only inside the transaction that creates it (then `send`)
    open = "open"
    accepted = "accepted"
    rejected = "rejected"
    countered = "countered"
    expired = "expired"
    cancelled = "cancelled"


class BriefInvitation(Base):
    __tablename__ = "brief_invitations"
    __table_args__ = (
        UniqueConstraint("brief_id", "influencer_id", name="uq_brief_invitations_brief_influencer"),
        Index("ix_brief_invitations_influencer", "influencer_id", "brief_id"),
    )

    id: Mapped[str] = public_id_column("invitation")
    brief_id: Mapped[str] = mapped_column(ForeignKey("briefs.id", ondelete="CASCADE"))
    influencer_id: Mapped[str] = mapped_column(ForeignKey("influencers.id", ondelete="CASCADE"))
    invited_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = created_at_column()


class Bid(Base):
    __tablename__ = "bids"
    __table_args__ = (
        # One active bid per influencer per brief; withdrawn, declined and expired bids do not
        # count, so the influencer may bid again after them.
        Index(
            "uq_bids_active",
            "brief_id",
            "influencer_id",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        Index("ix_bids_brief_id_id", "brief_id", "id"),
        Index("ix_bids_brand_id_id", "brand_id", "id"),
        Index("ix_bids_influencer_id_id", "influencer_id", "id"),
    )

    id: Mapped[str] = public_id_column("bid")
    brief_id: Mapped[str] = mapped_column(ForeignKey("briefs.id", ondelete="CASCADE"))
    # The brief's brand, copied: the tenant filter of the brand side.
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    influencer_id: Mapped[str] = mapped_column(ForeignKey("influencers.id", ondelete="CASCADE"))
    submitted_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[BidState] = mapped_column(
        _enum(BidState, "bid_state"), default=BidState.submitted
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    deliverables: Mapped[list[Any]] = mapped_column(JsonDoc)
    timeline: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    pitch: Mapped[str] = mapped_column(Text, default="")
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    brand_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    influencer_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (UniqueConstraint("bid_id", "version", name="uq_offers_bid_version"),)

    id: Mapped[str] = public_id_column("offer")
    bid_id: Mapped[str] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    author_side: Mapped[Side] = mapped_column(_enum(Side, "negotiation_side"))
    author_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[OfferState] = mapped_column(
        _enum(OfferState, "offer_state"), default=OfferState.draft
    )
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # The whole terms document (price and currency included), as the API shows it.
    terms: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
    responded_at: Mapped[datetime | None] = mapped_column(default=None)


class BidMessage(Base):
    __tablename__ = "bid_messages"
    __table_args__ = (UniqueConstraint("bid_id", "seq", name="uq_bid_messages_bid_seq"),)

    id: Mapped[str] = public_id_column("message")
    bid_id: Mapped[str] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    author_side: Mapped[Side] = mapped_column(_enum(Side, "negotiation_side"))
    author_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    body: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    created_at: Mapped[datetime] = created_at_column()
