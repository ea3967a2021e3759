"""The sandbox's whole state in one file, so a restart keeps every object Rapport knows the id of.

What is saved: every store of `SandboxState` (objects, owners, indexes, balance transactions,
test cards, account links, options, whatever the state holds — taken generically from the
instance, so a new store is saved without changes here), the clock's offset, the idempotency
keys with their stored responses, the pending webhook deliveries and the attempts log, and the
payout schedule. What is not: armed faults (a test's business) and the webhook endpoint (given
again at start-up).

The file is JSON (readable, diffable), rewritten after every request that changed something,
*before* the answer is sent: written to a temporary file beside it and renamed over it, so a
reader or a `kill -9` sees the old or the new state, never half of one. Answered means saved.
(There is no fsync: the rename survives the process dying, not the machine losing power.)

Python containers JSON cannot hold (tuples, sets, defaultdicts, non-string keys, dataclasses of
this package, itertools.count) are tagged `{"__t": kind, ...}`; Stripe objects are JSON already.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1
TAG = "__t"
_PACKAGE = __name__.rsplit(".", 1)[0]
_FACTORIES: dict[str, Callable[[], Any]] = {"list": list, "dict": dict, "int": int, "set": set}
# Attributes of SandboxState that are wiring, not state.
TRANSIENT = frozenset({"_lock", "clock", "webhooks_enabled", "on_event"})
# Stores whose values are Stripe objects (plain JSON): saved as they are, without a walk.
PLAIN_JSON = frozenset({"_objects"})


class StateFileError(RuntimeError):
    pass


def encode(value: Any, where: str = "state") -> Any:
    """A JSON-able form of `value` (see the module docstring for the tags)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [encode(v, where) for v in value]
    if isinstance(value, defaultdict):
        factory = value.default_factory
        name = getattr(factory, "__name__", None)
        if name not in _FACTORIES or _FACTORIES[name] is not factory:
            raise StateFileError(f"{where}: defaultdict({factory!r}) cannot be saved")
        return {TAG: "defaultdict", "factory": name, "items": _pairs(value, where)}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and TAG not in value:
            return {k: encode(v, f"{where}.{k}") for k, v in value.items()}
        return {TAG: "dict", "items": _pairs(value, where)}
    if isinstance(value, tuple):
        return {TAG: "tuple", "items": [encode(v, where) for v in value]}
    if isinstance(value, set | frozenset):
        return {TAG: "set", "items": [encode(v, where) for v in value]}
    if isinstance(value, deque):
        return {TAG: "deque", "maxlen": value.maxlen, "items": [encode(v, where) for v in value]}
    if isinstance(value, itertools.count):
        # repr is "count(n)": the next value it will give.
        match = re.fullmatch(r"count\((-?\d+)\)", repr(value))
        if match is None:
            raise StateFileError(f"{where}: {value!r} cannot be saved")
        return {TAG: "count", "next": int(match.group(1))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if not cls.__module__.startswith(_PACKAGE):
            raise StateFileError(f"{where}: {cls.__qualname__} is not a sandbox dataclass")
        fields = {f.name: encode(getattr(value, f.name), where) for f in dataclasses.fields(value)}
        return {TAG: "dataclass", "class": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    raise StateFileError(f"{where}: a {type(value).__name__} cannot be saved")


def _pairs(value: dict[Any, Any], where: str) -> list[list[Any]]:
    return [[encode(k, where), encode(v, where)] for k, v in value.items()]


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(TAG)
    if kind is None:
        return {k: decode(v) for k, v in value.items()}
    if kind == "dict":
        return {_hashable(decode(k)): decode(v) for k, v in value["items"]}
    if kind == "defaultdict":
        out: defaultdict[Any, Any] = defaultdict(_FACTORIES[value["factory"]])
        for k, v in value["items"]:
            out[_hashable(decode(k))] = decode(v)
        return out
    if kind == "tuple":
        return tuple(decode(v) for v in value["items"])
    if kind == "set":
        return {_hashable(decode(v)) for v in value["items"]}
    if kind == "deque":
        return deque((decode(v) for v in value["items"]), maxlen=value["maxlen"])
    if kind == "count":
        return itertools.count(value["next"])
    if kind == "dataclass":
        module, _, qualname = value["class"].partition(":")
        if not module.startswith(_PACKAGE):  # never import anything a file names
            raise StateFileError(f"refusing to load {value['class']}")
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        return cls(**{k: decode(v) for k, v in value["fields"].items()})
    raise StateFileError(f"unknown tag {kind!r} in the state file")


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


class StateFile:
    """Saves and loads one sandbox (`server.Sandbox`) to and from `path`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._write_lock = threading.Lock()
        self._written = 0  # sequence number of the newest snapshot on disk
        self._seq = itertools.count(1)
        self.last_save_s = 0.0  # how long the last save took (encode + write)

    def save(self, sandbox: Any) -> None:
        started = time.perf_counter()
        state = sandbox.state
        # One consistent cut: the state's lock first (the order every request takes), then the
        # others' own locks inside their snapshot methods.
        with state._lock:
            seq = next(self._seq)
            sandbox.idempotency.prune(state.clock.now())  # keys past 24 h are not kept
            stores = {
                name: (value if name in PLAIN_JSON else encode(value, name))
                for name, value in vars(state).items()
                if name not in TRANSIENT and not callable(value)
            }
            document = {
                "format": FORMAT,
                "saved_at": time.time(),
                "clock_offset": state.clock.offset,
                "state": stores,
                "idempotency": encode(sandbox.idempotency.snapshot(), "idempotency"),
                "webhooks": sandbox.webhooks.snapshot(),
                "schedule": sandbox.schedule.snapshot(),
            }
            text = json.dumps(document, separators=(",", ":"))
        with self._write_lock:
            if seq < self._written:
                return  # a newer snapshot is already on disk
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._written = seq
        self.last_save_s = time.perf_counter() - started

    def load(self, sandbox: Any) -> bool:
        """Restore `sandbox` from the file; False when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        document = json.loads(text)
        if document.get("format") != FORMAT:
            raise StateFileError(
                f"{self.path}: format {document.get('format')!r}, expected {FORMAT} "
                f"(delete the file to start an empty sandbox)"
            )
        state = sandbox.state
        with state._lock:
            for name, value in document["state"].items():
                # A store the running code no longer has is dropped; one it has that the file
                # lacks keeps its fresh (empty) value.
                if name in vars(state):
                    setattr(state, name, value if name in PLAIN_JSON else decode(value))
            state.clock.offset = float(document.get("clock_offset", 0.0))
        sandbox.idempotency.restore(decode(document.get("idempotency") or {}))
        sandbox.webhooks.restore(document.get("webhooks") or {})
        sandbox.schedule.restore(document.get("schedule") or {})
        log.info("Stripe sandbox state loaded from %s", self.path)
        return True
