"""Webhook signing and delivery, exactly in Stripe's scheme.

Signature: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed by the
whsec_ secret>`, so `stripe.Webhook.construct_event` accepts it. The timestamp is the sandbox's
clock (wall-clock time unless a test or demo moved it), so a receiver whose clock was moved the
same way accepts it, as a real receiver accepts Stripe's.

Delivery runs on one background thread, one event at a time in the order events were created,
each retried with exponential backoff on a non-2xx answer or a connection error, up to a bounded
number of attempts. Strict ordering is a deliberate simplification (Stripe itself does not
guarantee order); a dead receiver therefore delays later events by the retry budget at most.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

log = logging.getLogger(__name__)


def sign_payload(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value for a payload."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{ts}.{payload}".encode(), hashlib.sha256)
    return f"t={ts},v1={mac.hexdigest()}"


def encode_event(event: dict[str, Any]) -> str:
    # Stripe sends pretty-printed JSON; the signature covers these exact bytes.
    return json.dumps(event, indent=2)


class WebhookDispatcher:
    def __init__(
        self,
        url: str | None = None,
        secret: str | None = None,
        *,
        max_attempts: int = 5,
        initial_backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        timeout_s: float = 5.0,
        on_delivered: Callable[[str], None] | None = None,
        now: Callable[[], int] | None = None,
    ) -> None:
        self.now = now or (lambda: int(time.time()))
        self.url = url
        self.secret = secret
        self.max_attempts = max_attempts
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.on_delivered = on_delivered
        self._queue: queue.Queue[tuple[int, dict[str, Any]] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Bumped by clear(): queued or retrying deliveries of an older generation are dropped,
        # so a sandbox reset does not leak events into the next test.
        self._generation = 0
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=1000)

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.secret)

    def configure(self, url: str | None, secret: str | None) -> None:
        with self._lock:
            self.url = url
            self.secret = secret

    def enqueue(self, event: dict[str, Any]) -> bool:
        """Queue a snapshot of an event for delivery; False when no endpoint is configured."""
        if not self.enabled:
            return False
        self._ensure_started()
        with self._lock:
            self._busy += 1
            self._queue.put((self._generation, json.loads(json.dumps(event))))
        return True

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self.deliveries.clear()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery finished (delivered or gave up)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def start(self) -> None:
        self._ensure_started()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=5)
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
                item = self._queue.get()
                if item is None:
                    break
                generation, event = item
                try:
                    self._deliver(client, generation, event)
                except Exception:  # a bug here must not kill the delivery thread
                    log.exception("webhook delivery of %s crashed", event.get("id"))
                finally:
                    with self._idle:
                        self._busy -= 1
                        self._idle.notify_all()

    def _current(self, generation: int) -> bool:
        with self._lock:
            return generation == self._generation and not self._stop.is_set()

    def _deliver(self, client: httpx.Client, generation: int, event: dict[str, Any]) -> None:
        payload = encode_event(event)
        backoff = self.initial_backoff_s
        for attempt in range(1, self.max_attempts + 1):
            with self._lock:
                url, secret = self.url, self.secret
            if not self._current(generation) or not url or not secret:
                return
            record: dict[str, Any] = {
                "event": event["id"],
                "type": event["type"],
                "attempt": attempt,
                "url": url,
                "at": time.time(),
                "status": None,
                "error": None,
            }
            try:
                resp = client.post(
                    url,
                    content=payload.encode("utf-8"),
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                        # Each attempt is signed afresh, like Stripe, so retries late in the
                        # backoff still fall inside the receiver's timestamp tolerance.
                        "Stripe-Signature": sign_payload(payload, secret, self.now()),
                    },
                )
                record["status"] = resp.status_code
                ok = 200 <= resp.status_code < 300
            except httpx.HTTPError as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
                ok = False
            self.deliveries.append(record)
            if ok:
                if self.on_delivered is not None:
                    self.on_delivered(event["id"])
                return
            if attempt < self.max_attempts:
                # Sleep on the stop event so shutdown does not wait out the backoff.
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, self.max_backoff_s)
        log.warning("gave up delivering %s after %d attempts", event["id"], self.max_attempts)
