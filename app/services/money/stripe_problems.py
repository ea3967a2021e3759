"""What a route answers when Stripe says no (docs/payments.md, "Errors"): one mapping from the
gateway's typed errors to problems, used by every route that calls Stripe.

*Mistakes are 4xx, outages are 5xx.* The question is who can fix it:

- a card error (402) → 402 `payment-declined`: the payer tries another card;
- the object is not in a state that allows it (`payment_intent_unexpected_state`,
  `charge_already_refunded` …) → 409 `payment-state-conflict`, with the object's status: the
  request came too late (or twice); read the state;
- a parameter whose value the caller gave is refused (`resource_missing` on `payment_method` …)
  → 422 `payment-method-invalid` / `payment-parameter-invalid` naming the field: the caller
  sends another value;
- Stripe could not be reached, failed (5xx), rate-limited us, or a key is still in use → 503
  `payment-provider-unavailable` with `Retry-After`: the same request later;
- anything else (our key, a request Rapport built wrong) → 502 `payment-provider-rejected`:
  for the operators.

Every problem carries Stripe's own words: `stripe_code`, `stripe_message` and
`stripe_request_id` (what Stripe support asks for).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidRequest, Problem
from app.integrations.stripe import StripeCardDeclined, StripeGatewayError, StripeUnavailable

logger = logging.getLogger("rapport.stripe.problems")

T = TypeVar("T")

RETRY_AFTER_SECONDS = 30

# Stripe error codes that mean "the object is in another state": the request is well-formed
# but came too late (or twice). https://docs.stripe.com/error-codes
STATE_CODES = frozenset(
    {
        "payment_intent_unexpected_state",
        "charge_already_captured",
        "charge_already_refunded",
        "charge_disputed",
        "charge_expired_for_capture",
        "transfer_already_reversed",
        "payout_not_pending",
    }
)


def _stripe_words(exc: StripeGatewayError) -> dict[str, Any]:
    return {
        "stripe_code": exc.code,
        "stripe_message": exc.message,
        "stripe_request_id": exc.request_id,
    }


class PaymentProviderUnavailable(Problem):
    status, slug, title = 503, "payment-provider-unavailable", "Stripe cannot be reached now"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or "Try again in a minute; nothing was lost", **extensions)
        self.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)


class PaymentProviderRejected(Problem):
    """Stripe refused a request for a reason the caller cannot fix (our key, our request)."""

    status, slug, title = 502, "payment-provider-rejected", "Stripe refused the request"


class PaymentStateConflict(Conflict):
    slug, title = "payment-state-conflict", "Stripe's object is not in a state that allows this"


class PaymentDeclined(Problem):
    status, slug, title = 402, "payment-declined", "The card was declined"
    # The failure is recorded on the payment even though the request fails.
    commit_on_error = True


class PaymentParameterInvalid(InvalidRequest):
    slug, title = "payment-parameter-invalid", "Stripe refused a value you sent"

    def __init__(self, detail: str, errors: list[dict[str, Any]], **extensions: Any) -> None:
        super().__init__(detail, errors)
        self.extensions.update(extensions)


class PaymentMethodInvalid(PaymentParameterInvalid):
    slug, title = "payment-method-invalid", "Stripe does not accept this payment method"


# What a route that calls Stripe declares in its OpenAPI responses.
STRIPE_PROBLEMS: tuple[type[Problem], ...] = (
    PaymentProviderRejected,
    PaymentProviderUnavailable,
)


def stripe_problem(exc: StripeGatewayError, *, caller_params: Collection[str] = ()) -> Problem:
    """The problem for a gateway error. `caller_params`: the Stripe parameters whose values
    came from the caller (a refusal naming one of them is the caller's mistake, a 422)."""
    words = _stripe_words(exc)
    what = exc.operation.replace("_", " ")
    if isinstance(exc, StripeUnavailable):
        return PaymentProviderUnavailable(
            f"Stripe could not {what} now ({exc.message}); try again, nothing was lost", **words
        )
    if isinstance(exc, StripeCardDeclined):
        return PaymentDeclined(
            exc.message,
            decline_code=exc.decline_code,
            payment_intent_id=exc.payment_intent_id,
            **words,
        )
    if exc.code in STATE_CODES:
        extra: dict[str, Any] = {}
        status = exc.stripe_object_status("payment_intent")
        if status is not None:
            extra["payment_intent_status"] = status
        return PaymentStateConflict(exc.message, **words, **extra)
    if exc.param and exc.param in caller_params and exc.http_status in (400, 404):
        cls = PaymentMethodInvalid if exc.param == "payment_method" else PaymentParameterInvalid
        errors = [{"field": exc.param, "message": exc.message, "rule": exc.code or "invalid"}]
        return cls(f"{exc.param}: {exc.message}", errors, **words)
    logger.error("stripe refused %s: %s", exc.operation, exc.message)
    return PaymentProviderRejected(
        f"Stripe refused {what}" + (f" ({exc.code})" if exc.code else "") + f": {exc.message}",
        **words,
    )


async def end_transaction(session: AsyncSession) -> None:
    """Commit what the request did so far, so no transaction is open while Stripe answers: a
    call can take seconds, and an open transaction holds its row locks (on SQLite the whole
    database's write lock) all that time. The one exception to "services never commit"."""
    if session.in_transaction():
        await session.commit()


async def call_stripe(call: Awaitable[T], *, caller_params: Collection[str] = ()) -> T:
    """Await a gateway call; a gateway error becomes its problem (see `stripe_problem`)."""
    try:
        return await call
    except StripeGatewayError as exc:
        raise stripe_problem(exc, caller_params=caller_params) from exc


async def create_once(
    create: Callable[[str], Awaitable[T]],
    key: str,
    find: Callable[[], Awaitable[T | None]],
    *,
    what: str,
) -> T:
    """Create a Stripe object under `key`, learning the outcome when it is unknown.

    After a 5xx or a lost answer Stripe replays the stored 5xx under the key for 24 h, so the key
    alone learns nothing: `find` looks the object up (by the metadata we send with it) and it is
    adopted; only when none exists is it made, under a second key of its own (a retry of this
    path replays that one, and that key's own stored 5xx is found by the lookup). Gateway errors
    become their problems (`stripe_problem`)."""
    try:
        return await create(key)
    except StripeUnavailable:
        found = await call_stripe(find())
        if found is not None:
            logger.warning(
                "adopted a %s whose creation answered 5xx",
                what,
                extra={"stripe_object": getattr(found, "id", None), "idempotency_key": key},
            )
            return found
        return await call_stripe(create(f"{key}:unknown-outcome"))
    except StripeGatewayError as exc:
        raise stripe_problem(exc) from exc
