"""Contracts: what acceptance creates, the transition table, the funding window through the
worker, cancellation, tenancy, and exclusivity conflicts."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from app.errors import InvalidTransition
from app.models import ContractState
from app.services.delivery.contracts import CONTRACT_TRANSITIONS, CONTRACTS
from app.services.workflow.state_machine import ACTOR_KINDS, Actor, ActorNotAllowed
from app.worker.relay import JobHandlers
from app.worker.runner import Worker
from tests.factories import (
    add_member,
    assert_problem,
    create_brand,
    create_contract,
    make_offer,
    offer_body,
    open_deal,
    register,
    relogin,
)

CONTRACT_TABLE: dict[tuple[str, str], tuple[str, set[str]]] = {
    ("awaiting_funding", "fund"): ("active", {"system"}),
    ("awaiting_funding", "expire"): ("expired", {"system"}),
    ("awaiting_funding", "cancel"): ("cancelled", {"brand", "influencer"}),
    # delivery
    ("active", "cancel"): ("cancelled", {"brand", "influencer"}),
    ("active", "deliver"): ("delivered", {"system"}),
    ("active", "end_unfulfilled"): ("cancelled", {"system"}),
    ("delivered", "complete"): ("completed", {"system"}),
    ("active", "dispute"): ("disputed", {"brand", "influencer"}),
    ("delivered", "dispute"): ("disputed", {"brand", "influencer"}),
    ("disputed", "resume"): ("active", {"brand", "influencer"}),
    ("disputed", "resolve"): ("resolved", {"operator"}),
    # payments (fired by app/services/money/stripe_disputes.py)
    **{(s, "chargeback"): ("disputed", {"system"}) for s in ("active", "delivered", "completed")},
    # Stripe closed the chargeback for the platform (app/services/money/stripe_disputes.py).
    ("disputed", "chargeback_won"): ("active", {"system"}),
}
EXCLUSIVE_FOOD = {"exclusivity": {"category": "food", "days": 30}}


def worker(app) -> Worker:
    return Worker(
        app.state.resources.database,
        app.state.resources.clock,
        handlers=JobHandlers(),
        rng=random.Random(9),
    )


async def fire(app, contract_id: str, action: str, actor: Actor):
    async with app.state.resources.database.sessionmaker() as session, session.begin():
        contract = await CONTRACTS.load(session, contract_id)
        await CONTRACTS.fire(session, contract, action, actor, app.state.resources.clock.now())
        return contract.state


@pytest.mark.parametrize("state", [s.value for s in ContractState])
def test_every_state_action_and_actor_of_the_contract_table(state):
    """The whole machine, declared in one table (services/delivery/contracts.py)."""
    for action in sorted(CONTRACTS.actions):
        for kind in sorted(ACTOR_KINDS):
            expected = CONTRACT_TABLE.get((state, action))
            if expected is None:
                with pytest.raises(InvalidTransition):
                    CONTRACTS.check(state, action, Actor(kind))
            elif kind not in expected[1]:
                with pytest.raises(ActorNotAllowed):
                    CONTRACTS.check(state, action, Actor(kind))
            else:
                assert CONTRACTS.check(state, action, Actor(kind)).to_state == expected[0]
    declared = {(s, t.action) for t in CONTRACTS.transitions for s in t.from_states}
    assert declared == set(CONTRACT_TABLE)
    assert CONTRACTS.transitions == tuple(CONTRACT_TRANSITIONS)


async def test_acceptance_creates_the_contract_with_deliverables_and_milestones(client):
    deal, contract = await create_contract(client, **EXCLUSIVE_FOOD)
    assert contract["state"] == "awaiting_funding"
    assert (contract["price"], contract["currency"]) == (120_000, "EUR")
    assert contract["bid_id"] == deal.bid["id"] and contract["brand_id"] == deal.brand["id"]
    assert contract["influencer_id"] == deal.listing["id"]
    assert contract["accepted_at"] == "2026-11-24T12:00:00Z"
    assert contract["funding_due_at"] == "2026-12-01T12:00:00Z"  # 7 days
    offer = (
        await client.get(f"/v1/offers/{contract['offer_id']}", headers=deal.influencer.headers)
    ).json()
    assert contract["terms"] == offer["terms"] and offer["contract_id"] == contract["id"]
    deliverables = contract["deliverables"]
    assert [(d["key"], d["unit"], d["type"], d["due_date"], d["state"]) for d in deliverables] == [
        ("reels", 1, "instagram_reel", "2026-12-28", "pending"),
        ("reels", 2, "instagram_reel", "2026-12-28", "pending"),
        ("story", 1, "instagram_story", "2027-01-02", "pending"),
    ]
    assert all(d["id"].startswith("dlv_") for d in deliverables)
    ids = [d["id"] for d in deliverables]
    milestones = contract["milestones"]
    assert [
        (
            m["name"],
            m["amount"],
            m["currency"],
            m["on_completion"],
            m["deliverable_ids"],
            m["state"],
        )
        for m in milestones
    ] == [
        ("Reels live", 60_000, "EUR", False, ids[:2], "pending"),
        ("Wrap-up", 60_000, "EUR", True, ids, "pending"),
    ]
    assert all(m["id"].startswith("mst_") for m in milestones)
    assert sum(m["amount"] for m in milestones) == contract["price"]
    # The exclusivity runs from acceptance until 30 days after the last due date.
    assert contract["exclusivity"] == {
        "category": "food",
        "starts_on": "2026-11-24",
        "until": "2027-02-01",
    }
    assert contract["side"] == "brand" and contract["allowed_actions"] == ["cancel"]


async def test_contracts_are_seen_by_their_parties_only(client):
    deal, contract = await create_contract(client)
    colleague = await register(client)
    await add_member(client, deal.brand["id"], deal.brand_owner, colleague)
    stranger = await register(client)
    other = await register(client)
    other_brand = await create_brand(client, other, "Other")
    url = f"/v1/contracts/{contract['id']}"
    for who, side in ((colleague, "brand"), (deal.influencer, "influencer")):
        r = await client.get(url, headers=who.headers)
        assert r.status_code == 200 and r.json()["side"] == side
    for who in (stranger, other):
        assert_problem(await client.get(url, headers=who.headers), 404, "contract-not-found")
        assert_problem(await client.get(f"{url}/transitions", headers=who.headers), 404)
        assert_problem(await client.post(f"{url}/cancel", headers=who.headers), 404)
        assert (await client.get("/v1/contracts", headers=who.headers)).json()["data"] == []

    # Lists: both sides, filtered by state, brand and side.
    for who in (deal.brand_owner, deal.influencer):
        listed = (await client.get("/v1/contracts", headers=who.headers)).json()["data"]
        assert [c["id"] for c in listed] == [contract["id"]]
    h = deal.brand_owner.headers
    for params, expected in (
        ({"state": "awaiting_funding"}, [contract["id"]]),
        ({"state": "active"}, []),
        ({"brand_id": deal.brand["id"]}, [contract["id"]]),
        ({"brand_id": other_brand["id"]}, []),
        ({"side": "brand"}, [contract["id"]]),
        ({"side": "influencer"}, []),
    ):
        listed = (await client.get("/v1/contracts", params=params, headers=h)).json()["data"]
        assert [c["id"] for c in listed] == expected, params


async def test_an_unfunded_contract_expires_when_the_funding_window_closes(client, app, clock):
    deal, contract = await create_contract(client)
    clock.advance(timedelta(days=6, hours=23, minutes=59))
    assert (await worker(app).run_once()).timers.fired == 0
    clock.advance(timedelta(minutes=1))
    report = await worker(app).run_once()
    assert report.timers.fired == 1
    brand = await relogin(client, deal.brand_owner)
    r = await client.get(f"/v1/contracts/{contract['id']}", headers=brand.headers)
    assert r.json()["state"] == "expired" and r.json()["ended_at"] == "2026-12-01T12:00:00Z"
    assert r.json()["allowed_actions"] == []
    trail = (
        await client.get(f"/v1/contracts/{contract['id']}/transitions", headers=brand.headers)
    ).json()["data"]
    assert [(t["action"], t["from_state"], t["to_state"], t["actor_kind"]) for t in trail] == [
        ("expire", "awaiting_funding", "expired", "system")
    ]
    assert_problem(
        await client.post(f"/v1/contracts/{contract['id']}/cancel", headers=brand.headers),
        409,
        "invalid-transition",
    )


async def test_funding_is_the_systems_move_and_stops_the_funding_timer(client, app, clock):
    _, contract = await create_contract(client)
    with pytest.raises(ActorNotAllowed):
        await fire(app, contract["id"], "fund", Actor("brand", contract["brand_id"]))
    with pytest.raises(ActorNotAllowed):
        await fire(app, contract["id"], "expire", Actor("influencer"))
    assert await fire(app, contract["id"], "fund", Actor("system", "evt_test")) == "active"
    with pytest.raises(InvalidTransition):
        await fire(app, contract["id"], "fund", Actor("system"))
    clock.advance(timedelta(days=8))
    report = await worker(app).run_once()
    assert report.timers.fired == 0 and report.timers.obsolete == 0  # the timer was cancelled


async def test_either_party_may_cancel_before_funding(client, app):
    deal, contract = await create_contract(client)
    r = await client.post(
        f"/v1/contracts/{contract['id']}/cancel",
        json={"reason": "budget cut"},
        headers=deal.influencer.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled"
    trail = (
        await client.get(
            f"/v1/contracts/{contract['id']}/transitions", headers=deal.brand_owner.headers
        )
    ).json()["data"]
    assert [(t["action"], t["actor_kind"], t["reason"]) for t in trail] == [
        ("cancel", "influencer", "budget cut")
    ]
    body = assert_problem(
        await client.post(
            f"/v1/contracts/{contract['id']}/cancel", headers=deal.brand_owner.headers
        ),
        409,
        "invalid-transition",
    )
    assert body["current_state"] == "cancelled"


async def test_exclusivity_conflicts_are_refused_when_offered_and_when_accepted(client):
    # Brand B starts negotiating with the influencer before brand A's exclusivity exists.
    a = await open_deal(client)
    b = await open_deal(client, influencer=a.influencer, listing=a.listing)
    b_offer = await make_offer(client, b.brand_owner, b.bid["id"])
    _, contract = await create_contract(client, a, **EXCLUSIVE_FOOD)

    # Another food deal with another brand: refused when offered …
    body = assert_problem(
        await client.post(
            f"/v1/bids/{b.bid['id']}/offers", json=offer_body(), headers=a.influencer.headers
        ),
        409,
        "exclusivity-conflict",
    )
    assert body["contract_id"] == contract["id"] and body["exclusive_until"] == "2027-02-01"
    assert contract["id"] in body["detail"] and "2027-02-01" in body["detail"]
    # … and when an offer made before is accepted.
    body = assert_problem(
        await client.post(f"/v1/offers/{b_offer['id']}/accept", headers=a.influencer.headers),
        409,
        "exclusivity-conflict",
    )
    assert body["category"] == "food"

    # Another category, or the same brand, is fine.
    c = await open_deal(
        client, influencer=a.influencer, listing=a.listing, brief_fields={"category": "apparel"}
    )
    await make_offer(client, c.brand_owner, c.bid["id"])
    same_brand = await open_deal(
        client, brand_owner=a.brand_owner, brand=a.brand, influencer=a.influencer, listing=a.listing
    )
    await make_offer(client, a.brand_owner, same_brand.bid["id"])
    # An exclusivity the new offer asks for counts as its category too.
    d = await open_deal(
        client, influencer=a.influencer, listing=a.listing, brief_fields={"category": "apparel"}
    )
    assert_problem(
        await client.post(
            f"/v1/bids/{d.bid['id']}/offers",
            json=offer_body(**EXCLUSIVE_FOOD),
            headers=d.brand_owner.headers,
        ),
        409,
        "exclusivity-conflict",
    )

    # Once brand A's contract is cancelled its exclusivity no longer binds.
    r = await client.post(f"/v1/contracts/{contract['id']}/cancel", headers=a.brand_owner.headers)
    assert r.status_code == 200
    r = await client.post(f"/v1/offers/{b_offer['id']}/accept", headers=a.influencer.headers)
    assert r.status_code == 200, r.text
