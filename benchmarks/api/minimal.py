"""The reference for `make bench-api`: the least code that does Rapport's work for three routes.

Starlette + asyncpg, no ORM, no dependency injection, no middleware. It does what Rapport does
for each request, on the same database:

- `GET /healthz` answers `{"status":"ok"}`;
- `GET /v1/briefs/{id}` and `GET /v1/briefs` check the bearer token the way Rapport does (HS256
  with the same secret, issuer and audience; `exp`, `iat`, `iss`, `aud`, `sub` required; expiry
  against the clock), load the account with Rapport's own SQL, grant the token's scopes the
  account still holds and require `briefs:read`, then run Rapport's brief query (the
  visibility filter of `app/services/catalogue/briefs.py`, the SQL SQLAlchemy sends, copied from the
  PostgreSQL log) and answer Rapport's JSON, key for key (`bench.py` checks the bodies are equal
  before it measures anything). `budget_warning` is computed by Rapport's own fair-rate function.

What it leaves out is what the comparison is about: no transaction around two reads (each read
is its own statement; PostgreSQL gives each a snapshot), no pool pre-ping, no session, no
access log, no request id, no per-credential rate limit (Rapport counts one per request).
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DATABASE_URL = os.environ.get(
    "RAPPORT_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
).replace("+asyncpg", "")
SECRET_KEY = os.environ.get(
    "RAPPORT_SECRET_KEY", "dev-only-insecure-secret-change-me-0123456789abcdef"
)
ISSUER = os.environ.get("RAPPORT_JWT_ISSUER", "rapport")
AUDIENCE = os.environ.get("RAPPORT_JWT_AUDIENCE", "rapport-api")
POOL_SIZE = int(os.environ.get("RAPPORT_DATABASE_POOL_SIZE", "10"))
PAGE_SIZE = int(os.environ.get("RAPPORT_PAGE_SIZE_DEFAULT", "20"))
CLOCK_SKEW_SECONDS = 30

# What Rapport's brief routes require (`BriefReader` in app/auth.py).
REQUIRED_SCOPE = os.environ.get("BENCH_BRIEF_SCOPE", "briefs:read")


def _rapport_function(name: str, modules: tuple[str, ...]) -> Callable[..., Any]:
    """Rapport's fair-rate function, wherever the domain packages keep it."""
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"{name} not found in {modules}")


brief_budget_warning = _rapport_function(
    "brief_budget_warning",
    ("app.services.rates", "app.services.catalogue.rates", "app.services.catalogue"),
)

# The statements Rapport sends (SQLAlchemy's text, as the PostgreSQL log shows it; the account
# is one bound parameter since the statements are built once).
USER_SQL = "SELECT users.id, users.is_operator \nFROM users \nWHERE users.id = $1::VARCHAR"
BRIEF_COLUMNS = (
    "SELECT briefs.id, briefs.brand_id, briefs.created_by, briefs.state, briefs.version, "
    "briefs.title, briefs.objective, briefs.description, briefs.must_haves, briefs.category, "
    "briefs.target_audience, briefs.topics, briefs.platforms, briefs.deliverables, "
    "briefs.currency, briefs.budget_total, briefs.per_influencer_min, "
    "briefs.per_influencer_max, briefs.application_deadline, briefs.content_due, "
    "briefs.publish_start, briefs.publish_end, briefs.terms_defaults, briefs.kpis, "
    "briefs.match_weights, briefs.platform_coverage, briefs.visibility, briefs.search_text, "
    "briefs.created_at, briefs.updated_at \nFROM briefs \n"
)
GET_BRIEF_SQL = BRIEF_COLUMNS + (
    "WHERE briefs.id = $1::VARCHAR AND (briefs.brand_id IN (SELECT brand_members.brand_id \n"
    "FROM brand_members \nWHERE brand_members.user_id = $2::VARCHAR) OR briefs.state != $3 "
    "AND briefs.visibility = $4 OR briefs.state != $5 AND briefs.id IN "
    "(SELECT brief_invitations.brief_id \nFROM brief_invitations JOIN influencers ON "
    "influencers.id = brief_invitations.influencer_id \nWHERE influencers.user_id = "
    "$2::VARCHAR))"
)
LIST_BRIEFS_SQL = BRIEF_COLUMNS + (
    "WHERE briefs.brand_id IN (SELECT brand_members.brand_id \nFROM brand_members \n"
    "WHERE brand_members.user_id = $1::VARCHAR) OR briefs.state = $2 AND briefs.visibility = $3 "
    "OR briefs.state = $4 AND briefs.id IN (SELECT brief_invitations.brief_id \n"
    "FROM brief_invitations JOIN influencers ON influencers.id = "
    "brief_invitations.influencer_id \nWHERE influencers.user_id = $1::VARCHAR) "
    "ORDER BY briefs.created_at DESC, briefs.id DESC \n LIMIT $5::INTEGER"
)
TIMELINE = ("application_deadline", "content_due", "publish_start", "publish_end")


def _problem(status: int, slug: str, detail: str) -> Response:
    body = {"type": f"https://rapport.dev/problems/{slug}", "status": status, "detail": detail}
    return Response(orjson.dumps(body), status, media_type="application/problem+json")


class Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


async def _caller(request: Request, conn: asyncpg.Connection) -> str:
    """The account id, after Rapport's token checks and its scope check for catalogue:read."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Refused(_problem(401, "not-authenticated", "Send a bearer token"))
    try:
        claims = jwt.decode(
            token,
            SECRET_KEY,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={
                "require": ["exp", "iat", "iss", "aud", "sub"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError:
        raise Refused(_problem(401, "invalid-token", "the access token is invalid")) from None
    subject, scope = claims.get("sub"), claims.get("scope", "")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not (
        isinstance(subject, str)
        and isinstance(scope, str)
        and isinstance(exp, int)
        and isinstance(iat, int)
    ):
        raise Refused(_problem(401, "invalid-token", "the access token is invalid"))
    moment = int(time.time())
    if exp <= moment or iat > moment + CLOCK_SKEW_SECONDS:
        raise Refused(_problem(401, "invalid-token", "the access token has expired"))
    user = await conn.fetchrow(USER_SQL, subject)
    if user is None:
        raise Refused(_problem(401, "invalid-token", "the account no longer exists"))
    # A token grants no more than the account holds now (only operators hold `operator`).
    granted = frozenset(scope.split())
    if not user["is_operator"]:
        granted -= {"operator"}
    if REQUIRED_SCOPE not in granted:
        raise Refused(_problem(403, "insufficient-scope", f"This call needs {REQUIRED_SCOPE}"))
    return str(user["id"])


def _warning(row: asyncpg.Record) -> str | None:
    try:
        return brief_budget_warning(  # type: ignore[no-any-return]
            [(d["type"], d["count"]) for d in row["deliverables"]],
            row["per_influencer_max"],
            row["currency"],
        )
    except ValueError:
        return None


def _brief(row: asyncpg.Record) -> dict[str, Any]:
    weights = row["match_weights"]
    return {
        "id": row["id"],
        "brand_id": row["brand_id"],
        "state": row["state"],
        "title": row["title"],
        "objective": row["objective"],
        "description": row["description"],
        "must_haves": row["must_haves"],
        "category": row["category"],
        "target_audience": row["target_audience"],
        "topics": row["topics"],
        "platforms": row["platforms"],
        "deliverables": row["deliverables"],
        "budget": {
            "currency": row["currency"],
            "total": row["budget_total"],
            "per_influencer_min": row["per_influencer_min"],
            "per_influencer_max": row["per_influencer_max"],
        },
        "timeline": {key: row[key].isoformat() for key in TIMELINE},
        "terms_defaults": row["terms_defaults"],
        "kpis": row["kpis"],
        "visibility": row["visibility"],
        # BriefOut declares dict[str, float]: pydantic writes 1 as 1.0.
        "match_weights": None if weights is None else {k: float(v) for k, v in weights.items()},
        "platform_coverage": row["platform_coverage"],
        "budget_warning": _warning(row),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _json(body: Any) -> Response:
    # OPT_UTC_Z: "…Z" for UTC, as pydantic writes Rapport's timestamps.
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")


async def healthz(_request: Request) -> Response:
    return _json({"status": "ok"})


async def get_brief(request: Request) -> Response:
    brief_id = request.path_params["brief_id"]
    async with request.app.state.pool.acquire() as conn:
        try:
            user_id = await _caller(request, conn)
        except Refused as refused:
            return refused.response
        row = await conn.fetchrow(GET_BRIEF_SQL, brief_id, user_id, "draft", "public", "draft")
    if row is None:
        return _problem(404, "brief-not-found", f"No brief {brief_id}")
    return _json(_brief(row))


def _cursor(row: asyncpg.Record) -> str:
    # app/pagination.py's encode_cursor for the "-created" sort.
    payload = {"s": "-created_at,-id", "v": [{"dt": row["created_at"].isoformat()}, row["id"]]}
    raw = orjson.dumps(payload)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def list_briefs(request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn:
        try:
            user_id = await _caller(request, conn)
        except Refused as refused:
            return refused.response
        rows = await conn.fetch(LIST_BRIEFS_SQL, user_id, "open", "public", "open", PAGE_SIZE + 1)
    cursor = _cursor(rows[PAGE_SIZE - 1]) if len(rows) > PAGE_SIZE else None
    data = [_brief(row) for row in rows[:PAGE_SIZE]]
    return _json({"data": data, "next_cursor": cursor, "has_more": cursor is not None})


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind,
            schema="pg_catalog",
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
        )


async def _no_reset(_conn: asyncpg.Connection) -> None:
    # asyncpg's default reset on release is a round trip (UNLISTEN, RESET ALL, …); this app
    # opens no transaction and changes no session state, so there is nothing to reset.
    return None


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        DATABASE_URL,
        min_size=1,
        max_size=POOL_SIZE * 2,  # Rapport: pool_size + max_overflow of the same size
        init=_init_connection,
        reset=_no_reset,
    )
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/v1/briefs", list_briefs),
        Route("/v1/briefs/{brief_id}", get_brief),
    ],
    lifespan=_lifespan,
)
