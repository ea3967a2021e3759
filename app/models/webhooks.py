"""Public events and outbound webhooks (docs/partners.md, app/services/workflow/events.py).

- `events`: one row per state change a partner may hear about (`offer.accepted`, …), written in
  the transaction of the change. `payload` is the envelope exactly as it is delivered and listed
  (`{id, type, created_at, data: {object}}`); `brand_id` / `influencer_id` are its audience: the
  parties to the object, the only callers who see it.
- `webhook_endpoints`: where a brand or an influencer wants events sent, with the `whsec_`
  signing secret (and the previous one while a rotation's overlap lasts).
- `webhook_deliveries`: one event to one endpoint; each attempt is an outbox job, and the
  attempts are logged on the row (`attempt_log`).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JsonDoc, created_at_column, public_id_column


class EndpointOwner(enum.StrEnum):
    brand = "brand"
    influencer = "influencer"


class EndpointState(enum.StrEnum):
    enabled = "enabled"
    disabled = "disabled"


class DeliveryState(enum.StrEnum):
    pending = "pending"  # an attempt is due (the first, or a retry)
    succeeded = "succeeded"
    failed = "failed"  # the schedule is spent, or the endpoint is gone (410) or disabled


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Plain strings with a CHECK (as in app/models/workflow.py).
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=20)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_brand_id_created_at", "brand_id", "created_at"),
        Index("ix_events_influencer_id_created_at", "influencer_id", "created_at"),
        Index("ix_events_object_id", "object_id"),
    )

    id: Mapped[str] = public_id_column("event")
    type: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(40))
    brand_id: Mapped[str | None] = mapped_column(String(40), default=None)
    influencer_id: Mapped[str | None] = mapped_column(String(40), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = created_at_column()


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_owner", "owner_kind", "owner_id"),)

    id: Mapped[str] = public_id_column("webhook_endpoint")
    owner_kind: Mapped[EndpointOwner] = mapped_column(_enum(EndpointOwner, "endpoint_owner"))
    owner_id: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    # Empty: every event type.
    event_types: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    state: Mapped[EndpointState] = mapped_column(
        _enum(EndpointState, "endpoint_state"), default=EndpointState.enabled
    )
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # Kept readable: a signature needs the secret itself (as at Stripe and Svix).
    secret: Mapped[str] = mapped_column(String(200))
    previous_secret: Mapped[str | None] = mapped_column(String(200), default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = created_at_column()


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),)

    id: Mapped[str] = public_id_column("webhook_delivery")
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    state: Mapped[DeliveryState] = mapped_column(
        _enum(DeliveryState, "delivery_state"), default=DeliveryState.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # [{at, status_code, error, duration_ms}], oldest first.
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    # The delivery this one redelivers (a manual redelivery is a new delivery of the event).
    redelivery_of: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = created_at_column()
