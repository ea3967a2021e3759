"""OAuth2 for partner applications (issue 14): clients, authorization codes, tokens, consents.

- `oauth_clients`: a partner application, registered by a user (for themselves, or for a brand
  they own or administer) or by an operator for a user. `confidential` clients hold a secret
  (only its keyed hash is stored; a rotation keeps the replaced one's hash for an overlap);
  public ones (native and browser apps) have none and must use PKCE, as every client must.
- `oauth_authorization_codes`: one consent's code, single use, minutes long, bound to the client,
  the redirect URI and the PKCE challenge. Only its hash is stored.
- `oauth_tokens`: one issuance: an access token and, for user grants, a refresh token, both
  stored hashed. `family_id` ties every token of one grant (the code it came from) together: a
  refresh rotates within the family, a reused refresh token or code revokes the family.
- `oauth_consents`: what a user allowed an application, listed and revocable by the user;
  revoking it revokes the application's tokens for that user.

The protocol itself is authlib's (app/services/identity/oauth_server.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import (
    Base,
    JsonDoc,
    created_at_column,
    public_id_column,
    updated_at_column,
)


class OAuthClient(Base):
    __tablename__ = "oauth_clients"

    # The `client_id` of the protocol.
    id: Mapped[str] = public_id_column("oauth_client")
    owner_user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # Set when the application is a brand's: its owners and admins manage it too.
    brand_id: Mapped[str | None] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), index=True, default=None
    )
    name: Mapped[str] = mapped_column(String(100))
    website: Mapped[str | None] = mapped_column(String(2048), default=None)
    redirect_uris: Mapped[list[str]] = mapped_column(JsonDoc)
    # The scopes the application may ask users for (and, within CLIENT_CREDENTIALS_SCOPES, for
    # itself).
    scopes: Mapped[list[str]] = mapped_column(JsonDoc)
    grant_types: Mapped[list[str]] = mapped_column(JsonDoc)
    confidential: Mapped[bool] = mapped_column(Boolean)
    # HMAC-SHA256 of the client secret (confidential clients); None for public clients.
    secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    secret_hint: Mapped[str | None] = mapped_column(String(40), default=None)
    # The secret a rotation replaced: it keeps working beside the new one until
    # `previous_secret_expires_at` (the overlap), then never again.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    plan: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_at_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class OAuthAuthorizationCode(Base):
    __tablename__ = "oauth_authorization_codes"

    id: Mapped[str] = public_id_column("oauth_code")
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scopes: Mapped[list[str]] = mapped_column(JsonDoc)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class OAuthToken(Base):
    __tablename__ = "oauth_tokens"

    id: Mapped[str] = public_id_column("oauth_token")
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    # None for a client-credentials token (the application acting for itself).
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, default=None
    )
    family_id: Mapped[str] = mapped_column(String(40), index=True)
    scopes: Mapped[list[str]] = mapped_column(JsonDoc)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    issued_at: Mapped[datetime] = mapped_column()
    access_expires_at: Mapped[datetime] = mapped_column()
    refresh_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when the refresh token was exchanged (rotation); presenting it again is a reuse.
    refresh_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class OAuthConsent(Base):
    __tablename__ = "oauth_consents"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)

    id: Mapped[str] = public_id_column("oauth_consent")
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[list[str]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
