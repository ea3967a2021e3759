"""`Idempotency-Key` on POST, with Stripe's semantics.

The first response to a (caller, key) is stored and replayed for every retry with the same key,
marked `Idempotent-Replayed: true`. The same key with a different request (method, path, query or
body) is a 422; the same key while its first request is still running is a 409. Server errors
(5xx) are not stored, so a retry runs again. Keys are kept for 24 hours; the worker deletes
expired ones on every pass (`Worker.purge_idempotency_records`).

The caller is the account of the bearer token (so a retry after refreshing the token still
replays), or the client address for anonymous calls.

The record is claimed in its own short transaction before the request runs and completed after
it. If the process dies in between, the claim's lease (`locked_until`) lapses and a retry runs the
request again: the business operations themselves stay safe because they are compare-and-set
transitions, and every Stripe call carries its own idempotency key derived from our records.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import add_unique
from app.errors import Conflict, InvalidRequest, Problem, problem_response
from app.models.idempotency import IdempotencyRecord
from app.security import TokenError

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
RETENTION = timedelta(hours=24)
LEASE = timedelta(seconds=60)
# Headers worth replaying; hop-by-hop and per-response ones are left out.
_REPLAYED_HEADERS = {b"content-type", b"location", b"etag", b"retry-after"}


class IdempotencyKeyReused(InvalidRequest):
    slug, title = "idempotency-key-reused", "This Idempotency-Key was used for another request"

    def __init__(self) -> None:
        super().__init__(
            "Keys must be unique per request: this one was first sent with other parameters",
            [
                {
                    "field": "Idempotency-Key",
                    "message": "reused with other parameters",
                    "rule": "reuse",
                }
            ],
        )


class IdempotencyKeyInUse(Conflict):
    slug, title = "idempotency-key-in-use", "A request with this Idempotency-Key is still running"


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or []) if scope["type"] == "http" else {}
        key_raw = headers.get(b"idempotency-key")
        if scope["type"] != "http" or scope["method"] != "POST" or key_raw is None:
            await self.app(scope, receive, send)
            return
        key = key_raw.decode("latin-1")
        if not KEY_PATTERN.match(key):
            problem = InvalidRequest.field(
                "Idempotency-Key", "must be 1 to 255 visible ASCII characters", "pattern"
            )
            await problem_response(problem)(scope, receive, send)
            return

        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)

        state = scope["app"].state
        now: datetime = state.clock.now()
        caller = _caller(state, headers, scope, now)
        fingerprint = _fingerprint(scope, body)
        try:
            replay = await _claim(state.database, caller, key, fingerprint, now)
        except Problem as problem:
            await problem_response(problem)(scope, receive, send)
            return
        if replay is not None:
            await _replay(replay, send)
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def replay_body() -> Message:
            nonlocal body
            chunk, body = body, b""
            return {"type": "http.request", "body": chunk, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            await _complete(state.database, caller, key, captured, state.clock.now())


def _caller(state: Any, headers: dict[bytes, bytes], scope: Scope, now: datetime) -> str:
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization.lower().startswith("bearer "):
        try:
            return "user:" + state.access_tokens.verify(authorization[7:].strip(), now).subject
        except TokenError:
            pass
    client = scope.get("client")
    return "anon:" + (client[0] if client else "unknown")


def _fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode()):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


async def _claim(
    database: Any, caller: str, key: str, fingerprint: str, now: datetime
) -> IdempotencyRecord | None:
    """Claims the key for this request, or returns the stored record to replay."""
    async with database.sessionmaker() as session, session.begin():
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == caller,
                IdempotencyRecord.key == key,
                IdempotencyRecord.expires_at <= now,
            )
        )
        claim = IdempotencyRecord(
            scope=caller,
            key=key,
            fingerprint=fingerprint,
            state="in_progress",
            locked_until=now + LEASE,
            expires_at=now + RETENTION,
        )
        if await add_unique(session, claim):
            return None
        record = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == caller, IdempotencyRecord.key == key
            )
        )
        if record is None:  # expired and purged between our statements: treat as in use
            raise IdempotencyKeyInUse("Retry in a moment")
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if record.state == "done":
            return record
        # Still running, unless its lease lapsed (the process running it died): take it over.
        taken = await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record.id, IdempotencyRecord.locked_until <= now)
            .values(locked_until=now + LEASE)
        )
        if taken.rowcount != 1:
            raise IdempotencyKeyInUse("The first request with this key is still running")
        return None


async def _complete(
    database: Any, caller: str, key: str, captured: dict[str, Any], now: datetime
) -> None:
    where = (IdempotencyRecord.scope == caller, IdempotencyRecord.key == key)
    async with database.sessionmaker() as session, session.begin():
        if captured["status"] >= 500:
            await session.execute(delete(IdempotencyRecord).where(*where))
            return
        kept = [
            [name.decode("latin-1"), value.decode("latin-1")]
            for name, value in captured["headers"]
            if name.lower() in _REPLAYED_HEADERS
        ]
        await session.execute(
            update(IdempotencyRecord)
            .where(*where)
            .values(
                state="done",
                status_code=captured["status"],
                response_headers=kept,
                response_body=captured["body"],
                locked_until=now,
            )
        )


async def _replay(record: IdempotencyRecord, send: Send) -> None:
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in record.response_headers or []]
    headers.append((b"idempotent-replayed", b"true"))
    body = record.response_body or b""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": record.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
