from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import BACKEND
from tests.factories import assert_problem, register
from tests.idempotency_support import DIE_HEADER, killable_api


async def test_retry_replays_the_first_response(client):
    owner = await register(client)
    headers = owner.headers | {"Idempotency-Key": "create-brand-1"}
    first = await client.post("/v1/brands", json={"name": "Oatly"}, headers=headers)
    again = await client.post("/v1/brands", json={"name": "Oatly"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    brands = (await client.get("/v1/brands", headers=owner.headers)).json()["data"]
    assert len(brands) == 1


async def test_same_key_other_parameters_is_422(client):
    owner = await register(client)
    headers = owner.headers | {"Idempotency-Key": "k-1"}
    await client.post("/v1/brands", json={"name": "Oatly"}, headers=headers)
    r = await client.post("/v1/brands", json={"name": "Alpro"}, headers=headers)
    assert_problem(r, 422, "idempotency-key-reused")
    assert len((await client.get("/v1/brands", headers=owner.headers)).json()["data"]) == 1


async def test_keys_are_per_caller_and_survive_token_refresh(client):
    a, b = await register(client), await register(client)
    key = {"Idempotency-Key": "shared-key"}
    ra = await client.post("/v1/brands", json={"name": "A"}, headers=a.headers | key)
    rb = await client.post("/v1/brands", json={"name": "A"}, headers=b.headers | key)
    assert ra.json()["id"] != rb.json()["id"]
    refreshed = (
        await client.post("/v1/auth/refresh", json={"refresh_token": a.refresh_token})
    ).json()
    replay = await client.post(
        "/v1/brands",
        json={"name": "A"},
        headers={"Authorization": f"Bearer {refreshed['access_token']}"} | key,
    )
    assert replay.json()["id"] == ra.json()["id"]


async def test_errors_below_500_are_replayed_too(client):
    owner = await register(client)
    headers = owner.headers | {"Idempotency-Key": "bad-1"}
    first = await client.post("/v1/brands", json={"name": ""}, headers=headers)
    again = await client.post("/v1/brands", json={"name": ""}, headers=headers)
    assert first.status_code == again.status_code == 422
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_concurrent_retries_run_once(client):
    owner = await register(client)
    headers = owner.headers | {"Idempotency-Key": "race"}
    results = await asyncio.gather(
        *[client.post("/v1/brands", json={"name": "Race"}, headers=headers) for _ in range(5)]
    )
    statuses = sorted(r.status_code for r in results)
    # Every answer is the stored 201 or "still running"; never a second brand.
    assert set(statuses) <= {201, 409} and 201 in statuses
    assert len((await client.get("/v1/brands", headers=owner.headers)).json()["data"]) == 1


async def test_keys_expire_after_24_hours(client, clock):
    owner = await register(client)
    key = {"Idempotency-Key": "old"}
    first = await client.post("/v1/brands", json={"name": "Old"}, headers=owner.headers | key)
    clock.advance(timedelta(hours=25))
    from tests.factories import relogin

    owner = await relogin(client, owner)
    later = await client.post("/v1/brands", json={"name": "Old"}, headers=owner.headers | key)
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]


async def test_malformed_key_is_422(client):
    owner = await register(client)
    r = await client.post(
        "/v1/brands", json={"name": "A"}, headers=owner.headers | {"Idempotency-Key": "x" * 300}
    )
    assert_problem(r, 422, "validation-error")


async def test_the_worker_purges_keys_past_their_24_hours(client, clock, app):
    from sqlalchemy import func, select

    from app.models import IdempotencyRecord
    from app.worker.runner import Worker

    owner = await register(client)
    for key in ("a", "b"):
        r = await client.post(
            "/v1/brands", json={"name": key}, headers=owner.headers | {"Idempotency-Key": key}
        )
        assert r.status_code == 201
    worker = Worker(app.state.resources.database, clock)

    async def stored() -> int:
        async with app.state.resources.database.sessionmaker() as session:
            return await session.scalar(select(func.count()).select_from(IdempotencyRecord))

    assert await worker.purge_idempotency_records() == 0 and await stored() == 2
    clock.advance(timedelta(hours=24, seconds=1))
    report = await worker.run_once()
    assert report.idempotency_purged == 2 and await stored() == 0


# --- the stored response is final before the client sees it (issue 11, item 3) -----------------


async def _brands(database: Any, name: str | None = None) -> int:
    from sqlalchemy import func, select

    from app.models import Brand

    query = select(func.count()).select_from(Brand)
    if name is not None:
        query = query.where(Brand.name == name)
    async with database.sessionmaker() as session:
        return await session.scalar(query)


async def test_a_retry_the_moment_the_response_arrives_is_a_replay(app, client, database):
    """The client retries as soon as it holds the whole 201 — while the server may still be
    inside its handling of the first request. The answer must be the replay, never a 409."""
    owner = await register(client)
    headers = owner.headers | {"Idempotency-Key": "retry-at-once"}
    retries: list[httpx.Response] = []

    async def client_side(scope: Any, receive: Any, send: Any) -> None:
        async def deliver(message: Any) -> None:
            await send(message)
            last = message["type"] == "http.response.body" and not message.get("more_body")
            if last and not retries:
                # This runs inside the first request's `send`: the app has not returned yet.
                retries.append(
                    await client.post("/v1/brands", json={"name": "At once"}, headers=headers)
                )

        await app(scope, receive, deliver)

    transport = httpx.ASGITransport(app=client_side, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as first:
        created = await first.post("/v1/brands", json={"name": "At once"}, headers=headers)
    assert created.status_code == 201, created.text
    [retry] = retries
    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == created.json()
    assert await _brands(database) == 1


async def test_fifty_identical_requests_at_once_make_one_brand(app, client, database):
    """50 requests with one key at once: one effect; every answer is the first's 201 (a replay
    when it came after the first finished) or a 409 while it ran. On PostgreSQL the first is held
    inside its handler (a table lock taken by the test), so every other one provably arrives
    while it runs and gets the 409; once it finished, every retry is its replay."""
    from sqlalchemy import text

    owner = await register(client)
    headers = owner.headers | {"Idempotency-Key": "fifty"}
    postgres = database.engine.dialect.name == "postgresql"
    blocker = await database.engine.connect()
    try:
        if postgres:
            await blocker.execute(text("LOCK TABLE brands IN EXCLUSIVE MODE"))
        tasks = [
            asyncio.create_task(client.post("/v1/brands", json={"name": "Fifty"}, headers=headers))
            for _ in range(50)
        ]
        if postgres:
            deadline = asyncio.get_running_loop().time() + 60
            done, pending = set(), set(tasks)
            while len(pending) > 1 and asyncio.get_running_loop().time() < deadline:
                done, pending = await asyncio.wait(tasks, timeout=0.2)
            # Every request but the one holding the key has answered while it still runs.
            assert len(pending) == 1
            assert all(t.result().status_code == 409 for t in done)
            for t in done:
                assert_problem(t.result(), 409, "idempotency-key-in-use")
    finally:
        await blocker.rollback()
        await blocker.close()
    results = await asyncio.gather(*tasks)
    created = [r for r in results if r.status_code == 201]
    assert {r.status_code for r in results} <= {201, 409}
    assert len(created) == 1 if postgres else len(created) >= 1
    assert len({r.json()["id"] for r in created}) == 1
    assert await _brands(database) == 1
    # Once the first answered, every retry replays it.
    for _ in range(5):
        again = await client.post("/v1/brands", json={"name": "Fifty"}, headers=headers)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == created[0].json()


@pytest.fixture
def served_api(settings: Any, clock: Any) -> Iterator[str]:
    """The app (its own instance, engine and event loop; same database and clock) served by
    uvicorn over real HTTP."""
    from app.main import create_app
    from tests.conftest import make_settings
    from tests.stripe_support import serve_app

    application = create_app(
        make_settings(settings.database_url, embedded_worker=False), clock=clock
    )
    with serve_app(application) as served:
        yield served.url


async def test_fifty_identical_requests_over_http_make_one_brand(client, database, served_api):
    owner = await register(client)
    headers = owner.headers | {"Idempotency-Key": "fifty-http"}
    async with httpx.AsyncClient(base_url=served_api, timeout=60) as http:
        results = await asyncio.gather(
            *[http.post("/v1/brands", json={"name": "F"}, headers=headers) for _ in range(50)]
        )
        created = [r for r in results if r.status_code == 201]
        assert {r.status_code for r in results} <= {201, 409}, [r.text for r in results]
        assert created and len({r.json()["id"] for r in created}) == 1
        # Every request sent after the first's answer arrived is its replay.
        for _ in range(10):
            again = await http.post("/v1/brands", json={"name": "F"}, headers=headers)
            assert again.status_code == 201 and again.json() == created[0].json()
    assert await _brands(database) == 1


async def test_immediate_retries_over_http_under_write_load_are_replays(
    client, database, served_api
):
    """Issue 11: under light concurrent write load, 10 of 40 immediate retries of a POST whose
    201 had been received got 409. Every one must be the replay."""
    owner, busy = await register(client), await register(client)
    stop = asyncio.Event()

    async def write_load(http: httpx.AsyncClient, n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            r = await http.post(
                "/v1/brands",
                json={"name": f"load {n}-{i}"},
                headers=busy.headers | {"Idempotency-Key": f"load-{n}-{i}"},
            )
            assert r.status_code == 201, r.text

    async with httpx.AsyncClient(base_url=served_api, timeout=60) as http:
        load = [asyncio.create_task(write_load(http, n)) for n in range(3)]
        outcomes: list[int] = []
        try:
            for i in range(40):
                headers = owner.headers | {"Idempotency-Key": f"at-once-{i}"}
                body = {"name": f"Retry {i}"}
                first = await http.post("/v1/brands", json=body, headers=headers)
                assert first.status_code == 201, first.text
                again = await http.post("/v1/brands", json=body, headers=headers)
                outcomes.append(again.status_code)
                assert again.status_code != 201 or again.json() == first.json()
        finally:
            stop.set()
            await asyncio.gather(*load)
    assert outcomes.count(409) == 0, f"{outcomes.count(409)} of 40 immediate retries got 409"
    assert outcomes == [201] * 40
    assert await _brands(database, "Retry 7") == 1


# --- a request whose process died (issue 11 item 3, issue 16) ------------------------------------


async def test_process_killed_after_commit_before_response_replays(client, database, settings):
    """The API process dies (SIGKILL) the instant its response starts: the change is committed,
    the client saw nothing. Its retry (to another process) learns the outcome: the replay."""
    owner = await register(client)
    headers = owner.headers | {"Idempotency-Key": "died-after-commit"}
    with killable_api(settings.database_url) as api:
        async with api.client() as http:
            with pytest.raises(httpx.TransportError):
                await http.post(
                    "/v1/brands",
                    json={"name": "Died"},
                    headers=headers | {DIE_HEADER: "at-response"},
                )
        assert api.died_by_sigkill
    assert await _brands(database) == 1
    retry = await client.post("/v1/brands", json={"name": "Died"}, headers=headers)
    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    [brand] = (await client.get("/v1/brands", headers=owner.headers)).json()["data"]
    assert retry.json()["id"] == brand["id"]


@pytest.mark.skipif(
    BACKEND != "postgresql", reason="holds a request mid-handler with a PostgreSQL table lock"
)
async def test_process_killed_mid_request_frees_its_key_at_once(client, database, settings):
    """The process dies while its request runs (uncommitted): the key is free as soon as the
    database saw the connection close — no 60-second lease — and the retry runs once."""
    from sqlalchemy import text

    owner = await register(client)
    headers = owner.headers | {"Idempotency-Key": "died-mid-request"}
    blocker = await database.engine.connect()
    try:
        await blocker.execute(text("LOCK TABLE brands IN EXCLUSIVE MODE"))
        with killable_api(settings.database_url) as api:
            async with api.client() as http:
                stuck = asyncio.create_task(
                    http.post("/v1/brands", json={"name": "Mid"}, headers=headers)
                )
                for _ in range(600):  # until the child holds the key (and waits on the table)
                    held = await blocker.scalar(
                        # This database's locks only: other suites share the server.
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database"
                            " = (SELECT oid FROM pg_database WHERE datname = current_database())"
                        )
                    )
                    if held:
                        break
                    await asyncio.sleep(0.05)
                busy = await client.post("/v1/brands", json={"name": "Mid"}, headers=headers)
                assert_problem(busy, 409, "idempotency-key-in-use")
                api.kill()
                with pytest.raises(httpx.TransportError):
                    await stuck
    finally:
        await blocker.rollback()
        await blocker.close()
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        retry = await client.post("/v1/brands", json={"name": "Mid"}, headers=headers)
        if retry.status_code != 409 or loop.time() - started > 10:
            break
        await asyncio.sleep(0.05)
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert await _brands(database) == 1


async def test_routes_that_commit_before_a_stripe_call_keep_their_key(
    stripe_api: httpx.AsyncClient, stripe_sandbox: Any
) -> None:
    """Funding commits what it did before it calls Stripe (no transaction is held open across
    the call): the key stays held across that commit, and the answer is stored once."""
    from tests.factories import create_contract

    deal, contract = await create_contract(stripe_api)
    url = f"/v1/contracts/{contract['id']}/funding"
    headers = deal.brand_owner.headers | {"Idempotency-Key": "fund-1"}
    results = await asyncio.gather(*[stripe_api.post(url, headers=headers) for _ in range(5)])
    assert {r.status_code for r in results} <= {200, 409}
    answered = [r for r in results if r.status_code == 200]
    assert answered and len({r.text for r in answered}) == 1
    again = await stripe_api.post(url, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.text == answered[0].text
    assert len(stripe_sandbox.client().v1.payment_intents.list({"limit": 100}).data) == 1

    # A refusal that records what led to it (a declined card) is stored and replayed too.
    confirm = {"Idempotency-Key": "confirm-1"}
    body = {"payment_method": "pm_card_chargeDeclined"}
    declined = await stripe_api.post(
        f"{url}/confirm", json=body, headers=deal.brand_owner.headers | confirm
    )
    assert_problem(declined, 402, "payment-declined")
    replayed = await stripe_api.post(
        f"{url}/confirm", json=body, headers=deal.brand_owner.headers | confirm
    )
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.text == declined.text
    funding = (await stripe_api.get(url, headers=deal.brand_owner.headers)).json()
    assert funding["failure_code"] == "generic_decline"
