"""Typed errors, raised by services and mapped in one place to RFC 9457 problem details.

Each error class has a stable `type` URI (`https://rapport.dev/problems/<slug>`), an HTTP status
and a title. Routes list the errors they can return with `problem_responses(...)`, so the OpenAPI
document shows them. Nothing else in the code builds an error response.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

PROBLEM_BASE = "https://rapport.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

logger = logging.getLogger("rapport.errors")


class Problem(Exception):
    """Base of every error a client can see."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    # True when the request's transaction must commit even though the request fails.
    commit_on_error: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions
        self.headers: dict[str, str] = {}

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_BASE + cls.slug

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class MalformedRequest(Problem):
    status, slug, title = 400, "malformed-request", "The request body is not valid JSON"


class InvalidRequest(Problem):
    """Input that parses but breaks a rule (also the shape of every 422)."""

    status, slug, title = 422, "validation-error", "The request is not valid"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors=errors or [])

    @classmethod
    def field(cls, field: str, message: str, rule: str = "invalid") -> InvalidRequest:
        return cls(f"{field}: {message}", [{"field": field, "message": message, "rule": rule}])


class NotAuthenticated(Problem):
    status, slug, title = 401, "not-authenticated", "Authentication is required"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.headers["WWW-Authenticate"] = 'Bearer realm="rapport"'


class InvalidCredentials(NotAuthenticated):
    slug, title = "invalid-credentials", "The email or password is wrong"


class RefreshTokenReused(NotAuthenticated):
    slug, title = "refresh-token-reused", "This refresh token was already used"
    commit_on_error = True  # the family's revocation must persist


class InvalidToken(NotAuthenticated):
    slug, title = "invalid-token", "The token is invalid or expired"


class InsufficientScope(Problem):
    status, slug, title = 403, "insufficient-scope", "The credential lacks a required scope"


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Your role does not allow this"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(Problem):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "The request conflicts with the current state"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "This action is not allowed in the current state"

    def __init__(self, kind: str, state: str, action: str, allowed: list[str]) -> None:
        moves = ", ".join(allowed) or "none"
        super().__init__(
            f"Cannot {action} a {kind} that is {state}; allowed now: {moves}",
            current_state=state,
            allowed_actions=allowed,
        )


class PreconditionFailed(Problem):
    status, slug, title = 412, "precondition-failed", "The resource changed since you read it"


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "The request body is too large"


class UnsupportedMediaType(Problem):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class RateLimited(Problem):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, retry_after_seconds: int, detail: str | None = None) -> None:
        super().__init__(detail, retry_after=retry_after_seconds)
        self.headers["Retry-After"] = str(retry_after_seconds)


class OAuthRateLimited(RateLimited):
    """A 429 from the OAuth endpoints (`/oauth/token`, `/oauth/revoke`, `/oauth/introspect`).
    RFC 6749 names no error for it, so it is the same problem+json as every other 429, which
    also carries RFC 6749's `error` (`rate_limited`) and `error_description` members: OAuth
    client libraries read those, and report it as what it is instead of a missing token."""

    def __init__(self, retry_after_seconds: int, detail: str | None = None) -> None:
        super().__init__(retry_after_seconds, detail)
        self.extensions.update(error="rate_limited", error_description=self.detail)
        self.headers["Cache-Control"] = "no-store"


class InternalError(Problem):
    status, slug, title = 500, "internal-error", "Something went wrong on our side"


class ServiceUnavailable(Problem):
    status, slug, title = 503, "service-unavailable", "The service is not ready"


class DatabaseBusy(Problem):
    """SQLite's single writer lock was not free within the busy timeout, or PostgreSQL refused a
    connection (too many clients): a load condition, not a server bug, so it is a 503 the
    client may retry (the transaction rolled back whole, or never began)."""

    status, slug, title = 503, "database-busy", "The database is busy; retry shortly"

    def __init__(
        self, detail: str = "Too many writes at once; nothing was changed. Retry after a second."
    ) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": "1"}


# --- OpenAPI ---------------------------------------------------------------------------------


class ProblemDetail(BaseModel):
    """RFC 9457 problem details; extension members vary by `type`."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=[PROBLEM_BASE + "not-found"])
    title: str
    status: int
    detail: str
    instance: str | None = None


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. `budget.total`")
    message: str
    rule: str = Field(description="Machine-readable rule, e.g. `missing`, `int_type`")


class ValidationProblem(ProblemDetail):
    errors: list[FieldError]


# Every route that needs a credential can fail these ways (the 429: the credential's rate limit).
AUTH_PROBLEMS: tuple[type[Problem], ...] = (
    NotAuthenticated,
    InvalidToken,
    InsufficientScope,
    RateLimited,
)

# Every route can fail these ways; they are declared once for all operations.
COMMON_PROBLEMS: tuple[type[Problem], ...] = (MalformedRequest, InvalidRequest, PayloadTooLarge)


def problem_responses(*errors: type[Problem]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route: one entry per status, naming every problem type."""
    by_status: dict[int, list[type[Problem]]] = {}
    for error in (*errors, *COMMON_PROBLEMS):
        by_status.setdefault(error.status, []).append(error)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, classes in sorted(by_status.items()):
        model = ValidationProblem if status == 422 else ProblemDetail
        slugs = sorted({c.slug for c in classes})
        responses[status] = {
            "model": model,
            "description": "; ".join(sorted({c.title for c in classes}))
            + " (types: "
            + ", ".join(slugs)
            + ")",
            "content": {
                PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    return responses


# --- mapping to responses ---------------------------------------------------------------------


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(
        problem.body(instance),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers or None,
    )


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_problem(exc: RequestValidationError) -> Problem:
    raw = exc.errors()
    if any(e.get("type") == "json_invalid" for e in raw):
        return MalformedRequest("The request body is not valid JSON")
    errors = [
        {
            "field": _field_path(tuple(e.get("loc", ()))),
            "message": e.get("msg", ""),
            "rule": e.get("type", "invalid"),
        }
        for e in raw
    ]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return InvalidRequest(summary or "The request is not valid", errors)


_STATUS_PROBLEMS: dict[int, type[Problem]] = {
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(_validation_problem(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if request.scope.get("rapport.body_too_large"):
            return problem_response(PayloadTooLarge(), request)
        cls = _STATUS_PROBLEMS.get(exc.status_code)
        if cls is None:
            problem: Problem = Problem(str(exc.detail))
            # A status no Problem subclass declares: this one instance carries its own.
            problem.status = exc.status_code  # type: ignore[misc]
        elif exc.status_code == 404:
            problem = cls("No such route" if exc.detail == "Not Found" else str(exc.detail))
        else:
            problem = cls()
        problem.headers.update(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route matching the path; RFC 9110 wants them all.
            problem.headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return problem_response(problem, request)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        # Reached only if an exception escapes RequestContextMiddleware (which answers 500s
        # itself, inside the request id's scope).
        return unhandled_error_response(request.scope, exc)


def unhandled_error_response(scope: Scope, exc: BaseException) -> JSONResponse:
    """The answer to an exception nothing mapped: a 413 if the body cap interrupted reading the
    body, else a generic 500 whose cause goes only to the log (with the request id)."""
    instance = scope.get("path")
    if scope.get("rapport.body_too_large"):
        return JSONResponse(
            PayloadTooLarge().body(instance), status_code=413, media_type=PROBLEM_MEDIA_TYPE
        )
    if _is_sqlite_busy(exc) or _is_connection_refused(exc):
        logger.warning("database busy: %s", exc)
        busy = DatabaseBusy() if _is_sqlite_busy(exc) else DatabaseBusy(_REFUSED_DETAIL)
        return JSONResponse(
            busy.body(instance),
            status_code=503,
            media_type=PROBLEM_MEDIA_TYPE,
            headers=busy.headers,
        )
    logger.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        InternalError().body(instance), status_code=500, media_type=PROBLEM_MEDIA_TYPE
    )


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """Every method some route fully matches at this path."""
    candidates = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
    return [
        method
        for method in candidates
        if any(
            route.matches({**scope, "method": method})[0] == Match.FULL
            for route in app.router.routes
        )
    ]


def _is_sqlite_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked" (the write lock stayed taken past busy_timeout)."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


# PostgreSQL refusing a new connection: too many clients (53300: the server's max_connections
# or a role's or database's limit), or the server starting up or shutting down (57P03).
_REFUSED_SQLSTATES = frozenset({"53300", "57P03"})
_REFUSED_DETAIL = "The database has no connection free; nothing was changed. Retry after a second."


def _is_connection_refused(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and (
        getattr(exc.orig, "sqlstate", None) in _REFUSED_SQLSTATES
    )
