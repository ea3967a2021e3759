"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.clock import Clock
from app.deps import refuse_null_body
from app.errors import ProblemDetail, ValidationProblem, install_error_handlers
from app.idempotency import IdempotencyMiddleware
from app.logs import configure_logging
from app.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from app.openapi import refine as refine_openapi
from app.replica import ReadYourWritesMiddleware
from app.resources import Resources, resources_of
from app.routers import (
    auth,
    brands,
    briefs,
    compliance,
    health,
    influencers,
    matching,
    operator,
    rates,
)
from app.routers.contracts import router as contracts_router
from app.routers.credentials import router as credentials_router
from app.routers.delivery import router as delivery_router
from app.routers.disputes import router as disputes_router
from app.routers.money import router as money_router
from app.routers.negotiation import router as bids_router
from app.routers.oauth import router as oauth_protocol_router
from app.routers.oauth_clients import router as oauth_clients_router
from app.routers.pages import install_pages
from app.routers.payouts import router as payouts_router
from app.routers.programmes import router as programmes_router
from app.routers.relationships import router as relationships_router
from app.routers.reports import router as reports_router
from app.routers.stripe_webhooks import router as stripe_webhooks_router
from app.routers.tracking import router as tracking_router
from app.routers.webhooks import router as webhooks_router
from app.services.wiring import wire
from app.settings import Settings, get_settings
from app.worker.runner import embedded_worker

API_VERSION = "0.1.0"
DESCRIPTION = """
Rapport is a two-sided influencer marketplace: brands post paid briefs, influencers bid, Rapport
ranks who fits, brokers terms and approvals, holds the brand's money in escrow and pays out
through Stripe Connect.

**Conventions.** Errors are RFC 9457 problem details (`application/problem+json`) with a stable
`type`. Lists are cursor-paginated (`limit`, `cursor` → `next_cursor`). Ids are prefixed and
opaque (`usr_…`, `brd_…`, `inf_…`). Timestamps are RFC 3339 in UTC. Send `X-Request-Id` to
correlate logs; every response echoes one.

**Signing in.** `POST /v1/auth/token` with form fields `username` (email) and `password`, then
send `Authorization: Bearer <access_token>`. The *Authorize* button of `/docs` does this.
"""

ROUTERS = (
    health.router,
    auth.router,
    credentials_router,
    brands.router,
    influencers.router,
    briefs.router,
    matching.router,
    compliance.router,
    rates.router,
    operator.router,
    payouts_router,
    money_router,
    stripe_webhooks_router,
    bids_router,
    contracts_router,
    delivery_router,
    disputes_router,
    webhooks_router,  # issue 14: webhook endpoints, deliveries, the event feed
    relationships_router,  # issue 15: relationship records, performance, ratings
    oauth_clients_router,  # issue 14: partner applications and users' consents
    oauth_protocol_router,  # issue 14: /oauth/authorize (consent page), token, revoke, introspect
    programmes_router,  # issue 15: ambassador programmes (recurring contracts)
    tracking_router,  # issue 15 item 8: tracked links, promo codes, signed conversions
    reports_router,  # issue 15 items 6-7: campaign reports, charts, share of voice
)


IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    # The pattern idempotency.KEY_PATTERN enforces: 1-255 visible ASCII characters.
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "Makes a retry safe: the first response to a key is stored for 24 h and "
    "replayed (`Idempotent-Replayed: true`); the same key with other parameters is a 422 "
    "`idempotency-key-reused`, and while the first request runs a 409 `idempotency-key-in-use`.",
}


def _operation_id(route: APIRoute) -> str:
    # The function name: stable, readable, and unique (checked by a test).
    return route.name


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ProblemDetail, ValidationProblem):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in model_schema.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components[model.__name__] = model_schema
    # FastAPI's own 422 shape is never what we send: point every response at our problems.
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for route, path in schema.get("paths", {}).items():
        for method, operation in path.items():
            if method == "post" and route.startswith("/v1/"):
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY_PARAMETER)
                operation["responses"].setdefault(
                    "409", {"description": "A request with this Idempotency-Key is still running"}
                )
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    name = "ValidationProblem" if status == "422" else "ProblemDetail"
                    ref = {"$ref": f"#/components/schemas/{name}"}
                    response["content"] = {"application/problem+json": {"schema": ref}}
    schema = refine_openapi(schema, resources_of(app).settings)
    app.openapi_schema = schema
    return schema


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _refuse_null_bodies(router: APIRouter) -> None:
    """`refuse_null_body` first on every route of `router` that takes a body, and on no other:
    an app-wide dependency is solved on every request, and solving even one that returns at once
    was a sixth of a `GET /healthz` (benchmarks/api/README.md). Before the router is included
    (the app builds its routes from their `dependencies` then); once per route, however many
    apps a process makes."""
    for route in router.routes:
        if not isinstance(route, APIRoute) or not (route.methods or set()) & BODY_METHODS:
            continue
        if not any(d.dependency is refuse_null_body for d in route.dependencies):
            route.dependencies.insert(0, Depends(refuse_null_body))


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    # Every cross-domain reaction (job and Stripe event handlers, hooks, machines) is installed
    # from the one list in app/services/wiring.py.
    wire()
    # The database, the clock, one Stripe gateway, the listing index …, built here (never at
    # import time) from the app's settings; routes reach them through `AppResources`.
    resources = Resources.build(settings, clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with embedded_worker(
            resources.database, resources.clock, settings, resources=resources.for_jobs()
        ):
            yield
        await resources.aclose()

    app = FastAPI(
        title="Rapport API",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        # /docs and /redoc come from install_pages, on script files the app serves itself.
        docs_url=None,
        redoc_url=None,
        openapi_tags=[
            {"name": "auth", "description": "Accounts, sign-in and tokens"},
            {"name": "me", "description": "The signed-in account"},
            {
                "name": "api-keys",
                "description": "API keys for integrations: scoped, rotatable, revocable",
            },
            {
                "name": "oauth",
                "description": "Partner applications (OAuth2 clients) and the consents users "
                "give them; the protocol endpoints are under /oauth (docs/partners.md)",
            },
            {"name": "brands", "description": "Brands, their members and invitations"},
            {"name": "influencers", "description": "Influencer profiles (listings)"},
            {"name": "briefs", "description": "Briefs: what brands want made, and their lifecycle"},
            {"name": "matching", "description": "Explainable relevance ranking"},
            {"name": "compliance", "description": "Disclosure checks for paid posts"},
            {"name": "rates", "description": "Fair-rate guidance"},
            {"name": "operator", "description": "Platform operations (operators only)"},
            {"name": "payouts", "description": "Getting paid: Stripe onboarding and status"},
            {
                "name": "payments",
                "description": "Funding contracts (escrow) and influencers' earnings",
            },
            {
                "name": "negotiation",
                "description": "Invitations, bids, offers (versioned terms) and messages",
            },
            {"name": "contracts", "description": "Accepted terms: deliverables and milestones"},
            {
                "name": "delivery",
                "description": "Deliverables, drafts and approvals, proof, deadlines, metrics, "
                "cancellation and disputes",
            },
            {
                "name": "relationships",
                "description": "Relationship records, performance history, re-engagement, "
                "ratings both ways and ambassador programmes",
            },
            {"name": "stripe", "description": "Stripe's webhooks (called by Stripe)"},
            {
                "name": "webhooks",
                "description": "Outbound webhooks (Standard Webhooks) and the event feed",
            },
            {"name": "health", "description": "Liveness and readiness probes"},
        ],
    )
    # The one thing kept on the app: routes read it through `AppResources` (app/deps.py).
    app.state.resources = resources

    install_error_handlers(app)
    for router in ROUTERS:
        _refuse_null_bodies(router)
        app.include_router(router)
    install_pages(app)
    # FastAPI's documented way to serve a refined schema is to replace `app.openapi`.
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    # Added innermost first: the request id must exist before anything can fail and log, and
    # the body cap applies before the idempotency layer buffers a body.
    app.add_middleware(IdempotencyMiddleware)
    if resources.database.replica is not None:
        # A credential's successful write is marked before its answer leaves (its next reads
        # then go to the primary), and reads say where they read (app/replica.py).
        app.add_middleware(ReadYourWritesMiddleware, replica=resources.database.replica)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outside everything but the request id: a preflight is answered before anything else
    # runs, and every answer, a 413 included, carries the headers a browser needs to read it.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origin_list,
        allow_origin_regex=settings.cors_origin_regex,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[
            "X-Request-Id",
            "ETag",
            "Location",
            "Idempotent-Replayed",
            "Retry-After",
            "RateLimit",
            "RateLimit-Policy",
            "Rapport-Read-From",
        ],
        max_age=600,
    )
    app.add_middleware(RequestContextMiddleware)
    return app
