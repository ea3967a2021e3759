"""A partner application, driven the way a browser and a partner's server drive Rapport's OAuth2
endpoints: register the application, open the consent page, post its form back as a browser
would (hidden fields included), follow the redirect, exchange the code."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.factories import PASSWORD, Account

REDIRECT_URI = "https://creatortool.example/rapport/callback"
CREATOR_TOOL_SCOPES = ["catalogue:read", "listings:read", "listings:write", "profile"]


@dataclass
class App:
    client_id: str
    secret: str | None
    body: dict[str, Any]

    @property
    def auth(self) -> httpx.BasicAuth | None:
        return httpx.BasicAuth(self.client_id, self.secret) if self.secret else None


def pkce() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636 §4)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def register_app(client: httpx.AsyncClient, owner: Account, **fields: Any) -> App:
    body = {
        "name": "Creator Tool",
        "website": "https://creatortool.example",
        "redirect_uris": [REDIRECT_URI],
        "scopes": CREATOR_TOOL_SCOPES,
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
    } | fields
    response = await client.post("/v1/oauth-clients", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    return App(created["id"], created["client_secret"], created)


def authorize_params(app: App, challenge: str, **overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": " ".join(CREATOR_TOOL_SCOPES),
        "state": "st-" + secrets.token_hex(4),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    } | overrides


def hidden_fields(page: str) -> list[tuple[str, str]]:
    found = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    return [(html.unescape(n), html.unescape(v)) for n, v in found]


async def consent(
    client: httpx.AsyncClient,
    params: dict[str, str],
    user: Account,
    *,
    decision: str = "allow",
    password: str = PASSWORD,
) -> httpx.Response:
    """Opens the consent page and submits its form as a browser would."""
    page = await client.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    form = [*hidden_fields(page.text), ("email", user.email), ("password", password)]
    form.append(("decision", decision))
    return await post_form(client, "/oauth/authorize", form)


async def post_form(
    client: httpx.AsyncClient, path: str, form: list[tuple[str, str]]
) -> httpx.Response:
    """A form POST keeping the fields' order and repeats (httpx's `data=` takes a dict)."""
    return await client.post(
        path,
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def redirected(response: httpx.Response) -> dict[str, str]:
    """The query of the redirect back to the client (which must be the registered URI)."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def exchange(client: httpx.AsyncClient, app: App, code: str, verifier: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    if app.secret is None:
        data["client_id"] = app.client_id
    return await client.post("/oauth/token", data=data, auth=app.auth)


async def connect(
    client: httpx.AsyncClient, app: App, user: Account, scope: str | None = None
) -> dict[str, Any]:
    """The whole authorization code flow: the user consents, the app gets its tokens."""
    verifier, challenge = pkce()
    params = authorize_params(app, challenge)
    if scope is not None:
        params["scope"] = scope
    back = redirected(await consent(client, params, user))
    assert back["state"] == params["state"]
    tokens = await exchange(client, app, back["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


async def refresh(client: httpx.AsyncClient, app: App, refresh_token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if app.secret is None:
        data["client_id"] = app.client_id
    return await client.post("/oauth/token", data=data, auth=app.auth)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """An RFC 6749 §5.2 error: JSON with `error`, never cached."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error, body
    return body
