"""Offers: the transition table, turns, terms validation and defaults, expiry through the
worker, the diff, ETag/If-Match, tenancy."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from app.errors import InvalidTransition
from app.models import OfferState
from app.services.negotiation.offers import OFFERS
from app.services.workflow.jobs import JobHandlers
from app.services.workflow.state_machine import ACTOR_KINDS, Actor, ActorNotAllowed
from app.worker.runner import Worker
from tests.factories import (
    assert_problem,
    make_offer,
    offer_body,
    open_deal,
    register,
    relogin,
)

PARTIES = {"brand", "influencer"}
OFFER_TABLE: dict[tuple[str, str], tuple[str, set[str]]] = {
    ("draft", "send"): ("open", PARTIES),
    ("open", "counter"): ("countered", PARTIES),
    ("open", "accept"): ("accepted", PARTIES),
    ("open", "reject"): ("rejected", PARTIES),
    ("open", "expire"): ("expired", {"system"}),
    ("draft", "cancel"): ("cancelled", PARTIES | {"system"}),
    ("open", "cancel"): ("cancelled", PARTIES | {"system"}),
}


def worker(app) -> Worker:
    return Worker(
        app.state.resources.database,
        app.state.resources.clock,
        handlers=JobHandlers(),
        rng=random.Random(5),
    )


@pytest.mark.parametrize("state", [s.value for s in OfferState])
def test_every_state_action_and_actor_of_the_offer_table(state):
    for action in sorted(OFFERS.actions):
        for kind in sorted(ACTOR_KINDS):
            expected = OFFER_TABLE.get((state, action))
            if expected is None:
                with pytest.raises(InvalidTransition):
                    OFFERS.check(state, action, Actor(kind))
            elif kind not in expected[1]:
                with pytest.raises(ActorNotAllowed):
                    OFFERS.check(state, action, Actor(kind))
            else:
                assert OFFERS.check(state, action, Actor(kind)).to_state == expected[0]
    declared = {(s, t.action) for t in OFFERS.transitions for s in t.from_states}
    assert declared == set(OFFER_TABLE)


async def test_turns_counter_accept_and_reject(client):
    deal = await open_deal(client)
    brand, influencer, bid_id = deal.brand_owner, deal.influencer, deal.bid["id"]

    v1 = await make_offer(client, brand, bid_id)
    assert (v1["version"], v1["author"], v1["state"], v1["latest"]) == (1, "brand", "open", True)
    bid = (await client.get(f"/v1/bids/{bid_id}", headers=brand.headers)).json()
    assert bid["state"] == "in_negotiation" and bid["latest_offer_id"] == v1["id"]
    assert bid["allowed_actions"] == ["decline"]  # the brand waits for an answer
    # The brand cannot counter its own open offer, nor accept or reject it.
    body = assert_problem(
        await client.post(f"/v1/bids/{bid_id}/offers", json=offer_body(), headers=brand.headers),
        409,
        "not-your-turn",
    )
    assert "only the influencer" in body["detail"]
    for action in ("accept", "reject"):
        assert_problem(
            await client.post(f"/v1/offers/{v1['id']}/{action}", headers=brand.headers),
            409,
            "not-your-turn",
        )

    # The influencer counters: v1 is countered, v2 is open.
    v2 = await make_offer(client, influencer, bid_id, price=130_000, payment_schedule=None)
    assert (v2["version"], v2["author"]) == (2, "influencer")
    v1_now = (await client.get(f"/v1/offers/{v1['id']}", headers=influencer.headers)).json()
    assert (v1_now["state"], v1_now["latest"], v1_now["responded_at"]) == (
        "countered",
        False,
        "2026-11-24T12:00:00Z",
    )
    # Only the latest offer can be answered.
    body = assert_problem(
        await client.post(f"/v1/offers/{v1['id']}/accept", headers=influencer.headers),
        409,
        "offer-not-latest",
    )
    assert body["latest_offer_id"] == v2["id"] and body["latest_version"] == 2
    assert_problem(
        await client.post(f"/v1/offers/{v1['id']}/reject", headers=brand.headers),
        409,
        "offer-not-latest",
    )
    # The brand rejects v2; then either side may make the next offer.
    r = await client.post(
        f"/v1/offers/{v2['id']}/reject", json={"reason": "too high"}, headers=brand.headers
    )
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    assert_problem(
        await client.post(f"/v1/offers/{v2['id']}/accept", headers=brand.headers),
        409,
        "invalid-transition",
    )
    v3 = await make_offer(client, brand, bid_id, price=125_000, payment_schedule=None)
    r = await client.post(f"/v1/offers/{v3['id']}/accept", headers=influencer.headers)
    assert r.status_code == 200, r.text
    accepted = r.json()
    assert accepted["state"] == "accepted" and accepted["contract_id"].startswith("ctr_")
    bid = (await client.get(f"/v1/bids/{bid_id}", headers=influencer.headers)).json()
    assert bid["state"] == "accepted" and bid["contract_id"] == accepted["contract_id"]
    assert_problem(
        await client.post(f"/v1/bids/{bid_id}/offers", json=offer_body(), headers=brand.headers),
        409,
        "bid-not-negotiable",
    )
    offers = (await client.get(f"/v1/bids/{bid_id}/offers", headers=brand.headers)).json()["data"]
    assert [(o["version"], o["state"]) for o in offers] == [
        (1, "countered"),
        (2, "rejected"),
        (3, "accepted"),
    ]
    trail = (await client.get(f"/v1/bids/{bid_id}/transitions", headers=brand.headers)).json()
    assert [t["action"] for t in trail["data"]] == ["negotiate", "accept"]


async def test_the_influencer_may_make_the_first_offer(client):
    deal = await open_deal(client)
    v1 = await make_offer(client, deal.influencer, deal.bid["id"])
    assert v1["author"] == "influencer"
    r = await client.post(f"/v1/offers/{v1['id']}/accept", headers=deal.brand_owner.headers)
    assert r.status_code == 200 and r.json()["contract_id"]


async def test_omitted_terms_take_the_briefs_defaults(client):
    deal = await open_deal(client)
    offer = await make_offer(
        client,
        deal.brand_owner,
        deal.bid["id"],
        deliverables=[{"type": "instagram_reel", "count": 2, "due_date": "2026-12-28"}],
        payment_schedule=None,
    )
    assert offer["terms"] == {
        "price": 120_000,
        "currency": "EUR",
        "deliverables": [
            {"key": "d1", "type": "instagram_reel", "count": 2, "due_date": "2026-12-28"}
        ],
        "approval_policy": "first",
        "revision_cap": 2,
        "review_window_hours": 72,
        "verification_window_hours": 72,
        "funding_window_hours": 168,
        "usage_rights": {"channels": ["organic"], "days": 30},
        "exclusivity": {"category": "food", "days": 0},
        "payment_schedule": [
            {"name": None, "amount": 120_000, "deliverables": [], "on_completion": True}
        ],
        "kpis": [{"metric": "impressions", "target": 200000}],
        "disclosure_required": True,
        "recurrence": None,  # a one-off contract (ambassador programmes: test_programmes.py)
    }
    assert offer["expires_at"] == "2026-11-27T12:00:00Z"  # 72 hours


BAD_TERMS = [
    (
        {"deliverables": [{"type": "instagram_reel", "count": 1, "due_date": "2026-11-20"}]},
        "deliverables.0.due_date",
        "in_past",
    ),
    (
        {"deliverables": [{"type": "instagram_reel", "count": 1, "due_date": "2027-02-01"}]},
        "deliverables.0.due_date",
        "outside_brief_window",
    ),
    (
        {"deliverables": [{"type": "instagram_reel", "count": 1, "due_date": "2026-12-15"}]},
        "deliverables.0.due_date",
        "outside_brief_window",
    ),
    (
        {"payment_schedule": [{"amount": 60_000, "on_completion": True}]},
        "payment_schedule",
        "sum_mismatch",
    ),
    (
        {
            "payment_schedule": [
                {"amount": 60_000, "deliverables": ["reels"]},
                {"amount": 60_001, "on_completion": True},
            ]
        },
        "payment_schedule",
        "sum_mismatch",
    ),
    ({"currency": "USD"}, "currency", "currency_mismatch"),
    ({"currency": "XYZ"}, "currency", "unsupported_currency"),
    (
        {"deliverables": [{"type": "holo_post", "count": 1, "due_date": "2026-12-28"}]},
        "deliverables.0.type",
        "enum",
    ),
    ({"revision_cap": -1}, "revision_cap", "greater_than_equal"),
    (
        {"payment_schedule": [{"amount": 120_000, "deliverables": ["nope"]}]},
        "payment_schedule.0.deliverables.0",
        "unknown_deliverable",
    ),
    (
        {
            "payment_schedule": [
                {"amount": 120_000, "deliverables": ["reels"], "on_completion": True}
            ]
        },
        "payment_schedule.0",
        "milestone_trigger",
    ),
    ({"payment_schedule": [{"amount": 120_000}]}, "payment_schedule.0", "milestone_trigger"),
    ({"expires_at": "2026-11-24T11:00:00Z"}, "expires_at", "in_past"),
    ({"expires_at": "2027-01-24T11:00:00Z"}, "expires_at", "too_far"),
    ({"price": "120000"}, "price", "int_type"),
    ({"review_window_hours": 0}, "review_window_hours", "greater_than_equal"),
    ({"approval_policy": "sometimes"}, "approval_policy", "literal_error"),
]


async def test_bad_terms_are_422_naming_the_field(client):
    deal = await open_deal(client)
    url = f"/v1/bids/{deal.bid['id']}/offers"
    for fields, field, rule in BAD_TERMS:
        r = await client.post(url, json=offer_body(**fields), headers=deal.brand_owner.headers)
        body = assert_problem(r, 422, "validation-error")
        assert any(e["field"] == field and e["rule"] == rule for e in body["errors"]), (
            fields,
            body,
        )
    # Nothing was written: the bid is still waiting for its first offer.
    bid = (await client.get(f"/v1/bids/{deal.bid['id']}", headers=deal.influencer.headers)).json()
    assert (bid["state"], bid["version"], bid["latest_offer_id"]) == ("submitted", 1, None)


async def test_an_offer_expires_through_the_worker(client, app, clock):
    deal = await open_deal(client)
    offer = await make_offer(client, deal.brand_owner, deal.bid["id"])
    clock.advance(timedelta(hours=71, minutes=59))
    assert (await worker(app).run_once()).timers.fired == 0
    influencer = await relogin(client, deal.influencer)
    clock.advance(timedelta(minutes=1))
    # Past its expiry the offer cannot be accepted, even before the worker marked it.
    body = assert_problem(
        await client.post(f"/v1/offers/{offer['id']}/accept", headers=influencer.headers),
        409,
        "offer-expired",
    )
    assert body["expired_at"] == "2026-11-27T12:00:00Z" and "expired at" in body["detail"]
    assert (await worker(app).run_once()).timers.fired == 1
    r = await client.get(f"/v1/offers/{offer['id']}", headers=influencer.headers)
    assert r.json()["state"] == "expired"
    body = assert_problem(
        await client.post(f"/v1/offers/{offer['id']}/reject", headers=influencer.headers),
        409,
        "offer-expired",
    )
    # After an expiry either side may make the next offer — the brand included.
    brand = await relogin(client, deal.brand_owner)
    again = await make_offer(client, brand, deal.bid["id"])
    assert again["version"] == 2 and again["expires_at"] == "2026-11-30T12:00:00Z"


async def test_a_lapsed_offer_is_expired_by_the_next_offer(client, clock):
    deal = await open_deal(client)
    first = await make_offer(
        client, deal.brand_owner, deal.bid["id"], expires_at="2026-11-24T18:00:00Z"
    )
    clock.advance(timedelta(hours=7))
    brand = await relogin(client, deal.brand_owner)
    second = await make_offer(client, brand, deal.bid["id"])
    assert second["version"] == 2
    r = await client.get(f"/v1/offers/{first['id']}", headers=brand.headers)
    assert r.json()["state"] == "expired"


async def test_the_diff_lists_changed_terms(client):
    deal = await open_deal(client)
    v1 = await make_offer(client, deal.brand_owner, deal.bid["id"])
    v2 = await make_offer(
        client,
        deal.influencer,
        deal.bid["id"],
        price=140_000,
        revision_cap=1,
        deliverables=[
            {"key": "reels", "type": "instagram_reel", "count": 2, "due_date": "2026-12-30"},
            {"key": "story", "type": "instagram_story", "count": 1, "due_date": "2027-01-02"},
        ],
        payment_schedule=[
            {"name": "Reels live", "amount": 70_000, "deliverables": ["reels"]},
            {"name": "Wrap-up", "amount": 70_000, "on_completion": True},
        ],
    )
    r = await client.get(
        f"/v1/offers/{v2['id']}/diff",
        params={"against": v1["id"]},
        headers=deal.brand_owner.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["offer_id"], body["against"]) == (v2["id"], v1["id"])
    assert body["changes"] == [
        {"field": "price", "before": 120_000, "after": 140_000},
        {"field": "deliverables.0.due_date", "before": "2026-12-28", "after": "2026-12-30"},
        {"field": "revision_cap", "before": 2, "after": 1},
        {"field": "payment_schedule.0.amount", "before": 60_000, "after": 70_000},
        {"field": "payment_schedule.1.amount", "before": 60_000, "after": 70_000},
    ]
    same = (
        await client.get(
            f"/v1/offers/{v2['id']}/diff",
            params={"against": v2["id"]},
            headers=deal.influencer.headers,
        )
    ).json()
    assert same["changes"] == []
    # Another bid's offer, or one you cannot see: 422 on `against`; outsiders: 404.
    other = await open_deal(client, brand_owner=deal.brand_owner, brand=deal.brand)
    foreign = await make_offer(client, deal.brand_owner, other.bid["id"])
    body = assert_problem(
        await client.get(
            f"/v1/offers/{v2['id']}/diff",
            params={"against": foreign["id"]},
            headers=deal.brand_owner.headers,
        ),
        422,
    )
    assert body["errors"][0]["rule"] == "other_bid"
    body = assert_problem(
        await client.get(
            f"/v1/offers/{v2['id']}/diff",
            params={"against": foreign["id"]},
            headers=deal.influencer.headers,
        ),
        422,
    )
    assert body["errors"][0]["rule"] == "unknown_offer"
    stranger = await register(client)
    assert_problem(
        await client.get(
            f"/v1/offers/{v2['id']}/diff", params={"against": v1["id"]}, headers=stranger.headers
        ),
        404,
        "offer-not-found",
    )


async def test_etag_and_if_match(client):
    deal = await open_deal(client)
    brand, influencer, bid_id = deal.brand_owner, deal.influencer, deal.bid["id"]
    r = await client.get(f"/v1/bids/{bid_id}", headers=brand.headers)
    etag = r.headers["etag"]
    assert etag == '"1"' and r.json()["version"] == 1
    assert (await client.get(f"/v1/bids/{bid_id}/offers", headers=brand.headers)).headers[
        "etag"
    ] == etag

    r = await client.post(
        f"/v1/bids/{bid_id}/offers",
        json=offer_body(),
        headers=brand.headers | {"If-Match": '"0"'},
    )
    assert assert_problem(r, 412, "precondition-failed")["current_version"] == 1
    assert_problem(
        await client.post(
            f"/v1/bids/{bid_id}/offers",
            json=offer_body(),
            headers=brand.headers | {"If-Match": "not-an-etag"},
        ),
        412,
    )
    r = await client.post(
        f"/v1/bids/{bid_id}/offers", json=offer_body(), headers=brand.headers | {"If-Match": etag}
    )
    assert r.status_code == 201, r.text
    offer, new_etag = r.json(), r.headers["etag"]
    assert new_etag != etag
    r = await client.get(f"/v1/bids/{bid_id}/offers", headers=influencer.headers)
    assert r.headers["etag"] == new_etag
    assert (await client.get(f"/v1/bids/{bid_id}", headers=influencer.headers)).headers[
        "etag"
    ] == new_etag
    # A stale If-Match on accept/reject: 412, nothing changes.
    for action in ("accept", "reject"):
        assert_problem(
            await client.post(
                f"/v1/offers/{offer['id']}/{action}",
                headers=influencer.headers | {"If-Match": etag},
            ),
            412,
            "precondition-failed",
        )
    # Messages do not move the negotiation's version.
    await client.post(f"/v1/bids/{bid_id}/messages", json={"text": "hm"}, headers=brand.headers)
    r = await client.post(
        f"/v1/offers/{offer['id']}/accept",
        headers=influencer.headers | {"If-Match": f"W/{new_etag}"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] != new_etag
    # `*` matches any version.
    other = await open_deal(client, brand_owner=brand, brand=deal.brand)
    r = await client.post(
        f"/v1/bids/{other.bid['id']}/offers",
        json=offer_body(),
        headers=brand.headers | {"If-Match": "*"},
    )
    assert r.status_code == 201


async def test_offers_are_seen_and_answered_by_the_parties_only(client):
    deal = await open_deal(client)
    offer = await make_offer(client, deal.brand_owner, deal.bid["id"])
    stranger = await register(client)
    other_brand_owner = await register(client)
    other = await open_deal(client, brand_owner=other_brand_owner)
    for who in (stranger, other_brand_owner, other.influencer):
        assert_problem(
            await client.get(f"/v1/offers/{offer['id']}", headers=who.headers),
            404,
            "offer-not-found",
        )
        for action in ("accept", "reject"):
            assert_problem(
                await client.post(f"/v1/offers/{offer['id']}/{action}", headers=who.headers),
                404,
                "offer-not-found",
            )
        assert_problem(
            await client.post(
                f"/v1/bids/{deal.bid['id']}/offers", json=offer_body(), headers=who.headers
            ),
            404,
            "bid-not-found",
        )
    assert (await client.get(f"/v1/offers/{offer['id']}", headers=deal.influencer.headers)).json()[
        "id"
    ] == offer["id"]


async def test_declining_the_bid_cancels_its_open_offer(client):
    deal = await open_deal(client)
    offer = await make_offer(client, deal.influencer, deal.bid["id"])
    r = await client.post(f"/v1/bids/{deal.bid['id']}/decline", headers=deal.brand_owner.headers)
    assert r.status_code == 200
    r = await client.get(f"/v1/offers/{offer['id']}", headers=deal.influencer.headers)
    assert r.json()["state"] == "cancelled"
    assert_problem(
        await client.post(f"/v1/offers/{offer['id']}/accept", headers=deal.brand_owner.headers),
        409,
        "invalid-transition",
    )
    assert_problem(
        await client.post(
            f"/v1/bids/{deal.bid['id']}/offers", json=offer_body(), headers=deal.influencer.headers
        ),
        409,
        "bid-not-negotiable",
    )
