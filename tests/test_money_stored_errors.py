"""A 500 from Stripe itself is stored under the idempotency key and replayed for 24 hours (the
sandbox does it as Stripe does: tests/integrations/test_stripe_sandbox_idempotency_errors.py).
Retrying with the same key can then never learn the outcome: Rapport must find what it made."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.clock import Clock
from app.models import Job, JobState, Transfer
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.money_support import (
    Forwarder,
    assert_sound,
    funded_contract,
    make_releasable,
    money_worker,
    settle,
    transfers_per_milestone,
)


async def test_a_transfer_stripe_made_before_answering_500_is_found_not_made_twice(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, _ = funded.milestone_ids
    stripe_sandbox.inject_fault("/v1/transfers", "error_after_apply", count=1)
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    # Stripe made the transfer; every retry with the key (the SDK's) got the stored 500 back.
    assert await transfers_per_milestone(stripe_app, funded.contract_id) == {first: 1}
    async with stripe_app.state.resources.database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Transfer)) == 0
    # The job's next attempt (the key would still replay the 500 for a day) looks the transfer
    # up by its group and metadata and records it.
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        await settle(worker, forwarder)
    assert await transfers_per_milestone(stripe_app, funded.contract_id) == {first: 1}
    async with stripe_app.state.resources.database.sessionmaker() as session:
        rows = await session.scalar(select(func.count()).select_from(Transfer))
        jobs = list(
            await session.scalars(select(Job).where(Job.topic == "money.transfer_milestone"))
        )
    assert rows == 1
    assert [j.state for j in jobs] == [JobState.succeeded] and jobs[0].attempts >= 2
    await assert_sound(stripe_app)
