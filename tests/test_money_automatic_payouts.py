"""RAPPORT_PAYOUT_MODE=automatic (the default) end to end: Rapport transfers, Stripe's schedule
pays out (the sandbox's daily automatic payouts, driven by its clock), and the `payout.paid`
Connect event shows in the creator's earnings — walkthrough step 13 with plain `make run`."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.clock import Clock
from app.models import Job, Payout
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import relogin
from tests.money_support import (
    Forwarder,
    assert_sound,
    funded_contract,
    make_releasable,
    money_worker,
    settle,
)

# Stripe's availability delay (2 days, a third for the Swedish creator's recipient account),
# the next 00:00 run, then 2 days to arrival.
DAYS = 6


async def test_automatic_payouts_reach_the_creators_earnings(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock, payout_mode="automatic")
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    await make_releasable(stripe_app, clock, *funded.milestone_ids)
    await settle(worker, forwarder)
    influencer = funded.deal.influencer.headers
    before = (await stripe_api.get("/v1/influencers/me/earnings", headers=influencer)).json()
    assert before["payouts"] == []  # Rapport asks for no payout in automatic mode

    # Both clocks move on (as they would together in production): Stripe's schedule runs.
    stripe_sandbox.set_clock(advance=DAYS * 86400)
    clock.advance(timedelta(days=DAYS))
    await settle(worker, forwarder)

    connected = stripe_sandbox.client(stripe_account=funded.account_id)
    (payout,) = connected.v1.payouts.list().data
    assert payout.automatic is True and payout.status == "paid"
    influencer = (await relogin(stripe_api, funded.deal.influencer)).headers  # days later
    earnings = (await stripe_api.get("/v1/influencers/me/earnings", headers=influencer)).json()
    # The deal's EUR transferred; paid out in SEK, the creator's bank account's currency.
    by_currency = {c["currency"]: c for c in earnings["currencies"]}
    assert by_currency["EUR"]["transferred"] == 120_000
    assert payout.currency == "sek"
    assert by_currency["SEK"]["paid_out"] == payout.amount > 0
    assert [(p["status"], p["amount"]) for p in earnings["payouts"]] == [("paid", payout.amount)]
    async with stripe_app.state.resources.database.sessionmaker() as session:
        rows = list(await session.scalars(select(Payout)))
        payout_jobs = await session.scalar(
            select(func.count()).select_from(Job).where(Job.topic == "money.payout_transfer")
        )
    assert [r.stripe_payout_id for r in rows] == [payout.id] and rows[0].transfer_id is None
    assert payout_jobs == 0
    await assert_sound(stripe_app)
