"""Money's public events (issue 14): transfers and payouts are not machine transitions, so the
money code writes their events where it books them — through the real SDK against the Stripe
sandbox, the same path as tests/test_money_release.py."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.clock import Clock
from app.models import Payout
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import Account, relogin
from tests.money_support import (
    Forwarder,
    funded_contract,
    funds_available,
    make_releasable,
    money_worker,
    settle,
)


async def feed(api: httpx.AsyncClient, who: Account, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/v1/events", params={"limit": 100, **params}, headers=who.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_transfers_and_payouts_are_events_for_their_parties(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    stripe_sandbox.set_clock(clock.now().timestamp())
    worker = money_worker(stripe_app, clock, payout_mode="per_transfer")
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, second = funded.milestone_ids
    await make_releasable(stripe_app, clock, first, second)
    await settle(worker, forwarder)
    await funds_available(stripe_sandbox, clock, worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        payouts = list(await session.scalars(select(Payout).order_by(Payout.id)))
    stripe_sandbox.pay_payout(payouts[0].stripe_payout_id)
    stripe_sandbox.fail_payout(payouts[1].stripe_payout_id, "account_closed")
    await settle(worker, forwarder)
    # Stripe's events arrive more than once (created, updated, paid): one event per status.
    await settle(worker, forwarder)

    influencer = await relogin(stripe_api, funded.deal.influencer)
    brand = await relogin(stripe_api, funded.deal.brand_owner)
    mine = await feed(stripe_api, influencer)
    transfers = [e for e in mine if e["type"] == "transfer.created"]
    assert sorted(e["data"]["object"]["milestone_id"] for e in transfers) == sorted([first, second])
    assert {e["data"]["object"]["contract_id"] for e in transfers} == {funded.contract_id}
    by_payout: dict[str, list[str]] = {}
    for event in reversed(mine):  # oldest first
        if event["type"].startswith("payout."):
            by_payout.setdefault(event["data"]["object"]["id"], []).append(event["type"])
    assert by_payout == {
        payouts[0].id: ["payout.pending", "payout.paid"],
        payouts[1].id: ["payout.pending", "payout.failed"],
    }
    failed = next(e for e in mine if e["type"] == "payout.failed")
    assert failed["data"]["object"]["failure_code"] == "account_closed"
    assert {"milestone.releasable", "milestone.released", "contract.active"} <= {
        e["type"] for e in mine
    }

    # The brand is a party to the transfers of its contract, not to the creator's payouts.
    theirs = {e["type"] for e in await feed(stripe_api, brand)}
    assert "transfer.created" in theirs
    assert not any(t.startswith("payout.") for t in theirs)
