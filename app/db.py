"""Engines and the per-request session.

One transaction per request: `get_session` opens it, commits when the route returns and rolls back
when anything raises. Services never commit; they may flush to surface constraint errors early.
The dependency is declared with `scope="function"`, so the commit happens before the response is
sent: a client never sees a success whose commit then failed. Under an `Idempotency-Key` the
idempotency layer opens the session and commits it with the stored response (`HELD_SESSION`).

A route marked `@reads_only` (a read that needs no transaction: one statement's snapshot is
enough, or its statements need not agree) gets, on PostgreSQL, a session whose statements run
without `BEGIN`/`COMMIT` — two round trips fewer per request; the session refuses to flush a
change. SQLite keeps the transaction (its `BEGIN IMMEDIATE` is how writers queue).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import CursorResult, Result, event
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session as OrmSession

from app.errors import Problem, ServiceUnavailable
from app.settings import Settings


@dataclass
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # Sessions for `@reads_only` routes (autocommit); None where reads keep their transaction.
    read_sessionmaker: async_sessionmaker[AsyncSession] | None = None

    async def dispose(self) -> None:
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
    kwargs: dict[str, Any] = {"echo": settings.database_echo}
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
    reads = async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"),
        expire_on_commit=False,
        sync_session_class=_ReadOnlySession,
    )
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False), reads)


class _ReadOnlySession(OrmSession):
    """The session of a `@reads_only` route: each statement commits on its own, so a change
    would not be undone by an error later in the request; flushing one is a bug, and raises."""

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise RuntimeError("a route marked @reads_only changed rows")
        super().flush(objects)


_READS_ONLY = "_rapport_reads_only"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def reads_only(endpoint: Endpoint) -> Endpoint:
    """Marks a route that only reads: on PostgreSQL its requests run without a transaction
    (no `BEGIN`/`COMMIT` round trips). Put it under the `@router.get(...)` decorator."""
    setattr(endpoint, _READS_ONLY, True)
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
    if database.read_sessionmaker is not None and held is None:
        endpoint = getattr(request.scope.get("route"), "endpoint", None)
        if getattr(endpoint, _READS_ONLY, False):
            # Autocommit: commit and rollback below send nothing; each statement was its own.
            maker = database.read_sessionmaker
    async with maker() if held is None else nullcontext(held) as session:
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
            if held is None:
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
