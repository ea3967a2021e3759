"""Prices are strictly positive wherever terms are written (issue 11 item 5): a bid, an offer,
a counter-offer and every milestone of a payment schedule refuse 0 with a 422 naming the field,
and change nothing."""

from __future__ import annotations

import pytest

from tests.factories import assert_problem, bid_body, offer_body, open_deal


def _errors(response) -> list[tuple[str, str]]:
    body = assert_problem(response, 422, "validation-error")
    return [(e["field"], e["rule"]) for e in body["errors"]]


@pytest.mark.parametrize("price", [0, -1])
async def test_offers_and_counter_offers_refuse_a_price_below_one(client, price):
    deal = await open_deal(client)
    url = f"/v1/bids/{deal.bid['id']}/offers"
    r = await client.post(url, json=offer_body(price=price), headers=deal.brand_owner.headers)
    assert ("price", "greater_than_equal") in _errors(r)
    bid = (await client.get(f"/v1/bids/{deal.bid['id']}", headers=deal.influencer.headers)).json()
    assert bid["latest_offer_id"] is None
    # The influencer's counter-offer is the same body, with the same rule.
    first = await client.post(url, json=offer_body(), headers=deal.brand_owner.headers)
    assert first.status_code == 201, first.text
    r = await client.post(url, json=offer_body(price=price), headers=deal.influencer.headers)
    assert ("price", "greater_than_equal") in _errors(r)


async def test_a_milestone_of_zero_is_refused(client):
    deal = await open_deal(client)
    schedule = [
        {"amount": 0, "deliverables": ["reels"]},
        {"amount": 120_000, "on_completion": True},
    ]
    r = await client.post(
        f"/v1/bids/{deal.bid['id']}/offers",
        json=offer_body(payment_schedule=schedule),
        headers=deal.brand_owner.headers,
    )
    assert ("payment_schedule.0.amount", "greater_than_equal") in _errors(r)


async def test_a_bid_of_zero_is_refused(client):
    deal = await open_deal(client)
    r = await client.post(
        f"/v1/briefs/{deal.brief['id']}/bids",
        json=bid_body(price=0),
        headers=deal.influencer.headers,
    )
    assert ("price", "greater_than_equal") in _errors(r)


async def test_the_schema_states_prices_of_at_least_one(client):
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert schemas["BidIn"]["properties"]["price"]["minimum"] == 1
    assert schemas["OfferIn"]["properties"]["price"]["minimum"] == 1
    assert schemas["MilestoneIn"]["properties"]["amount"]["minimum"] == 1
