"""A payout waits for available funds (issue 11, item 8, the app's side): in `per_transfer`
mode, a transfer's funds still pending at Stripe (the charge's availability delay) make the
payout job wait until Stripe's `available_on`, and a refusal with `balance_insufficient` waits
and retries with backoff — never a dead letter. Real SDK over HTTP to the sandbox with its
availability delay on; both clocks moved together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.clock import Clock
from app.models import Job, Payout, Transfer
from app.services.workflow.jobs import PAYOUT_TOPIC
from app.services.workflow.outbox import enqueue
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import relogin
from tests.money_support import (
    Forwarder,
    assert_sound,
    funded_contract,
    funds_available,
    make_releasable,
    money_worker,
    settle,
)

DAY = 86_400


async def _payout_jobs(app: FastAPI) -> list[Job]:
    async with app.state.resources.database.sessionmaker() as session:
        return list(
            await session.scalars(
                select(Job).where(Job.topic == PAYOUT_TOPIC).order_by(Job.created_at, Job.id)
            )
        )


def _manual_payouts(sandbox: RunningSandbox, account_id: str) -> None:
    # Rapport asks for `settings.payouts.schedule.interval=manual` when it creates an account in
    # per_transfer mode (the onboarding here ran with the app's default, automatic); the schedule
    # must not pay the balance out before Rapport's payout does.
    sandbox.client().v1.accounts.update(
        account_id, {"settings": {"payouts": {"schedule": {"interval": "manual"}}}}
    )


async def test_a_payout_waits_until_stripe_makes_the_funds_available(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    stripe_sandbox.set_clock(clock.now().timestamp())
    # Stripe's fees are the ledger's subject (tests of their booking); here only availability.
    stripe_sandbox.set_options(availability_delay_days=2, fees=False)
    worker = money_worker(stripe_app, clock, payout_mode="per_transfer")
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    _manual_payouts(stripe_sandbox, funded.account_id)
    await make_releasable(stripe_app, clock, *funded.milestone_ids)
    await settle(worker, forwarder)

    connected = stripe_sandbox.client(stripe_account=funded.account_id)
    assert connected.v1.payouts.list().data == []  # nothing is available yet
    jobs = await _payout_jobs(stripe_app)
    assert [j.state for j in jobs if j.state == "dead"] == []
    waiting = [j for j in jobs if j.state == "pending"]
    assert waiting, [(j.state, j.last_error) for j in jobs]
    # …until Stripe's `available_on` (the charge's two days, a third for an account under the
    # recipient service agreement), not an arbitrary backoff.
    balance = connected.v1.balance.retrieve()
    assert balance.available == [] or all(b.amount == 0 for b in balance.available)
    landed = connected.v1.balance_transactions.list({"type": "payment"}).data
    assert landed and all(t.status == "pending" for t in landed)
    available_on = datetime.fromtimestamp(max(t.available_on for t in landed), UTC)
    assert available_on - clock.now() >= timedelta(days=2)
    assert all(j.run_after == available_on + timedelta(minutes=1) for j in waiting), [
        (j.run_after, available_on) for j in waiting
    ]

    wait = available_on - clock.now() + timedelta(minutes=2)
    stripe_sandbox.set_clock(advance=wait.total_seconds())
    clock.advance(wait)
    await settle(worker, forwarder)
    payouts = connected.v1.payouts.list().data
    assert len(payouts) == len(funded.milestone_ids), payouts
    # In the currency the transfers landed in on the creator's account.
    assert {p.currency for p in payouts} == {t.currency for t in landed}
    for payout in payouts:
        stripe_sandbox.pay_payout(payout.id)
    await settle(worker, forwarder)
    influencer = (await relogin(stripe_api, funded.deal.influencer)).headers
    earnings = (await stripe_api.get("/v1/influencers/me/earnings", headers=influencer)).json()
    # The deal's EUR transferred; paid out in the currency the transfers landed in.
    by_currency = {c["currency"]: c for c in earnings["currencies"]}
    assert by_currency["EUR"]["transferred"] == 120_000
    paid = by_currency[payouts[0].currency.upper()]
    assert paid["paid_out"] == sum(p.amount for p in payouts) > 0
    assert [j.state for j in await _payout_jobs(stripe_app) if j.state == "dead"] == []
    await assert_sound(stripe_app)


async def test_balance_insufficient_waits_and_retries_never_a_dead_letter(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    stripe_sandbox.set_clock(clock.now().timestamp())
    stripe_sandbox.set_options(fees=False)
    worker = money_worker(stripe_app, clock, payout_mode="per_transfer")
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    _manual_payouts(stripe_sandbox, funded.account_id)
    connected = stripe_sandbox.client(stripe_account=funded.account_id)
    # The first milestone is transferred and paid out. The second is transferred; before its
    # payout job runs, someone (the dashboard) pays the whole balance out by hand.
    first, second = funded.milestone_ids
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    await make_releasable(stripe_app, clock, second)
    await settle(money_worker(stripe_app, clock, payout_mode="automatic"), forwarder)
    # Once the funds are available, the first payout (it waited for them) is made.
    await funds_available(stripe_sandbox, clock, worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        (paid_first,) = await session.scalars(select(Payout).where(Payout.transfer_id.is_not(None)))
    (available,) = connected.v1.balance.retrieve().available
    assert available.amount == paid_first.amount > 0  # the second milestone's, as it landed
    drained = connected.v1.payouts.create(
        {"amount": available.amount, "currency": available.currency}
    )
    async with stripe_app.state.resources.database.sessionmaker() as session, session.begin():
        transfer = await session.scalar(select(Transfer).where(Transfer.milestone_id == second))
        assert transfer is not None
        await enqueue(
            session,
            PAYOUT_TOPIC,
            {"transfer_id": transfer.id},
            now=clock.now(),
            idempotency_key=f"{PAYOUT_TOPIC}:{transfer.id}",
        )
    await settle(worker, forwarder)

    jobs = await _payout_jobs(stripe_app)
    assert [j for j in jobs if j.state == "dead"] == [], [j.last_error for j in jobs]
    waiting = [j for j in jobs if j.state == "pending"]
    assert len(waiting) == 1 and waiting[0].payload["waits"] == 1
    assert waiting[0].run_after - clock.now() == timedelta(hours=1)

    # The manual payout fails: the money is back on the balance; the next look pays it out.
    stripe_sandbox.fail_payout(drained.id)
    clock.advance(timedelta(hours=1, minutes=1))
    stripe_sandbox.set_clock(clock.now().timestamp())
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        ours = list(await session.scalars(select(Payout).where(Payout.transfer_id.is_not(None))))
    assert len(ours) == 2
    assert {p.amount for p in ours} == {paid_first.amount}
    assert [j for j in await _payout_jobs(stripe_app) if j.state == "dead"] == []


async def test_a_payout_whose_answer_was_a_stored_500_is_found_not_made_twice(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    stripe_sandbox.set_clock(clock.now().timestamp())
    stripe_sandbox.set_options(fees=False)
    worker = money_worker(stripe_app, clock, payout_mode="per_transfer")
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    _manual_payouts(stripe_sandbox, funded.account_id)
    first = funded.milestone_ids[0]
    # Stripe makes the payout, then answers 500 — and replays that 500 under the key.
    stripe_sandbox.inject_fault("/v1/payouts", "error_after_apply", count=1)
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    # The payout is asked for once the charge's funds are available.
    await funds_available(stripe_sandbox, clock, worker, forwarder)
    connected = stripe_sandbox.client(stripe_account=funded.account_id)
    assert len(connected.v1.payouts.list().data) == 1
    clock.advance(timedelta(minutes=5))  # the relay's backoff
    await settle(worker, forwarder)
    (payout,) = connected.v1.payouts.list().data  # still one
    async with stripe_app.state.resources.database.sessionmaker() as session:
        ours = list(await session.scalars(select(Payout).where(Payout.transfer_id.is_not(None))))
    assert [p.stripe_payout_id for p in ours] == [payout.id]
    assert [j for j in await _payout_jobs(stripe_app) if j.state == "dead"] == []


async def test_with_stripe_strict_the_payout_is_in_the_creators_bank_currency(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    # Everything Stripe does: settlement in the platform's USD, fees, the availability delay,
    # payouts only to a bank account in their currency. A Swedish creator's bank is in SEK.
    stripe_sandbox.set_clock(clock.now().timestamp())
    stripe_sandbox.set_options(strict=True)
    worker = money_worker(stripe_app, clock, payout_mode="per_transfer")
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    _manual_payouts(stripe_sandbox, funded.account_id)
    await make_releasable(stripe_app, clock, *funded.milestone_ids)
    await settle(worker, forwarder)
    connected = stripe_sandbox.client(stripe_account=funded.account_id)
    landed = connected.v1.balance_transactions.list({"type": "payment"}).data
    assert landed and {t.currency for t in landed} == {"sek"}
    available_on = datetime.fromtimestamp(max(t.available_on for t in landed), UTC)
    wait = available_on - clock.now() + timedelta(minutes=2)
    stripe_sandbox.set_clock(advance=wait.total_seconds())
    clock.advance(wait)
    await settle(worker, forwarder)
    payouts = connected.v1.payouts.list().data
    assert len(payouts) == len(landed) and {p.currency for p in payouts} == {"sek"}
    assert sum(p.amount for p in payouts) == sum(t.net for t in landed)
    assert [j for j in await _payout_jobs(stripe_app) if j.state == "dead"] == []
