"""Ambassador programmes (issue 15 item 5, docs/relationships.md): a recurring contract.

- `ambassador_programmes` (`amb_…`): one per accepted offer whose terms carry a `recurrence`
  (period, notice). It owns a sequence of **period contracts**: ordinary `contracts` rows
  (`programme_id`, `period_no` 1, 2 …), each with its own deliverables, milestones, funding and
  ledger, made by the worker when a period starts. `current_period` is the newest period made;
  `next_renewal_at` when the next one starts (None once no further period will). `state` moves
  through the machine in app/services/relationships/programmes.py (`PROGRAMMES`); `version` is
  the machine's compare-and-set column, so two renewals of one period cannot both win.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, public_id_column, updated_at_column
from app.models.brand import _enum
from app.models.negotiation import Side


class ProgrammeState(enum.StrEnum):
    active = "active"  # renewing every period
    notice_given = "notice_given"  # a party gave notice: no period starts after it ends
    ended = "ended"  # the notice ended
    lapsed = "lapsed"  # a period went unfunded, or a renewal would break an exclusivity


class Interval(enum.StrEnum):
    week = "week"
    month = "month"


class AmbassadorProgramme(Base):
    __tablename__ = "ambassador_programmes"
    __table_args__ = (
        Index("ix_ambassador_programmes_brand_id_id", "brand_id", "id"),
        Index("ix_ambassador_programmes_influencer_id_id", "influencer_id", "id"),
    )

    id: Mapped[str] = public_id_column("programme")
    # The accepted offer whose terms recur (one programme per offer), and its deal.
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id", ondelete="RESTRICT"), unique=True)
    bid_id: Mapped[str] = mapped_column(ForeignKey("bids.id", ondelete="RESTRICT"))
    brief_id: Mapped[str] = mapped_column(ForeignKey("briefs.id", ondelete="RESTRICT"))
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id", ondelete="RESTRICT"))
    influencer_id: Mapped[str] = mapped_column(ForeignKey("influencers.id", ondelete="RESTRICT"))
    state: Mapped[ProgrammeState] = mapped_column(
        _enum(ProgrammeState, "programme_state"), default=ProgrammeState.active
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The recurrence, copied from the terms: a period is `interval_count` weeks or months.
    interval: Mapped[Interval] = mapped_column(_enum(Interval, "programme_interval"))
    interval_count: Mapped[int] = mapped_column(Integer)
    notice_days: Mapped[int] = mapped_column(Integer)
    # What one period costs the brand before its fee (the terms' price), in minor units.
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # Period n starts at starts_at + (n - 1) periods (period 1: the acceptance).
    starts_at: Mapped[datetime] = mapped_column()
    current_period: Mapped[int] = mapped_column(Integer, default=1)
    next_renewal_at: Mapped[datetime | None] = mapped_column(default=None)
    notice_given_at: Mapped[datetime | None] = mapped_column(default=None)
    notice_given_by: Mapped[Side | None] = mapped_column(
        _enum(Side, "programme_notice_side"), default=None
    )
    notice_reason: Mapped[str | None] = mapped_column(Text, default=None)
    notice_ends_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    # Why it ended or lapsed, in words both parties see.
    end_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
