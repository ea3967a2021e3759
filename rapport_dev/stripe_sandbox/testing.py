"""Run a sandbox inside a test process: a real uvicorn server on a free port, in a thread.

    with running_sandbox() as sandbox:
        client = sandbox.client()
        client.v1.payment_intents.create({...})
        sandbox.inject_fault("/v1/transfers", "error_after_apply", method="POST")

The control helpers call the sandbox's /_sandbox endpoints over HTTP, exactly as a test in
another process (or the app's own test suite against `rapport stripe-sandbox`) would.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import stripe
import uvicorn

from .server import Sandbox, create_sandbox_app
from .spec import API_VERSION

TEST_API_KEY = "sk_test_rapport_sandbox"


class SandboxError(RuntimeError):
    pass


class RunningSandbox:
    def __init__(self, url: str, sandbox: Sandbox) -> None:
        self.url = url
        # In-process access to the stores, for assertions a test cannot make over HTTP.
        self.sandbox = sandbox
        self._http = httpx.Client(base_url=url, timeout=30, trust_env=False)

    def close(self) -> None:
        self._http.close()

    # --- SDK clients --------------------------------------------------------------------------

    def client(
        self,
        api_key: str = TEST_API_KEY,
        *,
        stripe_account: str | None = None,
        max_network_retries: int = 0,
        timeout: float = 10.0,
        stripe_version: str = API_VERSION,
    ) -> stripe.StripeClient:
        """An official SDK client wired to this sandbox (sync methods via requests, async
        `*_async` methods via httpx)."""
        return stripe.StripeClient(
            api_key,
            stripe_account=stripe_account,
            stripe_version=stripe_version,
            base_addresses={"api": self.url, "connect": self.url, "files": self.url},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(
                timeout=timeout, async_fallback_client=stripe.HTTPXClient(timeout=timeout)
            ),
        )

    # --- controls -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> Any:
        resp = self._http.request(method, path, json=json)
        if resp.status_code >= 400:
            raise SandboxError(f"{method} {path} -> {resp.status_code}: {resp.text}")
        return resp.json()

    def reset(self) -> None:
        self._call("POST", "/_sandbox/reset")

    def inject_fault(
        self,
        path: str,
        mode: str,
        *,
        method: str | None = "POST",
        count: int | None = 1,
        delay_s: float = 5.0,
    ) -> None:
        self._call(
            "POST",
            "/_sandbox/faults",
            {"path": path, "mode": mode, "method": method, "count": count, "delay_s": delay_s},
        )

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sandbox/faults")

    def faults(self) -> list[dict[str, Any]]:
        """The faults still armed (a fault disappears once its `count` is used up)."""
        return self._call("GET", "/_sandbox/faults")["faults"]

    def set_clock(self, now: float | None = None, *, advance: float | None = None) -> int:
        body: dict[str, Any] = {}
        if now is not None:
            body["now"] = now
        if advance is not None:
            body["advance"] = advance
        return self._call("POST", "/_sandbox/clock", body)["now"]

    def configure_webhook(self, url: str | None, secret: str | None) -> None:
        self._call("POST", "/_sandbox/webhook", {"url": url, "secret": secret})

    def wait_for_webhooks(self, timeout_s: float = 10.0) -> bool:
        return self._call("POST", "/_sandbox/webhook/wait", {"timeout_s": timeout_s})["idle"]

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery attempt, oldest first (`next_attempt_at` when it will be retried,
        `gave_up` on the last one)."""
        return self._call("GET", "/_sandbox/webhook/deliveries")["deliveries"]

    def pending_deliveries(self) -> list[dict[str, Any]]:
        """Deliveries still to be made: attempts so far and when the next one is due."""
        return self._call("GET", "/_sandbox/webhook/deliveries")["pending"]

    def advance_clock(self, seconds: float) -> int:
        """Move the sandbox's clock forward, running what falls due on the way (automatic
        payouts created and paid, webhook retries), then wait for the deliveries due now."""
        now = self.set_clock(advance=seconds)
        self.wait_for_webhooks()
        return now

    def events(self) -> list[dict[str, Any]]:
        """All events of all accounts, oldest first."""
        return self._call("GET", "/_sandbox/events")["data"]

    def resend_event(self, event_id: str) -> None:
        self._call("POST", f"/_sandbox/events/{event_id}/resend")

    def complete_onboarding(
        self, account_id: str, *, hold_capabilities: bool = False
    ) -> dict[str, Any]:
        """Finish onboarding. With `strict_accounts`, capabilities go `pending` then `active`
        (`capability.updated` events); `hold_capabilities=True` leaves them `pending` until
        `activate_capabilities`."""
        body = {"capabilities": "pending"} if hold_capabilities else None
        return self._call("POST", f"/_sandbox/accounts/{account_id}/complete_onboarding", body)

    def activate_capabilities(self, account_id: str) -> dict[str, Any]:
        """Stripe finished verifying a held account: capabilities `active`, payouts enabled."""
        return self._call("POST", f"/_sandbox/accounts/{account_id}/activate_capabilities")

    def require_information(
        self, account_id: str, fields: list[str] | None = None
    ) -> dict[str, Any]:
        return self._call(
            "POST", f"/_sandbox/accounts/{account_id}/require_information", {"fields": fields}
        )

    def decline_payment_method(
        self, payment_method_id: str, decline_code: str = "expired_card"
    ) -> dict[str, Any]:
        """Every later charge of this (saved) PaymentMethod is declined with `decline_code`."""
        return self._call(
            "POST",
            f"/_sandbox/payment_methods/{payment_method_id}/decline",
            {"decline_code": decline_code},
        )

    def pay_payout(self, payout_id: str) -> dict[str, Any]:
        return self._call("POST", f"/_sandbox/payouts/{payout_id}/pay")

    def fail_payout(
        self,
        payout_id: str,
        failure_code: str = "account_closed",
        failure_message: str | None = None,
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            f"/_sandbox/payouts/{payout_id}/fail",
            {"failure_code": failure_code, "failure_message": failure_message},
        )

    def dispute(
        self,
        charge_id: str,
        *,
        reason: str = "fraudulent",
        amount: int | None = None,
        kind: str = "chargeback",
    ) -> dict[str, Any]:
        """Open a dispute on a charge: `kind="chargeback"` (status `needs_response`, amount +
        dispute fee withdrawn, `charge.dispute.funds_withdrawn`) or `kind="inquiry"`
        (`warning_needs_response`, no money moves)."""
        return self._call(
            "POST",
            f"/_sandbox/charges/{charge_id}/dispute",
            {"reason": reason, "amount": amount, "kind": kind},
        )

    def inquiry(self, charge_id: str, *, reason: str = "fraudulent") -> dict[str, Any]:
        return self.dispute(charge_id, reason=reason, kind="inquiry")

    def close_dispute(self, dispute_id: str, outcome: str | None = None) -> dict[str, Any]:
        """Decide a dispute: a chargeback `won` (funds reinstated) or `lost` (the default); an
        inquiry `warning_closed` (its only, and default, outcome)."""
        return self._call("POST", f"/_sandbox/disputes/{dispute_id}/close", {"outcome": outcome})

    def escalate_dispute(self, dispute_id: str) -> dict[str, Any]:
        """An inquiry becomes a chargeback (`needs_response`; funds withdrawn)."""
        return self._call("POST", f"/_sandbox/disputes/{dispute_id}/escalate")

    def submit_dispute_evidence(
        self, dispute_id: str, evidence: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Evidence submitted: `under_review` / `warning_under_review`, `charge.dispute.updated`."""
        return self._call(
            "POST", f"/_sandbox/disputes/{dispute_id}/submit", {"evidence": evidence or {}}
        )

    # --- strictness options (options.py) -----------------------------------------------------

    def options(self) -> dict[str, Any]:
        return self._call("GET", "/_sandbox/options")

    def set_options(self, **changes: Any) -> dict[str, Any]:
        """Change options until the next reset, e.g. `set_options(strict=True)`."""
        return self._call("POST", "/_sandbox/options", changes)


def _free_socket(host: str) -> socket.socket:
    # Bind before handing the socket to uvicorn, so no other process can take the port between
    # choosing it and listening on it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextmanager
def running_sandbox(
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    *,
    host: str = "127.0.0.1",
    startup_timeout_s: float = 15.0,
    **app_options: Any,
) -> Iterator[RunningSandbox]:
    """Start a sandbox on a free port in a background thread; stop it on exit."""
    app = create_sandbox_app(webhook_url, webhook_secret, **app_options)
    sock = _free_socket(host)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        # A request parked by a timeout fault must not hold up shutdown for long.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="stripe-sandbox", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise SandboxError("the Stripe sandbox did not start")
        time.sleep(0.01)
    running = RunningSandbox(f"http://{host}:{port}", app.state.sandbox)
    try:
        yield running
    finally:
        running.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
