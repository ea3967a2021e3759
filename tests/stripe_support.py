"""Fixtures (a pytest plugin of tests/conftest.py) and helpers for the tests that talk to
Stripe: the project's Stripe sandbox over real HTTP, an app whose settings point its gateway at
it, and the same app served by uvicorn on a free port so that the sandbox can deliver signed
webhooks to it.

Fixtures: `stripe_sandbox_server` (session) / `stripe_sandbox` (reset per test), `stripe_app`,
`stripe_api` (its ASGI client), `stripe_worker`, `served_stripe_app`, `sandbox_webhooks`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
import stripe
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select

from app.clock import Clock
from app.db import Database
from app.main import create_app
from app.models import Job, StripeEvent
from app.settings import Settings
from app.worker.runner import Worker
from rapport_dev.stripe_sandbox.testing import TEST_API_KEY, RunningSandbox, running_sandbox
from tests.factories import Account, create_influencer, register

WEBHOOK_SECRET = "whsec_rapport_test_webhook_secret_0123456789"
WEBHOOK_PATH = "/v1/stripe/webhooks"


def stripe_settings(settings: Settings, api_base: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "stripe_api_key": TEST_API_KEY,
        "stripe_api_base": api_base,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        # Tests run the worker themselves (Worker.run_once), never in the background.
        "embedded_worker": False,
    }
    values.update(overrides)
    return Settings(**(settings.model_dump() | values))


# --- the sandbox --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stripe_sandbox_server() -> Iterator[RunningSandbox]:
    with running_sandbox(webhook_initial_backoff_s=0.05) as running:
        yield running


@pytest.fixture
def stripe_sandbox(stripe_sandbox_server: RunningSandbox) -> Iterator[RunningSandbox]:
    """The session's sandbox, reset for this test (no webhook target, no faults)."""
    server = stripe_sandbox_server
    server.configure_webhook(None, None)
    server.reset()
    yield server
    server.configure_webhook(None, None)
    server.clear_faults()


# --- the app, pointed at the sandbox ----------------------------------------------------------


@pytest.fixture(scope="session")
async def stripe_app(
    settings: Settings, clock: Clock, stripe_sandbox_server: RunningSandbox
) -> AsyncIterator[FastAPI]:
    application = create_app(stripe_settings(settings, stripe_sandbox_server.url), clock=clock)
    yield application
    await application.state.resources.stripe.aclose()
    await application.state.resources.database.dispose()


@pytest.fixture
async def stripe_api(stripe_app: FastAPI, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `stripe_app` over ASGI (`database` makes the suite empty the tables after)."""
    transport = httpx.ASGITransport(app=stripe_app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as client:
        yield client


@pytest.fixture
def stripe_worker(stripe_app: FastAPI, clock: Clock) -> Worker:
    return Worker(stripe_app.state.resources.database, clock)


class ServedApp:
    def __init__(self, url: str) -> None:
        self.url = url
        self.webhook_url = url + WEBHOOK_PATH


@contextmanager
def serve_app(app: FastAPI) -> Iterator[ServedApp]:
    """Serve `app` with uvicorn on a free loopback port in a background thread (its own event
    loop), for the duration of the context."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="rapport-api", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60  # a busy machine starts slowly
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start under uvicorn")
            time.sleep(0.01)
        yield ServedApp(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def served_stripe_app(
    settings: Settings, clock: Clock, stripe_sandbox_server: RunningSandbox
) -> Iterator[ServedApp]:
    """The app (its own instance, engine and event loop, same database and clock) served by
    uvicorn in a thread, for the sandbox to POST webhooks to."""
    application = create_app(stripe_settings(settings, stripe_sandbox_server.url), clock=clock)
    with serve_app(application) as served:
        yield served


@pytest.fixture
def sandbox_webhooks(
    stripe_sandbox: RunningSandbox, served_stripe_app: ServedApp, clock: Clock
) -> ServedApp:
    """The sandbox delivers its events to the served app. The sandbox signs with its own clock,
    so it is set to the test clock (never today's date): both sides agree on the time."""
    stripe_sandbox.set_clock(clock.now().timestamp())
    stripe_sandbox.configure_webhook(served_stripe_app.webhook_url, WEBHOOK_SECRET)
    return served_stripe_app


# --- helpers ------------------------------------------------------------------------------------


async def influencer_account(client: httpx.AsyncClient) -> tuple[Account, dict[str, Any]]:
    account = await register(client)
    profile = await create_influencer(client, account)
    return account, profile


def sign(payload: str, *, secret: str = WEBHOOK_SECRET, at: datetime | int) -> str:
    timestamp = at if isinstance(at, int) else int(at.timestamp())
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


async def count_events(database: Database, **filters: Any) -> int:
    async with database.sessionmaker() as session:
        stmt = select(func.count()).select_from(StripeEvent)
        for name, value in filters.items():
            stmt = stmt.where(getattr(StripeEvent, name) == value)
        return int(await session.scalar(stmt) or 0)


async def stored_event(database: Database, event_id: str) -> StripeEvent | None:
    async with database.sessionmaker() as session:
        return await session.scalar(
            select(StripeEvent).where(StripeEvent.stripe_event_id == event_id)
        )


async def event_jobs(database: Database) -> list[Job]:
    async with database.sessionmaker() as session:
        return list(await session.scalars(select(Job).where(Job.topic == "stripe.event")))
