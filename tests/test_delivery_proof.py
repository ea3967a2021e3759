"""Proof of publication: confirmation by the brand or by the lapsed verification window,
milestone release (one job per milestone), the contract delivered then completed, disputed
proofs, and bad input."""

from __future__ import annotations

from datetime import timedelta

from tests.delivery_support import CAPTION_BAD, funded
from tests.factories import assert_problem

RELEASE = "money.release_milestone"


async def test_confirmed_deliverables_release_their_milestones_once(client, app):
    d = await funded(client, app, approval_policy="none")
    reel1, reel2, story = d.ids
    m_reels, m_wrap = d.milestone_ids
    for deliverable_id in d.ids:
        await d.publish(deliverable_id)
    # One reel confirmed: milestone 1 still waits for the other reel.
    r = await d.confirm(reel1)
    assert r.status_code == 200, r.text
    confirmed = r.json()
    assert confirmed["state"] == "confirmed" and confirmed["confirmed_at"] == "2026-11-24T12:00:00Z"
    assert confirmed["proof"]["state"] == "confirmed"
    assert confirmed["proof"]["confirmed_automatically"] is False
    assert await d.milestone_states() == ["pending", "pending"]
    assert await d.jobs(RELEASE) == []
    # The second reel meets milestone 1.
    assert (await d.confirm(reel2)).status_code == 200
    assert await d.milestone_states() == ["releasable", "pending"]
    (job,) = await d.jobs(RELEASE)
    assert job.payload["milestone_id"] == m_reels and job.payload["amount"] == 60_000
    assert job.payload["currency"] == "EUR" and job.idempotency_key == f"{RELEASE}:{m_reels}"
    assert (await d.contract_now())["state"] == "active"
    # The story completes the deliveries: milestone 2 releasable, the contract delivered.
    assert (await d.confirm(story)).status_code == 200
    assert await d.milestone_states() == ["releasable", "releasable"]
    jobs = await d.jobs(RELEASE)
    assert sorted(j.payload["milestone_id"] for j in jobs) == sorted([m_reels, m_wrap])
    assert (await d.contract_now())["state"] == "delivered"
    # The worker hands them to the money code, once each.
    report = await d.run()
    assert report.jobs.succeeded == 2
    assert sorted(p["milestone_id"] for p in d.money.of(RELEASE)) == sorted([m_reels, m_wrap])
    # Confirming again changes nothing.
    assert_problem(await d.confirm(story), 409, "invalid-transition")
    assert len(await d.jobs(RELEASE)) == 2
    # The money code reports back; when every milestone is released the contract is completed.
    await d.settle_milestone(m_reels)
    assert (await d.contract_now())["state"] == "delivered"
    await d.settle_milestone(m_wrap)
    contract = await d.contract_now()
    assert contract["state"] == "completed" and contract["ended_at"] is not None
    actions = [t.action for t in await d.audit("contract", contract["id"])]
    assert actions == ["fund", "deliver", "complete"]


async def test_the_verification_window_lapses_into_confirmation(client, app):
    d = await funded(client, app, approval_policy="none", verification_window_hours=24)
    reel1, reel2, story = d.ids
    await d.publish(reel1)
    await d.publish(reel2)
    report = await d.advance(timedelta(hours=23))
    assert report.timers.fired == 0
    # Lapsed, worker not run yet: the brand can no longer decide.
    await d.tick(timedelta(hours=1))
    body = assert_problem(await d.confirm(reel1), 409, "verification-window-lapsed")
    assert body["confirmed_automatically"] is True
    assert_problem(await d.dispute_proof(reel1), 409, "verification-window-lapsed")
    report = await d.run()
    # Both reels confirmed in one pass; their milestone released exactly once.
    assert report.timers.fired == 2
    for deliverable_id in (reel1, reel2):
        got = await d.get(deliverable_id)
        assert got["state"] == "confirmed"
        assert got["proof"]["confirmed_automatically"] is True
        trail = await d.audit("deliverable", deliverable_id)
        assert trail[-1].action == "confirm" and trail[-1].actor_kind == "system"
        assert "confirmed automatically" in (trail[-1].reason or "")
    assert [j.payload["milestone_id"] for j in await d.jobs(RELEASE)] == [d.milestone_ids[0]]
    assert [p["milestone_id"] for p in d.money.of(RELEASE)] == [d.milestone_ids[0]]
    body = assert_problem(await d.confirm(reel1), 409, "verification-window-lapsed")
    assert (await d.contract_now())["state"] == "active"
    # The story: auto-confirmed too; the contract is delivered.
    await d.publish(story)
    await d.advance(timedelta(hours=24))
    assert (await d.get(story))["state"] == "confirmed"
    assert len(await d.jobs(RELEASE)) == 2
    assert (await d.contract_now())["state"] == "delivered"


async def test_a_disputed_proof_can_be_replaced(client, app):
    d = await funded(client, app, approval_policy="none")
    story = d.ids[2]
    await d.publish(story)
    r = await d.dispute_proof(story, "The story shows a competitor")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["state"] == "proof_disputed" and got["proof"]["state"] == "disputed"
    assert got["proof"]["dispute_reason"] == "The story shows a competitor"
    assert got["allowed_actions"] == []  # brand side: nothing until a new proof
    # The confirmation timer was cancelled: nothing happens when the window passes.
    report = await d.advance(timedelta(days=4))
    assert report.timers.fired == 0 and (await d.get(story))["state"] == "proof_disputed"
    influencer_view = await d.get(story, d.influencer)
    assert influencer_view["allowed_actions"] == ["submit_proof"]
    r = await d.proof(story, url="https://instagram.example/p/new", platform_post_id="new")
    assert r.status_code == 201
    got = r.json()
    assert got["state"] == "published" and got["proof"]["version_no"] == 2
    assert got["proof"]["url"] == "https://instagram.example/p/new"
    assert (await d.confirm(story)).status_code == 200
    r = await client.post(
        f"/v1/deliverables/{story}/proof/dispute", json={}, headers=d.brand.headers
    )
    assert_problem(r, 422, "validation-error")


async def test_bad_proofs_are_refused_and_change_nothing(client, app):
    d = await funded(client, app, approval_policy="none", disclosure_required=True)
    reel = d.ids[0]
    for url in ("ftp://instagram.example/p/1", "javascript:alert(1)", "instagram.example/p/1"):
        body = assert_problem(await d.proof(reel, url=url), 422, "validation-error")
        assert body["errors"][0]["field"] == "url"
    body = assert_problem(
        await d.proof(reel, published_at="2026-11-25T12:00:00Z"), 422, "validation-error"
    )
    assert body["errors"][0]["field"] == "published_at"
    body = assert_problem(await d.proof(reel, published_at="2026-11-24T10:00:00"), 422)
    assert body["errors"][0]["field"] == "published_at"  # a time zone is required
    body = assert_problem(await d.proof(reel, caption=CAPTION_BAD), 422, "disclosure-failed")
    assert body["reasons"] and body["platform"] == "instagram"
    # The platform's own paid-partnership label is a disclosure.
    assert (await d.get(reel))["state"] == "pending"
    r = await client.post(
        f"/v1/deliverables/{reel}/proof",
        json={
            "url": "https://instagram.example/p/1",
            "published_at": "2026-11-24T12:00:00Z",
            "platform_post_id": "1",
            "caption": "Race-week oats!",
            "paid_partnership_label": True,
        },
        headers=d.brand.headers,
    )
    assert_problem(r, 403, "actor-not-allowed")
    r = await d.proof(reel, caption="Race-week oats!", paid_partnership_label=True)
    assert r.status_code == 201 and r.json()["proof"]["disclosure"]["passed"] is True
    # Only the brand confirms.
    r = await client.post(f"/v1/deliverables/{reel}/proof/confirm", headers=d.influencer.headers)
    assert_problem(r, 403, "actor-not-allowed")
    # A pending deliverable has nothing to confirm.
    body = assert_problem(await d.confirm(d.ids[1]), 409, "invalid-transition")
    assert body["current_state"] == "pending"


async def test_late_publication_keeps_the_late_flag_and_cancels_the_late_timer(client, app):
    d = await funded(client, app, approval_policy="none")
    await d.publish(d.ids[0])
    # Past every due date: only the unpublished deliverables are flagged late.
    report = await d.advance(timedelta(days=45))
    assert (await d.get(d.ids[0]))["late"] is False
    assert [(await d.get(i))["late"] for i in d.ids[1:]] == [True, True]
    assert report.timers.fired >= 3  # 2 late flags + the confirmation


async def test_published_at_lies_between_the_funding_and_now_within_five_minutes(
    client, app, clock
):
    """Issue 11: a proof published years before the contract existed was accepted. A post
    counts from the moment the contract was funded (the deal is live; the brief's publishing
    window is a term for review, not a bound on evidence) up to now; five minutes either side
    absorb clock skew between the platform and us."""
    d = await funded(client, app, approval_policy="none")
    funded_at = (await d.contract_now())["funded_at"]
    assert funded_at == "2026-11-24T12:00:00Z"  # the test clock
    clock.advance(timedelta(minutes=10))  # now: 12:10 (the tokens stay valid)
    reel, second, _story = d.ids
    for published_at, rule in (
        ("2019-03-01T09:00:00Z", "before_funding"),  # years before the contract
        ("2026-11-24T11:54:59Z", "before_funding"),  # just past the tolerance
        ("2026-11-24T12:15:01Z", "in_future"),
    ):
        body = assert_problem(await d.proof(reel, published_at=published_at), 422)
        assert body["type"].endswith("validation-error")
        assert [(e["field"], e["rule"]) for e in body["errors"]] == [("published_at", rule)]
    assert (await d.get(reel))["state"] == "pending"
    # Inside the tolerance on either side: accepted.
    r = await d.proof(reel, published_at="2026-11-24T11:55:00Z")
    assert r.status_code == 201, r.text
    r = await d.proof(second, published_at="2026-11-24T12:15:00Z")
    assert r.status_code == 201, r.text
