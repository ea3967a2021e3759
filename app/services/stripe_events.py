"""Stripe webhooks: verify, store once (the `stripe_events` inbox), process once (docs/payments.md).

Receiving (`POST /v1/stripe/webhooks`, `receive_webhook`):

1. verify `Stripe-Signature` — Stripe's scheme (`t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>">`),
   checked by the SDK's `stripe.WebhookSignature.verify_header` against each configured secret —
   and the timestamp ourselves, against the app's clock (`|now - t| <= tolerance`), not the
   machine's: the SDK would compare with `time.time()`, which a frozen test clock (or an operator
   replaying a day) does not follow. Forged, stale or malformed → 400 problem; never a 500;
2. insert the event into `stripe_events` — `INSERT … ON CONFLICT (stripe_event_id) DO NOTHING`,
   so ten concurrent deliveries of one event store one row (the others count a delivery) — and,
   only for the insert that won, enqueue one outbox job `stripe.event` with the idempotency key
   `stripe-event:<evt id>`, in the same transaction;
3. answer 200 at once. Nothing else happens in the request.

Processing (the worker runs the job, `process_event`): lock the row, return if it is already
processed, else dispatch on `type` through `EVENT_HANDLERS` and record `processed_at`,
`outcome` and `note` in the job's transaction — so an event is processed once even when the job
runs twice.

Handlers: `EVENT_HANDLERS` maps a type to `async def handler(ctx: EventContext) -> Handled`.
`account.updated` is handled (app/services/payouts.py). The money flows' types are registered
as explicit placeholders that mark the event processed with the note "no handler yet"; the
money code replaces them with `@stripe_event_handler("payment_intent.succeeded")` (replacing a
placeholder is allowed, replacing a real handler is an error). A type Rapport does not know at
all is stored and marked `unknown_type`. Nothing is dropped silently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Problem
from app.ids import new_id
from app.models.stripe_event import StripeEvent, StripeEventOutcome
from app.services import payouts
from app.services.outbox import enqueue
from app.worker.relay import ClaimedJob, JobContext, PermanentJobError, job_handler

logger = logging.getLogger("rapport.stripe.webhooks")

STRIPE_EVENT_TOPIC = "stripe.event"


# --- problems -------------------------------------------------------------------------------


class StripeSignatureInvalid(Problem):
    status, slug, title = 400, "stripe-signature-invalid", "The Stripe signature does not verify"


class StripeSignatureExpired(Problem):
    status, slug, title = (
        400,
        "stripe-signature-expired",
        "The Stripe signature's timestamp is outside the tolerance",
    )


class StripeEventMalformed(Problem):
    status, slug, title = 400, "stripe-event-malformed", "The body is not a Stripe event"


WEBHOOK_PROBLEMS: tuple[type[Problem], ...] = (
    StripeSignatureInvalid,
    StripeSignatureExpired,
    StripeEventMalformed,
)


# --- verification ---------------------------------------------------------------------------


def _signed_timestamp(header: str) -> int:
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            return int(value)
    raise ValueError("no t= element")


def verify_webhook(
    body: bytes,
    signature_header: str | None,
    secrets: list[str],
    *,
    now: datetime,
    tolerance_seconds: int,
) -> dict[str, Any]:
    """The verified event as a dict; a 400 problem when anything is wrong."""
    if not signature_header:
        raise StripeSignatureInvalid("The Stripe-Signature header is missing")
    try:
        payload = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StripeEventMalformed("The body is not UTF-8 text") from exc
    if not secrets:
        raise StripeSignatureInvalid("No webhook signing secret is configured")
    verified = False
    reason = "No signature matches the payload"
    for secret in secrets:
        try:
            # tolerance=None: the SDK checks the signature only; the time is checked below.
            stripe.WebhookSignature.verify_header(payload, signature_header, secret, None)
        except stripe.SignatureVerificationError as exc:
            reason = str(exc.user_message or exc)
            continue
        verified = True
        break
    if not verified:
        raise StripeSignatureInvalid(reason)
    try:
        signed_at = _signed_timestamp(signature_header)
    except ValueError as exc:  # pragma: no cover - verify_header already parsed it
        raise StripeSignatureInvalid("Unable to read the signature's timestamp") from exc
    skew = abs(now.timestamp() - signed_at)
    if skew > tolerance_seconds:
        raise StripeSignatureExpired(
            f"Signed at {signed_at}, {int(skew)} s from now; the tolerance is "
            f"{tolerance_seconds} s",
            signed_at=signed_at,
        )
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise StripeEventMalformed("The body is not valid JSON") from exc
    _check_shape(event)
    return event  # type: ignore[no-any-return]


def _check_shape(event: Any) -> None:
    if not isinstance(event, dict):
        raise StripeEventMalformed("The body is not a JSON object")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
        raise StripeEventMalformed("`id` must be a Stripe event id (evt_…)")
    if event.get("object") != "event":
        raise StripeEventMalformed('`object` must be "event"')
    kind = event.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > 100:
        raise StripeEventMalformed("`type` must be a non-empty string")
    created = event.get("created")
    if isinstance(created, bool) or not isinstance(created, int):
        raise StripeEventMalformed("`created` must be a unix timestamp")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise StripeEventMalformed("`data.object` must be an object")


# --- the inbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    event_id: str
    duplicate: bool


def _short(value: Any, length: int = 255) -> str | None:
    return value[:length] if isinstance(value, str) and value else None


async def record_event(session: AsyncSession, event: dict[str, Any], now: datetime) -> Received:
    """Store a verified event once; the first store enqueues its processing job."""
    event_id: str = event["id"]
    row_id = new_id("stripe_event")
    values = {
        "id": row_id,
        "stripe_event_id": event_id,
        "type": event["type"],
        "object_id": _short(event["data"]["object"].get("id")),
        "account": _short(event.get("account")),
        "livemode": bool(event.get("livemode")),
        "api_version": _short(event.get("api_version"), 40),
        "stripe_created_at": datetime.fromtimestamp(event["created"], UTC),
        "payload": event,
        "deliveries": 1,
        "received_at": now,
        "last_received_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    inserted = await session.scalar(
        insert(StripeEvent)
        .values(values)
        .on_conflict_do_nothing(index_elements=["stripe_event_id"])
        .returning(StripeEvent.id)
    )
    if inserted is None:
        await session.execute(
            update(StripeEvent)
            .where(StripeEvent.stripe_event_id == event_id)
            .values(deliveries=StripeEvent.deliveries + 1, last_received_at=now)
            .execution_options(synchronize_session=False)
        )
        logger.info("stripe event redelivered", extra={"stripe_event": event_id})
        return Received(event_id, duplicate=True)
    job = await enqueue(
        session,
        STRIPE_EVENT_TOPIC,
        {"event_id": event_id},
        now=now,
        idempotency_key=f"stripe-event:{event_id}",
    )
    await session.execute(
        update(StripeEvent)
        .where(StripeEvent.id == row_id)
        .values(job_id=job.id)
        .execution_options(synchronize_session=False)
    )
    logger.info(
        "stripe event stored", extra={"stripe_event": event_id, "stripe_type": event["type"]}
    )
    return Received(event_id, duplicate=False)


async def receive_webhook(
    session: AsyncSession,
    body: bytes,
    signature_header: str | None,
    *,
    secrets: list[str],
    tolerance_seconds: int,
    now: datetime,
) -> Received:
    event = verify_webhook(
        body, signature_header, secrets, now=now, tolerance_seconds=tolerance_seconds
    )
    return await record_event(session, event, now)


# --- dispatch -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handled:
    outcome: StripeEventOutcome
    note: str | None = None


@dataclass
class EventContext:
    """What an event handler sees: the job's session (its writes commit with the job's
    success), the stored event, the time, and the job (for `ctx.job.idempotency_key(step)`)."""

    session: AsyncSession
    event: StripeEvent
    now: datetime
    job: JobContext | None = None

    @property
    def data_object(self) -> dict[str, Any]:
        return self.event.payload["data"]["object"]  # type: ignore[no-any-return]

    @property
    def previous_attributes(self) -> dict[str, Any]:
        return self.event.payload["data"].get("previous_attributes") or {}  # type: ignore[no-any-return]


EventHandler = Callable[[EventContext], Awaitable[Handled]]

NO_HANDLER_YET = "no handler yet: stored and marked; the money flows will process this type"


async def _no_handler_yet(ctx: EventContext) -> Handled:
    return Handled(StripeEventOutcome.no_handler, NO_HANDLER_YET)


# Called after an `account.updated` was applied (the money flows enqueue the transfers that
# waited for payouts to be enabled); each may return a note to append.
ACCOUNT_UPDATED_HOOKS: list[Callable[[EventContext], Awaitable[str | None]]] = []


async def _account_updated(ctx: EventContext) -> Handled:
    outcome, note = await payouts.apply_account_event(
        ctx.session, ctx.data_object, ctx.event.stripe_created_at
    )
    if outcome == StripeEventOutcome.applied:
        for hook in ACCOUNT_UPDATED_HOOKS:
            extra = await hook(ctx)
            if extra:
                note = f"{note}; {extra}"
    return Handled(outcome, note)


# Every type our endpoints subscribe to. Placeholders (`_no_handler_yet`) are replaced by the
# money flows (funding, refunds, transfers, payouts, disputes) as they are written.
EVENT_HANDLERS: dict[str, EventHandler] = {
    "account.updated": _account_updated,
    "payment_intent.succeeded": _no_handler_yet,
    "payment_intent.payment_failed": _no_handler_yet,
    "charge.refunded": _no_handler_yet,
    "charge.dispute.created": _no_handler_yet,
    "charge.dispute.closed": _no_handler_yet,
    "transfer.created": _no_handler_yet,
    "transfer.updated": _no_handler_yet,
    "transfer.reversed": _no_handler_yet,
    "payout.paid": _no_handler_yet,
    "payout.failed": _no_handler_yet,
}

# Types that happen at most once per object: a second event id for the same object is marked
# `duplicate` instead of being handled again (see app/models/stripe_event.py).
ONCE_PER_OBJECT: frozenset[str] = frozenset(
    {
        "payment_intent.succeeded",
        "charge.dispute.created",
        "charge.dispute.closed",
        "transfer.created",
        "payout.paid",
        "payout.failed",
    }
)


def stripe_event_handler(event_type: str) -> Callable[[EventHandler], EventHandler]:
    """Register the handler of a Stripe event type (replacing its placeholder)."""

    def decorator(handler: EventHandler) -> EventHandler:
        current = EVENT_HANDLERS.get(event_type)
        if current not in (None, _no_handler_yet, handler):
            raise ValueError(f"a handler for Stripe {event_type!r} is already registered")
        EVENT_HANDLERS[event_type] = handler
        return handler

    return decorator


async def process_event(
    session: AsyncSession, stripe_event_id: str, now: datetime, job: JobContext | None = None
) -> StripeEvent:
    """Process a stored event once (no-op when it already was). The caller commits."""
    row = await session.scalar(
        select(StripeEvent)
        .where(StripeEvent.stripe_event_id == stripe_event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise PermanentJobError(f"no stored Stripe event {stripe_event_id}")
    if row.processed_at is not None:
        return row
    result = await _dispatch(session, row, now, job)
    row.processed_at = now
    row.outcome = result.outcome
    row.note = result.note
    await session.flush()
    logger.info(
        "stripe event processed",
        extra={
            "stripe_event": stripe_event_id,
            "stripe_type": row.type,
            "outcome": str(result.outcome),
        },
    )
    return row


async def _dispatch(
    session: AsyncSession, row: StripeEvent, now: datetime, job: JobContext | None
) -> Handled:
    if row.type in ONCE_PER_OBJECT and row.object_id:
        earlier = await session.scalar(
            select(StripeEvent.stripe_event_id).where(
                StripeEvent.type == row.type,
                StripeEvent.object_id == row.object_id,
                StripeEvent.id != row.id,
                StripeEvent.processed_at.is_not(None),
                StripeEvent.outcome != StripeEventOutcome.duplicate,
            )
        )
        if earlier is not None:
            return Handled(
                StripeEventOutcome.duplicate,
                f"{row.type} for {row.object_id} was already processed as {earlier}",
            )
    handler = EVENT_HANDLERS.get(row.type)
    if handler is None:
        return Handled(
            StripeEventOutcome.unknown_type,
            f"Rapport does not handle {row.type} events; stored for the record",
        )
    return await handler(EventContext(session, row, now, job))


@job_handler(STRIPE_EVENT_TOPIC)
async def process_stripe_event_job(ctx: JobContext, job: ClaimedJob) -> None:
    await process_event(ctx.session, job.payload["event_id"], ctx.now, ctx)
