"""Outbound webhook endpoints, their deliveries, and the event feed (docs/partners.md).

Services: app/services/workflow/webhooks.py (endpoints, deliveries, SSRF checks, signing) and
app/services/workflow/events.py (the events and the feed). Every route needs `webhooks:manage`:
whoever may point Rapport's events at a URL may also read them back from the feed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth import Authenticator, Principal, Scope
from app.db import Session
from app.deps import AppSettings, Now
from app.errors import AUTH_PROBLEMS, Forbidden, InvalidRequest, problem_responses
from app.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from app.pagination import Page, Pagination, page_of
from app.schemas.webhooks import (
    DeliveryAttemptOut,
    EventOut,
    EventTypesOut,
    WebhookDeliveryOut,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookEndpointPatch,
    WebhookEndpointWithSecretOut,
)
from app.services.workflow import events, webhooks
from app.services.workflow.webhooks import (
    WebhookDeliveryNotFound,
    WebhookEndpointDisabled,
    WebhookEndpointNotFound,
    WebhookOwnerNotFound,
    WebhookUrlRefused,
)

router = APIRouter(tags=["webhooks"])

WebhookManager = Annotated[Principal, Authenticator(Scope.webhooks_manage)]


def _endpoint_out(endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut.model_validate(endpoint)


def _with_secret(endpoint: WebhookEndpoint) -> WebhookEndpointWithSecretOut:
    return WebhookEndpointWithSecretOut.model_validate(endpoint)


def _delivery_out(delivery: WebhookDelivery, types: dict[str, str]) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=types.get(delivery.event_id, ""),
        state=delivery.state,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        attempt_log=[DeliveryAttemptOut.model_validate(a) for a in delivery.attempt_log],
        redelivery_of=delivery.redelivery_of,
        created_at=delivery.created_at,
    )


@router.post(
    "/v1/webhook-endpoints",
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook endpoint",
    description="Events of the brand named by `brand_id` (you must be its owner or admin), or "
    "your own as an influencer, are POSTed to `url`, signed per the Standard Webhooks spec. The "
    "`secret` is shown only in this answer (and after a rotation). The URL is refused (422) when "
    "it is not https:// in production or when its host resolves to a private, loopback or "
    "link-local address.",
    responses=problem_responses(*AUTH_PROBLEMS, WebhookOwnerNotFound, Forbidden, WebhookUrlRefused),
)
async def create_webhook_endpoint(
    body: WebhookEndpointIn,
    principal: WebhookManager,
    session: Session,
    settings: AppSettings,
    now: Now,
) -> WebhookEndpointWithSecretOut:
    endpoint = await webhooks.create_endpoint(
        session,
        principal.user_id,
        url=body.url,
        event_types=body.event_types,
        known_types=events.CATALOGUE.types(),
        description=body.description,
        brand_id=body.brand_id,
        settings=settings,
        now=now,
    )
    return _with_secret(endpoint)


@router.get(
    "/v1/webhook-endpoints",
    summary="Your webhook endpoints",
    description="The endpoints of the brands you own or administer, and your own; newest first.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_webhook_endpoints(
    principal: WebhookManager, session: Session, page: Pagination
) -> Page[WebhookEndpointOut]:
    rows, cursor = await webhooks.list_endpoints(session, principal.user_id, page)
    return Page[WebhookEndpointOut](**page_of([_endpoint_out(e) for e in rows], cursor))


@router.get(
    "/v1/webhook-endpoints/{endpoint_id}",
    summary="A webhook endpoint",
    description="Its URL, event types and state (the secret is shown only at creation and "
    "rotation).",
    responses=problem_responses(*AUTH_PROBLEMS, WebhookEndpointNotFound),
)
async def get_webhook_endpoint(
    endpoint_id: str, principal: WebhookManager, session: Session
) -> WebhookEndpointOut:
    return _endpoint_out(await webhooks.get_endpoint(session, principal.user_id, endpoint_id))


@router.patch(
    "/v1/webhook-endpoints/{endpoint_id}",
    summary="Change a webhook endpoint",
    description="Send only what changes: `url`, `event_types`, `description`, or `enabled` "
    "(true enables an endpoint disabled by a 410 Gone or by you).",
    responses=problem_responses(*AUTH_PROBLEMS, WebhookEndpointNotFound, WebhookUrlRefused),
)
async def update_webhook_endpoint(
    endpoint_id: str,
    body: WebhookEndpointPatch,
    principal: WebhookManager,
    session: Session,
    settings: AppSettings,
    now: Now,
) -> WebhookEndpointOut:
    changes = body.model_dump(exclude_unset=True)
    for name in ("url", "event_types", "enabled"):
        if name in changes and changes[name] is None:
            raise InvalidRequest.field(name, "must not be null", "not_null")
    endpoint = await webhooks.update_endpoint(
        session,
        principal.user_id,
        endpoint_id,
        changes,
        known_types=events.CATALOGUE.types(),
        settings=settings,
        now=now,
    )
    return _endpoint_out(endpoint)


@router.delete(
    "/v1/webhook-endpoints/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook endpoint",
    description="Its pending deliveries are dropped with it.",
    responses=problem_responses(*AUTH_PROBLEMS, WebhookEndpointNotFound),
)
async def delete_webhook_endpoint(
    endpoint_id: str, principal: WebhookManager, session: Session
) -> Response:
    await webhooks.delete_endpoint(session, principal.user_id, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
    summary="Rotate the endpoint's signing secret",
    description="Answers the new secret (shown only now). Until `previous_secret_expires_at` "
    "(`RAPPORT_WEBHOOK_SECRET_OVERLAP_HOURS` later), every delivery carries two signatures in "
    "`webhook-signature`, one per secret, so the receiver can switch at its own pace.",
    responses=problem_responses(*AUTH_PROBLEMS, WebhookEndpointNotFound),
)
async def rotate_webhook_secret(
    endpoint_id: str,
    principal: WebhookManager,
    session: Session,
    settings: AppSettings,
    now: Now,
) -> WebhookEndpointWithSecretOut:
    endpoint = await webhooks.rotate_secret(
        session,
        principal.user_id,
        endpoint_id,
        overlap=timedelta(hours=settings.webhook_secret_overlap_hours),
        now=now,
    )
    return _with_secret(endpoint)


@router.get(
    "/v1/webhook-endpoints/{endpoint_id}/deliveries",
    summary="The endpoint's delivery log",
    description="Every event sent (or being sent) to the endpoint, newest first, with each "
    "attempt's time, status code, error and duration.",
    responses=problem_responses(*AUTH_PROBLEMS, WebhookEndpointNotFound),
)
async def list_webhook_deliveries(
    endpoint_id: str,
    principal: WebhookManager,
    session: Session,
    page: Pagination,
    state: Annotated[
        DeliveryState | None, Query(description="Only deliveries in this state")
    ] = None,
) -> Page[WebhookDeliveryOut]:
    rows, cursor = await webhooks.list_deliveries(
        session, principal.user_id, endpoint_id, page, state
    )
    types = await webhooks.event_types_of(session, rows)
    return Page[WebhookDeliveryOut](**page_of([_delivery_out(d, types) for d in rows], cursor))


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_201_CREATED,
    summary="Send a delivery's event again",
    description="A new delivery of the same event (the same `webhook-id`), attempted at once and "
    "retried on the usual schedule. The endpoint must be enabled.",
    responses=problem_responses(
        *AUTH_PROBLEMS, WebhookEndpointNotFound, WebhookDeliveryNotFound, WebhookEndpointDisabled
    ),
)
async def redeliver_webhook(
    endpoint_id: str, delivery_id: str, principal: WebhookManager, session: Session, now: Now
) -> WebhookDeliveryOut:
    delivery = await webhooks.redeliver(session, principal.user_id, endpoint_id, delivery_id, now)
    types = await webhooks.event_types_of(session, [delivery])
    return _delivery_out(delivery, types)


@router.get(
    "/v1/event-types",
    summary="Every event type",
    description="What `event_types` of an endpoint and the `type` filter of the feed may name.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_event_types(principal: WebhookManager) -> EventTypesOut:
    return EventTypesOut(data=events.CATALOGUE.types())


@router.get(
    "/v1/events",
    summary="The event feed",
    description="The events of your brands and of your own listing — the same payloads as the "
    "webhooks — newest first. A partner that missed deliveries pages until it reaches an event "
    "it has seen.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_events(
    principal: WebhookManager,
    session: Session,
    page: Pagination,
    types: Annotated[
        list[str],
        Query(
            default_factory=list,
            alias="type",
            max_length=50,
            description="Only these event types",
        ),
    ],
    object_id: Annotated[
        str | None,
        Query(max_length=40, description="Only events about this object (`ofr_…`, `ctr_…`)"),
    ] = None,
) -> Page[EventOut]:
    rows, cursor = await events.list_events(
        session, principal.user_id, page, types=types, object_id=object_id
    )
    return Page[EventOut](**page_of([EventOut.model_validate(e.payload) for e in rows], cursor))
