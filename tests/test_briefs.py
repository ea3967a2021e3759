"""Briefs: validation, the lifecycle table, editing rules, visibility and tenancy."""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta

import pytest

from app.services.catalogue.briefs import TRANSITIONS
from tests.factories import (
    add_member,
    assert_problem,
    brief_body,
    create_brand,
    create_brief,
    register,
    relogin,
)

STATES = ["draft", "open", "closed", "completed", "cancelled"]
ACTIONS = ["open", "close", "complete", "cancel"]
EXPECTED = {
    ("draft", "open"): "open",
    ("open", "close"): "closed",
    ("closed", "complete"): "completed",
    ("draft", "cancel"): "cancelled",
    ("open", "cancel"): "cancelled",
    ("closed", "cancel"): "cancelled",
}


async def _brand(client):
    owner = await register(client)
    return owner, (await create_brand(client, owner, "Oatly"))["id"]


async def test_create_read_and_shape(client):
    owner, brand_id = await _brand(client)
    body = brief_body(brand_id)
    brief = await create_brief(client, owner, brand_id)
    assert brief["id"].startswith("brf_") and brief["state"] == "draft"
    for key, value in body.items():
        assert brief[key] == value, key
    assert brief["budget_warning"] is None
    got = await client.get(f"/v1/briefs/{brief['id']}", headers=owner.headers)
    assert got.json() == brief
    # Defaults fill the optional parts.
    minimal = {k: body[k] for k in ("brand_id", "title", "objective", "platforms")}
    minimal |= {k: body[k] for k in ("deliverables", "budget", "timeline")}
    r = await client.post("/v1/briefs", json=minimal, headers=owner.headers)
    assert r.status_code == 201, r.text
    assert r.json()["terms_defaults"]["approval_policy"] == "first"
    assert r.json()["visibility"] == "public" and r.json()["target_audience"]["countries"] == []


async def test_budget_warning_when_per_influencer_budget_is_below_the_fair_range(client):
    owner, brand_id = await _brand(client)
    budget = {"currency": "EUR", "total": 100_000, "per_influencer_min": 1000,
              "per_influencer_max": 2000}  # fmt: skip
    brief = await create_brief(client, owner, brand_id, budget=budget)
    assert "below" in brief["budget_warning"]
    got = (await client.get(f"/v1/briefs/{brief['id']}", headers=owner.headers)).json()
    assert got["budget_warning"] == brief["budget_warning"]


def _set(body: dict, path: str, value) -> dict:
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "field", "rule"),
    [
        ("budget.total", 100.5, "budget.total", "int_type"),
        ("budget.total", "1000000", "budget.total", "int_type"),
        ("budget.per_influencer_min", 1e-3, "budget.per_influencer_min", "int_type"),
        ("budget.total", -1, "budget.total", "greater_than_equal"),
        ("budget.currency", "XYZ", "budget.currency", "unsupported_currency"),
        ("budget.per_influencer_min", 200_000, "budget.per_influencer_min", "min_above_max"),
        ("budget.per_influencer_max", 2_000_000, "budget.per_influencer_max", "above_total"),
        ("timeline.application_deadline", "2026-11-23", "timeline.application_deadline",
         "in_past"),
        ("timeline.content_due", "2026-12-09", "timeline.content_due", "out_of_order"),
        ("timeline.publish_start", "2026-12-19", "timeline.publish_start", "out_of_order"),
        ("timeline.publish_end", "2026-12-20", "timeline.publish_end", "out_of_order"),
        ("timeline.content_due", "soon", "timeline.content_due", "date_from_datetime_parsing"),
        ("platforms", ["instagram", "myspace"], "platforms.1", "enum"),
        ("platforms", [], "platforms", "too_short"),
        ("deliverables.0.type", "tiktok_video", "deliverables.0.type", "platform_not_in_brief"),
        ("deliverables.0.type", "instagram_live", "deliverables.0.type", "enum"),
        ("deliverables.0.count", 0, "deliverables.0.count", "greater_than_equal"),
        ("deliverables.0.count", 1.5, "deliverables.0.count", "int_type"),
        ("deliverables", [{"type": "instagram_reel", "count": 1}] * 2, "deliverables.1.type",
         "unique_items"),
        ("objective", "fame", "objective", "literal_error"),
        ("visibility", "secret", "visibility", "enum"),
        ("target_audience.age_bands", ["10-12"], "target_audience.age_bands.0", "literal_error"),
        ("terms_defaults.revision_cap", -1, "terms_defaults.revision_cap", "greater_than_equal"),
        ("kpis.0.target", 10.5, "kpis.0.target", "int_type"),
        ("state", "open", "state", "extra_forbidden"),
    ],
)  # fmt: skip
async def test_brief_validation_names_field_and_rule(client, path, value, field, rule):
    owner, brand_id = await _brand(client)
    r = await client.post(
        "/v1/briefs", json=_set(brief_body(brand_id), path, value), headers=owner.headers
    )
    body = assert_problem(r, 422, "validation-error")
    assert {"field": field, "rule": rule} in [
        {"field": e["field"], "rule": e["rule"]} for e in body["errors"]
    ], body["errors"]
    listed = await client.get("/v1/briefs", params={"brand_id": brand_id}, headers=owner.headers)
    assert listed.json()["data"] == []  # nothing half-written


async def test_every_broken_rule_is_reported_at_once(client):
    owner, brand_id = await _brand(client)
    body = _set(brief_body(brand_id), "budget.per_influencer_min", 200_000)
    body = _set(body, "timeline.publish_end", "2026-12-01")
    r = await client.post("/v1/briefs", json=body, headers=owner.headers)
    fields = {e["field"] for e in assert_problem(r, 422)["errors"]}
    assert fields == {"budget.per_influencer_min", "timeline.publish_end"}


def test_the_transition_table_is_the_documented_lifecycle():
    assert {(s.value, a): t.value for (s, a), t in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize("state", STATES)
async def test_every_transition_legal_and_illegal(client, state):
    owner, brand_id = await _brand(client)
    allowed = [a for a in ACTIONS if (state, a) in EXPECTED]
    for action in ACTIONS:
        brief = await create_brief(client, owner, brand_id, state=state)
        r = await client.post(f"/v1/briefs/{brief['id']}/{action}", headers=owner.headers)
        if (state, action) in EXPECTED:
            assert r.status_code == 200, r.text
            assert r.json()["state"] == EXPECTED[(state, action)]
        else:
            body = assert_problem(r, 409, "invalid-transition")
            assert body["current_state"] == state
            assert body["allowed_actions"] == allowed
            assert state in body["detail"] and action in body["detail"]
            got = await client.get(f"/v1/briefs/{brief['id']}", headers=owner.headers)
            assert got.json()["state"] == state


async def test_opening_needs_a_brief_that_is_valid_today(client, clock):
    owner, brand_id = await _brand(client)
    brief = await create_brief(client, owner, brand_id)
    clock.advance(timedelta(days=20))  # past the application deadline
    owner = await relogin(client, owner)
    r = await client.post(f"/v1/briefs/{brief['id']}/open", headers=owner.headers)
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["field"] == "timeline.application_deadline"
    assert body["errors"][0]["rule"] == "in_past"


async def test_concurrent_transitions_have_one_winner(client):
    owner, brand_id = await _brand(client)
    brief = await create_brief(client, owner, brand_id)
    url = f"/v1/briefs/{brief['id']}"
    results = await asyncio.gather(
        *(client.post(f"{url}/open", headers=owner.headers) for _ in range(6))
    )
    assert [r.status_code for r in results].count(200) == 1
    for r in results:
        if r.status_code != 200:
            body = assert_problem(r, 409, "invalid-transition")
            assert body["current_state"] == "open"
    got = (await client.get(url, headers=owner.headers)).json()
    assert got["state"] == "open"


async def test_editing_by_state(client):
    owner, brand_id = await _brand(client)
    h = owner.headers
    draft = await create_brief(client, owner, brand_id)
    r = await client.patch(
        f"/v1/briefs/{draft['id']}",
        json={"title": "New", "platforms": ["instagram", "tiktok"], "category": None},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "New" and r.json()["category"] is None
    # A patch is validated against the whole brief.
    r = await client.patch(f"/v1/briefs/{draft['id']}", json={"platforms": ["tiktok"]}, headers=h)
    assert assert_problem(r, 422)["errors"][0]["rule"] == "platform_not_in_brief"
    assert_problem(
        await client.patch(f"/v1/briefs/{draft['id']}", json={"title": None}, headers=h), 422
    )
    assert_problem(
        await client.patch(f"/v1/briefs/{draft['id']}", json={"brand_id": "brd_x"}, headers=h),
        422,
    )

    opened = await create_brief(client, owner, brand_id, state="open")
    url = f"/v1/briefs/{opened['id']}"
    r = await client.patch(url, json={"description": "Clarified", "must_haves": []}, headers=h)
    assert r.status_code == 200 and r.json()["description"] == "Clarified"
    later = opened["timeline"] | {"application_deadline": "2026-12-15"}
    r = await client.patch(url, json={"timeline": later}, headers=h)
    assert r.status_code == 200 and r.json()["timeline"] == later
    for change in (
        {"budget": opened["budget"] | {"per_influencer_max": 100_000}},
        {"timeline": later | {"application_deadline": "2026-12-12"}},  # earlier
        {"timeline": later | {"publish_end": "2027-02-01"}},
        {"visibility": "invite_only"},
    ):
        body = assert_problem(await client.patch(url, json=change, headers=h), 409)
        assert body["type"].endswith("brief-not-editable")
        assert body["current_state"] == "open" and "description" in body["editable_fields"]
    closed = await create_brief(client, owner, brand_id, state="closed")
    body = assert_problem(
        await client.patch(f"/v1/briefs/{closed['id']}", json={"description": "x"}, headers=h),
        409,
        "brief-not-editable",
    )
    assert body["editable_fields"] == []


async def test_visibility_drafts_and_invite_only_are_404_to_outsiders(client):
    owner, brand_id = await _brand(client)
    teammate, outsider = await register(client), await register(client)
    await add_member(client, brand_id, owner, teammate)
    draft = await create_brief(client, owner, brand_id, title="Draft")
    public = await create_brief(client, owner, brand_id, state="open", title="Public")
    invite = await create_brief(
        client, owner, brand_id, state="open", visibility="invite_only", title="Invite"
    )
    closed = await create_brief(client, owner, brand_id, state="closed", title="Closed")

    for brief, outsider_status in [(draft, 404), (public, 200), (invite, 404), (closed, 200)]:
        r = await client.get(f"/v1/briefs/{brief['id']}", headers=outsider.headers)
        assert r.status_code == outsider_status, brief["title"]
        if outsider_status == 404:
            assert_problem(r, 404, "brief-not-found")
        r = await client.get(f"/v1/briefs/{brief['id']}", headers=teammate.headers)
        assert r.status_code == 200  # every member of the brand reads every state

    def titles(page):
        return sorted(b["title"] for b in page.json()["data"])

    # The catalogue: others' open public briefs; your brands' briefs in every state.
    assert titles(await client.get("/v1/briefs", headers=outsider.headers)) == ["Public"]
    assert titles(await client.get("/v1/briefs", headers=teammate.headers)) == [
        "Closed",
        "Draft",
        "Invite",
        "Public",
    ]
    r = await client.get(
        "/v1/briefs", params={"brand_id": brand_id, "state": "draft"}, headers=outsider.headers
    )
    assert r.json()["data"] == []
    r = await client.get("/v1/briefs", params={"state": ["draft", "closed"]}, headers=owner.headers)
    assert titles(r) == ["Closed", "Draft"]


async def test_other_tenants_cannot_manage_briefs(client):
    owner, brand_id = await _brand(client)
    outsider = await register(client)
    _, other_brand = await _brand(client)
    public = await create_brief(client, owner, brand_id, state="open")
    h = outsider.headers
    for method, path, body in [
        ("PATCH", f"/v1/briefs/{public['id']}", {"description": "mine"}),
        ("POST", f"/v1/briefs/{public['id']}/close", None),
        ("POST", f"/v1/briefs/{public['id']}/cancel", None),
    ]:
        assert_problem(await client.request(method, path, json=body, headers=h), 404)
    # Creating a brief for a brand you are not in.
    r = await client.post("/v1/briefs", json=brief_body(other_brand), headers=h)
    assert_problem(r, 404, "brand-not-found")
    assert (await client.get(f"/v1/briefs/{public['id']}", headers=h)).json()["state"] == "open"
    assert_problem(await client.get("/v1/briefs/brf_nope", headers=h), 404, "brief-not-found")


# --- budgets are strictly positive (issue 11 item 5) --------------------------------------------


@pytest.mark.parametrize("field", ["total", "per_influencer_min", "per_influencer_max"])
async def test_a_zero_budget_is_refused_at_creation_and_at_update(client, field):
    """A per-influencer budget of 0 was accepted, and `/matches` on that brief was a 500."""
    owner, brand_id = await _brand(client)
    body = brief_body(brand_id)
    zero = _set(copy.deepcopy(body), f"budget.{field}", 0)
    r = await client.post("/v1/briefs", json=zero, headers=owner.headers)
    problem = assert_problem(r, 422, "validation-error")
    assert {"field": f"budget.{field}", "rule": "greater_than_equal"} in [
        {"field": e["field"], "rule": e["rule"]} for e in problem["errors"]
    ], problem["errors"]
    listed = await client.get("/v1/briefs", params={"brand_id": brand_id}, headers=owner.headers)
    assert listed.json()["data"] == []

    draft = await create_brief(client, owner, brand_id)
    r = await client.patch(
        f"/v1/briefs/{draft['id']}",
        json={"budget": draft["budget"] | {field: 0}},
        headers=owner.headers,
    )
    problem = assert_problem(r, 422, "validation-error")
    assert [e["field"] for e in problem["errors"]] == [f"budget.{field}"]
    got = await client.get(f"/v1/briefs/{draft['id']}", headers=owner.headers)
    assert got.json()["budget"] == draft["budget"]
    matches = await client.get(f"/v1/briefs/{draft['id']}/matches", headers=owner.headers)
    assert matches.status_code == 200, matches.text


async def test_the_schema_states_that_a_must_have_is_not_blank(client):
    # Found by schemathesis: "  " matched the schema (minLength 1) but is refused once stripped.
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["BriefIn"]
    assert schema["properties"]["must_haves"]["items"]["pattern"] == r"\S"


async def test_the_budget_schema_states_strictly_positive_amounts(client):
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["Budget"]
    for field in ("total", "per_influencer_min", "per_influencer_max"):
        assert schema["properties"][field]["minimum"] == 1


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"per_influencer_min": 200_000}, "budget.per_influencer_min", "min_above_max"),
        ({"per_influencer_max": 2_000_000}, "budget.per_influencer_max", "above_total"),
    ],
)
async def test_budget_bounds_hold_at_update_too(client, change, field, rule):
    owner, brand_id = await _brand(client)
    draft = await create_brief(client, owner, brand_id)
    r = await client.patch(
        f"/v1/briefs/{draft['id']}",
        json={"budget": draft["budget"] | change},
        headers=owner.headers,
    )
    problem = assert_problem(r, 422, "validation-error")
    assert [(e["field"], e["rule"]) for e in problem["errors"]] == [(field, rule)]
    got = await client.get(f"/v1/briefs/{draft['id']}", headers=owner.headers)
    assert got.json()["budget"] == draft["budget"]
