"""Fixtures for the Stripe sandbox tests: one sandbox server per session, reset per test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from rapport_dev.stripe_sandbox.options import KIND
from rapport_dev.stripe_sandbox.testing import RunningSandbox, running_sandbox


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[RunningSandbox]:
    # Short webhook backoff keeps the retry test fast. These tests check one mechanism each,
    # so they start kind (KIND) and turn on the strict behaviour they test; the app's tests
    # (tests/stripe_support.py) run on the strict defaults.
    with running_sandbox(webhook_initial_backoff_s=0.05, options=KIND) as running:
        yield running


@pytest.fixture
def sandbox(sandbox_server: RunningSandbox) -> Iterator[RunningSandbox]:
    sandbox_server.configure_webhook(None, None)
    sandbox_server.reset()
    yield sandbox_server
    sandbox_server.configure_webhook(None, None)
    sandbox_server.clear_faults()


class WebhookReceiver:
    """A real HTTP endpoint that records what it receives and answers scripted statuses."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode("utf-8")
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append(
                        {
                            "body": body,
                            "signature": self.headers.get("Stripe-Signature"),
                            "status": status,
                            "event": json.loads(body),
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/stripe"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def stripe_client(sandbox: RunningSandbox) -> stripe.StripeClient:
    """The official SDK pointed at the sandbox, acting as the platform, without retries."""
    return sandbox.client()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(statuses=[500])
    yield receiver
    receiver.close()
