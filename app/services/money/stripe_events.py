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

Handlers: `EVENT_HANDLERS` maps a type to `async def handler(ctx: EventContext) -> Handled`; it
is filled by `app.services.wiring.wire()` from the one list of handlers there. The types Rapport's
endpoints subscribe to are `SUBSCRIBED_EVENT_TYPES` (platform and Connect); a subscribed type
without a wired handler is marked `no_handler` (tests/test_wiring.py fails first), a type Rapport
does not know at all is stored and marked `unknown_type`. Nothing is dropped silently.
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
from app.integrations.stripe import STRIPE_API_VERSION
from app.models.stripe_event import StripeEvent, StripeEventOutcome, StripeObjectState
from app.services.money import payouts
from app.services.workflow.jobs import (
    STRIPE_EVENT_TOPIC,
    ClaimedJob,
    JobContext,
    PermanentJobError,
)
from app.services.workflow.outbox import enqueue

logger = logging.getLogger("rapport.stripe.webhooks")

# --- the types Rapport subscribes to (docs/payments.md, "Deploying on real Stripe") ---------

# The platform endpoint ("Events on your account"): the brand's money and what Rapport moves.
PLATFORM_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "transfer.created",
        "transfer.updated",
        "transfer.reversed",
    }
)
# The Connect endpoint ("Events on Connected accounts"): influencers' accounts and payouts.
CONNECT_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "account.updated",
        "payout.created",
        "payout.updated",
        "payout.paid",
        "payout.failed",
        "payout.canceled",
    }
)
SUBSCRIBED_EVENT_TYPES: frozenset[str] = PLATFORM_EVENT_TYPES | CONNECT_EVENT_TYPES


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
        event: dict[str, Any] = json.loads(payload)
    except ValueError as exc:
        raise StripeEventMalformed("The body is not valid JSON") from exc
    _check_shape(event)
    return event


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


def warn_on_api_version(event: dict[str, Any]) -> bool:
    """Log a warning when an event is shaped by another API version than the one Rapport pins
    (`STRIPE_API_VERSION`): its `data.object` may lack fields the handlers read or carry them
    differently. Real Stripe renders an endpoint's events in the endpoint's version (or the
    account's default), so the fix is the endpoint's API version (docs/payments.md, "Deploying
    on real Stripe"). The event is still stored and processed. True when it warned."""
    version = event.get("api_version")
    if version is None or version == STRIPE_API_VERSION:
        return False
    logger.warning(
        "Stripe event %s (%s) has api_version %s but Rapport pins %s: set the webhook "
        "endpoint's API version to %s",
        event.get("id"),
        event.get("type"),
        version,
        STRIPE_API_VERSION,
        STRIPE_API_VERSION,
        extra={
            "stripe_event": event.get("id"),
            "stripe_api_version": version,
            "pinned_api_version": STRIPE_API_VERSION,
        },
    )
    return True


async def record_event(session: AsyncSession, event: dict[str, Any], now: datetime) -> Received:
    """Store a verified event once; the first store enqueues its processing job."""
    event_id: str = event["id"]
    warn_on_api_version(event)
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
        data_object: dict[str, Any] = self.event.payload["data"]["object"]
        return data_object

    @property
    def previous_attributes(self) -> dict[str, Any]:
        return self.event.payload["data"].get("previous_attributes") or {}


EventHandler = Callable[[EventContext], Awaitable[Handled]]


# --- order: the newest event's state wins ----------------------------------------------------

# Each object's statuses in the order they can follow each other. A status never gives way to
# a lower-ranked one, whatever the events' times: a `failed` payout never goes back to `paid`,
# but `payout.failed` sent after `payout.paid` (Stripe does that when the bank returns the
# money) wins; a closed dispute never reopens; an inquiry can become a chargeback. Within a
# rank the newer event (`created`) wins. Types not listed rank every status 0 (time decides).
STATUS_ORDER: dict[str, dict[str, int]] = {
    "payout": {"pending": 0, "in_transit": 1, "paid": 2, "failed": 3, "canceled": 3},
    "dispute": {
        "warning_needs_response": 0,
        "warning_under_review": 1,
        "needs_response": 2,
        "under_review": 3,
        "warning_closed": 4,
        "charge_refunded": 4,
        "won": 4,
        "lost": 4,
    },
    "payment_intent": {
        "requires_payment_method": 0,
        "requires_confirmation": 0,
        "requires_action": 1,
        "processing": 2,
        "canceled": 3,
        "succeeded": 3,
    },
}

_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def status_rank(object_type: str, status: str | None) -> int:
    return STATUS_ORDER.get(object_type, {}).get(status or "", 0)


async def follow_newest(
    ctx: EventContext,
    object_type: str,
    *,
    status: str | None = None,
    rank: int | None = None,
    object_id: str | None = None,
) -> bool:
    """True when this event carries the newest state of its object — (rank, `created`) not
    below the last applied — and records it as applied; False: an older state, not to be
    written. The object's row is locked (PostgreSQL), so two events of one object are decided
    one after the other. `rank` overrides the status's (a monotone amount)."""
    session = ctx.session
    key = object_id or ctx.data_object.get("id")
    if not key:
        return True
    new_rank = status_rank(object_type, status) if rank is None else rank
    created = ctx.event.stripe_created_at
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(StripeObjectState)
        .values(
            object_id=key,
            object_type=object_type,
            status=None,
            rank=-1,
            event_created=_NEVER,
            event_id="",
            updated_at=ctx.now,
        )
        .on_conflict_do_nothing(index_elements=["object_id"])
    )
    row = await session.scalar(
        select(StripeObjectState)
        .where(StripeObjectState.object_id == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    if (new_rank, created) < (row.rank, row.event_created):
        return False
    row.status, row.rank, row.event_created = status, new_rank, created
    row.event_id, row.updated_at = ctx.event.stripe_event_id, ctx.now
    await session.flush()
    return True


NO_HANDLER_YET = "no handler is wired: a subscribed type missing from app/services/wiring.py"

# Called after an `account.updated` was applied (the money flows enqueue the transfers that
# waited for payouts to be enabled); each may return a note to append. Filled by `wire()`.
AccountUpdatedHook = Callable[[EventContext], Awaitable[str | None]]
ACCOUNT_UPDATED_HOOKS: list[AccountUpdatedHook] = []


async def account_updated(ctx: EventContext) -> Handled:
    outcome, note = await payouts.apply_account_event(
        ctx.session, ctx.data_object, ctx.event.stripe_created_at
    )
    if outcome == StripeEventOutcome.applied:
        for hook in ACCOUNT_UPDATED_HOOKS:
            extra = await hook(ctx)
            if extra:
                note = f"{note}; {extra}"
    return Handled(outcome, note)


# Type → handler, installed by `app.services.wiring.wire()`.
EVENT_HANDLERS: dict[str, EventHandler] = {}

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
    if handler is None and row.type in SUBSCRIBED_EVENT_TYPES:
        return Handled(StripeEventOutcome.no_handler, NO_HANDLER_YET)
    if handler is None:
        return Handled(
            StripeEventOutcome.unknown_type,
            f"Rapport does not handle {row.type} events; stored for the record",
        )
    return await handler(EventContext(session, row, now, job))


async def process_stripe_event_job(ctx: JobContext, job: ClaimedJob) -> None:
    await process_event(ctx.session, job.payload["event_id"], ctx.now, ctx)
