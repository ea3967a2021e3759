"""Deadlines: the late flag at the end of the due date, extension proposals and answers, and
cancellation — of single deliverables (late or untouched) and of the whole funded contract."""

from __future__ import annotations

from datetime import timedelta

from tests.delivery_support import funded
from tests.factories import assert_problem

REFUND_MILESTONE = "money.refund_milestone"
REFUND_CONTRACT = "money.refund_contract"
# offer_body: the reels are due 2026-12-28, the story 2027-01-02; T0 is 2026-11-24 12:00 UTC.
REELS_LATE_AT = timedelta(days=34, hours=12)  # → 2026-12-29T00:00Z


async def test_a_deliverable_is_flagged_late_when_its_due_date_is_over(client, app):
    d = await funded(client, app, approval_policy="first")
    reel = await d.get(d.ids[0])
    assert reel["late_at"] == "2026-12-29T00:00:00Z" and reel["late"] is False
    report = await d.advance(REELS_LATE_AT - timedelta(seconds=1))
    assert report.timers.fired == 0
    report = await d.advance(timedelta(seconds=1))
    assert report.timers.fired == 2  # both reels; the story is due later
    for deliverable_id in d.ids[:2]:
        got = await d.get(deliverable_id)
        assert got["late"] is True and got["late_since"] == "2026-12-29T00:00:00Z"
        assert got["state"] == "pending"  # late is a flag, not a state
        (trail,) = await d.audit("deliverable", deliverable_id)
        assert (trail.action, trail.actor_kind) == ("flag_late", "system")
    assert (await d.get(d.ids[2]))["late"] is False
    # A late deliverable can still be delivered.
    assert (await d.draft(d.ids[0])).status_code == 201


async def test_extensions_are_proposed_and_answered_by_the_other_party(client, app):
    d = await funded(client, app, approval_policy="none")
    reel = d.ids[0]
    url = f"/v1/deliverables/{reel}/extensions"
    # Bad dates.
    for due, rule in (("2026-12-28", "not_later"), ("2026-12-01", "not_later")):
        r = await client.post(
            url, json={"due_date": due, "reason": "x"}, headers=d.influencer.headers
        )
        body = assert_problem(r, 422, "validation-error")
        assert body["errors"][0] == body["errors"][0] | {"field": "due_date", "rule": rule}
    r = await client.post(url, json={"due_date": "2027-01-04"}, headers=d.influencer.headers)
    assert_problem(r, 422, "validation-error")  # a reason is required
    # The influencer proposes; only one proposal at a time.
    body = {"due_date": "2027-01-04", "reason": "The shoot moved"}
    r = await client.post(url, json=body, headers=d.influencer.headers)
    assert r.status_code == 201, r.text
    ext = r.json()
    assert ext["id"].startswith("ext_") and ext["state"] == "proposed"
    assert (ext["proposed_by"], ext["previous_due_date"]) == ("influencer", "2026-12-28")
    assert_problem(
        await client.post(url, json=body, headers=d.brand.headers), 409, "extension-pending"
    )
    assert (await d.get(reel))["open_extension"]["id"] == ext["id"]
    # The proposer cannot answer their own proposal.
    r = await client.post(f"/v1/extensions/{ext['id']}/accept", headers=d.influencer.headers)
    assert_problem(r, 409, "transition-refused")
    # The brand declines; the influencer proposes again and withdraws; then a new one accepted.
    r = await client.post(
        f"/v1/extensions/{ext['id']}/decline", json={"note": "No"}, headers=d.brand.headers
    )
    assert r.json()["state"] == "declined" and r.json()["response_note"] == "No"
    assert (await d.get(reel))["due_date"] == "2026-12-28"
    second = (await client.post(url, json=body, headers=d.influencer.headers)).json()
    r = await client.post(f"/v1/extensions/{second['id']}/withdraw", headers=d.brand.headers)
    assert_problem(r, 409, "transition-refused")
    r = await client.post(f"/v1/extensions/{second['id']}/withdraw", headers=d.influencer.headers)
    assert r.json()["state"] == "withdrawn"
    third = (await client.post(url, json=body, headers=d.brand.headers)).json()
    r = await client.post(f"/v1/extensions/{third['id']}/accept", headers=d.influencer.headers)
    assert r.status_code == 200 and r.json()["state"] == "accepted"
    got = await d.get(reel)
    assert got["due_date"] == "2027-01-04" and got["late_at"] == "2027-01-05T00:00:00Z"
    assert_problem(
        await client.post(f"/v1/extensions/{third['id']}/accept", headers=d.influencer.headers),
        409,
        "invalid-transition",
    )
    listed = (await client.get(url, headers=d.brand.headers)).json()["data"]
    assert [e["state"] for e in listed] == ["accepted", "withdrawn", "declined"]
    # The late timer moved with the due date.
    report = await d.advance(REELS_LATE_AT)
    assert (await d.get(reel))["late"] is False and (await d.get(d.ids[1]))["late"] is True
    assert report.timers.fired == 1


async def test_an_accepted_extension_clears_the_late_flag(client, app):
    d = await funded(client, app, approval_policy="none")
    reel = d.ids[0]
    await d.advance(REELS_LATE_AT)
    assert (await d.get(reel))["late"] is True
    ext = (
        await client.post(
            f"/v1/deliverables/{reel}/extensions",
            json={"due_date": "2027-01-08", "reason": "Sick"},
            headers=d.influencer.headers,
        )
    ).json()
    await client.post(f"/v1/extensions/{ext['id']}/accept", headers=d.brand.headers)
    got = await d.get(reel)
    assert got["late"] is False and got["late_since"] is None and got["due_date"] == "2027-01-08"
    await d.advance(timedelta(days=11))
    assert (await d.get(reel))["late"] is True
    # A published deliverable cannot be extended; its open proposal is cancelled by the proof.
    story = d.ids[2]
    open_ext = (
        await client.post(
            f"/v1/deliverables/{story}/extensions",
            json={"due_date": "2027-01-09", "reason": "x"},
            headers=d.brand.headers,
        )
    ).json()
    await d.publish(story)
    r = await client.get(f"/v1/deliverables/{story}/extensions", headers=d.brand.headers)
    assert r.json()["data"][0]["id"] == open_ext["id"]
    assert r.json()["data"][0]["state"] == "cancelled"
    r = await client.post(
        f"/v1/deliverables/{story}/extensions",
        json={"due_date": "2027-01-20", "reason": "x"},
        headers=d.brand.headers,
    )
    assert_problem(r, 409, "deliverable-not-open")


async def test_the_brand_cancels_a_late_deliverable_and_its_milestones_become_refundable(
    client, app
):
    d = await funded(client, app, approval_policy="all")
    reel1, reel2, story = d.ids
    draft = (await d.draft(reel1)).json()
    # Work started and not late: neither side may cancel.
    body = assert_problem(await d.cancel(reel1, d.brand), 409, "transition-refused")
    assert "not late" in body["detail"]
    assert_problem(await d.cancel(reel1, d.influencer), 409, "transition-refused")
    # Late (with its draft still in review): the brand may.
    await d.advance(REELS_LATE_AT)
    # The review window lapsed long ago: the draft was approved automatically; still unpublished.
    assert (await d.get(reel1))["state"] == "approved"
    assert_problem(await d.cancel(reel1, d.influencer), 409, "transition-refused")
    r = await d.cancel(reel1, d.brand, "Missed the race week")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["state"] == "cancelled" and got["cancelled_at"] == "2026-12-29T00:00:00Z"
    assert got["latest_draft"]["id"] == draft["id"]
    # Both milestones pay for the first reel: both refundable, one refund job each.
    assert await d.milestone_states() == ["refundable", "refundable"]
    jobs = await d.jobs(REFUND_MILESTONE)
    assert sorted(j.payload["milestone_id"] for j in jobs) == sorted(d.milestone_ids)
    assert {j.payload["amount"] for j in jobs} == {60_000}
    await d.run()
    assert sorted(p["milestone_id"] for p in d.money.of(REFUND_MILESTONE)) == sorted(
        d.milestone_ids
    )
    trail = await d.audit("milestone", d.milestone_ids[0])
    assert [(t.action, t.actor_kind) for t in trail] == [("refund", "system")]
    # The other deliverables go on; confirming them releases nothing (their milestones are
    # refundable), and the contract is delivered once all are settled.
    await d.publish(reel2)
    await d.confirm(reel2)
    await d.publish(story)
    await d.confirm(story)
    assert await d.jobs("money.release_milestone") == []
    contract = await d.contract_now()
    assert contract["state"] == "delivered"
    # Cancelling twice: 409, nothing new.
    assert_problem(await d.cancel(reel1, d.brand), 409, "invalid-transition")
    assert len(await d.jobs(REFUND_MILESTONE)) == 2
    for milestone_id in d.milestone_ids:
        await d.settle_milestone(milestone_id, "mark_refunded")
    assert (await d.contract_now())["state"] == "completed"


async def test_untouched_deliverables_can_be_cancelled_by_either_party(client, app):
    d = await funded(client, app, approval_policy="none")
    r = await d.cancel(d.ids[2], d.influencer, "Stories are not my thing")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert await d.milestone_states() == ["pending", "refundable"]
    assert (await d.cancel(d.ids[0], d.brand)).status_code == 200
    assert await d.milestone_states() == ["refundable", "refundable"]
    assert len(await d.jobs(REFUND_MILESTONE)) == 2  # one per milestone, not per deliverable
    assert (await d.contract_now())["state"] == "active"
    assert (await d.cancel(d.ids[1], d.influencer)).status_code == 200
    # Nothing left to deliver: the contract ends cancelled.
    contract = await d.contract_now()
    assert contract["state"] == "cancelled" and contract["ended_at"] is not None
    actions = [t.action for t in await d.audit("contract", contract["id"])]
    assert actions == ["fund", "end_unfulfilled"]


async def test_a_funded_contract_is_cancelled_with_a_full_refund_before_work_starts(client, app):
    d = await funded(client, app, approval_policy="first")
    assert (await d.contract_now())["allowed_actions"] == ["cancel", "dispute"]
    r = await client.post(
        f"/v1/contracts/{d.contract['id']}/cancel",
        json={"reason": "Campaign cancelled"},
        headers=d.influencer.headers,
    )
    assert r.status_code == 200, r.text
    contract = r.json()
    assert contract["state"] == "cancelled" and contract["ended_at"] is not None
    assert {x["state"] for x in contract["deliverables"]} == {"cancelled"}
    assert {m["state"] for m in contract["milestones"]} == {"cancelled"}
    (job,) = await d.jobs(REFUND_CONTRACT)
    assert job.payload["contract_id"] == d.contract["id"]
    assert job.payload["amount"] == "unreleased"
    assert await d.jobs(REFUND_MILESTONE) == []
    # No timer fires for a cancelled contract's deliverables.
    report = await d.advance(timedelta(days=60))
    assert report.timers.fired == 0
    await d.run()
    assert [p["amount"] for p in d.money.of(REFUND_CONTRACT)] == ["unreleased"]


async def test_a_funded_contract_cannot_be_cancelled_once_work_started(client, app):
    d = await funded(client, app, approval_policy="first")
    assert (await d.draft(d.ids[0])).status_code == 201
    r = await client.post(f"/v1/contracts/{d.contract['id']}/cancel", headers=d.brand.headers)
    body = assert_problem(r, 409, "transition-refused")
    assert "work has started" in body["detail"]
    contract = await d.contract_now()
    assert contract["state"] == "active"
    assert await d.jobs(REFUND_CONTRACT) == []
