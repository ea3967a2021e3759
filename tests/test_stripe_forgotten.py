"""A wiped sandbox (or a key of another Stripe account) does not strand creators (issue 10,
item 3, the app's side): the database names Stripe objects the configured Stripe does not know;
`/readyz` says so with the count and an example, the payout account is never shown `enabled`,
and the creator onboards again onto a fresh account. Real SDK, real HTTP, the real sandbox
(its reset is the wipe)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.clock import Clock
from app.models import Job, PayoutAccount
from app.services.money import ledger
from app.services.money.releases import TRANSFER_TOPIC
from app.services.money.stripe_health import startup_report
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import create_contract
from tests.money_support import (
    Forwarder,
    funded_contract,
    make_releasable,
    milestone_states,
    money_worker,
    onboard,
    settle,
)

ONBOARDING = "/v1/influencers/me/payouts/onboarding"
ACCOUNT = "/v1/influencers/me/payouts/account"


async def test_a_wiped_stripe_is_reported_and_the_creator_onboards_again(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    worker = money_worker(stripe_app, clock)
    deal, _ = await create_contract(stripe_api)
    old_account = await onboard(stripe_api, stripe_sandbox, deal)
    await settle(worker, forwarder)
    status = (await stripe_api.get(ACCOUNT, headers=deal.influencer.headers)).json()
    assert status["status"] == "enabled"
    ready = (await stripe_api.get("/readyz")).json()
    assert ready["status"] == "ok" and ready["stripe"]["status"] == "ok", ready

    stripe_sandbox.reset()  # the sandbox forgets everything; our database does not
    forwarder.seen.clear()

    # The status never claims `enabled` for an account Stripe does not know.
    status = (await stripe_api.get(ACCOUNT, headers=deal.influencer.headers)).json()
    assert status["status"] == "account_unknown", status
    assert status["payouts_enabled"] is False and status["transfers_enabled"] is False
    assert status["money_waits"] is True and "onboarding again" in status["note"]
    earnings = await stripe_api.get("/v1/influencers/me/earnings", headers=deal.influencer.headers)
    assert earnings.json()["transfers_enabled"] is False

    # /readyz says so plainly: 200 (the API serves), degraded, the count and an example.
    ready_response = await stripe_api.get("/readyz")
    assert ready_response.status_code == 200
    ready = ready_response.json()
    assert ready["status"] == "degraded"
    assert ready["stripe"]["status"] == "unknown_objects"
    # The account was sampled (and cached as known) before the wipe; the status read above
    # found it unknown: either way it is counted and named.
    assert ready["stripe"]["example"] == old_account
    assert ready["stripe"]["accounts_to_reonboard"] == 1
    assert "unknown to the configured Stripe" in ready["stripe"]["detail"]
    # …and so does `rapport serve` at startup.
    line = await startup_report(stripe_app.state.resources.settings, wait_seconds=0)
    assert line is not None and "unknown to the configured Stripe" in line

    # Onboarding again makes a fresh account instead of a 502 resource_missing forever.
    again = await stripe_api.post(ONBOARDING, headers=deal.influencer.headers)
    assert again.status_code == 201, again.text
    new_account = again.json()["account_id"]
    assert new_account != old_account
    assert [a.id for a in stripe_sandbox.client().v1.accounts.list().data] == [new_account]
    status = (await stripe_api.get(ACCOUNT, headers=deal.influencer.headers)).json()
    assert status["status"] == "onboarding" and status["account_id"] == new_account
    # A second call keeps the new account.
    third = await stripe_api.post(ONBOARDING, headers=deal.influencer.headers)
    assert third.json()["account_id"] == new_account

    stripe_sandbox.complete_onboarding(new_account)
    await settle(worker, forwarder)
    status = (await stripe_api.get(ACCOUNT, headers=deal.influencer.headers)).json()
    assert status["status"] == "enabled", status


async def test_readyz_samples_stored_ids_at_stripe(
    stripe_api: httpx.AsyncClient, stripe_sandbox: RunningSandbox
) -> None:
    deal, contract = await create_contract(stripe_api)
    funding = await stripe_api.post(
        f"/v1/contracts/{contract['id']}/funding", headers=deal.brand_owner.headers
    )
    assert funding.status_code == 200, funding.text
    account = await onboard(stripe_api, stripe_sandbox, deal, complete=False)
    stripe_sandbox.reset()
    ready = (await stripe_api.get("/readyz")).json()
    assert ready["status"] == "degraded"
    assert ready["stripe"] == {
        "status": "unknown_objects",
        "checked": 2,  # the payout account and the PaymentIntent
        "unknown": 2,
        "example": account,
        "accounts_to_reonboard": 0,
        "detail": ready["stripe"]["detail"],
    }
    assert ready["stripe"]["detail"].startswith("2 of 2 sampled Stripe ids")


async def test_concurrent_reonboarding_after_a_wipe_makes_one_fresh_account(
    stripe_api: httpx.AsyncClient, stripe_sandbox: RunningSandbox
) -> None:
    deal, _ = await create_contract(stripe_api)
    old_account = await onboard(stripe_api, stripe_sandbox, deal, complete=False)
    stripe_sandbox.reset()
    responses = await asyncio.gather(
        *(stripe_api.post(ONBOARDING, headers=deal.influencer.headers) for _ in range(3))
    )
    assert [r.status_code for r in responses] == [201] * 3, [r.text for r in responses]
    ids = {r.json()["account_id"] for r in responses}
    assert len(ids) == 1 and old_account not in ids
    assert [a.id for a in stripe_sandbox.client().v1.accounts.list().data] == list(ids)


async def test_readyz_skips_stripe_when_nothing_is_stored(stripe_api: httpx.AsyncClient) -> None:
    ready = (await stripe_api.get("/readyz")).json()
    assert ready["status"] == "ok"
    assert ready["stripe"]["status"] == "skipped"


async def test_a_transfer_to_an_account_stripe_no_longer_knows_waits_for_onboarding_again(
    stripe_app: FastAPI,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    forwarder: Forwarder,
    clock: Clock,
) -> None:
    """Stripe answers "No such destination" (the account our row names is not this Stripe's:
    a key of another Stripe account, a wiped test mode). Before the fix the transfer was
    dead-lettered for good; now the account is marked unknown, the transfer waits, and it is
    made to the creator's new account once they onboarded again."""
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first = funded.milestone_ids[0]
    async with stripe_app.state.resources.database.sessionmaker() as session, session.begin():
        row = await session.scalar(
            select(PayoutAccount).where(PayoutAccount.stripe_account_id == funded.account_id)
        )
        assert row is not None
        row.stripe_account_id = "acct_NotKnownToThisStripe"
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)

    async with stripe_app.state.resources.database.sessionmaker() as session:
        dead = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.topic == TRANSFER_TOPIC, Job.state == "dead")
        )
    assert dead == 0
    assert (
        await stripe_app.state.resources.stripe.list_transfers(transfer_group=funded.contract_id)
        == []
    )
    status = (await stripe_api.get(ACCOUNT, headers=funded.deal.influencer.headers)).json()
    assert status["status"] == "account_unknown" and status["money_waits"] is True
    assert (await milestone_states(stripe_app, funded.contract_id))[first] == "released"

    # The creator onboards again: a fresh account; its account.updated enqueues the transfer.
    new_account = await onboard(stripe_api, stripe_sandbox, funded.deal)
    assert new_account not in (funded.account_id, "acct_NotKnownToThisStripe")
    await settle(worker, forwarder)
    (transfer,) = await stripe_app.state.resources.stripe.list_transfers(
        transfer_group=funded.contract_id
    )
    assert transfer.destination == new_account
    assert transfer.metadata["rapport_milestone_id"] == first
    async with stripe_app.state.resources.database.sessionmaker() as session:
        money = await ledger.contract_balances(session, funded.contract_id)
    assert money.transferred == 60_000
