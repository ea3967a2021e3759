"""Idempotency-Key semantics as Stripe documents them.

- Keys are scoped to the account the request acts on (the platform, or the `Stripe-Account`).
- The first request that *began executing* stores its status and body, success or error, and
  every later request with the same key replays them (`Idempotent-Replayed: true`).
- Requests that fail parameter validation never began executing: nothing is stored.
- The same key on another endpoint, or with other parameters, is a 400 `idempotency_error`.
- The same key while the first request is still executing is a 409 `idempotency_error`.
- Keys are forgotten 24 hours (of the sandbox clock) after first use.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

TTL_SECONDS = 24 * 3600


@dataclass
class StoredResponse:
    status: int
    body: dict[str, Any]
    request_id: str


@dataclass
class _Entry:
    endpoint: str  # "POST /v1/transfers"
    fingerprint: str
    created: int
    response: StoredResponse | None = None  # None while the first request is in flight


@dataclass
class Begin:
    """What to do with an incoming request carrying a key."""

    outcome: str  # "execute" | "replay" | "in_flight" | "endpoint_mismatch" | "params_mismatch"
    response: StoredResponse | None = None
    original_endpoint: str | None = None


def fingerprint(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


class IdempotencyStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}

    def begin(
        self, account: str, key: str, endpoint: str, params: dict[str, Any], now: int
    ) -> Begin:
        fp = fingerprint(params)
        with self._lock:
            entry = self._entries.get((account, key))
            if entry is not None and now - entry.created >= TTL_SECONDS:
                entry = None
            if entry is None:
                self._entries[(account, key)] = _Entry(endpoint, fp, now)
                return Begin("execute")
            if entry.endpoint != endpoint:
                return Begin("endpoint_mismatch", original_endpoint=entry.endpoint)
            if entry.fingerprint != fp:
                return Begin("params_mismatch")
            if entry.response is None:
                return Begin("in_flight")
            return Begin("replay", response=entry.response)

    def complete(self, account: str, key: str, response: StoredResponse) -> None:
        with self._lock:
            entry = self._entries.get((account, key))
            if entry is not None and entry.response is None:
                entry.response = response

    def abort(self, account: str, key: str) -> None:
        """Forget an in-flight key whose request never executed (so a retry runs for real)."""
        with self._lock:
            entry = self._entries.get((account, key))
            if entry is not None and entry.response is None:
                del self._entries[(account, key)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def prune(self, now: int) -> None:
        """Forget finished keys past their 24 hours (so a saved state does not grow forever)."""
        with self._lock:
            for k in [k for k, e in self._entries.items() if now - e.created >= TTL_SECONDS]:
                if self._entries[k].response is not None:
                    del self._entries[k]

    def snapshot(self) -> dict[tuple[str, str], _Entry]:
        """The finished keys (one still executing is not saved: its effect is not either)."""
        with self._lock:
            return {k: e for k, e in self._entries.items() if e.response is not None}

    def restore(self, entries: dict[tuple[str, str], _Entry]) -> None:
        with self._lock:
            self._entries = dict(entries)
