"""Per-post metrics and comment samples on social accounts (issue 13): stored and shown as
sent, unknown (null) distinct from 0, limits enforced with a 422 that writes nothing."""

from __future__ import annotations

import pytest

from tests.factories import account_body, assert_problem, create_listing, register

POST = {
    "posted_at": "2026-11-20T17:05:00Z",
    "url": "https://www.instagram.com/p/C0ffee123/",
    "views": 23_400,
    "likes": 2_050,
    "comments": 0,
    "shares": None,
    "saves": None,
    "sponsored": True,
}


async def test_posts_comments_and_unknown_averages_round_trip(client):
    creator, reader = await register(client), await register(client)
    account = account_body(recent_posts=[POST], comment_samples=["Which grinder is that?", "🔥"])
    for key in ("avg_shares", "avg_saves"):
        del account[key]  # not reported
    listing = await create_listing(client, creator, accounts=[account])
    public = (await client.get(f"/v1/influencers/{listing['id']}", headers=reader.headers)).json()
    [shown] = public["accounts"]
    assert shown["avg_shares"] is None and shown["avg_saves"] is None  # unknown, not 0
    assert shown["avg_likes"] == 1900
    # A counted 0 stays 0, an unknown stays null (a caption not sent is unknown too).
    assert shown["recent_posts"] == [POST | {"caption": None}]
    assert shown["comment_samples"] == ["Which grinder is that?", "🔥"]

    # PATCH: null makes an average unknown again; lists are replaced whole.
    r = await client.patch(
        f"/v1/influencers/me/accounts/{shown['id']}",
        json={"avg_likes": None, "recent_posts": [], "comment_samples": ["Nice"]},
        headers=creator.headers,
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["avg_likes"] is None and changed["avg_views"] == 21000
    assert changed["recent_posts"] == [] and changed["comment_samples"] == ["Nice"]


@pytest.mark.parametrize(
    ("field", "value", "error_field", "rule"),
    [
        ("recent_posts", [POST] * 101, "accounts.0.recent_posts", "too_long"),
        ("recent_posts", [POST | {"likes": -1}], "accounts.0.recent_posts.0.likes",
         "greater_than_equal"),
        ("recent_posts", [POST | {"views": 1.5}], "accounts.0.recent_posts.0.views", "int_type"),
        ("recent_posts", [POST | {"posted_at": "2026-11-20T17:05:00"}],
         "accounts.0.recent_posts.0.posted_at", "timezone_aware"),
        ("recent_posts", [POST | {"sponsored": "yes"}], "accounts.0.recent_posts.0.sponsored",
         "bool_type"),
        ("recent_posts", [POST | {"posted_at": "2026-12-24T12:00:00Z"}],
         "accounts.0.recent_posts.0.posted_at", "in_future"),
        ("recent_posts", [POST | {"caption": "x" * 5001}], "accounts.0.recent_posts.0.caption",
         "string_too_long"),
        ("recent_posts", [POST | {"caption": 42}], "accounts.0.recent_posts.0.caption",
         "string_type"),
        ("recent_posts", [POST | {"caption": ["a"]}], "accounts.0.recent_posts.0.caption",
         "string_type"),
        ("comment_samples", ["x" * 501], "accounts.0.comment_samples.0", "string_too_long"),
        ("comment_samples", [""], "accounts.0.comment_samples.0", "string_too_short"),
        ("comment_samples", ["ok"] * 101, "accounts.0.comment_samples", "too_long"),
    ],
)  # fmt: skip
async def test_post_and_comment_limits_are_422_and_write_nothing(
    client, field, value, error_field, rule
):
    creator = await register(client)
    r = await client.post(
        "/v1/influencers/me",
        json={"display_name": "Mara", "accounts": [account_body(**{field: value})]},
        headers=creator.headers,
    )
    body = assert_problem(r, 422)
    assert {"field": error_field, "rule": rule} in [
        {"field": e["field"], "rule": e["rule"]} for e in body["errors"]
    ], body["errors"]
    assert_problem(await client.get("/v1/influencers/me", headers=creator.headers), 404)


async def test_a_post_from_the_future_is_refused_on_the_account_routes(client):
    creator = await register(client)
    listing = await create_listing(client, creator)
    future = [POST | {"posted_at": "2026-11-25T12:00:00Z"}]  # the test clock is 11-24 noon
    r = await client.post(
        "/v1/influencers/me/accounts",
        json=account_body(recent_posts=future),
        headers=creator.headers,
    )
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "recent_posts.0.posted_at"
    account_id = listing["accounts"][0]["id"]
    r = await client.patch(
        f"/v1/influencers/me/accounts/{account_id}",
        json={"recent_posts": future},
        headers=creator.headers,
    )
    assert_problem(r, 422)
    accounts = (await client.get("/v1/influencers/me/accounts", headers=creator.headers)).json()
    assert len(accounts) == 1 and accounts[0]["recent_posts"] == []


CAPTION = "Five-minute oat bowls for race week: oats, tofu, berries #veganfood #running"


async def test_post_captions_round_trip_trimmed_with_null_unknown(client):
    """A caption is stored and shown as sent, trimmed; null (or left out) is unknown and ""
    a post without text; 5,000 characters is the limit, counted after trimming."""
    creator, reader = await register(client), await register(client)
    longest = "y" * 5000
    posts = [
        POST | {"caption": f"  {CAPTION}\n"},
        POST | {"posted_at": "2026-11-19T08:00:00+01:00", "caption": None},
        POST | {"posted_at": "2026-11-18T08:00:00Z", "caption": "   "},
        POST | {"posted_at": "2026-11-17T08:00:00Z", "caption": f" {longest} "},
    ]
    listing = await create_listing(client, creator, accounts=[account_body(recent_posts=posts)])
    captions = [p["caption"] for p in listing["accounts"][0]["recent_posts"]]
    assert captions == [CAPTION, None, "", longest]
    public = (await client.get(f"/v1/influencers/{listing['id']}", headers=reader.headers)).json()
    assert [p["caption"] for p in public["accounts"][0]["recent_posts"]] == captions

    # An account added later, and a PATCH replacing the posts whole.
    r = await client.post(
        "/v1/influencers/me/accounts",
        json=account_body("tiktok", recent_posts=[POST | {"caption": "Tofu scramble 🥣"}]),
        headers=creator.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["recent_posts"][0]["caption"] == "Tofu scramble 🥣"
    account_id = listing["accounts"][0]["id"]
    r = await client.patch(
        f"/v1/influencers/me/accounts/{account_id}",
        json={"recent_posts": [POST | {"caption": "Lentil bowl"}, POST]},
        headers=creator.headers,
    )
    assert r.status_code == 200, r.text
    assert [p["caption"] for p in r.json()["recent_posts"]] == ["Lentil bowl", None]
    mine = (await client.get("/v1/influencers/me/accounts", headers=creator.headers)).json()
    assert [p["caption"] for p in mine[0]["recent_posts"]] == ["Lentil bowl", None]
    assert mine[1]["recent_posts"][0]["caption"] == "Tofu scramble 🥣"


@pytest.mark.parametrize(("caption", "rule"), [("z" * 5001, "string_too_long"), (7, "string_type")])
async def test_a_bad_caption_on_the_account_routes_is_422_and_changes_nothing(
    client, caption, rule
):
    creator = await register(client)
    listing = await create_listing(
        client, creator, accounts=[account_body(recent_posts=[POST | {"caption": CAPTION}])]
    )
    account_id = listing["accounts"][0]["id"]
    bad = [POST | {"caption": "Lentil bowl"}, POST | {"caption": caption}]
    r = await client.patch(
        f"/v1/influencers/me/accounts/{account_id}",
        json={"recent_posts": bad, "followers": 1},
        headers=creator.headers,
    )
    body = assert_problem(r, 422)
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [
        ("recent_posts.1.caption", rule)
    ], body["errors"]
    r = await client.post(
        "/v1/influencers/me/accounts",
        json=account_body("tiktok", recent_posts=bad),
        headers=creator.headers,
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "recent_posts.1.caption"
    [account] = (await client.get("/v1/influencers/me/accounts", headers=creator.headers)).json()
    assert account["followers"] == 48200
    assert [p["caption"] for p in account["recent_posts"]] == [CAPTION]
