"""Running partner applications (issue 14): rotating a client secret with an overlap, the rate
limits of the OAuth endpoints, and the worker's purge of spent codes and ended grants (on the
test clock)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from app.models import OAuthAuthorizationCode, OAuthClient, OAuthConsent, OAuthToken
from app.services.identity.oauth import PurgeCounts
from app.worker.runner import Worker
from tests import test_rate_limits
from tests.factories import assert_problem, register
from tests.oauth_support import (
    App,
    authorize_params,
    bearer,
    connect,
    consent,
    exchange,
    oauth_error,
    pkce,
    redirected,
    refresh,
    register_app,
)
from tests.test_rate_limits import POLICY, remaining

# The rate-limit tests' fixtures: extra API instances over the test database, and the Redis.
apps = test_rate_limits.apps
redis_url = test_rate_limits.redis_url


async def _rows(database: Any, model: Any, **where: Any) -> list[Any]:
    async with database.sessionmaker() as session:
        return list((await session.scalars(select(model).filter_by(**where))).all())


async def _own_token(client: httpx.AsyncClient, app: App, secret: str | None) -> httpx.Response:
    """A client-credentials token for the application, authenticated with `secret`."""
    auth = httpx.BasicAuth(app.client_id, secret or "")
    return await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)


async def _works(client: httpx.AsyncClient, app: App, secret: str | None) -> bool:
    answer = await _own_token(client, app, secret)
    if answer.status_code == 200:
        return True
    oauth_error(answer, 401, "invalid_client")
    return False


# --- client secret rotation -------------------------------------------------------------------


async def test_a_rotated_secret_works_beside_the_new_one_for_the_overlap_then_stops(client, clock):
    partner = await register(client)
    tool = await register_app(client, partner)
    path = f"/v1/oauth-clients/{tool.client_id}/rotate-secret"
    assert tool.body["previous_secret_expires_at"] is None

    rotated = await client.post(path, json={"overlap_seconds": 3600}, headers=partner.headers)
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    new = body["client_secret"]
    assert new.startswith("rcs_") and new != tool.secret
    assert body["secret_hint"] == f"{new[:8]}…{new[-4:]}" != tool.body["secret_hint"]
    ends = clock.now() + timedelta(hours=1)
    assert body["previous_secret_expires_at"] == ends.isoformat().replace("+00:00", "Z")
    # Shown once: the application's page never shows either secret again.
    shown = await client.get(f"/v1/oauth-clients/{tool.client_id}", headers=partner.headers)
    assert new not in shown.text and tool.secret not in shown.text
    assert shown.json()["previous_secret_expires_at"] == body["previous_secret_expires_at"]

    # Both work during the overlap, for every endpoint that authenticates the client.
    assert await _works(client, tool, tool.secret) and await _works(client, tool, new)
    token = (await _own_token(client, tool, tool.secret)).json()["access_token"]
    seen = await client.post(
        "/oauth/introspect", data={"token": token}, auth=httpx.BasicAuth(tool.client_id, new)
    )
    assert seen.status_code == 200 and seen.json()["active"] is True
    clock.advance(timedelta(minutes=59, seconds=59))
    assert await _works(client, tool, tool.secret)
    # The overlap is over: the old secret is refused as any wrong secret is; the new one works.
    clock.advance(timedelta(seconds=1))
    assert not await _works(client, tool, tool.secret)
    assert await _works(client, tool, new)


async def test_at_most_two_secrets_work_and_overlap_zero_ends_the_old_one_now(client):
    partner = await register(client)
    tool = await register_app(client, partner)
    path = f"/v1/oauth-clients/{tool.client_id}/rotate-secret"
    # No body: the default overlap (24 hours).
    second = (await client.post(path, headers=partner.headers)).json()["client_secret"]
    third = (await client.post(path, headers=partner.headers)).json()["client_secret"]
    # The first secret's overlap ended when the second was replaced.
    assert not await _works(client, tool, tool.secret)
    assert await _works(client, tool, second) and await _works(client, tool, third)
    fourth = await client.post(path, json={"overlap_seconds": 0}, headers=partner.headers)
    assert fourth.status_code == 200, fourth.text
    assert not await _works(client, tool, third) and not await _works(client, tool, second)
    assert await _works(client, tool, fourth.json()["client_secret"])


async def test_rotation_refusals(client):
    partner, stranger = await register(client), await register(client)
    tool = await register_app(client, partner)
    path = f"/v1/oauth-clients/{tool.client_id}/rotate-secret"
    # Another user's application does not exist for them, and nothing changed.
    assert_problem(await client.post(path, headers=stranger.headers), 404, "oauth-client-not-found")
    assert await _works(client, tool, tool.secret)
    for overlap in (-1, 30 * 86_400 + 1, "soon"):
        refused = await client.post(
            path, json={"overlap_seconds": overlap}, headers=partner.headers
        )
        assert_problem(refused, 422, "validation-error")
    assert_problem(
        await client.post(path, json={"overlap": 5}, headers=partner.headers),
        422,
        "validation-error",
    )
    public = await register_app(
        client, partner, client_type="public", grant_types=["authorization_code"]
    )
    refused = await client.post(
        f"/v1/oauth-clients/{public.client_id}/rotate-secret", headers=partner.headers
    )
    assert (
        "no secret" in assert_problem(refused, 409, "oauth-client-secret-not-rotatable")["detail"]
    )
    assert (
        await client.delete(f"/v1/oauth-clients/{tool.client_id}", headers=partner.headers)
    ).status_code == 204
    assert_problem(
        await client.post(path, headers=partner.headers), 409, "oauth-client-secret-not-rotatable"
    )


# --- rate limits of the OAuth endpoints ---------------------------------------------------------


def _oauth_429(response: httpx.Response) -> dict[str, Any]:
    """The OAuth endpoints' 429: problem+json, which also carries RFC 6749's `error`."""
    body = assert_problem(response, 429, "rate-limited")
    assert response.headers["content-type"] == "application/problem+json"
    assert body["error"] == "rate_limited" and body["error_description"] == body["detail"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60 and body["retry_after"] == retry_after
    assert response.headers["cache-control"] == "no-store"
    assert remaining(response) == 0
    return body


async def _count(database: Any, model: Any, **where: Any) -> int:
    async with database.sessionmaker() as session:
        stmt = select(func.count()).select_from(model).filter_by(**where)
        return int(await session.scalar(stmt) or 0)


async def test_each_application_has_its_own_limit_and_a_refused_request_changes_nothing(
    apps, make_client, database
):
    app = apps(oauth_client_rate_limit="3/minute")
    async with make_client(app) as client:
        partner, creator = await register(client), await register(client)
        tool, other = await register_app(client, partner), await register_app(client, partner)
        verifier, challenge = pkce()
        code = redirected(await consent(client, authorize_params(tool, challenge), creator))["code"]
        first = await _own_token(client, tool, tool.secret)
        assert first.status_code == 200, first.text
        policy = POLICY.match(first.headers["RateLimit-Policy"])
        assert policy and (policy["name"], policy["q"], policy["w"]) == ("oauth-client", "3", "60")
        assert remaining(first) == 2
        token = first.json()["access_token"]
        # Introspection and revocation count in the same bucket.
        seen = await client.post("/oauth/introspect", data={"token": token}, auth=tool.auth)
        assert seen.status_code == 200 and remaining(seen) == 1
        assert (await _own_token(client, tool, tool.secret)).status_code == 200
        tokens_before = await _count(database, OAuthToken, client_id=tool.client_id)

        # Over the limit: the code exchange is refused before anything is done with it.
        _oauth_429(await exchange(client, tool, code, verifier))
        [spent] = await _rows(database, OAuthAuthorizationCode, client_id=tool.client_id)
        assert spent.used_at is None
        _oauth_429(await _own_token(client, tool, tool.secret))
        _oauth_429(await client.post("/oauth/revoke", data={"token": token}, auth=tool.auth))
        assert await _count(database, OAuthToken, client_id=tool.client_id) == tokens_before
        # The token the refused revocation named still works.
        assert (await client.get("/v1/influencers", headers=bearer(token))).status_code == 200
        # Another application of the same partner: its own, full bucket.
        assert remaining(await _own_token(client, other, other.secret)) == 2

        # Once the window allows (forgotten here), the same code is exchanged: it was unspent.
        await app.state.resources.identity.rate_limiter.reset()
        exchanged = await exchange(client, tool, code, verifier)
        assert exchanged.status_code == 200, exchanged.text


async def test_failed_client_authentication_is_limited_per_ip(apps, make_client):
    app = apps(oauth_failed_auth_rate_limit="2/minute", oauth_client_rate_limit="100/minute")
    async with make_client(app, ip="198.51.100.30") as client:
        partner = await register(client)
        tool = await register_app(client, partner)
        for wrong in ("rcs_guess-1", "rcs_guess-2"):
            assert not await _works(client, tool, wrong)
        refused = await _own_token(client, tool, "rcs_guess-3")
        assert _oauth_429(refused)["error"] == "rate_limited"
        assert refused.headers["RateLimit-Policy"].startswith('"oauth-failed-auth";q=2;')
        # Unknown applications and missing credentials count as failures too.
        _oauth_429(await client.post("/oauth/token", data={"grant_type": "client_credentials"}))
        _oauth_429(
            await client.post(
                "/oauth/introspect", data={"token": "roa_x"}, auth=httpx.BasicAuth("cli_x", "y")
            )
        )
        # The application itself, with its secret, is not locked out by the guesses.
        assert await _works(client, tool, tool.secret)
    async with make_client(app, ip="198.51.100.31") as elsewhere:
        assert not await _works(elsewhere, tool, "rcs_guess-4")


async def test_the_oauth_limits_are_shared_through_redis_by_two_api_processes(
    apps, make_client, redis_url
):
    settings = {
        "redis_url": redis_url,
        "redis_key_prefix": "rapport-test-" + secrets.token_hex(4),
        "oauth_client_rate_limit": "3/minute",
        "oauth_failed_auth_rate_limit": "2/minute",
    }
    first, second = apps(**settings), apps(**settings)
    async with (
        make_client(first, ip="198.51.100.40") as a,
        make_client(second, ip="198.51.100.40") as b,
    ):
        partner = await register(a)
        tool, other = await register_app(a, partner), await register_app(a, partner)
        assert (await _own_token(a, tool, tool.secret)).status_code == 200
        assert (await _own_token(b, tool, tool.secret)).status_code == 200
        last = await _own_token(a, tool, tool.secret)
        assert last.status_code == 200 and remaining(last) == 0
        # Spent on one process, spent on the other.
        _oauth_429(await _own_token(b, tool, tool.secret))
        _oauth_429(await _own_token(a, tool, tool.secret))
        assert (await _own_token(b, other, other.secret)).status_code == 200
        # Failed authentications from one address, counted across both processes.
        assert not await _works(a, other, "rcs_wrong")
        assert not await _works(b, other, "rcs_wrong")
        _oauth_429(await _own_token(a, other, "rcs_wrong"))
        _oauth_429(await _own_token(b, other, "rcs_wrong"))


# --- the purge of spent codes and ended grants ----------------------------------------------------


async def test_the_worker_purges_ended_grants_and_expired_codes_but_keeps_reuse_detection(
    client, app, clock
):
    database = app.state.resources.database
    worker = Worker(database, clock, resources=app.state.resources.for_jobs())
    partner, creator = await register(client), await register(client)
    tool = await register_app(client, partner)
    # A: a grant refreshed once (its first refresh token is spent, kept for reuse detection).
    first = await connect(client, tool, creator)
    refreshed = await refresh(client, tool, first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    # B: a grant the application revoked. C: the application's own token (one hour).
    ended = await connect(client, tool, creator)
    revoke = await client.post(
        "/oauth/revoke", data={"token": ended["refresh_token"]}, auth=tool.auth
    )
    assert revoke.status_code == 200
    assert (await _own_token(client, tool, tool.secret)).status_code == 200
    # U: a code never exchanged (five minutes).
    _, challenge = pkce()
    redirected(await consent(client, authorize_params(tool, challenge), creator))
    assert len(await _rows(database, OAuthToken)) == 4
    assert len(await _rows(database, OAuthAuthorizationCode)) == 3

    # Nothing is purged before the retention (30 days) has passed since it ended.
    assert (await worker.purge_oauth()).total == 0
    clock.advance(timedelta(days=30, seconds=-1))
    assert (await worker.purge_oauth()).total == 0

    clock.advance(timedelta(hours=1, seconds=1))
    report = await worker.run_once()
    # B's token and code, C, and U went; A's grant lives (its refresh token has 60 days).
    assert report.oauth_purged == PurgeCounts(codes=2, tokens=2)
    left = await _rows(database, OAuthToken)
    assert {t.family_id for t in left} == {t.family_id for t in left[:1]} and len(left) == 2
    [code_a] = await _rows(database, OAuthAuthorizationCode)
    assert code_a.id == left[0].family_id
    # The spent refresh token was kept: presented again, it still ends the whole grant.
    reused = oauth_error(await refresh(client, tool, first["refresh_token"]), 400, "invalid_grant")
    assert "already used" in reused["error_description"]
    oauth_error(await refresh(client, tool, second["refresh_token"]), 400, "invalid_grant")
    # Thirty days after the reuse ended it, the grant goes too.
    clock.advance(timedelta(days=30, seconds=-1))
    assert (await worker.run_once()).oauth_purged.total == 0
    clock.advance(timedelta(minutes=10, seconds=1))
    assert (await worker.run_once()).oauth_purged == PurgeCounts(codes=1, tokens=2)
    assert await _rows(database, OAuthToken) == []
    assert await _rows(database, OAuthAuthorizationCode) == []
    # The consent and the application stay, for their user and managers.
    assert len(await _rows(database, OAuthConsent)) == 1
    assert len(await _rows(database, OAuthClient)) == 1
