"""Engines and the per-request session.

One transaction per request: `get_session` opens it, commits when the route returns and rolls back
when anything raises. Services never commit; they may flush to surface constraint errors early.
The dependency is declared with `scope="function"`, so the commit happens before the response is
sent: a client never sees a success whose commit then failed. Under an `Idempotency-Key` the
idempotency layer opens the session and commits it with the stored response (`HELD_SESSION`).

A route marked `@reads_only` (a read that needs no transaction: one statement's snapshot is
enough, or its statements need not agree) gets, on PostgreSQL, a session whose statements run
without `BEGIN`/`COMMIT` — two round trips fewer per request; the session refuses to flush a
change. SQLite keeps the transaction (its `BEGIN IMMEDIATE` is how writers queue). With a read
replica (`RAPPORT_DATABASE_REPLICA_URL`, app/replica.py) those routes read from it, unless the
caller wrote a moment ago or asked for the primary; an object the replica does not have yet is
looked for on the primary before a 404 is answered. Nothing else reads from the replica, but
bulk catalogue reads that ask for it (`Database.catalogue_reads`, `replica.catalogue_source`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Header, Request
from sqlalchemy import CursorResult, Result, event
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session as OrmSession

from app.errors import NotFound, Problem, ServiceUnavailable
from app.models.base import read_json
from app.replica import READ_SOURCE, Replica, install_failover
from app.settings import Settings


@dataclass
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # Sessions for `@reads_only` routes (autocommit); None where reads keep their transaction.
    read_sessionmaker: async_sessionmaker[AsyncSession] | None = None
    # The streaming read replica, when RAPPORT_DATABASE_REPLICA_URL names one.
    replica: Replica | None = None

    @asynccontextmanager
    async def catalogue_reads(self) -> AsyncIterator[AsyncSession]:
        """A session for reading the catalogue in bulk (the matching index's builds): on the
        replica when one is fit, else on the primary; without a transaction on PostgreSQL (a
        build pages by key, its pages need not agree). Never for a write."""
        maker = self.read_sessionmaker or self.sessionmaker
        if self.replica is not None:
            self.replica.start()
            if self.replica.usable:
                maker = self.replica.sessionmaker
        async with maker() as session:
            try:
                yield session
            finally:
                await session.rollback()

    async def dispose(self) -> None:
        if self.replica is not None:
            await self.replica.aclose()
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN; turn it off and emit BEGIN ourselves
        # so a transaction really spans every statement (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers queue on busy_timeout instead of
        # one failing with "database is locked" when it upgrades from a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


POOL_RECYCLE_SECONDS = 1800


def create_database(settings: Settings) -> Database:
    url = settings.database_url
    kwargs: dict[str, Any] = {"echo": settings.database_echo, "json_deserializer": read_json}
    if settings.is_sqlite:
        path = settings.sqlite_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_size"] = settings.database_pool_size
        kwargs["max_overflow"] = settings.database_pool_size
        # No pre-ping: it cost three round trips (BEGIN, an empty statement, ROLLBACK) on every
        # checkout, more than the reads it guarded. A connection that died in the pool fails its
        # first statement instead; SQLAlchemy then discards it and every connection pooled before
        # it, and `get_session` answers that request 503 (retry). Recycling connections older
        # than POOL_RECYCLE_SECONDS keeps them clear of middleboxes that drop idle connections.
        kwargs["pool_pre_ping"] = False
        kwargs["pool_recycle"] = POOL_RECYCLE_SECONDS
    engine = create_async_engine(url, **kwargs)
    if settings.is_sqlite:
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    reads = async_sessionmaker(
        autocommit, expire_on_commit=False, sync_session_class=_ReadOnlySession
    )
    replica = None
    if settings.database_replica_url is not None:
        replica = Replica(settings, _ReplicaSession, reads, autocommit.sync_engine)
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False), reads, replica)


class _ReadOnlySession(OrmSession):
    """The session of a `@reads_only` route: each statement commits on its own, so a change
    would not be undone by an error later in the request; flushing one is a bug, and raises."""

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise RuntimeError("a route marked @reads_only changed rows")
        super().flush(objects)


class _ReplicaSession(_ReadOnlySession):
    """A `@reads_only` session on the replica; a statement it cannot answer runs again on the
    primary (app/replica.py `failover`)."""


install_failover(_ReplicaSession)


def primary_instead(session: AsyncSession) -> async_sessionmaker[AsyncSession] | None:
    """For a session that reads from the replica: the primary's read sessions, to look again
    for what the replica did not have (yet). None for any other session."""
    replica = session.info.get("replica")
    if not isinstance(replica, Replica) or session.info.get("read_from") == "primary":
        return None
    session.info["read_from"] = "primary"
    return replica.primary_reads


@asynccontextmanager
async def writable(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """The session itself, or for a session on the replica one on the primary that writes each
    statement as it runs (autocommit, as every `@reads_only` session on PostgreSQL)."""
    replica = session.info.get("replica")
    if not isinstance(replica, Replica):
        yield session
        return
    async with replica.primary_reads() as primary:
        yield primary


_READS_ONLY = "_rapport_reads_only"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


# An enum, not a Literal or `| None`: code generators take no const or null header.
class ReadFrom(StrEnum):
    """Where a catalogue read is sent when the client chooses: `primary`."""

    primary = "primary"


ReadFromHeader = Annotated[
    ReadFrom,
    Header(
        alias="Rapport-Read-From",
        description="`primary`: read from the primary database even where a read replica "
        "serves this route (right after learning of a change made by someone else, e.g. from "
        "a webhook; your own writes are read back from the primary for a few seconds anyway). "
        "The answer's `Rapport-Read-From` says where it was read.",
    ),
]


def reads_only(endpoint: Endpoint) -> Endpoint:
    """Marks a route that only reads: on PostgreSQL its requests run without a transaction
    (no `BEGIN`/`COMMIT` round trips), and from the read replica when there is one. Put it
    under the `@router.get(...)` decorator. A 404 read from the replica is looked for again on
    the primary (the object may be newer than the replica's copy); the route runs twice then,
    which a read may."""

    @functools.wraps(endpoint)
    async def read(*args: Any, **kwargs: Any) -> Any:
        # Declared for OpenAPI and validation; `get_session` reads it from the request.
        kwargs.pop("rapport_read_from", None)
        try:
            return await endpoint(*args, **kwargs)
        except NotFound:
            name, session = next(
                ((k, v) for k, v in kwargs.items() if isinstance(v, AsyncSession)), ("", None)
            )
            primary = primary_instead(session) if session is not None else None
            if primary is None:
                raise
            async with primary() as again:
                return await endpoint(*args, **{**kwargs, name: again})

    signature = inspect.signature(endpoint)
    header = inspect.Parameter(
        "rapport_read_from",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=ReadFromHeader,
    )
    # FastAPI reads the parameters from `__signature__`, which typeshed does not declare.
    read.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), header]
    )
    setattr(read, _READS_ONLY, True)
    return cast(Endpoint, read)


_READS_PRIMARY = "_rapport_reads_primary"


def reads_primary(endpoint: Endpoint) -> Endpoint:
    """Marks a route that only reads but must read the primary: on PostgreSQL its requests run
    without a transaction (no `BEGIN`/`COMMIT` round trips, each statement its own, writes
    refused) as on a `@reads_only` route, never on the read replica. For the matching routes:
    each process's index follows the primary's change log (its horizon is one server's;
    app/services/matching/service.py), so its reads go where the writes are."""
    setattr(endpoint, _READS_PRIMARY, True)
    return endpoint


# Where the idempotency layer puts the session it opened for a request under an Idempotency-Key.
HELD_SESSION = "rapport.held_session"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # app.resources.Resources (not imported here: it is built from this module).
    database: Database = request.app.state.resources.database
    # Under an Idempotency-Key the idempotency layer owns the request's session: it commits the
    # route's changes together with the stored response, before sending it (app/idempotency.py).
    held: AsyncSession | None = request.scope.get(HELD_SESSION)
    maker = database.sessionmaker
    reading = False
    if database.read_sessionmaker is not None and held is None:
        endpoint = getattr(request.scope.get("route"), "endpoint", None)
        if getattr(endpoint, _READS_PRIMARY, False):
            maker = database.read_sessionmaker  # autocommit, the primary
        elif getattr(endpoint, _READS_ONLY, False):
            # Autocommit: commit and rollback below send nothing; each statement was its own.
            reading = True
            maker = database.read_sessionmaker
            replica = database.replica
            if replica is not None and await replica.serves(dict(request.headers)):
                maker = replica.sessionmaker
    async with maker() if held is None else nullcontext(held) as session:
        if reading and database.replica is not None:
            # The answer's Rapport-Read-From (app/replica.py's middleware reads it).
            session.info.setdefault(
                "read_from", "replica" if "replica" in session.info else "primary"
            )
            request.scope[READ_SOURCE] = session.info
        try:
            yield session
        except Problem as problem:
            # A few refusals must still persist what led to them (a reused refresh token
            # revokes its whole sign-in); they say so with `commit_on_error`.
            if problem.commit_on_error:
                await session.commit()
            else:
                await session.rollback()
            raise
        except DBAPIError as exc:
            await session.rollback()
            if exc.connection_invalidated:
                # The pooled connection had died (the database restarted, a proxy dropped it):
                # the transaction is gone with it; the pool reconnects on the next checkout.
                lost = ServiceUnavailable("The database connection was lost or refused; retry")
                lost.headers["Retry-After"] = "1"
                raise lost from exc
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            if reading:
                # Nothing to commit (autocommit). On the replica a rollback also lets go of a
                # connection that died under a statement the primary then answered; elsewhere
                # closing the session (leaving the `async with`) ends all there is to end.
                if database.replica is not None:
                    await session.rollback()
            elif held is None:
                await session.commit()
            else:
                await session.flush()


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def add_unique(session: AsyncSession, row: Any) -> bool:
    """Inserts `row` inside a savepoint; False (and the transaction intact) when it breaks a
    unique constraint. The row is added inside the savepoint, so a conflict never poisons the
    enclosing transaction."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (the compare-and-set's verdict). `session.execute()` is
    typed as returning a `Result`; for those statements it is a `CursorResult`, which counts."""
    assert isinstance(result, CursorResult)
    return result.rowcount
