"""Rate limits (issue 14 item 3): per credential by plan, in memory or shared through Redis by
several API processes; 429 problem with Retry-After and the IETF RateLimit fields; other tenants
unaffected; a refused request changes nothing.

The Redis tests use the Redis at `RAPPORT_TEST_REDIS_URL` (default 127.0.0.1:6379, which
`.ci/run` starts); each test has its own key prefix. Without Redis they skip, and under CI=true
they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from limits.errors import StorageError
from sqlalchemy import func, select

from app.main import create_app
from app.models import Brand
from app.settings import Settings
from tests.factories import assert_problem, register

REDIS_URL = os.environ.get("RAPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POLICY = re.compile(r'^"(?P<name>[a-z-]+)";q=(?P<q>\d+);w=(?P<w>\d+)$')
STATE = re.compile(r'^"(?P<name>[a-z-]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


def remaining(response: httpx.Response) -> int:
    match = STATE.match(response.headers["RateLimit"])
    assert match, response.headers["RateLimit"]
    return int(match["r"])


@pytest.fixture
def redis_url() -> str:
    parsed = urlparse(REDIS_URL)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=2).close()
    except OSError as exc:
        message = f"Redis at {REDIS_URL} is unreachable ({exc})"
        if IN_CI:
            pytest.fail(message + " — CI=true: .ci/run starts redis-server; this is a failure")
        pytest.skip(message + " — the Redis rate-limit tests are SKIPPED")
    return REDIS_URL


@pytest.fixture
async def apps(make_settings_for: Any, clock: Any, database: Any) -> AsyncIterator[Any]:
    """Builds extra API instances over the test database; cleans their counts up after."""
    made: list[Any] = []

    def build(**overrides: Any) -> Any:
        settings: Settings = make_settings_for(**overrides)
        app = create_app(settings, clock=clock)
        made.append(app)
        return app

    yield build
    for app in made:
        with contextlib.suppress(StorageError):  # the unreachable Redis's test
            await app.state.resources.identity.rate_limiter.reset()
        await app.state.resources.database.dispose()


async def test_a_credential_over_its_plan_gets_a_429_with_the_ratelimit_fields(apps, make_client):
    app = apps(rate_limit_plans={"standard": "3/minute"})
    async with make_client(app) as client:
        person, neighbour = await register(client), await register(client)
        answers = [await client.get("/v1/me", headers=person.headers) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert [remaining(a) for a in answers] == [2, 1, 0]
        policy = POLICY.match(answers[0].headers["RateLimit-Policy"])
        assert policy and (policy["name"], policy["q"], policy["w"]) == ("standard", "3", "60")

        refused = await client.get("/v1/me", headers=person.headers)
        body = assert_problem(refused, 429, "rate-limited")
        assert refused.headers["content-type"] == "application/problem+json"
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 60 and body["retry_after"] == retry_after
        assert remaining(refused) == 0
        assert STATE.match(refused.headers["RateLimit"])["t"] == str(retry_after)
        # Another tenant on the same process: its own, full bucket.
        other = await client.get("/v1/me", headers=neighbour.headers)
        assert other.status_code == 200 and remaining(other) == 2


async def test_an_api_key_counts_in_its_own_bucket_by_its_plan(apps, make_client):
    app = apps(rate_limit_plans={"standard": "2/minute", "partner": "5/minute"})
    async with make_client(app) as client:
        person = await register(client)
        made = await client.post(
            "/v1/api-keys",
            json={"name": "sync", "scopes": ["briefs:read"]},
            headers=person.headers,
        )
        assert made.status_code == 201
        key = {"Authorization": f"Bearer {made.json()['secret']}"}
        assert (await client.get("/v1/me", headers=person.headers)).status_code == 200
        # The person's own bucket is spent; the key's is not.
        assert_problem(await client.get("/v1/me", headers=person.headers), 429, "rate-limited")
        first = await client.get("/v1/briefs", headers=key)
        assert first.status_code == 200 and first.headers["RateLimit-Policy"].startswith(
            '"standard";q=2;'
        )
        assert (await client.get("/v1/briefs", headers=key)).status_code == 200
        assert_problem(await client.get("/v1/briefs", headers=key), 429, "rate-limited")


async def test_a_refused_request_changes_nothing(apps, make_client, database):
    app = apps(rate_limit_plans={"standard": "1/minute"})
    async with make_client(app) as client:
        person = await register(client)
        assert (await client.get("/v1/me", headers=person.headers)).status_code == 200
        headers = {**person.headers, "Idempotency-Key": "brand-1"}
        refused = await client.post("/v1/brands", json={"name": "Oats"}, headers=headers)
        assert_problem(refused, 429, "rate-limited")
        async with database.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(Brand)) == 0
        # Once the window allows (forgotten here), the same Idempotency-Key runs the request:
        # the 429 was not stored as the key's answer.
        await app.state.resources.identity.rate_limiter.reset()
        made = await client.post("/v1/brands", json={"name": "Oats"}, headers=headers)
        assert made.status_code == 201, made.text
        assert "Idempotent-Replayed" not in made.headers


async def test_two_api_processes_share_one_limit_through_redis(apps, make_client, redis_url):
    prefix = "rapport-test-" + secrets.token_hex(4)
    settings = {
        "redis_url": redis_url,
        "redis_key_prefix": prefix,
        "rate_limit_plans": {"standard": "3/minute"},
    }
    first, second = apps(**settings), apps(**settings)
    async with make_client(first) as a, make_client(second) as b:
        person, neighbour = await register(a), await register(a)
        assert (await a.get("/v1/me", headers=person.headers)).status_code == 200
        assert (await b.get("/v1/me", headers=person.headers)).status_code == 200
        last = await a.get("/v1/me", headers=person.headers)
        assert last.status_code == 200 and remaining(last) == 0
        # Spent on one process, spent on the other.
        assert_problem(await b.get("/v1/me", headers=person.headers), 429, "rate-limited")
        assert_problem(await a.get("/v1/me", headers=person.headers), 429, "rate-limited")
        # Another tenant's bucket on the same Redis is untouched.
        assert (await b.get("/v1/me", headers=neighbour.headers)).status_code == 200


async def test_sign_in_limits_per_ip_are_shared_through_redis(apps, make_client, redis_url):
    settings = {
        "redis_url": redis_url,
        "redis_key_prefix": "rapport-test-" + secrets.token_hex(4),
        "login_max_attempts_per_ip": 2,
    }
    first, second = apps(**settings), apps(**settings)
    wrong = {"username": "nobody@example.com", "password": "wrong-pass!"}
    async with (
        make_client(first, ip="198.51.100.20") as a,
        make_client(second, ip="198.51.100.20") as b,
    ):
        assert (await a.post("/v1/auth/token", data=wrong)).status_code == 401
        assert (await b.post("/v1/auth/token", data=wrong)).status_code == 401
        refused = await a.post("/v1/auth/token", data=wrong)
        assert_problem(refused, 429, "rate-limited")
        assert refused.headers["RateLimit-Policy"].startswith('"signin-ip";q=2;')
    async with make_client(second, ip="198.51.100.21") as c:
        assert (await c.post("/v1/auth/token", data=wrong)).status_code == 401


async def test_an_unreachable_redis_lets_requests_through(apps, make_client, capsys):
    # Port 9 (discard) has no Redis: the limiter fails open and says so in the log.
    app = apps(redis_url="redis://127.0.0.1:9/0", rate_limit_plans={"standard": "1/minute"})
    async with make_client(app) as client:
        person = await register(client)
        for _ in range(2):
            answer = await client.get("/v1/me", headers=person.headers)
            assert answer.status_code == 200 and "RateLimit" not in answer.headers
    logged = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    messages = [x["msg"] for x in logged if x["logger"] == "rapport.rate_limits"]
    assert messages and all(
        m.startswith("rate-limit storage unreachable (") and m.endswith("request let through")
        for m in messages
    )


def test_plans_are_checked_when_the_settings_load(make_settings_for):
    with pytest.raises(ValueError, match="plan 'standard'"):
        make_settings_for(rate_limit_plans={"standard": "lots"})
    with pytest.raises(ValueError, match="RAPPORT_RATE_LIMIT_DEFAULT_PLAN"):
        make_settings_for(rate_limit_plans={"partner": "10/second"})


def test_openapi_states_the_429_and_its_headers_on_every_secured_operation(app):
    document = app.openapi()
    headers = document["components"]["headers"]
    assert set(headers) == {"Retry-After", "RateLimit", "RateLimit-Policy"}
    missing = [
        f"{method} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
        and set(operation["responses"].get("429", {}).get("headers", {})) != set(headers)
    ]
    assert missing == []


async def test_browsers_may_read_the_rate_limit_fields(client):
    person = await register(client)
    answer = await client.get(
        "/v1/me", headers={**person.headers, "Origin": "http://localhost:5173"}
    )
    assert answer.status_code == 200 and "RateLimit" in answer.headers
    exposed = answer.headers["access-control-expose-headers"].lower().split(", ")
    assert {"ratelimit", "ratelimit-policy", "retry-after"} <= set(exposed)


async def test_the_in_memory_window_moves_with_time(monkeypatch):
    # The embedded limiter's own moving window (app/services/identity/rate_limits.py): a hit
    # leaves the count `w` seconds after it was taken, one by one, and a refused hit takes nothing.
    from app.services.identity import rate_limits

    now = [1_000.0]
    monkeypatch.setattr(rate_limits.time, "time", lambda: now[0])
    windows = rate_limits.MemoryWindows()
    item = rate_limits.Policy.per_window("p", 2, 10).item
    assert await windows.hit(item, "a")
    now[0] += 4
    assert await windows.hit(item, "a")
    assert not await windows.hit(item, "a") and not await windows.test(item, "a")
    stats = await windows.get_window_stats(item, "a")
    assert (stats.remaining, stats.reset_time) == (0, 1_010.0)
    assert await windows.hit(item, "b")  # another bucket is untouched
    now[0] += 6.5  # the first hit has left the window, the second has not
    assert await windows.test(item, "a") and await windows.hit(item, "a")
    assert not await windows.hit(item, "a")
    stats = await windows.get_window_stats(item, "a")
    assert (stats.remaining, stats.reset_time) == (0, 1_014.0)
    now[0] += 100  # every bucket idle for a sweep period is forgotten, a new one kept
    assert await windows.hit(item, "z")
    assert list(windows._hits) == [("z", 2, 10)]
    assert await windows.hit(item, "z") and not await windows.hit(item, "z")
