"""Invitations, bids (their transition table, deadlines, tenancy) and the bid's message thread."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from app.errors import InvalidTransition
from app.models import BidState
from app.services.negotiation.bids import BIDS
from app.services.workflow.jobs import JobHandlers
from app.services.workflow.state_machine import ACTOR_KINDS, Actor, ActorNotAllowed
from app.worker.runner import Worker
from tests.factories import (
    add_member,
    assert_problem,
    bid_body,
    create_bid,
    create_brand,
    create_brief,
    create_listing,
    make_offer,
    open_deal,
    register,
    relogin,
)

# The bid's transition table as the product describes it: (from, action) → (to, who).
NEGOTIABLE = ("submitted", "shortlisted", "in_negotiation")
BID_TABLE: dict[tuple[str, str], tuple[str, set[str]]] = {
    ("submitted", "shortlist"): ("shortlisted", {"brand"}),
    **{(s, "negotiate"): ("in_negotiation", {"brand", "influencer"}) for s in NEGOTIABLE[:2]},
    ("in_negotiation", "accept"): ("accepted", {"brand", "influencer"}),
    **{(s, "decline"): ("declined", {"brand"}) for s in NEGOTIABLE},
    **{(s, "withdraw"): ("withdrawn", {"influencer"}) for s in NEGOTIABLE},
    **{(s, "expire"): ("expired", {"system"}) for s in NEGOTIABLE},
}


def worker(app) -> Worker:
    return Worker(
        app.state.resources.database,
        app.state.resources.clock,
        handlers=JobHandlers(),
        rng=random.Random(3),
    )


# --- the table ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [s.value for s in BidState])
def test_every_state_action_and_actor_of_the_bid_table(state):
    for action in sorted(BIDS.actions):
        for kind in sorted(ACTOR_KINDS):
            expected = BID_TABLE.get((state, action))
            if expected is None:
                with pytest.raises(InvalidTransition):
                    BIDS.check(state, action, Actor(kind))
            elif kind not in expected[1]:
                with pytest.raises(ActorNotAllowed):
                    BIDS.check(state, action, Actor(kind))
            else:
                assert BIDS.check(state, action, Actor(kind)).to_state == expected[0]
    declared = {(s, t.action) for t in BIDS.transitions for s in t.from_states}
    assert declared == set(BID_TABLE)


async def test_bid_moves_over_http_legal_illegal_and_wrong_actor(client):
    deal = await open_deal(client)
    brand, influencer, bid_id = deal.brand_owner, deal.influencer, deal.bid["id"]
    assert deal.bid["state"] == "submitted" and deal.bid["side"] == "influencer"
    assert deal.bid["allowed_actions"] == ["offer", "withdraw"]

    # The influencer may not shortlist; the brand may not withdraw (403: they see the bid).
    body = assert_problem(
        await client.post(f"/v1/bids/{bid_id}/shortlist", headers=influencer.headers),
        403,
        "actor-not-allowed",
    )
    assert body["allowed_actors"] == ["brand"]
    assert_problem(
        await client.post(f"/v1/bids/{bid_id}/withdraw", headers=brand.headers),
        403,
        "actor-not-allowed",
    )
    r = await client.post(
        f"/v1/bids/{bid_id}/shortlist", json={"reason": "great fit"}, headers=brand.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "shortlisted" and r.headers["etag"] == '"2"'
    assert r.json()["allowed_actions"] == ["decline", "offer"]
    # shortlisted → shortlist is not in the table
    body = assert_problem(
        await client.post(f"/v1/bids/{bid_id}/shortlist", headers=brand.headers),
        409,
        "invalid-transition",
    )
    assert body["current_state"] == "shortlisted"
    assert body["allowed_actions"] == ["decline", "negotiate"]
    r = await client.post(f"/v1/bids/{bid_id}/decline", headers=brand.headers)
    assert r.status_code == 200 and r.json()["state"] == "declined"
    for action, who in (("withdraw", influencer), ("decline", brand), ("shortlist", brand)):
        assert_problem(
            await client.post(f"/v1/bids/{bid_id}/{action}", headers=who.headers),
            409,
            "invalid-transition",
        )

    trail = (await client.get(f"/v1/bids/{bid_id}/transitions", headers=influencer.headers)).json()
    assert [(t["action"], t["actor_kind"], t["reason"]) for t in trail["data"]] == [
        ("shortlist", "brand", "great fit"),
        ("decline", "brand", None),
    ]

    # The influencer withdraws a second bid (on another brief); in negotiation it may too.
    second = await open_deal(
        client, brand_owner=brand, brand=deal.brand, influencer=influencer, listing=deal.listing
    )
    await make_offer(client, brand, second.bid["id"])
    r = await client.post(f"/v1/bids/{second.bid['id']}/withdraw", headers=influencer.headers)
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    offers = (await client.get(f"/v1/bids/{second.bid['id']}/offers", headers=brand.headers)).json()
    assert [o["state"] for o in offers["data"]] == ["cancelled"]


async def test_if_match_on_bid_moves(client):
    deal = await open_deal(client)
    r = await client.post(
        f"/v1/bids/{deal.bid['id']}/shortlist",
        headers=deal.brand_owner.headers | {"If-Match": '"7"'},
    )
    assert assert_problem(r, 412, "precondition-failed")["current_version"] == 1
    r = await client.post(
        f"/v1/bids/{deal.bid['id']}/shortlist",
        headers=deal.brand_owner.headers | {"If-Match": '"1"'},
    )
    assert r.status_code == 200 and r.headers["etag"] == '"2"'


# --- submitting ---------------------------------------------------------------------------------


async def test_one_active_bid_per_influencer_and_brief(client):
    deal = await open_deal(client)
    r = await client.post(
        f"/v1/briefs/{deal.brief['id']}/bids", json=bid_body(), headers=deal.influencer.headers
    )
    assert assert_problem(r, 409, "bid-exists")["bid_id"] == deal.bid["id"]
    await client.post(f"/v1/bids/{deal.bid['id']}/withdraw", headers=deal.influencer.headers)
    again = await create_bid(client, deal.influencer, deal.brief["id"])
    assert again["id"] != deal.bid["id"] and again["state"] == "submitted"


async def test_bids_only_on_open_briefs_before_the_deadline(client, clock):
    owner = await register(client)
    brand = await create_brand(client, owner)
    influencer = await register(client)
    await create_listing(client, influencer)
    draft = await create_brief(client, owner, brand["id"])
    closed = await create_brief(client, owner, brand["id"], state="closed")
    opened = await create_brief(client, owner, brand["id"], state="open")
    h = influencer.headers
    # A draft is invisible to outsiders; a closed brief is visible but takes no bids.
    assert_problem(
        await client.post(f"/v1/briefs/{draft['id']}/bids", json=bid_body(), headers=h),
        404,
        "brief-not-found",
    )
    body = assert_problem(
        await client.post(f"/v1/briefs/{closed['id']}/bids", json=bid_body(), headers=h),
        409,
        "brief-not-open",
    )
    assert body["current_state"] == "closed"
    clock.advance(timedelta(days=17))  # 2026-12-11: the 2026-12-10 deadline has passed
    influencer = await relogin(client, influencer)
    body = assert_problem(
        await client.post(
            f"/v1/briefs/{opened['id']}/bids",
            json=bid_body(timeline={"start_date": "2026-12-12", "end_date": "2027-01-05"}),
            headers=influencer.headers,
        ),
        409,
        "brief-not-open",
    )
    assert "deadline" in body["detail"]


async def test_who_may_bid(client):
    owner = await register(client)
    brand = await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"], state="open")
    no_profile = await register(client)
    assert_problem(
        await client.post(
            f"/v1/briefs/{brief['id']}/bids", json=bid_body(), headers=no_profile.headers
        ),
        403,
        "influencer-profile-required",
    )
    await create_listing(client, owner)  # the brand's own owner has a listing too
    assert_problem(
        await client.post(f"/v1/briefs/{brief['id']}/bids", json=bid_body(), headers=owner.headers),
        403,
        "own-brief",
    )


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"currency": "USD"}, "currency", "currency_mismatch"),
        (
            {"deliverables": [{"type": "instagram_reel", "count": 1, "due_date": "2027-02-01"}]},
            "deliverables.0.due_date",
            "outside_brief_window",
        ),
        (
            {"deliverables": [{"type": "instagram_reel", "count": 1, "due_date": "2026-11-01"}]},
            "deliverables.0.due_date",
            "in_past",
        ),
        (
            {"deliverables": [{"type": "billboard", "count": 1, "due_date": "2026-12-28"}]},
            "deliverables.0.type",
            "enum",
        ),
        (
            {"deliverables": [{"type": "tiktok_video", "count": 1, "due_date": "2026-12-28"}]},
            "deliverables.0.type",
            "platform_not_in_brief",
        ),
        (
            {"timeline": {"start_date": "2026-12-01", "end_date": "2027-03-01"}},
            "timeline.end_date",
            "outside_brief_window",
        ),
        ({"price": 0}, "price", "greater_than_equal"),
        ({"price": 100.5}, "price", "int_type"),
    ],
)
async def test_bad_bids_name_the_field(client, fields, field, rule):
    owner = await register(client)
    brand = await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"], state="open")
    influencer = await register(client)
    await create_listing(client, influencer)
    r = await client.post(
        f"/v1/briefs/{brief['id']}/bids", json=bid_body(**fields), headers=influencer.headers
    )
    body = assert_problem(r, 422, "validation-error")
    assert any(e["field"] == field and e["rule"] == rule for e in body["errors"]), body


# --- invitations --------------------------------------------------------------------------------


async def test_invite_only_briefs_are_seen_and_bid_on_by_invitees_only(client):
    owner = await register(client)
    brand = await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"], state="open", visibility="invite_only")
    invitee, outsider = await register(client), await register(client)
    invitee_listing = await create_listing(client, invitee)
    await create_listing(client, outsider)

    for who in (invitee, outsider):
        assert_problem(await client.get(f"/v1/briefs/{brief['id']}", headers=who.headers), 404)
    r = await client.post(
        f"/v1/briefs/{brief['id']}/invitations",
        json={"influencer_ids": [invitee_listing["id"]]},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    (invitation,) = r.json()
    assert invitation["influencer_id"] == invitee_listing["id"]
    # Inviting again changes nothing.
    r = await client.post(
        f"/v1/briefs/{brief['id']}/invitations",
        json={"influencer_ids": [invitee_listing["id"]]},
        headers=owner.headers,
    )
    assert r.status_code == 201 and [i["id"] for i in r.json()] == [invitation["id"]]
    listed = (
        await client.get(f"/v1/briefs/{brief['id']}/invitations", headers=owner.headers)
    ).json()
    assert [i["id"] for i in listed["data"]] == [invitation["id"]]

    assert (
        await client.get(f"/v1/briefs/{brief['id']}", headers=invitee.headers)
    ).status_code == 200
    catalogue = (await client.get("/v1/briefs", headers=invitee.headers)).json()
    assert brief["id"] in [b["id"] for b in catalogue["data"]]
    assert_problem(await client.get(f"/v1/briefs/{brief['id']}", headers=outsider.headers), 404)
    assert_problem(
        await client.post(
            f"/v1/briefs/{brief['id']}/bids", json=bid_body(), headers=outsider.headers
        ),
        404,
        "brief-not-found",
    )
    bid = await create_bid(client, invitee, brief["id"])
    assert bid["state"] == "submitted"


async def test_invitation_rules(client):
    owner = await register(client)
    brand = await create_brand(client, owner)
    brief = await create_brief(client, owner, brand["id"])
    influencer, stranger = await register(client), await register(client)
    listing = await create_listing(client, influencer)
    url = f"/v1/briefs/{brief['id']}/invitations"
    body = assert_problem(
        await client.post(
            url,
            json={"influencer_ids": [listing["id"], "inf_00000000000000000000000000"]},
            headers=owner.headers,
        ),
        422,
    )
    assert [e["field"] for e in body["errors"]] == ["influencer_ids.1"]
    assert_problem(
        await client.post(url, json={"influencer_ids": [listing["id"]]}, headers=stranger.headers),
        404,
        "brief-not-found",
    )
    assert_problem(await client.get(url, headers=influencer.headers), 404, "brief-not-found")
    cancelled = await create_brief(client, owner, brand["id"], state="cancelled")
    assert_problem(
        await client.post(
            f"/v1/briefs/{cancelled['id']}/invitations",
            json={"influencer_ids": [listing["id"]]},
            headers=owner.headers,
        ),
        409,
        "brief-not-open",
    )


# --- reading and tenancy ------------------------------------------------------------------------


async def test_bids_are_seen_by_their_two_parties_only(client):
    deal = await open_deal(client)
    colleague = await register(client)
    await add_member(client, deal.brand["id"], deal.brand_owner, colleague)
    stranger = await register(client)
    other_brand_owner = await register(client)
    await create_brand(client, other_brand_owner, "Other")
    bid_id = deal.bid["id"]

    for who, side in (
        (deal.brand_owner, "brand"),
        (colleague, "brand"),
        (deal.influencer, "influencer"),
    ):
        r = await client.get(f"/v1/bids/{bid_id}", headers=who.headers)
        assert r.status_code == 200 and r.json()["side"] == side
        assert r.headers["etag"] == '"1"'
    for who in (stranger, other_brand_owner):
        for url in (
            f"/v1/bids/{bid_id}",
            f"/v1/bids/{bid_id}/transitions",
            f"/v1/bids/{bid_id}/messages",
            f"/v1/bids/{bid_id}/offers",
        ):
            assert_problem(await client.get(url, headers=who.headers), 404)
        for action in ("withdraw", "shortlist", "decline"):
            assert_problem(
                await client.post(f"/v1/bids/{bid_id}/{action}", headers=who.headers),
                404,
                "bid-not-found",
            )
        assert (await client.get("/v1/bids", headers=who.headers)).json()["data"] == []
    # The brief's bids: its brand only.
    received = (
        await client.get(f"/v1/briefs/{deal.brief['id']}/bids", headers=colleague.headers)
    ).json()
    assert [b["id"] for b in received["data"]] == [bid_id]
    assert_problem(
        await client.get(f"/v1/briefs/{deal.brief['id']}/bids", headers=deal.influencer.headers),
        404,
    )

    # `GET /v1/bids`: both sides, with the side filter.
    own = await open_deal(
        client, influencer=deal.brand_owner, listing=await create_listing(client, deal.brand_owner)
    )
    mine = (await client.get("/v1/bids", headers=deal.brand_owner.headers)).json()
    assert [b["id"] for b in mine["data"]] == [own.bid["id"], bid_id]  # newest first
    as_brand = (
        await client.get("/v1/bids", params={"side": "brand"}, headers=deal.brand_owner.headers)
    ).json()
    assert [b["id"] for b in as_brand["data"]] == [bid_id]
    as_influencer = (
        await client.get(
            "/v1/bids", params={"side": "influencer"}, headers=deal.brand_owner.headers
        )
    ).json()
    assert [b["id"] for b in as_influencer["data"]] == [own.bid["id"]]
    by_state = (
        await client.get("/v1/bids", params={"state": "declined"}, headers=deal.brand_owner.headers)
    ).json()
    assert by_state["data"] == []


# --- time -------------------------------------------------------------------------------------


async def test_a_bid_expires_when_the_application_deadline_passes(client, app, clock):
    deal = await open_deal(client)
    clock.advance(timedelta(days=16, hours=11, minutes=59))  # 2026-12-10 23:59
    assert (await worker(app).run_once()).timers.fired == 0
    clock.advance(timedelta(minutes=1))  # 2026-12-11 00:00 UTC
    report = await worker(app).run_once()
    assert report.timers.fired == 1
    influencer = await relogin(client, deal.influencer)
    bid = (await client.get(f"/v1/bids/{deal.bid['id']}", headers=influencer.headers)).json()
    assert bid["state"] == "expired" and bid["allowed_actions"] == []
    trail = (
        await client.get(f"/v1/bids/{deal.bid['id']}/transitions", headers=influencer.headers)
    ).json()["data"]
    assert [(t["action"], t["actor_kind"]) for t in trail] == [("expire", "system")]


async def test_extending_the_deadline_moves_the_bid_timers(client, app, clock):
    deal = await open_deal(client)
    timeline = deal.brief["timeline"] | {"application_deadline": "2026-12-15"}
    r = await client.patch(
        f"/v1/briefs/{deal.brief['id']}",
        json={"timeline": timeline},
        headers=deal.brand_owner.headers,
    )
    assert r.status_code == 200, r.text
    clock.advance(timedelta(days=17))  # 2026-12-11: the old deadline has passed
    assert (await worker(app).run_once()).timers.fired == 0
    clock.advance(timedelta(days=5))  # 2026-12-16
    assert (await worker(app).run_once()).timers.fired == 1
    influencer = await relogin(client, deal.influencer)
    r = await client.get(f"/v1/bids/{deal.bid['id']}", headers=influencer.headers)
    assert r.json()["state"] == "expired"


async def test_closing_the_brief_expires_waiting_bids_and_cancelling_it_every_open_one(client):
    deal = await open_deal(client)
    owner = deal.brand_owner
    negotiating = await open_deal(client, brand_owner=owner, brand=deal.brand)
    second_brief_bid = await create_bid(client, deal.influencer, negotiating.brief["id"])
    offer = await make_offer(client, owner, negotiating.bid["id"])

    r = await client.post(f"/v1/briefs/{negotiating.brief['id']}/close", headers=owner.headers)
    assert r.status_code == 200
    # Closing: waiting bids expire at once, negotiations carry on.
    states = {
        b["id"]: b["state"]
        for b in (
            await client.get(f"/v1/briefs/{negotiating.brief['id']}/bids", headers=owner.headers)
        ).json()["data"]
    }
    assert states == {negotiating.bid["id"]: "in_negotiation", second_brief_bid["id"]: "expired"}
    # Cancelling: the negotiation ends too, and its open offer is cancelled.
    await client.post(f"/v1/briefs/{negotiating.brief['id']}/cancel", headers=owner.headers)
    r = await client.get(f"/v1/bids/{negotiating.bid['id']}", headers=owner.headers)
    assert r.json()["state"] == "expired"
    r = await client.get(f"/v1/offers/{offer['id']}", headers=owner.headers)
    assert r.json()["state"] == "cancelled"
    # The first brief's bid is untouched.
    r = await client.get(f"/v1/bids/{deal.bid['id']}", headers=owner.headers)
    assert r.json()["state"] == "submitted"


# --- messages -----------------------------------------------------------------------------------


async def test_messages_and_read_markers(client):
    deal = await open_deal(client)
    brand, influencer, bid_id = deal.brand_owner, deal.influencer, deal.bid["id"]
    url = f"/v1/bids/{bid_id}/messages"
    sent = []
    for who, text in ((influencer, "Hi!"), (influencer, "Any questions?"), (brand, "Love it")):
        r = await client.post(
            url,
            json={"text": text, "attachments": [{"url": "https://example.com/deck.pdf"}]},
            headers=who.headers,
        )
        assert r.status_code == 201, r.text
        sent.append(r.json())
    assert [(m["seq"], m["author"]) for m in sent] == [
        (1, "influencer"),
        (2, "influencer"),
        (3, "brand"),
    ]
    thread = (await client.get(url, headers=brand.headers)).json()
    assert [m["text"] for m in thread["data"]] == ["Hi!", "Any questions?", "Love it"]
    assert thread["data"][0]["attachments"] == [
        {"url": "https://example.com/deck.pdf", "title": None}
    ]

    async def unread(who) -> int:
        return (await client.get(f"/v1/bids/{bid_id}", headers=who.headers)).json()["unread_count"]

    assert (await unread(brand), await unread(influencer)) == (2, 1)
    r = await client.post(f"{url}/read", json={"up_to": sent[0]["id"]}, headers=brand.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "bid_id": bid_id,
        "side": "brand",
        "read_up_to": sent[0]["id"],
        "read_seq": 1,
        "unread_count": 1,
    }
    r = await client.post(f"{url}/read", json={"up_to": sent[2]["id"]}, headers=brand.headers)
    assert r.json()["unread_count"] == 0 and r.json()["read_seq"] == 3
    # Markers never go back.
    r = await client.post(f"{url}/read", json={"up_to": sent[0]["id"]}, headers=brand.headers)
    assert r.json()["read_seq"] == 3
    assert (await unread(brand), await unread(influencer)) == (0, 1)
    listed = (await client.get("/v1/bids", headers=influencer.headers)).json()["data"]
    assert listed[0]["unread_count"] == 1 and listed[0]["message_count"] == 3
    assert_problem(
        await client.post(f"{url}/read", json={"up_to": "msg_nope"}, headers=brand.headers), 422
    )

    # Validation: http(s) links only, at most 10; text at most 5,000 characters, not blank.
    for body, field in (
        ({"text": "x", "attachments": [{"url": "javascript:alert(1)"}]}, "attachments.0.url"),
        ({"text": "x", "attachments": [{"url": "ftp://example.com/a"}]}, "attachments.0.url"),
        (
            {"text": "x", "attachments": [{"url": f"https://e.com/{i}"} for i in range(11)]},
            "attachments",
        ),
        ({"text": "x" * 5001}, "text"),
        ({"text": "   "}, "text"),
    ):
        problem = assert_problem(await client.post(url, json=body, headers=brand.headers), 422)
        assert problem["errors"][0]["field"] == field, problem
    r = await client.post(url, json={"text": "y" * 5000}, headers=brand.headers)
    assert r.status_code == 201

    # Outsiders: 404; a withdrawn bid's thread is closed.
    stranger = await register(client)
    assert_problem(await client.post(url, json={"text": "hi"}, headers=stranger.headers), 404)
    assert_problem(
        await client.post(f"{url}/read", json={"up_to": sent[0]["id"]}, headers=stranger.headers),
        404,
    )
    await client.post(f"/v1/bids/{bid_id}/withdraw", headers=influencer.headers)
    assert_problem(
        await client.post(url, json={"text": "wait"}, headers=brand.headers), 409, "thread-closed"
    )
    # Messages carry the app clock's time.
    assert sent[0]["created_at"] == "2026-11-24T12:00:00Z"
