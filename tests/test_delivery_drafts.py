"""Drafts and their review: the approval policies (none / first / all), change requests up to
and past the revision cap, automatic approval when the review window lapses, disclosure on
approval, and the input and state errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.delivery_support import CAPTION_BAD, CAPTION_OK, funded
from tests.factories import assert_problem

POLICIES = {
    # policy: which of the 3 deliverables (by position) need an approved draft before proof
    "none": [False, False, False],
    "first": [True, False, False],
    "all": [True, True, True],
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
async def test_the_policy_decides_which_deliverables_need_an_approved_draft(client, app, policy):
    d = await funded(client, app, approval_policy=policy)
    required = POLICIES[policy]
    for deliverable_id, needs in zip(d.ids, required, strict=True):
        got = await d.get(deliverable_id, d.influencer)
        assert got["draft_required"] is needs and got["approval_policy"] == policy
        assert got["state"] == "pending" and got["side"] == "influencer"
        assert ("submit_proof" in got["allowed_actions"]) is (not needs)
        assert "submit_draft" in got["allowed_actions"]
        if needs:
            body = assert_problem(await d.proof(deliverable_id), 409, "draft-approval-required")
            assert body["approval_policy"] == policy
            assert (await d.get(deliverable_id))["state"] == "pending"  # nothing changed

    # The full path of a required draft: changes requested, a second version approved, proof.
    first = d.ids[0]
    if required[0]:
        r = await d.draft(first, notes="first cut")
        assert r.status_code == 201, r.text
        v1 = r.json()
        assert v1["id"].startswith("drf_") and v1["version_no"] == 1 and v1["required"] is True
        assert v1["state"] == "in_review" and v1["review_due_at"] == "2026-11-27T12:00:00Z"
        assert v1["disclosure"]["passed"] is True
        assert (await d.get(first))["state"] == "in_review"
        assert_problem(await d.draft(first), 409, "invalid-transition")  # one in review at a time
        r = await d.request_changes(v1["id"], "Show the carton in the first second")
        assert r.status_code == 200 and r.json()["state"] == "changes_requested"
        assert r.json()["feedback"] == "Show the carton in the first second"
        got = await d.get(first)
        assert got["state"] == "changes_requested" and got["revisions_used"] == 1
        v2 = (await d.draft(first)).json()
        assert v2["version_no"] == 2 and (await d.get(first))["state"] == "in_review"
        r = await d.approve(v2["id"], feedback="Lovely")
        assert r.status_code == 200 and r.json()["state"] == "approved"
        assert r.json()["approved_automatically"] is False
        assert (await d.get(first))["state"] == "approved"
        listed = await client.get(f"/v1/deliverables/{first}/drafts", headers=d.brand.headers)
        assert [x["version_no"] for x in listed.json()["data"]] == [2, 1]
    else:
        # A voluntary draft is reviewed, but the deliverable does not wait for it.
        r = await d.draft(first)
        assert r.status_code == 201 and r.json()["required"] is False
        assert (await d.get(first))["state"] == "pending"
        assert_problem(await d.draft(first), 409, "draft-in-review")
    r = await d.proof(first)
    assert r.status_code == 201, r.text
    published = r.json()
    assert published["state"] == "published" and published["published_at"] == "2026-11-24T12:00:00Z"
    assert published["proof"]["verification_due_at"] == "2026-11-27T12:00:00Z"
    if not required[0]:
        # The voluntary draft still in review was withdrawn by the proof.
        assert published["latest_draft"]["state"] == "withdrawn"


async def test_change_requests_up_to_and_past_the_revision_cap(client, app):
    d = await funded(client, app, approval_policy="all", revision_cap=2)
    target = d.ids[1]
    for n in (1, 2):
        draft = (await d.draft(target)).json()
        assert (await d.request_changes(draft["id"], f"round {n}")).status_code == 200
    third = (await d.draft(target)).json()
    body = assert_problem(await d.request_changes(third["id"]), 409, "revision-cap-reached")
    assert body["revision_cap"] == 2 and body["revisions_used"] == 2
    assert any("new offer" in o for o in body["options"])
    assert any("dispute" in o for o in body["options"])
    # Nothing changed: the draft is still in review and can still be approved.
    got = await d.get(target)
    assert got["state"] == "in_review" and got["latest_draft"]["state"] == "in_review"
    assert got["revisions_used"] == 2
    assert (await d.approve(third["id"])).json()["state"] == "approved"
    # The cap is per deliverable: another one starts from zero.
    other = (await d.draft(d.ids[0])).json()
    assert (await d.request_changes(other["id"])).status_code == 200


async def test_a_cap_of_zero_refuses_every_change_request(client, app):
    d = await funded(client, app, approval_policy="first", revision_cap=0)
    draft = (await d.draft(d.ids[0])).json()
    body = assert_problem(await d.request_changes(draft["id"]), 409, "revision-cap-reached")
    assert body["revision_cap"] == 0


async def test_the_review_window_lapses_into_an_automatic_approval(client, app):
    d = await funded(client, app, approval_policy="first", review_window_hours=48)
    draft = (await d.draft(d.ids[0])).json()
    assert draft["review_due_at"] == "2026-11-26T12:00:00Z"
    # Just before the window ends nothing happens.
    report = await d.advance(timedelta(hours=47, minutes=59))
    assert report.timers.fired == 0
    # The window has ended but the worker has not run yet: a review is already refused.
    await d.tick(timedelta(minutes=1))
    body = assert_problem(await d.approve(draft["id"]), 409, "review-window-lapsed")
    assert body["approved_automatically"] is True
    assert_problem(await d.request_changes(draft["id"]), 409, "review-window-lapsed")
    report = await d.run()
    assert report.timers.fired == 1
    r = await client.get(f"/v1/drafts/{draft['id']}", headers=d.influencer.headers)
    auto = r.json()
    assert auto["state"] == "approved" and auto["approved_automatically"] is True
    assert auto["reviewed_at"] == "2026-11-26T12:00:00Z"
    got = await d.get(d.ids[0])
    assert got["state"] == "approved"
    # Audited as the system, with the reason.
    (trail,) = await d.audit("draft", draft["id"])
    assert (trail.action, trail.actor_kind) == ("approve", "system")
    assert "approved automatically" in (trail.reason or "")
    deliverable_trail = await d.audit("deliverable", d.ids[0])
    assert [t.action for t in deliverable_trail] == ["submit_draft", "approve"]
    assert deliverable_trail[-1].actor_kind == "system"
    # A review after the automatic approval: 409, and nothing changes.
    body = assert_problem(await d.request_changes(draft["id"]), 409, "review-window-lapsed")
    assert body["current_state"] == "approved"
    assert_problem(await d.approve(draft["id"]), 409, "review-window-lapsed")
    assert (await d.get(d.ids[0]))["state"] == "approved"
    assert (await d.proof(d.ids[0])).status_code == 201


async def test_a_reviewed_draft_cancels_its_approval_timer(client, app):
    d = await funded(client, app, approval_policy="first")
    draft = (await d.draft(d.ids[0])).json()
    assert (await d.approve(draft["id"])).status_code == 200
    report = await d.advance(timedelta(days=4))
    assert report.timers.fired == 0 and report.timers.obsolete == 0
    assert (await d.audit("draft", draft["id"]))[-1].actor_kind == "brand"


async def test_approval_needs_a_disclosure_pass_when_the_terms_require_one(client, app):
    d = await funded(client, app, approval_policy="all", disclosure_required=True)
    r = await d.draft(d.ids[0], caption=CAPTION_BAD)
    assert r.status_code == 201  # stored with its check, so the brand can ask for a fix
    draft = r.json()
    assert draft["disclosure"]["passed"] is False and draft["disclosure"]["reasons"]
    body = assert_problem(await d.approve(draft["id"]), 422, "disclosure-failed")
    assert body["platform"] == "instagram" and body["reasons"] == draft["disclosure"]["reasons"]
    assert body["errors"][0]["field"] == "caption"
    assert (await d.get(d.ids[0]))["state"] == "in_review"  # nothing changed
    assert (await d.request_changes(draft["id"], "Add #ad up front")).status_code == 200
    fixed = (await d.draft(d.ids[0], caption=CAPTION_OK)).json()
    assert (await d.approve(fixed["id"])).status_code == 200

    # Without the requirement, the brand may approve any caption.
    lax = await funded(client, app, approval_policy="all", disclosure_required=False)
    draft = (await lax.draft(lax.ids[0], caption=CAPTION_BAD)).json()
    assert (await lax.approve(draft["id"])).json()["state"] == "approved"


async def test_drafts_refused_in_the_wrong_state_or_from_the_wrong_side(client, app):
    d = await funded(client, app, approval_policy="all")
    # The wrong side.
    r = await client.post(
        f"/v1/deliverables/{d.ids[0]}/drafts", json={"caption": "x"}, headers=d.brand.headers
    )
    assert_problem(r, 403, "actor-not-allowed")
    draft = (await d.draft(d.ids[0])).json()
    r = await client.post(f"/v1/drafts/{draft['id']}/approve", headers=d.influencer.headers)
    assert_problem(r, 403, "actor-not-allowed")
    # Bad input.
    r = await d.draft(d.ids[1], media_urls=["ftp://cdn.example/v.mp4"])
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["field"].startswith("media_urls")
    r = await client.post(
        f"/v1/drafts/{draft['id']}/request-changes",
        json={"feedback": "  "},
        headers=d.brand.headers,
    )
    assert_problem(r, 422, "validation-error")
    # A cancelled deliverable takes no draft.
    assert (await d.cancel(d.ids[2], d.influencer)).status_code == 200
    body = assert_problem(await d.draft(d.ids[2]), 409, "invalid-transition")
    assert body["current_state"] == "cancelled" and body["allowed_actions"] == []
    # Nor does a confirmed one.
    assert (await d.approve(draft["id"])).status_code == 200
    assert (await d.proof(d.ids[0])).status_code == 201
    assert (await d.confirm(d.ids[0])).status_code == 200
    body = assert_problem(await d.draft(d.ids[0]), 409, "invalid-transition")
    assert body["current_state"] == "confirmed"


async def test_no_draft_before_the_contract_is_funded(client, app):
    from tests.factories import create_contract

    deal, contract = await create_contract(client, approval_policy="all")
    deliverable_id = contract["deliverables"][0]["id"]
    r = await client.post(
        f"/v1/deliverables/{deliverable_id}/drafts",
        json={"caption": CAPTION_OK},
        headers=deal.influencer.headers,
    )
    body = assert_problem(r, 409, "transition-refused")
    assert "awaiting_funding" in body["detail"]
    got = await client.get(f"/v1/deliverables/{deliverable_id}", headers=deal.influencer.headers)
    assert got.json()["allowed_actions"] == []
