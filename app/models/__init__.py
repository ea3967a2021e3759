"""Every table, imported here so Alembic and `Base.metadata` see the whole schema."""

from app.models.base import Base
from app.models.brand import Brand, BrandInvitation, BrandMember, BrandRole, InvitationState
from app.models.identity import LoginAttempt, RefreshToken, User
from app.models.influencer import Influencer

__all__ = [
    "Base",
    "Brand",
    "BrandInvitation",
    "BrandMember",
    "BrandRole",
    "Influencer",
    "InvitationState",
    "LoginAttempt",
    "RefreshToken",
    "User",
]
