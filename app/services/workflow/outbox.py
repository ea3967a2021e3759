"""The outbox: jobs written in the caller's transaction, relayed later by app/worker/relay.py.

`enqueue` never talks to the outside world. It adds a row to `jobs` inside the transaction that
makes the change the job is about, so the job exists if and only if the change committed. The
relay then runs it at least once; handlers make "at least once" harmless by passing an
idempotency key derived from the job to whatever they call.

Operators see dead-lettered jobs and send them back to the queue (`retry`, audited as a
transition of the `job` state machine).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.ids import new_id
from app.models.workflow import Job, JobState
from app.pagination import PageParams, SortKey, paginate
from app.services.workflow.state_machine import Actor, StateMachine, Transition, TransitionContext

DEFAULT_MAX_ATTEMPTS = 10


class JobNotFound(NotFound):
    slug, title = "job-not-found", "No such job"


async def enqueue(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    idempotency_key: str | None = None,
    run_after: datetime | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Add a job to the outbox in the caller's transaction; it is due at `run_after` (or now).

    With an `idempotency_key`, enqueuing again returns the job already written under that key
    (its payload is not changed): callers may enqueue from code that itself runs more than once.
    """
    values: dict[str, Any] = {
        "id": new_id("job"),
        "topic": topic,
        "payload": payload,
        "idempotency_key": idempotency_key,
        "state": JobState.pending,
        "attempts": 0,
        "max_attempts": max_attempts or DEFAULT_MAX_ATTEMPTS,
        "run_after": run_after or now,
        "created_at": now,
    }
    if idempotency_key is None:
        job = Job(**values)
        session.add(job)
        await session.flush()
        return job
    # INSERT … ON CONFLICT DO NOTHING: a duplicate neither fails nor aborts the caller's
    # transaction (a caught IntegrityError would, on PostgreSQL).
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(Job).values(values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    written = await session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
    assert written is not None
    return written


# --- the job's own lifecycle, as far as people act on it ------------------------------------
# The relay's moves (claim, succeed, retry after failure, dead-letter) are fenced by the lease
# (`locked_by`, `attempts`) as well as the state, which is more than a transition table says;
# they are compare-and-set updates in app/worker/relay.py. What operators do goes through the
# engine, so it is checked and audited like every other transition.


def _reset_for_retry(ctx: TransitionContext[Job]) -> None:
    job = ctx.obj
    job.attempts = 0
    job.run_after = ctx.now
    job.locked_by = None
    job.locked_until = None
    job.finished_at = None


JOBS = StateMachine(
    "job",
    Job,
    [
        Transition(
            "retry",
            {JobState.dead},
            JobState.pending,
            actors={"operator"},
            effects=[_reset_for_retry],
            description="Send a dead-lettered job back to the queue with a fresh attempt budget",
        ),
    ],
)


async def get_job(session: AsyncSession, job_id: str) -> Job:
    job = await session.get(Job, job_id)
    if job is None:
        raise JobNotFound(f"No job {job_id}")
    return job


async def list_jobs(
    session: AsyncSession, state: JobState | None, topic: str | None, page: PageParams
) -> tuple[list[Job], str | None]:
    stmt = select(Job)
    if state is not None:
        stmt = stmt.where(Job.state == state)
    if topic is not None:
        stmt = stmt.where(Job.topic == topic)
    return await paginate(session, stmt, [SortKey(Job.id, descending=True)], page)


async def retry_job(
    session: AsyncSession, job_id: str, actor: Actor, now: datetime, reason: str | None = None
) -> Job:
    """Send a dead job back to the queue (due now, attempts reset); 409 unless it is dead."""
    job = await get_job(session, job_id)
    return await JOBS.fire(session, job, "retry", actor, now, reason=reason)
