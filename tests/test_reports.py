"""Campaign reports and share of voice (issue 15 items 6-7): the arithmetic on hand-computed
cases (a zero-decimal currency and zero denominators included), mixed currencies never summed,
the report over a real deal with its sources, its CSV, its charts (a valid SVG and PNG), share
of voice with the market withheld below three brands, and a brand's notes seen by nobody else."""

from __future__ import annotations

import csv
import io
import struct
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import httpx
from PIL import Image

from app.services.measurement.arithmetic import (
    Count,
    Facts,
    Money,
    contract_block,
    currency_blocks,
)
from tests.delivery_support import Delivery, MoneyRecorder, funded
from tests.factories import Account, active_contract, assert_problem, open_deal
from tests.test_tracking import CHROME, Shop, _link


def _facts(**fields: Any) -> Facts:
    base: dict[str, Any] = {
        "contract_id": "ctr_1",
        "influencer_id": "inf_1",
        "influencer_name": "Mia",
        "state": "active",
        "currency": "EUR",
        "spend": 120_000,
        "reported": {},
        "reported_revenue": {},
    }
    return Facts(**base | fields)


def _reported(**values: int) -> dict[str, Count]:
    return {k: Count(v, frozenset({"self_reported"})) for k, v in values.items()}


def test_report_arithmetic_on_a_hand_computed_euro_contract() -> None:
    # 1,200.00 EUR; 48,000 impressions; 1,000 + 100 + 50 + 50 = 1,200 engagements; 300 clicks
    # and 12 orders measured by Rapport for 600.00 EUR.
    f = _facts(
        reported=_reported(impressions=48_000, likes=1_000, comments=100, shares=50, saves=50),
        has_links=True,
        clicks=300,
        conversions=12,
        revenue={"EUR": 60_000},
        kpis=[("impressions", 200_000), ("clicks", 250), ("views", 10_000)],
    )
    b = contract_block(f)
    r = {k: v.value for k, v in b.ratios.items()}
    assert r["cpm"] == Decimal("25.0000")  # 1200.00 * 1000 / 48000
    assert r["cpe"] == Decimal("1.0000")  # 1200.00 / 1200
    assert r["cpc"] == Decimal("4.0000")  # 1200.00 / 300
    assert r["cpa"] == Decimal("100.0000")  # 1200.00 / 12
    assert r["roas"] == Decimal("0.5000")  # 600.00 / 1200.00
    assert r["engagement_rate"] == Decimal("0.0250")  # 1200 / 48000
    assert r["click_through_rate"] == Decimal("0.0062")  # 300 / 48000 = 0.00625, half to even
    assert r["conversion_rate"] == Decimal("0.0400")  # 12 / 300
    assert b.figures.counts["engagements"].value == 1_200
    assert not b.figures.counts["impressions"].verified  # self-reported: a claim
    assert b.figures.counts["clicks"].verified and b.figures.counts["clicks"].sources == {"rapport"}
    impressions, clicks, views = b.kpis
    assert (impressions.attainment, impressions.met) == (Decimal("0.2400"), False)
    assert (clicks.attainment, clicks.met) == (Decimal("1.2000"), True)
    assert views.actual is None and views.met is None and "no source for views" in views.reason


def test_zero_decimal_currency_and_zero_denominators_give_null_with_a_reason() -> None:
    # 150,000 JPY (no minor unit): CPM = 150000 * 1000 / 70000 = 2142.857142… → 2 decimals.
    f = _facts(
        currency="JPY",
        spend=150_000,
        reported=_reported(impressions=70_000, likes=0),
        has_links=True,
        clicks=7,
        conversions=0,
        revenue={"USD": 1_500},
    )
    r = contract_block(f).ratios
    assert r["cpm"].value == Decimal("2142.86") and r["cpm"].unit == "JPY"
    assert r["cpc"].value == Decimal("21428.57")  # 150000 / 7 = 21428.5714…
    assert r["cpe"].value is None and "engagements is 0" in (r["cpe"].reason or "")
    assert r["cpa"].value is None and "conversions is 0" in (r["cpa"].reason or "")
    assert r["conversion_rate"].value == Decimal("0.0000")
    # Revenue in dollars is shown, never converted into the yen spend.
    assert r["roas"].value is None and "revenue only in USD" in (r["roas"].reason or "")

    nothing = contract_block(_facts(reported=_reported(impressions=0), spend=0))
    n = nothing.ratios
    assert n["cpm"].value is None and "impressions is 0" in (n["cpm"].reason or "")
    assert n["cpc"].value is None and n["cpc"].reason == "no clicks reported or measured"
    assert n["roas"].value is None and "spend is 0" in (n["roas"].reason or "")
    assert n["engagement_rate"].value is None and n["click_through_rate"].value is None
    assert nothing.figures.counts["unique_visitors"].reason == "no tracked link"


def test_totals_are_per_currency_and_never_sum_money_across_them() -> None:
    eur_a = _facts(contract_id="a", reported=_reported(impressions=10_000), spend=50_000)
    eur_b = _facts(
        contract_id="b",
        reported=_reported(impressions=30_000),
        spend=70_000,
        reported_revenue={"EUR": Money("EUR", 240_000, frozenset({"screenshot"}))},
    )
    jpy = _facts(contract_id="c", currency="JPY", spend=90_000, reported=_reported(impressions=1))
    eur, yen = currency_blocks([eur_a, eur_b, jpy])
    assert (eur.currency, eur.spend, yen.currency, yen.spend) == ("EUR", 120_000, "JPY", 90_000)
    assert eur.figures.counts["impressions"].value == 40_000
    assert eur.ratios["cpm"].value == Decimal("30.0000")  # 1200.00 * 1000 / 40000
    assert eur.ratios["roas"].value == Decimal("2.0000")  # 2400.00 / 1200.00
    assert yen.ratios["cpm"].value == Decimal("90000000.00")  # 90000 * 1000 / 1


async def _publish_and_report(d: Delivery, **figures: Any) -> None:
    published = await d.publish(d.ids[0])
    assert published["state"] == "published", published
    r = await d.client.post(
        f"/v1/deliverables/{d.ids[0]}/metrics", json=figures, headers=d.influencer.headers
    )
    assert r.status_code == 201, r.text


async def test_brief_report_shows_sources_currencies_csv_and_charts(
    client: httpx.AsyncClient, app: Any, make_client: Any
) -> None:
    d = await funded(client, app, kpis=[{"metric": "impressions", "target": 40_000}])
    # The creator claims 5,000 clicks; Rapport counts two.
    await _publish_and_report(
        d, source="self_reported", impressions=48_000, likes=1_000, clicks=5_000
    )
    r = await client.post(
        f"/v1/deliverables/{d.ids[0]}/metrics",
        json={"source": "platform_api", "reach": 30_000},
        headers=d.brand.headers,
    )
    assert r.status_code == 201, r.text
    link = await _link(d)
    for ip in ("198.51.100.1", "198.51.100.2"):
        async with make_client(ip=ip) as visitor:
            await visitor.get(f"/r/{link['code']}", headers={"user-agent": CHROME})
    async with make_client(ip="198.51.100.3") as bot:
        await bot.get(f"/r/{link['code']}", headers={"user-agent": "Googlebot/2.1"})
    made = await client.post(
        f"/v1/brands/{d.deal.brand['id']}/conversion-secret", headers=d.brand.headers
    )
    shop = Shop(d, made.json()["secret"])
    for order_id, amount, currency in (("1", 30_000, "EUR"), ("2", 500, "JPY")):
        body = {"type": "order", "order_id": order_id, "amount": amount, "currency": currency,
                "link_code": link["code"]}  # fmt: skip
        assert (await shop.post(body)).status_code == 201

    r = await client.get(f"/v1/briefs/{d.deal.brief['id']}/report", headers=d.brand.headers)
    assert r.status_code == 200, r.text
    report = r.json()
    [creator] = report["creators"]
    f = creator["figures"]
    assert f["impressions"] | {"reason": None} == {
        "value": 48_000, "sources": ["self_reported"], "verified": False, "reason": None,
        "reported": None,
    }  # fmt: skip
    assert (f["reach"]["value"], f["reach"]["verified"]) == (30_000, True)
    assert f["clicks"] == {
        "value": 2, "sources": ["rapport"], "verified": True, "reason": None, "reported": 5_000
    }  # fmt: skip
    assert creator["tracking"]["bot_clicks"] == 1
    # Revenue per currency; ROAS only over the euros: 300.00 / 1200.00.
    assert [(m["currency"], m["amount"]) for m in creator["revenue"]] == [
        ("EUR", 30_000),
        ("JPY", 500),
    ]
    assert creator["ratios"]["roas"]["value"] == "0.2500"
    assert creator["ratios"]["cpc"]["value"] == "600.0000"  # 1200.00 / 2
    assert creator["ratios"]["cpa"] == {
        "value": "600.0000", "unit": "EUR", "formula": "spend / conversions", "reason": None
    }  # fmt: skip
    assert creator["kpis"][0] | {"reason": None} == {
        "metric": "impressions", "target": 40_000, "actual": 48_000,
        "sources": ["self_reported"], "attainment": "1.2000", "met": True, "reason": None,
        "contracts": 1,
    }  # fmt: skip
    brand_side, creator_side = creator["measures"]["brand"], creator["measures"]["creator"]
    assert brand_side["sales"]["roas"]["value"] == "0.2500"
    assert creator_side["traffic"]["unique_visitors"]["value"] == 2
    assert creator_side["likes"]["value"] == 1_000
    assert report["currencies"] == ["EUR", "JPY"]
    assert [t["currency"] for t in report["totals"]] == ["EUR"]
    assert report["overall"]["spend"] == [
        {"currency": "EUR", "amount": 120_000, "sources": [], "verified": False}
    ]

    r = await client.get(
        f"/v1/briefs/{d.deal.brief['id']}/report",
        params={"format": "csv"},
        headers=d.brand.headers,
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["scope"] for row in rows] == ["contract", "total"]
    assert rows[0]["spend"] == "1200.00" and rows[0]["revenue"] == "300.00"
    assert rows[0]["revenue_other_currencies"] == "JPY 500"
    assert rows[0]["clicks"] == "2" and rows[0]["clicks_reported"] == "5000"
    assert rows[0]["impressions_sources"] == "self_reported" and rows[0]["cpc"] == "600.0000"

    chart = f"/v1/briefs/{d.deal.brief['id']}/report/chart"
    r = await client.get(chart, params={"metric": "clicks"}, headers=d.brand.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    svg = ET.fromstring(r.content)  # noqa: S314 (our own server's answer in a test)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert "measured by Rapport" in r.text  # the line's legend names its source
    r = await client.get(
        chart, params={"metric": "revenue", "format": "png"}, headers=d.brand.headers
    )
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", r.content[16:24])  # IHDR
    image = Image.open(io.BytesIO(r.content))
    image.load()  # decodes every pixel
    assert (width, height) == image.size == (960, 540)
    r = await client.get(
        chart, params={"metric": "impressions", "currency": "EUR"}, headers=d.brand.headers
    )
    assert_problem(r, 422, "validation-error")

    # The creator reads their contract's report, never the brief's.
    r = await client.get(f"/v1/contracts/{d.contract['id']}/report", headers=d.influencer.headers)
    assert r.status_code == 200 and r.json()["figures"]["clicks"]["value"] == 2
    r = await client.get(f"/v1/briefs/{d.deal.brief['id']}/report", headers=d.influencer.headers)
    assert_problem(r, 404, "brief-not-found")


async def _published_deal(
    client: httpx.AsyncClient, app: Any, impressions: int, **deal: Any
) -> Delivery:
    """A new brand's funded contract (with `open_deal`'s `deal` options), one deliverable
    published with its impressions from the platform's API."""
    opened, contract = await active_contract(client, app, await open_deal(client, **deal))
    d = Delivery(client, app, opened, contract, MoneyRecorder())
    await _publish_and_report(d, source="platform_api", impressions=impressions)
    return d


async def test_share_of_voice_withholds_the_market_below_three_brands_and_notes_stay_private(
    client: httpx.AsyncClient, app: Any
) -> None:
    first = await _published_deal(client, app, 6_000)
    brand_id = first.deal.brand["id"]
    # The brand's private note on its creator, who also works for the second brand.
    note = "secret-note-of-brand-one"
    r = await client.patch(
        f"/v1/brands/{brand_id}/relationships/{first.deal.listing['id']}",
        json={"notes": note, "tags": ["vip-one"]},
        headers=first.brand.headers,
    )
    assert r.status_code == 200, r.text
    url = f"/v1/brands/{brand_id}/share-of-voice"
    alone = (await client.get(url, params={"topic": "running"}, headers=first.brand.headers)).json()
    assert alone["brands"] == 1 and alone["market_shown"] is False
    assert {m["measure"]: (m["brand"], m["market"]) for m in alone["measures"]} == {
        "posts": (1, None), "impressions": (6_000, None), "reach": (0, None),
        "engagements": (0, None),
    }  # fmt: skip

    second = await _published_deal(
        client, app, 3_000, influencer=first.influencer, listing=first.deal.listing
    )
    third = await _published_deal(client, app, 1_000)
    r = await client.get(url, params={"topic": "running"}, headers=first.brand.headers)
    shown = r.json()
    assert shown["brands"] == 3 and shown["market_shown"] is True
    impressions = next(m for m in shown["measures"] if m["measure"] == "impressions")
    assert (impressions["brand"], impressions["market"], impressions["share"]) == (
        6_000, 10_000, "0.6000",
    )  # fmt: skip
    assert impressions["market_sources"] == {"platform_api": 3}
    posts = next(m for m in shown["measures"] if m["measure"] == "posts")
    assert posts["share"] == "0.3333"
    reach = next(m for m in shown["measures"] if m["measure"] == "reach")
    assert reach["share"] is None and "no reach" in reach["reason"]
    assert second.deal.brand["id"] not in r.text and third.deal.brand["id"] not in r.text
    other_topic = await client.get(url, params={"topic": "chess"}, headers=first.brand.headers)
    assert other_topic.json()["brands"] == 0
    # The last day there is (a 500, an overflow, before) and a period that ends before it starts.
    r = await client.get(
        url, params={"topic": "running", "until": "9999-12-31"}, headers=first.brand.headers
    )
    assert r.status_code == 200 and r.json()["brands"] == 3, r.text
    r = await client.get(
        url,
        params={"topic": "running", "since": "2026-12-02", "until": "2026-12-01"},
        headers=first.brand.headers,
    )
    assert_problem(r, 422, "validation-error")

    # Only the brand's members: the other brands and the creator get 404.
    for outsider in (second.brand, first.influencer):
        r = await client.get(url, params={"topic": "running"}, headers=outsider.headers)
        assert_problem(r, 404, "brand-not-found")
    # The note and the tag are the first brand's alone: nowhere in what the others read.
    reads: list[tuple[Account, str]] = [
        (second.brand, f"/v1/briefs/{second.deal.brief['id']}/report"),
        (second.brand, f"/v1/contracts/{second.contract['id']}/report"),
        (second.brand, f"/v1/brands/{second.deal.brand['id']}/share-of-voice?topic=running"),
        (first.influencer, f"/v1/contracts/{first.contract['id']}/report"),
        (first.influencer, f"/v1/contracts/{second.contract['id']}/report"),
    ]
    for who, path in reads:
        r = await client.get(path, headers=who.headers)
        assert r.status_code == 200, (path, r.text)
        assert note not in r.text and "vip-one" not in r.text, path
    r = await client.get(
        f"/v1/brands/{brand_id}/relationships/{first.deal.listing['id']}",
        headers=second.brand.headers,
    )
    assert r.status_code == 404 and note not in r.text
