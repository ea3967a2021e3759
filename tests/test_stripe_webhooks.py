"""`POST /v1/stripe/webhooks`: signature and tolerance, the inbox (stored once), processing by
the worker (processed once), and events the Stripe sandbox really delivers over HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from app.clock import Clock
from app.integrations.stripe import STRIPE_API_VERSION, StripeGateway, idempotency_key
from app.models import Job, JobState, StripeEventOutcome
from app.services.money.stripe_events import EVENT_HANDLERS, NO_HANDLER_YET, Handled
from app.worker.runner import Worker
from rapport_dev.stripe_sandbox.testing import RunningSandbox
from tests.factories import assert_problem
from tests.stripe_support import (
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    ServedApp,
    count_events,
    event_jobs,
    sign,
    stored_event,
)

_serial = iter(range(1, 10**9))


def make_event(
    event_type: str = "payment_intent.succeeded",
    *,
    created: int,
    obj: dict[str, Any] | None = None,
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    n = next(_serial)
    return {
        "id": event_id or f"evt_test_{n:08d}",
        "object": "event",
        "api_version": "2020-08-27",
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj or {"id": f"pi_test_{n:08d}", "object": "payment_intent"}},
        **extra,
    }


async def post_event(
    api: httpx.AsyncClient,
    payload: str,
    *,
    signature: str | None,
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await api.post(WEBHOOK_PATH, content=payload.encode(), headers=headers)


async def deliver(api: httpx.AsyncClient, clock: Clock, event: dict[str, Any]) -> httpx.Response:
    payload = json.dumps(event)
    return await post_event(api, payload, signature=sign(payload, at=clock.now()))


def database_of(api: httpx.AsyncClient) -> Any:
    return api._transport.app.state.resources.database  # type: ignore[attr-defined]


# --- verification ------------------------------------------------------------------------------


async def test_a_signed_event_is_stored_and_answered_at_once(
    stripe_api: httpx.AsyncClient, clock: Clock
) -> None:
    event = make_event(created=int(clock.now().timestamp()))
    response = await deliver(stripe_api, clock, event)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "event_id": event["id"], "duplicate": False}

    stored = await stored_event(database_of(stripe_api), event["id"])
    assert stored is not None
    assert stored.id.startswith("sev_")
    assert stored.type == "payment_intent.succeeded"
    assert stored.object_id == event["data"]["object"]["id"]
    assert stored.payload == event
    assert stored.deliveries == 1
    assert stored.received_at == clock.now()
    assert stored.processed_at is None  # processing is the worker's job
    jobs = await event_jobs(database_of(stripe_api))
    assert [(j.id, j.idempotency_key, j.state) for j in jobs] == [
        (stored.job_id, f"stripe-event:{event['id']}", JobState.pending)
    ]


async def test_forged_wrong_secret_missing_and_malformed_signatures_are_400(
    stripe_api: httpx.AsyncClient, clock: Clock
) -> None:
    event = make_event(created=int(clock.now().timestamp()))
    payload = json.dumps(event)
    good = sign(payload, at=clock.now())
    timestamp = good.split(",")[0]
    cases = {
        "forged": f"{timestamp},v1={'0' * 64}",
        "wrong secret": sign(payload, secret="whsec_someone_else", at=clock.now()),
        "other payload": sign(payload.replace("succeeded", "failed"), at=clock.now()),
        "no v1": timestamp,
        "garbage header": "this is not a signature",
        "empty header": "",
        "v0 scheme only": good.replace("v1=", "v0="),
    }
    for name, signature in cases.items():
        response = await post_event(stripe_api, payload, signature=signature)
        assert response.status_code == 400, (name, response.text)
        assert_problem(response, 400, "stripe-signature-invalid")
    missing = await post_event(stripe_api, payload, signature=None)
    body = assert_problem(missing, 400, "stripe-signature-invalid")
    assert "missing" in body["detail"]
    # A body changed after signing is refused.
    tampered = payload.replace('"livemode": false', '"livemode": true')
    assert_problem(await post_event(stripe_api, tampered, signature=good), 400)

    assert await count_events(database_of(stripe_api)) == 0
    assert await event_jobs(database_of(stripe_api)) == []


async def test_stale_and_future_timestamps_are_refused_against_the_app_clock(
    stripe_api: httpx.AsyncClient, clock: Clock
) -> None:
    # The app's clock is frozen (T0, not the machine's time): tolerance follows it.
    now = clock.now()
    event = make_event(created=int(now.timestamp()))
    payload = json.dumps(event)

    stale = await post_event(
        stripe_api, payload, signature=sign(payload, at=now - timedelta(seconds=301))
    )
    body = assert_problem(stale, 400, "stripe-signature-expired")
    assert body["signed_at"] == int((now - timedelta(seconds=301)).timestamp())
    future = sign(payload, at=now + timedelta(seconds=301))
    assert_problem(
        await post_event(stripe_api, payload, signature=future), 400, "stripe-signature-expired"
    )
    assert await count_events(database_of(stripe_api)) == 0

    # Within the tolerance, both ways, it is accepted.
    edge = await post_event(
        stripe_api, payload, signature=sign(payload, at=now - timedelta(seconds=300))
    )
    assert edge.status_code == 200, edge.text
    clock.advance(timedelta(seconds=290))
    again = await post_event(stripe_api, payload, signature=sign(payload, at=now))
    assert again.status_code == 200 and again.json()["duplicate"] is True


async def test_malformed_bodies_with_valid_signatures_are_400_never_500(
    stripe_api: httpx.AsyncClient, clock: Clock
) -> None:
    at = clock.now()
    created = int(at.timestamp())
    bodies = [
        "{not json",
        "",
        "[]",
        '"an event"',
        json.dumps({"id": "evt_1", "object": "event", "type": "x", "created": created}),
        json.dumps(make_event(created=created, event_id="not_an_event_id")),
        json.dumps({**make_event(created=created), "object": "charge"}),
        json.dumps({**make_event(created=created), "type": ""}),
        json.dumps({**make_event(created=created), "created": "yesterday"}),
        json.dumps({**make_event(created=created), "data": {"object": "pi_1"}}),
    ]
    for body in bodies:
        response = await post_event(stripe_api, body, signature=sign(body, at=at))
        assert response.status_code == 400, (body, response.text)
        assert_problem(response, 400, "stripe-event-malformed")
    # Bytes that are not UTF-8 at all.
    raw = b"\xff\xfe{}"
    response = await stripe_api.post(
        WEBHOOK_PATH,
        content=raw,
        headers={"Stripe-Signature": f"t={created},v1={'0' * 64}"},
    )
    assert_problem(response, 400, "stripe-event-malformed")
    assert await count_events(database_of(stripe_api)) == 0


async def test_several_secrets_are_accepted_during_a_rotation(
    stripe_app: Any, stripe_api: httpx.AsyncClient, clock: Clock
) -> None:
    settings = stripe_app.state.resources.settings
    original = settings.stripe_webhook_secret
    settings.stripe_webhook_secret = SecretStr(f"whsec_new_secret_0001, {WEBHOOK_SECRET}")
    try:
        for secret in ("whsec_new_secret_0001", WEBHOOK_SECRET):
            event = make_event(created=int(clock.now().timestamp()))
            payload = json.dumps(event)
            signed = sign(payload, secret=secret, at=clock.now())
            response = await post_event(stripe_api, payload, signature=signed)
            assert response.status_code == 200, response.text
    finally:
        settings.stripe_webhook_secret = original


# --- stored once, processed once -----------------------------------------------------------------


async def test_the_same_event_delivered_ten_times_is_stored_once_and_processed_once(
    stripe_api: httpx.AsyncClient, clock: Clock, stripe_worker: Worker
) -> None:
    event = make_event(created=int(clock.now().timestamp()))
    # Five at once, then five one after the other (each freshly signed, as Stripe does).
    concurrent = await asyncio.gather(*(deliver(stripe_api, clock, event) for _ in range(5)))
    sequential = [await deliver(stripe_api, clock, event) for _ in range(5)]
    responses = [*concurrent, *sequential]
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert sorted(r.json()["duplicate"] for r in responses) == [False] + [True] * 9

    database = database_of(stripe_api)
    assert await count_events(database) == 1
    stored = await stored_event(database, event["id"])
    assert stored is not None and stored.deliveries == 10
    assert len(await event_jobs(database)) == 1

    report = await stripe_worker.run_once()
    assert report.jobs.succeeded == 1
    processed = await stored_event(database, event["id"])
    assert processed is not None
    assert processed.processed_at == clock.now()
    # Handled by the funding code, which finds no contract for this PaymentIntent.
    assert processed.outcome == StripeEventOutcome.ignored
    assert processed.note is not None and "funds no Rapport contract" in processed.note

    # Delivered again after processing: counted, not processed again, no new job.
    clock.advance(timedelta(minutes=1))
    late = await deliver(stripe_api, clock, event)
    assert late.json()["duplicate"] is True
    report = await stripe_worker.run_once()
    assert report.jobs.total == 0
    again = await stored_event(database, event["id"])
    assert again is not None and again.deliveries == 11
    assert again.processed_at == processed.processed_at


async def test_a_job_that_runs_twice_processes_the_event_once(
    stripe_api: httpx.AsyncClient, clock: Clock, stripe_worker: Worker
) -> None:
    calls: list[str] = []
    original = EVENT_HANDLERS.get("charge.dispute.created")

    async def count_disputes(ctx: Any) -> Any:
        calls.append(ctx.event.stripe_event_id)
        return Handled(StripeEventOutcome.applied, "counted")

    # The real handler (wired from app/services/money/stripe_disputes.py) is swapped for a
    # counter during the test.
    EVENT_HANDLERS["charge.dispute.created"] = count_disputes
    try:
        event = make_event(
            "charge.dispute.created",
            created=int(clock.now().timestamp()),
            obj={"id": "dp_1", "object": "dispute"},
        )
        assert (await deliver(stripe_api, clock, event)).status_code == 200
        await stripe_worker.run_once()
        # The job is run again (a worker lost its lease after committing, an operator retried).
        database = database_of(stripe_api)
        async with database.sessionmaker() as session, session.begin():
            job = await session.scalar(select(Job).where(Job.topic == "stripe.event"))
            assert job is not None and job.state == JobState.succeeded
            job.state = JobState.pending
            job.run_after = clock.now()
        await stripe_worker.run_once()
        assert calls == [event["id"]]

        # Another event id for the same dispute (a type that happens once per object).
        twin = make_event(
            "charge.dispute.created",
            created=int(clock.now().timestamp()),
            obj={"id": "dp_1", "object": "dispute"},
        )
        assert (await deliver(stripe_api, clock, twin)).json()["duplicate"] is False
        await stripe_worker.run_once()
        assert calls == [event["id"]]
        stored = await stored_event(database, twin["id"])
        assert stored is not None and stored.outcome == StripeEventOutcome.duplicate
        assert stored.note is not None and event["id"] in stored.note
    finally:
        EVENT_HANDLERS["charge.dispute.created"] = original  # type: ignore[assignment]


async def test_unknown_and_not_yet_handled_types_are_stored_and_marked(
    stripe_api: httpx.AsyncClient, clock: Clock, stripe_worker: Worker
) -> None:
    created = int(clock.now().timestamp())
    unknown = make_event("issuing_card.created", created=created, obj={"id": "ic_1"})
    waiting = {
        kind: make_event(kind, created=created)
        for kind in (
            "payment_intent.succeeded",
            "payment_intent.payment_failed",
            "charge.refunded",
            "transfer.created",
            "transfer.reversed",
            "payout.paid",
            "payout.failed",
            "charge.dispute.created",
        )
    }
    for event in [unknown, *waiting.values()]:
        assert (await deliver(stripe_api, clock, event)).status_code == 200
    report = await stripe_worker.run_once()
    assert report.jobs.succeeded == 1 + len(waiting)

    database = database_of(stripe_api)
    stored = await stored_event(database, unknown["id"])
    assert stored is not None and stored.outcome == StripeEventOutcome.unknown_type
    assert stored.note is not None and "issuing_card.created" in stored.note
    # Every subscribed type has its handler now (the money flows); these objects belong to no
    # Rapport contract, so each is looked at and ignored, with the reason.
    for event in waiting.values():
        row = await stored_event(database, event["id"])
        assert row is not None, event["type"]
        assert row.outcome == StripeEventOutcome.ignored, event["type"]
        assert row.note and row.note != NO_HANDLER_YET


async def test_an_account_update_for_an_account_we_do_not_know_is_ignored_visibly(
    stripe_api: httpx.AsyncClient, clock: Clock, stripe_worker: Worker
) -> None:
    event = make_event(
        "account.updated",
        created=int(clock.now().timestamp()),
        obj={"id": "acct_nobody", "object": "account", "payouts_enabled": True},
        account="acct_nobody",
    )
    await deliver(stripe_api, clock, event)
    await stripe_worker.run_once()
    stored = await stored_event(database_of(stripe_api), event["id"])
    assert stored is not None and stored.account == "acct_nobody"
    assert stored.outcome == StripeEventOutcome.ignored
    assert stored.note is not None and "acct_nobody" in stored.note


# --- delivered by the Stripe sandbox over real HTTP ---------------------------------------------


async def test_sandbox_events_arrive_signed_and_redeliveries_are_stored_once(
    stripe_app: Any,
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    sandbox_webhooks: ServedApp,
    stripe_worker: Worker,
) -> None:
    gateway: StripeGateway = stripe_app.state.resources.stripe
    intent = await gateway.create_payment_intent(
        amount=12_500,
        currency="USD",
        payment_method="pm_card_visa",
        confirm=True,
        transfer_group="ctr_test",
        metadata={"contract": "ctr_test"},
        idempotency_key=idempotency_key("funding", "ctr_test"),
    )
    assert intent.status == "succeeded"
    assert stripe_sandbox.wait_for_webhooks()
    sent = {e["id"]: e["type"] for e in stripe_sandbox.events()}
    assert set(sent.values()) == {
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    }
    deliveries = stripe_sandbox.deliveries()
    assert {d["event"] for d in deliveries} == set(sent)
    assert all(d["status"] == 200 for d in deliveries), deliveries

    database = database_of(stripe_api)
    assert await count_events(database) == 3
    succeeded = next(i for i, t in sent.items() if t == "payment_intent.succeeded")

    # Stripe redelivers (its retries, a manual resend): ten times, stored once.
    for _ in range(10):
        stripe_sandbox.resend_event(succeeded)
    assert stripe_sandbox.wait_for_webhooks()
    assert await count_events(database) == 3
    stored = await stored_event(database, succeeded)
    assert stored is not None and stored.deliveries == 11
    assert stored.object_id == intent.id

    report = await stripe_worker.run_once()
    assert report.jobs.succeeded == 3
    outcomes = {
        sent[i]: (await stored_event(database, i)).outcome  # type: ignore[union-attr]
        for i in sent
    }
    assert outcomes == {
        "payment_intent.created": StripeEventOutcome.unknown_type,
        "charge.succeeded": StripeEventOutcome.unknown_type,
        "payment_intent.succeeded": StripeEventOutcome.ignored,  # no contract of ours
    }


async def test_a_webhook_signed_with_another_secret_is_refused_and_retried_by_stripe(
    stripe_api: httpx.AsyncClient,
    stripe_sandbox: RunningSandbox,
    sandbox_webhooks: ServedApp,
) -> None:
    stripe_sandbox.configure_webhook(sandbox_webhooks.webhook_url, "whsec_not_ours")
    stripe_sandbox.client().v1.customers.create({"email": "brand@example.com"})
    assert stripe_sandbox.wait_for_webhooks()
    for _ in range(4):  # Stripe's retries fall due on the sandbox's clock
        stripe_sandbox.advance_clock(30)
    deliveries = stripe_sandbox.deliveries()
    assert len(deliveries) >= 5  # Stripe's retries, all refused
    assert {d["status"] for d in deliveries} == {400}
    assert await count_events(database_of(stripe_api)) == 0


async def test_an_event_of_another_api_version_is_stored_with_a_clear_warning(
    stripe_api: httpx.AsyncClient, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """Real Stripe renders an endpoint's events in the endpoint's API version: one created
    with another version than Rapport pins sends objects Rapport may misread. Before the fix
    nothing said so."""
    created = int(clock.now().timestamp())
    pinned = make_event(created=created)
    other = make_event(created=created, api_version="2024-06-20")
    with caplog.at_level(logging.WARNING, logger="rapport.stripe.webhooks"):
        assert (await deliver(stripe_api, clock, pinned)).status_code == 200
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
        assert (await deliver(stripe_api, clock, other)).status_code == 200
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    message = warning.getMessage()
    assert other["id"] in message and "2024-06-20" in message
    assert STRIPE_API_VERSION in message and "endpoint's API version" in message
    assert warning.stripe_api_version == "2024-06-20"  # type: ignore[attr-defined]
    stored = await stored_event(database_of(stripe_api), other["id"])
    assert stored is not None and stored.api_version == "2024-06-20"
