from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.factories import assert_problem, register


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
    worker = Worker(app.state.database, clock)

    async def stored() -> int:
        async with app.state.database.sessionmaker() as session:
            return await session.scalar(select(func.count()).select_from(IdempotencyRecord))

    assert await worker.purge_idempotency_records() == 0 and await stored() == 2
    clock.advance(timedelta(hours=24, seconds=1))
    report = await worker.run_once()
    assert report.idempotency_purged == 2 and await stored() == 0
