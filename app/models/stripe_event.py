"""The Stripe webhook inbox: every event Stripe sent us, stored once, processed once.

`POST /v1/stripe/webhooks` verifies the signature and inserts the event here — `stripe_event_id`
is unique, so a redelivery (Stripe retries, replays, the same event on two endpoints) only
counts another delivery — and enqueues one outbox job (`stripe.event`, idempotency key
`stripe-event:<evt id>`) in the same transaction. The worker's job loads the row, dispatches on
`type` (app/services/money/stripe_events.py) and records `processed_at`, `outcome` and a `note`.

Decision — no unique (object id, type). Stripe sends different events with the same object and
type for real changes: `account.updated` on every change of an account, `charge.refunded` for
each partial refund, `transfer.reversed` for each partial reversal,
`payment_intent.payment_failed` for each declined attempt. Such a constraint would drop real
news. Redeliveries carry the same event id, which is what is deduplicated; for the types that
can only happen once per object (`payment_intent.succeeded`, `charge.dispute.created`, …) a
second event id is stored and marked `duplicate` when processed (`ONCE_PER_OBJECT`), and the
money handlers' own idempotency (ledger entry keys) is the last line.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JsonDoc, public_id_column


class StripeEventOutcome(enum.StrEnum):
    applied = "applied"  # a handler acted on it
    ignored = "ignored"  # a handler looked and had nothing to do (note says why)
    no_handler = "no_handler"  # a type we subscribe to whose handler is not written yet
    unknown_type = "unknown_type"  # a type Rapport does not know at all
    duplicate = "duplicate"  # a second event for an object/type that happens once


class StripeEvent(Base):
    __tablename__ = "stripe_events"
    __table_args__ = (
        Index("ix_stripe_events_object_id_type", "object_id", "type"),
        Index("ix_stripe_events_type_received_at", "type", "received_at"),
    )

    id: Mapped[str] = public_id_column("stripe_event")
    stripe_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    # `data.object.id`, and the connected account the event happened on (Connect events).
    object_id: Mapped[str | None] = mapped_column(String(255), default=None)
    account: Mapped[str | None] = mapped_column(String(255), default=None)
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    api_version: Mapped[str | None] = mapped_column(String(40), default=None)
    stripe_created_at: Mapped[datetime] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    deliveries: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[datetime] = mapped_column()
    last_received_at: Mapped[datetime] = mapped_column()
    job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[StripeEventOutcome | None] = mapped_column(
        Enum(
            StripeEventOutcome,
            name="stripe_event_outcome",
            native_enum=False,
            create_constraint=True,
            length=20,
        ),
        default=None,
    )
    note: Mapped[str | None] = mapped_column(Text, default=None)


class StripeObjectState(Base):
    """The newest event applied to each Stripe object (issue 11: webhook order must not matter).

    Stripe does not deliver events in order. Before an event's *state* (a status, an amount
    reversed, a failure code) is written anywhere, `stripe_events.follow_newest` compares it with
    the row here by the object's own status order (`STATUS_ORDER`: a payout `failed` never goes
    back to `paid`) and then by the event's `created`; the older state is not applied. Money is
    booked from what the event proves happened (ledger keys), whatever its age."""

    __tablename__ = "stripe_object_states"

    object_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str | None] = mapped_column(String(40), default=None)
    # The status's place in its object's order (or a monotone amount, e.g. a transfer's
    # `amount_reversed`); -1 before any event was applied.
    rank: Mapped[int] = mapped_column(BigInteger, default=-1)
    event_created: Mapped[datetime] = mapped_column()
    event_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column()


class StripeDispute(Base):
    """A dispute Stripe opened on a funding charge: an inquiry (`warning_*`) or a chargeback.

    Keyed by Stripe's id (`dp_…`). Its fields follow the newest event (`StripeObjectState`).
    `dispute_id` is the contract's dispute record (app/models/delivery.py `disputes`) opened when
    the chargeback froze the contract; an inquiry opens none (Stripe took nothing). The money
    withdrawn and reinstated (in the currency Stripe settled it in) and the dispute fee are what
    Stripe's balance transactions said, and are booked in the ledger (`chargeback:<dp>`,
    `chargeback_reversal:<dp>`, `dispute_fee:<txn>`)."""

    __tablename__ = "stripe_disputes"
    __table_args__ = (Index("ix_stripe_disputes_contract_id", "contract_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's dp_…
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="RESTRICT"))
    dispute_id: Mapped[str | None] = mapped_column(
        ForeignKey("disputes.id", ondelete="RESTRICT"), default=None
    )
    charge_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(60), default=None)
    amount: Mapped[int] = mapped_column(BigInteger)  # in the charge's currency
    currency: Mapped[str] = mapped_column(String(3))
    evidence_due_by: Mapped[datetime | None] = mapped_column(default=None)
    # What Stripe's balance transactions moved, in the settlement currency.
    settlement_currency: Mapped[str | None] = mapped_column(String(3), default=None)
    funds_withdrawn: Mapped[int] = mapped_column(BigInteger, default=0)
    funds_reinstated: Mapped[int] = mapped_column(BigInteger, default=0)
    dispute_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()

    @property
    def is_inquiry(self) -> bool:
        return self.status.startswith("warning_")
