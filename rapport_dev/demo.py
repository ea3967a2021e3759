"""Demo data so `make run` has something to sign in with and to browse. Idempotent: the demo
accounts (and the demo brand's open brief) are seeded only into a database without users, the
demo catalogue (a few hundred generated listings, brands and briefs, dated from today) only into
one without briefs.

The demo creator and the demo brand's brief are made for each other (docs/walkthrough.md steps
2-3): an Instagram account, a Swedish and Norwegian, mostly female, 18-34 audience, vegan food and
running, and a Reel rate inside the brief's per-creator budget."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.db import Database
from app.models import Brand, BrandMember, BrandRole, Brief, User
from app.schemas.briefs import BriefIn
from app.schemas.influencers import InfluencerIn
from app.security import Passwords
from app.services.catalogue import briefs as brief_service
from app.services.catalogue import influencers as influencer_service
from app.services.identity import brands as brand_service
from app.services.identity.users import Identity
from app.settings import Settings

DEMO_PASSWORD = "rapport-demo-2026"  # noqa: S105 - printed on purpose for local demos
DEMO_ACCOUNTS = {
    "brand": "brand@demo.rapport.dev",
    "influencer": "creator@demo.rapport.dev",
    "operator": "operator@demo.rapport.dev",
}


DEMO_CATALOGUE = {"listings": 300, "brands": 20, "briefs": 80, "seed": 2026}
DEMO_BRAND = "Oatly Demo"
DEMO_BRIEF_TITLE = "Race-week breakfast"


def demo_creator_listing(today: date) -> dict[str, Any]:
    """The demo creator's listing (POST /v1/influencers/me's shape); history dated from today."""
    history = [
        {"date": (today - timedelta(days=days)).isoformat(), "followers": followers}
        for days, followers in ((270, 38_400), (180, 42_100), (90, 45_900), (1, 48_200))
    ]
    return {
        "display_name": "Mara Lind",
        "bio": "Plant-based recipes and trail running from Stockholm. Race-week breakfasts, "
        "oat everything, long Sunday runs.",
        "country": "SE",
        "languages": ["sv", "en"],
        "topics": ["vegan-food", "running", "breakfast", "fitness"],
        "content_samples": [
            "Five-minute oat bowls for race week",
            "What I eat the day before a half marathon",
        ],
        "values": ["sustainability", "plant-based"],
        "refused_categories": ["alcohol", "gambling", "tobacco"],
        "available": True,
        "audience": {
            "countries": {"SE": 58.0, "NO": 17.0, "DK": 9.0, "FI": 6.0, "US": 10.0},
            "age_bands": {"18-24": 31.0, "25-34": 44.0, "35-44": 19.0, "45-54": 6.0},
            "genders": {"female": 71.0, "male": 27.0, "other": 2.0},
            "languages": {"sv": 64.0, "en": 28.0, "no": 8.0},
        },
        "accounts": [
            {
                "platform": "instagram",
                "handle": "mara.runs.on.oats",
                "url": "https://www.instagram.com/mara.runs.on.oats",
                "followers": 48_200,
                "avg_views": 21_500,
                "avg_likes": 2_300,
                "avg_comments": 96,
                "avg_shares": 51,
                "avg_saves": 180,
                "posts_per_week": 4.0,
                "follower_history": history,
            },
            {
                "platform": "tiktok",
                "handle": "mararunsonoats",
                "url": "https://www.tiktok.com/@mararunsonoats",
                "followers": 22_900,
                "avg_views": 14_800,
                "avg_likes": 1_250,
                "avg_comments": 40,
                "avg_shares": 65,
                "avg_saves": 90,
                "posts_per_week": 3.0,
            },
        ],
        "sponsored_posts": [],
        "rate_card": [
            {"deliverable_type": "instagram_reel", "amount": 90_000, "currency": "EUR"},
            {"deliverable_type": "instagram_story", "amount": 25_000, "currency": "EUR"},
            {"deliverable_type": "tiktok_video", "amount": 70_000, "currency": "EUR"},
        ],
    }


def demo_brief(brand_id: str, today: date) -> dict[str, Any]:
    """The demo brand's brief (POST /v1/briefs's shape), its dates counted from today."""

    def day(n: int) -> str:
        return (today + timedelta(days=n)).isoformat()

    return {
        "brand_id": brand_id,
        "title": DEMO_BRIEF_TITLE,
        "objective": "awareness",
        "description": "Show how our oat drink fits a runner's breakfast in race week.",
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
            "application_deadline": day(14),
            "content_due": day(24),
            "publish_start": day(25),
            "publish_end": day(45),
        },
        "terms_defaults": {
            "approval_policy": "first",
            "revision_cap": 2,
            "review_window_hours": 72,
            "usage_rights": {"channels": ["organic"], "days": 30},
            "exclusivity": {"category": "food", "days": 0},
            "disclosure_required": True,
        },
        "kpis": [{"metric": "impressions", "target": 200_000}],
        "visibility": "public",
    }


async def seed_demo(database: Database, settings: Settings, today: date | None = None) -> bool:
    """Returns True when it seeded anything, False when the database already had it all."""
    today = today or date.today()
    seeded = await _seed_accounts(database, settings, today)
    catalogue = await seed_demo_catalogue(database, today)
    if seeded:
        await _seed_demo_brief(database, today)
    return catalogue or seeded


async def seed_demo_catalogue(database: Database, today: date | None = None) -> bool:
    """Generated listings, brands and briefs (rapport_dev.seed) loaded in one transaction; the
    demo brand account becomes the owner of the first brand, so it sees drafts too."""
    from rapport_dev.catalogue_load import seed_catalogue

    async with database.sessionmaker() as session:
        if await session.scalar(select(func.count()).select_from(Brief)):
            return False
    result = await seed_catalogue(database.engine, today=today or date.today(), **DEMO_CATALOGUE)
    async with database.sessionmaker() as session, session.begin():
        owner = await session.scalar(select(User).where(User.email == DEMO_ACCOUNTS["brand"]))
        if owner is not None and result.brand_ids:
            session.add(
                BrandMember(brand_id=result.brand_ids[0], user_id=owner.id, role=BrandRole.owner)
            )
    return True


async def _seed_demo_brief(database: Database, today: date) -> None:
    """The demo brand's brief, opened, through the same service rules as POST /v1/briefs."""
    now = datetime.combine(today, datetime.min.time(), UTC)
    async with database.sessionmaker() as session, session.begin():
        owner = await session.scalar(select(User).where(User.email == DEMO_ACCOUNTS["brand"]))
        brand_id = await session.scalar(select(Brand.id).where(Brand.name == DEMO_BRAND))
        if owner is None or brand_id is None:
            return
        body = BriefIn.model_validate(demo_brief(brand_id, today))
        doc = body.model_dump(mode="json", exclude={"brand_id"})
        brief = await brief_service.create_brief(session, owner.id, brand_id, doc, now)
        await brief_service.transition(session, owner.id, brief.id, "open", now)


async def _seed_accounts(database: Database, settings: Settings, today: date) -> bool:
    identity = Identity(settings, Passwords(settings), None)  # type: ignore[arg-type]
    async with database.sessionmaker() as session, session.begin():
        if await session.scalar(select(func.count()).select_from(User)):
            return False
        brand_user = await identity.register(
            session, DEMO_ACCOUNTS["brand"], DEMO_PASSWORD, "Bea Brandt"
        )
        creator = await identity.register(
            session, DEMO_ACCOUNTS["influencer"], DEMO_PASSWORD, "Mara Lind"
        )
        operator = await identity.register(
            session, DEMO_ACCOUNTS["operator"], DEMO_PASSWORD, "Otto Operator"
        )
        operator.is_operator = True
        await brand_service.create_brand(
            session,
            brand_user.id,
            DEMO_BRAND,
            {"category": "food", "values": ["sustainability", "plant-based"]},
        )
        listing = InfluencerIn.model_validate(demo_creator_listing(today))
        await influencer_service.create_profile(
            session,
            creator.id,
            listing.model_dump(mode="json", exclude={"accounts"}),
            [a.model_dump(mode="json") for a in listing.accounts],
        )
    return True
