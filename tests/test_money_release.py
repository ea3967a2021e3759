"""Release → transfer → payout, refunds, chargebacks, reversals, earnings and reconciliation
(docs/payments.md), through the real SDK against the Stripe sandbox."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from app.clock import Clock
from app.integrations.stripe import idempotency_key
from app.models import Job, JobState, Payout, Refund, Transfer
from app.services.money import ledger
from app.services.money.reconcile import reconcile
from app.services.workflow.outbox import enqueue
from app.settings import get_settings
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import relogin
from tests.money_support import (
    AVAILABILITY_WAIT,
    Forwarder,
    assert_sound,
    funded_contract,
    funds_available,
    make_releasable,
    milestone_states,
    money_worker,
    set_contract_state,
    settle,
    transfers_per_milestone,
)


async def earnings(api: httpx.AsyncClient, funded: Any) -> dict[str, Any]:
    response = await api.get("/v1/influencers/me/earnings", headers=funded.deal.influencer.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_releasable_milestone_is_released_and_transferred_once(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, second = funded.milestone_ids
    before = await earnings(stripe_api, funded)
    assert before["currencies"][0]["in_escrow"] == 120_000
    assert {m["money_state"] for m in before["milestones"]} == {"in_escrow"}

    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    assert (await milestone_states(stripe_app, funded.contract_id))[first] == "released"
    assert await transfers_per_milestone(stripe_app, funded.contract_id) == {first: 1}
    transfer = (
        await stripe_app.state.resources.stripe.list_transfers(transfer_group=funded.contract_id)
    )[0]
    # In USD, the currency the EUR charge settled in, at its rate (1.1): 600.00 EUR → 660.00.
    assert (transfer.amount, transfer.currency) == (66_000, "usd")
    assert transfer.destination == funded.account_id
    assert transfer.source_transaction.startswith("ch_")
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
        assert (money.released, money.transferred, money.in_escrow) == (60_000, 60_000, 60_000)
        row = await session.scalar(select(Transfer).where(Transfer.milestone_id == first))
        assert row is not None and row.stripe_transfer_id == transfer.id
    after = await earnings(stripe_api, funded)
    by_id = {m["milestone_id"]: m for m in after["milestones"]}
    assert by_id[first]["money_state"] == "transferred"
    assert by_id[first]["transfer_id"] == transfer.id
    assert by_id[second]["money_state"] == "in_escrow"
    totals = after["currencies"][0]
    assert (totals["in_escrow"], totals["transferred"]) == (60_000, 60_000)

    # The release job enqueued again (delivery retried, an operator pressed the button): nothing.
    async with stripe_app.state.resources.database.sessionmaker() as session, session.begin():
        await enqueue(session, "money.release_milestone", {"milestone_id": first}, now=clock.now())
    await settle(worker, forwarder)
    assert await transfers_per_milestone(stripe_app, funded.contract_id) == {first: 1}
    await assert_sound(stripe_app)


async def test_money_waits_for_payouts_enabled_and_moves_when_stripe_enables_them(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder, onboarded=False)
    first, _ = funded.milestone_ids
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    assert (await milestone_states(stripe_app, funded.contract_id))[first] == "released"
    assert await transfers_per_milestone(stripe_app, funded.contract_id) == {}
    waiting = {m["milestone_id"]: m for m in (await earnings(stripe_api, funded))["milestones"]}
    assert waiting[first]["money_state"] == "released"
    assert waiting[first]["waiting_for"] == "payouts_enabled"
    assert (await earnings(stripe_api, funded))["currencies"][0]["released"] == 60_000

    stripe_sandbox.complete_onboarding(funded.account_id)
    await settle(worker, forwarder)
    assert await transfers_per_milestone(stripe_app, funded.contract_id) == {first: 1}
    moved = {m["milestone_id"]: m for m in (await earnings(stripe_api, funded))["milestones"]}
    assert moved[first]["money_state"] == "transferred" and moved[first]["waiting_for"] is None
    await assert_sound(stripe_app)


async def test_a_disputed_contract_holds_its_money_until_it_is_resolved(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, _ = funded.milestone_ids
    await make_releasable(stripe_app, clock, first)
    await set_contract_state(stripe_app, funded.contract_id, "disputed")
    await settle(worker, forwarder)
    assert (await milestone_states(stripe_app, funded.contract_id))[first] == "releasable"
    assert await transfers_per_milestone(stripe_app, funded.contract_id) == {}
    frozen = {m["milestone_id"]: m for m in (await earnings(stripe_api, funded))["milestones"]}
    assert frozen[first]["money_state"] == "frozen"
    async with stripe_app.state.resources.database.sessionmaker() as session:
        held = list(
            await session.scalars(
                select(Job).where(
                    Job.topic == "money.release_milestone", Job.state == JobState.pending
                )
            )
        )
        assert [j.payload["hold"] for j in held] == [1]
        assert held[0].run_after > clock.now()

    await set_contract_state(stripe_app, funded.contract_id, "resolved")
    clock.advance(held[0].run_after - clock.now())
    await settle(worker, forwarder)
    assert (await milestone_states(stripe_app, funded.contract_id))[first] == "released"
    assert await transfers_per_milestone(stripe_app, funded.contract_id) == {first: 1}
    await assert_sound(stripe_app)


async def test_refunds_return_only_unreleased_money(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, second = funded.milestone_ids
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    # A partial refund, then everything unreleased; the same job twice refunds once.
    async with stripe_app.state.resources.database.sessionmaker() as session, session.begin():
        await enqueue(
            session,
            "money.refund_contract",
            {"contract_id": funded.contract_id, "amount": 10_000, "reason": "partial"},
            now=clock.now(),
            idempotency_key="resolution:1",
        )
        await enqueue(
            session,
            "money.refund_contract",
            {"contract_id": funded.contract_id, "amount": "unreleased"},
            now=clock.now(),
            idempotency_key="resolution:2",
        )
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session, session.begin():
        job = await session.scalar(select(Job).where(Job.idempotency_key == "resolution:2"))
        assert job is not None and job.state == JobState.succeeded
        job.state, job.run_after = JobState.pending, clock.now()
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
        refunds = list(await session.scalars(select(Refund).order_by(Refund.seq)))
    assert (money.refunded, money.in_escrow, money.transferred) == (60_000, 0, 60_000)
    assert [(r.seq, r.amount, r.status) for r in refunds] == [
        (1, 10_000, "succeeded"),
        (2, 50_000, "succeeded"),
    ]
    assert [r.stripe_idempotency_key for r in refunds] == [
        idempotency_key("refund", funded.contract_id, 1),
        idempotency_key("refund", funded.contract_id, 2),
    ]
    # Nothing is left to release: the second milestone's release is refused, visibly.
    await make_releasable(stripe_app, clock, second)
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        dead = await session.scalar(
            select(Job).where(Job.topic == "money.release_milestone", Job.state == JobState.dead)
        )
        assert dead is not None and "held in escrow" in (dead.last_error or "")
    await assert_sound(stripe_app)


async def test_a_refundable_milestone_is_refunded_and_marked(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    from app.models import Milestone
    from app.services.delivery.milestones import MILESTONES
    from app.services.workflow.state_machine import Actor

    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    _, second = funded.milestone_ids
    async with stripe_app.state.resources.database.sessionmaker() as session, session.begin():
        milestone = await session.get(Milestone, second)
        await MILESTONES.fire(session, milestone, "refund", Actor("system", "t"), clock.now())
    await settle(worker, forwarder)
    assert (await milestone_states(stripe_app, funded.contract_id))[second] == "refunded"
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
    assert (money.refunded, money.in_escrow) == (60_000, 60_000)
    await assert_sound(stripe_app)


async def test_a_chargeback_freezes_the_contract_and_books_the_loss(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, second = funded.milestone_ids
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    funding = (
        await stripe_api.get(
            f"/v1/contracts/{funded.contract_id}/funding", headers=funded.deal.brand_owner.headers
        )
    ).json()
    dispute = stripe_sandbox.dispute(funding["charge_id"])
    await settle(worker, forwarder)
    got = await stripe_api.get(
        f"/v1/contracts/{funded.contract_id}", headers=funded.deal.brand_owner.headers
    )
    assert got.json()["state"] == "disputed"
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
    # 126,000 taken back: the 60,000 still in escrow, the rest (released + fee) a loss.
    assert money.charged_back == 126_000 and money.in_escrow == 0
    assert money.chargeback_loss == 66_000
    await assert_sound(stripe_app)

    stripe_sandbox.close_dispute(dispute["id"], "won")
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
    assert money.charged_back == 0 and money.in_escrow == 60_000
    await assert_sound(stripe_app)
    assert (await milestone_states(stripe_app, funded.contract_id))[second] == "pending"


async def test_a_reversed_transfer_is_booked(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, _ = funded.milestone_ids
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    (transfer,) = await stripe_app.state.resources.stripe.list_transfers(
        transfer_group=funded.contract_id
    )
    await stripe_app.state.resources.stripe.create_transfer_reversal(
        # 220.00 USD: 200.00 EUR at the charge's rate.
        transfer.id,
        amount=22_000,
        idempotency_key=idempotency_key("reversal", first),
    )
    await settle(worker, forwarder)
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
        row = await session.scalar(select(Transfer).where(Transfer.milestone_id == first))
    assert money.transferred == 40_000 and money.payable == 20_000
    assert row is not None and row.amount_reversed == 20_000
    await assert_sound(stripe_app)


async def test_payouts_are_recorded_with_their_failure_reason(
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
    # In SEK: the USD transfers landed converted on the Swedish creator's account (its bank
    # account's currency), Stripe's conversion.
    assert [(p.currency, p.status) for p in payouts] == [("SEK", "pending"), ("SEK", "pending")]
    landed = payouts[0].amount
    assert landed > 0 and payouts[1].amount == landed
    stripe_sandbox.pay_payout(payouts[0].stripe_payout_id)
    stripe_sandbox.fail_payout(payouts[1].stripe_payout_id, "account_closed")
    await settle(worker, forwarder)
    influencer = (await relogin(stripe_api, funded.deal.influencer)).headers  # days later
    got = await stripe_api.get("/v1/influencers/me/earnings", headers=influencer)
    currencies = {c["currency"]: c for c in got.json()["currencies"]}
    assert currencies["EUR"]["transferred"] == 120_000
    totals = currencies["SEK"]
    assert totals["paid_out"] == landed
    (failed,) = totals["failed_payouts"]
    assert failed["failure_code"] == "account_closed" and failed["failure_message"]
    await assert_sound(stripe_app)


async def test_reconcile_reports_money_stripe_moved_behind_the_ledgers_back(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, _ = funded.milestone_ids
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    await assert_sound(stripe_app)
    # Someone pays the milestone again by hand, outside Rapport, once the platform's funds are
    # available (a transfer without `source_transaction` needs available funds).
    stripe_sandbox.set_clock(advance=AVAILABILITY_WAIT)
    gateway = stripe_app.state.resources.stripe
    await gateway.create_transfer(
        amount=66_000,
        currency="USD",
        destination=funded.account_id,
        transfer_group=funded.contract_id,
        metadata={"rapport_milestone_id": first},
        idempotency_key="by-hand:1",
    )
    async with stripe_app.state.resources.database.sessionmaker() as session:
        report = await reconcile(session, gateway)
    kinds = sorted(d.kind for d in report.differences)
    assert kinds == ["balance_mismatch", "duplicate_transfer", "missing_in_ledger"]
    assert not report.ok

    # The command says the same and exits 1.
    settings = stripe_app.state.resources.settings
    monkeypatch.setenv("RAPPORT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RAPPORT_STRIPE_API_BASE", settings.stripe_api_base)
    monkeypatch.setenv("RAPPORT_STRIPE_API_KEY", settings.stripe_api_key.get_secret_value())
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(CliRunner().invoke, cli, ["reconcile"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "duplicate_transfer" in result.output and "3 difference(s)" in result.output


async def test_a_partial_refund_settlement_pays_the_rest_to_the_influencer(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    from app.models import Milestone

    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first, second = funded.milestone_ids
    # An operator's resolution: milestones cancelled, 50,000 back to the brand, the rest
    # (70,000) to the influencer (the payload of app/services/delivery/disputes.py).
    async with stripe_app.state.resources.database.sessionmaker() as session, session.begin():
        for milestone in await session.scalars(
            select(Milestone).where(Milestone.id.in_([first, second]))
        ):
            milestone.state = "cancelled"
        await enqueue(
            session,
            "money.refund_contract",
            {
                "contract_id": funded.contract_id,
                "amount": 50_000,
                "resolution": "partial_refund",
                "unreleased_amount": 120_000,
                "remainder_to_influencer": 70_000,
                "milestone_ids": [first, second],
            },
            now=clock.now(),
            idempotency_key="resolution:partial",
        )
    await settle(worker, forwarder)
    transfers = await stripe_app.state.resources.stripe.list_transfers(
        transfer_group=funded.contract_id
    )
    assert sorted((t.metadata["rapport_milestone_id"], t.amount) for t in transfers) == sorted(
        [(first, 66_000), (second, 11_000)]  # in USD, at the charge's rate (1.1)
    )
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
    assert (money.refunded, money.transferred, money.in_escrow) == (50_000, 70_000, 0)
    await assert_sound(stripe_app)
