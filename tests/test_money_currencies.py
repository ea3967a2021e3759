"""Multi-currency done right (issue 11, item 6), through the routes, the SDK and the Stripe
sandbox over HTTP with Stripe's settlement on (a USD platform: charges in other currencies
settle in USD at the charge's exchange rate) and Stripe's card fees on.

The brand pays in the deal's currency; the ledger keeps the contract in it and books what
Stripe settled (`conversion` entries through `platform:fx`, Stripe's fee); transfers to the
creator go out in USD with `source_transaction`, converted at the charge's rate (half up); a
chargeback withdraws USD. Reconciliation reports no difference after each path. Before the fix
a EUR transfer from a USD-settled charge was refused by Stripe (the job dead-lettered) and the
ledger's EUR balance could never match Stripe's USD one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.clock import Clock
from app.models import Payout
from app.services.money import ledger
from app.services.workflow.outbox import enqueue
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import create_contract, open_deal
from tests.money_support import (
    Forwarder,
    Funded,
    assert_sound,
    fund,
    funds_available,
    make_releasable,
    money_worker,
    onboard,
    settle,
)

# (deal currency, price, milestone amounts, USD per unit in the sandbox's table)
CASES = {
    "usd": ("USD", 120_000, 60_000, None),
    "eur": ("EUR", 120_000, 60_000, "1.1"),
    "jpy": ("JPY", 150_001, 75_000, "0.0067"),
}


def _budget(currency: str, price: int) -> dict[str, Any]:
    return {
        "currency": currency,
        "total": price * 10,
        "per_influencer_min": 1,
        "per_influencer_max": price * 2,
    }


async def _funded(
    api: httpx.AsyncClient,
    sandbox: RunningSandbox,
    worker: Any,
    forwarder: Forwarder,
    currency: str,
    price: int,
    first: int,
) -> Funded:
    deal = await open_deal(
        api,
        brief_fields={"budget": _budget(currency, price)},
        bid_fields={"price": price},
    )
    deal, contract = await create_contract(
        api,
        deal,
        price=price,
        payment_schedule=[
            {"name": "Reels live", "amount": first, "deliverables": ["reels"]},
            {"name": "Wrap-up", "amount": price - first, "on_completion": True},
        ],
    )
    account_id = await onboard(api, sandbox, deal)
    response = await fund(api, deal, contract["id"])
    assert response.status_code == 200, response.text
    await settle(worker, forwarder)
    got = await api.get(f"/v1/contracts/{contract['id']}", headers=deal.brand_owner.headers)
    assert got.json()["state"] == "active", got.json()
    return Funded(deal, got.json(), account_id)


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_whole_path_settles_in_the_platform_currency(
    case: str,
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    currency, price, first, rate = CASES[case]
    # The sandbox's defaults are Stripe's: USD settlement, fees, funds pending 2 days, payouts
    # only in a currency the creator's bank account takes, capability review.
    stripe_sandbox.set_clock(clock.now().timestamp())
    worker = money_worker(stripe_app, clock, payout_mode="per_transfer")
    funded = await _funded(stripe_api, stripe_sandbox, worker, forwarder, currency, price, first)
    gateway = stripe_app.state.resources.stripe
    funding = (
        await stripe_api.get(
            f"/v1/contracts/{funded.contract_id}/funding", headers=funded.deal.brand_owner.headers
        )
    ).json()
    (charge_txn,) = [
        t for t in await gateway.list_balance_transactions(source=funding["charge_id"])
    ]
    assert charge_txn.currency == "usd"
    assert (charge_txn.exchange_rate is None) == (rate is None)
    assert charge_txn.fee > 0
    await assert_sound(stripe_app)

    milestones = funded.milestone_ids
    await make_releasable(stripe_app, clock, *milestones)
    await settle(worker, forwarder)
    transfers = await gateway.list_transfers(transfer_group=funded.contract_id)
    assert len(transfers) == 2
    for transfer in transfers:
        assert transfer.currency == "usd" and transfer.source_transaction == funding["charge_id"]
    amounts = sorted(t.amount for t in transfers)
    if case == "eur":
        assert amounts == [66_000, 66_000]  # 600.00 EUR at 1.1
    elif case == "jpy":
        # ¥75,000 → 502.50 USD; ¥75,001 → 502.5067 → 502.51 USD (half up).
        assert amounts == [50_250, 50_251]
    else:
        assert amounts == [60_000, 60_000]
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
        balances = await ledger.platform_balances(session)
    # The contract stays in its own currency.
    assert (money.currency, money.transferred, money.in_escrow) == (currency, price, 0)
    # The platform's Stripe balance is in USD only (the deal currency nets to zero).
    held = {c: v for (code, c), v in balances.items() if code == ledger.STRIPE_BALANCE and v}
    assert set(held) == {"USD"}
    await assert_sound(stripe_app)

    # The payouts wait for Stripe's availability delay, then go out in SEK (the Swedish
    # creator's bank account) and are paid; reconciliation still finds no difference.
    async with stripe_app.state.resources.database.sessionmaker() as session:
        assert list(await session.scalars(select(Payout))) == []
    await funds_available(stripe_sandbox, clock, worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        payouts = list(await session.scalars(select(Payout)))
    assert [p.currency for p in payouts] == ["SEK", "SEK"] and all(p.amount > 0 for p in payouts)
    for payout in payouts:
        stripe_sandbox.pay_payout(payout.stripe_payout_id)
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        paid = list(await session.scalars(select(Payout).execution_options(populate_existing=True)))
    assert {p.status for p in paid} == {"paid"}
    await assert_sound(stripe_app)


async def test_a_chargeback_on_a_eur_deal_settled_in_usd_reconciles(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await _funded(stripe_api, stripe_sandbox, worker, forwarder, "EUR", 120_000, 60_000)
    await make_releasable(stripe_app, clock, funded.milestone_ids[0])
    await settle(worker, forwarder)
    funding = (
        await stripe_api.get(
            f"/v1/contracts/{funded.contract_id}/funding", headers=funded.deal.brand_owner.headers
        )
    ).json()
    dispute = stripe_sandbox.dispute(funding["charge_id"])
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
    assert (money.charged_back, money.in_escrow) == (126_000, 0)
    got = await stripe_api.get(
        f"/v1/contracts/{funded.contract_id}/payment-disputes",
        headers=funded.deal.brand_owner.headers,
    )
    (listed,) = got.json()["data"]
    # 1,260.00 EUR withdrawn as 1,386.00 USD, with the USD dispute fee.
    assert (listed["settlement_currency"], listed["funds_withdrawn"]) == ("USD", 138_600)
    assert listed["dispute_fee"] == 1_500
    await assert_sound(stripe_app)
    stripe_sandbox.close_dispute(dispute["id"], "won")
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
    assert (money.charged_back, money.in_escrow) == (0, 60_000)
    await assert_sound(stripe_app)


@pytest.mark.parametrize("case", ["eur", "jpy"])
async def test_refunds_of_a_charge_settled_in_usd_reconcile(
    case: str,
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    currency, price, first, _ = CASES[case]
    worker = money_worker(stripe_app, clock)
    funded = await _funded(stripe_api, stripe_sandbox, worker, forwarder, currency, price, first)
    await make_releasable(stripe_app, clock, funded.milestone_ids[0])
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session, session.begin():
        for key, amount in (("resolution:1", 10_001), ("resolution:2", "unreleased")):
            await enqueue(
                session,
                "money.refund_contract",
                {"contract_id": funded.contract_id, "amount": amount},
                now=clock.now(),
                idempotency_key=key,
            )
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
    assert (money.refunded, money.in_escrow) == (price - first, 0)
    # Stripe refunded in the deal's currency and took USD from the balance at the charge's rate.
    funding = (
        await stripe_api.get(
            f"/v1/contracts/{funded.contract_id}/funding", headers=funded.deal.brand_owner.headers
        )
    ).json()
    intent = await stripe_app.state.resources.stripe.retrieve_payment_intent(
        funding["payment_intent_id"]
    )
    charge = intent.to_dict()["charges"]["data"][0]
    assert charge["amount_refunded"] == price - first
    assert {r["currency"] for r in charge["refunds"]["data"]} == {currency.lower()}
    await assert_sound(stripe_app)


async def test_a_refund_made_outside_rapport_on_a_eur_deal_settled_in_usd_reconciles(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await _funded(stripe_api, stripe_sandbox, worker, forwarder, "EUR", 120_000, 60_000)
    funding = (
        await stripe_api.get(
            f"/v1/contracts/{funded.contract_id}/funding", headers=funded.deal.brand_owner.headers
        )
    ).json()
    # The Stripe dashboard: a refund of 50.01 EUR nobody asked Rapport for.
    await stripe_app.state.resources.stripe.create_refund(
        payment_intent=funding["payment_intent_id"], amount=5_001, idempotency_key="dashboard-1"
    )
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
    assert money.refunded == 5_001
    await assert_sound(stripe_app)
