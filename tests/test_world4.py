"""rapport_dev/world4, the held-out world: the same world for the same seed, bodies the API takes
(by its schemas and rules, and through HTTP), and a planted truth a marketer would sign."""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

import httpx

from app.schemas.brands import BrandIn
from app.schemas.briefs import BriefIn
from app.schemas.influencers import InfluencerIn
from app.services.catalogue.briefs import check_brief
from rapport_dev.world4 import DORMANT, FAKE_KINDS, OVER_KINDS, World, generate_world, grade
from tests.factories import T0, register

TODAY = T0.date()


@cache
def world(seed: int = 5, creators: int = 1500, briefs: int = 12) -> World:
    return generate_world(creators=creators, briefs=briefs, seed=seed, today=TODAY)


def test_the_same_seed_gives_the_same_world_and_another_seed_another() -> None:
    a = generate_world(creators=300, briefs=3, seed=9, today=TODAY)
    b = generate_world(creators=300, briefs=3, seed=9, today=TODAY)
    c = generate_world(creators=300, briefs=3, seed=10, today=TODAY)
    assert [x.body for x in a.creators] == [x.body for x in b.creators]
    assert [x.body for x in a.briefs] == [x.body for x in b.briefs]
    assert a.brands == b.brands
    assert a.grades == b.grades
    assert [x.body for x in a.creators] != [x.body for x in c.creators]


def test_every_body_passes_the_api_schemas_and_the_brief_rules() -> None:
    w = world()
    for c in w.creators:
        InfluencerIn.model_validate(c.body)
    for brand in w.brands:
        BrandIn.model_validate(brand)
    for b in w.briefs:
        doc = BriefIn.model_validate({**b.body, "brand_id": "brd_x"}).model_dump(mode="json")
        check_brief(doc, TODAY)


def test_handles_are_unique_per_platform() -> None:
    seen = Counter(
        (a["platform"], a["handle"].lower()) for c in world().creators for a in c.body["accounts"]
    )
    assert seen.most_common(1)[0][1] == 1


def test_the_world_holds_every_pattern_it_claims() -> None:
    w = world()
    kinds = Counter(c.kind for c in w.creators)
    for kind in (*FAKE_KINDS, *OVER_KINDS, DORMANT):
        assert kinds[kind] >= 5, kind
    traits = Counter(t for c in w.creators if c.kind == "honest" for t in c.traits)
    for trait in ("diaspora", "viral", "premium", "niche", "multilingual", "sparse", "pro"):
        assert traits[trait] >= 10, trait
    currencies = {r["currency"] for c in w.creators for r in c.body.get("rate_card", ())}
    assert {"JPY", "KRW", "EUR", "USD", "INR"} <= currencies
    assert len({c.body["languages"][0] for c in w.creators}) >= 10


def test_fakes_the_over_exposed_and_the_dormant_are_graded_zero() -> None:
    w = world()
    bad = {c.index for c in w.creators if c.kind != "honest"}
    assert bad == w.fake | w.over | {c.index for c in w.creators if c.kind == DORMANT}
    for grades in w.grades:
        assert not bad & set(grades)


def test_every_brief_has_at_least_ten_good_creators_and_grades_are_0_to_3() -> None:
    w = world()
    for grades in w.grades:
        assert sum(g >= 2 for g in grades.values()) >= 10
        assert set(grades.values()) <= {1, 2, 3}


def test_grades_follow_the_latent_facts() -> None:
    w = world()
    for b, grades in zip(w.briefs, w.grades, strict=True):
        for k in grades:
            c = w.creators[k]
            assert c.platforms & set(b.platforms)
            assert b.category not in c.refused
            assert sum(c.audience.get(x, 0) for x in b.countries) >= 0.10


def test_price_out_of_budget_lowers_but_never_zeroes_a_fit() -> None:
    w = world()
    b = w.briefs[0]
    fits = [c for c in w.creators if w.grades[0].get(c.index) == 3]
    assert fits
    c = fits[0]
    for acc in c.accounts:  # the same creator asking fifty times the budget
        acc.quote_usd = {t: usd * 50 * 10**6 for t, usd in acc.quote_usd.items()}
    try:
        assert grade(c, b) == 1
    finally:
        for acc in c.accounts:
            acc.quote_usd = {t: usd / (50 * 10**6) for t, usd in acc.quote_usd.items()}
    assert grade(c, b) == 3


async def test_a_slice_of_the_world_loads_and_ranks_through_the_api(
    client: httpx.AsyncClient,
) -> None:
    """One creator of every kind and trait (sparse ones included) and two briefs, through
    `POST /v1/influencers/me`, `/v1/brands`, `/v1/briefs`, `/open` and `/matches`."""
    w = world()
    picked: dict[str, Any] = {}
    for c in w.creators:
        for label in (c.kind, *sorted(c.traits)):
            picked.setdefault(label, c)
    for c in list({c.index: c for c in picked.values()}.values())[:24]:
        account = await register(client)
        r = await client.post("/v1/influencers/me", json=c.body, headers=account.headers)
        assert r.status_code == 201, r.text
    owner = await register(client)
    for b in w.briefs[:2]:
        r = await client.post("/v1/brands", json=w.brands[b.brand], headers=owner.headers)
        assert r.status_code == 201, r.text
        r = await client.post(
            "/v1/briefs", json={**b.body, "brand_id": r.json()["id"]}, headers=owner.headers
        )
        assert r.status_code == 201, r.text
        brief_id = r.json()["id"]
        r = await client.post(f"/v1/briefs/{brief_id}/open", headers=owner.headers)
        assert r.status_code == 200, r.text
        r = await client.get(f"/v1/briefs/{brief_id}/matches", headers=owner.headers)
        assert r.status_code == 200, r.text


def test_the_harness_plugs_world4_in_and_scores_the_ideal_ranking_1() -> None:
    from benchmarks.matching.outside import summarise, world4_case

    case = world4_case(4, TODAY, 1200, 6)
    assert case.generator == "world4"
    assert len(case.briefs) == len(case.brief_brand) == len(case.grades) == 6
    assert case.fake and case.over and not case.fake & case.over
    ideal = [sorted(g, key=lambda k: -g[k])[:10] for g in case.grades]
    worst = [sorted(case.fake)[:10] for _ in case.grades]
    out = summarise(case, {"ideal": ideal, "worst": worst})
    assert out["ideal"]["ndcg10"] == 1.0 and out["ideal"]["bad_share_top10"] == 0
    assert out["worst"]["ndcg10"] == 0 and out["worst"]["fake_share_top10"] == 1.0
