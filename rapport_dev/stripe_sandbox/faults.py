"""Injected failures, so tests can prove the application survives Stripe misbehaving.

A fault matches requests by method and path (an exact path or an fnmatch pattern such as
`/v1/transfers/*/reversals`) and fires for the next `count` matching requests that would actually
execute (idempotent replays are answered from the store and never consume a fault). Modes:

- `error_before_apply`: answer 500 api_error, change nothing, store no idempotent result.
- `error_after_apply`: perform the operation, then answer 500 — and, as Stripe does, store that
  500 under the Idempotency-Key: a retry with the key replays the 500 for 24 hours (sandbox
  clock); the client learns the outcome only by looking the object up.
- `answer_lost_after_apply`: perform the operation and store its real result, then answer 500
  in place of the answer lost on the way (a dropped connection, a proxy's error: not a response
  of Stripe's API, so nothing replays it). A retry with the key replays the stored success.
- `timeout_after_apply`: perform the operation and store its result, then sleep `delay_s`
  before answering, so a client with a shorter timeout gives up; its retry replays the result.
- `delay_before_apply`: sleep `delay_s` while holding the idempotency key, then perform the
  operation normally; a concurrent request with the same key gets 409 in the meantime.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import asdict, dataclass
from typing import Any

MODES = (
    "error_before_apply",
    "error_after_apply",
    "answer_lost_after_apply",
    "timeout_after_apply",
    "delay_before_apply",
)


class FaultSpecError(ValueError):
    pass


@dataclass
class Fault:
    path: str
    method: str | None  # None matches any method
    mode: str
    remaining: int | None  # None = fires until cleared
    delay_s: float

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path == path or fnmatch.fnmatchcase(path, self.path)


def parse_fault(data: Any) -> Fault:
    if not isinstance(data, dict):
        raise FaultSpecError("fault must be a JSON object")
    path = data.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise FaultSpecError("'path' must be a string starting with '/'")
    mode = data.get("mode")
    if mode not in MODES:
        raise FaultSpecError(f"'mode' must be one of {', '.join(MODES)}")
    method = data.get("method")
    if method is not None and not isinstance(method, str):
        raise FaultSpecError("'method' must be a string")
    count = data.get("count", 1)
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise FaultSpecError("'count' must be a positive integer or null (unlimited)")
    delay = data.get("delay_s", 5.0)
    if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
        raise FaultSpecError("'delay_s' must be a non-negative number")
    return Fault(
        path=path,
        method=method.upper() if method else None,
        mode=mode,
        remaining=count,
        delay_s=float(delay),
    )


class FaultStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, consuming one of its shots."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None
