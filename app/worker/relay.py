"""The outbox relay: claim due jobs, run their handlers, record the outcome.

Handlers are plain functions, listed by topic in app/services/wiring.py (`wire()` installs them
in `JOB_HANDLERS`, app/services/workflow/jobs.py, with the types they see):

    async def create_transfer(ctx: JobContext, job: ClaimedJob) -> None:
        async with ctx.transaction() as s:           # a short read, committed at once
            milestone = await s.get(Milestone, job.payload["milestone_id"])
        transfer = await stripe.transfers.create_async(..., options={
            "idempotency_key": ctx.idempotency_key("transfer")})   # outside any transaction
        ctx.session.add(TransferRecord(...))     # commits with the job's success, or not at all

One job, three short transactions — never a transaction open across a call to the outside world:

1. **claim** (one transaction): pick due jobs — `pending` with `run_after <= now`, or `running`
   with an expired lease — with `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL (workers skip
   each other's rows instead of queueing), and take them with a compare-and-set
   `UPDATE jobs SET state='running', locked_by=:me, locked_until=:now+lease,
   attempts=attempts+1 WHERE id IN (…) AND (<still due>)` — on SQLite, where `FOR UPDATE` does
   not exist, `BEGIN IMMEDIATE` serialises claimers and the WHERE clause keeps the claim honest.
2. **run** the handler, outside the claim's transaction. `ctx.session` begins lazily on first
   use, so a handler that calls the outside world first and writes after holds no transaction
   (and on SQLite no write lock) during the call. `ctx.transaction()` gives separate short
   transactions for reads before the call.
3. **record** the outcome, fenced by the lease: `UPDATE … WHERE id=:id AND state='running' AND
   locked_by=:me AND attempts=:n`. Success commits in `ctx.session`, together with whatever the
   handler wrote there; a worker that lost its lease (it was too slow, another worker re-ran the
   job) commits nothing. A failure is recorded in a fresh transaction: back to `pending` with
   exponential backoff and jitter, or `dead` (the dead letter) once `max_attempts` is spent or
   the handler raised `PermanentJobError`.

Crash windows:
- dies after the claim, before or during the call: the job stays `running` until its lease
  (`locked_until`) expires; then any worker re-claims it (the attempt counted). A job whose
  final attempt's lease expires goes `dead` ("lease expired on the final attempt"). The lease
  is short (`LEASE`, 15 s) because a live worker renews it: while it runs jobs, a heartbeat
  pushes `locked_until` of every job it holds to now + lease every `lease / 3`. So a dead
  worker's jobs are taken over about 15 s after its death, and a slow job (a Stripe call near
  its 30 s timeout) is never taken from a live worker.
- dies after the outside call succeeded but before recording it: the lease expires and the job
  runs again — with the same idempotency key (`ctx.idempotency_key(step)`, derived from the job
  id), so Stripe (or any receiver that honours keys) returns the first result instead of acting
  twice. This is why every outside call a handler makes must carry that key.
- dies after recording: nothing to do; the outcome is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from app.clock import Clock
from app.db import Database, rowcount
from app.models.workflow import Job, JobState
from app.services.workflow.jobs import (
    ClaimedJob,
    JobContext,
    JobHandlers,
    JobResources,
    PermanentJobError,
)

logger = logging.getLogger("rapport.worker")

MAX_ERROR_LENGTH = 2000
# How long a claim holds without a heartbeat: what a dead worker's jobs wait before another
# worker takes them (make load measures it). Was 5 minutes, with no heartbeat.
LEASE = timedelta(seconds=15)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits between c/2 and c, where
    c = min(cap, base · 2^(n-1)) — spread out, yet never shorter than the previous ceiling/2,
    so waits grow from one attempt to the next."""

    base: timedelta = timedelta(seconds=15)
    cap: timedelta = timedelta(hours=1)

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        factor: int = 2 ** max(attempt - 1, 0)
        ceiling = min(self.cap, self.base * factor)
        return ceiling / 2 + (ceiling / 2) * rng.random()


@dataclass
class RelayCounts:
    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0  # the lease was lost before the outcome could be recorded

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def total(self) -> int:
        return self.succeeded + self.retried + self.dead + self.lost


def _due(now: datetime) -> Any:
    return or_(
        and_(Job.state == JobState.pending, Job.run_after <= now),
        and_(Job.state == JobState.running, Job.locked_until < now),
    )


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_LENGTH]


@dataclass
class Relay:
    database: Database
    clock: Clock
    handlers: JobHandlers
    worker_id: str
    lease: timedelta = LEASE
    backoff: Backoff = field(default_factory=Backoff)
    rng: random.Random = field(default_factory=random.Random)
    resources: JobResources = field(default_factory=JobResources)
    # How often the leases of running jobs are renewed; None: a third of the lease.
    heartbeat: timedelta | None = None

    async def renew_leases(self) -> int:
        """Pushes the lease of every job this worker is running to now + lease (never back);
        returns how many. Jobs another worker took over are not this worker's any more."""
        until = self.clock.now() + self.lease
        async with self.database.sessionmaker() as session, session.begin():
            result = await session.execute(
                update(Job)
                .where(
                    Job.state == JobState.running,
                    Job.locked_by == self.worker_id,
                    Job.locked_until < until,
                )
                .values(locked_until=until)
                .execution_options(synchronize_session=False)
            )
        return rowcount(result)

    @asynccontextmanager
    async def _heartbeat(self) -> AsyncIterator[None]:
        """Renews this worker's leases in the background while the block runs its jobs."""
        interval = (self.heartbeat or self.lease / 3).total_seconds()

        async def beat() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.renew_leases()
                except Exception:  # a database blip: the next beat tries again
                    logger.warning("lease renewal failed", exc_info=True)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def claim(self, now: datetime, limit: int) -> list[ClaimedJob]:
        """Take up to `limit` due jobs under a lease (one short transaction)."""
        async with self.database.sessionmaker() as session, session.begin():
            ids = list(
                await session.scalars(
                    select(Job.id)
                    .where(_due(now))
                    .order_by(Job.run_after, Job.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            rows = (
                await session.execute(
                    update(Job)
                    .where(Job.id.in_(ids), _due(now))
                    .values(
                        state=JobState.running,
                        locked_by=self.worker_id,
                        locked_until=now + self.lease,
                        attempts=Job.attempts + 1,
                    )
                    .returning(
                        Job.id,
                        Job.topic,
                        Job.payload,
                        Job.attempts,
                        Job.max_attempts,
                        Job.idempotency_key,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).all()
            claimed: list[ClaimedJob] = []
            exhausted: list[ClaimedJob] = []
            for job_id, topic, payload, attempts, max_attempts, key in rows:
                job = ClaimedJob(
                    job_id, topic, payload, attempts, max_attempts, key, locked_by=self.worker_id
                )
                # Re-claimed after its final attempt's lease expired: that attempt was the last.
                (exhausted if job.attempts > job.max_attempts else claimed).append(job)
            if exhausted:
                await session.execute(
                    update(Job)
                    .where(Job.id.in_([j.id for j in exhausted]))
                    .values(
                        state=JobState.dead,
                        attempts=Job.attempts - 1,
                        locked_by=None,
                        locked_until=None,
                        finished_at=now,
                        last_error="lease expired on the final attempt (the worker died or hung)",
                    )
                    .execution_options(synchronize_session=False)
                )
                for job in exhausted:
                    logger.error("job dead after lost final attempt", extra={"job_id": job.id})
            return sorted(claimed, key=lambda j: j.id)

    async def execute(self, job: ClaimedJob, now: datetime | None = None) -> str:
        """Run one claimed job and record the outcome: succeeded, retried, dead or lost."""
        handler = self.handlers.get(job.topic)
        async with self.database.sessionmaker() as session:
            ctx = JobContext(
                job=job,
                session=session,
                database=self.database,
                clock=self.clock,
                now=now or self.clock.now(),
                worker_id=self.worker_id,
                resources=self.resources,
            )
            try:
                if handler is None:
                    raise PermanentJobError(f"no handler is registered for topic {job.topic!r}")
                await handler(ctx, job)
                finished = now or self.clock.now()
                result = await session.execute(
                    self._fenced(job)
                    .values(
                        state=JobState.succeeded,
                        locked_by=None,
                        locked_until=None,
                        finished_at=finished,
                    )
                    .execution_options(synchronize_session=False)
                )
                if rowcount(result) != 1:
                    await session.rollback()
                    logger.warning("job lease lost; outcome discarded", extra={"job_id": job.id})
                    return "lost"
                await session.commit()
                return "succeeded"
            except asyncio.CancelledError:
                await session.rollback()
                raise
            except Exception as exc:
                await session.rollback()
                return await self._record_failure(job, exc, now or self.clock.now())

    def _fenced(self, job: ClaimedJob) -> Any:
        return update(Job).where(
            Job.id == job.id,
            Job.state == JobState.running,
            Job.locked_by == job.locked_by,
            Job.attempts == job.attempts,
        )

    async def _record_failure(self, job: ClaimedJob, exc: Exception, now: datetime) -> str:
        permanent = isinstance(exc, PermanentJobError)
        if permanent or job.attempts >= job.max_attempts:
            outcome, values = (
                "dead",
                {"state": JobState.dead, "finished_at": now},
            )
        else:
            outcome, values = (
                "retried",
                {
                    "state": JobState.pending,
                    "run_after": now + self.backoff.delay(job.attempts, self.rng),
                },
            )
        async with self.database.sessionmaker() as session, session.begin():
            result = await session.execute(
                self._fenced(job)
                .values(locked_by=None, locked_until=None, last_error=_describe(exc), **values)
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) != 1:
                logger.warning("job lease lost; failure not recorded", extra={"job_id": job.id})
                return "lost"
        log = logger.error if outcome == "dead" else logger.warning
        log(
            "job %s (attempt %d of %d): %s",
            outcome,
            job.attempts,
            job.max_attempts,
            _describe(exc),
            extra={"job_id": job.id, "topic": job.topic},
            exc_info=None if permanent else exc,
        )
        return outcome

    async def run_due(
        self, now: datetime | None = None, *, concurrency: int = 1, limit: int = 1000
    ) -> RelayCounts:
        """Claim and run due jobs, `concurrency` at a time, until none is due (or `limit`)."""
        counts = RelayCounts()
        while counts.total < limit:
            at = now or self.clock.now()
            batch = await self.claim(at, min(concurrency, limit - counts.total))
            if not batch:
                break
            async with self._heartbeat():
                if len(batch) == 1:
                    outcomes = [await self.execute(batch[0], now)]
                else:
                    outcomes = await asyncio.gather(*(self.execute(job, now) for job in batch))
            for outcome in outcomes:
                counts.add(outcome)
        return counts
