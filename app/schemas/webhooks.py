"""Outbound webhooks and the event feed (docs/partners.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from app.models import DeliveryState, EndpointOwner, EndpointState
from app.schemas.common import Input, Output, StrictBool, Text5000

URL_FIELD = Field(
    min_length=1,
    max_length=2048,
    description="Where events are POSTed; https:// in production, and never a private, "
    "loopback or link-local address (checked again before every attempt)",
    examples=["https://partner.example/rapport/webhooks"],
)


class WebhookEndpointIn(Input):
    url: str = URL_FIELD
    event_types: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="The event types to send (see `GET /v1/event-types`); empty: every type",
        examples=[["offer.accepted", "contract.active"]],
    )
    description: Text5000 | None = None
    brand_id: str | None = Field(
        None,
        max_length=40,
        description="The brand whose events to send (you must be its owner or admin); "
        "omitted: your own events as an influencer",
    )


class WebhookEndpointPatch(Input):
    url: str | None = Field(None, min_length=1, max_length=2048)
    event_types: list[str] | None = Field(None, max_length=200)
    description: Text5000 | None = None
    enabled: StrictBool | None = Field(
        None, description="false disables the endpoint; true enables it again (after a 410)"
    )


class WebhookEndpointOut(Output):
    id: str = Field(examples=["whe_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    owner_kind: EndpointOwner
    owner_id: str = Field(description="The brand's id, or your listing's")
    url: str
    event_types: list[str] = Field(description="Empty: every type")
    description: str | None
    state: EndpointState
    disabled_reason: str | None = Field(description="Why it is disabled (e.g. a 410 Gone)")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then, deliveries also carry a signature made with the previous secret"
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecretOut(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (`whsec_…`); shown only now: keep it",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class DeliveryAttemptOut(Output):
    attempt: int
    at: datetime
    status_code: int | None = Field(description="The receiver's answer; null: none")
    error: str | None
    duration_ms: int


class WebhookDeliveryOut(Output):
    id: str = Field(examples=["whd_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    endpoint_id: str
    event_id: str = Field(description="Also the `webhook-id` header")
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempt_log: list[DeliveryAttemptOut]
    redelivery_of: str | None = Field(description="The delivery this one sent again")
    created_at: datetime


class EventDataOut(Output):
    object: dict[str, Any] = Field(
        description="The object after the change, as the API serves it (without the fields "
        "that depend on who asks: `side`, `allowed_actions`, `unread_count`)",
        examples=[
            {
                "id": "ofr_01JD3M8ZQ4X2V6R9T0A1B2C3D4",
                "bid_id": "bid_01JD3M8ZQ4X2V6R9T0A1B2C3D4",
                "version": 2,
                "author": "brand",
                "state": "accepted",
                "contract_id": None,
            }
        ],
    )


class EventOut(Output):
    """The webhook body and a `GET /v1/events` item: the same envelope."""

    id: str = Field(examples=["evt_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    type: str = Field(examples=["offer.accepted"])
    created_at: datetime
    data: EventDataOut


class EventTypesOut(Output):
    data: list[str]


class TransferOut(Output):
    """A milestone's money sent to the influencer's Stripe account (the `transfer.*` events)."""

    id: str = Field(examples=["trf_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    milestone_id: str
    contract_id: str
    influencer_id: str
    stripe_transfer_id: str
    amount: int
    currency: str
    amount_reversed: int
    created_at: datetime
