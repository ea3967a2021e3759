"""API keys (issue 14 items 1 and 2): made through the API, shown once, stored as a keyed hash,
scoped (never beyond their maker), revocable, rotatable with an overlap on the test clock; and
every route's scope, as OpenAPI states it, enforced for API keys as for sign-in tokens."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.errors import InvalidToken
from app.models import ApiKey, User
from app.services.identity.credentials import ApiKeys, Principal
from app.services.identity.scopes import ALL_SCOPES, USER_SCOPES
from app.settings import Settings
from tests.factories import T0, assert_problem, login, make_operator, register, relogin


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def make_key(
    client: httpx.AsyncClient, headers: dict[str, str], *scopes: str, **fields: Any
) -> dict[str, Any]:
    body = {"name": "integration", "scopes": list(scopes), **fields}
    response = await client.post("/v1/api-keys", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_key_is_shown_once_and_stored_as_a_keyed_hash(client, app):
    owner = await register(client)
    created = await make_key(client, owner.headers, "briefs:read", "bids:read")
    secret = created["secret"]
    assert re.fullmatch(r"rk_test_[A-Za-z0-9_-]{43}", secret)
    assert created["status"] == "active" and created["scopes"] == ["bids:read", "briefs:read"]
    assert created["hint"] == f"{secret[:12]}…{secret[-4:]}"
    # Never again: not in the key's own read, not in the list.
    one = await client.get(f"/v1/api-keys/{created['id']}", headers=owner.headers)
    listed = await client.get("/v1/api-keys", headers=owner.headers)
    assert one.status_code == listed.status_code == 200
    assert "secret" not in one.json() and secret not in one.text and secret not in listed.text
    assert [k["id"] for k in listed.json()["data"]] == [created["id"]]
    # At rest: the HMAC of the key under the app's secret, and nothing else of it.
    async with app.state.resources.database.sessionmaker() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.id == created["id"]))
    key = app.state.resources.settings.secret_key.get_secret_value().encode()
    expected = hmac.new(key, b"rapport-api-key\0" + secret.encode(), hashlib.sha256).hexdigest()
    assert row.key_hash == expected
    stored = " ".join(str(getattr(row, c.key)) for c in ApiKey.__table__.columns)
    assert secret[12:-4] not in stored


async def test_a_key_acts_for_its_owner_within_its_scopes(client):
    owner = await register(client)
    key = await make_key(client, owner.headers, "brands:read", "briefs:read")
    brand = await client.post("/v1/brands", json={"name": "Oats"}, headers=owner.headers)
    assert brand.status_code == 201
    # Allowed: the owner's brands, seen through the key.
    seen = await client.get("/v1/brands", headers=bearer(key["secret"]))
    assert seen.status_code == 200 and [b["id"] for b in seen.json()["data"]] == [
        brand.json()["id"]
    ]
    assert (await client.get("/v1/briefs", headers=bearer(key["secret"]))).status_code == 200
    # A scope the key lacks: 403 naming it, and nothing changed.
    refused = await client.post("/v1/brands", json={"name": "More"}, headers=bearer(key["secret"]))
    body = assert_problem(refused, 403, "insufficient-scope")
    assert body["required_scopes"] == ["brands:write"]
    assert_problem(
        await client.get("/v1/me", headers=bearer(key["secret"])), 403, "insufficient-scope"
    )
    after = await client.get("/v1/brands", headers=owner.headers)
    assert len(after.json()["data"]) == 1


async def test_a_key_never_holds_more_than_its_maker(client):
    owner = await register(client)
    # Made by a key holding api_keys:manage and briefs:read: it can pass on briefs:read only.
    manager = await make_key(client, owner.headers, "api_keys:manage", "briefs:read")
    wider = await client.post(
        "/v1/api-keys",
        json={"name": "wider", "scopes": ["briefs:read", "briefs:write"]},
        headers=bearer(manager["secret"]),
    )
    assert assert_problem(wider, 403, "insufficient-scope")["required_scopes"] == ["briefs:write"]
    narrower = await make_key(client, bearer(manager["secret"]), "briefs:read")
    assert narrower["scopes"] == ["briefs:read"]
    # A person who is not an operator cannot make an operator key; unknown scopes are a 422.
    operator_key = await client.post(
        "/v1/api-keys", json={"name": "op", "scopes": ["operator"]}, headers=owner.headers
    )
    assert_problem(operator_key, 403, "insufficient-scope")
    unknown = await client.post(
        "/v1/api-keys", json={"name": "x", "scopes": ["briefs:destroy"]}, headers=owner.headers
    )
    assert_problem(unknown, 422, "validation-error")
    empty = await client.post(
        "/v1/api-keys", json={"name": "x", "scopes": []}, headers=owner.headers
    )
    assert_problem(empty, 422, "validation-error")
    past = await client.post(
        "/v1/api-keys",
        json={"name": "x", "scopes": ["briefs:read"], "expires_at": "2020-01-01T00:00:00Z"},
        headers=owner.headers,
    )
    assert_problem(past, 422, "validation-error")
    listed = await client.get("/v1/api-keys", headers=owner.headers)
    assert len(listed.json()["data"]) == 2  # nothing was made by the refusals


async def test_a_key_loses_what_its_account_loses(client, app):
    staff = await make_operator(client, app)
    key = await make_key(client, staff.headers, "operator")
    jobs = await client.get("/v1/operator/jobs", headers=bearer(key["secret"]))
    assert jobs.status_code == 200
    async with app.state.resources.database.sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == staff.id).values(is_operator=False))
    demoted = await client.get("/v1/operator/jobs", headers=bearer(key["secret"]))
    assert_problem(demoted, 403, "insufficient-scope")


async def test_a_revoked_key_is_refused_at_once(client):
    owner = await register(client)
    key = await make_key(client, owner.headers, "briefs:read")
    assert (await client.get("/v1/briefs", headers=bearer(key["secret"]))).status_code == 200
    revoked = await client.delete(f"/v1/api-keys/{key['id']}", headers=owner.headers)
    assert revoked.status_code == 204
    refused = await client.get("/v1/briefs", headers=bearer(key["secret"]))
    assert assert_problem(refused, 401, "invalid-token")["detail"] == "The API key was revoked"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    shown = await client.get(f"/v1/api-keys/{key['id']}", headers=owner.headers)
    assert shown.json()["status"] == "revoked" and shown.json()["revoked_at"] is not None
    # Revoking again changes nothing; a revoked key cannot be rotated back to life.
    assert (
        await client.delete(f"/v1/api-keys/{key['id']}", headers=owner.headers)
    ).status_code == 204
    rotated = await client.post(f"/v1/api-keys/{key['id']}/rotate", headers=owner.headers)
    assert_problem(rotated, 409, "api-key-not-rotatable")


async def test_an_expired_key_is_refused(client, clock):
    owner = await register(client)
    key = await make_key(
        client, owner.headers, "briefs:read", expires_at=(T0 + timedelta(hours=1)).isoformat()
    )
    assert (await client.get("/v1/briefs", headers=bearer(key["secret"]))).status_code == 200
    clock.advance(timedelta(hours=1))
    refused = await client.get("/v1/briefs", headers=bearer(key["secret"]))
    assert assert_problem(refused, 401, "invalid-token")["detail"] == "The API key has expired"
    owner = await relogin(client, owner)  # the sign-in token expired meanwhile
    shown = await client.get(f"/v1/api-keys/{key['id']}", headers=owner.headers)
    assert shown.json()["status"] == "expired"


async def test_rotation_keeps_the_old_key_working_until_the_overlap_ends(client, clock):
    owner = await register(client)
    old = await make_key(client, owner.headers, "briefs:read")
    rotated = await client.post(
        f"/v1/api-keys/{old['id']}/rotate", json={"overlap_seconds": 3600}, headers=owner.headers
    )
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["secret"] != old["secret"] and new["scopes"] == old["scopes"]
    assert new["rotated_from_id"] == old["id"] and new["status"] == "active"
    previous = new["previous"]
    assert previous["id"] == old["id"] and previous["rotated_to_id"] == new["id"]
    assert previous["status"] == "expiring"
    assert previous["expires_at"] == (T0 + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    # The overlap: both keys work.
    clock.advance(timedelta(minutes=59))
    for secret in (old["secret"], new["secret"]):
        assert (await client.get("/v1/briefs", headers=bearer(secret))).status_code == 200
    # After it: the old one is refused with a reason, the new one works.
    clock.advance(timedelta(minutes=1))
    refused = await client.get("/v1/briefs", headers=bearer(old["secret"]))
    assert "rotated" in assert_problem(refused, 401, "invalid-token")["detail"]
    assert (await client.get("/v1/briefs", headers=bearer(new["secret"]))).status_code == 200
    # A key is rotated once; its successor can be rotated in turn.
    owner = await relogin(client, owner)  # the sign-in token expired meanwhile
    again = await client.post(f"/v1/api-keys/{old['id']}/rotate", headers=owner.headers)
    assert_problem(again, 409, "api-key-not-rotatable")
    third = await client.post(
        f"/v1/api-keys/{new['id']}/rotate", json={"overlap_seconds": 0}, headers=owner.headers
    )
    assert third.status_code == 201
    assert_problem(
        await client.get("/v1/briefs", headers=bearer(new["secret"])), 401, "invalid-token"
    )


async def test_another_accounts_key_is_not_found(client):
    owner, other = await register(client), await register(client)
    key = await make_key(client, owner.headers, "briefs:read")
    for method, path in (
        ("GET", f"/v1/api-keys/{key['id']}"),
        ("DELETE", f"/v1/api-keys/{key['id']}"),
        ("POST", f"/v1/api-keys/{key['id']}/rotate"),
    ):
        assert_problem(
            await client.request(method, path, headers=other.headers), 404, "api-key-not-found"
        )
    assert (await client.get("/v1/api-keys", headers=other.headers)).json()["data"] == []
    assert (await client.get("/v1/briefs", headers=bearer(key["secret"]))).status_code == 200


async def test_unknown_and_live_keys_are_refused_in_test_mode(client):
    unknown = await client.get("/v1/briefs", headers=bearer("rk_test_" + "x" * 43))
    assert assert_problem(unknown, 401, "invalid-token")["detail"] == "The API key is invalid"
    live = await client.get("/v1/briefs", headers=bearer("rk_live_" + "x" * 43))
    assert "rk_test_" in assert_problem(live, 401, "invalid-token")["detail"]


async def test_last_use_is_recorded(client, clock):
    owner = await register(client)
    key = await make_key(client, owner.headers, "briefs:read")
    assert key["last_used_at"] is None
    clock.advance(timedelta(minutes=5))
    assert (await client.get("/v1/briefs", headers=bearer(key["secret"]))).status_code == 200
    shown = await client.get(f"/v1/api-keys/{key['id']}", headers=owner.headers)
    used = (T0 + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    assert shown.json()["last_used_at"] == used


async def test_operators_set_a_keys_plan(client, app):
    owner = await register(client)
    staff = await make_operator(client, app)
    key = await make_key(client, owner.headers, "briefs:read")
    assert key["plan"] == "standard"
    path = f"/v1/operator/api-keys/{key['id']}/plan"
    assert_problem(
        await client.put(path, json={"plan": "partner"}, headers=owner.headers),
        403,
        "insufficient-scope",
    )
    unknown = await client.put(path, json={"plan": "platinum"}, headers=staff.headers)
    assert_problem(unknown, 422, "validation-error")
    moved = await client.put(path, json={"plan": "partner"}, headers=staff.headers)
    assert moved.status_code == 200 and moved.json()["plan"] == "partner"
    used = await client.get("/v1/briefs", headers=bearer(key["secret"]))
    assert used.headers["RateLimit-Policy"].startswith('"partner";')


async def test_idempotency_keys_are_per_api_key(client):
    """Two API keys calling from one address with the same Idempotency-Key each get their own
    answer (not the other's replayed, as two anonymous callers from one address would)."""
    first_owner, second_owner = await register(client), await register(client)
    first = await make_key(client, first_owner.headers, "api_keys:manage", "briefs:read")
    second = await make_key(client, second_owner.headers, "api_keys:manage", "briefs:read")
    body = {"name": "child", "scopes": ["briefs:read"]}
    answers = []
    for key in (first, second, first):
        headers = {**bearer(key["secret"]), "Idempotency-Key": "same-key"}
        answers.append(await client.post("/v1/api-keys", json=body, headers=headers))
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert answers[0].json()["id"] != answers[1].json()["id"]
    assert answers[2].json()["id"] == answers[0].json()["id"]  # the first key's replay
    assert answers[2].headers["Idempotent-Replayed"] == "true"


# --- every route, every scope ---------------------------------------------------------------


def _secured_operations(app: Any) -> list[tuple[str, str, list[str]]]:
    operations = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            security = operation.get("security")
            if not security:
                continue
            by_scheme = {name: scopes for req in security for name, scopes in req.items()}
            # The API key scheme names exactly the sign-in token's scopes.
            assert by_scheme["ApiKey"] == by_scheme["OAuth2PasswordBearer"], path
            operations.append((method.upper(), path, by_scheme["ApiKey"]))
    return operations


def _concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "xyz_00000000000000000000000000", path)


async def test_every_route_enforces_its_openapi_scopes_for_api_keys(client, app):
    """For each secured /v1 operation: a key holding every scope but the ones OpenAPI names is
    refused with 403 insufficient-scope before anything else is looked at; a key holding just
    those scopes gets past the scope check (whatever the route then says of the made-up ids)."""
    staff = await make_operator(client, app)
    operations = _secured_operations(app)
    assert len(operations) > 90
    needed = {scope for _, _, scopes in operations for scope in scopes}
    assert needed == ALL_SCOPES  # every scope of the catalogue guards some route
    keys: dict[frozenset[str], str] = {}

    async def key_for(scopes: frozenset[str]) -> str:
        if scopes not in keys:
            keys[scopes] = (await make_key(client, staff.headers, *sorted(scopes)))["secret"]
        return keys[scopes]

    failures = []
    for method, path, scopes in operations:
        required = frozenset(scopes)
        lacking = await key_for(frozenset(ALL_SCOPES) - required)
        refused = await client.request(
            method, _concrete(path), headers=bearer(lacking), json={} if method != "GET" else None
        )
        if refused.status_code != 403 or refused.json()["required_scopes"] != sorted(required):
            failures.append(f"{method} {path} without {scopes}: {refused.status_code}")
        holding = await key_for(required)
        allowed = await client.request(
            method, _concrete(path), headers=bearer(holding), json={} if method != "GET" else None
        )
        if allowed.status_code == 401 or (
            allowed.status_code == 403 and allowed.json()["type"].endswith("insufficient-scope")
        ):
            failures.append(f"{method} {path} with {scopes}: {allowed.status_code}")
    assert failures == []


async def test_a_sign_in_token_carries_every_scope_of_its_account(client, app):
    person = await register(client)
    person_scopes = set((await login(client, person.email))["scope"].split())
    assert person_scopes == set(USER_SCOPES)
    staff = await make_operator(client, app)
    assert set((await login(client, staff.email))["scope"].split()) == set(ALL_SCOPES)


async def test_production_makes_live_keys_and_other_servers_refuse_them(client, database):
    production = Settings(
        environment="production",
        secret_key="s" * 40,
        database_url="postgresql+asyncpg://x/y",
        stripe_api_key="sk_live_" + "k" * 24,
        stripe_api_base=None,
        stripe_webhook_secret="whsec_" + "w" * 32,
        onboarding_return_url="https://app.rapport.dev/payouts/return",
        onboarding_refresh_url="https://app.rapport.dev/payouts/refresh",
    )
    owner = await register(client)
    live = ApiKeys(production)
    maker = Principal(kind="user", user_id=owner.id, scopes=USER_SCOPES)
    async with database.sessionmaker() as session, session.begin():
        issued = await live.create(session, maker, "prod", ["briefs:read"], None, T0)
        assert re.fullmatch(r"rk_live_[A-Za-z0-9_-]{43}", issued.secret)
        assert issued.key.mode == "live"
        found = await live.authenticate(session, issued.secret, T0)
        assert (found.kind, found.user_id, found.scopes) == (
            "api_key",
            owner.id,
            frozenset({"briefs:read"}),
        )
        with pytest.raises(InvalidToken, match="accepts rk_live_"):
            await live.authenticate(session, "rk_test_" + "x" * 43, T0)
    # This (test) server refuses the live key by its prefix.
    refused = await client.get("/v1/briefs", headers=bearer(issued.secret))
    assert "accepts rk_test_" in assert_problem(refused, 401, "invalid-token")["detail"]


async def test_two_rotations_at_once_make_one_successor(client):
    owner = await register(client)
    key = await make_key(client, owner.headers, "briefs:read")
    answers = await asyncio.gather(
        *[client.post(f"/v1/api-keys/{key['id']}/rotate", headers=owner.headers) for _ in range(2)]
    )
    assert sorted(a.status_code for a in answers) == [201, 409]
    listed = await client.get("/v1/api-keys", headers=owner.headers)
    assert len(listed.json()["data"]) == 2
