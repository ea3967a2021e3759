"""Relationships (issue 15): records made on first contact, the timeline after a whole deal,
do_not_work out of matches and invitations, performance history on a hand-computed case, the
relationship component in /matches, re-engagement, and ratings' double-blind reveal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.delivery_support import CAPTION_BAD, Delivery, MoneyRecorder
from tests.factories import (
    Account,
    Deal,
    assert_problem,
    bid_body,
    create_bid,
    create_brand,
    create_brief,
    create_listing,
    fund_directly,
    make_offer,
    register,
)
from tests.money_support import funded_contract, make_releasable, money_worker, settle

BRAND_RATING = {
    "quality": {"score": 5, "text": "Lovely reels"},
    "timeliness": {"score": 4, "text": "One late"},
    "communication": {"score": 3, "text": "Slow answers"},
}
CREATOR_RATING = {
    "brief_clarity": {"score": 4, "text": "Clear"},
    "payment": {"score": 5, "text": "Paid on time"},
    "communication": {"score": 4, "text": ""},
}


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def _invited_deal(
    client: httpx.AsyncClient,
    *,
    owner: Account | None = None,
    brand: dict[str, Any] | None = None,
    influencer: Account | None = None,
    listing: dict[str, Any] | None = None,
) -> Deal:
    """The brand invites a creator to an open brief, the creator bids and writes."""
    owner = owner or await register(client)
    brand = brand or await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"], state="open")
    if influencer is None:
        influencer = await register(client)
        listing = await create_listing(client, influencer)
    assert listing is not None
    await _ok(
        await client.post(
            f"/v1/briefs/{brief['id']}/invitations",
            json={"influencer_ids": [listing["id"]]},
            headers=owner.headers,
        ),
        201,
    )
    bid = await create_bid(client, influencer, brief["id"])
    await _ok(
        await client.post(
            f"/v1/bids/{bid['id']}/messages",
            json={"text": "Happy to make these reels"},
            headers=influencer.headers,
        ),
        201,
    )
    return Deal(owner, influencer, brand, brief, listing, bid)


async def _contract(client: httpx.AsyncClient, app: Any, deal: Deal, **terms: Any) -> Delivery:
    offer = await make_offer(client, deal.brand_owner, deal.bid["id"], **terms)
    accepted = await _ok(
        await client.post(f"/v1/offers/{offer['id']}/accept", headers=deal.influencer.headers)
    )
    await fund_directly(app, accepted["contract_id"])
    contract = await _ok(
        await client.get(
            f"/v1/contracts/{accepted['contract_id']}", headers=deal.brand_owner.headers
        )
    )
    return Delivery(client, app, deal, contract, MoneyRecorder())


async def _complete(d: Delivery) -> None:
    """Every deliverable published and confirmed, the money code reports every release."""
    for deliverable_id in d.ids:
        state = (await d.get(deliverable_id))["state"]
        if state == "pending":
            await d.publish(deliverable_id)
        elif state == "approved":
            await _ok(await d.proof(deliverable_id), 201)
        if state != "confirmed":
            await _ok(await d.confirm(deliverable_id))
    for milestone_id in d.milestone_ids:
        await d.settle_milestone(milestone_id)
    assert (await d.contract_now())["state"] == "completed"


async def _completed(client: httpx.AsyncClient, app: Any, **terms: Any) -> Delivery:
    deal = await _invited_deal(client)
    d = await _contract(client, app, deal, approval_policy="none", **terms)
    await _complete(d)
    return d


def _rel(d: Delivery) -> str:
    return f"/v1/brands/{d.deal.brand['id']}/relationships/{d.deal.listing['id']}"


# --- records and the timeline ---------------------------------------------------------------------


async def test_a_whole_deal_leaves_a_record_and_a_complete_timeline(client, app):
    deal = await _invited_deal(client)
    rel_path = f"/v1/brands/{deal.brand['id']}/relationships/{deal.listing['id']}"
    # First contact (the invitation) made the record: a prospect, with no contract yet.
    record = await _ok(await client.get(rel_path, headers=deal.brand_owner.headers))
    assert record["first_contact"] == "invitation" and record["status"] == "prospect"
    assert record["first_contact_at"] == "2026-11-24T12:00:00Z"
    # Invitations are dated by the app's clock (they were dated by the wall clock).
    invites = await _ok(
        await client.get(
            f"/v1/briefs/{deal.brief['id']}/invitations", headers=deal.brand_owner.headers
        )
    )
    assert invites["data"][0]["created_at"] == "2026-11-24T12:00:00Z"
    d = await _contract(client, app, deal, approval_policy="first")
    reel1 = d.ids[0]
    # One revision round on the first reel, then approval and proof; the rest straight to proof.
    draft = await _ok(await d.draft(reel1), 201)
    await _ok(await d.request_changes(draft["id"]))
    draft2 = await _ok(await d.draft(reel1), 201)
    await _ok(await d.approve(draft2["id"]))
    await _ok(await d.proof(reel1), 201)
    await _complete(d)
    await _ok(
        await client.post(
            f"/v1/contracts/{d.contract['id']}/ratings",
            json={"scores": BRAND_RATING},
            headers=d.brand.headers,
        ),
        201,
    )
    # Notes and tags, then the timeline.
    await _ok(
        await client.patch(
            rel_path,
            json={"notes": "Great with oats", "tags": ["Vegan", "vegan", " running "]},
            headers=d.brand.headers,
        )
    )
    record = await _ok(await client.get(rel_path, headers=d.brand.headers))
    assert record["status"] == "active"  # a contract made the prospect active
    assert record["notes"] == "Great with oats" and record["tags"] == ["vegan", "running"]
    timeline = await _ok(await client.get(f"{rel_path}/timeline", headers=d.brand.headers))
    seen = {(e["kind"], e["event"]) for e in timeline["entries"]}
    expected = {
        ("relationship", "first_contact"),
        ("relationship", "activate"),
        ("invitation", "invited"),
        ("bid", "submitted"),
        ("bid", "accept"),
        ("message", "sent"),
        ("offer", "sent"),
        ("offer", "accept"),
        ("contract", "created"),
        ("contract", "fund"),
        ("contract", "deliver"),
        ("contract", "complete"),
        ("draft", "submitted"),
        ("draft", "request_changes"),
        ("draft", "approve"),
        ("proof", "submitted"),
        ("deliverable", "confirm"),
        ("milestone", "mark_released"),
        ("rating", "rated"),
    }
    assert expected <= seen, sorted(expected - seen)
    times = [e["at"] for e in timeline["entries"]]
    assert times == sorted(times)
    # The creator's own rating stays out of the brand's timeline until revealed.
    await _ok(
        await client.post(
            f"/v1/contracts/{d.contract['id']}/ratings",
            json={"scores": CREATOR_RATING},
            headers=d.influencer.headers,
        ),
        201,
    )
    timeline = await _ok(await client.get(f"{rel_path}/timeline", headers=d.brand.headers))
    raters = [e["actor"] for e in timeline["entries"] if e["kind"] == "rating"]
    assert sorted(raters) == ["brand", "influencer"]


async def test_notes_tags_and_reasons_are_the_brands_alone(client, app):
    deal = await _invited_deal(client)
    rel_path = f"/v1/brands/{deal.brand['id']}/relationships/{deal.listing['id']}"
    await _ok(
        await client.post(
            f"{rel_path}/status",
            json={"status": "paused", "reason": "Secret: budget review"},
            headers=deal.brand_owner.headers,
        )
    )
    rival = await register(client)
    await create_brand(client, rival, "Rival")
    for who in (deal.influencer, rival):
        for path in (
            rel_path,
            f"{rel_path}/timeline",
            f"/v1/brands/{deal.brand['id']}/relationships",
        ):
            assert_problem(await client.get(path, headers=who.headers), 404, "brand-not-found")
    # The rival's own relationships list shows nothing of the other brand's.
    rival_brand = (await _ok(await client.get("/v1/brands", headers=rival.headers)))["data"][0]
    listed = await client.get(
        f"/v1/brands/{rival_brand['id']}/relationships", headers=rival.headers
    )
    assert "Secret" not in listed.text and deal.listing["id"] not in listed.text
    # A paused record needs a reason; a status that is not one is a 422.
    r = await client.post(
        f"{rel_path}/status", json={"status": "do_not_work"}, headers=deal.brand_owner.headers
    )
    assert_problem(r, 422, "validation-error")
    r = await client.post(
        f"{rel_path}/status", json={"status": "friend"}, headers=deal.brand_owner.headers
    )
    assert_problem(r, 422, "validation-error")
    record = await _ok(await client.get(rel_path, headers=deal.brand_owner.headers))
    assert record["status"] == "paused" and record["status_reason"] == "Secret: budget review"


async def test_brand_lists_and_adding_a_creator_by_hand(client, app):
    owner = await register(client)
    brand = await create_brand(client, owner)
    creator = await register(client)
    listing = await create_listing(client, creator)
    base = f"/v1/brands/{brand['id']}"
    made = await _ok(
        await client.post(
            f"{base}/relationships",
            json={"influencer_id": listing["id"], "tags": ["oats"]},
            headers=owner.headers,
        ),
        201,
    )
    assert made["first_contact"] == "brand" and made["tags"] == ["oats"]
    assert made["updated_at"] == made["first_contact_at"] == "2026-11-24T12:00:00Z"
    again = await client.post(
        f"{base}/relationships", json={"influencer_id": listing["id"]}, headers=owner.headers
    )
    assert again.status_code == 200 and again.json()["id"] == made["id"]
    r = await client.post(
        f"{base}/relationships", json={"influencer_id": "inf_nope"}, headers=owner.headers
    )
    assert_problem(r, 422, "validation-error")
    shortlist = await _ok(
        await client.post(f"{base}/lists", json={"name": "Q1 shortlist"}, headers=owner.headers),
        201,
    )
    assert shortlist["kind"] == "shortlist"
    assert_problem(
        await client.post(f"{base}/lists", json={"name": "Q1 shortlist"}, headers=owner.headers),
        409,
        "relationship-list-exists",
    )
    path = f"{base}/lists/{shortlist['id']}/influencers/{listing['id']}"
    assert (await _ok(await client.put(path, headers=owner.headers)))["influencer_ids"] == [
        listing["id"]
    ]
    await _ok(await client.put(path, headers=owner.headers))  # again: no change
    record = await _ok(
        await client.get(f"{base}/relationships/{listing['id']}", headers=owner.headers)
    )
    assert record["lists"] == ["Q1 shortlist"]
    assert (await _ok(await client.delete(path, headers=owner.headers)))["influencer_ids"] == []
    r = await client.delete(f"{base}/lists/{shortlist['id']}", headers=owner.headers)
    assert r.status_code == 204
    assert_problem(
        await client.get(f"{base}/lists/{shortlist['id']}", headers=owner.headers),
        404,
        "relationship-list-not-found",
    )


# --- do_not_work --------------------------------------------------------------------------------


async def test_do_not_work_removes_the_creator_from_the_brands_matches_and_invitations(client):
    owner = await register(client)
    brand = await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"], state="open")
    creator = await register(client)
    listing = await create_listing(client, creator)
    other = await register(client)
    other_listing = await create_listing(client, other)
    matches = f"/v1/briefs/{brief['id']}/matches"
    ids = [
        m["listing_id"]
        for m in (await _ok(await client.get(matches, headers=owner.headers)))["data"]
    ]
    assert listing["id"] in ids and other_listing["id"] in ids
    rel = f"/v1/brands/{brand['id']}/relationships"
    await _ok(
        await client.post(rel, json={"influencer_id": listing["id"]}, headers=owner.headers), 201
    )
    await _ok(
        await client.post(
            f"{rel}/{listing['id']}/status",
            json={"status": "do_not_work", "reason": "Missed two deadlines in 2025"},
            headers=owner.headers,
        )
    )
    body = await _ok(
        await client.get(matches, params={"explain": [listing["id"]]}, headers=owner.headers)
    )
    ids = [m["listing_id"] for m in body["data"]]
    assert listing["id"] not in ids and other_listing["id"] in ids
    assert "do_not_work" in body["excluded"][listing["id"]]
    assert "Missed two deadlines" in body["excluded"][listing["id"]]
    r = await client.post(
        f"/v1/briefs/{brief['id']}/invitations",
        json={"influencer_ids": [other_listing["id"], listing["id"]]},
        headers=owner.headers,
    )
    problem = assert_problem(r, 409, "influencer-do-not-work")
    assert problem["influencer_ids"] == [listing["id"]]
    assert "Missed two deadlines" in problem["detail"]
    # Nothing was invited (the other listing neither: the request changed nothing).
    listed = await _ok(
        await client.get(f"/v1/briefs/{brief['id']}/invitations", headers=owner.headers)
    )
    assert listed["data"] == []
    # Another brand is not bound by it.
    rival = await register(client)
    rival_brand = await create_brand(client, rival, "Rival")
    rival_brief = await create_brief(client, rival, rival_brand["id"], state="open")
    rival_ids = [
        m["listing_id"]
        for m in (
            await _ok(
                await client.get(f"/v1/briefs/{rival_brief['id']}/matches", headers=rival.headers)
            )
        )["data"]
    ]
    assert listing["id"] in rival_ids
    # Reconsidered: back in the matches, invitable again.
    await _ok(
        await client.post(
            f"{rel}/{listing['id']}/status", json={"status": "prospect"}, headers=owner.headers
        )
    )
    ids = [
        m["listing_id"]
        for m in (await _ok(await client.get(matches, headers=owner.headers)))["data"]
    ]
    assert listing["id"] in ids
    await _ok(
        await client.post(
            f"/v1/briefs/{brief['id']}/invitations",
            json={"influencer_ids": [listing["id"]]},
            headers=owner.headers,
        ),
        201,
    )


async def _do_not_work(client, owner, brand, listing, reason="Undisclosed ads in 2025") -> str:
    rel = f"/v1/brands/{brand['id']}/relationships"
    await _ok(
        await client.post(rel, json={"influencer_id": listing["id"]}, headers=owner.headers), 201
    )
    status_path = f"{rel}/{listing['id']}/status"
    await _ok(
        await client.post(
            status_path, json={"status": "do_not_work", "reason": reason}, headers=owner.headers
        )
    )
    return status_path


async def test_do_not_work_refuses_the_creators_bids_without_the_brands_reason(client):
    owner = await register(client)
    brand = await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"], state="open")
    rival = await register(client)
    rival_brand = await create_brand(client, rival, "Rival")
    rival_brief = await create_brief(client, rival, rival_brand["id"], state="open")
    creator = await register(client)
    listing = await create_listing(client, creator)
    status_path = await _do_not_work(client, owner, brand, listing)
    r = await client.post(
        f"/v1/briefs/{brief['id']}/bids", json=bid_body(), headers=creator.headers
    )
    problem = assert_problem(r, 403, "bids-refused-by-brand")
    assert "Undisclosed" not in r.text and "do_not_work" not in r.text
    assert problem["brief_id"] == brief["id"]
    # Nothing was made: no bid on either side.
    assert (await _ok(await client.get("/v1/bids", headers=creator.headers)))["data"] == []
    received = await _ok(await client.get(f"/v1/briefs/{brief['id']}/bids", headers=owner.headers))
    assert received["data"] == []
    # Another brand is not bound by it; reconsidered, the brand takes the bid again.
    await create_bid(client, creator, rival_brief["id"])
    await _ok(await client.post(status_path, json={"status": "prospect"}, headers=owner.headers))
    await create_bid(client, creator, brief["id"])


async def test_a_brand_profiles_blocked_influencers_cannot_bid_nor_be_invited(client):
    """A listing in the brand's `blocked_influencers` was still taking part: its bids on the
    brand's briefs were accepted and the brand could invite it. Both are refused now, and
    nothing is written."""
    owner = await register(client)
    brand = await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"], state="open")
    creator = await register(client)
    listing = await create_listing(client, creator)
    other = await create_listing(client, await register(client))
    patch = f"/v1/brands/{brand['id']}"
    await _ok(
        await client.patch(
            patch, json={"blocked_influencers": [listing["id"]]}, headers=owner.headers
        )
    )
    r = await client.post(
        f"/v1/briefs/{brief['id']}/bids", json=bid_body(), headers=creator.headers
    )
    assert_problem(r, 403, "bids-refused-by-brand")
    assert "blocked" not in r.text
    assert (await _ok(await client.get("/v1/bids", headers=creator.headers)))["data"] == []
    r = await client.post(
        f"/v1/briefs/{brief['id']}/invitations",
        json={"influencer_ids": [other["id"], listing["id"]]},
        headers=owner.headers,
    )
    problem = assert_problem(r, 409, "influencer-blocked")
    assert problem["influencer_ids"] == [listing["id"]]
    listed = await _ok(
        await client.get(f"/v1/briefs/{brief['id']}/invitations", headers=owner.headers)
    )
    assert listed["data"] == []
    # Taken off the block list, the creator bids again.
    await _ok(await client.patch(patch, json={"blocked_influencers": []}, headers=owner.headers))
    await create_bid(client, creator, brief["id"])


async def test_do_not_work_takes_the_brands_briefs_out_of_the_creators_recommendations(client):
    owner = await register(client)
    brand = await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"], state="open")
    rival = await register(client)
    rival_brand = await create_brand(client, rival, "Rival")
    rival_brief = await create_brief(client, rival, rival_brand["id"], state="open")
    creator = await register(client)
    listing = await create_listing(client, creator)

    async def recommended() -> list[str]:
        path = "/v1/influencers/me/recommended-briefs"
        body = await _ok(await client.get(path, headers=creator.headers))
        return [b["brief_id"] for b in body["data"]]

    assert {brief["id"], rival_brief["id"]} <= set(await recommended())
    status_path = await _do_not_work(client, owner, brand, listing)
    ids = await recommended()
    assert brief["id"] not in ids and rival_brief["id"] in ids
    await _ok(await client.post(status_path, json={"status": "prospect"}, headers=owner.headers))
    assert brief["id"] in await recommended()


# --- performance history --------------------------------------------------------------------------


async def test_history_figures_on_a_hand_computed_contract(client, app):
    """Three deliverables (2 reels due 2026-12-28, a story due 2027-01-02), revision cap 2:
    - on time: reel 1 and the story on time, reel 2 published on 2026-12-29 → 2/3;
    - revisions: 1 change request of 2 x 3 = 6 allowed → share 1/6;
    - KPI impressions 1000: reports 600 (self-reported) + 300 (platform API) + none → 900,
      not met, attainment 0.9; a second KPI on views is not reported by any report;
    - disclosure: reel 2's caption fails the check (not required by these terms) → 2/3;
    - ratings: the brand's 5, 4, 3 → 4.0 once revealed.
    Score: mean(2/3, 5/6, 0.9, 2/3, (4 - 1) / 4) = 0.763333…"""
    deal = await _invited_deal(client)
    d = await _contract(
        client,
        app,
        deal,
        approval_policy="all",
        revision_cap=2,
        disclosure_required=False,
        kpis=[{"metric": "impressions", "target": 1000}, {"metric": "views", "target": 5}],
    )
    reel1, reel2, story = d.ids
    first = await _ok(await d.draft(reel1), 201)
    await _ok(await d.request_changes(first["id"]))
    second = await _ok(await d.draft(reel1), 201)
    await _ok(await d.approve(second["id"]))
    await _ok(await d.proof(reel1), 201)
    await _ok(await d.confirm(reel1))
    await _ok(
        await d.client.post(
            f"/v1/deliverables/{reel1}/metrics",
            json={"source": "self_reported", "impressions": 600},
            headers=d.influencer.headers,
        ),
        201,
    )
    # Reel 2 a day late (2026-12-29), with a caption that does not disclose.
    await d.tick(timedelta(days=35))
    draft = await _ok(await d.draft(reel2, caption=CAPTION_BAD), 201)
    await _ok(await d.approve(draft["id"]))
    await _ok(await d.proof(reel2, caption=CAPTION_BAD), 201)
    await _ok(
        await d.client.post(
            f"/v1/deliverables/{reel2}/metrics",
            json={"source": "self_reported", "impressions": 5_000},
            headers=d.influencer.headers,
        ),
        201,
    )
    # The brand's platform figure outranks the creator's own report of the same post.
    await _ok(
        await d.client.post(
            f"/v1/deliverables/{reel2}/metrics",
            json={"source": "platform_api", "impressions": 300},
            headers=d.brand.headers,
        ),
        201,
    )
    draft = await _ok(await d.draft(story), 201)
    await _ok(await d.approve(draft["id"]))
    await _complete(d)
    await _ok(
        await client.post(
            f"/v1/contracts/{d.contract['id']}/ratings",
            json={"scores": BRAND_RATING},
            headers=d.brand.headers,
        ),
        201,
    )
    mine = await _ok(
        await client.get("/v1/influencers/me/performance", headers=d.influencer.headers)
    )
    record = mine["record"]
    assert record["finished_contracts"] == 1
    assert (record["on_time"]["count"], record["on_time"]["of"]) == (2, 3)
    assert record["on_time"]["rate"] == pytest.approx(2 / 3)
    assert (record["revisions"]["count"], record["revisions"]["of"]) == (1, 6)
    assert record["revisions"]["rate"] == pytest.approx(1 / 6)
    assert (record["metrics"]["count"], record["metrics"]["of"]) == (0, 1)
    assert record["metrics"]["rate"] == pytest.approx(0.9)
    assert (record["disclosure"]["count"], record["disclosure"]["of"]) == (2, 3)
    # The brand's rating is hidden from the figures until revealed (the creator has not rated).
    assert record["ratings"]["count"] == 0 and record["ratings"]["mean"] is None
    assert record["score"] == pytest.approx((2 / 3 + 5 / 6 + 0.9 + 2 / 3) / 4)
    await _ok(
        await client.post(
            f"/v1/contracts/{d.contract['id']}/ratings",
            json={"scores": CREATOR_RATING},
            headers=d.influencer.headers,
        ),
        201,
    )
    record = (
        await _ok(await client.get("/v1/influencers/me/performance", headers=d.influencer.headers))
    )["record"]
    assert record["ratings"]["mean"] == pytest.approx(4.0)
    assert record["ratings"]["by_dimension"] == {
        "communication": 3.0,
        "quality": 5.0,
        "timeliness": 4.0,
    }
    assert record["score"] == pytest.approx((2 / 3 + 5 / 6 + 0.9 + 2 / 3 + 0.75) / 5)
    # The creator hides the ratings: brands and anyone no longer see them; the brand still
    # sees its own history whole.
    shown = await _ok(
        await client.put(
            "/v1/influencers/me/performance/visibility",
            json={"public": ["on_time", "revisions", "metrics", "disclosure"]},
            headers=d.influencer.headers,
        )
    )
    assert shown["record"]["ratings"]["mean"] == pytest.approx(4.0)  # the creator sees all
    stranger = await register(client)
    public = await _ok(
        await client.get(
            f"/v1/influencers/{deal.listing['id']}/performance", headers=stranger.headers
        )
    )
    assert public["record"]["ratings"] is None and public["with_brand"] is None
    assert public["record"]["score"] == pytest.approx((2 / 3 + 5 / 6 + 0.9 + 2 / 3) / 4)
    brand_view = await _ok(await client.get(f"{_rel(d)}/performance", headers=d.brand.headers))
    assert brand_view["record"]["ratings"] is None
    assert brand_view["with_brand"]["ratings"]["mean"] == pytest.approx(4.0)
    r = await client.put(
        "/v1/influencers/me/performance/visibility",
        json={"public": ["followers"]},
        headers=d.influencer.headers,
    )
    assert_problem(r, 422, "validation-error")


async def test_no_history_is_null_with_reasons(client):
    creator = await register(client)
    await create_listing(client, creator)
    mine = await _ok(await client.get("/v1/influencers/me/performance", headers=creator.headers))
    record = mine["record"]
    assert record["finished_contracts"] == 0 and record["score"] is None
    for figure in ("on_time", "revisions", "metrics", "disclosure"):
        assert record[figure]["rate"] is None and record[figure]["reason"]
    assert record["ratings"]["mean"] is None


async def test_the_relationship_component_moves_a_strong_past_performer_up(client, app):
    d = await _completed(client, app)
    # Ranked once before the ratings: the component then knows no rating …
    early = await create_brief(client, d.brand, d.deal.brand["id"], state="open")
    body = await _ok(await client.get(f"/v1/briefs/{early['id']}/matches", headers=d.brand.headers))
    (past,) = [m for m in body["data"] if m["listing_id"] == d.deal.listing["id"]]
    assert "rated" not in past["components"]["relationship"]["reason"]
    await _ok(
        await client.post(
            f"/v1/contracts/{d.contract['id']}/ratings",
            json={"scores": {k: {"score": 5, "text": ""} for k in BRAND_RATING}},
            headers=d.brand.headers,
        ),
        201,
    )
    await _ok(
        await client.post(
            f"/v1/contracts/{d.contract['id']}/ratings",
            json={"scores": CREATOR_RATING},
            headers=d.influencer.headers,
        ),
        201,
    )
    newcomer = await register(client)
    fresh = await create_listing(client, newcomer)
    await d.tick(timedelta(days=1))  # ratings count in the matching from the day after reveal
    brief = await create_brief(client, d.brand, d.deal.brand["id"], state="open")
    body = await _ok(await client.get(f"/v1/briefs/{brief['id']}/matches", headers=d.brand.headers))
    ranked = {m["listing_id"]: m for m in body["data"]}
    past, new = ranked[d.deal.listing["id"]], ranked[fresh["id"]]
    assert past["components"]["relationship"]["value"] > 0.5
    assert "with this brand: 1 finished contract" in past["components"]["relationship"]["reason"]
    # … and once both rated, the next ranking counts the revealed rating.
    assert "rated 5.0/5" in past["components"]["relationship"]["reason"]
    assert new["components"]["relationship"]["value"] == 0.5
    assert "no history" in new["components"]["relationship"]["reason"]
    order = [m["listing_id"] for m in body["data"]]
    assert order.index(d.deal.listing["id"]) < order.index(fresh["id"])
    # Without the relationship component the two listings tie on every other component.
    others = {k: v["value"] for k, v in past["components"].items() if k != "relationship"}
    assert others == {k: v["value"] for k, v in new["components"].items() if k != "relationship"}


# --- re-engagement ------------------------------------------------------------------------------


async def test_re_engagement_suggests_strong_performers_not_engaged_lately(client, app):
    d = await _completed(client, app)
    await _ok(
        await client.post(
            f"/v1/contracts/{d.contract['id']}/ratings",
            json={"scores": {k: {"score": 5, "text": ""} for k in BRAND_RATING}},
            headers=d.brand.headers,
        ),
        201,
    )
    path = f"/v1/brands/{d.deal.brand['id']}/re-engagement"
    assert await _ok(await client.get(path, headers=d.brand.headers)) == []  # engaged today
    await d.tick(timedelta(days=100))
    found = await _ok(await client.get(path, headers=d.brand.headers))
    assert [s["influencer_id"] for s in found] == [d.deal.listing["id"]]
    assert found[0]["days_since"] == 100 and "not engaged for 100 days" in found[0]["reason"]
    assert await _ok(await client.get(path, params={"days": 120}, headers=d.brand.headers)) == []
    assert_problem(
        await client.get(path, params={"days": 0}, headers=d.brand.headers), 422, "validation-error"
    )
    # The creator sees no brand coming back yet; then the brand invites them again.
    mine = "/v1/influencers/me/re-engaged-by"
    assert await _ok(await client.get(mine, headers=d.influencer.headers)) == []
    spring = {
        "application_deadline": "2027-03-20",
        "content_due": "2027-04-01",
        "publish_start": "2027-04-02",
        "publish_end": "2027-04-30",
    }
    brief = await create_brief(client, d.brand, d.deal.brand["id"], state="open", timeline=spring)
    await _ok(
        await client.post(
            f"/v1/briefs/{brief['id']}/invitations",
            json={"influencer_ids": [d.deal.listing["id"]]},
            headers=d.brand.headers,
        ),
        201,
    )
    back = await _ok(await client.get(mine, headers=d.influencer.headers))
    assert [b["brand_id"] for b in back] == [d.deal.brand["id"]]
    assert back[0]["times"] == 1 and "invitation" in back[0]["reason"]
    assert await _ok(await client.get(path, headers=d.brand.headers)) == []  # engaged again


# --- ratings --------------------------------------------------------------------------------------


async def test_ratings_are_revealed_when_both_rated_or_after_14_days(client, app):
    deal = await _invited_deal(client)
    d = await _contract(client, app, deal, approval_policy="none")
    url = f"/v1/contracts/{d.contract['id']}/ratings"
    # Before completion: 409, nothing stored.
    r = await client.post(url, json={"scores": BRAND_RATING}, headers=d.brand.headers)
    assert_problem(r, 409, "contract-not-finished")
    await _complete(d)
    # Not a party: 404, for the other brand and the other creator alike.
    rival = await register(client)
    await create_brand(client, rival, "Rival")
    stranger = await register(client)
    await create_listing(client, stranger)
    for who in (rival, stranger):
        r = await client.post(url, json={"scores": BRAND_RATING}, headers=who.headers)
        assert_problem(r, 404, "contract-not-found")
        assert_problem(await client.get(url, headers=who.headers), 404, "contract-not-found")
    # The wrong dimensions, a score out of range: 422.
    r = await client.post(url, json={"scores": CREATOR_RATING}, headers=d.brand.headers)
    assert_problem(r, 422, "validation-error")
    bad = BRAND_RATING | {"quality": {"score": 6, "text": ""}}
    assert_problem(
        await client.post(url, json={"scores": bad}, headers=d.brand.headers),
        422,
        "validation-error",
    )
    # The brand rates; the creator does not see it, the brand sees its own.
    mine = await _ok(
        await client.post(url, json={"scores": BRAND_RATING}, headers=d.brand.headers), 201
    )
    assert mine["mine"]["scores"]["quality"] == {"score": 5, "text": "Lovely reels"}
    assert mine["revealed"] is False and mine["theirs"] is None
    ended = (await d.contract_now())["ended_at"]
    seen = await _ok(await client.get(url, headers=d.influencer.headers))
    assert seen["side"] == "influencer" and seen["mine"] is None and seen["theirs"] is None
    assert seen["reveal_at"] is not None and seen["reveal_at"] > ended
    # Twice: 409.
    r = await client.post(url, json={"scores": BRAND_RATING}, headers=d.brand.headers)
    assert_problem(r, 409, "already-rated")
    # 13 days on: still hidden; 14 days after the end: revealed, the creator never rated.
    await d.tick(timedelta(days=13, hours=23))
    assert (await _ok(await client.get(url, headers=d.influencer.headers)))["theirs"] is None
    await d.tick(timedelta(hours=1))
    seen = await _ok(await client.get(url, headers=d.influencer.headers))
    assert seen["revealed"] is True and seen["theirs"]["rater_side"] == "brand"
    assert seen["theirs"]["scores"]["communication"]["text"] == "Slow answers"


async def test_both_ratings_show_as_soon_as_both_sides_rated(client, app):
    d = await _completed(client, app)
    url = f"/v1/contracts/{d.contract['id']}/ratings"
    await _ok(
        await client.post(url, json={"scores": CREATOR_RATING}, headers=d.influencer.headers), 201
    )
    assert (await _ok(await client.get(url, headers=d.brand.headers)))["theirs"] is None
    both = await _ok(
        await client.post(url, json={"scores": BRAND_RATING}, headers=d.brand.headers), 201
    )
    assert both["revealed"] is True
    assert both["theirs"]["scores"]["payment"] == {"score": 5, "text": "Paid on time"}
    seen = await _ok(await client.get(url, headers=d.influencer.headers))
    assert seen["theirs"]["scores"]["quality"]["score"] == 5


async def test_the_timeline_shows_the_money_moved_through_stripe(
    stripe_app, stripe_api, stripe_sandbox, forwarder, clock
):
    """Funding and a release through the Stripe sandbox (real SDK, HTTP, signed webhooks): the
    brand's payment into escrow and the transfer to the creator are in the timeline."""
    worker = money_worker(stripe_app, clock)
    funded = await funded_contract(stripe_api, stripe_sandbox, worker, forwarder)
    first = funded.milestone_ids[0]
    await make_releasable(stripe_app, clock, first)
    await settle(worker, forwarder)
    deal = funded.deal
    path = f"/v1/brands/{deal.brand['id']}/relationships/{deal.listing['id']}/timeline"
    timeline = await _ok(await stripe_api.get(path, headers=deal.brand_owner.headers))
    entries = {(e["kind"], e["event"]): e for e in timeline["entries"]}
    assert entries[("relationship", "first_contact")]["summary"] == "first contact: bid"
    payment = entries[("payment", "succeeded")]
    assert payment["contract_id"] == funded.contract_id
    assert "120000 EUR" in payment["summary"]
    assert entries[("transfer", "created")]["contract_id"] == funded.contract_id
    assert {("milestone", "release"), ("milestone", "mark_released")} <= entries.keys()
