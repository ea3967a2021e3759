"""OAuth2 for partner applications (issue 14 items 1, 2 and 6), end to end over the real app:
the consent page (a browser's form, no script), PKCE, codes used once, redirect URIs never
trusted, refresh rotation with reuse detection, RFC 7009 revocation, RFC 7662 introspection of a
partner's own tokens only, client credentials on the catalogue, consents listed and revoked by
the user, and a partner token never reaching past its user or its scopes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.models import OAuthAuthorizationCode, OAuthClient, OAuthToken
from app.services.identity.scopes import CLIENT_CREDENTIALS_SCOPES, OAUTH_SCOPES
from tests.factories import (
    account_body,
    assert_problem,
    create_brand,
    create_listing,
    listing_body,
    make_operator,
    register,
)
from tests.oauth_support import (
    REDIRECT_URI,
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
from tests.test_api_keys import _concrete, _secured_operations


async def _rows(app, model, **where):
    async with app.state.resources.database.sessionmaker() as session:
        stmt = select(model).filter_by(**where)
        return list((await session.scalars(stmt)).all())


async def test_a_creator_consents_on_the_page_and_the_tool_onboards_them(client, app):
    partner, creator = await register(client), await register(client)
    tool = await register_app(client, partner)
    assert tool.secret.startswith("rcs_") and tool.body["client_type"] == "confidential"

    verifier, challenge = pkce()
    params = authorize_params(tool, challenge)
    page = await client.get("/oauth/authorize", params=params)
    # Rapport's own page: the application, each scope with what it allows, a form; no script,
    # nothing fetched from elsewhere, never framed, never cached.
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Creator Tool" in page.text and "Create and change your influencer listing" in page.text
    assert "<script" not in page.text and 'method="post"' in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"

    back = redirected(await consent(client, params, creator))
    assert back["state"] == params["state"] and back["code"].startswith("roc_")
    response = await exchange(client, tool, back["code"], verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["access_token"].startswith("roa_")
    assert tokens["refresh_token"].startswith("ror_")
    assert tokens["scope"] == "catalogue:read listings:read listings:write profile"

    # Item 6: the tool creates and keeps the creator's listing, accounts and their metrics, as
    # the creator, with no password and no sign-in.
    h = bearer(tokens["access_token"])
    listing = await client.post("/v1/influencers/me", json=listing_body(accounts=[]), headers=h)
    assert listing.status_code == 201, listing.text
    account = await client.post("/v1/influencers/me/accounts", json=account_body(), headers=h)
    assert account.status_code == 201, account.text
    metrics = await client.patch(
        f"/v1/influencers/me/accounts/{account.json()['id']}",
        json={"followers": 51000, "avg_views": 23000},
        headers=h,
    )
    assert metrics.status_code == 200 and metrics.json()["followers"] == 51000
    bio = await client.patch("/v1/influencers/me", json={"bio": "Trail miles."}, headers=h)
    assert bio.status_code == 200, bio.text
    # It is the creator's listing: the creator's own sign-in sees it.
    own = await client.get("/v1/influencers/me", headers=creator.headers)
    assert own.json()["id"] == listing.json()["id"] and own.json()["bio"] == "Trail miles."
    assert own.json()["accounts"][0]["followers"] == 51000

    # At rest: keyed hashes only; none of the secrets, codes or tokens.
    [token_row] = await _rows(app, OAuthToken, client_id=tool.client_id)
    [code_row] = await _rows(app, OAuthAuthorizationCode, client_id=tool.client_id)
    [client_row] = await _rows(app, OAuthClient, id=tool.client_id)
    stored = " ".join(
        str(getattr(row, c.key))
        for row in (token_row, code_row, client_row)
        for c in type(row).__table__.columns
    )
    for secret in (tokens["access_token"], tokens["refresh_token"], back["code"], tool.secret):
        assert secret[4:] not in stored

    # The consent is the creator's to see.
    listed = await client.get("/v1/me/oauth-consents", headers=creator.headers)
    assert listed.status_code == 200, listed.text
    [seen] = listed.json()["data"]
    assert seen["client"] == {
        "id": tool.client_id,
        "name": "Creator Tool",
        "website": "https://creatortool.example",
    }
    assert seen["scopes"] == ["catalogue:read", "listings:read", "listings:write", "profile"]


async def test_a_code_works_once_and_only_with_its_verifier(client):
    partner, creator = await register(client), await register(client)
    tool = await register_app(client, partner)
    verifier, challenge = pkce()
    code = redirected(await consent(client, authorize_params(tool, challenge), creator))["code"]
    first = await exchange(client, tool, code, verifier)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert (await client.get("/v1/me", headers=bearer(access))).status_code == 200
    # Used again (leaked): refused, and what it gave is taken back (RFC 6749 §4.1.2).
    again = oauth_error(await exchange(client, tool, code, verifier), 400, "invalid_grant")
    assert "already used" in again["error_description"]
    assert_problem(await client.get("/v1/me", headers=bearer(access)), 401, "invalid-token")

    # A verifier that does not match the challenge (an intercepted code): invalid_grant, and
    # the code is spent.
    verifier, challenge = pkce()
    code = redirected(await consent(client, authorize_params(tool, challenge), creator))["code"]
    wrong, _ = pkce()
    oauth_error(await exchange(client, tool, code, wrong), 400, "invalid_grant")
    oauth_error(await exchange(client, tool, code, verifier), 400, "invalid_grant")
    # No verifier at all; a code of another application.
    verifier, challenge = pkce()
    code = redirected(await consent(client, authorize_params(tool, challenge), creator))["code"]
    oauth_error(await exchange(client, tool, code, ""), 400, "invalid_request")
    other = await register_app(client, partner, name="Other")
    verifier, challenge = pkce()
    code = redirected(await consent(client, authorize_params(tool, challenge), creator))["code"]
    oauth_error(await exchange(client, other, code, verifier), 400, "invalid_grant")


async def test_bad_authorization_requests_get_the_rfcs_errors(client, clock):
    partner, creator = await register(client), await register(client)
    tool = await register_app(client, partner)
    _, challenge = pkce()
    # An unregistered redirect URI, or an unknown client: shown to the user, never redirected.
    for overrides, error in (
        ({"redirect_uri": "https://attacker.example/cb"}, "invalid_request"),
        ({"redirect_uri": REDIRECT_URI + "/more"}, "invalid_request"),
        ({"client_id": "cli_01JD3M8ZQ4X2V6R9T0A1B2C3D4"}, "invalid_client"),
    ):
        page = await client.get(
            "/oauth/authorize", params=authorize_params(tool, challenge, **overrides)
        )
        assert page.status_code == 400 and "location" not in page.headers, overrides
        assert f"<code>{error}</code>" in page.text and "attacker.example/cb?" not in page.text
    # The client and its redirect URI are good: the error goes back to it, with the state.
    for overrides, error in (
        ({"code_challenge": ""}, "invalid_request"),  # PKCE is required
        ({"code_challenge_method": "plain"}, "invalid_request"),  # S256 only
        ({"scope": "listings:write bids:write"}, "invalid_scope"),  # not registered for it
        ({"scope": "operator"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ):
        params = authorize_params(tool, challenge, **overrides)
        back = redirected(await client.get("/oauth/authorize", params=params))
        assert back["error"] == error and back["state"] == params["state"], overrides

    # A wrong password: the page again, nothing issued; the user may deny instead.
    params = authorize_params(tool, challenge)
    wrong = await consent(client, params, creator, password="not it")
    assert wrong.status_code == 401 and "location" not in wrong.headers
    assert "The email or password is wrong" in wrong.text
    denied = redirected(await consent(client, params, creator, decision="deny"))
    assert denied["error"] == "access_denied" and denied["state"] == params["state"]
    assert (await client.get("/v1/me/oauth-consents", headers=creator.headers)).json()["data"] == []

    # A code lives five minutes.
    verifier, challenge = pkce()
    code = redirected(await consent(client, authorize_params(tool, challenge), creator))["code"]
    clock.advance(timedelta(minutes=5, seconds=1))
    oauth_error(await exchange(client, tool, code, verifier), 400, "invalid_grant")


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_grant(client, clock):
    partner, creator = await register(client), await register(client)
    tool = await register_app(client, partner)
    first = await connect(client, tool, creator)
    clock.advance(timedelta(minutes=30))
    second = (await refresh(client, tool, first["refresh_token"])).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"] and second["expires_in"] == 3600
    # Rotation: the old pair is over, the new one works.
    assert_problem(
        await client.get("/v1/me", headers=bearer(first["access_token"])), 401, "invalid-token"
    )
    assert (await client.get("/v1/me", headers=bearer(second["access_token"]))).status_code == 200
    # A refresh may narrow the scopes, never widen them.
    narrow = await client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": second["refresh_token"],
            "scope": "profile bids:write",
        },
        auth=tool.auth,
    )
    oauth_error(narrow, 400, "invalid_scope")

    # The first refresh token again: it leaked. The whole grant is revoked, the new pair too.
    reused = oauth_error(await refresh(client, tool, first["refresh_token"]), 400, "invalid_grant")
    assert "already used" in reused["error_description"]
    assert_problem(
        await client.get("/v1/me", headers=bearer(second["access_token"])), 401, "invalid-token"
    )
    oauth_error(await refresh(client, tool, second["refresh_token"]), 400, "invalid_grant")
    # Two refreshes racing with one token: one wins, the other is a reuse, the grant ends.
    racing = await connect(client, tool, creator)
    answers = await asyncio.gather(
        refresh(client, tool, racing["refresh_token"]),
        refresh(client, tool, racing["refresh_token"]),
    )
    assert sorted(a.status_code for a in answers) == [200, 400]
    won = next(a for a in answers if a.status_code == 200).json()
    oauth_error(next(a for a in answers if a.status_code == 400), 400, "invalid_grant")
    assert_problem(
        await client.get("/v1/me", headers=bearer(won["access_token"])), 401, "invalid-token"
    )
    # Another grant of the same user and application is untouched.
    other = await connect(client, tool, creator)
    assert (await client.get("/v1/me", headers=bearer(other["access_token"]))).status_code == 200
    # Access tokens expire on the application's clock.
    clock.advance(timedelta(seconds=3601))
    assert_problem(
        await client.get("/v1/me", headers=bearer(other["access_token"])), 401, "invalid-token"
    )


async def test_public_clients_use_pkce_without_a_secret(client):
    partner, creator = await register(client), await register(client)
    mobile = await register_app(
        client, partner, client_type="public", grant_types=["authorization_code", "refresh_token"]
    )
    assert mobile.secret is None and mobile.body["secret_hint"] is None
    tokens = await connect(client, mobile, creator)
    refreshed = await refresh(client, App(mobile.client_id, None, {}), tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    # It cannot hold client credentials (422 at registration) nor introspect.
    refused = await client.post(
        "/v1/oauth-clients",
        json=mobile.body | {"client_type": "public", "grant_types": ["client_credentials"]},
        headers=partner.headers,
    )
    assert_problem(refused, 422, "validation-error")
    introspect = await client.post(
        "/oauth/introspect",
        data={"token": refreshed.json()["access_token"], "client_id": mobile.client_id},
    )
    oauth_error(introspect, 401, "invalid_client")


async def test_revocation_and_introspection_of_a_partners_own_tokens(client):
    partner, creator = await register(client), await register(client)
    tool = await register_app(client, partner)
    rival = await register_app(client, await register(client), name="Rival")
    tokens = await connect(client, tool, creator)
    access = tokens["access_token"]

    seen = await client.post("/oauth/introspect", data={"token": access}, auth=tool.auth)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["active"] is True and body["client_id"] == tool.client_id
    assert body["sub"] == creator.id and body["token_type"] == "Bearer"
    assert body["scope"] == tokens["scope"] and body["exp"] - body["iat"] == 3600
    refresh_seen = await client.post(
        "/oauth/introspect",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        auth=tool.auth,
    )
    assert refresh_seen.json()["active"] is True
    # Another application learns nothing about it: exactly an unknown token's answer.
    for token in (access, "roa_not-a-token"):
        other = await client.post("/oauth/introspect", data={"token": token}, auth=rival.auth)
        assert other.status_code == 200 and other.json() == {"active": False}
    # Nor may it revoke it; a wrong secret is not a client.
    oauth_error(
        await client.post("/oauth/revoke", data={"token": access}, auth=rival.auth),
        400,
        "invalid_grant",
    )
    bad_secret = await client.post(
        "/oauth/revoke", data={"token": access}, auth=(tool.client_id, "rcs_wrong")
    )
    oauth_error(bad_secret, 401, "invalid_client")
    assert (await client.get("/v1/me", headers=bearer(access))).status_code == 200

    # RFC 7009: the refresh token revoked, the grant ends (its access token too).
    revoked = await client.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        auth=tool.auth,
    )
    assert revoked.status_code == 200 and revoked.json() == {}
    assert_problem(await client.get("/v1/me", headers=bearer(access)), 401, "invalid-token")
    gone = await client.post("/oauth/introspect", data={"token": access}, auth=tool.auth)
    assert gone.json() == {"active": False}
    oauth_error(await refresh(client, tool, tokens["refresh_token"]), 400, "invalid_grant")
    # Revoking what is unknown or already revoked says nothing either way (RFC 7009 §2.2).
    for token in (access, "roa_unknown"):
        again = await client.post("/oauth/revoke", data={"token": token}, auth=tool.auth)
        assert again.status_code == 200


async def test_revoking_a_consent_ends_the_applications_access(client):
    partner, creator = await register(client), await register(client)
    tool = await register_app(client, partner)
    other_tool = await register_app(client, partner, name="Other Tool")
    tokens = await connect(client, tool, creator)
    kept = await connect(client, other_tool, creator)
    # Consenting again adds to the same consent.
    await connect(client, tool, creator, scope="profile")
    listed = (await client.get("/v1/me/oauth-consents", headers=creator.headers)).json()["data"]
    assert sorted(c["client"]["name"] for c in listed) == ["Creator Tool", "Other Tool"]
    consent_id = next(c["id"] for c in listed if c["client"]["id"] == tool.client_id)
    # Nobody else can see or revoke it.
    stranger = await register(client)
    assert_problem(
        await client.delete(f"/v1/me/oauth-consents/{consent_id}", headers=stranger.headers),
        404,
        "oauth-consent-not-found",
    )
    assert (await client.get("/v1/me/oauth-consents", headers=stranger.headers)).json()[
        "data"
    ] == []

    gone = await client.delete(f"/v1/me/oauth-consents/{consent_id}", headers=creator.headers)
    assert gone.status_code == 204
    assert_problem(
        await client.get("/v1/me", headers=bearer(tokens["access_token"])), 401, "invalid-token"
    )
    oauth_error(await refresh(client, tool, tokens["refresh_token"]), 400, "invalid_grant")
    assert (await client.get("/v1/me", headers=bearer(kept["access_token"]))).status_code == 200
    listed = (await client.get("/v1/me/oauth-consents", headers=creator.headers)).json()["data"]
    assert [c["client"]["id"] for c in listed] == [other_tool.client_id]
    assert_problem(
        await client.delete(f"/v1/me/oauth-consents/{consent_id}", headers=creator.headers),
        404,
        "oauth-consent-not-found",
    )
    # A code the user gave before revoking is worth nothing after.
    verifier, challenge = pkce()
    back = redirected(await consent(client, authorize_params(tool, challenge), creator))
    listed = (await client.get("/v1/me/oauth-consents", headers=creator.headers)).json()["data"]
    consent_id = next(c["id"] for c in listed if c["client"]["id"] == tool.client_id)
    await client.delete(f"/v1/me/oauth-consents/{consent_id}", headers=creator.headers)
    late = oauth_error(await exchange(client, tool, back["code"], verifier), 400, "invalid_grant")
    assert "revoked" in late["error_description"]
    # The application may ask again; the user decides again.
    again = await connect(client, tool, creator)
    assert (await client.get("/v1/me", headers=bearer(again["access_token"]))).status_code == 200


async def test_client_credentials_read_the_catalogue_and_nothing_else(client):
    partner, creator = await register(client), await register(client)
    tool = await register_app(client, partner)
    await create_listing(client, creator)
    issued = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=tool.auth
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()
    assert token["scope"] == "catalogue:read" and "refresh_token" not in token
    h = bearer(token["access_token"])
    found = await client.get("/v1/influencers", headers=h)
    assert found.status_code == 200 and len(found.json()["data"]) == 1
    # The application is nobody's account: it writes nothing, reads nothing private.
    refused = await client.post("/v1/influencers/me", json=listing_body(), headers=h)
    assert assert_problem(refused, 403, "insufficient-scope")["required_scopes"] == [
        "listings:write"
    ]
    assert_problem(await client.get("/v1/briefs", headers=h), 403, "insufficient-scope")
    # Only catalogue scopes, only with the secret, only if registered for it.
    wider = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "listings:write"},
        auth=tool.auth,
    )
    oauth_error(wider, 400, "invalid_scope")
    no_secret = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": tool.client_id}
    )
    oauth_error(no_secret, 401, "invalid_client")
    code_only = await register_app(client, partner, grant_types=["authorization_code"])
    oauth_error(
        await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=code_only.auth
        ),
        400,
        "unauthorized_client",
    )


async def test_each_credential_kind_is_held_to_its_scopes_and_its_users_objects(client, app):
    partner, creator, other = await register(client), await register(client), await register(client)
    staff = await make_operator(client, app)
    tool = await register_app(client, partner)
    other_listing = await create_listing(client, other)
    other_brand = await create_brand(client, other, name="Not yours")
    key = await client.post(
        "/v1/api-keys", json={"name": "k", "scopes": ["catalogue:read"]}, headers=creator.headers
    )
    read_only = await connect(client, tool, creator, scope="profile listings:read")
    service = (
        await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=tool.auth)
    ).json()
    # The same refusal whatever the credential: a 403 problem naming the missing scope.
    for headers, method, path, scope in (
        (creator.headers, "GET", "/v1/operator/jobs", "operator"),
        (bearer(key.json()["secret"]), "GET", "/v1/me", "profile"),
        (bearer(read_only["access_token"]), "PATCH", "/v1/influencers/me", "listings:write"),
        (bearer(service["access_token"]), "GET", "/v1/me", "profile"),
    ):
        response = await client.request(method, path, json={"bio": "x"}, headers=headers)
        assert assert_problem(response, 403, "insufficient-scope")["required_scopes"] == [scope]

    # Acting for a user: that user's objects only; another's are a 404, as for anyone.
    full = bearer((await connect(client, tool, creator))["access_token"])
    await client.post("/v1/influencers/me", json=listing_body(accounts=[]), headers=full)
    foreign_account = other_listing["accounts"][0]["id"]
    assert_problem(
        await client.patch(
            f"/v1/influencers/me/accounts/{foreign_account}", json={"followers": 1}, headers=full
        ),
        404,
    )
    staff_tool = await connect(client, tool, staff, scope="profile")
    # An operator's consent never carries the operator's powers.
    assert_problem(
        await client.get("/v1/operator/jobs", headers=bearer(staff_tool["access_token"])),
        403,
        "insufficient-scope",
    )
    brands_app = await register_app(client, partner, name="Brand suite", scopes=["brands:read"])
    brand_token = await connect(client, brands_app, creator, scope="brands:read")
    assert_problem(
        await client.get(
            f"/v1/brands/{other_brand['id']}", headers=bearer(brand_token["access_token"])
        ),
        404,
    )


async def test_registering_and_revoking_applications(client, app):
    partner, stranger = await register(client), await register(client)
    brand = await create_brand(client, partner, name="Agency")
    base = {"name": "X", "redirect_uris": [REDIRECT_URI], "scopes": ["profile"]}
    for changes, field in (
        ({"scopes": ["operator"]}, "scopes.0"),
        ({"scopes": ["api_keys:manage"]}, "scopes.0"),
        ({"redirect_uris": ["http://creatortool.example/cb"]}, "redirect_uris.0"),
        ({"redirect_uris": [REDIRECT_URI + "#frag"]}, "redirect_uris.0"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"grant_types": ["refresh_token"]}, "grant_types"),
    ):
        refused = await client.post(
            "/v1/oauth-clients", json=base | changes, headers=partner.headers
        )
        body = assert_problem(refused, 422, "validation-error")
        assert body["errors"][0]["field"] == field, body
    # Loopback http is fine for native applications.
    native = await client.post(
        "/v1/oauth-clients",
        json=base | {"redirect_uris": ["http://127.0.0.1:8123/cb"], "client_type": "public"},
        headers=partner.headers,
    )
    assert native.status_code == 201, native.text
    # For a brand: its owners and admins only.
    assert_problem(
        await client.post(
            "/v1/oauth-clients", json=base | {"brand_id": brand["id"]}, headers=stranger.headers
        ),
        404,
        "oauth-client-brand-not-found",
    )
    tool = await register_app(client, partner, brand_id=brand["id"])
    assert tool.body["brand_id"] == brand["id"]
    assert tool.body["owner_user_id"] == partner.id
    # Managed by its owner; another user is told it does not exist.
    listed = await client.get("/v1/oauth-clients", headers=partner.headers)
    assert {c["id"] for c in listed.json()["data"]} == {tool.client_id, native.json()["id"]}
    assert "client_secret" not in listed.text and tool.secret not in listed.text
    assert_problem(
        await client.get(f"/v1/oauth-clients/{tool.client_id}", headers=stranger.headers),
        404,
        "oauth-client-not-found",
    )
    # An operator registers one for a partner's account, which then manages it.
    staff = await make_operator(client, app)
    made = await client.post(
        "/v1/operator/oauth-clients",
        json=base | {"owner_user_id": stranger.id},
        headers=staff.headers,
    )
    assert made.status_code == 201 and made.json()["owner_user_id"] == stranger.id
    assert (
        await client.get(f"/v1/oauth-clients/{made.json()['id']}", headers=stranger.headers)
    ).status_code == 200
    assert_problem(
        await client.post(
            "/v1/operator/oauth-clients",
            json=base | {"owner_user_id": stranger.id},
            headers=partner.headers,
        ),
        403,
        "insufficient-scope",
    )

    # Revoked: every token it holds and its secret stop at once.
    creator = await register(client)
    tokens = await connect(client, tool, creator)
    gone = await client.delete(f"/v1/oauth-clients/{tool.client_id}", headers=partner.headers)
    assert gone.status_code == 204
    assert_problem(
        await client.get("/v1/me", headers=bearer(tokens["access_token"])), 401, "invalid-token"
    )
    oauth_error(
        await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=tool.auth
        ),
        401,
        "invalid_client",
    )
    shown = await client.get(f"/v1/oauth-clients/{tool.client_id}", headers=partner.headers)
    assert shown.json()["status"] == "revoked"


async def test_the_server_describes_itself(client):
    metadata = await client.get("/.well-known/oauth-authorization-server")
    assert metadata.status_code == 200
    body = metadata.json()
    assert body["token_endpoint"].endswith("/oauth/token")
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert "operator" not in body["scopes_supported"]
    spec = (await client.get("/openapi.json")).json()
    flows = spec["components"]["securitySchemes"]["PartnerOAuth"]["flows"]
    assert flows["authorizationCode"]["authorizationUrl"] == "/oauth/authorize"
    assert list(flows["clientCredentials"]["scopes"]) == ["catalogue:read"]
    listing_write = spec["paths"]["/v1/influencers/me"]["post"]["security"]
    assert {"PartnerOAuth": ["listings:write"]} in listing_write
    operator = spec["paths"]["/v1/operator/jobs"]["get"]["security"]
    assert not any("PartnerOAuth" in requirement for requirement in operator)


async def test_every_route_enforces_its_openapi_scopes_for_oauth_tokens(client, app):
    """tests/test_api_keys.py's route-by-route check, for both kinds of OAuth token. For each
    secured operation: a token acting for a user who granted every other scope is refused with
    403 insufficient-scope naming the route's scopes (a scope no application may hold —
    api_keys:manage, apps:manage, operator — is refused whatever was granted); a token granted
    just the route's scopes gets past the scope check; the application's own token
    (client credentials) gets past it on catalogue:read routes only."""
    person, partner = await register(client), await register(client)
    tool = await register_app(client, partner, scopes=sorted(OAUTH_SCOPES))
    limiter = app.state.resources.identity.rate_limiter
    tokens: dict[frozenset[str], str] = {}

    async def token_for(scopes: frozenset[str]) -> dict[str, str]:
        if scopes not in tokens:
            # Each consent is a sign-in, and each exchange a token request: their limits are
            # other tests' subject.
            await limiter.reset()
            granted = await connect(client, tool, person, scope=" ".join(sorted(scopes)))
            tokens[scopes] = granted["access_token"]
        return bearer(tokens[scopes])

    service = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=tool.auth
    )
    assert service.status_code == 200 and service.json()["scope"] == "catalogue:read"
    app_token = bearer(service.json()["access_token"])

    def refused_for_scope(answer: Any) -> bool:
        return answer.status_code == 403 and answer.json()["type"].endswith("insufficient-scope")

    failures = []
    operations = _secured_operations(app)
    for method, path, scopes in operations:
        required = frozenset(scopes)
        body = {} if method != "GET" else None
        url = _concrete(path)
        lacking = await token_for(frozenset(OAUTH_SCOPES - required))
        refused = await client.request(method, url, headers=lacking, json=body)
        if not refused_for_scope(refused) or refused.json()["required_scopes"] != sorted(required):
            failures.append(f"{method} {path} without {scopes}: {refused.status_code}")
        if required <= OAUTH_SCOPES:
            holding = await token_for(required)
            allowed = await client.request(method, url, headers=holding, json=body)
            if allowed.status_code == 401 or refused_for_scope(allowed):
                failures.append(f"{method} {path} with {scopes}: {allowed.status_code}")
        own = await client.request(method, url, headers=app_token, json=body)
        if refused_for_scope(own) != (not required <= CLIENT_CREDENTIALS_SCOPES):
            failures.append(f"{method} {path} as the application itself: {own.status_code}")
    assert failures == []
    # Every grantable scope guards some route, and some routes need what no application holds.
    needed = {scope for _, _, scopes in operations for scope in scopes}
    assert OAUTH_SCOPES < needed
