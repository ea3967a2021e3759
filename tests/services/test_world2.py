"""The second world generator: reproducible, valid API bodies, truth that follows its rules."""

from __future__ import annotations

from collections import Counter
from datetime import date

from app.schemas.briefs import BriefIn
from app.schemas.influencers import InfluencerIn
from rapport_dev.world2 import FAKE_KINDS, api_brief, generate_world

TODAY = date(2026, 11, 24)


def test_a_seed_gives_the_same_world_and_another_seed_another() -> None:
    a = generate_world(creators=200, briefs=6, seed=5, today=TODAY)
    b = generate_world(creators=200, briefs=6, seed=5, today=TODAY)
    c = generate_world(creators=200, briefs=6, seed=6, today=TODAY)
    assert [x.body for x in a.creators] == [x.body for x in b.creators]
    assert a.briefs == b.briefs and a.truth == b.truth
    assert [x.body for x in a.creators] != [x.body for x in c.creators]


def test_bodies_pass_the_api_validation_and_truth_follows_the_rules() -> None:
    world = generate_world(creators=400, briefs=8, seed=2, today=TODAY)
    for creator in world.creators:
        InfluencerIn.model_validate(creator.body)
    for brief in world.briefs:
        BriefIn.model_validate(api_brief(brief, "brd_x"))
    kinds = Counter(world.kinds)
    assert {"honest", "pod", "gradual", "abroad", "overexposed"} <= set(kinds)
    for b, brief in enumerate(world.briefs):
        for k, creator in enumerate(world.creators):
            grade = world.truth[b][k]
            if creator.kind in FAKE_KINDS or creator.kind == "overexposed":
                assert grade == 0
            if grade == 3:
                assert creator.main == brief["_subject"]
    assert any(g == 3 for row in world.truth for g in row)
