"""Outbound webhooks, per the Standard Webhooks spec (https://www.standardwebhooks.com/).

A brand (its owners and admins) or an influencer registers endpoints: a URL, the event types it
wants (none named: all) and a `whsec_` secret, shown once at creation and at each rotation. Every
event whose audience includes the endpoint's owner (app/services/workflow/events.py) becomes a
*delivery* in the event's transaction, and each attempt of a delivery is an outbox job: the relay
(app/worker/relay.py) runs it at least once, and nothing is lost between the commit and the call.

An attempt, outside any transaction:
1. reads the delivery, endpoint and event (one short transaction);
2. checks the target again — the host is resolved and a private, loopback or link-local address
   is refused unless `RAPPORT_WEBHOOKS_ALLOW_PRIVATE` says otherwise — so a name that pointed at
   a public address at creation and at 127.0.0.1 now is still refused;
3. POSTs the event's envelope with `webhook-id` (the event id, the same on every attempt and
   redelivery, for the receiver to deduplicate), `webhook-timestamp` and `webhook-signature`
   (`v1,<base64 HMAC-SHA256>` signed by the `standardwebhooks` library; during a rotation's
   overlap a second signature with the previous secret, space-separated), without following
   redirects, under `RAPPORT_WEBHOOK_TIMEOUT_SECONDS` for the whole exchange;
4. records the outcome (one short transaction): a 2xx succeeds; `410 Gone` disables the endpoint
   and fails the delivery; anything else schedules the next attempt on the spec's schedule —
   immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the previous — as a new job, or
   fails the delivery when the schedule is spent.

Each attempt job carries its attempt number and the outcome is recorded only once per number, so
a relay that re-runs a job (a lost lease) sends again — harmless, the `webhook-id` is unchanged —
but never books the attempt twice. A hanging receiver costs one timeout; the relay's other jobs
go on (it runs jobs concurrently, and every attempt is bounded).

The secrets are stored readable: a signature needs the secret itself (as at Stripe and Svix).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from app.db import Database
from app.errors import Conflict, Forbidden, InvalidRequest, NotFound
from app.ids import new_id
from app.models import (
    BrandMember,
    BrandRole,
    DeliveryState,
    EndpointOwner,
    EndpointState,
    Event,
    Influencer,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.pagination import PageParams, SortKey, paginate
from app.services.workflow import outbox
from app.services.workflow.jobs import WEBHOOK_DELIVERY_TOPIC, ClaimedJob, JobContext
from app.settings import Settings

# The Standard Webhooks retry schedule: the wait before attempt n+1 (attempt 1 is immediate).
RETRY_SCHEDULE: Final[tuple[timedelta, ...]] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS: Final = len(RETRY_SCHEDULE)
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 (a prefix, not a secret)
MAX_ERROR_LENGTH: Final = 500
USER_AGENT: Final = "Rapport-Webhooks/1"


# --- problems ---------------------------------------------------------------------------------


class WebhookEndpointNotFound(NotFound):
    slug, title = "webhook-endpoint-not-found", "No such webhook endpoint"


class WebhookDeliveryNotFound(NotFound):
    slug, title = "webhook-delivery-not-found", "No such webhook delivery"


class WebhookOwnerNotFound(NotFound):
    slug, title = "webhook-owner-not-found", "No such brand among yours"


class WebhookEndpointDisabled(Conflict):
    slug, title = "webhook-endpoint-disabled", "The webhook endpoint is disabled"


class WebhookUrlRefused(InvalidRequest):
    slug, title = "webhook-url-refused", "Rapport will not send webhooks to this URL"


# --- targets (SSRF) ---------------------------------------------------------------------------


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # Not global: private, loopback, link-local, shared (100.64/10), reserved, unspecified.
    return not ip.is_global or ip.is_multicast


def _refuse(message: str, rule: str) -> WebhookUrlRefused:
    return WebhookUrlRefused(
        f"url: {message}", [{"field": "url", "message": message, "rule": rule}]
    )


def check_url_shape(url: str, settings: Settings) -> tuple[str, int]:
    """The URL's host and port, or 422: http(s) only, https in production, no credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"is not a URL ({exc})", "url") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse("must be an http:// or https:// URL with a host", "url")
    if settings.environment == "production" and parts.scheme != "https":
        raise _refuse("must be https:// in production", "https_required")
    if parts.username or parts.password:
        raise _refuse("must not carry credentials", "url")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to (an IP literal is its own answer)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def check_target(url: str, settings: Settings) -> str | None:
    """422 unless Rapport may send to `url`: its shape, then — unless private targets are
    allowed — every address its host resolves to must be public. Returns the address checked
    (None when private targets are allowed and nothing was resolved)."""
    host, port = check_url_shape(url, settings)
    if settings.webhooks_allow_private_targets:
        return None
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise _refuse(f"the host {host} does not resolve ({exc})", "unresolvable") from exc
    refused = [a for a in addresses if _refused_address(a)]
    if refused or not addresses:
        raise _refuse(
            f"the host {host} resolves to a private, loopback or link-local address "
            f"({', '.join(refused) or 'none'})",
            "private_address",
        )
    return addresses[0]


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """`url` aimed at the checked `address`, with the Host header and TLS server name of the
    original host: the request goes where the check looked, not where a second DNS answer (a
    rebinding) would send it, and the certificate is still verified for the host's name."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = literal + (f":{parts.port}" if parts.port else "")
    host_header = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), {"host": host_header}, extensions


# --- signing ----------------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, then the previous one while the rotation's overlap lasts."""
    secrets = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and now < expires:
        secrets.append(endpoint.previous_secret)
    return secrets


def signed_headers(
    message_id: str, body: str, secrets: Sequence[str], at: datetime
) -> dict[str, str]:
    signatures = " ".join(Webhook(s).sign(message_id, at, body) for s in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def body_of(event: Event) -> str:
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)


# --- endpoints --------------------------------------------------------------------------------


async def _owner(session: AsyncSession, user_id: str, brand_id: str | None) -> tuple[str, str]:
    """The endpoint's owner: the brand (its owners and admins manage its endpoints), or the
    caller's own influencer profile."""
    if brand_id is not None:
        member = await session.get(BrandMember, (brand_id, user_id))
        if member is None:
            raise WebhookOwnerNotFound(f"No brand {brand_id} among your brands")
        if member.role not in (BrandRole.owner, BrandRole.admin):
            raise Forbidden("Only a brand owner or admin can manage the brand's webhook endpoints")
        return EndpointOwner.brand.value, brand_id
    influencer_id = await session.scalar(select(Influencer.id).where(Influencer.user_id == user_id))
    if influencer_id is None:
        raise InvalidRequest.field(
            "brand_id",
            "name one of your brands, or create your influencer profile first",
            "owner_required",
        )
    return EndpointOwner.influencer.value, influencer_id


def _managed_by(user_id: str) -> Any:
    """Endpoints the user manages: their brands' (as owner or admin) and their own."""
    brands = select(BrandMember.brand_id).where(
        BrandMember.user_id == user_id, BrandMember.role.in_([BrandRole.owner, BrandRole.admin])
    )
    mine = select(Influencer.id).where(Influencer.user_id == user_id)
    return (
        (WebhookEndpoint.owner_kind == EndpointOwner.brand) & WebhookEndpoint.owner_id.in_(brands)
    ) | (
        (WebhookEndpoint.owner_kind == EndpointOwner.influencer)
        & WebhookEndpoint.owner_id.in_(mine)
    )


def check_event_types(types: Sequence[str], known: Sequence[str]) -> list[str]:
    catalogue = set(known)
    for i, name in enumerate(types):
        if name not in catalogue:
            raise InvalidRequest.field(
                f"event_types.{i}", f"{name!r} is not an event type (see GET /v1/event-types)"
            )
    return sorted(set(types))


async def create_endpoint(
    session: AsyncSession,
    user_id: str,
    *,
    url: str,
    event_types: Sequence[str],
    known_types: Sequence[str],
    description: str | None,
    brand_id: str | None,
    settings: Settings,
    now: datetime,
) -> WebhookEndpoint:
    owner_kind, owner_id = await _owner(session, user_id, brand_id)
    types = check_event_types(event_types, known_types)
    await check_target(url, settings)
    endpoint = WebhookEndpoint(
        id=new_id("webhook_endpoint"),
        owner_kind=EndpointOwner(owner_kind),
        owner_id=owner_id,
        url=url,
        description=description,
        event_types=types,
        state=EndpointState.enabled,
        secret=new_secret(),
        created_by=user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def get_endpoint(session: AsyncSession, user_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, _managed_by(user_id))
    )
    if endpoint is None:
        raise WebhookEndpointNotFound(f"No webhook endpoint {endpoint_id} among yours")
    return endpoint


async def list_endpoints(
    session: AsyncSession, user_id: str, page: PageParams
) -> tuple[list[WebhookEndpoint], str | None]:
    stmt = select(WebhookEndpoint).where(_managed_by(user_id))
    return await paginate(session, stmt, [SortKey(WebhookEndpoint.id, descending=True)], page)


async def update_endpoint(
    session: AsyncSession,
    user_id: str,
    endpoint_id: str,
    changes: dict[str, Any],
    *,
    known_types: Sequence[str],
    settings: Settings,
    now: datetime,
) -> WebhookEndpoint:
    """`changes`: the fields sent (url, event_types, description, enabled)."""
    endpoint = await get_endpoint(session, user_id, endpoint_id)
    if "url" in changes:
        await check_target(changes["url"], settings)
        endpoint.url = changes["url"]
    if "event_types" in changes:
        endpoint.event_types = check_event_types(changes["event_types"], known_types)
    if "description" in changes:
        endpoint.description = changes["description"]
    if "enabled" in changes:
        enabled = bool(changes["enabled"])
        endpoint.state = EndpointState.enabled if enabled else EndpointState.disabled
        endpoint.disabled_reason = None if enabled else "disabled by its owner"
    endpoint.updated_at = now
    await session.flush()
    return endpoint


async def delete_endpoint(session: AsyncSession, user_id: str, endpoint_id: str) -> None:
    endpoint = await get_endpoint(session, user_id, endpoint_id)
    await session.delete(endpoint)
    await session.flush()


async def rotate_secret(
    session: AsyncSession, user_id: str, endpoint_id: str, *, overlap: timedelta, now: datetime
) -> WebhookEndpoint:
    """A new secret; the old one still signs (a second signature) until `now + overlap`."""
    endpoint = await get_endpoint(session, user_id, endpoint_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + overlap
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    await session.flush()
    return endpoint


# --- deliveries -------------------------------------------------------------------------------


def _subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.event_types or event_type in endpoint.event_types


async def _enqueue_attempt(
    session: AsyncSession, delivery: WebhookDelivery, attempt: int, at: datetime, now: datetime
) -> None:
    delivery.next_attempt_at = at
    await outbox.enqueue(
        session,
        WEBHOOK_DELIVERY_TOPIC,
        {"delivery_id": delivery.id, "attempt": attempt},
        now=now,
        idempotency_key=f"{delivery.id}:{attempt}",
        run_after=at,
        # The attempt schedule is this module's; the relay only retries a crashed handler.
        max_attempts=3,
    )


async def schedule_deliveries(session: AsyncSession, event: Event, now: datetime) -> int:
    """A delivery (and its first attempt, due now) for every enabled endpoint of the event's
    audience that takes its type; in the event's transaction."""
    owners = []
    if event.brand_id is not None:
        owners.append(
            (WebhookEndpoint.owner_kind == EndpointOwner.brand)
            & (WebhookEndpoint.owner_id == event.brand_id)
        )
    if event.influencer_id is not None:
        owners.append(
            (WebhookEndpoint.owner_kind == EndpointOwner.influencer)
            & (WebhookEndpoint.owner_id == event.influencer_id)
        )
    if not owners:
        return 0
    condition = owners[0] if len(owners) == 1 else owners[0] | owners[1]
    endpoints = await session.scalars(
        select(WebhookEndpoint)
        .where(condition, WebhookEndpoint.state == EndpointState.enabled)
        .order_by(WebhookEndpoint.id)
    )
    count = 0
    for endpoint in endpoints:
        if not _subscribed(endpoint, event.type):
            continue
        delivery = WebhookDelivery(
            id=new_id("webhook_delivery"),
            endpoint_id=endpoint.id,
            event_id=event.id,
            state=DeliveryState.pending,
            attempts=0,
            attempt_log=[],
            created_at=now,
        )
        session.add(delivery)
        await _enqueue_attempt(session, delivery, 1, now, now)
        count += 1
    if count:
        await session.flush()
    return count


async def list_deliveries(
    session: AsyncSession,
    user_id: str,
    endpoint_id: str,
    page: PageParams,
    state: DeliveryState | None = None,
) -> tuple[list[WebhookDelivery], str | None]:
    endpoint = await get_endpoint(session, user_id, endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if state is not None:
        stmt = stmt.where(WebhookDelivery.state == state)
    return await paginate(session, stmt, [SortKey(WebhookDelivery.id, descending=True)], page)


async def event_types_of(
    session: AsyncSession, deliveries: Sequence[WebhookDelivery]
) -> dict[str, str]:
    """Event id → type, for showing deliveries."""
    ids = {d.event_id for d in deliveries}
    if not ids:
        return {}
    rows = await session.execute(select(Event.id, Event.type).where(Event.id.in_(ids)))
    return {str(row[0]): str(row[1]) for row in rows.all()}


async def redeliver(
    session: AsyncSession, user_id: str, endpoint_id: str, delivery_id: str, now: datetime
) -> WebhookDelivery:
    """Send a delivery's event again now, as a new delivery (same `webhook-id`)."""
    endpoint = await get_endpoint(session, user_id, endpoint_id)
    original = await session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id
        )
    )
    if original is None:
        raise WebhookDeliveryNotFound(f"No delivery {delivery_id} of endpoint {endpoint_id}")
    if endpoint.state != EndpointState.enabled:
        raise WebhookEndpointDisabled(
            f"The endpoint is disabled ({endpoint.disabled_reason}); enable it first "
            '(PATCH with {"enabled": true})',
            disabled_reason=endpoint.disabled_reason,
        )
    delivery = WebhookDelivery(
        id=new_id("webhook_delivery"),
        endpoint_id=endpoint.id,
        event_id=original.event_id,
        state=DeliveryState.pending,
        attempts=0,
        attempt_log=[],
        redelivery_of=original.id,
        created_at=now,
    )
    session.add(delivery)
    await _enqueue_attempt(session, delivery, 1, now, now)
    await session.flush()
    return delivery


# --- one attempt (the outbox job) ------------------------------------------------------------


async def _post(
    url: str, body: str, headers: dict[str, str], seconds: float, address: str | None
) -> int:
    """The receiver's status; the whole exchange is bounded by `seconds`, the body unread.
    With `address`, the connection goes to that (checked) address."""
    extensions: dict[str, Any] = {}
    if address is not None:
        url, host, extensions = pinned(url, address)
        headers = headers | host
    async with asyncio.timeout(seconds):
        async with httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client:
            request = client.build_request(
                "POST", url, content=body.encode(), headers=headers, extensions=extensions
            )
            response = await client.send(request, stream=True)
            await response.aclose()
            return response.status_code


async def deliver_job(ctx: JobContext, job: ClaimedJob) -> None:
    """The outbox job of one attempt (payload: `delivery_id`, `attempt`)."""
    delivery_id, number = str(job.payload["delivery_id"]), int(job.payload["attempt"])
    await attempt(ctx.database, delivery_id, number, ctx.settings, ctx.now)


async def attempt(
    database: Database, delivery_id: str, number: int, settings: Settings, now: datetime
) -> str:
    """Run attempt `number` of a delivery and record it; returns what happened."""
    async with database.sessionmaker() as session, session.begin():
        delivery = await session.get(WebhookDelivery, delivery_id)
        if (
            delivery is None
            or delivery.state != DeliveryState.pending
            or delivery.attempts >= number
        ):
            return "skipped"
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
        event = await session.get(Event, delivery.event_id)
        if endpoint is None or event is None:
            return "skipped"
        if endpoint.state != EndpointState.enabled:
            delivery.state = DeliveryState.failed
            delivery.next_attempt_at = None
            delivery.last_error = f"endpoint disabled: {endpoint.disabled_reason}"
            return "endpoint_disabled"
        url, body, secrets = endpoint.url, body_of(event), signing_secrets(endpoint, now)
        message_id = event.id

    status: int | None = None
    error: str | None = None
    started = time.monotonic()
    try:
        address = await check_target(url, settings)
        # The signature's timestamp is the sending moment on the real clock (receivers compare it
        # with theirs), not the business clock that dates events.
        headers = signed_headers(message_id, body, secrets, datetime.now(UTC))
        status = await _post(url, body, headers, settings.webhook_timeout_seconds, address)
    except WebhookUrlRefused as exc:
        error = f"refused: {exc.detail}"
    except TimeoutError:
        error = f"timeout: no answer within {settings.webhook_timeout_seconds:g} s"
    except httpx.TimeoutException:
        error = f"timeout: no answer within {settings.webhook_timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    elapsed_ms = int((time.monotonic() - started) * 1000)
    return await _record(database, delivery_id, number, status, error, elapsed_ms, now)


async def _record(
    database: Database,
    delivery_id: str,
    number: int,
    status: int | None,
    error: str | None,
    elapsed_ms: int,
    now: datetime,
) -> str:
    async with database.sessionmaker() as session, session.begin():
        delivery = await session.scalar(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if delivery is None or delivery.attempts >= number:
            return "skipped"  # another run of this job recorded it
        if error is None and status is not None and not 200 <= status < 300:
            error = f"HTTP {status}"
        delivery.attempts = number
        delivery.last_status_code = status
        delivery.last_error = error[:MAX_ERROR_LENGTH] if error else None
        delivery.attempt_log = [
            *delivery.attempt_log,
            {
                "attempt": number,
                "at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "status_code": status,
                "error": delivery.last_error,
                "duration_ms": elapsed_ms,
            },
        ]
        delivery.next_attempt_at = None
        if status is not None and 200 <= status < 300:
            delivery.state = DeliveryState.succeeded
            return "succeeded"
        if status == 410:
            delivery.state = DeliveryState.failed
            endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
            if endpoint is not None:
                endpoint.state = EndpointState.disabled
                endpoint.disabled_reason = "the receiver answered 410 Gone"
                endpoint.updated_at = now
            return "gone"
        if number < MAX_ATTEMPTS:
            await _enqueue_attempt(session, delivery, number + 1, now + RETRY_SCHEDULE[number], now)
            return "retrying"
        delivery.state = DeliveryState.failed
        return "failed"
