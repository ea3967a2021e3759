from __future__ import annotations

import asyncio
from datetime import timedelta

import jwt
import pytest

from app.main import create_app
from tests.factories import PASSWORD, T0, assert_problem, login, register, unique_email


async def test_register_normalises_email_and_hides_the_hash(client):
    response = await client.post(
        "/v1/auth/register",
        json={"email": "  Mara.Lind@Example.COM ", "password": PASSWORD, "full_name": "Mara"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "mara.lind@example.com"
    assert body["id"].startswith("usr_")
    assert "password" not in response.text and "hash" not in response.text


async def test_register_twice_with_different_case_conflicts(client):
    await register(client, "dup@example.com")
    response = await client.post(
        "/v1/auth/register",
        json={"email": "DUP@example.com", "password": PASSWORD, "full_name": "Again"},
    )
    assert_problem(response, 409, "email-taken")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "full_name": "A"}, "email"),
        ({"email": "a@example.com", "password": "short", "full_name": "A"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "full_name": "  "}, "full_name"),
        ({"email": "a@example.com", "password": PASSWORD}, "full_name"),
        ({"email": "a@example.com", "password": 12345678901, "full_name": "A"}, "password"),
        (
            {"email": "a@example.com", "password": PASSWORD, "full_name": "A", "admin": True},
            "admin",
        ),
    ],
)
async def test_register_rejects_bad_input_naming_the_field(client, body, field):
    body_out = assert_problem(
        await client.post("/v1/auth/register", json=body), 422, "validation-error"
    )
    assert field in [e["field"] for e in body_out["errors"]]


async def test_login_then_me(client):
    account = await register(client)
    response = await client.get("/v1/me", headers=account.headers)
    assert response.status_code == 200
    assert response.json()["email"] == account.email


async def test_wrong_password_and_unknown_email_fail_identically(client):
    account = await register(client)
    wrong = await client.post(
        "/v1/auth/token", data={"username": account.email, "password": "x" * 12}
    )
    unknown = await client.post(
        "/v1/auth/token", data={"username": "nobody@example.com", "password": "x" * 12}
    )
    a = assert_problem(wrong, 401, "invalid-credentials")
    b = assert_problem(unknown, 401, "invalid-credentials")
    a.pop("instance"), b.pop("instance")
    assert a == b


async def test_login_is_rate_limited_per_account_for_known_and_unknown_emails(client, settings):
    for email in (unique_email(), (await register(client)).email):
        for _ in range(settings.login_max_failures_per_account):
            r = await client.post(
                "/v1/auth/token", data={"username": email, "password": "wrong-pass!"}
            )
            assert r.status_code == 401
        limited = await client.post(
            "/v1/auth/token", data={"username": email, "password": "wrong-pass!"}
        )
        body = assert_problem(limited, 429, "rate-limited")
        assert int(limited.headers["Retry-After"]) > 0
        assert body["retry_after"] == settings.login_window_seconds


async def test_account_rate_limit_blocks_even_the_right_password_then_lapses(
    client, make_client, make_settings_for
):
    # The limiter's window is real time (app/services/identity/rate_limits.py), so this app's
    # window is one second long and the test waits it out.
    short = create_app(make_settings_for(login_window_seconds=1))
    account = await register(client)
    async with make_client(short) as c:
        for _ in range(short.state.resources.settings.login_max_failures_per_account):
            await c.post(
                "/v1/auth/token", data={"username": account.email, "password": "nope-nope-nope"}
            )
        r = await c.post("/v1/auth/token", data={"username": account.email, "password": PASSWORD})
        assert_problem(r, 429, "rate-limited")
        await asyncio.sleep(1.2)
        r = await c.post("/v1/auth/token", data={"username": account.email, "password": PASSWORD})
        assert r.status_code == 200
    await short.state.resources.database.dispose()


async def test_login_is_rate_limited_per_ip(client, make_client, settings):
    for i in range(settings.login_max_attempts_per_ip):
        r = await client.post(
            "/v1/auth/token", data={"username": f"spray{i}@example.com", "password": "wrong-pass!"}
        )
        assert r.status_code == 401
    assert_problem(
        await client.post(
            "/v1/auth/token", data={"username": "another@example.com", "password": "x"}
        ),
        429,
        "rate-limited",
    )
    async with make_client(ip="198.51.100.7") as other:
        r = await other.post(
            "/v1/auth/token", data={"username": "another@example.com", "password": "x"}
        )
        assert r.status_code == 401


async def test_refresh_rotates_and_reuse_revokes_the_family(client):
    account = await register(client)
    first = await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    second_token = first.json()["refresh_token"]
    assert second_token != account.refresh_token
    # Reusing the spent token: refused, and the whole family dies with it.
    reuse = await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert_problem(reuse, 401, "refresh-token-reused")
    after = await client.post("/v1/auth/refresh", json={"refresh_token": second_token})
    assert_problem(after, 401, "invalid-token")


async def test_reuse_revocation_spares_other_sign_ins(client):
    account = await register(client)
    other_sign_in = (await login(client, account.email))["refresh_token"]
    await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert (
        await client.post("/v1/auth/refresh", json={"refresh_token": other_sign_in})
    ).status_code == 200


async def test_refresh_token_expires(client, clock, settings):
    account = await register(client)
    clock.advance(timedelta(seconds=settings.refresh_token_ttl_seconds + 1))
    r = await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert_problem(r, 401, "invalid-token")


async def test_unknown_refresh_token(client):
    r = await client.post("/v1/auth/refresh", json={"refresh_token": "rft_nope.nope"})
    assert_problem(r, 401, "invalid-token")


async def test_logout_revokes_the_sign_in_and_always_answers_204(client):
    account = await register(client)
    assert (
        await client.post("/v1/auth/logout", json={"refresh_token": account.refresh_token})
    ).status_code == 204
    r = await client.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert_problem(r, 401, "invalid-token")
    assert (
        await client.post("/v1/auth/logout", json={"refresh_token": "unknown"})
    ).status_code == 204


def _claims(settings, **overrides):
    now = int(T0.timestamp())
    claims = {
        "sub": "usr_x",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 300,
        "scope": "profile",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "issued_in_future",
        "wrong_audience",
        "wrong_issuer",
        "no_exp",
        "no_aud",
        "forged",
        "alg_none",
        "hs512",
        "garbage",
    ],
)
async def test_bad_access_tokens_are_refused(client, settings, case):
    account = await register(client)
    key = settings.secret_key.get_secret_value()
    sub = {"sub": account.id}
    if case == "expired":
        token = jwt.encode(_claims(settings, exp=int(T0.timestamp()) - 10, **sub), key, "HS256")
    elif case == "issued_in_future":
        token = jwt.encode(_claims(settings, iat=int(T0.timestamp()) + 3600, **sub), key, "HS256")
    elif case == "wrong_audience":
        token = jwt.encode(_claims(settings, aud="someone-else", **sub), key, "HS256")
    elif case == "wrong_issuer":
        token = jwt.encode(_claims(settings, iss="evil", **sub), key, "HS256")
    elif case == "no_exp":
        token = jwt.encode(_claims(settings, exp=None, **sub), key, "HS256")
    elif case == "no_aud":
        token = jwt.encode(_claims(settings, aud=None, **sub), key, "HS256")
    elif case == "forged":
        token = jwt.encode(_claims(settings, **sub), "x" * 40, "HS256")
    elif case == "alg_none":
        token = jwt.encode(_claims(settings, **sub), None, "none")
    elif case == "hs512":
        token = jwt.encode(_claims(settings, **sub), key, "HS512")
    else:
        token = "not.a.jwt"
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    body = assert_problem(r, 401, "invalid-token")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Traceback" not in body["detail"]


async def test_valid_token_of_a_deleted_account_is_refused(client, settings):
    token = jwt.encode(
        _claims(settings, sub="usr_01JD3M8ZQ4X2V6R9T0A1B2C3D4"),
        settings.secret_key.get_secret_value(),
        "HS256",
    )
    assert_problem(
        await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}),
        401,
        "invalid-token",
    )


async def test_a_token_already_accepted_is_still_checked_on_every_request(
    client, app, clock, settings
):
    # The process remembers tokens it verified (app/security.py); what a request checks beyond
    # the signature is checked every time: the expiry against the clock, the account, the scopes
    # the account holds now.
    from sqlalchemy import delete, update

    from app.models import User

    account = await register(client)
    staff_token = jwt.encode(
        _claims(settings, sub=account.id, scope="profile operator"),
        settings.secret_key.get_secret_value(),
        "HS256",
    )
    staff = {"Authorization": f"Bearer {staff_token}"}
    database = app.state.resources.database

    async def make_operator(flag: bool) -> None:
        async with database.sessionmaker() as session, session.begin():
            await session.execute(
                update(User).where(User.id == account.id).values(is_operator=flag)
            )

    await make_operator(True)
    assert (await client.get("/v1/operator/jobs", headers=staff)).status_code == 200
    await make_operator(False)
    assert_problem(await client.get("/v1/operator/jobs", headers=staff), 403, "insufficient-scope")

    assert (await client.get("/v1/me", headers=account.headers)).status_code == 200
    clock.advance(timedelta(seconds=settings.access_token_ttl_seconds))
    body = assert_problem(await client.get("/v1/me", headers=account.headers), 401, "invalid-token")
    assert "expired" in body["detail"]

    clock.freeze(T0)
    assert (await client.get("/v1/me", headers=account.headers)).status_code == 200
    async with database.sessionmaker() as session, session.begin():
        await session.execute(delete(User).where(User.id == account.id))
    assert_problem(await client.get("/v1/me", headers=account.headers), 401, "invalid-token")


async def test_missing_token_and_missing_scope(client, settings):
    assert_problem(await client.get("/v1/me"), 401, "not-authenticated")
    account = await register(client)
    token = jwt.encode(
        _claims(settings, sub=account.id, scope="catalogue:read"),
        settings.secret_key.get_secret_value(),
        "HS256",
    )
    body = assert_problem(
        await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}),
        403,
        "insufficient-scope",
    )
    assert body["required_scopes"] == ["profile"]
