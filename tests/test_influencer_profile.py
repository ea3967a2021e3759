from __future__ import annotations

import pytest

from tests.factories import assert_problem, create_influencer, register


async def test_create_read_update_own_profile(client):
    account = await register(client)
    assert_problem(
        await client.get("/v1/influencers/me", headers=account.headers),
        404,
        "influencer-profile-not-found",
    )
    created = await create_influencer(client, account, display_name="Mara")
    assert created["id"].startswith("inf_") and created["user_id"] == account.id
    got = (await client.get("/v1/influencers/me", headers=account.headers)).json()
    assert got == created
    r = await client.patch(
        "/v1/influencers/me",
        json={"bio": "Trail running", "country": None},
        headers=account.headers,
    )
    assert r.status_code == 200
    assert r.json()["bio"] == "Trail running" and r.json()["country"] is None
    assert r.json()["display_name"] == "Mara"


async def test_one_profile_per_account(client):
    account = await register(client)
    await create_influencer(client, account)
    r = await client.post(
        "/v1/influencers/me", json={"display_name": "Again"}, headers=account.headers
    )
    assert_problem(r, 409, "influencer-profile-exists")


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": ""},
        {"display_name": "A", "country": "se"},
        {"display_name": "A", "languages": ["english"]},
        {"display_name": "A", "unknown": 1},
    ],
)
async def test_profile_validation(client, body):
    account = await register(client)
    assert_problem(await client.post("/v1/influencers/me", json=body, headers=account.headers), 422)
    assert_problem(await client.get("/v1/influencers/me", headers=account.headers), 404)


async def test_required_fields_cannot_be_nulled(client):
    account = await register(client)
    await create_influencer(client, account)
    r = await client.patch(
        "/v1/influencers/me", json={"display_name": None}, headers=account.headers
    )
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["field"] == "display_name"
