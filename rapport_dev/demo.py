"""Demo data so `make run` has something to sign in with and to browse. Idempotent: the demo
accounts are seeded only into a database without users, the demo catalogue (a few hundred
generated listings, brands and briefs, dated from today) only into one without briefs."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from app.db import Database
from app.models import BrandMember, BrandRole, Brief, User
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


DEMO_CATALOGUE = {"listings": 300, "brands": 20, "briefs": 80, "seed": 2026}


async def seed_demo(database: Database, settings: Settings, today: date | None = None) -> bool:
    """Returns True when it seeded anything, False when the database already had it all."""
    seeded = await _seed_accounts(database, settings)
    return await seed_demo_catalogue(database, today) or seeded


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


async def _seed_accounts(database: Database, settings: Settings) -> bool:
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
