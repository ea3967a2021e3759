"""A streaming read replica: catalogue reads from a standby, money and every write on the primary.

With `RAPPORT_DATABASE_REPLICA_URL` set, the routes marked `@reads_only` (app/db.py: the
catalogue's briefs and listings) and bulk catalogue reads that ask for it (`catalogue_source`,
`Database.catalogue_reads`) read from a PostgreSQL hot standby; everything else — every write,
money, contracts, the worker — stays on the primary.
docs/deployment.md#read-replicas is the operator's view; this module is how it holds:

- **Lag.** `Replica.check` asks the standby, twice a second (a task per process, started by its
  first read), how far behind it is: 0 when it has replayed everything it received, else the age
  of the last transaction it replayed. A standby further behind than
  `RAPPORT_DATABASE_REPLICA_MAX_LAG_SECONDS`, not streaming from a primary, or unreachable is not
  read from until a later check finds it fit again (each change logged once).
- **Read-your-writes.** A credential (the `Authorization` header, hashed) whose write succeeded
  reads from the primary for `RAPPORT_READ_YOUR_WRITES_SECONDS` after it (`RecentWrites`: Redis
  when `RAPPORT_REDIS_URL` is set, so every API node sees it, else this process's memory). That
  window is at least the largest lag plus the time between checks, so a replica that passed its
  last check has replayed any write older than the window. A client that learned of someone
  else's write (a webhook) sends `Rapport-Read-From: primary`.
- **Failure.** A statement the replica cannot answer — unreachable, connection lost, refusing
  connections, a query cancelled by replay — runs again on the primary (the session's
  `do_orm_execute` hook, `failover`), and the replica is set aside until its next good check;
  an object the replica does not have yet (a 404 from a `@reads_only` route) is looked for on
  the primary before the answer is given (app/db.py). A read never fails because of the replica.

Every answer of a `@reads_only` route says where it read: `Rapport-Read-From: replica|primary`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable
from typing import Any

import coredis
from coredis.exceptions import RedisError
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.pool import NullPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.models.base import read_json
from app.settings import REPLICA_CHECK_SECONDS, Settings

logger = logging.getLogger("rapport.replica")

CHECK_SECONDS = REPLICA_CHECK_SECONDS  # between two lag checks (counted by the RYW window)
CONNECT_TIMEOUT_SECONDS = 2.0  # a replica that does not answer a connection within this is down
REDIS_TIMEOUT_SECONDS = 0.5
READ_FROM = "Rapport-Read-From"
# Where a `@reads_only` request keeps its session's `info`: the response header reads it.
READ_SOURCE = "rapport.read_source"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The standby's view of itself. `pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()`: it has
# replayed all it received (0 behind); otherwise the age of the last transaction it replayed.
# `pg_stat_wal_receiver` has a row while it streams from a primary (visible to any role).
LAG_QUERY = text(
    """
    SELECT pg_is_in_recovery() AS standby,
           EXISTS (SELECT 1 FROM pg_stat_wal_receiver) AS streaming,
           CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
                THEN 0.0
                ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0.0)
           END::float AS lag
    """
)

# Errors after which a statement runs again on the primary, by SQLSTATE: too many connections,
# shutting down or starting up (the replica as a whole is set aside), and a query the standby
# cancelled because replay needed its rows (40001: only that query).
_DOWN_SQLSTATES = frozenset({"53300", "57P01", "57P02", "57P03", "08000", "08003", "08006"})
_CANCELLED_BY_REPLAY = "40001"


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def replica_is_down(exc: BaseException) -> bool:
    """The replica cannot serve: refused, timed out, the connection lost, the server going."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or _sqlstate(exc) in _DOWN_SQLSTATES
    )


def cancelled_by_replay(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and _sqlstate(exc) == _CANCELLED_BY_REPLAY


def credential_key(authorization: str) -> str:
    """The key read-your-writes marks a credential by: a hash, never the credential itself."""
    return hashlib.blake2b(authorization.encode(), digest_size=16).hexdigest()


class RecentWrites:
    """Credentials that wrote within the window. In Redis when configured (every API node sees a
    write made through another), always also in this process's memory (no Redis round trip for
    a client that wrote through this process). Redis unreachable: the read goes to the primary."""

    def __init__(self, settings: Settings) -> None:
        self.window = settings.read_your_writes_seconds
        self._local: dict[str, float] = {}
        self._redis: coredis.Redis[bytes] | None = (
            coredis.Redis.from_url(settings.redis_url) if settings.redis_url else None
        )
        self._prefix = f"{settings.redis_key_prefix}:read-your-writes:"
        self._failing = False

    def _forget_expired(self, now: float) -> None:
        if len(self._local) > 10_000:
            self._local = {k: until for k, until in self._local.items() if until > now}

    async def mark(self, key: str) -> None:
        now = time.monotonic()
        self._forget_expired(now)
        self._local[key] = now + self.window
        if self._redis is not None:
            await self._redis_call(
                self._redis.set(self._prefix + key, b"1", px=max(1, int(self.window * 1000)))
            )

    async def recent(self, key: str) -> bool:
        if self._local.get(key, 0.0) > time.monotonic():
            return True
        if self._redis is None:
            return False
        found = await self._redis_call(self._redis.exists([self._prefix + key]))
        # Unreachable (None): not knowing, the read goes to the primary.
        return found is None or bool(found)

    async def _redis_call(self, call: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                result = await call
        except (RedisError, OSError, TimeoutError) as exc:
            if not self._failing:
                logger.error(
                    "read-your-writes: Redis unreachable (%s); reads go to the primary", exc
                )
            self._failing = True
            return None
        if self._failing:
            logger.warning("read-your-writes: Redis reachable again")
        self._failing = False
        return result


class Replica:
    """The standby's engine and sessions, and whether it may be read from now."""

    def __init__(
        self,
        settings: Settings,
        session_class: type[OrmSession],
        primary_reads: async_sessionmaker[AsyncSession],
        primary_engine: Engine,
    ) -> None:
        assert settings.database_replica_url is not None
        self.max_lag = settings.database_replica_max_lag_seconds
        self.engine = create_async_engine(
            settings.database_replica_url,
            echo=settings.database_echo,
            json_deserializer=read_json,  # as the primary's (app/db.py)
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_pool_size,
            pool_pre_ping=False,  # as the primary's (app/db.py); a dead connection fails over
            pool_recycle=1800,
            connect_args={
                "timeout": CONNECT_TIMEOUT_SECONDS,
                # A replica URL that names a writable server still never writes through here.
                "server_settings": {"default_transaction_read_only": "on"},
            },
        )
        self.sessionmaker = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
            sync_session_class=session_class,
            info={"replica": self},
        )
        # Where a replica's statement runs again, and the sessions of a read sent back.
        self.primary_reads = primary_reads
        self.primary_engine = primary_engine
        self.recent_writes = RecentWrites(settings)
        self.usable = False
        self.lag: float | None = None
        self.reason = "not checked yet"
        self._monitor: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts the lag checks (once; from the first read, inside the running loop)."""
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(CHECK_SECONDS)

    async def check(self) -> None:
        """One look at the standby: reachable, streaming, and how far behind."""
        self._set(*await _fitness(self.engine, self.max_lag))

    def failed(self, exc: BaseException) -> None:
        """A read found the replica down: reads go to the primary until a check finds it up."""
        self._set(False, self.lag, f"a read failed ({type(exc).__name__}: {exc})")

    def _set(self, usable: bool, lag: float | None, reason: str) -> None:
        self.lag = lag
        if usable != self.usable:
            if usable:
                logger.warning("read replica in use again: %s", reason)
            else:
                logger.warning("read replica not used, reads go to the primary: %s", reason)
        self.usable, self.reason = usable, reason

    async def serves(self, headers: dict[str, str]) -> bool:
        """Whether this request reads from the replica: it is fit, the client did not ask for
        the primary, and its credential did not write within the read-your-writes window."""
        self.start()
        if not self.usable or headers.get("rapport-read-from", "").lower() == "primary":
            return False
        authorization = headers.get("authorization")
        return not (
            authorization and await self.recent_writes.recent(credential_key(authorization))
        )

    async def aclose(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
        await self.engine.dispose()


async def _fitness(engine: AsyncEngine, max_lag: float) -> tuple[bool, float | None, str]:
    """(usable, lag in seconds, why) of the standby behind `engine`."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS * 2):
            async with engine.connect() as connection:
                row = (await connection.execute(LAG_QUERY)).one()
                await connection.rollback()
    except (DBAPIError, OSError, TimeoutError) as exc:
        return False, None, f"unreachable ({type(exc).__name__}: {exc})".strip()
    standby, streaming, lag = bool(row.standby), bool(row.streaming), float(row.lag)
    if standby and not streaming:
        return False, lag, "not streaming from a primary (its lag cannot be known)"
    if lag > max_lag:
        return False, lag, f"{lag:.1f} s behind the primary (more than {max_lag} s)"
    return True, lag, "streaming" if standby else "not a standby (read as is)"


async def catalogue_source(settings: Settings) -> str:
    """The database URL for a bulk read of the catalogue that runs on its own connection (the
    matching index's build): the replica's when one is configured and fit now (one connection,
    one query), else the primary's. What the replica has not replayed yet, the caller catches up
    from the primary, as it does for changes made during the build."""
    url = settings.database_replica_url
    if url is None:
        return settings.database_url
    engine = create_async_engine(
        url, poolclass=NullPool, connect_args={"timeout": CONNECT_TIMEOUT_SECONDS}
    )
    try:
        usable, _lag, reason = await _fitness(engine, settings.database_replica_max_lag_seconds)
    finally:
        await engine.dispose()
    if not usable:
        logger.warning("a bulk read goes to the primary: the read replica is %s", reason)
        return settings.database_url
    return url


def failover(state: ORMExecuteState) -> Any:
    """`do_orm_execute` of replica sessions: a statement the replica cannot answer runs on the
    primary, and so does every later statement of that request (it reads without a transaction,
    so nothing it already read is undone)."""
    info = state.session.info
    replica: Replica = info["replica"]
    primary = {"bind": replica.primary_engine}
    if info.get("read_from") == "primary":
        return state.invoke_statement(bind_arguments=primary)
    try:
        return state.invoke_statement()
    except (DBAPIError, OSError, TimeoutError) as exc:
        down = replica_is_down(exc)
        if not (down or cancelled_by_replay(exc)):
            raise
        if down:
            replica.failed(exc)
        logger.info("a replica read ran again on the primary (%s)", type(exc).__name__)
        info["read_from"] = "primary"
        return state.invoke_statement(bind_arguments=primary)


def install_failover(session_class: type[OrmSession]) -> None:
    event.listen(session_class, "do_orm_execute", failover)


class ReadYourWritesMiddleware:
    """With a replica: marks a credential whose unsafe request succeeded (before its answer
    leaves, so its next read already knows), and tells every `@reads_only` answer where it read
    (`Rapport-Read-From`)."""

    def __init__(self, app: ASGIApp, replica: Replica) -> None:
        self.app, self.replica = app, replica

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        replica = self.replica
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        safe = scope["method"] in SAFE_METHODS
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                if safe:
                    source = scope.get(READ_SOURCE)
                    if source is not None:
                        read_from = source.get("read_from", "primary")
                        message.setdefault("headers", []).append(
                            (READ_FROM.lower().encode(), read_from.encode())
                        )
                elif authorization and 200 <= message["status"] < 300:
                    await replica.recent_writes.mark(
                        credential_key(authorization.decode("latin-1"))
                    )
            await send(message)

        await self.app(scope, receive, send_marked)
