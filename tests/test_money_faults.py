"""Faults that must lose nothing and pay nothing twice (docs/payments.md, "Faults").

Each test ends the same way: exactly one Stripe transfer per milestone (`list_transfers`), the
ledger's invariants hold (`check_invariants() == []`), and reconciliation finds no difference.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.clock import Clock
from app.integrations.stripe import StripeGateway
from app.models import Job, JobState, JournalEntry, StripeEvent, Transfer
from app.models.ledger import EntryKind
from app.services.money import ledger
from app.services.workflow.outbox import enqueue
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.conftest import BACKEND
from tests.money_support import (
    Forwarder,
    assert_sound,
    funded_contract,
    make_releasable,
    money_worker,
    settle,
    transfers_per_milestone,
)
from tests.stripe_support import stripe_settings


async def _one_transfer_each(app: FastAPI, contract_id: str, *milestones: str) -> None:
    assert await transfers_per_milestone(app, contract_id) == {m: 1 for m in milestones}
    async with app.state.resources.database.sessionmaker() as session:
        rows = await session.scalar(select(func.count()).select_from(Transfer))
        entries = await session.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.kind == EntryKind.transfer)
        )
    assert rows == entries == len(milestones)
    await assert_sound(app)


async def _transfer_jobs(app: FastAPI) -> list[Job]:
    async with app.state.resources.database.sessionmaker() as session:
        return list(
            await session.scalars(select(Job).where(Job.topic == "money.transfer_milestone"))
        )


async def test_the_sandbox_fails_after_applying_the_transfer(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, _ = funded.milestone_ids
    # Stripe made the transfer and the answer was lost on the way: the SDK retries with the
    # same key and gets the transfer back (a replay), so the job records it once. (A 500 from
    # Stripe itself is replayed instead: tests/test_money_stored_errors.py.)
    stripe_sandbox.inject_fault("/v1/transfers", "answer_lost_after_apply", count=1)
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    await _one_transfer_each(stripe_app, funded.contract_id, first)
    assert stripe_sandbox.faults() == []


async def test_the_sandbox_times_out_after_applying_the_transfer(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, _ = funded.milestone_ids
    impatient = StripeGateway(
        stripe_settings(
            stripe_app.state.resources.settings, stripe_sandbox.url, stripe_timeout_seconds=0.5
        )
    )
    try:
        stripe_sandbox.inject_fault("/v1/transfers", "timeout_after_apply", count=None, delay_s=1.5)
        await make_releasable(stripe_app, clock, first)
        await money_worker(stripe_app, clock, gateway=impatient).run_once()
        stripe_sandbox.clear_faults()
        # The job failed (timeouts after the SDK's retries) or succeeded on a replay; either
        # way, run everything that is due until it is quiet.
        for _ in range(3):
            clock.advance(timedelta(hours=1))
            await settle(money_worker(stripe_app, clock, gateway=impatient), forwarder)
    finally:
        await impatient.aclose()
    await _one_transfer_each(stripe_app, funded.contract_id, first)


async def test_the_worker_dies_between_claiming_and_calling_stripe(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, _ = funded.milestone_ids
    await make_releasable(stripe_app, clock, first)
    relay = worker.relay
    (release,) = await relay.claim(clock.now(), 10)
    assert await relay.execute(release) == "succeeded"  # releases, enqueues the transfer
    (claimed,) = await relay.claim(clock.now(), 10)
    assert claimed.topic == "money.transfer_milestone"
    # ... and the worker dies: no call, no record. Another worker takes over after the lease.
    assert await transfers_per_milestone(stripe_app, funded.contract_id) == {}
    clock.advance(timedelta(minutes=6))
    other = money_worker(stripe_app, clock)
    await settle(other, forwarder)
    (job,) = await _transfer_jobs(stripe_app)
    assert job.state == JobState.succeeded and job.attempts == 2
    await _one_transfer_each(stripe_app, funded.contract_id, first)


class DiesAfterTheCall(StripeGateway):
    """A worker that dies after Stripe answered, before it recorded anything."""

    def __init__(self, settings: Any, *, times: int = 1) -> None:
        super().__init__(settings)
        self.times = times

    async def create_transfer(self, **kwargs: Any) -> Any:
        transfer = await super().create_transfer(**kwargs)
        if self.times > 0:
            self.times -= 1
            raise RuntimeError("the worker died after the call")
        return transfer


async def test_the_worker_dies_between_the_call_and_recording_it(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, second = funded.milestone_ids
    dying = DiesAfterTheCall(stripe_app.state.resources.settings, times=2)
    try:
        await make_releasable(stripe_app, clock, first, second)
        await money_worker(stripe_app, clock, gateway=dying).run_once()
        assert await transfers_per_milestone(stripe_app, funded.contract_id) == {
            first: 1,
            second: 1,
        }
        async with stripe_app.state.resources.database.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(Transfer)) == 0
        # The retries come after Stripe forgot the keys (the sandbox forgets them too, after
        # 24 h): the job finds each transfer by its group and metadata instead of posting.
        stripe_sandbox.set_clock(advance=25 * 3600)
        clock.advance(timedelta(hours=25))
        await settle(money_worker(stripe_app, clock, gateway=dying), forwarder)
    finally:
        await dying.aclose()
    await _one_transfer_each(stripe_app, funded.contract_id, first, second)


async def test_the_same_webhook_ten_times_some_at_once(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, _ = funded.milestone_ids
    await make_releasable(stripe_app, clock, first)
    await worker.run_once()
    events = [e for e in stripe_sandbox.events() if e["id"] not in forwarder.seen]
    assert {e["type"] for e in events} >= {"transfer.created"}
    for event in events:
        forwarder.seen.add(event["id"])
        await asyncio.gather(*(forwarder.post(event) for _ in range(5)))
        for _ in range(5):
            await forwarder.post(event)
    # And the funding success again, ten times, long after it was processed.
    succeeded = next(e for e in stripe_sandbox.events() if e["type"] == "payment_intent.succeeded")
    await asyncio.gather(*(forwarder.post(succeeded) for _ in range(10)))
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        stored = {e.stripe_event_id: e for e in await session.scalars(select(StripeEvent))}
        fundings = await session.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.kind == EntryKind.funding)
        )
    assert all(stored[e["id"]].deliveries == 10 for e in events)
    assert stored[succeeded["id"]].deliveries >= 11
    assert fundings == 1
    await _one_transfer_each(stripe_app, funded.contract_id, first)


async def test_twenty_concurrent_releases_of_one_milestone(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, _ = funded.milestone_ids
    await make_releasable(stripe_app, clock, first)

    async def enqueue_one(n: int) -> None:
        async with stripe_app.state.resources.database.sessionmaker() as session, session.begin():
            await enqueue(
                session,
                "money.release_milestone",
                {"milestone_id": first},
                now=clock.now(),
                idempotency_key=f"again:{first}:{n}",
            )

    # 20 enqueues at once (19 besides delivery's own), then 20 workers' worth of concurrency.
    await asyncio.gather(*(enqueue_one(n) for n in range(19)))
    concurrency = 20 if BACKEND == "postgresql" else 5
    crowd = money_worker(stripe_app, clock, concurrency=concurrency)
    await asyncio.gather(crowd.run_once(), money_worker(stripe_app, clock).run_once())
    await settle(crowd, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        releases = await session.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.kind == EntryKind.release)
        )
        states = {
            j.state for j in await session.scalars(select(Job).where(Job.topic.like("money.%")))
        }
        money = await ledger.contract_balances(session, funded.contract_id)
    assert releases == 1 and money.released == 60_000
    assert states == {JobState.succeeded}
    await _one_transfer_each(stripe_app, funded.contract_id, first)
