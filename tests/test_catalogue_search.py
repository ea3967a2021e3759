"""Catalogue reads: filters, full-text search, sorting and keyset pagination of listings and
briefs. Every expectation is exact, so SQLite and PostgreSQL must return the same results."""

from __future__ import annotations

import pytest

from tests.factories import (
    account_body,
    assert_problem,
    create_brand,
    create_brief,
    create_listing,
    register,
)


def _audience(countries: dict[str, float]) -> dict:
    return {"countries": countries, "age_bands": {}, "genders": {}, "languages": {}}


LISTINGS = {
    "mara": dict(
        display_name="Mara Lind",
        bio="Plant-based recipes and trail running from Stockholm.",
        country="SE",
        topics=["vegan-food", "running"],
        accounts=[
            account_body("instagram", "maralind", followers=48_200),
            account_body("tiktok", "mara.runs", followers=120_000),
        ],
        audience=_audience({"SE": 61.0, "NO": 12.0, "US": 27.0}),
        rate_card=[{"deliverable_type": "instagram_reel", "amount": 90_000, "currency": "EUR"}],
    ),
    "goran": dict(
        display_name="Göran Öberg",
        bio="Fika och bakning i GÖTEBORG",
        country="SE",
        topics=["baking"],
        content_samples=["Kanelbullar för hela familjen"],
        accounts=[account_body("youtube", "goranbakar", followers=900_000)],
        audience=_audience({"SE": 90.0, "DE": 10.0}),
        rate_card=[{"deliverable_type": "youtube_video", "amount": 500_000, "currency": "SEK"}],
        available=False,
    ),
    "tess": dict(
        display_name="Tess Trail",
        bio="Hiking and running the Rockies.",
        country="US",
        topics=["running", "hiking"],
        accounts=[account_body("instagram", "tesstrail", followers=5_000)],
        audience=_audience({"US": 80.0, "CA": 20.0}),
        rate_card=[
            {"deliverable_type": "instagram_post", "amount": 20_000, "currency": "USD"},
            {"deliverable_type": "instagram_reel", "amount": 30_000, "currency": "USD"},
        ],
    ),
    "gamer": dict(
        display_name="Pixel Pete",
        bio="Speedruns every night.",
        country="GB",
        topics=["gaming"],
        accounts=[
            account_body("twitch", "pixelpete", followers=300_000),
            account_body("x", "pixelpete", followers=10_000),
        ],
        audience=_audience({"US": 50.0, "GB": 50.0}),
        rate_card=[{"deliverable_type": "twitch_stream", "amount": 100_000, "currency": "USD"}],
    ),
    "chef": dict(
        display_name="100% Vegan_Chef",
        bio="Vegan recipes, weekly.",
        country="DE",
        topics=["vegan-food"],
        content_samples=["Tofu scramble in ten minutes"],
        accounts=[account_body("blog", "veganchef", followers=2_000)],
        audience=_audience({"DE": 100.0}),
        rate_card=[{"deliverable_type": "blog_post", "amount": 15_000, "currency": "EUR"}],
    ),
}


@pytest.fixture
async def catalogue(client):
    ids = {}
    for key, fields in LISTINGS.items():
        ids[key] = (await create_listing(client, await register(client), **fields))["id"]
    reader = await register(client)
    return ids, reader


async def _names(client, reader, ids, **params) -> list[str]:
    r = await client.get("/v1/influencers", params=params | {"limit": 100}, headers=reader.headers)
    assert r.status_code == 200, r.text
    by_id = {v: k for k, v in ids.items()}
    return [by_id[item["id"]] for item in r.json()["data"] if item["id"] in by_id]


LISTING_CASES = [
    ({"platform": "instagram"}, {"mara", "tess"}),
    ({"platform": ["twitch", "youtube"]}, {"goran", "gamer"}),
    ({"followers_min": 100_000}, {"mara", "goran", "gamer"}),
    ({"followers_max": 10_000}, {"tess", "chef"}),
    ({"platform": "instagram", "followers_min": 10_000}, {"mara"}),
    ({"platform": "x", "followers_max": 50_000}, {"gamer"}),
    ({"topic": "running"}, {"mara", "tess"}),
    ({"topic": ["baking", "gaming"]}, {"goran", "gamer"}),
    ({"country": "SE"}, {"mara", "goran"}),
    ({"country": "SE", "min_country_share": 80}, {"goran"}),
    ({"country": ["CA", "DE"]}, {"tess", "goran", "chef"}),
    ({"home_country": "SE"}, {"mara", "goran"}),
    ({"deliverable_type": "instagram_reel"}, {"mara", "tess"}),
    ({"currency": "USD", "price_max": 25_000}, {"tess"}),
    ({"currency": "USD", "price_min": 50_000}, {"gamer"}),
    ({"deliverable_type": "instagram_reel", "currency": "USD", "price_max": 25_000}, set()),
    ({"deliverable_type": "instagram_reel", "currency": "EUR", "price_min": 50_000},
     {"mara"}),
    ({"available": "false"}, {"goran"}),
    ({"topic": "vegan-food", "platform": "blog"}, {"chef"}),
    ({"q": "vegan"}, {"mara", "chef"}),
    ({"q": "VEGAN recipes"}, {"mara", "chef"}),
    ({"q": "vegan weekly"}, {"chef"}),
    ({"q": "göteborg"}, {"goran"}),
    ({"q": "ÖBERG"}, {"goran"}),
    ({"q": "kanelbullar"}, {"goran"}),
    ({"q": "100%"}, {"chef"}),
    ({"q": "_chef"}, {"chef"}),
    ({"q": "%"}, {"chef"}),
    ({"q": "mara.runs"}, {"mara"}),
    ({"q": "trail running"}, {"mara", "tess"}),
    ({"q": "nothing-matches-this"}, set()),
]  # fmt: skip


async def test_listing_filters_and_search(client, catalogue):
    ids, reader = catalogue
    wrong = []
    for params, expected in LISTING_CASES:
        got = set(await _names(client, reader, ids, **params))
        if got != expected:
            wrong.append((params, sorted(got), sorted(expected)))
    assert wrong == []


async def test_listing_sorts(client, catalogue):
    ids, reader = catalogue
    by_followers = ["chef", "tess", "mara", "gamer", "goran"]  # by the largest account
    assert await _names(client, reader, ids, sort="followers") == by_followers
    assert await _names(client, reader, ids, sort="-followers") == by_followers[::-1]
    created = list(LISTINGS)
    assert await _names(client, reader, ids, sort="created") == created
    assert await _names(client, reader, ids) == created[::-1]  # newest first by default


async def test_listing_query_validation(client, catalogue):
    _, reader = catalogue
    h = reader.headers
    for params, field in [
        ({"price_min": 1}, "currency"),
        ({"currency": "EUR", "price_min": 5, "price_max": 1}, "price_min"),
        ({"followers_min": 5, "followers_max": 1}, "followers_min"),
        ({"platform": "myspace"}, "platform.0"),
        ({"deliverable_type": "instagram_live"}, "deliverable_type.0"),
        ({"currency": "XYZ"}, "currency"),
        ({"sort": "budget"}, "sort"),
        ({"followers_min": -1}, "followers_min"),
    ]:
        body = assert_problem(await client.get("/v1/influencers", params=params, headers=h), 422)
        assert body["errors"][0]["field"] == field, (params, body)


async def test_listing_pages_are_stable_while_listings_arrive(client, catalogue):
    ids, reader = catalogue
    seen: list[str] = []
    cursor = None
    late = []
    while True:
        params = {"limit": 2, "sort": "-followers"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/influencers", params=params, headers=reader.headers)).json()
        seen += [item["id"] for item in page["data"]]
        if len(seen) == 2:
            # One sorts before the cursor (never shown), one after it (shown once at the end).
            for followers in (5_000_000, 100):
                fields = {"accounts": [account_body("instagram", followers=followers)]}
                late.append((await create_listing(client, await register(client), **fields))["id"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert set(ids.values()) <= set(seen)
    assert late[0] not in seen and seen[-1] == late[1]
    # A cursor of one sort is refused by another.
    first = (
        await client.get("/v1/influencers", params={"limit": 1}, headers=reader.headers)
    ).json()
    r = await client.get(
        "/v1/influencers",
        params={"limit": 1, "sort": "followers", "cursor": first["next_cursor"]},
        headers=reader.headers,
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "cursor"


# --- briefs ---------------------------------------------------------------------------------------


def _budget(currency: str, low: int, high: int, total: int) -> dict:
    return {"currency": currency, "total": total, "per_influencer_min": low,
            "per_influencer_max": high}  # fmt: skip


def _timeline(deadline: str) -> dict:
    return {"application_deadline": deadline, "content_due": "2027-01-05",
            "publish_start": "2027-01-06", "publish_end": "2027-01-31"}  # fmt: skip


BRIEFS = {
    "oat": dict(
        title="Oat milk breakfast",
        objective="awareness",
        description="Our oat drink at breakfast.",
        must_haves=["show the carton"],
        topics=["vegan-food"],
        platforms=["instagram"],
        deliverables=[{"type": "instagram_reel", "count": 2}],
        target_audience={"countries": ["SE", "NO"], "age_bands": [], "genders": [],
                         "languages": []},
        budget=_budget("EUR", 50_000, 150_000, 1_000_000),
        timeline=_timeline("2026-12-10"),
    ),
    "run": dict(
        title="Shoes for the long run",
        objective="sales",
        description="Show our trail shoes on a muddy long run.",
        must_haves=[],
        topics=["running"],
        platforms=["tiktok"],
        deliverables=[{"type": "tiktok_video", "count": 1}],
        target_audience={"countries": [], "age_bands": [], "genders": [], "languages": []},
        budget=_budget("EUR", 20_000, 40_000, 200_000),
        timeline=_timeline("2026-12-05"),
    ),
    "game": dict(
        title="Launch stream",
        objective="engagement",
        description="Stream our new game.",
        must_haves=["play the demo level"],
        topics=["gaming"],
        platforms=["youtube", "twitch"],
        deliverables=[{"type": "youtube_video", "count": 1}, {"type": "twitch_stream",
                                                            "count": 2}],
        target_audience={"countries": ["US"], "age_bands": [], "genders": [], "languages": []},
        budget=_budget("USD", 100_000, 300_000, 3_000_000),
        timeline=_timeline("2026-12-20"),
    ),
}  # fmt: skip


@pytest.fixture
async def briefs(client):
    owner = await register(client)
    brand_id = (await create_brand(client, owner, "Oatly"))["id"]
    ids = {}
    for key, fields in BRIEFS.items():
        ids[key] = (await create_brief(client, owner, brand_id, state="open", **fields))["id"]
    await create_brief(client, owner, brand_id, **(BRIEFS["oat"] | {"title": "Oat draft"}))
    reader = await register(client)
    return ids, reader, brand_id


async def _brief_names(client, reader, ids, **params) -> list[str]:
    r = await client.get("/v1/briefs", params=params | {"limit": 100}, headers=reader.headers)
    assert r.status_code == 200, r.text
    by_id = {v: k for k, v in ids.items()}
    return [by_id.get(item["id"], item["title"]) for item in r.json()["data"]]


BRIEF_CASES = [
    ({}, {"oat", "run", "game"}),  # the draft is not in the catalogue
    ({"platform": "tiktok"}, {"run"}),
    ({"platform": ["twitch", "instagram"]}, {"oat", "game"}),
    ({"topic": "running"}, {"run"}),
    ({"country": "SE"}, {"oat", "run"}),  # "run" targets every country
    ({"country": "US"}, {"run", "game"}),
    ({"deliverable_type": "twitch_stream"}, {"game"}),
    ({"objective": ["sales", "engagement"]}, {"run", "game"}),
    ({"currency": "EUR"}, {"oat", "run"}),
    ({"currency": "EUR", "budget_min": 100_000}, {"oat"}),
    ({"currency": "EUR", "budget_max": 30_000}, {"run"}),
    ({"currency": "USD", "budget_min": 250_000, "budget_max": 400_000}, {"game"}),
    ({"deadline_before": "2026-12-10"}, {"run"}),
    ({"deadline_after": "2026-12-05"}, {"oat", "game"}),
    ({"deadline_after": "2026-12-05", "deadline_before": "2026-12-20"}, {"oat"}),
    ({"q": "oat"}, {"oat"}),
    ({"q": "MUDDY"}, {"run"}),
    ({"q": "demo level"}, {"game"}),
    ({"q": "vegan"}, {"oat"}),
    ({"q": "the"}, {"oat", "run", "game"}),
    ({"q": "the demo"}, {"game"}),
]


async def test_brief_filters_and_search(client, briefs):
    ids, reader, _ = briefs
    wrong = []
    for params, expected in BRIEF_CASES:
        got = set(await _brief_names(client, reader, ids, **params))
        if got != expected:
            wrong.append((params, sorted(got), sorted(expected)))
    assert wrong == []


async def test_brief_sorts_and_validation(client, briefs):
    ids, reader, brand_id = briefs
    assert await _brief_names(client, reader, ids, sort="deadline") == ["run", "oat", "game"]
    assert await _brief_names(client, reader, ids, sort="-deadline") == ["game", "oat", "run"]
    assert await _brief_names(client, reader, ids, sort="-budget") == ["game", "oat", "run"]
    assert await _brief_names(client, reader, ids, sort="created") == ["oat", "run", "game"]
    assert await _brief_names(client, reader, ids, brand_id=brand_id) == ["game", "run", "oat"]
    h = reader.headers
    for params, field in [
        ({"budget_min": 1}, "currency"),
        ({"currency": "EUR", "budget_min": 5, "budget_max": 1}, "budget_min"),
        ({"deadline_before": "soon"}, "deadline_before"),
        ({"sort": "followers"}, "sort"),
        ({"state": "archived"}, "state.0"),
    ]:
        body = assert_problem(await client.get("/v1/briefs", params=params, headers=h), 422)
        assert body["errors"][0]["field"] == field, (params, body)


async def test_brief_pages_are_stable_while_briefs_arrive(client, briefs):
    ids, reader, _ = briefs
    owner = await register(client)
    other_brand = (await create_brand(client, owner))["id"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 1, "sort": "deadline"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/briefs", params=params, headers=reader.headers)).json()
        seen += [item["id"] for item in page["data"]]
        if len(seen) == 1:
            early = await create_brief(
                client, owner, other_brand, state="open", timeline=_timeline("2026-12-01")
            )
            late = await create_brief(
                client, owner, other_brand, state="open", timeline=_timeline("2026-12-24")
            )
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert seen == [ids["run"], ids["oat"], ids["game"], late["id"]]
    assert early["id"] not in seen
