"""Error shapes, request ids, body limits, pagination — the conventions every route follows."""

from __future__ import annotations

import json

import httpx
from fastapi import APIRouter

from app.main import create_app
from tests.factories import assert_problem, create_brand, register


async def test_unknown_route_and_method_are_problems(client):
    assert_problem(await client.get("/v1/nothing-here"), 404, "not-found")
    assert_problem(await client.put("/healthz"), 405, "method-not-allowed")


async def test_405_names_every_allowed_method(client):
    r = await client.put("/healthz")
    assert_problem(r, 405, "method-not-allowed")
    assert r.headers["allow"] == "GET"
    # GET and POST /v1/briefs are two routes; Allow names both (Starlette named only the first).
    r = await client.request("TRACE", "/v1/briefs")
    assert_problem(r, 405, "method-not-allowed")
    assert r.headers["allow"] == "GET, POST"
    assert r.headers["x-request-id"]


async def test_malformed_json_is_a_400_problem(client):
    owner = await register(client)
    r = await client.post(
        "/v1/brands",
        content=b'{"name": ',
        headers=owner.headers | {"content-type": "application/json"},
    )
    assert_problem(r, 400, "malformed-request")


async def test_validation_problem_names_each_field(client):
    r = await client.post("/v1/auth/register", json={"email": 5, "password": None})
    body = assert_problem(r, 422, "validation-error")
    fields = {e["field"] for e in body["errors"]}
    assert {"email", "password", "full_name"} <= fields
    assert all(e["rule"] and e["message"] for e in body["errors"])


async def test_strict_types_refuse_coercion(client):
    owner = await register(client)
    # A boolean where a string is expected is not quietly converted.
    r = await client.post("/v1/brands", json={"name": True}, headers=owner.headers)
    assert_problem(r, 422, "validation-error")


async def test_body_over_the_cap_is_413(app, make_client, make_settings_for):
    small = create_app(make_settings_for(max_body_bytes=64), clock=app.state.resources.clock)
    async with make_client(small) as c:
        r = await c.post(
            "/v1/auth/register", content=b"x" * 65, headers={"content-type": "application/json"}
        )
        assert_problem(r, 413, "payload-too-large")

        # Chunked (no Content-Length): counted while streaming.
        async def chunks():
            for _ in range(10):
                yield b"x" * 16

        r = await c.post(
            "/v1/auth/register", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_problem(r, 413, "payload-too-large")
    await small.state.resources.database.dispose()


async def test_request_id_is_echoed_or_made(client):
    r = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-Id": "bad id with spaces\n"})
    assert (
        r.headers["x-request-id"] != "bad id with spaces\n" and len(r.headers["x-request-id"]) == 32
    )


async def test_unexpected_errors_leak_nothing(app, make_client, make_settings_for, capsys):
    broken = create_app(make_settings_for(), clock=app.state.resources.clock)
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM users -- password=hunter2")

    broken.include_router(router)
    # Answered by the request-context layer: nothing is re-raised to the server.
    transport = httpx.ASGITransport(app=broken)
    async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as c:
        r = await c.get("/boom", headers={"X-Request-Id": "req-boom-1"})
    body = assert_problem(r, 500, "internal-error")
    assert "hunter2" not in r.text and "Traceback" not in r.text and "SELECT" not in r.text
    assert body["detail"] == "Something went wrong on our side"
    # The 500 carries the request id, and so does its log line (with the cause).
    assert r.headers["x-request-id"] == "req-boom-1"
    # create_app's logging writes JSON lines to the (captured) stderr.
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    [line] = [x for x in lines if x["logger"] == "rapport.errors"]
    assert line["request_id"] == "req-boom-1" and "hunter2" in line["exc"]
    await broken.state.resources.database.dispose()


async def test_pagination_is_stable_while_rows_arrive(client):
    owner = await register(client)
    created = [(await create_brand(client, owner, f"Brand {i}"))["id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/brands", params=params, headers=owner.headers)).json()
        seen += [b["id"] for b in page["data"]]
        # A row created mid-walk sorts after everything (ids are time-ordered): it shows up
        # once at the end, and nothing already seen repeats.
        if len(seen) == 3:
            created.append((await create_brand(client, owner, "Late"))["id"])
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert seen == sorted(created)
    assert len(seen) == len(set(seen))


async def test_pagination_rejects_bad_limits_and_cursors(client, settings):
    owner = await register(client)
    h = owner.headers
    body = assert_problem(
        await client.get("/v1/brands", params={"limit": settings.page_size_max + 1}, headers=h), 422
    )
    assert body["errors"][0]["field"] == "limit"
    assert_problem(await client.get("/v1/brands", params={"limit": 0}, headers=h), 422)
    assert_problem(await client.get("/v1/brands", params={"limit": "ten"}, headers=h), 422)
    body = assert_problem(
        await client.get("/v1/brands", params={"cursor": "garbage!"}, headers=h), 422
    )
    assert body["errors"][0]["field"] == "cursor"
    # A cursor of another list's sort is refused, not misread.
    invitations_cursor = "eyJzIjoiLWlkIiwidiI6WyJ4Il19"  # {"s":"-id","v":["x"]}
    assert_problem(
        await client.get("/v1/brands", params={"cursor": invitations_cursor}, headers=h), 422
    )


async def test_timestamps_are_rfc3339_utc(client):
    owner = await register(client)
    brand = await create_brand(client, owner)
    assert brand["created_at"].endswith("Z")


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ok" and ready["migration"] is not None


async def test_readiness_fails_when_the_schema_is_behind(
    app, make_client, make_settings_for, tmp_path
):
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    behind = create_app(make_settings_for(database_url=url), clock=app.state.resources.clock)
    async with make_client(behind) as c:
        r = await c.get("/readyz")
    body = assert_problem(r, 503, "service-unavailable")
    assert "rapport migrate" in body["detail"]
    await behind.state.resources.database.dispose()


def test_problem_bodies_are_json_serialisable():
    from app.errors import InvalidTransition

    problem = InvalidTransition("brief", "open", "complete", ["close", "cancel"])
    body = json.loads(json.dumps(problem.body("/v1/briefs/x/complete")))
    assert body["current_state"] == "open" and body["allowed_actions"] == ["close", "cancel"]
    assert body["status"] == 409
