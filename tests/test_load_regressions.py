"""Defects `make load` (benchmarks/load/run.py) found, each pinned by the smallest test that
failed before its fix. The concurrency ones matter on PostgreSQL (`RAPPORT_TEST_BACKEND=
postgresql`); on SQLite `BEGIN IMMEDIATE` serialises the transactions and they pass trivially.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

from app.main import create_app
from app.models.workflow import Job
from app.worker.relay import JobHandlers
from tests.conftest import BACKEND, _admin, make_settings
from tests.factories import (
    PASSWORD,
    assert_problem,
    create_bid,
    create_brand,
    create_brief,
    create_contract,
    make_offer,
    open_deal,
    register,
)
from tests.test_worker import enqueue, get, worker

CALLERS = 8


async def test_concurrent_acceptances_of_one_influencer_never_deadlock(client, make_client):
    """One creator accepting offers of several briefs at once: every acceptance makes its
    contract. Before the fix each acceptance took a key-share lock on the influencer's row
    (the bid's update checks its foreign key) and then asked for `FOR UPDATE` on the same row,
    so two of them at once deadlocked and PostgreSQL killed one: a 500."""
    owner = await register(client)
    brand = await create_brand(client, owner)
    influencer = await register(client)
    response = await client.post(
        "/v1/influencers/me",
        json={"display_name": "Mara Lind", "country": "SE", "languages": ["sv", "en"]},
        headers=influencer.headers,
    )
    assert response.status_code == 201, response.text
    clients = [make_client() for _ in range(CALLERS)]
    try:
        for _ in range(3):  # a deadlock needs the transactions to overlap just so: a few rounds
            offers = []
            for _ in range(CALLERS):
                brief = await create_brief(client, owner, brand["id"], state="open")
                bid = await create_bid(client, influencer, brief["id"])
                offers.append(await make_offer(client, owner, bid["id"]))
            responses = await asyncio.gather(
                *(
                    c.post(f"/v1/offers/{o['id']}/accept", headers=influencer.headers)
                    for c, o in zip(clients, offers, strict=True)
                )
            )
            statuses = Counter(r.status_code for r in responses)
            assert statuses == {200: CALLERS}, [r.text for r in responses if r.status_code != 200]
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


# --- the relay's leases ----------------------------------------------------------------------


async def test_a_dead_workers_jobs_are_taken_over_within_30_seconds(database, clock):
    """A worker killed after claiming a job: another worker runs it 30 s later. Before the fix
    the claim held for its 5-minute lease, whatever happened to its worker."""
    handlers = JobHandlers()

    @handlers.register("test.pay")
    async def pay(ctx, job):
        pass

    job_id = await enqueue(database, "test.pay")
    crashed = worker(database, clock, handlers, worker_id="w-crashed")
    survivor = worker(database, clock, handlers, worker_id="w-survivor")
    assert len(await crashed.relay.claim(clock.now(), 10)) == 1  # … then kill -9
    clock.advance(timedelta(seconds=30))
    assert (await survivor.run_once()).jobs.succeeded == 1
    job = await get(database, Job, job_id)
    assert (job.state, job.attempts) == ("succeeded", 2)


async def test_a_live_workers_slow_job_keeps_its_lease(database, clock):
    """The short lease is renewed by the running worker's heartbeat: while its job is still
    running past the claim's lease, no other worker takes it."""
    handlers = JobHandlers()
    started, finish = asyncio.Event(), asyncio.Event()
    runs: Counter[str] = Counter()

    @handlers.register("test.slow")
    async def slow(ctx, job):
        runs[ctx.worker_id] += 1
        if ctx.worker_id == "w-slow":
            started.set()
            await finish.wait()

    job_id = await enqueue(database, "test.slow")
    busy = worker(database, clock, handlers, worker_id="w-slow")
    busy.relay.heartbeat = timedelta(milliseconds=20)
    running = asyncio.create_task(busy.run_once())
    await asyncio.wait_for(started.wait(), 10)
    clock.advance(timedelta(minutes=10))  # far past the claim's lease, whatever its length
    for _ in range(500):  # a heartbeat on the moved clock (every 20 ms; 10 s at most)
        if (await get(database, Job, job_id)).locked_until > clock.now():
            break
        await asyncio.sleep(0.02)
    other = worker(database, clock, handlers, worker_id="w-other")
    assert (await other.run_once()).jobs.total == 0
    finish.set()
    assert (await asyncio.wait_for(running, 10)).jobs.succeeded == 1
    assert runs == {"w-slow": 1}


# --- a database that refuses connections --------------------------------------------------------


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's connection limits")
async def test_a_database_that_refuses_connections_is_a_503_to_retry(database_url, make_client):
    """PostgreSQL refusing a connection (too many clients: SQLSTATE 53300, what `make load`
    met when the shared server was full) is load, not a bug: nothing was done, so it is the
    503 `database-busy` with `Retry-After`, not a 500. Made real here with a role whose
    connection limit is 0 (the same SQLSTATE as a full server)."""
    role = f"rapport_full_{secrets.token_hex(4)}"
    await _admin(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
    try:
        url = make_url(database_url).set(username=role).render_as_string(hide_password=False)
        app = create_app(make_settings(url))
        try:
            async with make_client(app) as refused:
                response = await refused.post(
                    "/v1/auth/register",
                    json={"email": "full@example.com", "password": PASSWORD, "full_name": "F"},
                )
        finally:
            await app.state.resources.database.dispose()
    finally:
        await _admin(f'DROP ROLE IF EXISTS "{role}"')
    assert_problem(response, 503, "database-busy")
    assert response.headers["retry-after"] == "1"


# --- reads of a history while contracts finish -------------------------------------------------


@pytest.mark.skipif(BACKEND != "postgresql", reason="SQLite holds the write lock: no race")
async def test_a_contract_finishing_during_a_history_read_is_no_500(client, database, clock):
    """`/matches` read a creator's history in several statements: the finished contracts, then
    their deliverables, proofs, drafts and ratings by a subquery evaluated again each time. A
    contract that finished in between (make load: 1 in 100 `/matches` at 32 users) came back
    from the later statements but not the first: a KeyError, a 500. Here the other contract
    finishes right after the first statement, from another connection."""
    from sqlalchemy import event, text, update

    from app.models import Contract
    from app.services.relationships.performance import histories

    first, contract = await create_contract(client)
    _, later = await create_contract(
        client, await open_deal(client, influencer=first.influencer, listing=first.listing)
    )
    async with database.sessionmaker() as session, session.begin():
        await session.execute(
            update(Contract)
            .where(Contract.id == contract["id"])
            .values(state="completed", ended_at=clock.now())
        )

    engine = database.engine.sync_engine
    finished: list[str] = []

    def finish_the_other(conn, cursor, statement, parameters, context, executemany):
        if finished or "FROM contracts" not in statement:
            return
        finished.append(later["id"])
        # Another connection (the pool's), committed at once: what a concurrent request does.
        with engine.connect() as other:
            other.execute(
                text("UPDATE contracts SET state = 'completed', ended_at = now() WHERE id = :id"),
                {"id": later["id"]},
            )
            other.commit()

    event.listen(engine, "after_cursor_execute", finish_the_other)
    try:
        async with database.sessionmaker() as session:
            found = await histories(session, clock.now(), influencer_ids=[first.listing["id"]])
    finally:
        event.remove(engine, "after_cursor_execute", finish_the_other)
    assert finished == [later["id"]]
    assert sum(h.contracts for h in found[first.listing["id"]].values()) == 1
