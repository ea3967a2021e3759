"""Disputes: opening freezes the contract's money, withdrawing resumes it, escalation after the
delay, and the operators' three resolutions with their jobs and audit rows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.delivery_support import funded
from tests.factories import assert_problem, make_operator, register

RELEASE = "money.release_milestone"
REFUND_CONTRACT = "money.refund_contract"


async def open_dispute(d, who, reason="Not delivered", details="The story never went up"):
    return await d.client.post(
        f"/v1/contracts/{d.contract['id']}/disputes",
        json={"reason": reason, "details": details},
        headers=who.headers,
    )


async def test_a_dispute_freezes_releases_until_it_is_withdrawn(client, app):
    d = await funded(client, app, approval_policy="none")
    reel1 = d.ids[0]
    r = await open_dispute(d, d.brand)
    assert r.status_code == 201, r.text
    dispute = r.json()
    assert dispute["id"].startswith("dsp_") and dispute["state"] == "open"
    assert (dispute["opened_by"], dispute["contract_state_before"]) == ("brand", "active")
    assert dispute["escalates_at"] == "2026-12-01T12:00:00Z"
    assert (await d.contract_now())["state"] == "disputed"
    assert_problem(await open_dispute(d, d.influencer), 409, "invalid-transition")
    # Work goes on, but nothing is released while disputed.
    for deliverable_id in d.ids:
        await d.publish(deliverable_id)
        assert (await d.confirm(deliverable_id)).status_code == 200
    assert await d.milestone_states() == ["pending", "pending"]
    assert await d.jobs(RELEASE) == []
    # Cancelling moves money: not while disputed.
    body = assert_problem(await d.cancel(reel1, d.brand), 409, "invalid-transition")
    assert body["current_state"] == "confirmed"
    # Only the opener withdraws.
    url = f"/v1/disputes/{dispute['id']}/withdraw"
    assert_problem(await client.post(url, headers=d.influencer.headers), 409, "transition-refused")
    r = await client.post(url, json={"reason": "Sorted out"}, headers=d.brand.headers)
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    # The contract resumes and, everything being confirmed, is delivered; met milestones go.
    contract = await d.contract_now()
    assert contract["state"] == "delivered"
    assert await d.milestone_states() == ["releasable", "releasable"]
    assert sorted(j.payload["milestone_id"] for j in await d.jobs(RELEASE)) == sorted(
        d.milestone_ids
    )
    actions = [t.action for t in await d.audit("contract", contract["id"])]
    assert actions == ["fund", "dispute", "resume", "deliver"]
    # The escalation timer was cancelled with the dispute.
    report = await d.advance(timedelta(days=8))
    assert report.timers.fired == 0
    listed = await client.get(f"/v1/contracts/{d.contract['id']}/disputes", headers=d.brand.headers)
    assert [x["state"] for x in listed.json()["data"]] == ["withdrawn"]


async def test_an_unsettled_dispute_escalates_after_seven_days(client, app):
    d = await funded(client, app)
    dispute = (await open_dispute(d, d.influencer, "Brand does not answer")).json()
    assert dispute["opened_by"] == "influencer"
    await d.advance(timedelta(days=7))
    r = await client.get(f"/v1/disputes/{dispute['id']}", headers=d.brand.headers)
    got = r.json()
    assert got["state"] == "escalated" and got["escalated_at"] == "2026-12-01T12:00:00Z"
    staff = await make_operator(client, app)
    r = await client.get("/v1/operator/disputes?state=escalated", headers=staff.headers)
    assert [x["id"] for x in r.json()["data"]] == [dispute["id"]]
    assert (await client.get("/v1/operator/disputes?state=open", headers=staff.headers)).json()[
        "data"
    ] == []


@pytest.mark.parametrize("resolution", ["release", "partial_refund", "full_refund"])
async def test_operators_resolve_disputes(client, app, resolution):
    d = await funded(client, app, approval_policy="none")
    reel1, reel2, story = d.ids
    # The reels' milestone was met before the dispute; the story was never published.
    for deliverable_id in (reel1, reel2):
        await d.publish(deliverable_id)
        await d.confirm(deliverable_id)
    m_reels, m_wrap = d.milestone_ids
    assert await d.milestone_states() == ["releasable", "pending"]
    dispute = (await open_dispute(d, d.brand, "Story missing")).json()
    staff = await make_operator(client, app)
    url = f"/v1/operator/disputes/{dispute['id']}"
    # Parties are not operators.
    r = await client.post(
        f"{url}/resolve", json={"resolution": "release", "note": "x"}, headers=d.brand.headers
    )
    assert_problem(r, 403, "insufficient-scope")
    view = (await client.get(url, headers=staff.headers)).json()
    assert view["contract_state"] == "disputed" and view["unreleased_amount"] == 120_000
    assert [m["state"] for m in view["milestones"]] == ["releasable", "pending"]
    # Bad amounts are refused before anything moves.
    for body, field in (
        ({"resolution": "partial_refund", "note": "x"}, "refund_amount"),
        ({"resolution": "partial_refund", "refund_amount": 120_001, "note": "x"}, "refund_amount"),
        ({"resolution": "release", "refund_amount": 5, "note": "x"}, "refund_amount"),
        ({"resolution": "full_refund"}, "note"),
        ({"resolution": "everything", "note": "x"}, "resolution"),
    ):
        r = await client.post(f"{url}/resolve", json=body, headers=staff.headers)
        assert assert_problem(r, 422)["errors"][0]["field"] == field
    assert (await d.contract_now())["state"] == "disputed"

    body = {"resolution": resolution, "note": "Checked the evidence with both sides"}
    if resolution == "partial_refund":
        body["refund_amount"] = 30_000
    r = await client.post(f"{url}/resolve", json=body, headers=staff.headers)
    assert r.status_code == 200, r.text
    resolved = r.json()
    assert resolved["state"] == "resolved" and resolved["resolution"] == resolution
    assert resolved["resolved_by"] == staff.id and resolved["contract_state"] == "resolved"
    assert resolved["note"] == "Checked the evidence with both sides"
    contract = await d.contract_now()
    assert contract["state"] == "resolved" and contract["ended_at"] is not None

    releases = await d.jobs(RELEASE)
    refunds = await d.jobs(REFUND_CONTRACT)
    if resolution == "release":
        assert await d.milestone_states() == ["releasable", "releasable"]
        assert sorted(j.payload["milestone_id"] for j in releases) == sorted([m_reels, m_wrap])
        assert refunds == []
    else:
        assert await d.milestone_states() == ["cancelled", "cancelled"]
        assert [j.payload["milestone_id"] for j in releases] == [m_reels]  # from before
        (job,) = refunds
        payload = job.payload
        assert payload["contract_id"] == d.contract["id"]
        assert payload["dispute_id"] == dispute["id"]
        assert payload["unreleased_amount"] == 120_000
        assert sorted(payload["milestone_ids"]) == sorted([m_reels, m_wrap])
        if resolution == "full_refund":
            assert payload["amount"] == "unreleased"
        else:
            assert payload["amount"] == 30_000 and payload["remainder_to_influencer"] == 90_000
    # Every operator move is audited with the operator and the note.
    for kind, object_id in (("dispute", dispute["id"]), ("contract", d.contract["id"])):
        last = (await d.audit(kind, object_id))[-1]
        assert (last.action, last.actor_kind, last.actor_id) == ("resolve", "operator", staff.id)
        assert last.reason == "Checked the evidence with both sides"
    for milestone_id in (m_wrap,):
        last = (await d.audit("milestone", milestone_id))[-1]
        assert last.actor_kind == "operator" and last.actor_id == staff.id
    r = await client.get(
        f"/v1/operator/transitions?kind=dispute&object_id={dispute['id']}", headers=staff.headers
    )
    assert [t["action"] for t in r.json()["data"]] == ["resolve"]
    # Resolved once: a second decision is a 409 and writes nothing.
    r = await client.post(f"{url}/resolve", json=body, headers=staff.headers)
    assert_problem(r, 409, "invalid-transition")
    assert len(await d.jobs(RELEASE)) == len(releases)
    assert len(await d.jobs(REFUND_CONTRACT)) == len(refunds)
    # The parties can no longer withdraw it, and the deliverables are frozen.
    r = await client.post(f"/v1/disputes/{dispute['id']}/withdraw", headers=d.brand.headers)
    assert_problem(r, 409, "invalid-transition")
    assert_problem(await d.proof(story), 409, "transition-refused")
    assert (await d.get(story))["allowed_actions"] == []
    await d.run()
    topics = sorted(t for t, _ in d.money.jobs)
    expected = {
        "release": [RELEASE, RELEASE],
        "partial_refund": [REFUND_CONTRACT, RELEASE],
        "full_refund": [REFUND_CONTRACT, RELEASE],
    }[resolution]
    assert topics == sorted(expected)
    # Timers of a resolved contract's deliverables end obsolete: the story is never flagged.
    report = await d.advance(timedelta(days=45))
    assert report.timers.fired == 0 and report.timers.obsolete == 1
    assert (await d.get(story))["late"] is False


async def test_disputes_need_a_running_contract_and_parties(client, app):
    from tests.factories import create_contract

    deal, contract = await create_contract(client)
    r = await client.post(
        f"/v1/contracts/{contract['id']}/disputes",
        json={"reason": "x"},
        headers=deal.brand_owner.headers,
    )
    assert_problem(r, 409, "invalid-transition")  # not funded: cancel instead
    d = await funded(client, app)
    stranger = await register(client)
    assert_problem(await open_dispute(d, stranger), 404, "contract-not-found")
    dispute = (await open_dispute(d, d.brand)).json()
    for path in (f"/v1/disputes/{dispute['id']}", f"/v1/contracts/{d.contract['id']}/disputes"):
        assert_problem(await client.get(path, headers=stranger.headers), 404)
    r = await client.post(f"/v1/disputes/{dispute['id']}/withdraw", headers=stranger.headers)
    assert_problem(r, 404, "dispute-not-found")
    staff = await make_operator(client, app)
    r = await client.get("/v1/operator/disputes/dsp_nothing", headers=staff.headers)
    assert_problem(r, 404, "dispute-not-found")
    r = await client.get("/v1/operator/disputes", headers=stranger.headers)
    assert_problem(r, 403, "insufficient-scope")


async def test_a_chargeback_frozen_contract_gets_a_dispute_operators_resolve(client, app):
    from app.services.delivery import disputes
    from app.services.delivery.contracts import CONTRACTS
    from app.services.workflow.state_machine import Actor

    d = await funded(client, app, approval_policy="none")
    now = app.state.resources.clock.now()
    async with app.state.resources.database.sessionmaker() as session, session.begin():
        await CONTRACTS.fire(session, d.contract["id"], "chargeback", Actor("system", "evt"), now)
        first = await disputes.open_for_chargeback(session, d.contract["id"], now)
        again = await disputes.open_for_chargeback(session, d.contract["id"], now)
        assert again.id == first.id
    got = (await client.get(f"/v1/disputes/{first.id}", headers=d.brand.headers)).json()
    assert got["opened_by"] is None and got["state"] == "escalated"
    assert got["contract_state_before"] == "active"
    r = await client.post(f"/v1/disputes/{first.id}/withdraw", headers=d.brand.headers)
    assert_problem(r, 409, "transition-refused")  # nobody's to withdraw
    staff = await make_operator(client, app)
    r = await client.post(
        f"/v1/operator/disputes/{first.id}/resolve",
        json={"resolution": "full_refund", "note": "Chargeback lost"},
        headers=staff.headers,
    )
    assert r.status_code == 200, r.text
    (job,) = await d.jobs(REFUND_CONTRACT)
    assert job.payload["amount"] == "unreleased" and job.payload["unreleased_amount"] == 120_000
