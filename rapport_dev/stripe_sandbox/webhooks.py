"""Webhook signing and delivery, in Stripe's scheme and on Stripe's retry schedule.

Signature: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed by the
whsec_ secret>`, so `stripe.Webhook.construct_event` accepts it. The timestamp is the sandbox's
clock by default (a receiver whose clock was moved the same way, as in the tests, accepts it),
or wall-clock time (`signing_clock="wall"`, what `rapport serve` uses: moving the sandbox's
clock forward for a demo does not move the API's).

Every event is one delivery, scheduled on the sandbox's clock. A background thread sends each
delivery as it falls due, oldest first; a non-2xx answer or a connection error reschedules it
with exponential backoff (Stripe, live mode: "for up to three days with an exponential back
off"; the sandbox retries after 1 min, 2, 4, ... at most 12 h apart, until 3 days after the
first attempt, then gives up). Retries wait on the sandbox's clock, never in wall-clock sleeps:
moving the clock forward (`POST /_sandbox/clock`) makes the retries that fell due go out at once.
A failing endpoint therefore delays nothing else (Stripe does not promise order either).

Pending deliveries are plain data (`snapshot` / `restore`), so a sandbox with a state file keeps
them across a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

# Stripe's live-mode horizon; the sandbox's own backoff choice (Stripe publishes no intervals).
RETRY_WINDOW_S = 3 * 86400
INITIAL_BACKOFF_S = 60.0
MAX_BACKOFF_S = 12 * 3600.0


def sign_payload(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value for a payload."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{ts}.{payload}".encode(), hashlib.sha256)
    return f"t={ts},v1={mac.hexdigest()}"


def encode_event(event: dict[str, Any]) -> str:
    # Stripe sends pretty-printed JSON; the signature covers these exact bytes.
    return json.dumps(event, indent=2)


@dataclass
class Delivery:
    """One event on its way to the endpoint (sandbox-clock times, float seconds)."""

    id: int
    event: dict[str, Any]
    next_attempt_at: float
    attempts: int = 0
    first_attempt_at: float | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "delivery": self.id,
            "event": self.event["id"],
            "type": self.event["type"],
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
        }


class WebhookDispatcher:
    def __init__(
        self,
        url: str | None = None,
        secret: str | None = None,
        *,
        max_attempts: int | None = None,
        initial_backoff_s: float = INITIAL_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        retry_window_s: float = RETRY_WINDOW_S,
        timeout_s: float = 5.0,
        on_delivered: Callable[[str], None] | None = None,
        now: Callable[[], float] | None = None,
        signing_clock: str = "sandbox",
        on_change: Callable[[], None] | None = None,
    ) -> None:
        if signing_clock not in ("sandbox", "wall"):
            raise ValueError("signing_clock must be 'sandbox' or 'wall'")
        self.now = now or time.time
        self.url = url
        self.secret = secret
        self.max_attempts = max_attempts  # None: Stripe's schedule decides (the retry window)
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.retry_window_s = retry_window_s
        self.timeout_s = timeout_s
        self.signing_clock = signing_clock
        self.on_delivered = on_delivered
        self.on_change = on_change
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, Delivery] = {}  # insertion order = event order
        self._sending: int | None = None  # the delivery being attempted right now
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=1000)  # every attempt made

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.secret)

    def configure(self, url: str | None, secret: str | None) -> None:
        with self._lock:
            self.url = url
            self.secret = secret
            self._wake.notify_all()

    def enqueue(self, event: dict[str, Any]) -> bool:
        """Schedule a snapshot of an event for delivery now; False when no endpoint is set."""
        if not self.enabled:
            return False
        with self._lock:
            delivery = Delivery(next(self._ids), json.loads(json.dumps(event)), self.now())
            self._pending[delivery.id] = delivery
            self._wake.notify_all()
        self._ensure_started()
        return True

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self.deliveries.clear()
            self._wake.notify_all()

    def poke(self) -> None:
        """The clock moved: look again at what is due."""
        with self._lock:
            self._wake.notify_all()

    def shift(self, seconds: float) -> None:
        """The clock was set (jumped), not advanced: keep every pending wait as long as it was."""
        with self._lock:
            for delivery in self._pending.values():
                delivery.next_attempt_at += seconds
                if delivery.first_attempt_at is not None:
                    delivery.first_attempt_at += seconds
            self._wake.notify_all()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d.summary() for d in self._pending.values()]

    def _due(self, now: float) -> Delivery | None:
        due = [d for d in self._pending.values() if d.next_attempt_at <= now]
        return min(due, key=lambda d: (d.next_attempt_at, d.id)) if due else None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no delivery is being sent and none is due now (a retry scheduled for
        later does not count: move the clock to make it due)."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._sending is not None or (self.enabled and self._due(self.now())):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.wait(min(remaining, 0.05))
        return True

    # --- persistence --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pending": [asdict(d) for d in self._pending.values()],
                "attempts": list(self.deliveries),
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self._lock:
            self._pending = {d["id"]: Delivery(**d) for d in data.get("pending", [])}
            self.deliveries.clear()
            self.deliveries.extend(data.get("attempts", []))
            start = max([*self._pending, *(a.get("delivery", 0) for a in self.deliveries), 0])
            self._ids = itertools.count(start + 1)

    # --- the delivery thread ------------------------------------------------------------------

    def start(self) -> None:
        self._ensure_started()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self.timeout_s + 1)
        self._thread = None

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="stripe-sandbox-webhooks", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s, trust_env=False) as client:
            while not self._stop.is_set():
                with self._wake:
                    delivery = self._due(self.now()) if self.enabled else None
                    if delivery is None:
                        # Wall time moves the sandbox clock too: look again within a second.
                        upcoming = [d.next_attempt_at for d in self._pending.values()]
                        wait = min([1.0, *(t - self.now() for t in upcoming)])
                        self._wake.wait(max(wait, 0.01))
                        continue
                    self._sending = delivery.id
                    url, secret = self.url, self.secret
                try:
                    delivered = self._attempt(client, delivery, url or "", secret or "")
                except Exception:  # a bug here must not kill the delivery thread
                    log.exception("webhook delivery of %s crashed", delivery.event.get("id"))
                    delivered = False
                if delivered and self.on_delivered is not None:
                    self.on_delivered(delivery.event["id"])
                with self._wake:
                    self._sending = None
                    self._wake.notify_all()
                if self.on_change is not None:
                    self.on_change()

    def _attempt(self, client: httpx.Client, delivery: Delivery, url: str, secret: str) -> bool:
        payload = encode_event(delivery.event)
        at = self.now()
        signed_at = int(at) if self.signing_clock == "sandbox" else int(time.time())
        record: dict[str, Any] = {
            "delivery": delivery.id,
            "event": delivery.event["id"],
            "type": delivery.event["type"],
            "attempt": delivery.attempts + 1,
            "url": url,
            "at": at,
            "status": None,
            "error": None,
            "next_attempt_at": None,
        }
        try:
            resp = client.post(
                url,
                content=payload.encode("utf-8"),
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    # Each attempt is signed afresh, like Stripe, so a retry days later still
                    # falls inside the receiver's timestamp tolerance.
                    "Stripe-Signature": sign_payload(payload, secret, signed_at),
                },
            )
            record["status"] = resp.status_code
            ok = 200 <= resp.status_code < 300
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            ok = False
        with self._lock:
            if delivery.id not in self._pending:  # cleared (reset) while it was being sent
                return False
            delivery.attempts += 1
            if delivery.first_attempt_at is None:
                delivery.first_attempt_at = at
            if ok:
                del self._pending[delivery.id]
            else:
                backoff = min(
                    self.initial_backoff_s * 2 ** (delivery.attempts - 1), self.max_backoff_s
                )
                next_at = at + backoff
                out_of_attempts = (
                    self.max_attempts is not None and delivery.attempts >= self.max_attempts
                )
                if out_of_attempts or next_at > delivery.first_attempt_at + self.retry_window_s:
                    del self._pending[delivery.id]
                    record["gave_up"] = True
                    log.warning(
                        "gave up delivering %s after %d attempts",
                        delivery.event["id"],
                        delivery.attempts,
                    )
                else:
                    delivery.next_attempt_at = next_at
                    record["next_attempt_at"] = next_at
            self.deliveries.append(record)
        return ok
