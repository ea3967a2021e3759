"""Small helpers that create real rows through the public API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # the frozen clock's start in every test
PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@dataclass
class Account:
    id: str
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}@example.com"


async def register(
    client: httpx.AsyncClient, email: str | None = None, name: str = "Test User"
) -> Account:
    email = email or unique_email()
    response = await client.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "full_name": name}
    )
    assert response.status_code == 201, response.text
    user = response.json()
    tokens = await login(client, email)
    return Account(user["id"], user["email"], tokens["access_token"], tokens["refresh_token"])


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


async def relogin(client: httpx.AsyncClient, account: Account) -> Account:
    """Fresh tokens, e.g. after the test moved the clock past the access token's expiry."""
    tokens = await login(client, account.email)
    return Account(account.id, account.email, tokens["access_token"], tokens["refresh_token"])


async def create_brand(
    client: httpx.AsyncClient, owner: Account, name: str = "Acme"
) -> dict[str, Any]:
    response = await client.post("/v1/brands", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def add_member(
    client: httpx.AsyncClient, brand_id: str, by: Account, who: Account, role: str = "member"
) -> None:
    response = await client.post(
        f"/v1/brands/{brand_id}/invitations",
        json={"email": who.email, "role": role},
        headers=by.headers,
    )
    assert response.status_code == 201, response.text
    invitation_id = response.json()["id"]
    response = await client.post(
        f"/v1/me/brand-invitations/{invitation_id}/accept", headers=who.headers
    )
    assert response.status_code == 200, response.text


async def create_influencer(
    client: httpx.AsyncClient, account: Account, **fields: Any
) -> dict[str, Any]:
    body = {"display_name": "Mara Lind", "country": "SE", "languages": ["sv", "en"]} | fields
    response = await client.post("/v1/influencers/me", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(
    response: httpx.Response, status: int, slug: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    if slug is not None:
        assert body["type"] == f"https://rapport.dev/problems/{slug}", body
    return body


# --- catalogue (listings, briefs) ---------------------------------------------------------------


def account_body(platform: str = "instagram", handle: str | None = None, **fields: Any) -> dict:
    handle = handle or f"creator{next(_counter)}"
    return {
        "platform": platform,
        "handle": handle,
        "url": f"https://{platform}.example/{handle}",
        "followers": 48200,
        "avg_views": 21000,
        "avg_likes": 1900,
        "avg_comments": 85,
        "avg_shares": 40,
        "avg_saves": 120,
        "posts_per_week": 4.0,
        "follower_history": [
            {"date": "2026-06-01", "followers": 41000},
            {"date": "2026-09-01", "followers": 46000},
        ],
        "recent_posts": [],
        "comment_samples": [],
    } | fields


def listing_body(**fields: Any) -> dict[str, Any]:
    """A complete listing in the shape of docs/design/catalogue-shapes.md (without the id)."""
    return {
        "display_name": "Mara Lind",
        "bio": "Plant-based recipes and trail running from Stockholm.",
        "country": "SE",
        "languages": ["sv", "en"],
        "topics": ["vegan-food", "running"],
        "content_samples": ["Five-minute oat bowls for race week"],
        "values": ["sustainability"],
        "refused_categories": ["alcohol", "gambling"],
        "available": True,
        "unavailable_until": None,
        "audience": {
            "countries": {"SE": 61.0, "NO": 12.0, "US": 27.0},
            "age_bands": {"18-24": 30.0, "25-34": 45.0, "35-44": 25.0},
            "genders": {"female": 70.0, "male": 28.0, "other": 2.0},
            "languages": {"sv": 60.0, "en": 40.0},
        },
        "accounts": [account_body()],
        "sponsored_posts": [
            {"brand": "Oatly", "category": "food", "date": "2026-10-02", "platform": "instagram"}
        ],
        "rate_card": [{"deliverable_type": "instagram_reel", "amount": 90000, "currency": "EUR"}],
    } | fields


async def create_listing(
    client: httpx.AsyncClient, account: Account, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/influencers/me", json=listing_body(**fields), headers=account.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def brief_body(brand_id: str, **fields: Any) -> dict[str, Any]:
    """A complete, valid brief (deadlines after T0) in the shape of the catalogue document."""
    return {
        "brand_id": brand_id,
        "title": "Race-week breakfast",
        "objective": "awareness",
        "description": "Show how our oat drink fits a runner's breakfast.",
        "must_haves": ["show the carton", "link in bio"],
        "category": "food",
        "target_audience": {
            "countries": ["SE", "NO"],
            "age_bands": ["18-24", "25-34"],
            "genders": ["female"],
            "languages": ["sv"],
        },
        "topics": ["vegan-food", "running"],
        "platforms": ["instagram"],
        "deliverables": [{"type": "instagram_reel", "count": 2}],
        "budget": {
            "currency": "EUR",
            "total": 1_000_000,
            "per_influencer_min": 50_000,
            "per_influencer_max": 150_000,
        },
        "timeline": {
            "application_deadline": "2026-12-10",
            "content_due": "2026-12-20",
            "publish_start": "2026-12-21",
            "publish_end": "2027-01-10",
        },
        "terms_defaults": {
            "approval_policy": "first",
            "revision_cap": 2,
            "review_window_hours": 72,
            "usage_rights": {"channels": ["organic"], "days": 30},
            "exclusivity": {"category": "food", "days": 0},
            "disclosure_required": True,
        },
        "kpis": [{"metric": "impressions", "target": 200000}],
        "visibility": "public",
    } | fields


async def create_brief(
    client: httpx.AsyncClient, account: Account, brand_id: str, *, state: str = "draft", **fields
) -> dict[str, Any]:
    """A brief of `brand_id` moved along the lifecycle's legal path to `state`."""
    response = await client.post(
        "/v1/briefs", json=brief_body(brand_id, **fields), headers=account.headers
    )
    assert response.status_code == 201, response.text
    brief = response.json()
    path = {
        "draft": [],
        "open": ["open"],
        "closed": ["open", "close"],
        "completed": ["open", "close", "complete"],
        "cancelled": ["cancel"],
    }[state]
    for action in path:
        response = await client.post(f"/v1/briefs/{brief['id']}/{action}", headers=account.headers)
        assert response.status_code == 200, response.text
        brief = response.json()
    return brief


# --- negotiation (bids, offers, contracts) --------------------------------------------------------


def bid_body(**fields: Any) -> dict[str, Any]:
    """A valid bid on a `brief_body` brief (due dates inside its publishing window)."""
    return {
        "price": 100_000,
        "deliverables": [{"type": "instagram_reel", "count": 2, "due_date": "2026-12-28"}],
        "timeline": {"start_date": "2026-12-01", "end_date": "2027-01-05", "note": ""},
        "pitch": "Race-week oats, two reels.",
    } | fields


def offer_body(**fields: Any) -> dict[str, Any]:
    """Valid terms on a `brief_body` brief: 2 reels and a story, paid half on the reels, half
    at the end."""
    return {
        "price": 120_000,
        "deliverables": [
            {"key": "reels", "type": "instagram_reel", "count": 2, "due_date": "2026-12-28"},
            {"key": "story", "type": "instagram_story", "count": 1, "due_date": "2027-01-02"},
        ],
        "payment_schedule": [
            {"name": "Reels live", "amount": 60_000, "deliverables": ["reels"]},
            {"name": "Wrap-up", "amount": 60_000, "on_completion": True},
        ],
    } | fields


async def create_bid(
    client: httpx.AsyncClient, influencer: Account, brief_id: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/briefs/{brief_id}/bids", json=bid_body(**fields), headers=influencer.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def make_offer(
    client: httpx.AsyncClient, account: Account, bid_id: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/bids/{bid_id}/offers", json=offer_body(**fields), headers=account.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


@dataclass
class Deal:
    """A brand (owner), its open brief, an influencer (with a listing) and the influencer's bid."""

    brand_owner: Account
    influencer: Account
    brand: dict[str, Any]
    brief: dict[str, Any]
    listing: dict[str, Any]
    bid: dict[str, Any]


async def open_deal(
    client: httpx.AsyncClient,
    *,
    brand_owner: Account | None = None,
    brand: dict[str, Any] | None = None,
    influencer: Account | None = None,
    listing: dict[str, Any] | None = None,
    brief_fields: dict[str, Any] | None = None,
    bid_fields: dict[str, Any] | None = None,
) -> Deal:
    brand_owner = brand_owner or await register(client)
    brand = brand or await create_brand(client, brand_owner)
    brief = await create_brief(
        client, brand_owner, brand["id"], state="open", **(brief_fields or {})
    )
    if influencer is None:
        influencer = await register(client)
        listing = await create_listing(client, influencer)
    assert listing is not None
    bid = await create_bid(client, influencer, brief["id"], **(bid_fields or {}))
    return Deal(brand_owner, influencer, brand, brief, listing, bid)


async def create_contract(
    client: httpx.AsyncClient, deal: Deal | None = None, **offer_fields: Any
) -> tuple[Deal, dict[str, Any]]:
    """A contract (awaiting funding): the brand offers, the influencer accepts."""
    deal = deal or await open_deal(client)
    offer = await make_offer(client, deal.brand_owner, deal.bid["id"], **offer_fields)
    response = await client.post(
        f"/v1/offers/{offer['id']}/accept", headers=deal.influencer.headers
    )
    assert response.status_code == 200, response.text
    contract_id = response.json()["contract_id"]
    response = await client.get(f"/v1/contracts/{contract_id}", headers=deal.brand_owner.headers)
    assert response.status_code == 200, response.text
    return deal, response.json()


# --- delivery (funded contracts, operators) -------------------------------------------------------


async def fund_directly(app: Any, contract_id: str) -> None:
    """Fund a contract the short way: fire `fund` through the contract machine as the system
    (what the payments code does once the brand's charge succeeded), no Stripe involved."""
    from app.services.delivery.contracts import CONTRACTS
    from app.services.workflow.state_machine import Actor

    async with app.state.resources.database.sessionmaker() as session, session.begin():
        await CONTRACTS.fire(
            session,
            contract_id,
            "fund",
            Actor("system", "test-funding"),
            app.state.resources.clock.now(),
        )


async def active_contract(
    client: httpx.AsyncClient, app: Any, deal: Deal | None = None, **offer_fields: Any
) -> tuple[Deal, dict[str, Any]]:
    """A funded (`active`) contract: `create_contract`, then `fund_directly`."""
    deal, contract = await create_contract(client, deal, **offer_fields)
    await fund_directly(app, contract["id"])
    response = await client.get(f"/v1/contracts/{contract['id']}", headers=deal.brand_owner.headers)
    assert response.status_code == 200, response.text
    return deal, response.json()


async def make_operator(client: httpx.AsyncClient, app: Any) -> Account:
    """A registered user made an operator (as `rapport create-operator` does), signed in anew."""
    from sqlalchemy import update

    from app.models import User

    staff = await register(client)
    async with app.state.resources.database.sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == staff.id).values(is_operator=True))
    return await relogin(client, staff)
