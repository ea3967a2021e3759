"""Defects `make load` (benchmarks/load/run.py) found, each pinned by the smallest test that
failed before its fix. The concurrency ones matter on PostgreSQL (`RAPPORT_TEST_BACKEND=
postgresql`); on SQLite `BEGIN IMMEDIATE` serialises the transactions and they pass trivially.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.factories import create_bid, create_brand, create_brief, make_offer, register

CALLERS = 8


async def test_concurrent_acceptances_of_one_influencer_never_deadlock(client, make_client):
    """One creator accepting offers of several briefs at once: every acceptance makes its
    contract. Before the fix each acceptance took a key-share lock on the influencer's row
    (the bid's update checks its foreign key) and then asked for `FOR UPDATE` on the same row,
    so two of them at once deadlocked and PostgreSQL killed one: a 500."""
    owner = await register(client)
    brand = await create_brand(client, owner)
    influencer = await register(client)
    response = await client.post(
        "/v1/influencers/me",
        json={"display_name": "Mara Lind", "country": "SE", "languages": ["sv", "en"]},
        headers=influencer.headers,
    )
    assert response.status_code == 201, response.text
    clients = [make_client() for _ in range(CALLERS)]
    try:
        for _ in range(3):  # a deadlock needs the transactions to overlap just so: a few rounds
            offers = []
            for _ in range(CALLERS):
                brief = await create_brief(client, owner, brand["id"], state="open")
                bid = await create_bid(client, influencer, brief["id"])
                offers.append(await make_offer(client, owner, bid["id"]))
            responses = await asyncio.gather(
                *(
                    c.post(f"/v1/offers/{o['id']}/accept", headers=influencer.headers)
                    for c, o in zip(clients, offers, strict=True)
                )
            )
            statuses = Counter(r.status_code for r in responses)
            assert statuses == {200: CALLERS}, [r.text for r in responses if r.status_code != 200]
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
