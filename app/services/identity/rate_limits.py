"""Rate limits: per credential (by plan) and per client IP and account on sign-in.

The algorithm is a moving window (exact: a request is refused when the last `w` seconds already
hold `q` requests), kept in process memory in embedded mode (`MemoryWindows` below), or in Redis
through the `limits` library when `RAPPORT_REDIS_URL` is set so every API process shares one count.
Each bucket is its own key (`cred:<family>`, `signin-ip:<ip>`, `signin-account:<hash>`,
`oauth-client:<client_id>`, `oauth-failed-auth:<ip>`), so one tenant spending its quota never
touches another's.

In memory the windows are this module's, not `limits`' memory storage: that one inserted every hit
at the head of a list and started an expiry task per request that searched each key's list in a
thread-pool thread — 14 % of a single-brief read's CPU (benchmarks/api/README.md). Here a hit is
an append to the key's queue and the expired hits at its head are dropped as they are met.

A refused request is refused before the route runs and before anything is written: `consume` is
one atomic test-and-take, and a refused take records nothing. The answer carries `Retry-After`
and the IETF `RateLimit` / `RateLimit-Policy` fields (draft-ietf-httpapi-ratelimit-headers,
structured-field form): `RateLimit-Policy: "standard";q=600;w=60` (quota, window) and
`RateLimit: "standard";r=12;t=30` (remaining, seconds until one more request fits).

The window is the wall clock's (the library's), not the application clock: the test clock moves
business time, and limits are about real request rates.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MovingWindowSupport, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.util import WindowStats

from app.errors import RateLimited
from app.settings import Settings

logger = logging.getLogger("rapport.rate_limits")


@dataclass(frozen=True)
class Policy:
    """A named quota: `limit` requests per `window_seconds`."""

    name: str
    item: RateLimitItem

    @property
    def limit(self) -> int:
        return self.item.amount

    @property
    def window_seconds(self) -> int:
        return self.item.get_expiry()

    @classmethod
    def parse(cls, name: str, text: str) -> Policy:
        return cls(name, parse(text))

    @classmethod
    def per_window(cls, name: str, limit: int, window_seconds: int) -> Policy:
        return cls(name, RateLimitItemPerSecond(limit, window_seconds))


@dataclass(frozen=True)
class Quota:
    """Where a bucket stands after a request: what the response headers say."""

    policy: Policy
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        name = self.policy.name
        return {
            "RateLimit-Policy": f'"{name}";q={self.policy.limit};w={self.policy.window_seconds}',
            "RateLimit": f'"{name}";r={self.remaining};t={self.reset_seconds}',
        }


def refusal(
    quota: Quota, detail: str, problem_type: type[RateLimited] = RateLimited
) -> RateLimited:
    problem = problem_type(max(1, quota.reset_seconds), detail)
    problem.headers.update(quota.headers())
    return problem


class MemoryWindows:
    """Moving windows in this process's memory, with the interface of `limits`' moving-window
    strategy (`hit`, `test`, `get_window_stats`) and its verdicts: a hit is taken when fewer than
    `amount` hits are younger than the window. Each bucket is a queue of its hits' times, oldest
    first; nothing here awaits, so each call is atomic on the event loop."""

    # Buckets whose every hit has left its window are dropped this often (seconds).
    SWEEP_SECONDS = 60.0

    def __init__(self) -> None:
        self._hits: dict[tuple[str, int, int], deque[float]] = {}
        self._next_sweep = time.time() + self.SWEEP_SECONDS

    def _window(self, item: RateLimitItem, key: str, now: float) -> deque[float]:
        if now >= self._next_sweep:
            self._sweep(now)
        expiry = item.get_expiry()
        bucket = (key, item.amount, expiry)
        hits = self._hits.get(bucket)
        if hits is None:
            hits = self._hits[bucket] = deque()
        cutoff = now - expiry
        while hits and hits[0] < cutoff:
            hits.popleft()
        return hits

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.SWEEP_SECONDS
        for bucket, hits in list(self._hits.items()):
            if not hits or hits[-1] < now - bucket[2]:
                del self._hits[bucket]

    async def hit(self, item: RateLimitItem, key: str) -> bool:
        now = time.time()
        hits = self._window(item, key, now)
        if len(hits) >= item.amount:
            return False
        hits.append(now)
        return True

    async def test(self, item: RateLimitItem, key: str) -> bool:
        return len(self._window(item, key, time.time())) < item.amount

    async def get_window_stats(self, item: RateLimitItem, key: str) -> WindowStats:
        now = time.time()
        hits = self._window(item, key, now)
        start = hits[0] if hits else now
        return WindowStats(start + item.get_expiry(), item.amount - len(hits))

    async def reset(self) -> None:
        self._hits.clear()


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self._strategy: MemoryWindows | MovingWindowRateLimiter
        self._reset: MemoryWindows | Storage
        if settings.redis_url:
            options: dict[str, str | bool] = {
                "wrap_exceptions": True,
                "key_prefix": settings.redis_key_prefix,
            }
            # `limits` names its async storages `async+redis://…`; the setting is a plain URL.
            uri = "async+" + settings.redis_url.removeprefix("async+")
            storage = storage_from_string(uri, **options)
            assert isinstance(storage, Storage) and isinstance(storage, MovingWindowSupport)
            self._strategy = MovingWindowRateLimiter(storage)
            self._reset = storage
        else:
            self._strategy = self._reset = MemoryWindows()
        self.plans = {
            name: Policy.parse(name, text) for name, text in settings.rate_limit_plans.items()
        }
        self.default_plan = settings.rate_limit_default_plan
        window = settings.login_window_seconds
        self.signin_ip = Policy.per_window("signin-ip", settings.login_max_attempts_per_ip, window)
        self.signin_account = Policy.per_window(
            "signin-account", settings.login_max_failures_per_account, window
        )
        # The OAuth endpoints (token, revoke, introspect): per application once it has
        # authenticated, per client IP for requests whose client authentication fails.
        self.oauth_client = Policy.parse("oauth-client", settings.oauth_client_rate_limit)
        self.oauth_failed_auth = Policy.parse(
            "oauth-failed-auth", settings.oauth_failed_auth_rate_limit
        )

    def plan(self, name: str) -> Policy:
        # A plan dropped from the settings falls back to the default rather than failing calls.
        return self.plans.get(name) or self.plans[self.default_plan]

    async def _quota(self, policy: Policy, key: str) -> Quota:
        stats = await self._strategy.get_window_stats(policy.item, key)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return Quota(policy, max(0, stats.remaining), reset)

    async def consume(
        self,
        policy: Policy,
        key: str,
        detail: str,
        problem_type: type[RateLimited] = RateLimited,
    ) -> Quota | None:
        """Takes one request from `key`'s bucket, or raises the 429 (having taken nothing).
        None when the storage is unreachable: limits then fail open (logged), so a Redis outage
        slows nobody down to zero."""
        try:
            allowed = await self._strategy.hit(policy.item, key)
            quota = await self._quota(policy, key)
        except StorageError as exc:
            logger.error("rate-limit storage unreachable (%s); request let through", exc)
            return None
        if not allowed:
            raise refusal(quota, detail, problem_type)
        return quota

    async def check(self, policy: Policy, key: str, detail: str) -> None:
        """Raises the 429 when `key`'s bucket is empty; takes nothing."""
        try:
            allowed = await self._strategy.test(policy.item, key)
            quota = None if allowed else await self._quota(policy, key)
        except StorageError as exc:
            logger.error("rate-limit storage unreachable (%s); request let through", exc)
            return
        if quota is not None:
            raise refusal(quota, detail)

    async def reset(self) -> None:
        """Forgets every count (tests; `rapport` operators after a misconfiguration)."""
        await self._reset.reset()
