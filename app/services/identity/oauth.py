"""OAuth2 for partner applications: registering them, users' consents, and their tokens as a
credential (`Principal`) of kind `oauth`.

The protocol (authorization, token, revocation and introspection endpoints) is authlib's, run by
`oauth_server.py` inside the request's transaction; this module is the rest:

- **Registration.** A user registers an application for themselves, or for a brand they own or
  administer (its owners and admins then manage it too); an operator may register one for any
  user. A confidential application gets a client secret (`rcs_…`, shown once, stored as a keyed
  hash); a public one (a native or browser app) gets none. Every application uses PKCE.
- **Secret rotation.** As an API key's (`credentials.py`): a new secret, shown once; the one it
  replaces keeps working beside it for the overlap asked for (at most 30 days), then stops. At
  most two secrets work at once: rotating again during an overlap ends the older one at once.
- **Consent.** A user allows an application some of its registered scopes on Rapport's consent
  page; the consent is recorded (`OAuthConsent`), listed to the user and revocable, which revokes
  the application's tokens for that user at once.
- **Acting for a user.** A token's request is granted `token scopes ∩ OAUTH_SCOPES ∩ what the
  user holds now`, as the user (`Principal.user_id`): the services' tenant filters apply
  unchanged, so a partner never sees or does more than its user could, and another user's
  object is a 404 as for anyone.
- **Acting for itself.** A client-credentials token holds `catalogue:read` at most; its
  principal's `user_id` is the client's id, which owns nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import rowcount
from app.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    InvalidToken,
    NotFound,
    OAuthRateLimited,
)
from app.ids import new_id
from app.models import (
    BrandMember,
    BrandRole,
    OAuthAuthorizationCode,
    OAuthClient,
    OAuthConsent,
    OAuthToken,
    User,
)
from app.models.base import UtcDateTime
from app.pagination import PageParams, SortKey, paginate
from app.services.identity.credentials import Principal, check_rotation_overlap
from app.services.identity.oauth_server import (
    PREFIX,
    AuthorizationRefused,
    ConsentRequest,
    GrantType,
    HttpRequest,
    OAuthFlows,
    OAuthResponse,
    SecretHasher,
    new_secret,
)
from app.services.identity.rate_limits import RateLimiter
from app.services.identity.scopes import OAUTH_SCOPES, scopes_for
from app.settings import Settings

ClientStatus = Literal["active", "revoked"]
EndpointName = Literal["token", "revocation", "introspection"]


class OAuthClientNotFound(NotFound):
    slug, title = "oauth-client-not-found", "No such application"


class OAuthConsentNotFound(NotFound):
    slug, title = "oauth-consent-not-found", "No such consent"


class OAuthClientBrandNotFound(NotFound):
    slug, title = "oauth-client-brand-not-found", "No such brand among yours"


class OAuthClientOwnerNotFound(NotFound):
    slug, title = "oauth-client-owner-not-found", "No such user"


class OAuthClientSecretNotRotatable(Conflict):
    slug, title = "oauth-client-secret-not-rotatable", "This application's secret cannot be rotated"


@dataclass(frozen=True)
class ClientFields:
    """A registration, as checked by its schema (app/schemas/oauth.py)."""

    name: str
    redirect_uris: list[str]
    scopes: list[str]
    grant_types: list[GrantType]
    confidential: bool
    website: str | None = None
    brand_id: str | None = None


@dataclass(frozen=True)
class IssuedClient:
    client: OAuthClient
    secret: str | None  # the client secret, shown once; None for a public client


@dataclass(frozen=True)
class ConsentView:
    consent: OAuthConsent
    client: OAuthClient


def client_status(client: OAuthClient) -> ClientStatus:
    return "revoked" if client.revoked_at is not None else "active"


def _managed_by(user_id: str) -> ColumnElement[bool]:
    """Applications the user manages: registered by them, or their brands' (as owner or admin)."""
    brands = select(BrandMember.brand_id).where(
        BrandMember.user_id == user_id, BrandMember.role.in_([BrandRole.owner, BrandRole.admin])
    )
    return or_(OAuthClient.owner_user_id == user_id, OAuthClient.brand_id.in_(brands))


@dataclass
class OAuth:
    settings: Settings
    # The process's rate limiter (users.py builds it): the token, revocation and introspection
    # endpoints count in it.
    limiter: RateLimiter
    hasher: SecretHasher = field(init=False)
    flows: OAuthFlows = field(init=False)

    def __post_init__(self) -> None:
        self.hasher = SecretHasher(self.settings)
        self.flows = OAuthFlows(self.settings, self.hasher)

    # --- the credential -------------------------------------------------------------------------

    @staticmethod
    def looks_like_token(token: str) -> bool:
        return token.startswith(PREFIX["access"])

    async def authenticate(self, session: AsyncSession, token: str, now: datetime) -> Principal:
        found = (
            await session.execute(
                select(OAuthToken, OAuthClient)
                .join(OAuthClient, OAuthClient.id == OAuthToken.client_id)
                .where(OAuthToken.access_token_hash == self.hasher.hash("access", token))
            )
        ).first()
        if found is None:
            raise InvalidToken("The access token is invalid")
        row, client = found
        if row.revoked_at is not None or client.revoked_at is not None:
            raise InvalidToken("The access token was revoked")
        if row.access_expires_at <= now:
            raise InvalidToken("The access token has expired; refresh it")
        if row.user_id is None:
            # Client credentials: the application itself, on the public catalogue.
            return Principal(
                kind="oauth",
                user_id=client.id,
                scopes=frozenset(row.scopes) & frozenset(client.scopes),
                credential_id=row.id,
                client_id=client.id,
                rate_limit_key=f"oauth:{client.id}",
                plan=client.plan,
            )
        user = await session.get(User, row.user_id)
        if user is None:
            raise InvalidToken("The access token's account no longer exists")
        return Principal(
            kind="oauth",
            user_id=user.id,
            # What the user consented to, never more than the user holds now.
            scopes=frozenset(row.scopes) & OAUTH_SCOPES & scopes_for(user),
            credential_id=row.id,
            client_id=client.id,
            rate_limit_key=f"oauth:{client.id}:{user.id}",
            plan=client.plan,
        )

    # --- applications ---------------------------------------------------------------------------

    async def register(
        self,
        session: AsyncSession,
        registrant_id: str,
        fields: ClientFields,
        now: datetime,
        *,
        owner_user_id: str | None = None,
    ) -> IssuedClient:
        """A new application. `owner_user_id` is for operators registering for someone else."""
        _check_registration(fields)
        owner = owner_user_id or registrant_id
        if owner_user_id is not None and await session.get(User, owner_user_id) is None:
            raise OAuthClientOwnerNotFound(f"No user {owner_user_id}")
        if fields.brand_id is not None:
            await _check_brand_admin(session, owner, fields.brand_id)
        secret = new_secret(PREFIX["client"]) if fields.confidential else None
        client = OAuthClient(
            id=new_id("oauth_client"),
            owner_user_id=owner,
            brand_id=fields.brand_id,
            name=fields.name,
            website=fields.website,
            redirect_uris=list(fields.redirect_uris),
            scopes=sorted(set(fields.scopes)),
            grant_types=sorted(set(fields.grant_types)),
            confidential=fields.confidential,
            secret_hash=self.hasher.hash("client", secret) if secret else None,
            secret_hint=_hint(secret) if secret else None,
            plan=self.settings.rate_limit_default_plan,
            created_at=now,
        )
        session.add(client)
        await session.flush()
        return IssuedClient(client, secret)

    async def list_clients(
        self, session: AsyncSession, user_id: str, page: PageParams
    ) -> tuple[list[OAuthClient], str | None]:
        stmt = select(OAuthClient).where(_managed_by(user_id))
        return await paginate(session, stmt, [SortKey(OAuthClient.id, descending=True)], page)

    async def get_client(self, session: AsyncSession, user_id: str, client_id: str) -> OAuthClient:
        client = await session.scalar(
            select(OAuthClient).where(OAuthClient.id == client_id, _managed_by(user_id))
        )
        # Another's application answers exactly like one that does not exist.
        if client is None:
            raise OAuthClientNotFound(f"No application {client_id} among yours")
        return client

    async def revoke_client(
        self, session: AsyncSession, user_id: str, client_id: str, now: datetime
    ) -> OAuthClient:
        """The application stops at once: its secret, its codes and every token it holds."""
        client = await self.get_client(session, user_id, client_id)
        if client.revoked_at is None:
            client.revoked_at = now
            await _revoke_tokens(session, now, OAuthToken.client_id == client.id)
            await session.flush()
        return client

    async def rotate_secret(
        self,
        session: AsyncSession,
        user_id: str,
        client_id: str,
        overlap: timedelta,
        now: datetime,
    ) -> IssuedClient:
        """A new client secret (returned this once); the current one keeps working until
        `now + overlap`, then stops. A secret replaced earlier whose overlap is still running
        stops now: at most two work at once."""
        client = await self.get_client(session, user_id, client_id)
        if client.revoked_at is not None or client.secret_hash is None:
            raise OAuthClientSecretNotRotatable(
                "This application is revoked"
                if client.revoked_at is not None
                else "A public application has no secret to rotate"
            )
        check_rotation_overlap(overlap)
        secret = new_secret(PREFIX["client"])
        # Compare-and-set on the current secret: of two rotations racing, exactly one wins (the
        # loser's secret would otherwise be shown and never work).
        won = await session.execute(
            update(OAuthClient)
            .where(OAuthClient.id == client.id, OAuthClient.secret_hash == client.secret_hash)
            .values(
                previous_secret_hash=client.secret_hash,
                previous_secret_expires_at=now + overlap,
                secret_hash=self.hasher.hash("client", secret),
                secret_hint=_hint(secret),
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(won) != 1:
            raise OAuthClientSecretNotRotatable(
                "This application's secret was rotated by another request just now"
            )
        await session.refresh(client)
        return IssuedClient(client, secret)

    # --- consents ---------------------------------------------------------------------------------

    async def list_consents(
        self, session: AsyncSession, user_id: str, page: PageParams
    ) -> tuple[list[ConsentView], str | None]:
        stmt = (
            select(OAuthConsent)
            .join(OAuthClient, OAuthClient.id == OAuthConsent.client_id)
            .where(
                OAuthConsent.user_id == user_id,
                OAuthConsent.revoked_at.is_(None),
                OAuthClient.revoked_at.is_(None),
            )
        )
        rows, cursor = await paginate(
            session, stmt, [SortKey(OAuthConsent.id, descending=True)], page
        )
        clients = await _clients_by_id(session, [c.client_id for c in rows])
        return [ConsentView(c, clients[c.client_id]) for c in rows], cursor

    async def revoke_consent(
        self, session: AsyncSession, user_id: str, consent_id: str, now: datetime
    ) -> None:
        """The application loses its access for this user at once: every token it holds for
        them is revoked. It may ask again; the user decides again."""
        consent = await session.get(OAuthConsent, consent_id)
        if consent is None or consent.user_id != user_id or consent.revoked_at is not None:
            raise OAuthConsentNotFound(f"No consent {consent_id} among yours")
        consent.revoked_at = now
        consent.updated_at = now
        await _revoke_tokens(
            session,
            now,
            OAuthToken.client_id == consent.client_id,
            OAuthToken.user_id == user_id,
        )
        await session.flush()

    # --- the protocol (authlib, in this request's transaction) -----------------------------------

    async def consent_request(
        self, session: AsyncSession, request: HttpRequest, now: datetime
    ) -> ConsentRequest | OAuthResponse | AuthorizationRefused:
        return await session.run_sync(self.flows.consent, request, now)

    async def decide(
        self, session: AsyncSession, request: HttpRequest, user: User | None, now: datetime
    ) -> OAuthResponse | AuthorizationRefused:
        return await session.run_sync(self.flows.decide, request, user, now)

    async def endpoint(
        self,
        session: AsyncSession,
        name: EndpointName,
        request: HttpRequest,
        now: datetime,
        client_ip: str,
    ) -> OAuthResponse:
        """The token, revocation or introspection endpoint, under its rate limits: one request
        from the application's bucket once it has authenticated, or from the client IP's bucket
        of failed authentications (a wrong secret, an unknown client). Over either, the 429
        (`OAuthRateLimited`) is raised before authlib runs: no code is spent, no token issued
        or revoked."""
        limiter = self.limiter
        client_id = await session.run_sync(self.flows.identify, name, request, now)
        if client_id is None:
            quota = await limiter.consume(
                limiter.oauth_failed_auth,
                f"oauth-failed-auth:{client_ip}",
                "Too many requests that failed client authentication from this address; retry "
                "after the time in Retry-After",
                OAuthRateLimited,
            )
        else:
            quota = await limiter.consume(
                limiter.oauth_client,
                f"oauth-client:{client_id}",
                "This application made too many requests to the OAuth endpoints; retry after "
                "the time in Retry-After",
                OAuthRateLimited,
            )
        answer = await session.run_sync(self.flows.endpoint, name, request, now)
        if quota is not None:
            answer.headers.extend(quota.headers().items())
        return answer


# --- housekeeping ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeCounts:
    codes: int = 0
    tokens: int = 0

    @property
    def total(self) -> int:
        return self.codes + self.tokens


def _ended_at() -> ColumnElement[datetime]:
    """When a token row stopped being of any use: its revocation (a rotated refresh token is
    revoked when it is exchanged), else the later of its access and refresh expiries."""
    return case(
        (OAuthToken.revoked_at.is_not(None), OAuthToken.revoked_at),
        (
            and_(
                OAuthToken.refresh_expires_at.is_not(None),
                OAuthToken.refresh_expires_at > OAuthToken.access_expires_at,
            ),
            OAuthToken.refresh_expires_at,
        ),
        else_=OAuthToken.access_expires_at,
    )


async def purge_spent(
    session: AsyncSession, now: datetime, retention: timedelta, batch: int = 1000
) -> PurgeCounts:
    """Deletes what can never be used again, `retention` after it ended (a bounded batch per
    call, so a pass never holds a long lock):

    - a grant's tokens (a family: every row of one code's grant, or one client-credentials
      token), once **every** row of the family ended — so a rotated refresh token is kept as
      long as its grant lives, and presenting it again still revokes the grant (reuse
      detection needs the used row);
    - an authorization code, once it expired and no token of its grant is left — so a spent
      code presented again still revokes what it gave while that lives.

    Consents and applications are kept (users and managers list them)."""
    cutoff = now - retention
    ended = func.max(type_coerce(_ended_at(), UtcDateTime()))
    families = (
        select(OAuthToken.family_id)
        .group_by(OAuthToken.family_id)
        .having(ended <= cutoff)
        .order_by(OAuthToken.family_id)
        .limit(batch)
    )
    family_ids = list(await session.scalars(families))
    tokens = 0
    if family_ids:
        deleted = await session.execute(
            delete(OAuthToken)
            .where(OAuthToken.family_id.in_(family_ids))
            .execution_options(synchronize_session=False)
        )
        tokens = rowcount(deleted)
    issued = select(OAuthToken.id).where(OAuthToken.family_id == OAuthAuthorizationCode.id)
    codes = (
        select(OAuthAuthorizationCode.id)
        .where(OAuthAuthorizationCode.expires_at <= cutoff, ~issued.exists())
        .order_by(OAuthAuthorizationCode.id)
        .limit(batch)
    )
    code_ids = list(await session.scalars(codes))
    if code_ids:
        await session.execute(
            delete(OAuthAuthorizationCode)
            .where(OAuthAuthorizationCode.id.in_(code_ids))
            .execution_options(synchronize_session=False)
        )
    return PurgeCounts(codes=len(code_ids), tokens=tokens)


def _hint(secret: str) -> str:
    return f"{secret[:8]}…{secret[-4:]}"


def _check_registration(fields: ClientFields) -> None:
    refused = sorted(set(fields.scopes) - OAUTH_SCOPES)
    if refused:
        raise InvalidRequest.field(
            "scopes",
            f"not for applications: {', '.join(refused)} (users manage their own keys and "
            "applications; operators' powers are not delegated)",
            "not_grantable",
        )
    grants = set(fields.grant_types)
    if "client_credentials" in grants and not fields.confidential:
        raise InvalidRequest.field(
            "grant_types",
            "client_credentials needs a confidential application (one with a secret)",
            "public_client",
        )
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise InvalidRequest.field(
            "grant_types", "refresh_token comes with authorization_code", "refresh_alone"
        )
    if "authorization_code" in grants and not fields.redirect_uris:
        raise InvalidRequest.field(
            "redirect_uris",
            "authorization_code needs at least one redirect URI",
            "redirect_uri_required",
        )


async def _check_brand_admin(session: AsyncSession, user_id: str, brand_id: str) -> None:
    member = await session.get(BrandMember, (brand_id, user_id))
    if member is None:
        raise OAuthClientBrandNotFound(f"No brand {brand_id} among yours")
    if member.role not in (BrandRole.owner, BrandRole.admin):
        raise Forbidden("Only a brand owner or admin can register the brand's applications")


async def _clients_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, OAuthClient]:
    if not ids:
        return {}
    rows = await session.scalars(select(OAuthClient).where(OAuthClient.id.in_(set(ids))))
    return {c.id: c for c in rows}


async def _revoke_tokens(session: AsyncSession, now: datetime, *where: ColumnElement[bool]) -> None:
    await session.execute(
        update(OAuthToken)
        .where(*where, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
