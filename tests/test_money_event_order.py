"""Webhook order does not matter (issue 11, item 2): each money event sequence, as the Stripe
sandbox emits it, delivered in every order ends in the same state.

The events are real ones (the SDK drives the sandbox over HTTP; the sandbox's clock moves a
minute between steps so their `created` differ). Each order is stored and processed through
the inbox (`record_event`, `process_event`) in one transaction that is rolled back afterwards,
so every order starts from the same database state. Before the fix, `payout.failed` followed
by the older `payout.paid` left the payout `paid`, an older `transfer.reversed` wrote back a
smaller `amount_reversed`, and a dispute's events out of order froze or booked differently."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.integrations.stripe import idempotency_key
from app.models import Contract, Dispute, Payment, PayoutAccount, Transfer
from app.models import Payout as PayoutRow
from app.models.stripe_event import StripeDispute
from app.services.money import ledger
from app.services.money.stripe_events import process_event, record_event
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import create_contract
from tests.money_support import (
    Forwarder,
    fund,
    funded_contract,
    funds_available,
    make_releasable,
    money_worker,
    onboard,
    settle,
)

Snapshot = Callable[[AsyncSession], Awaitable[Any]]


def _new_events(sandbox: RunningSandbox, forwarder: Forwarder, types: set[str]) -> list[dict]:
    """The sandbox's events of `types` not forwarded yet (marked as forwarded: the test
    delivers them itself); the others are left for the forwarder."""
    found = [e for e in sandbox.events() if e["id"] not in forwarder.seen and e["type"] in types]
    forwarder.seen.update(e["id"] for e in found)
    return found


async def _every_order(
    app: FastAPI,
    clock: Clock,
    events: list[dict],
    snapshot: Snapshot,
    *,
    distinct_times: bool = True,
) -> Any:
    """Process `events` in every order, each from the same starting state; the one end state
    they all reached (the test fails naming the first order that differs)."""
    if distinct_times:
        assert len({e["created"] for e in events}) == len(events), "events need distinct times"
    results: dict[tuple[str, ...], Any] = {}
    for order in itertools.permutations(events):
        async with app.state.resources.database.sessionmaker() as session:
            transaction = await session.begin()
            try:
                for event in order:
                    await record_event(session, event, clock.now())
                    await process_event(session, event["id"], clock.now())
                results[tuple(e["type"] for e in order)] = await snapshot(session)
            finally:
                await transaction.rollback()
    in_order = results[tuple(e["type"] for e in events)]
    for order, state in results.items():
        assert state == in_order, f"{' → '.join(order)} ended in {state}, not {in_order}"
    return in_order


async def test_payment_intent_failed_then_succeeded_in_any_order(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    deal, contract = await create_contract(stripe_api)
    await onboard(stripe_api, stripe_sandbox, deal)
    declined = await fund(stripe_api, deal, contract["id"], "pm_card_chargeDeclined")
    assert declined.status_code == 402, declined.text
    stripe_sandbox.set_clock(advance=60)
    paid = await fund(stripe_api, deal, contract["id"], "pm_card_visa")
    assert paid.status_code == 200, paid.text
    events = _new_events(
        stripe_sandbox,
        forwarder,
        {"payment_intent.payment_failed", "payment_intent.succeeded"},
    )
    await settle(money_worker(stripe_app, clock), forwarder)

    async def snapshot(session: AsyncSession) -> Any:
        payment = await session.scalar(select(Payment).where(Payment.contract_id == contract["id"]))
        state = await session.scalar(select(Contract.state).where(Contract.id == contract["id"]))
        money = await ledger.contract_balances(session, contract["id"])
        assert payment is not None
        return (payment.status, payment.failure_code, state, money.funded, money.fees)

    end = await _every_order(stripe_app, clock, events, snapshot)
    assert end == ("succeeded", None, "active", 120_000, 6_000)


async def test_payout_paid_then_failed_in_any_order(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    stripe_sandbox.set_clock(clock.now().timestamp())
    worker = money_worker(stripe_app, clock, payout_mode="per_transfer")
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    await make_releasable(stripe_app, clock, funded.milestone_ids[0])
    await settle(worker, forwarder)
    # The payout waits until Stripe makes the charge's funds available.
    await funds_available(stripe_sandbox, clock, worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        payout_id = await session.scalar(select(PayoutRow.stripe_payout_id))
    assert payout_id is not None
    stripe_sandbox.pay_payout(payout_id)
    stripe_sandbox.set_clock(advance=60)
    # The bank returned it after Stripe said paid: Stripe then sends payout.failed.
    stripe_sandbox.fail_payout(payout_id, "account_closed", "The bank account has been closed")
    events = _new_events(stripe_sandbox, forwarder, {"payout.paid", "payout.failed"})

    async def snapshot(session: AsyncSession) -> Any:
        row = await session.scalar(
            select(PayoutRow)
            .where(PayoutRow.stripe_payout_id == payout_id)
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return (row.status, row.failure_code)

    assert await _every_order(stripe_app, clock, events, snapshot) == ("failed", "account_closed")


async def test_account_updated_in_any_order(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    deal, _ = await create_contract(stripe_api)
    account_id = await onboard(stripe_api, stripe_sandbox, deal, complete=False)
    stripe_sandbox.complete_onboarding(account_id)
    stripe_sandbox.set_clock(advance=60)
    stripe_sandbox.require_information(account_id, ["individual.verification.document"])
    events = _new_events(stripe_sandbox, forwarder, {"account.updated"})

    async def snapshot(session: AsyncSession) -> Any:
        row = await session.scalar(
            select(PayoutAccount)
            .where(PayoutAccount.stripe_account_id == account_id)
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return (row.payouts_enabled, tuple(row.requirements_due))

    # Onboarding's two account.updated (capability review) share a second; the third is later.
    end = await _every_order(stripe_app, clock, events, snapshot, distinct_times=False)
    assert end[0] is False and "individual.verification.document" in end[1]


async def test_onboardings_two_account_updates_in_the_same_second_in_either_order(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    """With capability review (Stripe's way, the sandbox's default) completing onboarding sends
    account.updated with capabilities `pending`, then with them `active` and payouts enabled,
    both in the same `created` second. Before ranking by the account's progress, the pending
    one delivered last disabled payouts again."""
    stripe_sandbox.set_options(capability_review=True)
    deal, _ = await create_contract(stripe_api)
    account_id = await onboard(stripe_api, stripe_sandbox, deal, complete=False)
    stripe_sandbox.complete_onboarding(account_id)
    events = _new_events(stripe_sandbox, forwarder, {"account.updated"})
    assert len(events) == 2 and events[0]["created"] == events[1]["created"]
    assert events[0]["data"]["object"]["capabilities"]["transfers"] == "pending"

    async def snapshot(session: AsyncSession) -> Any:
        row = await session.scalar(
            select(PayoutAccount)
            .where(PayoutAccount.stripe_account_id == account_id)
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return (row.payouts_enabled, row.transfers_capability)

    end = await _every_order(stripe_app, clock, events, snapshot, distinct_times=False)
    assert end == (True, "active")


async def test_transfer_reversed_in_any_order(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first = funded.milestone_ids[0]
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    gateway = stripe_app.state.resources.stripe
    (transfer,) = await gateway.list_transfers(transfer_group=funded.contract_id)
    # The transfer left in USD (the charge settled in USD at 1.1): 200.00 and 150.00 EUR.
    for n, amount in enumerate((22_000, 16_500)):
        await gateway.create_transfer_reversal(
            transfer.id, amount=amount, idempotency_key=idempotency_key("reversal", first, n)
        )
        stripe_sandbox.set_clock(advance=60)
    events = _new_events(stripe_sandbox, forwarder, {"transfer.reversed"})

    async def snapshot(session: AsyncSession) -> Any:
        row = await session.scalar(
            select(Transfer)
            .where(Transfer.milestone_id == first)
            .execution_options(populate_existing=True)
        )
        money = await ledger.contract_balances(session, funded.contract_id)
        assert row is not None
        return (row.amount_reversed, money.transferred, money.payable)

    assert await _every_order(stripe_app, clock, events, snapshot) == (35_000, 25_000, 35_000)


DISPUTE_TYPES = {
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
}


async def _disputed(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
    *,
    kind: str,
    outcome: str | None,
) -> tuple[str, list[dict]]:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    await make_releasable(stripe_app, clock, funded.milestone_ids[0])
    await settle(worker, forwarder)
    funding = await stripe_api.get(
        f"/v1/contracts/{funded.contract_id}/funding", headers=funded.deal.brand_owner.headers
    )
    dispute = stripe_sandbox.dispute(funding.json()["charge_id"], kind=kind)
    stripe_sandbox.set_clock(advance=60)
    stripe_sandbox.submit_dispute_evidence(dispute["id"], {"product_description": "Reels"})
    stripe_sandbox.set_clock(advance=60)
    stripe_sandbox.close_dispute(dispute["id"], outcome)
    events = _new_events(stripe_sandbox, forwarder, DISPUTE_TYPES)
    # Events created in the same step share a second: spread them as Stripe's would be.
    for n, event in enumerate(events):
        event["created"] += n
    return funded.contract_id, events


def _card_fee(sandbox: RunningSandbox, contract_id: str) -> int:
    """Stripe's fee on the contract's charge (USD), booked at funding."""
    (charge,) = sandbox.client().v1.charges.list({"transfer_group": contract_id}).data
    txn = sandbox.client().v1.balance_transactions.retrieve(charge.balance_transaction)
    return txn.fee


def _dispute_snapshot(contract_id: str) -> Snapshot:
    async def snapshot(session: AsyncSession) -> Any:
        record = await session.scalar(
            select(StripeDispute)
            .where(StripeDispute.contract_id == contract_id)
            .execution_options(populate_existing=True)
        )
        assert record is not None
        state = await session.scalar(select(Contract.state).where(Contract.id == contract_id))
        unsettled = await session.scalar(
            select(func.count())
            .select_from(Dispute)
            .where(Dispute.contract_id == contract_id, Dispute.state.in_(["open", "escalated"]))
        )
        money = await ledger.contract_balances(session, contract_id)
        # Stripe's fees in USD (the settlement currency), the charge's card fee included.
        fees = await ledger.account_balance(session, ledger.STRIPE_FEES, "USD")
        return {
            "status": record.status,
            "closed": record.closed_at is not None,
            "withdrawn": record.funds_withdrawn,
            "reinstated": record.funds_reinstated,
            "fee": record.dispute_fee,
            "contract": state,
            "unsettled_records": unsettled,
            "charged_back": money.charged_back,
            "in_escrow": money.in_escrow,
            "loss": money.chargeback_loss,
            "stripe_fees": fees,
            "problems": await ledger.check_invariants(session),
        }

    return snapshot


async def test_a_won_chargeback_in_any_order(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    contract_id, events = await _disputed(
        stripe_app, stripe_api, stripe_sandbox, forwarder, clock, kind="chargeback", outcome="won"
    )
    assert {e["type"] for e in events} == DISPUTE_TYPES
    end = await _every_order(stripe_app, clock, events, _dispute_snapshot(contract_id))
    assert (end["status"], end["contract"], end["unsettled_records"]) == ("won", "active", 0)
    fee = _card_fee(stripe_sandbox, contract_id)
    assert (end["charged_back"], end["in_escrow"], end["stripe_fees"]) == (0, 60_000, fee)
    assert end["problems"] == []


async def test_a_lost_chargeback_in_any_order(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    contract_id, events = await _disputed(
        stripe_app, stripe_api, stripe_sandbox, forwarder, clock, kind="chargeback", outcome="lost"
    )
    end = await _every_order(stripe_app, clock, events, _dispute_snapshot(contract_id))
    assert (end["status"], end["contract"], end["unsettled_records"]) == ("lost", "disputed", 1)
    fee = _card_fee(stripe_sandbox, contract_id) + 1_500  # Stripe's US dispute fee
    assert (end["charged_back"], end["loss"], end["stripe_fees"]) == (126_000, 66_000, fee)


async def test_an_inquiry_in_any_order(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    contract_id, events = await _disputed(
        stripe_app, stripe_api, stripe_sandbox, forwarder, clock, kind="inquiry", outcome=None
    )
    end = await _every_order(stripe_app, clock, events, _dispute_snapshot(contract_id))
    assert (end["status"], end["contract"], end["unsettled_records"]) == (
        "warning_closed",
        "active",
        0,
    )
    fee = _card_fee(stripe_sandbox, contract_id)
    assert (end["charged_back"], end["withdrawn"], end["stripe_fees"]) == (0, 0, fee)
