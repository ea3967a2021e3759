"""The payment side of the Stripe gateway against `localstripe`, an independent Stripe fake.

Why a second fake: the project's sandbox (rapport_dev/stripe_sandbox) was written by us and
could share our misreadings of Stripe. localstripe (PyPI `localstripe`, GPL-3.0, a dev/test
dependency only, never imported: it runs as a separate process) was written by others, so the
gateway working against both is evidence that it speaks Stripe rather than our sandbox's
dialect.

How it runs: the `localstripe` command (installed by the `dev` extra) is started as a
subprocess on a free port with `--from-scratch`, waited for, and stopped after the module; its
data is flushed (`DELETE /_config/data`) before each test. The gateway is pointed at it with
`RAPPORT_STRIPE_API_BASE`, exactly as at the sandbox. It runs on Python 3.11 here (aiohttp
server). If the command is missing, the module FAILS with the reason (it is a declared
dependency), it is never skipped silently.

What localstripe covers, and what it does not (found while writing this suite, localstripe
1.15.10):

- PaymentIntents created and confirmed (in one call or two) with `pm_card_visa`; a declined
  card (HTTP 402, which the SDK and the gateway turn into `StripeCardDeclined`); refunds
  (partial and full); balance transactions; signed webhooks (`POST /_config/webhooks/<id>`
  registers an endpoint; events are POSTed about a second later with Stripe's
  `Stripe-Signature` scheme, timestamped with the event's `created`).
- No Connect: no accounts, account links, transfers or payouts — the sandbox suite covers them.
- Parameters it does not know are refused (`400 Unexpected transfer_group`), so the funding
  intent's `transfer_group` cannot be sent to it; these tests leave it out.
- Declines differ from Stripe's test cards: `pm_card_visa_chargeDeclined` (4000000000000002)
  only declines *attaching* the card; a charge is declined with `pm_card_chargeCustomerFail`
  (4000000000000341). The 402 carries the failed charge but no `decline_code`.
- No idempotency: `Idempotency-Key` is ignored, so a retried POST acts twice
  (`test_localstripe_does_not_replay_idempotency_keys` records this). Idempotency is tested
  against the sandbox, which implements Stripe's rules.
- No refund limits: it refunds more than was charged. Refund rules are tested against the
  sandbox.
- It writes its store to `/tmp/localstripe.pickle` on every change (a fixed path in
  localstripe); `--from-scratch` keeps an old file from being loaded.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.clock import Clock, utcnow
from app.db import Database
from app.integrations.stripe import StripeCardDeclined, StripeGateway, idempotency_key
from app.main import create_app
from app.models import StripeEvent, StripeEventOutcome
from app.settings import Settings
from app.worker.runner import Worker
from rapport_dev.ports import free_port
from tests.stripe_support import WEBHOOK_SECRET, serve_app, sign, stored_event, stripe_settings

API_KEY = "sk_test_rapport_localstripe"


@pytest.fixture(scope="module")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    command = Path(sys.executable).parent / "localstripe"
    if not command.exists():
        pytest.fail(
            f"{command} is missing: localstripe is a dev dependency (pip install -e '.[dev]')"
        )
    log_path = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own venv's script)
            [str(command), "--port", str(port), "--from-scratch"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=log_path.parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"localstripe exited ({process.returncode}):\n{log_path.read_text()}"
                    )
                try:
                    if httpx.get(f"{url}/v1/balance", auth=(API_KEY, ""), timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"localstripe did not answer in 30 s:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def localstripe(localstripe_url: str) -> str:
    httpx.delete(f"{localstripe_url}/_config/data", timeout=5).raise_for_status()
    return localstripe_url


@pytest.fixture
async def gateway(localstripe: str) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(Settings(stripe_api_key=API_KEY, stripe_api_base=localstripe))
    yield gateway
    await gateway.aclose()


async def test_a_payment_intent_created_then_confirmed_charges_the_card(
    gateway: StripeGateway,
) -> None:
    intent = await gateway.create_payment_intent(
        amount=12_345,
        currency="USD",
        payment_method="pm_card_visa",
        metadata={"contract": "ctr_ls1"},
        idempotency_key=idempotency_key("funding", "ctr_ls1"),
    )
    assert intent.id.startswith("pi_") and intent.status == "requires_confirmation"
    assert intent.currency == "usd" and intent.metadata["contract"] == "ctr_ls1"

    confirmed = await gateway.confirm_payment_intent(
        intent.id, idempotency_key=idempotency_key("funding-confirm", "ctr_ls1")
    )
    assert confirmed.status == "succeeded"
    charge = confirmed.latest_charge
    assert charge.id.startswith("ch_") and charge.amount == 12_345 and charge.paid
    assert (await gateway.retrieve_payment_intent(intent.id)).status == "succeeded"

    platform = await gateway.list_balance_transactions()
    assert [(t.type, t.amount, t.source) for t in platform] == [("charge", 12_345, charge.id)]


async def test_a_payment_confirmed_at_creation_and_refunded_in_two_parts(
    gateway: StripeGateway,
) -> None:
    intent = await gateway.create_payment_intent(
        amount=10_000,
        currency="eur",
        payment_method="pm_card_visa",
        confirm=True,
        idempotency_key=idempotency_key("funding", "ctr_ls2"),
    )
    assert intent.status == "succeeded"
    partial = await gateway.create_refund(
        payment_intent=intent.id,
        amount=4_000,
        metadata={"reason": "milestone cancelled"},
        idempotency_key=idempotency_key("refund", "ctr_ls2", 1),
    )
    assert partial.status == "succeeded" and partial.amount == 4_000
    rest = await gateway.create_refund(
        payment_intent=intent.id, idempotency_key=idempotency_key("refund", "ctr_ls2", 2)
    )
    assert rest.status == "succeeded"
    refunds = sorted(
        t.amount for t in await gateway.list_balance_transactions() if t.type == "refund"
    )
    assert refunds == [-10_000, -4_000]  # localstripe refunds the full charge again (see above)


async def test_a_declined_card_is_a_typed_error(gateway: StripeGateway) -> None:
    with pytest.raises(StripeCardDeclined) as declined:
        await gateway.create_payment_intent(
            amount=5_000,
            currency="usd",
            # localstripe declines charges only for this one (4000000000000341); its
            # pm_card_visa_chargeDeclined declines attaching, not charging.
            payment_method="pm_card_chargeCustomerFail",
            confirm=True,
            idempotency_key=idempotency_key("funding", "ctr_ls3"),
        )
    assert declined.value.http_status == 402
    assert declined.value.code == "card_declined"
    assert declined.value.charge_id is not None and declined.value.charge_id.startswith("ch_")
    assert not declined.value.retryable


async def test_localstripe_does_not_replay_idempotency_keys(gateway: StripeGateway) -> None:
    key = idempotency_key("funding", "ctr_ls4")
    first = await gateway.create_payment_intent(amount=100, currency="usd", idempotency_key=key)
    second = await gateway.create_payment_intent(amount=100, currency="usd", idempotency_key=key)
    # Stripe (and our sandbox) would return `first` again.
    assert first.id != second.id


async def test_localstripe_webhooks_are_verified_stored_once_and_marked(
    localstripe: str,
    settings: Settings,
    clock: Clock,
    database: Database,
    gateway: StripeGateway,
) -> None:
    # localstripe signs with the event's wall-clock `created`: follow the wall clock.
    clock.freeze(utcnow())
    app = create_app(stripe_settings(settings, localstripe), clock=clock)
    try:
        with serve_app(app) as served:
            async with httpx.AsyncClient(timeout=5) as control:
                registered = await control.post(
                    f"{localstripe}/_config/webhooks/rapport",
                    json={"url": served.webhook_url, "secret": WEBHOOK_SECRET},
                )
                registered.raise_for_status()
            intent = await gateway.create_payment_intent(
                amount=2_000,
                currency="usd",
                payment_method="pm_card_visa",
                confirm=True,
                idempotency_key=idempotency_key("funding", "ctr_ls5"),
            )
            stored = await _wait_for_event(database, intent.id)
        assert stored.type == "payment_intent.succeeded"
        assert stored.processed_at is None
        payload = stored.payload
        assert payload["data"]["object"]["status"] == "succeeded"

        # The same signed payload again (a redelivery): stored once.
        body = json.dumps(payload)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as api:
            again = await api.post(
                "/v1/stripe/webhooks",
                content=body.encode(),
                headers={"Stripe-Signature": sign(body, at=clock.now())},
            )
        assert again.status_code == 200 and again.json()["duplicate"] is True

        await Worker(database, clock).run_once()
        processed = await stored_event(database, stored.stripe_event_id)
        # The funding handler finds no contract for this PaymentIntent: looked at, ignored.
        assert processed is not None and processed.outcome == StripeEventOutcome.ignored
        assert processed.deliveries == 2
    finally:
        await app.state.resources.stripe.aclose()
        await app.state.resources.database.dispose()


async def _wait_for_event(database: Database, payment_intent_id: str) -> Any:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        async with database.sessionmaker() as session:
            row = await session.scalar(
                select(StripeEvent).where(
                    StripeEvent.object_id == payment_intent_id,
                    StripeEvent.type == "payment_intent.succeeded",
                )
            )
        if row is not None:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError("localstripe's payment_intent.succeeded webhook never arrived")
