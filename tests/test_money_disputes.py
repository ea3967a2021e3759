"""Disputes of the funding charge that resolve (issue 11, item 1), end to end through the
routes, the SDK and the Stripe sandbox over HTTP: a chargeback won, a chargeback lost, and an
inquiry closed — each opens a record both parties and the operators see, books money only when
Stripe moves it (with the dispute fee), and leaves reconciliation without a difference."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.clock import Clock
from app.models import JournalEntry
from app.services.money import ledger
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import make_operator
from tests.money_support import (
    Forwarder,
    Funded,
    assert_sound,
    funded_contract,
    make_releasable,
    milestone_states,
    money_worker,
    settle,
)

# The deals are in EUR; the platform settles in USD (Stripe's way, the sandbox's default):
# Stripe withdraws a chargeback, and takes its dispute fee, in USD.
USD_DISPUTE_FEE = 1_500  # the sandbox's (Stripe's) US dispute fee
WITHDRAWN_USD = 138_600  # the 1,260.00 EUR charge at the sandbox's rate (1.1)


async def _charge_id(api: httpx.AsyncClient, funded: Funded) -> str:
    response = await api.get(
        f"/v1/contracts/{funded.contract_id}/funding", headers=funded.deal.brand_owner.headers
    )
    return response.json()["charge_id"]


async def _contract_state(api: httpx.AsyncClient, funded: Funded) -> str:
    got = await api.get(
        f"/v1/contracts/{funded.contract_id}", headers=funded.deal.brand_owner.headers
    )
    return got.json()["state"]


async def _seen_by_both(api: httpx.AsyncClient, funded: Funded, path: str) -> list[dict[str, Any]]:
    """What the brand and the influencer each get from `path`: the same."""
    url = f"/v1/contracts/{funded.contract_id}/{path}"
    brand = await api.get(url, headers=funded.deal.brand_owner.headers)
    influencer = await api.get(url, headers=funded.deal.influencer.headers)
    assert brand.status_code == influencer.status_code == 200, brand.text
    assert brand.json() == influencer.json()
    return brand.json()["data"]


async def _money(app: FastAPI, contract_id: str) -> ledger.ContractMoney:
    async with app.state.resources.database.sessionmaker() as session:
        return await ledger.contract_balances(session, contract_id)


async def _fees_booked(app: FastAPI, sandbox: RunningSandbox, charge_id: str) -> int:
    """Stripe's fees booked (USD) beyond the charge's card fee: the dispute fees."""
    charge = sandbox.client().v1.charges.retrieve(charge_id, {"expand": ["balance_transaction"]})
    card_fee = charge.balance_transaction.fee
    async with app.state.resources.database.sessionmaker() as session:
        return await ledger.account_balance(session, ledger.STRIPE_FEES, "USD") - card_fee


async def _open_chargeback(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> tuple[Any, Funded, dict[str, Any], str]:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, _ = funded.milestone_ids
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    charge_id = await _charge_id(stripe_api, funded)
    dispute = stripe_sandbox.dispute(charge_id, reason="fraudulent")
    await settle(worker, forwarder)
    return worker, funded, dispute, charge_id


async def test_a_chargeback_opens_a_dispute_record_and_a_won_dispute_unfreezes_it(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker, funded, dispute, charge_id = await _open_chargeback(
        stripe_app, stripe_api, stripe_sandbox, forwarder, clock
    )
    assert await _contract_state(stripe_api, funded) == "disputed"
    # The contract's dispute record, seen by both parties with Stripe's side attached.
    (record,) = await _seen_by_both(stripe_api, funded, "disputes")
    assert record["opened_by"] is None and record["state"] == "escalated"
    stripe_side = record["payment_dispute"]
    assert stripe_side["id"] == dispute["id"] and stripe_side["charge_id"] == charge_id
    assert (stripe_side["status"], stripe_side["reason"]) == ("needs_response", "fraudulent")
    assert (stripe_side["amount"], stripe_side["currency"]) == (126_000, "EUR")
    assert stripe_side["evidence_due_by"] is not None and not stripe_side["is_inquiry"]
    assert (stripe_side["funds_withdrawn"], stripe_side["dispute_fee"]) == (
        WITHDRAWN_USD,
        USD_DISPUTE_FEE,
    )
    (listed,) = await _seen_by_both(stripe_api, funded, "payment-disputes")
    assert listed["dispute_id"] == record["id"]
    # ... and by the operators, in their queue.
    staff = await make_operator(stripe_api, stripe_app)
    queue = await stripe_api.get("/v1/operator/disputes?state=escalated", headers=staff.headers)
    assert [(d["id"], d["payment_dispute"]["id"]) for d in queue.json()["data"]] == [
        (record["id"], dispute["id"])
    ]
    everything = await stripe_api.get("/v1/operator/payment-disputes", headers=staff.headers)
    assert [d["id"] for d in everything.json()["data"]] == [dispute["id"]]
    # Booked when Stripe withdrew the money: escrow first, the rest a loss; the fee.
    money = await _money(stripe_app, funded.contract_id)
    assert (money.charged_back, money.in_escrow, money.chargeback_loss) == (126_000, 0, 66_000)
    assert await _fees_booked(stripe_app, stripe_sandbox, charge_id) == USD_DISPUTE_FEE
    await assert_sound(stripe_app)

    stripe_sandbox.submit_dispute_evidence(dispute["id"], {"product_description": "Two reels"})
    await settle(worker, forwarder)
    (listed,) = await _seen_by_both(stripe_api, funded, "payment-disputes")
    assert listed["status"] == "under_review"

    stripe_sandbox.close_dispute(dispute["id"], "won")
    await settle(worker, forwarder)
    money = await _money(stripe_app, funded.contract_id)
    assert (money.charged_back, money.in_escrow, money.chargeback_loss) == (0, 60_000, 0)
    # The fee came back with the win (the sandbox follows Stripe's dispute-fee FAQ).
    assert await _fees_booked(stripe_app, stripe_sandbox, charge_id) == 0
    # Unfrozen: the record is closed, the contract moves again.
    (record,) = await _seen_by_both(stripe_api, funded, "disputes")
    assert record["state"] == "withdrawn" and record["payment_dispute"]["status"] == "won"
    assert record["payment_dispute"]["closed_at"] is not None
    assert await _contract_state(stripe_api, funded) == "active"
    await assert_sound(stripe_app)
    # Money moves again: the second milestone is released and transferred.
    _, second = funded.milestone_ids
    await make_releasable(stripe_app, clock, second)
    await settle(worker, forwarder)
    assert (await milestone_states(stripe_app, funded.contract_id))[second] == "released"
    assert (await _money(stripe_app, funded.contract_id)).transferred == 120_000
    await assert_sound(stripe_app)


async def test_a_lost_chargeback_stays_frozen_for_the_operators_and_reconciles(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker, funded, dispute, charge_id = await _open_chargeback(
        stripe_app, stripe_api, stripe_sandbox, forwarder, clock
    )
    stripe_sandbox.close_dispute(dispute["id"], "lost")
    await settle(worker, forwarder)
    (record,) = await _seen_by_both(stripe_api, funded, "disputes")
    assert record["state"] == "escalated" and record["payment_dispute"]["status"] == "lost"
    assert await _contract_state(stripe_api, funded) == "disputed"
    money = await _money(stripe_app, funded.contract_id)
    assert (money.charged_back, money.chargeback_loss, money.in_escrow) == (126_000, 66_000, 0)
    assert await _fees_booked(stripe_app, stripe_sandbox, charge_id) == USD_DISPUTE_FEE
    await assert_sound(stripe_app)
    # The operator closes it; nothing is left to refund (the chargeback took the escrow).
    staff = await make_operator(stripe_api, stripe_app)
    resolved = await stripe_api.post(
        f"/v1/operator/disputes/{record['id']}/resolve",
        json={"resolution": "full_refund", "note": "Chargeback lost"},
        headers=staff.headers,
    )
    assert resolved.status_code == 200, resolved.text
    await settle(worker, forwarder)
    assert await _contract_state(stripe_api, funded) == "resolved"
    await assert_sound(stripe_app)


async def test_an_inquiry_freezes_nothing_and_books_nothing(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    """Before the fix an inquiry froze the contract and booked a chargeback loss, and
    reconciliation reported the difference."""
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, second = funded.milestone_ids
    charge_id = await _charge_id(stripe_api, funded)
    inquiry = stripe_sandbox.inquiry(charge_id, reason="product_not_received")
    await settle(worker, forwarder)
    assert await _contract_state(stripe_api, funded) == "active"
    assert await _seen_by_both(stripe_api, funded, "disputes") == []
    (listed,) = await _seen_by_both(stripe_api, funded, "payment-disputes")
    assert (listed["id"], listed["status"], listed["is_inquiry"]) == (
        inquiry["id"],
        "warning_needs_response",
        True,
    )
    assert listed["dispute_id"] is None and listed["funds_withdrawn"] == 0
    async with stripe_app.state.resources.database.sessionmaker() as session:
        kinds = set(await session.scalars(select(JournalEntry.kind)))
    # Funding, and its settlement: the EUR converted to USD, Stripe's card fee.
    assert kinds == {"funding", "conversion", "fee"}
    # Money still moves during an inquiry.
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    assert (await milestone_states(stripe_app, funded.contract_id))[first] == "released"
    await assert_sound(stripe_app)

    stripe_sandbox.submit_dispute_evidence(inquiry["id"])
    stripe_sandbox.close_dispute(inquiry["id"])
    await settle(worker, forwarder)
    (listed,) = await _seen_by_both(stripe_api, funded, "payment-disputes")
    assert listed["status"] == "warning_closed" and listed["closed_at"] is not None
    assert await _contract_state(stripe_api, funded) == "active"
    money = await _money(stripe_app, funded.contract_id)
    assert (money.charged_back, money.chargeback_loss, money.in_escrow) == (0, 0, 60_000)
    assert await _fees_booked(stripe_app, stripe_sandbox, charge_id) == 0
    await make_releasable(stripe_app, clock, second)
    await settle(worker, forwarder)
    assert (await _money(stripe_app, funded.contract_id)).transferred == 120_000
    await assert_sound(stripe_app)


async def test_an_inquiry_that_becomes_a_chargeback_freezes_then(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    inquiry = stripe_sandbox.inquiry(await _charge_id(stripe_api, funded))
    await settle(worker, forwarder)
    assert await _contract_state(stripe_api, funded) == "active"
    stripe_sandbox.escalate_dispute(inquiry["id"])
    await settle(worker, forwarder)
    assert await _contract_state(stripe_api, funded) == "disputed"
    (record,) = await _seen_by_both(stripe_api, funded, "disputes")
    assert record["payment_dispute"]["status"] == "needs_response"
    money = await _money(stripe_app, funded.contract_id)
    assert (money.charged_back, money.in_escrow) == (126_000, 0)
    await assert_sound(stripe_app)
    stripe_sandbox.close_dispute(inquiry["id"], "won")
    await settle(worker, forwarder)
    assert await _contract_state(stripe_api, funded) == "active"
    assert (await _money(stripe_app, funded.contract_id)).in_escrow == 120_000
    await assert_sound(stripe_app)
