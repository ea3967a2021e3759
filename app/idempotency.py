"""`Idempotency-Key` on POST, with Stripe's semantics.

The first response to a (caller, key) is stored and replayed for every retry with the same key,
marked `Idempotent-Replayed: true`. The same key with a different request (method, path, query or
body) is a 422; the same key while its first request is still running is a 409. Server errors
(5xx) are not stored, so a retry runs again. Keys are kept for 24 hours; the worker deletes
expired ones on every pass (`Worker.purge_idempotency_records`).

The caller is the account of the bearer token (so a retry after refreshing the token still
replays), or the client address for anonymous calls.

**The stored response is committed with the effect, before the client sees a byte.** The layer
opens the request's database connection itself and hands the route its session (`app.db`'s
`get_session` uses it instead of opening one and leaves the commit to this layer). The route's
response is buffered, inserted as the key's record into the same transaction as the route's
changes, committed, and only then sent. So a committed effect always has its stored response: a
retry that follows an answer is a replay, and a process that dies after its commit (before or
while sending) leaves a key that replays. A process that dies before its commit leaves nothing —
no effect and no record — and the retry runs the request afresh.

**"Still running" is a lock that dies with its owner, never a committed row with a lease.** On
PostgreSQL the layer holds a session-level advisory lock on the key's hash on the request's
connection for the whole request (routes that commit before a Stripe call keep it across that
commit). A second request with the key that cannot take the lock gets the 409; when the owner's
process dies, PostgreSQL ends its connection and frees the lock at once, and the next retry takes
the key over. Within a process, a set of running keys does the same without a round trip (and is
the whole story on SQLite, where one process serves; should several processes share one SQLite
file, the unique (caller, key) constraint still keeps one stored answer: the later request rolls
back its changes and replays the earlier one's answer). Records with `state = 'in_progress'`
are never committed by this version; one left by an older version is taken over.

Errors (4xx) are stored too: the route's session rolled its changes back (or committed them, for
the few problems that must persist what led to them), and the record is committed after that, in
its own transaction; if the process dies in between, the retry runs again and meets the same
refusal, or, for a refusal that committed, the state that refusal recorded.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import HELD_SESSION, Database, add_unique
from app.errors import Conflict, InvalidRequest, Problem, problem_response
from app.models.idempotency import IdempotencyRecord
from app.resources import resources_of
from app.security import AccessTokens, TokenError
from app.services.identity.credentials import looks_like_api_key
from app.services.identity.oauth_server import PREFIX as OAUTH_PREFIX

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
RETENTION = timedelta(hours=24)
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

    def __init__(self) -> None:
        super().__init__("The first request with this key is still running; retry in a moment")
        self.headers["Retry-After"] = "1"


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Keys whose request runs in this process: a second one is a 409 without a round trip.
        self._running: set[tuple[str, str]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key_raw = headers.get(b"idempotency-key")
        if key_raw is None:
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

        # The app's typed resources (create_app keeps no string-keyed state aliases any more).
        state = resources_of(scope["app"])
        database: Database = state.database
        caller = _caller(state, headers, scope, state.clock.now())
        claim = _Claim(database, caller, key, _fingerprint(scope, body), self._running)
        try:
            replay = await claim.take(state.clock.now())
        except BaseException as exc:
            await claim.release()
            if not isinstance(exc, Problem):
                raise
            await problem_response(exc)(scope, receive, send)
            return
        if replay is not None:
            await claim.release()
            await _send_record(replay, send, replayed=True)
            return

        async def replay_body() -> Message:
            nonlocal body
            chunk, body = body, b""
            return {"type": "http.request", "body": chunk, "more_body": False}

        response: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def capture(message: Message) -> None:
            # Nothing reaches the client before the response is stored (see the docstring).
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                response["body"] += message.get("body", b"")

        session = claim.session()
        scope[HELD_SESSION] = session
        stored: IdempotencyRecord | None = None
        refusal: Problem | None = None
        try:
            try:
                await self.app(scope, replay_body, capture)
            except BaseException:
                await session.rollback()
                raise
            try:
                stored = await claim.store(session, response, state.clock.now())
            except Problem as problem:  # another process answered this key first, differently
                refusal = problem
        finally:
            scope.pop(HELD_SESSION, None)
            await session.close()
            await claim.release()
        if refusal is not None:
            await problem_response(refusal)(scope, receive, send)
            return
        if stored is not None:  # another process answered this key first
            await _send_record(stored, send, replayed=True)
            return
        await send(
            {
                "type": "http.response.start",
                "status": response["status"],
                "headers": response["headers"],
            }
        )
        await send({"type": "http.response.body", "body": response["body"]})


class _Claim:
    """One request's hold on its key: the connection it runs on, and the lock (see the module
    docstring) that tells other requests it is running."""

    def __init__(
        self,
        database: Database,
        caller: str,
        key: str,
        fingerprint: str,
        running: set[tuple[str, str]],
    ) -> None:
        self.database = database
        self.caller, self.key, self.fingerprint = caller, key, fingerprint
        self.running = running
        self.connection: AsyncConnection | None = None
        self.registered = False
        self.advisory_lock: int | None = None

    @property
    def _where(self) -> tuple[Any, ...]:
        return (IdempotencyRecord.scope == self.caller, IdempotencyRecord.key == self.key)

    async def _finished(self, now: datetime) -> IdempotencyRecord | None:
        """The stored answer to replay; None when the key is free (expired records and records
        left in progress by an older version are cleared)."""
        assert self.connection is not None
        record = (
            await self.connection.execute(select(IdempotencyRecord).where(*self._where))
        ).first()
        if record is None:
            return None
        if record.expires_at > now and record.state == "done":
            if record.fingerprint != self.fingerprint:
                raise IdempotencyKeyReused()
            return IdempotencyRecord(
                status_code=record.status_code,
                response_headers=record.response_headers,
                response_body=record.response_body,
            )
        if record.expires_at > now and record.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused()
        if self.registered:  # only the key's holder clears what is left of an earlier request
            await self.connection.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id)
            )
        return None

    async def take(self, now: datetime) -> IdempotencyRecord | None:
        """Claims the key for this request, or returns the stored answer to replay. Raises the
        409 while another request holds the key."""
        self.connection = await self.database.engine.connect()
        done = await self._finished(now)
        if done is not None:
            return done
        if (self.caller, self.key) in self.running:
            raise IdempotencyKeyInUse()
        if self.connection.dialect.name == "postgresql":
            lock = _lock_id(self.caller, self.key)
            if not await self.connection.scalar(select(func.pg_try_advisory_lock(lock))):
                raise IdempotencyKeyInUse()
            self.advisory_lock = lock
        self.running.add((self.caller, self.key))
        self.registered = True
        # The first look may predate an answer committed since: look again, now as the holder.
        done = await self._finished(now)
        await self.connection.commit()
        return done

    def session(self) -> AsyncSession:
        """The route's session, on the claim's connection (so on the lock's connection)."""
        assert self.connection is not None
        return self.database.sessionmaker(bind=self.connection)

    async def store(
        self, session: AsyncSession, response: dict[str, Any], now: datetime
    ) -> IdempotencyRecord | None:
        """Commits the route's changes together with its response; 5xx answers are not kept
        (their changes are rolled back). Returns the record to send instead when another process
        stored an answer for this key first (several processes on one SQLite file)."""
        # A 429 is not stored either: the request was refused before it did anything, and its
        # retry must run once the rate limit allows, not replay the refusal for 24 hours.
        if response["status"] >= 500 or response["status"] == 429:
            await session.rollback()
            return None
        kept = [
            [name.decode("latin-1"), value.decode("latin-1")]
            for name, value in response["headers"]
            if name.lower() in _REPLAYED_HEADERS
        ]
        record = IdempotencyRecord(
            scope=self.caller,
            key=self.key,
            fingerprint=self.fingerprint,
            state="done",
            locked_until=now,
            status_code=response["status"],
            response_headers=kept,
            response_body=response["body"],
            expires_at=now + RETENTION,
        )
        if await add_unique(session, record):
            await session.commit()
            return None
        await session.rollback()
        first = await session.scalar(select(IdempotencyRecord).where(*self._where))
        await session.commit()
        if first is None or first.state != "done":
            raise IdempotencyKeyInUse()
        if first.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused()
        return first

    async def release(self) -> None:
        if self.registered:
            self.running.discard((self.caller, self.key))
            self.registered = False
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            if self.advisory_lock is not None:
                await connection.rollback()
                await connection.execute(select(func.pg_advisory_unlock(self.advisory_lock)))
                await connection.commit()
                self.advisory_lock = None
        except BaseException:
            # A connection that may still hold the lock must never go back to the pool.
            await connection.invalidate()
            raise
        finally:
            await connection.close()


def _lock_id(caller: str, key: str) -> int:
    digest = hashlib.sha256(b"idempotency\0" + caller.encode() + b"\0" + key.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _caller(state: Any, headers: dict[bytes, bytes], scope: Scope, now: datetime) -> str:
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
    if looks_like_api_key(bearer):
        # An API key's calls are its own (never the anonymous client address's, which partners
        # behind one NAT would share); a digest, not the key, is what is stored.
        return "key:" + hashlib.sha256(bearer.encode()).hexdigest()
    if bearer.startswith(OAUTH_PREFIX["access"]):
        # A partner's OAuth token likewise (one partner server acts for many users: their keys
        # must never meet): its calls are its own, until it is refreshed.
        return "oauth:" + hashlib.sha256(bearer.encode()).hexdigest()
    if authorization.lower().startswith("bearer "):
        try:
            tokens: AccessTokens = state.access_tokens
            return "user:" + tokens.verify(authorization[7:].strip(), now).subject
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


async def _send_record(record: IdempotencyRecord, send: Send, *, replayed: bool) -> None:
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in record.response_headers or []]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    body = record.response_body or b""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": record.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
