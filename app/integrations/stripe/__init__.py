"""Stripe, behind one small interface: `StripeGateway` (see gateway.py and docs/payments.md)."""

from app.integrations.stripe.gateway import (
    STRIPE_API_VERSION,
    StripeCardDeclined,
    StripeGateway,
    StripeGatewayError,
    StripeRequestRejected,
    StripeUnavailable,
    idempotency_key,
)

__all__ = [
    "STRIPE_API_VERSION",
    "StripeCardDeclined",
    "StripeGateway",
    "StripeGatewayError",
    "StripeRequestRejected",
    "StripeUnavailable",
    "idempotency_key",
]
