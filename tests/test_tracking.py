"""First-party measurement (issue 15 item 8): a tracked link's redirect counting clicks, unique
visitors, referrers, bots and repeats as docs/reports.md says; and the shop's signed conversion
posts — refused unsigned, stale or tampered, deduplicated by order id, refunds netted."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from sqlalchemy import select

from app.models import LinkClick
from tests.delivery_support import Delivery, funded
from tests.factories import assert_problem, relogin

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Version/18.1 Mobile Safari/604.1"


async def _link(d: Delivery, **body: Any) -> dict[str, Any]:
    r = await d.client.post(
        f"/v1/contracts/{d.contract['id']}/links",
        json={
            "target_url": "https://shop.example/oats?utm_source=old&size=1l#buy",
            "utm": {"utm_source": "instagram", "utm_campaign": "race-week"},
        }
        | body,
        headers=d.brand.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _click(make_client: Any, code: str, ip: str, **headers: str) -> httpx.Response:
    async with make_client(ip=ip) as visitor:
        return await visitor.get(f"/r/{code}", headers=headers)


async def test_link_counts_clicks_visitors_and_referrers_apart_from_bots_and_repeats(
    client: httpx.AsyncClient, app: Any, make_client: Any
) -> None:
    d = await funded(client, app)
    link = await _link(d)
    code = link["code"]
    assert link["url"].endswith(f"/r/{code}")
    # The brand's UTM parameters replace the page's own; the rest of the page stays.
    target = urlsplit(link["destination"])
    query = dict(parse_qsl(target.query))
    assert query == {
        "utm_source": "instagram",
        "size": "1l",
        "utm_campaign": "race-week",
        "rapport_link": code,
    }
    assert (target.netloc, target.path, target.fragment) == ("shop.example", "/oats", "buy")

    # Only the brand makes links, and only to an http(s) page of someone else.
    r = await client.post(
        f"/v1/contracts/{d.contract['id']}/links",
        json={"target_url": "https://shop.example/"},
        headers=d.influencer.headers,
    )
    assert_problem(r, 403, "brand-only")
    for bad in (
        "javascript:alert(1)",
        "ftp://shop.example/oats",
        "https://user:pw@shop.example/oats",
        f"http://127.0.0.1:8000/r/{code}",  # the settings' public_url: a loop of redirects
    ):
        r = await client.post(
            f"/v1/contracts/{d.contract['id']}/links",
            json={"target_url": bad},
            headers=d.brand.headers,
        )
        assert_problem(r, 422, "validation-error")

    clock = app.state.resources.clock
    a, b = "198.51.100.7", "198.51.100.8"
    r = await _click(make_client, code, a, **{"user-agent": CHROME})
    assert r.status_code == 302 and r.headers["location"] == link["destination"]
    assert r.headers["cache-control"] == "no-store"
    await _click(make_client, code, a, **{"user-agent": CHROME})  # repeat, within 30 min
    clock.advance(timedelta(minutes=31))
    await _click(make_client, code, a, **{"user-agent": CHROME})  # counted again
    await _click(
        make_client,
        code,
        b,
        **{"user-agent": SAFARI, "referer": "https://www.instagram.com/p/C0ffee/?igsh=x"},
    )
    # Bots: a link preview, no user agent, a prefetch, an HTTP library.
    await _click(make_client, code, b, **{"user-agent": "facebookexternalhit/1.1"})
    await _click(make_client, code, b, **{"user-agent": ""})
    await _click(make_client, code, b, **{"user-agent": SAFARI, "sec-purpose": "prefetch"})
    await _click(make_client, code, b, **{"user-agent": "python-requests/2.32"})
    # The next day the visitor key is new: the same person counts as a visitor again.
    clock.advance(timedelta(days=1))
    await _click(make_client, code, a, **{"user-agent": CHROME})

    brand = await relogin(client, d.brand)
    r = await client.get(f"/v1/links/{link['id']}", headers=brand.headers)
    assert r.status_code == 200, r.text
    stats = r.json()["stats"]
    assert (stats["clicks"], stats["repeat_clicks"], stats["bot_clicks"]) == (4, 1, 4)
    assert stats["unique_visitors"] == 3  # a and b on day one, a on day two
    assert stats["referrers"] == [
        {"host": "(direct)", "clicks": 3},
        {"host": "www.instagram.com", "clicks": 1},
    ]
    creator = await relogin(client, d.influencer)
    listed = await client.get(f"/v1/contracts/{d.contract['id']}/links", headers=creator.headers)
    assert [x["stats"]["clicks"] for x in listed.json()["data"]] == [4]

    # Neither an IP address nor a user agent is stored: only the keyed hash.
    async with app.state.resources.database.sessionmaker() as session:
        rows = (await session.scalars(select(LinkClick))).all()
    stored = json.dumps(
        [[str(getattr(c, k)) for k in LinkClick.__table__.columns.keys()] for c in rows]
    )
    assert a not in stored and b not in stored and "Chrome" not in stored
    assert {len(c.visitor_key) for c in rows} == {32}

    assert_problem(await client.get("/r/zzzzzzzzzz"), 404, "link-not-found")


def _signed(secret: str, body: dict[str, Any], at: int) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    mac = hmac.new(secret.encode(), f"{at}.".encode() + raw, hashlib.sha256).hexdigest()
    return raw, {"content-type": "application/json", "rapport-signature": f"t={at},v1={mac}"}


class Shop:
    """The brand's shop: posts orders and refunds signed with the brand's secret."""

    def __init__(self, d: Delivery, secret: str) -> None:
        self.d, self.secret = d, secret

    async def post(
        self, body: dict[str, Any], *, secret: str | None = None, skew: int = 0
    ) -> httpx.Response:
        at = int(self.d.app.state.resources.clock.now().timestamp()) + skew
        raw, headers = _signed(secret or self.secret, body, at)
        return await self.d.client.post(
            f"/v1/brands/{self.d.deal.brand['id']}/conversions", content=raw, headers=headers
        )

    async def orders(self) -> list[dict[str, Any]]:
        brand = await relogin(self.d.client, self.d.brand)
        r = await self.d.client.get(
            f"/v1/brands/{self.d.deal.brand['id']}/conversions", headers=brand.headers
        )
        assert r.status_code == 200, r.text
        return r.json()["data"]


async def test_conversions_are_signed_deduplicated_by_order_id_and_refunds_netted(
    client: httpx.AsyncClient, app: Any
) -> None:
    d = await funded(client, app)
    brand_id = d.deal.brand["id"]
    made = await client.post(f"/v1/brands/{brand_id}/conversion-secret", headers=d.brand.headers)
    assert made.status_code == 200, made.text
    secret = made.json()["secret"]
    assert secret.startswith("rcs_")
    shown = await client.get(f"/v1/brands/{brand_id}/conversion-secret", headers=d.brand.headers)
    assert shown.json()["secret"] is None  # shown once
    link = await _link(d)
    code = await client.post(
        f"/v1/contracts/{d.contract['id']}/promo-codes",
        json={"code": "mia10"},
        headers=d.brand.headers,
    )
    assert code.status_code == 201 and code.json()["code"] == "MIA10", code.text
    again = await client.post(
        f"/v1/contracts/{d.contract['id']}/promo-codes",
        json={"code": "MIA10"},
        headers=d.brand.headers,
    )
    assert_problem(again, 409, "promo-code-taken")
    shop = Shop(d, secret)
    order = {
        "type": "order",
        "order_id": "1001",
        "amount": 4990,
        "currency": "EUR",
        "link_code": link["code"],
    }

    # Refused, and nothing written: no signature, a wrong secret, a tampered body, too old or
    # too far ahead (300 s tolerance).
    raw, headers = _signed(secret, order, int(app.state.resources.clock.now().timestamp()))
    r = await client.post(f"/v1/brands/{brand_id}/conversions", content=raw, headers={})
    assert_problem(r, 401, "conversion-signature-invalid")
    assert_problem(await shop.post(order, secret="rcs_wrong"), 401, "conversion-signature-invalid")
    tampered = raw.replace(b"4990", b"9990")
    r = await client.post(f"/v1/brands/{brand_id}/conversions", content=tampered, headers=headers)
    assert_problem(r, 401, "conversion-signature-invalid")
    assert_problem(await shop.post(order, skew=-301), 401, "conversion-signature-expired")
    assert_problem(await shop.post(order, skew=301), 401, "conversion-signature-expired")
    assert await shop.orders() == []

    first = await shop.post(order, skew=-299)
    assert first.status_code == 201, first.text
    assert first.json()["attributed_by"] == "link" and first.json()["duplicate"] is False
    dup = await shop.post(order)
    assert dup.status_code == 200 and dup.json()["duplicate"] is True
    assert dup.json()["id"] == first.json()["id"]
    assert_problem(await shop.post(order | {"amount": 5990}), 409, "order-conflict")
    by_code = await shop.post(
        {"type": "order", "order_id": "1002", "amount": 2000, "currency": "EUR",
         "promo_code": "mia10"}
    )  # fmt: skip
    assert by_code.status_code == 201 and by_code.json()["attributed_by"] == "promo_code"
    unknown = await shop.post(order | {"order_id": "1003", "link_code": "zzzzzzzzzz"})
    assert_problem(unknown, 422, "validation-error")
    assert len(await shop.orders()) == 2

    # Refunds net the order's revenue; the same refund twice counts once.
    refund = {"type": "refund", "order_id": "1001", "refund_id": "r-1", "amount": 1000}
    r = await shop.post(refund)
    assert r.status_code == 201, r.text
    assert (r.json()["refunded"], r.json()["net"]) == (1000, 3990)
    r = await shop.post(refund)
    assert r.status_code == 200 and r.json()["duplicate"] is True and r.json()["net"] == 3990
    assert_problem(await shop.post(refund | {"amount": 900}), 409, "refund-conflict")
    over = await shop.post(refund | {"refund_id": "r-2", "amount": 4000})
    assert_problem(over, 409, "refund-exceeds-order")
    wrong = await shop.post(refund | {"refund_id": "r-2", "currency": "JPY"})
    assert_problem(wrong, 422, "validation-error")
    gone = await shop.post(refund | {"order_id": "1002", "refund_id": "r-9", "amount": 2000})
    assert gone.status_code == 201 and gone.json()["net"] == 0
    assert_problem(await shop.post(refund | {"order_id": "404"}), 422, "validation-error")

    codes = await client.get(
        f"/v1/contracts/{d.contract['id']}/promo-codes", headers=d.influencer.headers
    )
    assert codes.json()["data"][0]["conversions"] == 0  # its one order was refunded in full
    report = await client.get(f"/v1/contracts/{d.contract['id']}/report", headers=d.brand.headers)
    assert report.status_code == 200, report.text
    figures = report.json()["figures"]
    assert figures["conversions"]["value"] == 1 and figures["conversions"]["sources"] == ["rapport"]
    assert report.json()["revenue"] == [
        {"currency": "EUR", "amount": 3990, "sources": ["rapport"], "verified": True}
    ]

    # Rotation: the old secret is accepted for 24 hours more, then refused.
    rotated = await client.post(f"/v1/brands/{brand_id}/conversion-secret", headers=d.brand.headers)
    new_secret = rotated.json()["secret"]
    assert new_secret != secret
    assert (await shop.post(order | {"order_id": "2001"})).status_code == 201
    await d.tick(timedelta(hours=24, seconds=1))
    late = await shop.post(order | {"order_id": "2002"})
    assert_problem(late, 401, "conversion-signature-invalid")
    assert (await shop.post(order | {"order_id": "2002"}, secret=new_secret)).status_code == 201
