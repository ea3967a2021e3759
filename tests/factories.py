"""Small helpers that create real rows through the public API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # the frozen clock's start in every test
PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@dataclass
class Account:
    id: str
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}@example.com"


async def register(
    client: httpx.AsyncClient, email: str | None = None, name: str = "Test User"
) -> Account:
    email = email or unique_email()
    response = await client.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "full_name": name}
    )
    assert response.status_code == 201, response.text
    user = response.json()
    tokens = await login(client, email)
    return Account(user["id"], user["email"], tokens["access_token"], tokens["refresh_token"])


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


async def relogin(client: httpx.AsyncClient, account: Account) -> Account:
    """Fresh tokens, e.g. after the test moved the clock past the access token's expiry."""
    tokens = await login(client, account.email)
    return Account(account.id, account.email, tokens["access_token"], tokens["refresh_token"])


async def create_brand(
    client: httpx.AsyncClient, owner: Account, name: str = "Acme"
) -> dict[str, Any]:
    response = await client.post("/v1/brands", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def add_member(
    client: httpx.AsyncClient, brand_id: str, by: Account, who: Account, role: str = "member"
) -> None:
    response = await client.post(
        f"/v1/brands/{brand_id}/invitations",
        json={"email": who.email, "role": role},
        headers=by.headers,
    )
    assert response.status_code == 201, response.text
    invitation_id = response.json()["id"]
    response = await client.post(
        f"/v1/me/brand-invitations/{invitation_id}/accept", headers=who.headers
    )
    assert response.status_code == 200, response.text


async def create_influencer(
    client: httpx.AsyncClient, account: Account, **fields: Any
) -> dict[str, Any]:
    body = {"display_name": "Mara Lind", "country": "SE", "languages": ["sv", "en"]} | fields
    response = await client.post("/v1/influencers/me", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(
    response: httpx.Response, status: int, slug: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    if slug is not None:
        assert body["type"] == f"https://rapport.dev/problems/{slug}", body
    return body
