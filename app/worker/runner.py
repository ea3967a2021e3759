"""The worker: fires due timers and relays due outbox jobs.

`Worker.run_once(now)` does one pass — every due timer, then every due job (jobs enqueued by the
timers' transitions included) — and returns what it did; tests drive time with the frozen clock
and call it. `Worker.run_forever(poll_interval)` loops for `rapport worker` and for the worker
that `rapport serve` embeds on SQLite (`RAPPORT_EMBEDDED_WORKER`).

Any number of workers may run against PostgreSQL: jobs are claimed with `FOR UPDATE SKIP LOCKED`
under a lease (app/worker/relay.py), and a timer fires through the state machine's
compare-and-set after taking the object's row lock, so a timer fires once however many workers
see it. On SQLite every transaction holds the write lock (`BEGIN IMMEDIATE`), which serialises
workers just as well (one embedded worker is the intended setup).

Firing a timer, in one transaction: read the due timer; lock its object's row (`FOR UPDATE`: the
same lock order — object, then timers — as a request whose transition cancels the timer, so the
two cannot deadlock); claim the timer (`UPDATE timers SET state='fired' … WHERE state='pending'`,
0 rows → someone else fired or cancelled it: roll back); fire the action as `system` with the
timer's id as the actor id. When the machine refuses (the object moved on: invalid transition,
guard refused, object gone) the timer is marked fired with outcome `obsolete` and the reason.
An unexpected error leaves it pending, with `last_error`, for a retry after a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.db import Database, rowcount
from app.errors import Problem
from app.ids import ulid_body
from app.models.idempotency import IdempotencyRecord
from app.models.workflow import Timer, TimerState
from app.resources import Resources
from app.services.identity.oauth import PurgeCounts, purge_spent
from app.services.wiring import wire
from app.services.workflow.jobs import JOB_HANDLERS, JobHandlers, JobResources
from app.services.workflow.state_machine import MACHINES, Actor, ConcurrentTransition, StateMachine
from app.settings import Settings
from app.worker.relay import LEASE, Backoff, Relay, RelayCounts

logger = logging.getLogger("rapport.worker")


@dataclass
class TimerCounts:
    fired: int = 0
    obsolete: int = 0
    failed: int = 0
    deferred: int = 0  # lost a race with a concurrent transition; looked at again next pass


@dataclass
class RunReport:
    timers: TimerCounts = field(default_factory=TimerCounts)
    jobs: RelayCounts = field(default_factory=RelayCounts)
    # Stored idempotent responses past their 24 hours, deleted this pass.
    idempotency_purged: int = 0
    # Partner applications' ended grants and expired codes past their retention, deleted this
    # pass (at most once per OAUTH_PURGE_EVERY of each worker).
    oauth_purged: PurgeCounts = field(default_factory=PurgeCounts)

    @property
    def did_work(self) -> bool:
        t = self.timers
        return bool(t.fired + t.obsolete + t.failed + self.jobs.total)


# How often a worker looks for OAuth rows to purge (application time): a grouped scan of the
# tokens table, too much for every pass of a worker polling each second.
OAUTH_PURGE_EVERY = timedelta(minutes=10)


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{ulid_body()[-8:]}"


class Worker:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        handlers: JobHandlers = JOB_HANDLERS,
        machines: Mapping[str, StateMachine[Any]] = MACHINES,
        worker_id: str | None = None,
        lease: timedelta = LEASE,
        backoff: Backoff | None = None,
        concurrency: int = 1,
        rng: random.Random | None = None,
        resources: JobResources | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        self.machines = machines
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        self.backoff = backoff or Backoff()
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not secrets)
        self.resources = resources or JobResources()
        self._oauth_purged_at: datetime | None = None
        self.relay = Relay(
            database,
            clock,
            handlers,
            self.worker_id,
            lease,
            self.backoff,
            self.rng,
            self.resources,
        )

    # --- one pass -----------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> RunReport:
        """Fire every due timer, then relay every due job; `now` defaults to the clock."""
        report = RunReport()
        report.timers = await self.fire_due_timers(now)
        report.jobs = await self.relay.run_due(now, concurrency=self.concurrency)
        report.idempotency_purged = await self.purge_idempotency_records(now)
        at = now or self.clock.now()
        if self._oauth_purged_at is None or at - self._oauth_purged_at >= OAUTH_PURGE_EVERY:
            report.oauth_purged = await self.purge_oauth(at)
            self._oauth_purged_at = at
        return report

    async def purge_oauth(self, now: datetime | None = None) -> PurgeCounts:
        """Deletes partner applications' grants that ended and authorization codes that expired
        `RAPPORT_OAUTH_RETENTION_DAYS` ago, keeping what reuse detection needs
        (`oauth.purge_spent`); one bounded batch."""
        at = now or self.clock.now()
        retention = timedelta(days=self.resources.settings.oauth_retention_days)
        async with self.database.sessionmaker() as session, session.begin():
            return await purge_spent(session, at, retention)

    async def purge_idempotency_records(self, now: datetime | None = None) -> int:
        """Deletes stored `Idempotency-Key` responses whose 24 hours are over (a bounded batch
        per pass, oldest first, so one pass never holds a long lock)."""
        at = now or self.clock.now()
        async with self.database.sessionmaker() as session, session.begin():
            expired = select(IdempotencyRecord.id).where(IdempotencyRecord.expires_at <= at)
            ids = list(await session.scalars(expired.order_by(IdempotencyRecord.id).limit(1000)))
            if ids:
                await session.execute(
                    delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(ids))
                )
        return len(ids)

    async def fire_due_timers(self, now: datetime | None = None, limit: int = 1000) -> TimerCounts:
        counts = TimerCounts()
        skip: set[str] = set()
        for _ in range(limit):
            at = now or self.clock.now()
            async with self.database.sessionmaker() as session:
                outcome = await self._fire_next(session, at, skip)
            if outcome is None:
                break
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        return counts

    async def _fire_next(self, session: AsyncSession, now: datetime, skip: set[str]) -> str | None:
        stmt = select(Timer.id, Timer.kind, Timer.object_id, Timer.action, Timer.attempts).where(
            Timer.state == TimerState.pending, Timer.run_after <= now
        )
        if skip:
            stmt = stmt.where(Timer.id.not_in(skip))
        row = (await session.execute(stmt.order_by(Timer.run_after, Timer.id).limit(1))).first()
        if row is None:
            await session.rollback()
            return None
        timer_id, kind, object_id, action, attempts = row
        skip.add(timer_id)
        machine = self.machines.get(kind)
        try:
            if machine is None:
                raise LookupError(f"no state machine of kind {kind!r} is declared")
            try:
                obj = await machine.load(session, object_id, lock=True)
            except Problem as refused:  # the object is gone
                await session.rollback()
                return await self._close(timer_id, now, "obsolete", refused.detail)
            claimed = await session.execute(
                update(Timer)
                .where(Timer.id == timer_id, Timer.state == TimerState.pending)
                .values(
                    state=TimerState.fired,
                    outcome="transitioned",
                    attempts=Timer.attempts + 1,
                    finished_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(claimed) != 1:
                await session.rollback()
                return "deferred"
            # The actor's id is the timer's: the audit row says which timer fired it.
            await machine.fire(session, obj, action, Actor("system", timer_id), now)
            await session.commit()
            return "fired"
        except ConcurrentTransition:
            await session.rollback()
            return "deferred"
        except Problem as refused:
            await session.rollback()
            return await self._close(timer_id, now, "obsolete", refused.detail)
        except asyncio.CancelledError:
            await session.rollback()
            raise
        except Exception as exc:
            await session.rollback()
            logger.exception("timer failed", extra={"timer_id": timer_id})
            delay = self.backoff.delay(attempts + 1, self.rng)
            async with self.database.sessionmaker() as s2, s2.begin():
                await s2.execute(
                    update(Timer)
                    .where(Timer.id == timer_id, Timer.state == TimerState.pending)
                    .values(
                        attempts=Timer.attempts + 1,
                        last_error=f"{type(exc).__name__}: {exc}"[:2000],
                        run_after=now + delay,
                    )
                    .execution_options(synchronize_session=False)
                )
            return "failed"

    async def _close(self, timer_id: str, now: datetime, outcome: str, note: str) -> str:
        async with self.database.sessionmaker() as session, session.begin():
            result = await session.execute(
                update(Timer)
                .where(Timer.id == timer_id, Timer.state == TimerState.pending)
                .values(
                    state=TimerState.fired,
                    outcome=outcome,
                    note=note[:2000],
                    attempts=Timer.attempts + 1,
                    finished_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        return outcome if rowcount(result) == 1 else "deferred"

    # --- forever ------------------------------------------------------------------------

    async def run_forever(
        self, poll_interval: float = 1.0, stop: asyncio.Event | None = None
    ) -> None:
        """Pass after pass; sleeps `poll_interval` seconds after a pass that found nothing.
        Returns when `stop` is set (or raises CancelledError when the task is cancelled)."""
        stop = stop or asyncio.Event()
        logger.info("worker started", extra={"worker_id": self.worker_id})
        while not stop.is_set():
            try:
                report = await self.run_once()
                busy = report.did_work
            except asyncio.CancelledError:
                raise
            except Exception:
                # A database outage must not kill the worker: log, wait, try again.
                logger.exception("worker pass failed")
                busy = False
            if not busy:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=poll_interval)
                except TimeoutError:
                    pass
        logger.info("worker stopped", extra={"worker_id": self.worker_id})


# --- hosting ------------------------------------------------------------------------------------


@asynccontextmanager
async def embedded_worker(
    database: Database,
    clock: Clock,
    settings: Settings,
    resources: JobResources | None = None,
) -> AsyncIterator[Worker | None]:
    """Runs a worker as a task of the app's event loop while the context is open (the app's
    lifespan), when `RAPPORT_EMBEDDED_WORKER` says so — by default on SQLite only."""
    if not settings.runs_embedded_worker:
        yield None
        return
    worker = Worker(database, clock, resources=resources)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(settings.worker_poll_seconds, stop))
    try:
        yield worker
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=10)
        except TimeoutError:  # a handler is stuck: its lease expires and the job runs again
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_worker_process(
    settings: Settings, *, concurrency: int, poll_interval: float, once: bool = False
) -> RunReport | None:
    """`rapport worker`: the wired machines and handlers, one worker, until SIGINT/SIGTERM.
    Builds its resources itself; it never builds the web app."""
    wire()
    resources = Resources.build(settings)
    worker = Worker(
        resources.database,
        resources.clock,
        concurrency=concurrency,
        resources=resources.for_jobs(),
    )
    try:
        if once:
            return await worker.run_once()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on Windows
                loop.add_signal_handler(signum, stop.set)
        await worker.run_forever(poll_interval, stop)
        return None
    finally:
        await resources.aclose()
