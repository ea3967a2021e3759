"""Accounts and sign-in: registration, password login, refresh-token rotation, logout.

Enumeration safety: a wrong password and an unknown email fail identically (same problem, same
work: the password is verified against a dummy hash), and the per-account rate limit counts
attempts for any email, registered or not.

Sign-in limits go through the shared rate limiter (`rate_limits.py`): every attempt takes one
from its client IP's bucket, every failure one from its account's (hashed email); either empty
is a 429 before the password is even looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import add_unique, rowcount
from app.errors import Conflict, InvalidCredentials, InvalidToken, RefreshTokenReused
from app.ids import new_id
from app.models import RefreshToken, User
from app.security import AccessTokens, Passwords, new_secret, sha256_hex
from app.services.identity.credentials import ApiKeys
from app.services.identity.oauth import OAuth
from app.services.identity.rate_limits import RateLimiter
from app.services.identity.scopes import scopes_for
from app.settings import Settings


class EmailTaken(Conflict):
    slug, title = "email-taken", "An account with this email already exists"


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def get_user(session: AsyncSession, user_id: str) -> User:
    """The account behind an authenticated principal (it exists: the token was just checked)."""
    user = await session.get(User, user_id)
    if user is None:
        raise InvalidToken("The account behind this token no longer exists")
    return user


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    scope: str


@dataclass
class Identity:
    """The identity service: the settings and crypto it needs, and the clock's `now`."""

    settings: Settings
    passwords: Passwords
    access_tokens: AccessTokens
    # One rate limiter per process (sign-in and every credential's requests) and the API keys'
    # service, made from the settings here so the identity service stays the one thing to build.
    rate_limiter: RateLimiter = field(init=False)
    api_keys: ApiKeys = field(init=False)
    # Partner applications: registration, consents, their tokens (app/services/identity/oauth.py).
    oauth: OAuth = field(init=False)

    def __post_init__(self) -> None:
        self.rate_limiter = RateLimiter(self.settings)
        self.api_keys = ApiKeys(self.settings)
        self.oauth = OAuth(self.settings, self.rate_limiter)

    async def register(
        self, session: AsyncSession, email: str, password: str, full_name: str
    ) -> User:
        user = User(
            email=normalise_email(email),
            password_hash=self.passwords.hash(password),
            full_name=full_name,
        )
        if not await add_unique(session, user):
            raise EmailTaken("An account with this email already exists; sign in instead")
        return user

    # --- sign-in -------------------------------------------------------------------------------

    async def login(
        self, session: AsyncSession, email: str, password: str, client_ip: str, now: datetime
    ) -> IssuedTokens:
        user = await self.check_password(session, email, password, client_ip)
        return await self._issue(session, user, family_id=new_id("refresh_token"), now=now)

    async def check_password(
        self, session: AsyncSession, email: str, password: str, client_ip: str
    ) -> User:
        """The account these credentials open, under the sign-in rate limits (also what the
        OAuth consent page asks of the user)."""
        email = normalise_email(email)
        limiter, refused = self.rate_limiter, "Too many sign-in attempts; try again later"
        account_key = "signin-account:" + sha256_hex(email)
        # The account's bucket is only looked at here; the IP's is taken from at once.
        await limiter.check(limiter.signin_account, account_key, refused)
        await limiter.consume(limiter.signin_ip, "signin-ip:" + client_ip, refused)
        user = await session.scalar(select(User).where(User.email == email))
        ok = self.passwords.verify(user.password_hash if user else None, password)
        if not ok or user is None:
            await limiter.consume(limiter.signin_account, account_key, refused)
            raise InvalidCredentials("The email or password is wrong")
        if self.passwords.needs_rehash(user.password_hash):
            user.password_hash = self.passwords.hash(password)
        return user

    async def _issue(
        self, session: AsyncSession, user: User, family_id: str, now: datetime
    ) -> IssuedTokens:
        scopes = scopes_for(user)
        access_token, _ = self.access_tokens.issue(user.id, scopes, now)
        token_id = new_id("refresh_token")
        secret = new_secret()
        refresh_token = f"{token_id}.{secret}"
        session.add(
            RefreshToken(
                id=token_id,
                user_id=user.id,
                family_id=family_id,
                token_hash=sha256_hex(refresh_token),
                expires_at=now + timedelta(seconds=self.settings.refresh_token_ttl_seconds),
            )
        )
        await session.flush()
        return IssuedTokens(
            access_token=access_token,
            expires_in=int(self.access_tokens.ttl.total_seconds()),
            refresh_token=refresh_token,
            scope=" ".join(sorted(scopes)),
        )

    # --- refresh and logout -------------------------------------------------------------------

    async def _find_refresh_token(self, session: AsyncSession, presented: str) -> RefreshToken:
        token = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(presented))
        )
        if token is None:
            raise InvalidToken("The refresh token is invalid")
        return token

    async def _revoke_family(self, session: AsyncSession, family_id: str, now: datetime) -> None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def refresh(self, session: AsyncSession, presented: str, now: datetime) -> IssuedTokens:
        token = await self._find_refresh_token(session, presented)
        if token.revoked_at is not None:
            raise InvalidToken("The refresh token was revoked; sign in again")
        if token.expires_at <= now:
            raise InvalidToken("The refresh token has expired; sign in again")
        # Compare-and-set: of two refreshes racing with one token, exactly one marks it used.
        won = await session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(won) != 1:
            # A used token presented again: it has leaked. Revoke every token of the family.
            await self._revoke_family(session, token.family_id, now)
            raise RefreshTokenReused(
                "This refresh token was already used; every session of its sign-in was revoked"
            )
        user = await session.get(User, token.user_id)
        if user is None:
            raise InvalidToken("The refresh token's account no longer exists")
        return await self._issue(session, user, family_id=token.family_id, now=now)

    async def logout(self, session: AsyncSession, presented: str, now: datetime) -> None:
        """Revokes the token's whole sign-in. Unknown tokens are ignored (RFC 7009 §2.2), so the
        answer never tells whether a token existed."""
        token = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(presented))
        )
        if token is not None:
            await self._revoke_family(session, token.family_id, now)
