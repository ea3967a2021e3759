"""The third world generator (issue 13 item 2): reproducible, valid API bodies (with and
without per-post data), nothing dated in the future, truth that follows its rules."""

from __future__ import annotations

from collections import Counter
from datetime import date

from app.schemas.briefs import BriefIn
from app.schemas.influencers import InfluencerIn
from rapport_dev.world3 import FAKE_KINDS, OVER_KINDS, generate_world

TODAY = date(2026, 11, 24)


def test_a_seed_gives_the_same_world_and_another_seed_another() -> None:
    a = generate_world(creators=150, briefs=4, seed=5, today=TODAY)
    b = generate_world(creators=150, briefs=4, seed=5, today=TODAY)
    c = generate_world(creators=150, briefs=4, seed=6, today=TODAY)
    assert [x.detail_body for x in a.creators] == [x.detail_body for x in b.creators]
    assert a.briefs == b.briefs and a.truth == b.truth
    assert [x.body for x in a.creators] != [x.body for x in c.creators]


def test_bodies_pass_the_api_validation_and_truth_follows_the_rules() -> None:
    world = generate_world(creators=400, briefs=8, seed=2, today=TODAY)
    latest = ""
    for creator in world.creators:
        InfluencerIn.model_validate(creator.body)
        InfluencerIn.model_validate(creator.detail_body)
        for account in creator.detail_body["accounts"]:
            for post in account.get("recent_posts", ()):
                latest = max(latest, post["posted_at"])
    assert latest <= f"{TODAY.isoformat()}T00:00:00Z"  # the API refuses posts from the future
    for brief in world.briefs:
        BriefIn.model_validate({**brief, "brand_id": "brd_x"})
    assert {"honest", "pod", "bulk", "drip", "overexposed"} <= set(
        Counter(c.kind for c in world.creators)
    )
    for b, row in enumerate(world.truth):
        platforms = set(world.briefs[b]["platforms"])
        for k, grade in enumerate(row):
            creator = world.creators[k]
            if creator.kind in FAKE_KINDS | OVER_KINDS or not platforms <= creator.platforms:
                assert grade == 0
    assert any(g == 3 for row in world.truth for g in row)
