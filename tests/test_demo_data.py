"""The demo data shows the product (docs/walkthrough.md steps 2-3): the demo brand's open brief
ranks the demo creator on its first page of matches, and the demo creator finds that brief
among their recommended briefs. A creator with nothing recommended is told why."""

from __future__ import annotations

from typing import Any

import httpx

from rapport_dev.demo import (
    DEMO_ACCOUNTS,
    DEMO_BRIEF_TITLE,
    DEMO_PASSWORD,
    demo_brief,
    demo_creator_listing,
    seed_demo,
)
from tests.factories import (
    T0,
    account_body,
    create_brand,
    create_brief,
    create_listing,
    register,
)


async def _sign_in(client: httpx.AsyncClient, who: str) -> dict[str, str]:
    r = await client.post(
        "/v1/auth/token", data={"username": DEMO_ACCOUNTS[who], "password": DEMO_PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_demo_brand_and_demo_creator_find_each_other(
    client: httpx.AsyncClient, database: Any, settings: Any
) -> None:
    assert await seed_demo(database, settings, today=T0.date()) is True
    brand = await _sign_in(client, "brand")
    creator = await _sign_in(client, "influencer")

    # The demo brand's brief is open, dated from the seeding day.
    listed = await client.get(
        "/v1/briefs", params={"state": "open", "q": "race-week"}, headers=brand
    )
    ours = [b for b in listed.json()["data"] if b["title"] == DEMO_BRIEF_TITLE]
    assert len(ours) == 1, listed.text
    brief = ours[0]
    assert brief["timeline"]["application_deadline"] > T0.date().isoformat()

    me = (await client.get("/v1/influencers/me", headers=creator)).json()
    assert [a["platform"] for a in me["accounts"]] == ["instagram", "tiktok"]
    assert {"vegan-food", "running"} <= set(me["topics"])
    assert me["audience"]["countries"]["SE"] > 50

    # Step 2: the brand sees the demo creator on the first page of its brief's matches.
    matches = await client.get(f"/v1/briefs/{brief['id']}/matches", headers=brand)
    assert matches.status_code == 200, matches.text
    ranked = [m["listing_id"] for m in matches.json()["data"]]
    assert me["id"] in ranked[:5], matches.json()["excluded"]
    mine = next(m for m in matches.json()["data"] if m["listing_id"] == me["id"])
    assert mine["display_name"] == "Mara Lind"
    # The value itself depends on the whole market's vocabulary (text IDF over every listing the
    # index holds, other tests' included), so the test checks what it is built from, not a level.
    topic = mine["components"]["topic_relevance"]
    assert topic["value"] > 0 and "vegan-food" in topic["reason"], topic
    assert mine["components"]["price_fit"]["value"] > 0.5

    # Step 3: the creator sees the brief among their recommended briefs, and may bid on it.
    recommended = await client.get("/v1/influencers/me/recommended-briefs", headers=creator)
    assert recommended.status_code == 200, recommended.text
    body = recommended.json()
    assert brief["id"] in [b["brief_id"] for b in body["data"]]
    assert body["reason"] is None


def test_demo_shapes_are_dated_from_the_day_given() -> None:
    later = T0.date().replace(year=T0.year + 2)
    listing = demo_creator_listing(later)
    history = listing["accounts"][0]["follower_history"]
    assert history[-1]["date"] < later.isoformat() and history[0]["date"] > str(later.year - 2)
    timeline = demo_brief("brd_x", later)["timeline"]
    assert timeline["application_deadline"] > later.isoformat()


async def test_an_empty_recommendation_list_says_why(client: httpx.AsyncClient) -> None:
    path = "/v1/influencers/me/recommended-briefs"
    creator = await register(client)
    await create_listing(client, creator, accounts=[])

    async def reason() -> str:
        answer = await client.get(path, headers=creator.headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == []
        return answer.json()["reason"]

    assert (await reason()).startswith("No open brief is visible to you")

    owner = await register(client)
    brand = await create_brand(client, owner)
    await create_brief(
        client,
        owner,
        brand["id"],
        state="open",
        platforms=["tiktok"],
        deliverables=[{"type": "tiktok_video", "count": 1}],
    )
    assert "no social accounts" in await reason()
    assert "POST /v1/influencers/me/accounts" in await reason()

    added = await client.post(
        "/v1/influencers/me/accounts", json=account_body("instagram"), headers=creator.headers
    )
    assert added.status_code == 201, added.text
    assert await reason() == (
        "No open brief admits your listing (1 open): no account on the brief's platforms "
        "(tiktok); has instagram (1 brief)"
    )
