"""Helpers for the money tests: a worker wired to the sandbox gateway, Stripe's events forwarded
to the app (signed, over ASGI, against the app's frozen clock), and a funded contract whose
influencer can receive transfers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.clock import Clock
from app.integrations.stripe import StripeGateway
from app.models import Contract, Milestone
from app.services.delivery.milestones import MILESTONES
from app.services.money import ledger
from app.services.money.reconcile import reconcile
from app.services.workflow.jobs import JobResources
from app.services.workflow.state_machine import Actor
from app.settings import Settings
from app.worker.runner import Worker
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import Deal, create_contract
from tests.stripe_support import WEBHOOK_PATH, sign


def money_worker(
    app: FastAPI,
    clock: Clock,
    *,
    gateway: StripeGateway | None = None,
    concurrency: int = 1,
    **settings: Any,
) -> Worker:
    base: Settings = app.state.resources.settings
    return Worker(
        app.state.resources.database,
        clock,
        concurrency=concurrency,
        resources=JobResources(
            stripe=gateway or app.state.resources.stripe,
            settings=base.model_copy(update=settings) if settings else base,
        ),
    )


class Forwarder:
    """Stripe's webhooks without a server: every sandbox event not forwarded yet is POSTed,
    signed, to the app's webhook endpoint (the way the sandbox would deliver it)."""

    def __init__(self, sandbox: RunningSandbox, api: httpx.AsyncClient, clock: Clock) -> None:
        self.sandbox, self.api, self.clock = sandbox, api, clock
        self.seen: set[str] = set()

    async def forward(self, *, times: int = 1) -> list[dict[str, Any]]:
        sent = []
        for event in self.sandbox.events():
            if event["id"] in self.seen:
                continue
            self.seen.add(event["id"])
            for _ in range(times):
                await self.post(event)
            sent.append(event)
        return sent

    async def post(self, event: dict[str, Any]) -> httpx.Response:
        payload = json.dumps(event)
        response = await self.api.post(
            WEBHOOK_PATH,
            content=payload.encode(),
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign(payload, at=self.clock.now()),
            },
        )
        assert response.status_code == 200, response.text
        return response


@dataclass
class Funded:
    deal: Deal
    contract: dict[str, Any]
    account_id: str

    @property
    def contract_id(self) -> str:
        return self.contract["id"]

    @property
    def milestone_ids(self) -> list[str]:
        return [m["id"] for m in self.contract["milestones"]]


async def settle(worker: Worker, forwarder: Forwarder, rounds: int = 4) -> None:
    """Run the worker and forward Stripe's events until both are quiet."""
    for _ in range(rounds):
        report = await worker.run_once()
        sent = await forwarder.forward()
        if not sent and not report.did_work:
            return


# Stripe US makes a charge's funds available 2 days after it (the sandbox's default); a day
# more for an account under the recipient service agreement. A little over that.
AVAILABILITY_WAIT = 3 * 86_400 + 120


async def funds_available(
    sandbox: RunningSandbox, clock: Clock, worker: Worker, forwarder: Forwarder
) -> None:
    """Move both clocks past Stripe's availability delay (the sandbox's clock first: it makes
    the funds available and pays out what is due), then run the worker and forward Stripe's
    events: the payouts that waited for the funds are made. Needs the clocks in step
    (`sandbox.set_clock(clock.now().timestamp())` before the money moved)."""
    sandbox.set_clock(advance=AVAILABILITY_WAIT)
    clock.advance(timedelta(seconds=AVAILABILITY_WAIT))
    await settle(worker, forwarder)


async def onboard(
    api: httpx.AsyncClient, sandbox: RunningSandbox, deal: Deal, *, complete: bool = True
) -> str:
    response = await api.post(
        "/v1/influencers/me/payouts/onboarding", headers=deal.influencer.headers
    )
    assert response.status_code == 201, response.text
    account_id = response.json()["account_id"]
    if complete:
        sandbox.complete_onboarding(account_id)
    return account_id


async def fund(api: httpx.AsyncClient, deal: Deal, contract_id: str, pm: str = "pm_card_visa"):
    response = await api.post(
        f"/v1/contracts/{contract_id}/funding", headers=deal.brand_owner.headers
    )
    assert response.status_code == 200, response.text
    return await api.post(
        f"/v1/contracts/{contract_id}/funding/confirm",
        json={"payment_method": pm},
        headers=deal.brand_owner.headers,
    )


async def funded_contract(
    api: httpx.AsyncClient,
    sandbox: RunningSandbox,
    worker: Worker,
    forwarder: Forwarder,
    *,
    onboarded: bool = True,
    **offer_fields: Any,
) -> Funded:
    """An accepted contract, paid by the brand (webhook processed: `active`), whose influencer
    finished payout onboarding (or only started it)."""
    deal, contract = await create_contract(api, **offer_fields)
    account_id = await onboard(api, sandbox, deal, complete=onboarded)
    response = await fund(api, deal, contract["id"])
    assert response.status_code == 200, response.text
    await settle(worker, forwarder)
    got = await api.get(f"/v1/contracts/{contract['id']}", headers=deal.brand_owner.headers)
    assert got.json()["state"] == "active", got.json()
    return Funded(deal, got.json(), account_id)


async def make_releasable(app: FastAPI, clock: Clock, *milestone_ids: str) -> None:
    """Delivery's move (`pending → releasable`, as when a milestone's deliverables are all
    confirmed): it enqueues `money.release_milestone`."""
    async with app.state.resources.database.sessionmaker() as session, session.begin():
        for milestone_id in milestone_ids:
            milestone = await session.get(Milestone, milestone_id)
            await MILESTONES.fire(
                session, milestone, "release", Actor("system", "test"), clock.now()
            )


async def set_contract_state(app: FastAPI, contract_id: str, state: str) -> None:
    async with app.state.resources.database.sessionmaker() as session, session.begin():
        contract = await session.get(Contract, contract_id)
        assert contract is not None
        contract.state = state


async def milestone_states(app: FastAPI, contract_id: str) -> dict[str, str]:
    async with app.state.resources.database.sessionmaker() as session:
        rows = await session.execute(
            select(Milestone.id, Milestone.state).where(Milestone.contract_id == contract_id)
        )
        return dict(rows.all())


async def assert_sound(app: FastAPI) -> None:
    """The ledger's invariants hold and reconciliation finds no difference with Stripe."""
    async with app.state.resources.database.sessionmaker() as session:
        assert await ledger.check_invariants(session) == []
        report = await reconcile(session, app.state.resources.stripe)
    assert report.differences == [], report.as_dict()


async def transfers_per_milestone(app: FastAPI, contract_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for transfer in await app.state.resources.stripe.list_transfers(transfer_group=contract_id):
        milestone = transfer.metadata["rapport_milestone_id"]
        counts[milestone] = counts.get(milestone, 0) + 1
    return counts


@pytest.fixture
def forwarder(
    stripe_sandbox: RunningSandbox, stripe_api: httpx.AsyncClient, clock: Clock
) -> Forwarder:
    return Forwarder(stripe_sandbox, stripe_api, clock)
