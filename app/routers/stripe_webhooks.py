"""Stripe's webhooks: verified, stored once, answered at once; processed by the worker."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field

from app.db import Session
from app.deps import AppSettings, Now
from app.errors import problem_responses
from app.services.money import stripe_events as service

router = APIRouter(tags=["stripe"])


class WebhookReceived(BaseModel):
    received: bool = True
    event_id: str
    duplicate: bool = Field(description="True when this event had been received before")


@router.post(
    "/v1/stripe/webhooks",
    summary="Stripe webhook endpoint (called by Stripe)",
    description="Stripe POSTs events here, signed with `Stripe-Signature`. No bearer token: the "
    "signature (HMAC-SHA256 with the endpoint's `whsec_` secret) and its timestamp (within "
    "`RAPPORT_STRIPE_WEBHOOK_TOLERANCE_SECONDS` of our clock) authenticate the call. Each event "
    "is stored once (by event id) and processed once, later, by the worker.",
    responses=problem_responses(*service.WEBHOOK_PROBLEMS),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "A Stripe event object (`object: event`), raw bytes",
                    }
                }
            },
        }
    },
)
async def receive_stripe_webhook(
    request: Request,
    session: Session,
    settings: AppSettings,
    now: Now,
    stripe_signature: Annotated[str | None, Header(description="Stripe's signature")] = None,
) -> WebhookReceived:
    body = await request.body()
    received = await service.receive_webhook(
        session,
        body,
        stripe_signature,
        secrets=settings.stripe_webhook_secrets,
        tolerance_seconds=settings.stripe_webhook_tolerance_seconds,
        now=now,
    )
    return WebhookReceived(event_id=received.event_id, duplicate=received.duplicate)
