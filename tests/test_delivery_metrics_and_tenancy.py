"""Metric reports (series, corrections, validation) and who may see and touch delivery objects:
a contract's two parties only; everyone else gets 404."""

from __future__ import annotations

from datetime import timedelta

from tests.delivery_support import CAPTION_OK, funded
from tests.factories import add_member, assert_problem, create_brand, register


async def test_metric_reports_are_versioned_per_party_and_source(client, app):
    d = await funded(client, app, approval_policy="none")
    reel = d.ids[0]
    url = f"/v1/deliverables/{reel}/metrics"
    figures = {"source": "self_reported", "impressions": 12_000, "likes": 900, "reach": 10_000}
    # Not published yet.
    r = await client.post(url, json=figures, headers=d.influencer.headers)
    assert_problem(r, 409, "deliverable-not-published")
    await d.publish(reel)
    await d.tick(timedelta(hours=30))
    # Bad input.
    for body, field in (
        (figures | {"likes": -1}, "likes"),
        (figures | {"revenue": -100}, "revenue"),
        (figures | {"impressions": "12000"}, "impressions"),
        (figures | {"impressions": 1.5}, "impressions"),
        (figures | {"source": "gut_feeling"}, "source"),
        (figures | {"currency": "XXX", "revenue": 5}, "currency"),
        (figures | {"evidence_url": "file:///etc/passwd"}, "evidence_url"),
        (figures | {"measured_at": "2026-12-30T00:00:00Z"}, "measured_at"),
        ({"source": "screenshot"}, "body"),
    ):
        r = await client.post(url, json=body, headers=d.influencer.headers)
        assert assert_problem(r, 422)["errors"][0]["field"] == field, body
    # The influencer's self-reported series: version 1, then a correction.
    r = await client.post(url, json=figures, headers=d.influencer.headers)
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert (
        v1["id"].startswith("mtr_") and v1["version_no"] == 1 and v1["reported_by"] == "influencer"
    )
    assert v1["measured_at"] == "2026-11-25T18:00:00Z" and v1["supersedes_id"] is None
    correction = figures | {"impressions": 12_500, "evidence_url": "https://cdn.example/shot.png"}
    v2 = (await client.post(url, json=correction, headers=d.influencer.headers)).json()
    assert v2["version_no"] == 2 and v2["supersedes_id"] == v1["id"]
    # The brand's own series (from its tracking) sits beside it.
    brand_figures = {"source": "platform_api", "clicks": 340, "conversions": 12, "revenue": 45_600}
    b1 = (await client.post(url, json=brand_figures, headers=d.brand.headers)).json()
    assert b1["reported_by"] == "brand" and b1["version_no"] == 1
    assert (b1["revenue"], b1["currency"]) == (45_600, "EUR")  # the contract's currency
    listed = (await client.get(url, headers=d.brand.headers)).json()
    latest = {(x["reported_by"], x["source"]): x for x in listed["latest"]}
    assert set(latest) == {("influencer", "self_reported"), ("brand", "platform_api")}
    assert latest[("influencer", "self_reported")]["impressions"] == 12_500
    history = listed["history"]
    assert len(history) == 3
    old = next(x for x in history if x["id"] == v1["id"])
    assert old["superseded_by_id"] == v2["id"] and old["superseded_at"] is not None
    assert old["impressions"] == 12_000  # the history keeps the original figures
    # Metrics stay readable and reportable after the deliverable is confirmed.
    await d.confirm(reel)
    r = await client.post(url, json=figures | {"likes": 950}, headers=d.influencer.headers)
    assert r.status_code == 201 and r.json()["version_no"] == 3


async def test_only_the_contracts_parties_see_and_act_on_delivery(client, app):
    d = await funded(client, app, approval_policy="first")
    reel, second = d.ids[0], d.ids[1]
    draft = (await d.draft(reel)).json()
    await d.publish(second)
    ext = (
        await client.post(
            f"/v1/deliverables/{d.ids[2]}/extensions",
            json={"due_date": "2027-01-03", "reason": "x"},
            headers=d.brand.headers,
        )
    ).json()
    dispute_url = f"/v1/contracts/{d.contract['id']}/disputes"
    # A colleague of the brand is a party (brand side).
    colleague = await register(client)
    await add_member(client, d.deal.brand["id"], d.brand, colleague)
    got = (await client.get(f"/v1/deliverables/{reel}", headers=colleague.headers)).json()
    assert got["side"] == "brand" and got["latest_draft"]["id"] == draft["id"]
    # Strangers: another brand's member, another influencer, a bare account.
    other = await register(client)
    await create_brand(client, other, "Other brand")
    other_influencer = await register(client)
    await client.post(
        "/v1/influencers/me",
        json={"display_name": "Someone", "country": "SE", "languages": ["sv"]},
        headers=other_influencer.headers,
    )
    nobody = await register(client)
    calls = [
        ("get", f"/v1/contracts/{d.contract['id']}/deliverables", None),
        ("get", f"/v1/deliverables/{reel}", None),
        ("get", f"/v1/deliverables/{reel}/drafts", None),
        ("post", f"/v1/deliverables/{reel}/drafts", {"caption": CAPTION_OK}),
        ("get", f"/v1/drafts/{draft['id']}", None),
        ("post", f"/v1/drafts/{draft['id']}/approve", None),
        ("post", f"/v1/drafts/{draft['id']}/request-changes", {"feedback": "x"}),
        (
            "post",
            f"/v1/deliverables/{reel}/proof",
            {
                "url": "https://x.example/p",
                "published_at": "2026-11-24T12:00:00Z",
                "platform_post_id": "p",
                "caption": CAPTION_OK,
            },
        ),
        ("post", f"/v1/deliverables/{second}/proof/confirm", None),
        ("post", f"/v1/deliverables/{second}/proof/dispute", {"reason": "x"}),
        ("post", f"/v1/deliverables/{reel}/cancel", None),
        ("post", f"/v1/deliverables/{reel}/extensions", {"due_date": "2027-01-05", "reason": "x"}),
        ("get", f"/v1/deliverables/{reel}/extensions", None),
        ("post", f"/v1/extensions/{ext['id']}/accept", None),
        ("post", f"/v1/extensions/{ext['id']}/decline", None),
        ("post", f"/v1/extensions/{ext['id']}/withdraw", None),
        ("get", f"/v1/deliverables/{second}/metrics", None),
        ("post", f"/v1/deliverables/{second}/metrics", {"source": "screenshot", "likes": 1}),
        ("post", dispute_url, {"reason": "x"}),
        ("get", dispute_url, None),
    ]
    for who in (other, other_influencer, nobody):
        for method, path, body in calls:
            r = await client.request(method, path, json=body, headers=who.headers)
            assert_problem(r, 404)
    # Nothing changed for the parties.
    assert (await d.get(reel))["state"] == "in_review"
    assert (await d.get(second))["state"] == "published"
    r = await client.get(f"/v1/deliverables/{d.ids[2]}/extensions", headers=d.influencer.headers)
    assert r.json()["data"][0]["state"] == "proposed"
    assert (await client.get(dispute_url, headers=d.brand.headers)).json()["data"] == []
    # Unknown ids are 404 too, with their own type.
    for path, slug in (
        ("/v1/deliverables/dlv_nothing", "deliverable-not-found"),
        ("/v1/drafts/drf_nothing", "draft-not-found"),
        ("/v1/contracts/ctr_nothing/deliverables", "contract-not-found"),
    ):
        assert_problem(await client.get(path, headers=d.brand.headers), 404, slug)
    r = await client.post("/v1/extensions/ext_nothing/accept", headers=d.brand.headers)
    assert_problem(r, 404, "extension-not-found")
    # Without a token: 401.
    assert_problem(await client.get(f"/v1/deliverables/{reel}"), 401)


async def test_the_contracts_deliverables_list_in_position_order(client, app):
    d = await funded(client, app, approval_policy="first")
    url = f"/v1/contracts/{d.contract['id']}/deliverables"
    page = (await client.get(url, params={"limit": 2}, headers=d.influencer.headers)).json()
    assert [x["position"] for x in page["data"]] == [1, 2] and page["has_more"] is True
    rest = (
        await client.get(
            url, params={"limit": 2, "cursor": page["next_cursor"]}, headers=d.influencer.headers
        )
    ).json()
    assert [x["position"] for x in rest["data"]] == [3] and rest["next_cursor"] is None
    first = page["data"][0]
    assert first["milestone_ids"] and first["platform"] == "instagram"
    assert first["allowed_actions"] == ["cancel", "submit_draft"]
    assert page["data"][1]["allowed_actions"] == ["cancel", "submit_draft", "submit_proof"]
    brand_view = (await client.get(url, headers=d.brand.headers)).json()["data"][0]
    assert brand_view["side"] == "brand" and brand_view["allowed_actions"] == ["cancel"]
