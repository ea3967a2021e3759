from __future__ import annotations

from tests.factories import assert_problem, register


async def test_disclosure_check_route(client):
    account = await register(client)
    ok = await client.post(
        "/v1/compliance/disclosure-check",
        json={"platform": "instagram", "text": "#ad Race-week oats with @oatly"},
        headers=account.headers,
    )
    assert ok.status_code == 200
    assert ok.json()["passed"] is True and ok.json()["marker"]
    buried = await client.post(
        "/v1/compliance/disclosure-check",
        json={
            "platform": "instagram",
            "text": "Loving my new oat drink, it is so creamy and goes with everything I bake "
            "this week, honestly the best " + " ".join(f"#tag{i}" for i in range(9)) + " #ad",
        },
        headers=account.headers,
    )
    body = buried.json()
    assert body["passed"] is False and any("buried" in r for r in body["reasons"])
    label = await client.post(
        "/v1/compliance/disclosure-check",
        json={"platform": "tiktok", "text": "new drop", "paid_partnership_label": True},
        headers=account.headers,
    )
    assert label.json()["passed"] is True


async def test_disclosure_check_bad_input(client):
    account = await register(client)
    for body, field in [
        ({"platform": "myspace", "text": "#ad"}, "platform"),
        ({"platform": "instagram"}, "text"),
        (
            {"platform": "instagram", "text": "#ad", "paid_partnership_label": "yes"},
            "paid_partnership_label",
        ),
    ]:
        r = await client.post("/v1/compliance/disclosure-check", json=body, headers=account.headers)
        assert field in [e["field"] for e in assert_problem(r, 422)["errors"]]
    assert_problem(
        await client.post("/v1/compliance/disclosure-check", json={"platform": "x", "text": "#ad"}),
        401,
    )


async def test_rate_estimate_route_and_monotonicity(client):
    account = await register(client)
    base = {"platform": "instagram", "deliverable_type": "instagram_reel", "audience_size": 50000}
    plain = (await client.get("/v1/rates/estimate", params=base, headers=account.headers)).json()
    assert plain["p25"] <= plain["median"] <= plain["p75"]
    assert all(isinstance(plain[k], int) for k in ("p25", "median", "p75"))
    assert plain["source"] == "prior" and plain["basis"]
    richer = (
        await client.get(
            "/v1/rates/estimate",
            params=base
            | {"usage_rights_days": 90, "usage_channels": ["paid_social"], "exclusivity_days": 30},
            headers=account.headers,
        )
    ).json()
    assert richer["median"] > plain["median"] and richer["p25"] >= plain["p25"]
    jpy = (
        await client.get(
            "/v1/rates/estimate", params=base | {"currency": "JPY"}, headers=account.headers
        )
    ).json()
    assert jpy["currency"] == "JPY" and jpy["median"] > 0


async def test_rate_estimate_bad_input(client):
    account = await register(client)
    base = {"platform": "instagram", "deliverable_type": "instagram_reel", "audience_size": 50000}
    cases = [
        (base | {"deliverable_type": "youtube_video"}, "deliverable_type"),
        (base | {"deliverable_type": "billboard"}, "deliverable_type"),
        (base | {"currency": "XXX"}, "currency"),
        (base | {"currency": "usd"}, "currency"),
        (base | {"audience_size": -1}, "audience_size"),
        (base | {"engagement_rate": 2}, "engagement_rate"),
        (base | {"usage_channels": ["billboards"]}, "usage_channels.0"),
    ]
    for params, field in cases:
        r = await client.get("/v1/rates/estimate", params=params, headers=account.headers)
        assert field in [e["field"] for e in assert_problem(r, 422)["errors"]], (params, r.text)
