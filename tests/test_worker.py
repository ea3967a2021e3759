"""The worker: timers fire when due, the outbox relay retries, dead-letters, survives crashes and
runs each job once however many relays run; the operator's dead-letter routes."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select, update

from app.main import create_app
from app.models import BrandInvitation, Job, StateTransition, Timer, User
from app.services.workflow import outbox, timers
from app.services.workflow.jobs import JobHandlers, PermanentJobError
from app.services.workflow.state_machine import Actor
from app.settings import Settings
from app.worker.relay import Backoff
from app.worker.runner import Worker
from tests.conftest import BACKEND
from tests.factories import T0, assert_problem, register, relogin
from tests.test_state_machine import INFLUENCER, INVITATIONS, make_invitation, state_of

KIND = "test_invitation"
assert INVITATIONS.kind == KIND


def worker(database, clock, handlers: JobHandlers | None = None, **kwargs) -> Worker:
    return Worker(
        database, clock, handlers=handlers or JobHandlers(), rng=random.Random(7), **kwargs
    )


async def enqueue(database, topic: str, payload: dict | None = None, **kwargs) -> str:
    async with database.sessionmaker() as session, session.begin():
        job = await outbox.enqueue(session, topic, payload or {}, now=T0, **kwargs)
        return job.id


async def get(database, model, id_: str):
    async with database.sessionmaker() as session:
        return await session.get(model, id_)


async def schedule(database, object_id: str, due, action: str = "expire") -> str:
    async with database.sessionmaker() as session, session.begin():
        timer = await timers.schedule(session, KIND, object_id, action, due, now=T0)
        return timer.id


# --- timers ------------------------------------------------------------------------------------


async def test_a_timer_fires_when_due_and_not_before(database, clock):
    invitation_id = await make_invitation(database)
    timer_id = await schedule(database, invitation_id, T0 + timedelta(hours=1))
    w = worker(database, clock)

    clock.advance(timedelta(minutes=59))
    report = await w.run_once()
    assert report.timers.fired == 0 and not report.did_work
    assert await state_of(database, invitation_id) == "pending"

    clock.advance(timedelta(minutes=1))
    report = await w.run_once()
    assert report.timers.fired == 1
    assert await state_of(database, invitation_id) == "revoked"
    timer = await get(database, Timer, timer_id)
    assert (timer.state, timer.outcome, timer.finished_at) == (
        "fired",
        "transitioned",
        T0 + timedelta(hours=1),
    )
    async with database.sessionmaker() as session:
        (trail,) = (await session.scalars(select(StateTransition))).all()
    assert (trail.action, trail.actor_kind, trail.actor_id) == ("expire", "system", timer_id)
    assert (await w.run_once()).timers.fired == 0  # fired once


async def test_a_cancelled_timer_never_fires(database, clock):
    invitation_id = await make_invitation(database)
    timer_id = await schedule(database, invitation_id, T0 + timedelta(hours=1))
    async with database.sessionmaker() as session, session.begin():
        assert await timers.cancel(session, KIND, invitation_id, "expire", now=T0) == 1
    clock.advance(timedelta(days=30))
    report = await worker(database, clock).run_once()
    assert report.timers.fired == report.timers.obsolete == 0
    assert await state_of(database, invitation_id) == "pending"
    assert (await get(database, Timer, timer_id)).state == "cancelled"


async def test_a_timer_whose_object_moved_on_is_obsolete(database, clock):
    invitation_id = await make_invitation(database)
    gone_id = await make_invitation(database, "gone@example.com")
    timer_id = await schedule(database, invitation_id, T0 + timedelta(hours=1))
    gone_timer_id = await schedule(database, gone_id, T0 + timedelta(hours=1))
    async with database.sessionmaker() as session, session.begin():
        # Revoking does not cancel the expiry timer (by declaration) …
        await INVITATIONS.fire(session, invitation_id, "revoke", Actor("brand", "brd_1"), T0)
        await session.delete(await session.get(BrandInvitation, gone_id))
    clock.advance(timedelta(hours=2))
    report = await worker(database, clock).run_once()
    # … so it fires into a state where `expire` is not allowed: obsolete, not an error.
    assert report.timers.obsolete == 2 and report.timers.failed == 0
    timer = await get(database, Timer, timer_id)
    assert (timer.state, timer.outcome) == ("fired", "obsolete")
    assert "revoked" in timer.note
    assert (await get(database, Timer, gone_timer_id)).outcome == "obsolete"
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(StateTransition)) == 1


async def test_timers_refuse_undeclared_actions(database):
    invitation_id = await make_invitation(database)
    async with database.sessionmaker() as session, session.begin():
        for kind, action in [(KIND, "accept"), ("nothing", "expire")]:
            try:
                await timers.schedule(session, kind, invitation_id, action, T0, now=T0)
            except ValueError:
                continue
            raise AssertionError(f"{kind}.{action} was accepted")


async def test_a_timer_that_fails_unexpectedly_is_retried_later(database, clock):
    invitation_id = await make_invitation(database)
    timer_id = await schedule(database, invitation_id, T0)
    # A machine that breaks (here: missing from the worker's registry) is not "obsolete".
    report = await worker(database, clock, machines={}).run_once()
    assert report.timers.failed == 1
    timer = await get(database, Timer, timer_id)
    assert (
        timer.state == "pending" and timer.attempts == 1 and "test_invitation" in timer.last_error
    )
    assert timer.run_after > T0 and timer.due_at == T0
    clock.advance(timedelta(hours=1))
    assert (await worker(database, clock).run_once()).timers.fired == 1


# --- the outbox relay --------------------------------------------------------------------------


async def test_a_job_runs_outside_the_claim_and_commits_with_its_writes(database, clock):
    handlers = JobHandlers()
    seen = []

    @handlers.register("test.hello")
    async def hello(ctx, job):
        seen.append((job.payload, job.attempts, ctx.idempotency_key("x")))
        # A separate short transaction works: no transaction (no SQLite write lock) is held.
        async with ctx.transaction() as s:
            await outbox.enqueue(s, "test.side", {}, now=ctx.now)
        # Writes on ctx.session commit together with the job's success.
        await outbox.enqueue(ctx.session, "test.follow-up", {"after": job.id}, now=ctx.now)

    job_id = await enqueue(database, "test.hello", {"n": 1})
    report = await worker(database, clock, handlers, concurrency=1).run_once()
    assert report.jobs.succeeded == 1
    assert seen == [({"n": 1}, 1, f"rapport-{job_id}-x")]
    job = await get(database, Job, job_id)
    assert (job.state, job.attempts, job.finished_at, job.locked_by) == ("succeeded", 1, T0, None)
    async with database.sessionmaker() as session:
        topics = sorted((await session.scalars(select(Job.topic))).all())
    assert topics == ["test.follow-up", "test.hello", "test.side"]


async def test_enqueue_with_a_key_is_idempotent(database):
    first = await enqueue(database, "test.x", {"a": 1}, idempotency_key="k-1")
    again = await enqueue(database, "test.x", {"a": 2}, idempotency_key="k-1")
    assert first == again
    assert (await get(database, Job, first)).payload == {"a": 1}


async def test_failures_back_off_with_growing_delays_then_succeed(database, clock):
    handlers = JobHandlers()
    calls = []

    @handlers.register("test.flaky")
    async def flaky(ctx, job):
        calls.append(ctx.now)
        if len(calls) < 3:
            raise ConnectionError(f"stripe is down ({len(calls)})")

    job_id = await enqueue(database, "test.flaky")
    w = worker(database, clock, handlers, backoff=Backoff(timedelta(seconds=10)))
    delays = []
    for attempt in (1, 2):
        report = await w.run_once()
        assert report.jobs.retried == 1
        job = await get(database, Job, job_id)
        assert (job.state, job.attempts, job.locked_by) == ("pending", attempt, None)
        assert job.last_error == f"ConnectionError: stripe is down ({attempt})"
        delay = job.run_after - clock.now()
        delays.append(delay)
        # Not before it is due …
        clock.advance(delay - timedelta(milliseconds=1))
        assert not (await w.run_once()).did_work
        # … and then it is.
        clock.advance(timedelta(milliseconds=1))
    assert timedelta(seconds=5) <= delays[0] <= timedelta(seconds=10)
    assert timedelta(seconds=10) <= delays[1] <= timedelta(seconds=20)
    assert delays[1] > delays[0]
    report = await w.run_once()
    assert report.jobs.succeeded == 1
    job = await get(database, Job, job_id)
    assert (job.state, job.attempts) == ("succeeded", 3)
    assert len(calls) == 3


async def test_backoff_is_capped():
    backoff = Backoff(timedelta(seconds=15), timedelta(hours=1))
    rng = random.Random(1)
    assert all(
        timedelta(minutes=30) <= backoff.delay(n, rng) <= timedelta(hours=1) for n in range(9, 40)
    )


async def test_retry_cap_dead_letters_and_the_operator_brings_it_back(client, database, clock):
    handlers = JobHandlers()
    healthy = False

    @handlers.register("test.fragile")
    async def fragile(ctx, job):
        if not healthy:
            raise RuntimeError("boom")

    job_id = await enqueue(database, "test.fragile", {"x": 1}, max_attempts=3)
    w = worker(database, clock, handlers)
    outcomes = []
    for _ in range(3):
        report = await w.run_once()
        outcomes.append((report.jobs.retried, report.jobs.dead))
        clock.advance(timedelta(hours=2))
    assert outcomes == [(1, 0), (1, 0), (0, 1)]
    job = await get(database, Job, job_id)
    assert (job.state, job.attempts, job.last_error) == ("dead", 3, "RuntimeError: boom")

    # The operator's view.
    staff = await register(client)
    async with database.sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == staff.id).values(is_operator=True))
    staff = await relogin(client, staff)
    outsider = await register(client)
    assert_problem(
        await client.get("/v1/operator/jobs?state=dead", headers=outsider.headers),
        403,
        "insufficient-scope",
    )
    listed = (await client.get("/v1/operator/jobs?state=dead", headers=staff.headers)).json()
    assert [j["id"] for j in listed["data"]] == [job_id]
    assert listed["data"][0]["last_error"] == "RuntimeError: boom"
    assert (await client.get("/v1/operator/jobs?state=pending", headers=staff.headers)).json()[
        "data"
    ] == []

    r = await client.post(
        f"/v1/operator/jobs/{job_id}/retry", json={"reason": "fixed"}, headers=staff.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["state"], body["attempts"], body["last_error"]) == (
        "pending",
        0,
        "RuntimeError: boom",
    )
    assert_problem(
        await client.post(f"/v1/operator/jobs/{job_id}/retry", headers=staff.headers),
        409,
        "invalid-transition",
    )
    assert_problem(
        await client.post("/v1/operator/jobs/job_nope/retry", headers=staff.headers),
        404,
        "job-not-found",
    )
    trail = (
        await client.get(
            f"/v1/operator/transitions?kind=job&object_id={job_id}", headers=staff.headers
        )
    ).json()["data"]
    assert [(t["action"], t["actor_kind"], t["actor_id"], t["reason"]) for t in trail] == [
        ("retry", "operator", staff.id, "fixed")
    ]

    healthy = True
    assert (await w.run_once()).jobs.succeeded == 1
    r = await client.get(f"/v1/operator/jobs/{job_id}", headers=staff.headers)
    assert (r.json()["state"], r.json()["attempts"]) == ("succeeded", 1)


async def test_permanent_errors_and_unknown_topics_go_dead_at_once(database, clock):
    handlers = JobHandlers()

    @handlers.register("test.refused")
    async def refused(ctx, job):
        raise PermanentJobError("card declined")

    refused_id = await enqueue(database, "test.refused")
    orphan_id = await enqueue(database, "test.nobody-handles-this")
    report = await worker(database, clock, handlers).run_once()
    assert report.jobs.dead == 2
    assert (await get(database, Job, refused_id)).last_error == "PermanentJobError: card declined"
    assert "no handler" in (await get(database, Job, orphan_id)).last_error


async def test_a_crashed_claim_is_rerun_after_its_lease_and_the_late_worker_is_fenced(
    database, clock
):
    handlers = JobHandlers()
    runs = Counter()

    @handlers.register("test.pay")
    async def pay(ctx, job):
        runs[ctx.worker_id] += 1
        # The same key on every attempt: the outside world dedupes the repeat.
        assert ctx.idempotency_key() == f"rapport-{job.id}"
        await outbox.enqueue(ctx.session, "test.paid", {"by": ctx.worker_id}, now=ctx.now)

    job_id = await enqueue(database, "test.pay")
    crashed = worker(database, clock, handlers, worker_id="w-crashed", lease=timedelta(minutes=5))
    survivor = worker(database, clock, handlers, worker_id="w-survivor")
    (claimed,) = await crashed.relay.claim(clock.now(), 10)  # … and then the process dies
    assert (await get(database, Job, job_id)).locked_by == "w-crashed"

    clock.advance(timedelta(minutes=4))
    assert not (await survivor.run_once()).did_work  # the lease still holds
    clock.advance(timedelta(minutes=1, seconds=1))
    assert (await survivor.run_once()).jobs.succeeded == 1
    job = await get(database, Job, job_id)
    assert (job.state, job.attempts) == ("succeeded", 2)

    # The crashed worker wakes up and finishes its copy: its outcome and its writes are dropped.
    assert await crashed.relay.execute(claimed) == "lost"
    assert runs == {"w-survivor": 1, "w-crashed": 1}
    async with database.sessionmaker() as session:
        paid = (await session.scalars(select(Job).where(Job.topic == "test.paid"))).all()
    assert [p.payload["by"] for p in paid] == ["w-survivor"]


async def test_a_lost_final_attempt_is_dead_lettered(database, clock):
    job_id = await enqueue(database, "test.hang", max_attempts=1)
    w = worker(database, clock, lease=timedelta(minutes=1))
    assert len(await w.relay.claim(clock.now(), 10)) == 1
    clock.advance(timedelta(minutes=2))
    assert await w.relay.claim(clock.now(), 10) == []
    job = await get(database, Job, job_id)
    assert (job.state, job.attempts, job.locked_by) == ("dead", 1, None)
    assert "lease expired" in job.last_error


async def test_two_relays_at_once_run_every_job_exactly_once(database, clock):
    handlers = JobHandlers()
    runs: Counter[str] = Counter()
    by_worker: Counter[str] = Counter()

    @handlers.register("test.count")
    async def count(ctx, job):
        runs[job.id] += 1
        by_worker[ctx.worker_id] += 1
        await asyncio.sleep(0)  # let the other relay in

    n = 200
    async with database.sessionmaker() as session, session.begin():
        ids = [(await outbox.enqueue(session, "test.count", {"i": i}, now=T0)).id for i in range(n)]
    a = worker(database, clock, handlers, worker_id="w-a", concurrency=4)
    b = worker(database, clock, handlers, worker_id="w-b", concurrency=4)
    ra, rb = await asyncio.gather(a.run_once(), b.run_once())
    assert ra.jobs.succeeded + rb.jobs.succeeded == n
    assert ra.jobs.lost == rb.jobs.lost == 0
    assert runs == Counter(dict.fromkeys(ids, 1))
    assert set(by_worker) <= {"w-a", "w-b"}
    if BACKEND == "postgresql":  # SKIP LOCKED: the two relays shared the work
        assert by_worker["w-a"] > 0 and by_worker["w-b"] > 0
    async with database.sessionmaker() as session:
        states = Counter((await session.scalars(select(Job.state))).all())
        attempts = set((await session.scalars(select(Job.attempts))).all())
    assert states == {"succeeded": n} and attempts == {1}


async def test_run_forever_works_until_stopped(database, clock):
    handlers = JobHandlers()
    done = asyncio.Event()

    @handlers.register("test.ping")
    async def ping(ctx, job):
        done.set()

    stop = asyncio.Event()
    task = asyncio.create_task(worker(database, clock, handlers).run_forever(0.01, stop))
    await asyncio.sleep(0.03)  # idle polls
    await enqueue(database, "test.ping")
    await asyncio.wait_for(done.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(task, timeout=5)


async def test_the_embedded_worker_runs_in_the_app_lifespan(make_settings_for, database, clock):
    invitation_id = await make_invitation(database)
    await schedule(database, invitation_id, T0)
    embedded = create_app(
        make_settings_for(embedded_worker=True, worker_poll_seconds=0.01), clock=clock
    )
    async with embedded.router.lifespan_context(embedded):
        for _ in range(500):
            if await state_of(database, invitation_id) == "revoked":
                break
            await asyncio.sleep(0.01)
    assert await state_of(database, invitation_id) == "revoked"


def test_the_embedded_worker_defaults_to_sqlite_only():
    def settings(url: str, **kwargs) -> Settings:
        return Settings(database_url=url, **kwargs)

    assert settings("sqlite+aiosqlite:///x.db").runs_embedded_worker
    assert not settings("postgresql+asyncpg://db/rapport").runs_embedded_worker
    assert settings("postgresql+asyncpg://db/rapport", embedded_worker=True).runs_embedded_worker
    assert not settings("sqlite+aiosqlite:///x.db", embedded_worker=False).runs_embedded_worker


async def test_accept_then_expiry_timer_is_cancelled_and_the_job_relayed(database, clock):
    handlers = JobHandlers()
    delivered = []

    @handlers.register("test.invitation.accepted")
    async def notify(ctx, job):
        delivered.append(job.payload["email"])

    invitation_id = await make_invitation(database)
    await schedule(database, invitation_id, T0 + timedelta(days=7))
    async with database.sessionmaker() as session, session.begin():
        await INVITATIONS.fire(session, invitation_id, "accept", INFLUENCER, T0)
    clock.advance(timedelta(days=8))
    report = await worker(database, clock, handlers).run_once()
    assert (report.timers.fired, report.timers.obsolete, report.jobs.succeeded) == (0, 0, 1)
    assert delivered == ["mara@example.com"]
    assert await state_of(database, invitation_id) == "accepted"
