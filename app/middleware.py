"""Pure ASGI middleware: request ids, access logs and the body-size cap.

Pure ASGI (not BaseHTTPMiddleware) so streaming bodies are counted as they arrive and nothing is
buffered twice.
"""

from __future__ import annotations

import logging
import random
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import (
    InvalidRequest,
    PayloadTooLarge,
    problem_response,
    unhandled_error_response,
)
from app.logs import request_id_var

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("rapport.access")


class RequestContextMiddleware:
    """Takes the caller's `X-Request-Id` (when well formed) or makes one; echoes it; logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # RAPPORT_ACCESS_LOG, read from the app's settings on the first request.
        self._log_fraction: float | None = None

    def _access_log_fraction(self, scope: Scope) -> float:
        if self._log_fraction is None:
            resources = getattr(getattr(scope.get("app"), "state", None), "resources", None)
            settings = getattr(resources, "settings", None)
            self._log_fraction = 1.0 if settings is None else settings.access_log_fraction
        return self._log_fraction

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fraction = self._access_log_fraction(scope)
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        if _has_nul(scope):
            # PostgreSQL text cannot hold NUL: refused here, before any query sees it.
            problem = InvalidRequest.field(
                "query" if b"%00" in scope.get("query_string", b"") else "path",
                "must not contain a NUL character (%00)",
                "nul_character",
            )
            scope = {**scope, "rapport.refused": True}
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            if scope.get("rapport.refused"):
                await problem_response(problem)(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answered here, not by Starlette's outermost handler, so the 500 carries the
            # request id and its log line too (the id is still set in this scope).
            if status["started"]:
                raise
            await unhandled_error_response(scope, exc)(scope, receive, send_with_id)
        finally:
            # A line costs as much as a small route (a LogRecord, JSON, a write): the setting
            # can log a sample, or nothing; server errors are always logged.
            if (
                fraction >= 1.0
                or status["code"] >= 500
                or (fraction > 0.0 and random.random() < fraction)  # noqa: S311 - a sample
            ):
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status["code"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id_var.reset(token)


def _has_nul(scope: Scope) -> bool:
    return "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"")


class BodySizeLimitMiddleware:
    """Answers 413 when the declared or the streamed body exceeds `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            # No body (HTTP/1.1 has none without either header): nothing to count.
            await self.app(scope, receive, send)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI turns errors while reading the body into a 400; the flag lets the
                    # error handlers answer 413 instead.
                    scope["rapport.body_too_large"] = True
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = PayloadTooLarge(f"The request body exceeds {self.max_bytes} bytes")
        await problem_response(problem)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass
