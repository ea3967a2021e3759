"""Influencer listings (the full catalogue shape), their social accounts, and brand profiles."""

from __future__ import annotations

import copy

import pytest

from tests.factories import (
    account_body,
    assert_problem,
    create_brand,
    create_listing,
    listing_body,
    register,
)

SHAPE_KEYS = {
    "id",
    "display_name",
    "bio",
    "country",
    "languages",
    "topics",
    "content_samples",
    "values",
    "refused_categories",
    "available",
    "unavailable_until",
    "audience",
    "accounts",
    "sponsored_posts",
    "rate_card",
}
ACCOUNT_KEYS = set(account_body()) | {"id"}


async def test_full_listing_round_trips_in_the_documented_shape(client):
    creator, reader = await register(client), await register(client)
    body = listing_body()
    created = await create_listing(client, creator, **body)
    assert created["id"].startswith("inf_") and created["user_id"] == creator.id
    assert SHAPE_KEYS <= created.keys()
    for key in SHAPE_KEYS - {"id", "accounts"}:
        assert created[key] == body[key], key
    [account] = created["accounts"]
    assert account["id"].startswith("sac_") and set(account) == ACCOUNT_KEYS
    assert {k: v for k, v in account.items() if k != "id"} == body["accounts"][0]

    # Anyone with the catalogue scope reads it, without the owner's account id.
    public = await client.get(f"/v1/influencers/{created['id']}", headers=reader.headers)
    assert public.status_code == 200
    listing = public.json()
    assert set(listing) == SHAPE_KEYS | {"created_at", "updated_at"}
    assert listing == {k: v for k, v in created.items() if k != "user_id"}
    assert_problem(
        await client.get("/v1/influencers/inf_nope", headers=reader.headers),
        404,
        "listing-not-found",
    )
    assert_problem(await client.get(f"/v1/influencers/{created['id']}"), 401)


async def test_patch_replaces_fields_and_refuses_nulls(client):
    creator = await register(client)
    await create_listing(client, creator)
    h = creator.headers
    r = await client.patch(
        "/v1/influencers/me",
        json={"topics": ["baking"], "available": False, "unavailable_until": "2027-01-01"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["topics"] == ["baking"] and got["available"] is False
    assert got["unavailable_until"] == "2027-01-01"
    assert got["rate_card"] == listing_body()["rate_card"]  # untouched
    r = await client.patch("/v1/influencers/me", json={"unavailable_until": None}, headers=h)
    assert r.json()["unavailable_until"] is None
    body = assert_problem(
        await client.patch("/v1/influencers/me", json={"topics": None}, headers=h), 422
    )
    assert body["errors"][0] == {
        "field": "topics",
        "message": "cannot be null",
        "rule": "not_nullable",
    }


def _set(body: dict, path: str, value) -> dict:
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "field", "rule"),
    [
        ("audience.countries", {"SE": 50.0, "NO": 20.0}, "audience.countries", "distribution_sum"),
        ("audience.genders", {"female": 70.0, "male": 40.0}, "audience.genders",
         "distribution_sum"),
        ("audience.age_bands", {"18-24": 100.0, "16-17": 0.0}, "audience.age_bands.16-17.[key]",
         "literal_error"),
        ("audience.languages", {"sv": -1.0, "en": 101.0}, "audience.languages.sv",
         "greater_than_equal"),
        ("accounts.0.followers", -5, "accounts.0.followers", "greater_than_equal"),
        ("accounts.0.avg_likes", 1.5, "accounts.0.avg_likes", "int_type"),
        ("accounts.0.followers", "100", "accounts.0.followers", "int_type"),
        ("accounts.0.platform", "myspace", "accounts.0.platform", "enum"),
        ("accounts.0.posts_per_week", -1.0, "accounts.0.posts_per_week", "greater_than_equal"),
        ("accounts.0.url", "instagram.com/x", "accounts.0.url", "string_pattern_mismatch"),
        ("accounts.0.follower_history",
         [{"date": "2026-09-01", "followers": 1}, {"date": "2026-06-01", "followers": 2}],
         "accounts.0.follower_history", "not_in_order"),
        ("rate_card.0.deliverable_type", "instagram_live", "rate_card.0.deliverable_type", "enum"),
        ("rate_card.0.amount", 100.5, "rate_card.0.amount", "int_type"),
        ("rate_card.0.amount", "90000", "rate_card.0.amount", "int_type"),
        ("rate_card.0.amount", -1, "rate_card.0.amount", "greater_than_equal"),
        ("rate_card.0.currency", "XYZ", "rate_card.0.currency", "unsupported_currency"),
        ("rate_card", [{"deliverable_type": "x_post", "amount": 1, "currency": "EUR"}] * 2,
         "rate_card", "unique_items"),
        ("topics", ["Vegan Food"], "topics.0", "string_pattern_mismatch"),
        ("sponsored_posts.0.platform", "friendster", "sponsored_posts.0.platform", "enum"),
    ],
)  # fmt: skip
async def test_listing_validation_names_field_and_rule(client, path, value, field, rule):
    creator = await register(client)
    r = await client.post(
        "/v1/influencers/me", json=_set(listing_body(), path, value), headers=creator.headers
    )
    body = assert_problem(r, 422, "validation-error")
    assert {"field": field, "rule": rule} in [
        {"field": e["field"], "rule": e["rule"]} for e in body["errors"]
    ], body["errors"]
    # Nothing was written.
    assert_problem(await client.get("/v1/influencers/me", headers=creator.headers), 404)


async def test_distribution_tolerance_is_one_point(client):
    creator = await register(client)
    audience = listing_body()["audience"] | {"countries": {"SE": 60.0, "US": 39.0}}  # 99
    await create_listing(client, creator, audience=audience)
    r = await client.patch(
        "/v1/influencers/me",
        json={"audience": audience | {"countries": {"SE": 60.0, "US": 38.9}}},  # 98.9
        headers=creator.headers,
    )
    assert_problem(r, 422, "validation-error")
    empty = {"countries": {}, "age_bands": {}, "genders": {}, "languages": {}}
    r = await client.patch("/v1/influencers/me", json={"audience": empty}, headers=creator.headers)
    assert r.status_code == 200 and r.json()["audience"] == empty  # unknown audience is allowed


async def test_accounts_crud_and_handle_unique_per_platform_case_insensitively(client):
    mara, other = await register(client), await register(client)
    await create_listing(client, mara, accounts=[account_body("instagram", "MaraLind")])
    await create_listing(client, other, accounts=[])
    h = mara.headers

    accounts = (await client.get("/v1/influencers/me/accounts", headers=h)).json()
    assert [a["handle"] for a in accounts] == ["MaraLind"]
    # Another listing cannot take the handle on the same platform, in any case…
    r = await client.post(
        "/v1/influencers/me/accounts",
        json=account_body("instagram", "maralind"),
        headers=other.headers,
    )
    body = assert_problem(r, 409, "handle-taken")
    assert body["platform"] == "instagram"
    # …but may on another platform.
    r = await client.post(
        "/v1/influencers/me/accounts",
        json=account_body("tiktok", "maralind"),
        headers=other.headers,
    )
    assert r.status_code == 201, r.text
    tiktok = r.json()

    r = await client.post(
        "/v1/influencers/me/accounts",
        json=account_body("youtube", "mara", followers=900_000),
        headers=h,
    )
    assert r.status_code == 201
    youtube = r.json()
    r = await client.patch(
        f"/v1/influencers/me/accounts/{youtube['id']}",
        json={"followers": 950_000, "handle": "MaraRuns"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["followers"] == 950_000
    assert r.json()["platform"] == "youtube"
    # Renaming onto a taken handle is refused and changes nothing.
    r = await client.patch(
        f"/v1/influencers/me/accounts/{tiktok['id']}", json={"handle": "MARARUNS"}, headers=h
    )
    assert_problem(r, 404, "social-account-not-found")  # not Mara's account
    r = await client.post(
        "/v1/influencers/me/accounts", json=account_body("youtube", "other"), headers=other.headers
    )
    other_youtube = r.json()
    r = await client.patch(
        f"/v1/influencers/me/accounts/{other_youtube['id']}",
        json={"handle": "MARARUNS"},
        headers=other.headers,
    )
    assert_problem(r, 409, "handle-taken")
    others = (await client.get("/v1/influencers/me/accounts", headers=other.headers)).json()
    assert sorted(a["handle"] for a in others) == ["maralind", "other"]
    assert_problem(
        await client.patch(
            f"/v1/influencers/me/accounts/{youtube['id']}", json={"platform": "x"}, headers=h
        ),
        422,
    )
    assert_problem(
        await client.patch(
            f"/v1/influencers/me/accounts/{youtube['id']}", json={"followers": None}, headers=h
        ),
        422,
    )
    assert_problem(
        await client.delete(f"/v1/influencers/me/accounts/{tiktok['id']}", headers=h),
        404,
        "social-account-not-found",
    )
    r = await client.delete(f"/v1/influencers/me/accounts/{youtube['id']}", headers=h)
    assert r.status_code == 204
    listing = (await client.get("/v1/influencers/me", headers=h)).json()
    assert [a["handle"] for a in listing["accounts"]] == ["MaraLind"]


async def test_accounts_need_a_listing(client):
    nobody = await register(client)
    for method, path, body in [
        ("GET", "/v1/influencers/me/accounts", None),
        ("POST", "/v1/influencers/me/accounts", account_body()),
        ("PATCH", "/v1/influencers/me/accounts/sac_x", {"followers": 1}),
        ("DELETE", "/v1/influencers/me/accounts/sac_x", None),
    ]:
        r = await client.request(method, path, json=body, headers=nobody.headers)
        assert_problem(r, 404, "influencer-profile-not-found")


async def test_duplicate_handles_in_one_request_write_nothing(client):
    creator = await register(client)
    accounts = [account_body("x", "same"), account_body("x", "SAME")]
    r = await client.post(
        "/v1/influencers/me", json=listing_body(accounts=accounts), headers=creator.headers
    )
    assert_problem(r, 409, "handle-taken")
    assert_problem(await client.get("/v1/influencers/me", headers=creator.headers), 404)


# --- brand profiles ---------------------------------------------------------------------------


async def test_brand_profile_and_blocked_influencers_are_for_members_only(client):
    owner, outsider, creator = (
        await register(client),
        await register(client),
        await register(client),
    )
    listing = await create_listing(client, creator)
    r = await client.post(
        "/v1/brands",
        json={
            "name": "Oatly",
            "website": "https://oatly.com",
            "category": "food",
            "values": ["sustainability"],
            "competitor_brands": ["Alpro"],
            "competitor_categories": ["dairy"],
            "blocked_influencers": [listing["id"]],
        },
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    brand = r.json()
    assert brand["website"] == "https://oatly.com" and brand["competitor_brands"] == ["Alpro"]
    assert brand["blocked_influencers"] == [listing["id"]]
    # Nobody outside the brand can read the brand, hence its block list.
    assert_problem(
        await client.get(f"/v1/brands/{brand['id']}", headers=outsider.headers),
        404,
        "brand-not-found",
    )
    assert (await client.get("/v1/brands", headers=outsider.headers)).json()["data"] == []
    # Nor does a brief of the brand carry it.
    r = await client.post(
        "/v1/briefs",
        json={"brand_id": brand["id"]} | _brief_minimum(),
        headers=owner.headers,
    )
    brief = r.json()
    await client.post(f"/v1/briefs/{brief['id']}/open", headers=owner.headers)
    seen = await client.get(f"/v1/briefs/{brief['id']}", headers=outsider.headers)
    assert seen.status_code == 200 and "blocked_influencers" not in seen.text
    assert listing["id"] not in seen.text

    r = await client.patch(
        f"/v1/brands/{brand['id']}",
        json={"blocked_influencers": [], "website": None},
        headers=owner.headers,
    )
    assert r.status_code == 200
    assert r.json()["blocked_influencers"] == [] and r.json()["website"] is None
    assert r.json()["competitor_brands"] == ["Alpro"]


async def test_brand_profile_validation(client):
    owner = await register(client)
    brand = await create_brand(client, owner)
    for body, field, rule in [
        ({"blocked_influencers": ["inf_01JD3M8ZQ4X2V6R9T0A1B2C3D4"]}, "blocked_influencers.0",
         "unknown_influencer"),
        ({"blocked_influencers": ["brd_x"]}, "blocked_influencers.0", "string_pattern_mismatch"),
        ({"website": "oatly"}, "website", "string_pattern_mismatch"),
        ({"category": "Food & Drink"}, "category", "string_pattern_mismatch"),
        ({"values": ["a", "a"]}, "values", "unique_items"),
        ({"name": None}, "name", "not_nullable"),
    ]:  # fmt: skip
        r = await client.patch(f"/v1/brands/{brand['id']}", json=body, headers=owner.headers)
        errors = assert_problem(r, 422, "validation-error")["errors"]
        assert {"field": field, "rule": rule} in [
            {"field": e["field"], "rule": e["rule"]} for e in errors
        ], errors


def _brief_minimum() -> dict:
    from tests.factories import brief_body

    body = brief_body("brd_x")
    del body["brand_id"]
    return body
