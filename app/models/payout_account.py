"""An influencer's Stripe connected account (Express), as far as Rapport needs to know it.

One row per influencer, created the first time they start payout onboarding
(`POST /v1/influencers/me/payouts/onboarding`); a separate table rather than columns on
`influencers` because most listings never get paid (the imported catalogue), because the row
changes at Stripe's pace (webhooks) rather than the profile's, and because the money code locks
and reads it on its own.

The status columns mirror the Stripe account: `payouts_enabled` decides whether released money
can leave the influencer's Stripe balance for their bank; `transfers_capability` (`active`,
`inactive`, `pending`) whether a transfer to the account is possible at all;
`requirements_due` lists what Stripe still needs (`past_due` and `currently_due`). They are
written from Stripe's answers when onboarding starts and from `account.updated` events after
that; `last_event_at` (the `created` time of the last event applied) keeps an older event that
arrives late from overwriting a newer state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JsonDoc, created_at_column, updated_at_column

# Where a creator's payout account stands, derived from the row (services/money/payouts.py).
PayoutAccountState = Literal[
    "not_started", "onboarding", "restricted", "enabled", "account_unknown"
]


class PayoutAccount(Base):
    __tablename__ = "payout_accounts"

    # RESTRICT: a profile whose Stripe account may hold money is not deleted by a cascade.
    influencer_id: Mapped[str] = mapped_column(
        ForeignKey("influencers.id", ondelete="RESTRICT"), primary_key=True
    )
    stripe_account_id: Mapped[str] = mapped_column(String(255), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    transfers_capability: Mapped[str] = mapped_column(String(20), default="inactive")
    requirements_due: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    disabled_reason: Mapped[str | None] = mapped_column(String(100), default=None)
    # How many onboarding links were issued: the n-th link's Stripe idempotency key is
    # `account-link:<influencer>:<n>` — derived from this row, fresh for each new link.
    links_issued: Mapped[int] = mapped_column(Integer, default=0)
    last_event_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
