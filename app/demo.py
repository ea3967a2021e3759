"""A few demo accounts so `make run` has something to sign in with. Idempotent: it seeds only
into an empty database."""

from __future__ import annotations

from sqlalchemy import func, select

from app.db import Database
from app.models import User
from app.security import Passwords
from app.services import brands as brand_service
from app.services import influencers as influencer_service
from app.services.identity import Identity
from app.settings import Settings

DEMO_PASSWORD = "rapport-demo-2026"  # noqa: S105 - printed on purpose for local demos
DEMO_ACCOUNTS = {
    "brand": "brand@demo.rapport.dev",
    "influencer": "creator@demo.rapport.dev",
    "operator": "operator@demo.rapport.dev",
}


async def seed_demo(database: Database, settings: Settings) -> bool:
    """Returns True when it seeded, False when the database already had users."""
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
        await brand_service.create_brand(session, brand_user.id, "Oatly Demo")
        await influencer_service.create_profile(
            session,
            creator.id,
            {
                "display_name": "Mara Lind",
                "bio": "Plant-based recipes and trail running from Stockholm.",
                "country": "SE",
                "languages": ["sv", "en"],
            },
        )
    return True
