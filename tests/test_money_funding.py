"""Funding a contract: the PaymentIntent for price + brand fee, the webhook that makes the
contract active, declines, the funding window's expiry (docs/payments.md, "Funding")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.clock import Clock
from app.main import create_app
from app.models import Payment, StripeEvent, StripeEventOutcome
from app.services.money import ledger
from app.services.money.funding import brand_fee
from app.settings import Settings
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import assert_problem, create_contract, register, relogin
from tests.money_support import Forwarder, assert_sound, fund, money_worker, settle
from tests.stripe_support import stripe_settings


def test_the_brand_fee_is_integer_basis_points_rounded_half_up_plus_a_fixed_part() -> None:
    settings = Settings(brand_fee_bps=500, brand_fee_fixed={"USD": 30})
    assert brand_fee(120_000, "EUR", settings) == 6_000
    assert brand_fee(10, "EUR", settings) == 1  # 0.5 rounds up
    assert brand_fee(9, "EUR", settings) == 0  # 0.45 rounds down
    assert brand_fee(1_999, "usd", settings) == 100 + 30
    assert brand_fee(150_000, "JPY", settings) == 7_500  # yen are already minor units
    assert brand_fee(120_000, "EUR", Settings(brand_fee_bps=0)) == 0
    with pytest.raises(ValueError):
        brand_fee(10.5, "EUR", settings)  # type: ignore[arg-type]


async def test_funding_creates_one_payment_intent_for_price_plus_fee(
    stripe_app: FastAPI, stripe_api: httpx.AsyncClient, stripe_sandbox: RunningSandbox
) -> None:
    deal, contract = await create_contract(stripe_api)
    url = f"/v1/contracts/{contract['id']}/funding"
    first = await stripe_api.post(url, headers=deal.brand_owner.headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["price"] == 120_000 and body["fee"] == 6_000 and body["amount"] == 126_000
    assert body["currency"] == "EUR"
    assert body["payment_intent_id"].startswith("pi_") and body["client_secret"]
    assert body["status"] == "requires_payment_method"
    assert body["contract_state"] == "awaiting_funding"

    again = await stripe_api.post(url, headers=deal.brand_owner.headers)
    assert again.json()["payment_intent_id"] == body["payment_intent_id"]
    assert again.json()["client_secret"] == body["client_secret"]

    intent = await stripe_app.state.resources.stripe.retrieve_payment_intent(
        body["payment_intent_id"]
    )
    assert intent.amount == 126_000 and intent.currency == "eur"
    assert intent.transfer_group == contract["id"]
    assert intent.metadata["rapport_contract_id"] == contract["id"]
    intents = stripe_sandbox.client().v1.payment_intents.list({"limit": 100})
    assert len(intents.data) == 1

    # The influencer sees the funding, cannot start it; a stranger sees nothing.
    assert_problem(await stripe_api.post(url, headers=deal.influencer.headers), 403)
    seen = await stripe_api.get(url, headers=deal.influencer.headers)
    assert seen.status_code == 200 and seen.json()["client_secret"] is None
    stranger = await register(stripe_api)
    assert_problem(await stripe_api.post(url, headers=stranger.headers), 404)
    assert_problem(await stripe_api.get(url, headers=stranger.headers), 404)


async def test_a_payment_intent_stripe_made_before_answering_a_stored_500_is_adopted(
    stripe_app: FastAPI, stripe_api: httpx.AsyncClient, stripe_sandbox: RunningSandbox
) -> None:
    """Stripe made the PaymentIntent, then answered 500 and stored it under `funding:<ctr>`
    (replayed for 24 h). Before the fix funding answered 503 for a day, then made a second
    PaymentIntent; now it finds the one made by `metadata.rapport_contract_id` at once."""
    deal, contract = await create_contract(stripe_api)
    url = f"/v1/contracts/{contract['id']}/funding"
    stripe_sandbox.inject_fault("/v1/payment_intents", "error_after_apply", count=1)
    first = await stripe_api.post(url, headers=deal.brand_owner.headers)
    assert first.status_code == 200, first.text
    assert stripe_sandbox.faults() == []  # the fault fired
    again = await stripe_api.post(url, headers=deal.brand_owner.headers)
    assert again.json()["payment_intent_id"] == first.json()["payment_intent_id"]
    intents = stripe_sandbox.client().v1.payment_intents.list({"limit": 100}).data
    assert [i.id for i in intents] == [first.json()["payment_intent_id"]]
    assert intents[0].metadata["rapport_contract_id"] == contract["id"]


async def test_a_succeeded_payment_books_escrow_and_activates_the_contract(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    deal, contract = await create_contract(stripe_api)
    confirmed = await fund(stripe_api, deal, contract["id"])
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded"
    # Ten deliveries of each event, some at once: stored once, processed once.
    await forwarder.forward(times=10)
    await settle(worker, forwarder)

    got = await stripe_api.get(f"/v1/contracts/{contract['id']}", headers=deal.brand_owner.headers)
    assert got.json()["state"] == "active" and got.json()["funded_at"] is not None
    funding = (
        await stripe_api.get(
            f"/v1/contracts/{contract['id']}/funding", headers=deal.brand_owner.headers
        )
    ).json()
    assert funding["status"] == "succeeded" and funding["charge_id"].startswith("ch_")
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, contract["id"])
        assert (money.funded, money.fees, money.in_escrow) == (120_000, 6_000, 120_000)
        events = list(await session.scalars(select(StripeEvent)))
        assert {e.type for e in events} >= {"payment_intent.succeeded"}
        assert all(e.deliveries == 10 for e in events)
        succeeded = [e for e in events if e.type == "payment_intent.succeeded"]
        assert [e.outcome for e in succeeded] == [StripeEventOutcome.applied]
    await assert_sound(stripe_app)
    # Funding a funded contract returns the same PaymentIntent.
    again = await stripe_api.post(
        f"/v1/contracts/{contract['id']}/funding", headers=deal.brand_owner.headers
    )
    assert again.json()["status"] == "succeeded"


async def test_a_declined_card_keeps_the_contract_awaiting_funding_with_the_reason(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    deal, contract = await create_contract(stripe_api)
    declined = await fund(stripe_api, deal, contract["id"], pm="pm_card_chargeDeclined")
    body = assert_problem(declined, 402, "payment-declined")
    assert body["decline_code"] == "generic_decline"
    await settle(worker, forwarder)
    url = f"/v1/contracts/{contract['id']}/funding"
    funding = (await stripe_api.get(url, headers=deal.influencer.headers)).json()
    assert funding["status"] == "requires_payment_method"
    assert funding["failure_code"] == "generic_decline" and funding["failure_message"]
    got = await stripe_api.get(f"/v1/contracts/{contract['id']}", headers=deal.brand_owner.headers)
    assert got.json()["state"] == "awaiting_funding"

    # Another card works with the same PaymentIntent.
    ok = await stripe_api.post(
        f"{url}/confirm", json={"payment_method": "pm_card_visa"}, headers=deal.brand_owner.headers
    )
    assert ok.status_code == 200, ok.text
    await settle(worker, forwarder)
    got = await stripe_api.get(f"/v1/contracts/{contract['id']}", headers=deal.brand_owner.headers)
    assert got.json()["state"] == "active"
    funding = (await stripe_api.get(url, headers=deal.influencer.headers)).json()
    assert funding["failure_code"] is None
    await assert_sound(stripe_app)


async def test_the_funding_window_expiry_cancels_the_payment_intent(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    deal, contract = await create_contract(stripe_api)
    started = await stripe_api.post(
        f"/v1/contracts/{contract['id']}/funding", headers=deal.brand_owner.headers
    )
    intent_id = started.json()["payment_intent_id"]
    clock.advance(timedelta(days=8))
    await settle(worker, forwarder)
    deal.brand_owner = await relogin(stripe_api, deal.brand_owner)
    got = await stripe_api.get(f"/v1/contracts/{contract['id']}", headers=deal.brand_owner.headers)
    assert got.json()["state"] == "expired"
    intent = await stripe_app.state.resources.stripe.retrieve_payment_intent(intent_id)
    assert intent.status == "canceled"
    async with stripe_app.state.resources.database.sessionmaker() as session:
        payment = await session.scalar(
            select(Payment).where(Payment.payment_intent_id == intent_id)
        )
        assert payment is not None and payment.status == "canceled"
    refused = await stripe_api.post(
        f"/v1/contracts/{contract['id']}/funding", headers=deal.brand_owner.headers
    )
    assert refused.json()["status"] == "canceled"


async def test_a_payment_that_lands_after_expiry_is_refunded_in_full(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    deal, contract = await create_contract(stripe_api)
    paid = await fund(stripe_api, deal, contract["id"])
    assert paid.status_code == 200
    # The window closes before the webhook is processed (Stripe was slow, the worker was down).
    clock.advance(timedelta(days=8))
    await worker.fire_due_timers()
    await settle(worker, forwarder)
    deal.brand_owner = await relogin(stripe_api, deal.brand_owner)
    got = await stripe_api.get(f"/v1/contracts/{contract['id']}", headers=deal.brand_owner.headers)
    assert got.json()["state"] == "expired"
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, contract["id"])
    assert money.funded == 120_000 and money.refunded == 120_000 and money.collected == 0
    intent = await stripe_app.state.resources.stripe.retrieve_payment_intent(
        paid.json()["payment_intent_id"]
    )
    assert intent.charges.data[0].amount_refunded == 126_000
    await assert_sound(stripe_app)


async def test_the_confirm_route_exists_only_against_the_sandbox(
    settings: Settings, clock: Clock, make_client: Any
) -> None:
    real = create_app(stripe_settings(settings, "", stripe_api_base=None), clock=clock)
    try:
        async with make_client(real) as api:
            account = await register(api)
            response = await api.post(
                "/v1/contracts/ctr_01JD3M8ZQ4X2V6R9T0A1B2C3D4/funding/confirm",
                json={"payment_method": "pm_card_visa"},
                headers=account.headers,
            )
            assert_problem(response, 404, "sandbox-only")
    finally:
        await real.state.resources.stripe.aclose()
        await real.state.resources.database.dispose()
