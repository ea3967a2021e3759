"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.clock import Clock
from app.db import create_database
from app.errors import ProblemDetail, ValidationProblem, install_error_handlers
from app.logs import configure_logging
from app.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from app.routers import auth, brands, compliance, health, influencers, rates
from app.security import AccessTokens, Passwords
from app.services.identity import Identity
from app.settings import Settings, get_settings

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
    brands.router,
    influencers.router,
    compliance.router,
    rates.router,
)


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
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    name = "ValidationProblem" if status == "422" else "ProblemDetail"
                    ref = {"$ref": f"#/components/schemas/{name}"}
                    response["content"] = {"application/problem+json": {"schema": ref}}
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    database = create_database(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await database.dispose()

    app = FastAPI(
        title="Rapport API",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        openapi_tags=[
            {"name": "auth", "description": "Accounts, sign-in and tokens"},
            {"name": "me", "description": "The signed-in account"},
            {"name": "brands", "description": "Brands, their members and invitations"},
            {"name": "influencers", "description": "Influencer profiles (listings)"},
            {"name": "compliance", "description": "Disclosure checks for paid posts"},
            {"name": "rates", "description": "Fair-rate guidance"},
            {"name": "health", "description": "Liveness and readiness probes"},
        ],
    )
    app.state.settings = settings
    app.state.database = database
    app.state.clock = clock or Clock()
    app.state.access_tokens = AccessTokens(settings)
    app.state.identity = Identity(settings, Passwords(settings), app.state.access_tokens)

    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    # Outermost first: the request id must exist before anything can fail and log.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app
