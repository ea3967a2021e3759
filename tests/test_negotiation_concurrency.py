"""Many callers at once on one negotiation: exactly one wins, everyone else gets a clean 409/412.

Each caller is its own httpx client over the ASGI app, and the requests run together with
`asyncio.gather`: every request takes its own session and connection from the pool, so on
PostgreSQL the transactions really overlap (checked: the pool hands out several connections at
the same time) and the bid's compare-and-set / row lock decides the winner. On SQLite the same
tests run too; there `BEGIN IMMEDIATE` serialises the transactions, and the losers find the
negotiation already moved.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import contextmanager

from sqlalchemy import event, func, select

from app.models import Contract, Offer
from tests.conftest import BACKEND
from tests.factories import make_offer, offer_body, open_deal

CALLERS = 50


@contextmanager
def connection_peak(database):
    """The largest number of pool connections checked out at once while the block runs."""
    state = {"now": 0, "peak": 0}

    def checkout(*_):
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])

    def checkin(*_):
        state["now"] -= 1

    engine = database.engine.sync_engine
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield state
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)


async def _count(database, stmt) -> int:
    async with database.sessionmaker() as session:
        return await session.scalar(stmt) or 0


async def test_fifty_concurrent_accepts_make_exactly_one_contract(client, make_client, database):
    deal = await open_deal(client)
    offer = await make_offer(client, deal.brand_owner, deal.bid["id"])
    clients = [make_client() for _ in range(CALLERS)]
    url = f"/v1/offers/{offer['id']}/accept"
    try:
        with connection_peak(database) as pool:
            responses = await asyncio.gather(
                *(c.post(url, headers=deal.influencer.headers) for c in clients)
            )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: CALLERS - 1}, statuses
    winner = next(r.json() for r in responses if r.status_code == 200)
    problems = Counter(
        r.json()["type"].rsplit("/", 1)[1] for r in responses if r.status_code == 409
    )
    assert set(problems) <= {"negotiation-changed", "invalid-transition", "concurrent-transition"}
    assert await _count(database, select(func.count()).select_from(Contract)) == 1
    assert await _count(database, select(func.count()).where(Contract.offer_id == offer["id"])) == 1
    r = await client.get(f"/v1/contracts/{winner['contract_id']}", headers=deal.brand_owner.headers)
    assert r.status_code == 200 and len(r.json()["deliverables"]) == 3
    if BACKEND == "postgresql":
        # The transactions overlapped: several connections were in use at once.
        assert pool["peak"] > 1, pool


async def _two_counters(client, make_client, database, *, with_if_match: bool):
    deal = await open_deal(client)
    await make_offer(client, deal.brand_owner, deal.bid["id"])
    url = f"/v1/bids/{deal.bid['id']}/offers"
    headers = deal.influencer.headers
    if with_if_match:
        etag = (await client.get(f"/v1/bids/{deal.bid['id']}", headers=headers)).headers["etag"]
        headers = headers | {"If-Match": etag}
    clients = [make_client(), make_client()]
    try:
        with connection_peak(database) as pool:
            responses = await asyncio.gather(
                clients[0].post(
                    url, json=offer_body(price=120_000, revision_cap=1), headers=headers
                ),
                clients[1].post(
                    url, json=offer_body(price=120_000, revision_cap=3), headers=headers
                ),
            )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 201 and statuses[1] in (409, 412), [r.text for r in responses]
    loser = next(r for r in responses if r.status_code != 201)
    assert loser.headers["content-type"].startswith("application/problem+json")
    offers = await _count(
        database, select(func.count()).where(Offer.bid_id == deal.bid["id"], Offer.version == 2)
    )
    assert offers == 1
    return pool, loser


async def test_two_concurrent_counter_offers_with_if_match(client, make_client, database):
    pool, loser = await _two_counters(client, make_client, database, with_if_match=True)
    assert loser.json()["type"].endswith(("precondition-failed", "negotiation-changed")), loser.text
    if BACKEND == "postgresql":
        assert pool["peak"] > 1, pool


async def test_two_concurrent_counter_offers_without_if_match(client, make_client, database):
    _, loser = await _two_counters(client, make_client, database, with_if_match=False)
    # The loser either lost the compare-and-set or found it is no longer its turn.
    assert loser.json()["type"].endswith(("negotiation-changed", "not-your-turn")), loser.text
