"""`RAPPORT_PAYOUT_MODE=automatic`: Rapport records the payouts Stripe makes on its schedule from
the `payout.*` Connect events — from `payout.created` on, so a payout on its way shows in the
creator's earnings before it is paid, and a canceled one is not counted (issue 11, item 8).
The sandbox's schedule (00:00 UTC of its clock) makes the payouts; real HTTP, real SDK."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.clock import Clock
from app.models import StripeEvent, StripeEventOutcome
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

HOURS_TO_MIDNIGHT = 12  # T0 is 12:00 UTC
# Stripe's availability delay: 2 days, a third for the Swedish creator's recipient account.
AVAILABLE_AFTER_DAYS = 3


async def test_a_scheduled_payout_shows_while_pending_then_paid(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    stripe_sandbox.set_clock(clock.now().timestamp())
    worker = money_worker(stripe_app, clock, payout_mode="automatic")
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    await make_releasable(stripe_app, clock, *funded.milestone_ids)
    await settle(worker, forwarder)

    # Past the first 00:00 after the funds became available: Stripe's daily schedule creates
    # the payout (pending, arrives later).
    stripe_sandbox.advance_clock(AVAILABLE_AFTER_DAYS * 86_400 + HOURS_TO_MIDNIGHT * 3600 + 60)
    clock.advance(timedelta(days=AVAILABLE_AFTER_DAYS, hours=HOURS_TO_MIDNIGHT, minutes=1))
    await settle(worker, forwarder)
    connected = stripe_sandbox.client(stripe_account=funded.account_id)
    (payout,) = connected.v1.payouts.list().data
    assert payout.automatic is True and payout.status == "pending"

    influencer = (await relogin(stripe_api, funded.deal.influencer)).headers
    earnings = (await stripe_api.get("/v1/influencers/me/earnings", headers=influencer)).json()
    assert [(p["stripe_payout_id"], p["status"]) for p in earnings["payouts"]] == [
        (payout.id, "pending")
    ]
    # The deal's EUR transferred; the payout in SEK, the creator's bank account's currency.
    by_currency = {c["currency"]: c for c in earnings["currencies"]}
    assert by_currency["EUR"]["transferred"] == 120_000
    money = by_currency[payout.currency.upper()]
    assert money["payouts_pending"] == payout.amount > 0
    assert money["paid_out"] == 0
    async with stripe_app.state.resources.database.sessionmaker() as session:
        created = await session.scalar(
            select(StripeEvent).where(StripeEvent.type == "payout.created")
        )
        assert created is not None and created.outcome == StripeEventOutcome.applied

    # Its arrival date: payout.paid.
    stripe_sandbox.advance_clock(3 * 86_400)
    clock.advance(timedelta(days=3))
    await settle(worker, forwarder)
    influencer = (await relogin(stripe_api, funded.deal.influencer)).headers
    earnings = (await stripe_api.get("/v1/influencers/me/earnings", headers=influencer)).json()
    money = {c["currency"]: c for c in earnings["currencies"]}[payout.currency.upper()]
    assert money["paid_out"] == payout.amount and money["payouts_pending"] == 0
    assert [p["status"] for p in earnings["payouts"]] == ["paid"]
    await assert_sound(stripe_app)
