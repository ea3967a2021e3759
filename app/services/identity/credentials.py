"""Credentials: who a request acts for (`Principal`), and API keys.

Every kind of credential ends as one `Principal`: the account it acts for, the scopes granted for
this request, and the bucket its rate limit counts in. Kinds today:

- `user`: an access token from password sign-in (JWT, `app/security.py`);
- `api_key`: a key made through `POST /v1/api-keys` (below);
- `oauth`: an access token issued to a partner application (`app/services/identity/oauth.py`):
  acting for a user, with the scopes the user consented to; or, from client credentials, acting
  for the application itself on the public catalogue (`user_id` is then the client's id, which
  owns nothing, so every tenant-filtered query finds nothing for it). Routes, scope checks and
  rate limits are the same for every kind.

API keys are `rk_live_…` in production and `rk_test_…` elsewhere, 43 random characters after the
prefix (256 bits). The secret is shown once, at creation or rotation; only its HMAC is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import rowcount
from app.errors import Conflict, InsufficientScope, InvalidRequest, InvalidToken, NotFound
from app.ids import new_id
from app.models import ApiKey, User
from app.pagination import PageParams, SortKey, paginate
from app.services.identity.scopes import Account, Scope, scopes_for, unknown_scopes
from app.settings import Settings

CredentialKind = Literal["user", "api_key", "oauth"]
ApiKeyStatus = Literal["active", "expiring", "expired", "revoked"]

API_KEY_PREFIXES = ("rk_live_", "rk_test_")
# last_used_at is written at most once a minute per key: a write on every request would put the
# busiest keys' rows under constant update for a timestamp nobody reads to the second.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_ROTATION_OVERLAP = timedelta(days=30)


@dataclass(frozen=True)
class Principal:
    """The caller of one request, whatever credential it showed."""

    kind: CredentialKind
    user_id: str
    scopes: frozenset[str]
    is_operator: bool = False
    # The API key's or OAuth token's id; None for a password sign-in.
    credential_id: str | None = None
    # The partner application (OAuth client) the request comes through, for `oauth` principals.
    client_id: str | None = None
    # The rate-limit bucket and its plan (Settings.rate_limit_plans).
    rate_limit_key: str = ""
    plan: str = "standard"
    # An API key's last recorded use, as read when it was authenticated (`use_to_record`).
    last_used_at: datetime | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def user_principal(user: Account, token_scopes: frozenset[str], plan: str) -> Principal:
    """A password sign-in: the token's scopes, never more than the account holds now."""
    return Principal(
        kind="user",
        user_id=user.id,
        scopes=token_scopes & scopes_for(user),
        is_operator=user.is_operator,
        rate_limit_key=f"user:{user.id}",
        plan=plan,
    )


def check_rotation_overlap(overlap: timedelta) -> None:
    """How long a rotated secret keeps working beside its successor (API keys, OAuth client
    secrets): 0 (it stops now) to MAX_ROTATION_OVERLAP."""
    if not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
        raise InvalidRequest.field(
            "overlap_seconds", "must be between 0 and 30 days", "out_of_range"
        )


def looks_like_api_key(token: str) -> bool:
    return token.startswith(API_KEY_PREFIXES)


class ApiKeyNotFound(NotFound):
    slug, title = "api-key-not-found", "No such API key"


class ApiKeyNotRotatable(Conflict):
    slug, title = "api-key-not-rotatable", "This API key cannot be rotated"


def key_status(key: ApiKey, now: datetime) -> ApiKeyStatus:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    if key.expires_at is not None or key.rotated_to_id is not None:
        return "expiring"
    return "active"


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # the whole `rk_…` key: shown once, never stored


@dataclass
class ApiKeys:
    settings: Settings

    @property
    def mode(self) -> Literal["live", "test"]:
        return "live" if self.settings.environment == "production" else "test"

    def hash(self, token: str) -> str:
        # A keyed fast hash, not argon2: an API key is 256 random bits, so nothing can be
        # guessed from a fast hash, while argon2's deliberate slowness (right for low-entropy
        # passwords) would cost every API request tens of milliseconds. The key (the app's
        # secret) means a copy of the table alone cannot even confirm a guess; the lookup is by
        # this digest, so there is no secret-dependent comparison to time.
        secret = self.settings.secret_key.get_secret_value()
        message = b"rapport-api-key\0" + token.encode()
        return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()

    def _new_secret(self) -> str:
        return f"rk_{self.mode}_{secrets.token_urlsafe(32)}"

    @staticmethod
    def _grantable(principal: Principal, scopes: list[str]) -> None:
        """A key never holds a scope its maker does not hold on this request."""
        unknown = unknown_scopes(scopes)
        if unknown:
            raise InvalidRequest.field("scopes", f"unknown scope(s): {', '.join(unknown)}", "enum")
        missing = sorted(set(scopes) - principal.scopes)
        if missing:
            raise InsufficientScope(
                f"You cannot grant scope(s) you do not hold: {', '.join(missing)}",
                required_scopes=missing,
            )

    def _row(
        self,
        principal: Principal,
        name: str,
        scopes: list[str],
        plan: str,
        expires_at: datetime | None,
        family_id: str | None = None,
    ) -> tuple[ApiKey, str]:
        secret = self._new_secret()
        key_id = new_id("api_key")
        row = ApiKey(
            id=key_id,
            user_id=principal.user_id,
            name=name,
            mode=self.mode,
            key_hash=self.hash(secret),
            hint=f"{secret[:12]}…{secret[-4:]}",
            scopes=sorted(set(scopes)),
            plan=plan,
            family_id=family_id or key_id,
            expires_at=expires_at,
        )
        return row, secret

    async def create(
        self,
        session: AsyncSession,
        principal: Principal,
        name: str,
        scopes: list[str],
        expires_at: datetime | None,
        now: datetime,
    ) -> IssuedKey:
        self._grantable(principal, scopes)
        if expires_at is not None and expires_at <= now:
            raise InvalidRequest.field("expires_at", "must be in the future", "in_past")
        row, secret = self._row(
            principal, name, scopes, self.settings.rate_limit_default_plan, expires_at
        )
        row.created_at = now
        session.add(row)
        await session.flush()
        return IssuedKey(row, secret)

    async def list(
        self, session: AsyncSession, user_id: str, page: PageParams
    ) -> tuple[list[ApiKey], str | None]:
        stmt = select(ApiKey).where(ApiKey.user_id == user_id)
        return await paginate(session, stmt, [SortKey(ApiKey.id, descending=True)], page)

    async def get(self, session: AsyncSession, user_id: str, key_id: str) -> ApiKey:
        key = await session.get(ApiKey, key_id)
        # Another account's key answers exactly like a key that does not exist.
        if key is None or key.user_id != user_id:
            raise ApiKeyNotFound(f"No API key {key_id} among yours")
        return key

    async def revoke(
        self, session: AsyncSession, user_id: str, key_id: str, now: datetime
    ) -> ApiKey:
        key = await self.get(session, user_id, key_id)
        if key.revoked_at is None:
            key.revoked_at = now
            await session.flush()
        return key

    async def rotate(
        self,
        session: AsyncSession,
        principal: Principal,
        key_id: str,
        overlap: timedelta,
        now: datetime,
    ) -> tuple[IssuedKey, ApiKey]:
        """A new key with the old one's name, scopes and plan; the old one keeps working until
        `now + overlap` (or its own earlier expiry). Returns the new key and the old one."""
        old = await self.get(session, principal.user_id, key_id)
        status = key_status(old, now)
        if status in ("revoked", "expired") or old.rotated_to_id is not None:
            raise ApiKeyNotRotatable(
                f"This key is {status if old.rotated_to_id is None else 'already rotated'}; "
                "only a key in use that was not rotated yet can be rotated"
            )
        self._grantable(principal, list(old.scopes))
        check_rotation_overlap(overlap)
        new, secret = self._row(
            principal, old.name, list(old.scopes), old.plan, old.expires_at, old.family_id
        )
        new.created_at = now
        new.rotated_from_id = old.id
        ends = now + overlap
        # Compare-and-set: of two rotations racing on one key, exactly one wins.
        won = await session.execute(
            update(ApiKey)
            .where(ApiKey.id == old.id, ApiKey.rotated_to_id.is_(None))
            .values(
                rotated_to_id=new.id,
                expires_at=ends if old.expires_at is None else min(ends, old.expires_at),
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(won) != 1:
            raise ApiKeyNotRotatable("This key was rotated by another request just now")
        session.add(new)
        await session.flush()
        await session.refresh(old)
        return IssuedKey(new, secret), old

    async def set_plan(
        self, session: AsyncSession, key_id: str, plan: str, plans: frozenset[str]
    ) -> ApiKey:
        """Operators move a key (and its whole rotation family) to another plan."""
        if plan not in plans:
            raise InvalidRequest.field(
                "plan", f"must be one of: {', '.join(sorted(plans))}", "enum"
            )
        key = await session.get(ApiKey, key_id)
        if key is None:
            raise ApiKeyNotFound(f"No API key {key_id}")
        await session.execute(
            update(ApiKey)
            .where(ApiKey.family_id == key.family_id)
            .values(plan=plan)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(key)
        return key

    # --- authentication -------------------------------------------------------------------

    async def authenticate(self, session: AsyncSession, token: str, now: datetime) -> Principal:
        if not token.startswith(f"rk_{self.mode}_"):
            other = "live" if self.mode == "test" else "test"
            raise InvalidToken(
                f"This is a {other} key (rk_{other}_…); this server accepts rk_{self.mode}_ keys"
            )
        key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == self.hash(token)))
        if key is None:
            raise InvalidToken("The API key is invalid")
        if key.revoked_at is not None:
            raise InvalidToken("The API key was revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise InvalidToken(
                "The API key was rotated and its overlap has ended; use its successor"
                if key.rotated_to_id
                else "The API key has expired"
            )
        user = await session.get(User, key.user_id)
        if user is None:
            raise InvalidToken("The API key's account no longer exists")
        return Principal(
            kind="api_key",
            user_id=user.id,
            # Never more than the account holds now.
            scopes=frozenset(key.scopes) & scopes_for(user),
            is_operator=user.is_operator and Scope.operator.value in key.scopes,
            credential_id=key.id,
            rate_limit_key=f"key:{key.family_id}",
            plan=key.plan,
            last_used_at=key.last_used_at,
        )

    @staticmethod
    def use_to_record(principal: Principal, now: datetime) -> bool:
        """Whether this request's use of an API key is recorded (`touch`): at most once per
        LAST_USED_RESOLUTION, known from the key as authenticated, so most requests send no
        UPDATE at all."""
        return principal.kind == "api_key" and (
            principal.last_used_at is None or principal.last_used_at <= now - LAST_USED_RESOLUTION
        )

    async def touch(self, session: AsyncSession, key_id: str, now: datetime) -> None:
        """Records the key's use (at most once per LAST_USED_RESOLUTION)."""
        await session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at <= now - LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
