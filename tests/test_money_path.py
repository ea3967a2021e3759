"""The whole path, through the public routes, the real SDK and the Stripe sandbox over HTTP
(signed webhooks delivered to the app under uvicorn): onboard, fund, deliver, release,
transfer, pay out — and the influencer's earnings show it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.clock import Clock
from app.models import Payout
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import create_contract, relogin
from tests.money_support import (
    AVAILABILITY_WAIT,
    assert_sound,
    money_worker,
    transfers_per_milestone,
)
from tests.stripe_support import ServedApp


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_onboard_fund_deliver_release_transfer_and_pay_out(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    sandbox_webhooks: ServedApp,
    clock: Clock,
) -> None:
    from sqlalchemy import select

    api = stripe_api
    # Stripe's clock and ours in step: the funds' availability is dated by Stripe's.
    stripe_sandbox.set_clock(clock.now().timestamp())
    worker = money_worker(stripe_app, clock, payout_mode="per_transfer")

    async def stripe_and_worker() -> None:
        for _ in range(4):
            assert stripe_sandbox.wait_for_webhooks()
            report = await worker.run_once()
            assert stripe_sandbox.wait_for_webhooks()
            if not report.did_work:
                return

    deal, contract = await create_contract(api)
    brand, influencer = deal.brand_owner.headers, deal.influencer.headers
    contract_id = contract["id"]

    # Onboarding: the influencer opens Stripe's link; the sandbox completes it and redirects.
    link = await _ok(
        await api.post("/v1/influencers/me/payouts/onboarding", headers=influencer), 201
    )
    async with httpx.AsyncClient() as browser:
        landed = await browser.get(link["onboarding_url"])
    assert landed.status_code == 303
    await stripe_and_worker()
    account = await _ok(await api.get("/v1/influencers/me/payouts/account", headers=influencer))
    assert account["status"] == "enabled"

    # Funding: the PaymentIntent, confirmed with a test card, Stripe's webhook → active.
    funding = await _ok(await api.post(f"/v1/contracts/{contract_id}/funding", headers=brand))
    assert funding["amount"] == 126_000
    await _ok(
        await api.post(
            f"/v1/contracts/{contract_id}/funding/confirm",
            json={"payment_method": "pm_card_visa"},
            headers=brand,
        )
    )
    await stripe_and_worker()
    got = await _ok(await api.get(f"/v1/contracts/{contract_id}", headers=brand))
    assert got["state"] == "active"

    # Delivery, through the delivery routes: draft (when asked) → approve → proof → confirm.
    published_at = clock.now().isoformat().replace("+00:00", "Z")  # not before the funding
    for deliverable in got["deliverables"]:
        d = await _ok(await api.get(f"/v1/deliverables/{deliverable['id']}", headers=brand))
        if d["draft_required"]:
            draft = await _ok(
                await api.post(
                    f"/v1/deliverables/{d['id']}/drafts",
                    json={
                        "caption": "#ad Race-week oats: my breakfast before the long run.",
                        "media_urls": ["https://cdn.example/v1.mp4"],
                    },
                    headers=influencer,
                ),
                201,
            )
            await _ok(await api.post(f"/v1/drafts/{draft['id']}/approve", headers=brand))
        await _ok(
            await api.post(
                f"/v1/deliverables/{d['id']}/proof",
                json={
                    "url": f"https://instagram.example/p/{d['id']}",
                    "published_at": published_at,
                    "platform_post_id": d["id"],
                    "caption": "#ad Race-week oats: my breakfast before the long run.",
                },
                headers=influencer,
            ),
            201,
        )
        await _ok(await api.post(f"/v1/deliverables/{d['id']}/proof/confirm", headers=brand))

    # Release → transfer; the payouts wait until Stripe makes the charge's funds available
    # (2 days, a third for the Swedish creator's recipient account), then the bank pays them.
    await stripe_and_worker()
    milestones = [m["id"] for m in got["milestones"]]
    assert await transfers_per_milestone(stripe_app, contract_id) == {m: 1 for m in milestones}
    async with stripe_app.state.resources.database.sessionmaker() as session:
        assert list(await session.scalars(select(Payout))) == []
    stripe_sandbox.set_clock(advance=AVAILABILITY_WAIT)
    clock.advance(timedelta(seconds=AVAILABILITY_WAIT))
    await stripe_and_worker()
    async with stripe_app.state.resources.database.sessionmaker() as session:
        payouts = list(await session.scalars(select(Payout)))
    # In SEK, the currency of the creator's bank account: Stripe converted the USD transfers.
    assert [p.currency for p in payouts] == ["SEK", "SEK"]
    for payout in payouts:
        stripe_sandbox.pay_payout(payout.stripe_payout_id)
    await stripe_and_worker()

    influencer = (await relogin(api, deal.influencer)).headers
    brand = (await relogin(api, deal.brand_owner)).headers
    earnings = await _ok(await api.get("/v1/influencers/me/earnings", headers=influencer))
    eur, sek = sorted(earnings["currencies"], key=lambda c: c["currency"])
    assert (eur["currency"], sek["currency"]) == ("EUR", "SEK")
    assert (eur["in_escrow"], eur["released"], eur["transferred"], eur["paid_out"]) == (
        0,
        0,
        120_000,
        0,
    )
    assert sek["paid_out"] == sum(p.amount for p in payouts) > 0
    assert eur["failed_payouts"] == sek["failed_payouts"] == []
    assert {m["money_state"] for m in earnings["milestones"]} == {"transferred"}
    assert {p["status"] for p in earnings["payouts"]} == {"paid"}
    final = await _ok(await api.get(f"/v1/contracts/{contract_id}", headers=brand))
    assert final["state"] == "completed"
    await assert_sound(stripe_app)
