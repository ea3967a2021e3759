"""Helpers of the delivery tests: a funded contract with its parties, a worker whose money
handlers only record what delivery asked for (the real ones are the payments code's), and
small wrappers around the delivery routes."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.clock import rfc3339
from app.models import Job, Milestone, StateTransition
from app.services.delivery.milestones import MILESTONES
from app.services.workflow.jobs import ClaimedJob, JobContext, JobHandlers
from app.services.workflow.state_machine import Actor
from app.worker.runner import RunReport, Worker
from tests.factories import Account, Deal, active_contract, relogin

CAPTION_OK = "#ad Race-week oats: my breakfast before the long run."
CAPTION_BAD = "Race-week oats, my favourite breakfast! #sp"
MONEY_TOPICS = (
    "money.release_milestone",
    "money.refund_milestone",
    "money.refund_contract",
    "money.cancel_funding",
)


def proof_body(**fields: Any) -> dict[str, Any]:
    return {
        "url": "https://instagram.example/p/abc123",
        "published_at": "2026-11-24T12:00:00Z",  # T0: when `funded` funds the contract
        "platform_post_id": "abc123",
        "caption": CAPTION_OK,
    } | fields


@dataclass
class MoneyRecorder:
    """Handlers for the money topics that record each job instead of moving money."""

    jobs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    handlers: JobHandlers = field(default_factory=JobHandlers)

    def __post_init__(self) -> None:
        for topic in MONEY_TOPICS:
            self.handlers.register(topic)(self._record)

    async def _record(self, ctx: JobContext, job: ClaimedJob) -> None:
        self.jobs.append((job.topic, job.payload))

    def of(self, topic: str) -> list[dict[str, Any]]:
        return [p for t, p in self.jobs if t == topic]


@dataclass
class Delivery:
    """A funded contract, its parties (tokens renewed as the clock moves) and the worker."""

    client: httpx.AsyncClient
    app: Any
    deal: Deal
    contract: dict[str, Any]
    money: MoneyRecorder

    @property
    def brand(self) -> Account:
        return self.deal.brand_owner

    @property
    def influencer(self) -> Account:
        return self.deal.influencer

    @property
    def ids(self) -> list[str]:
        return [d["id"] for d in self.contract["deliverables"]]

    @property
    def milestone_ids(self) -> list[str]:
        return [m["id"] for m in self.contract["milestones"]]

    async def tick(self, delta: timedelta) -> None:
        """Move the clock and renew both parties' tokens (no worker)."""
        self.app.state.resources.clock.advance(delta)
        self.deal.brand_owner = await relogin(self.client, self.deal.brand_owner)
        self.deal.influencer = await relogin(self.client, self.deal.influencer)

    async def advance(self, delta: timedelta) -> RunReport:
        """Move the clock, renew both parties' tokens and run the worker once."""
        await self.tick(delta)
        return await self.run()

    async def run(self) -> RunReport:
        worker = Worker(
            self.app.state.resources.database,
            self.app.state.resources.clock,
            handlers=self.money.handlers,
            rng=random.Random(7),
        )
        return await worker.run_once()

    # --- routes ---------------------------------------------------------------------------

    async def get(self, deliverable_id: str, who: Account | None = None) -> dict[str, Any]:
        r = await self.client.get(
            f"/v1/deliverables/{deliverable_id}", headers=(who or self.brand).headers
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def contract_now(self) -> dict[str, Any]:
        r = await self.client.get(
            f"/v1/contracts/{self.contract['id']}", headers=self.brand.headers
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def draft(self, deliverable_id: str, caption: str = CAPTION_OK, **fields: Any):
        body = {"caption": caption, "media_urls": ["https://cdn.example/v1.mp4"]} | fields
        return await self.client.post(
            f"/v1/deliverables/{deliverable_id}/drafts", json=body, headers=self.influencer.headers
        )

    async def approve(self, draft_id: str, **body: Any):
        return await self.client.post(
            f"/v1/drafts/{draft_id}/approve", json=body or None, headers=self.brand.headers
        )

    async def request_changes(self, draft_id: str, feedback: str = "Show the carton"):
        return await self.client.post(
            f"/v1/drafts/{draft_id}/request-changes",
            json={"feedback": feedback},
            headers=self.brand.headers,
        )

    async def proof(self, deliverable_id: str, **fields: Any):
        # Published now (the test clock): never before the contract was funded.
        now = {"published_at": rfc3339(self.app.state.resources.clock.now())}
        return await self.client.post(
            f"/v1/deliverables/{deliverable_id}/proof",
            json=proof_body(**now | fields),
            headers=self.influencer.headers,
        )

    async def confirm(self, deliverable_id: str):
        return await self.client.post(
            f"/v1/deliverables/{deliverable_id}/proof/confirm", headers=self.brand.headers
        )

    async def dispute_proof(self, deliverable_id: str, reason: str = "The post is gone"):
        return await self.client.post(
            f"/v1/deliverables/{deliverable_id}/proof/dispute",
            json={"reason": reason},
            headers=self.brand.headers,
        )

    async def cancel(self, deliverable_id: str, who: Account, reason: str = "Too late"):
        return await self.client.post(
            f"/v1/deliverables/{deliverable_id}/cancel",
            json={"reason": reason},
            headers=who.headers,
        )

    async def publish(self, deliverable_id: str) -> dict[str, Any]:
        """Draft (when the policy asks) → approve → proof."""
        d = await self.get(deliverable_id)
        if d["draft_required"]:
            r = await self.draft(deliverable_id)
            assert r.status_code == 201, r.text
            r = await self.approve(r.json()["id"])
            assert r.status_code == 200, r.text
        r = await self.proof(deliverable_id)
        assert r.status_code == 201, r.text
        return r.json()

    # --- the database -----------------------------------------------------------------------

    async def jobs(self, topic: str) -> list[Job]:
        async with self.app.state.resources.database.sessionmaker() as session:
            rows = await session.scalars(
                select(Job).where(Job.topic == topic).order_by(Job.created_at, Job.id)
            )
            return list(rows)

    async def milestone_states(self) -> list[str]:
        async with self.app.state.resources.database.sessionmaker() as session:
            rows = await session.scalars(
                select(Milestone.state)
                .where(Milestone.contract_id == self.contract["id"])
                .order_by(Milestone.position)
            )
            return list(rows)

    async def audit(self, kind: str, object_id: str) -> list[StateTransition]:
        async with self.app.state.resources.database.sessionmaker() as session:
            rows = await session.scalars(
                select(StateTransition)
                .where(StateTransition.kind == kind, StateTransition.object_id == object_id)
                .order_by(StateTransition.at, StateTransition.id)
            )
            return list(rows)

    async def settle_milestone(self, milestone_id: str, action: str = "mark_released") -> None:
        """What the money code does once the money moved."""
        async with self.app.state.resources.database.sessionmaker() as session, session.begin():
            await MILESTONES.fire(
                session,
                milestone_id,
                action,
                Actor("system", "test-money"),
                self.app.state.resources.clock.now(),
            )


async def funded(client: httpx.AsyncClient, app: Any, **offer: Any) -> Delivery:
    """A funded contract on `offer_body` terms (2 reels due 2026-12-28 paid by milestone 1,
    a story due 2027-01-02; milestone 2 on completion), with `offer` overriding terms."""
    deal, contract = await active_contract(client, app, **offer)
    assert contract["state"] == "active"
    return Delivery(client, app, deal, contract, MoneyRecorder())
