"""Partner applications (OAuth clients) and the consents users gave them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from app.schemas.catalogue import UNIQUE, Url, no_duplicates
from app.schemas.common import Input, Output
from app.services.identity.credentials import MAX_ROTATION_OVERLAP
from app.services.identity.oauth import ClientStatus
from app.services.identity.oauth_server import GRANT_TYPES
from app.services.identity.scopes import OAUTH_SCOPES

CLIENT_ID_EXAMPLE = "cli_01JD3M8ZQ4X2V6R9T0A1B2C3D4"
MAX_REDIRECT_URIS = 10

# The scopes an application may be registered for (the catalogue's, minus the management of
# users' own credentials and applications, and operators' powers). Built from the one list, so
# mypy cannot read its members (the `misc` ignore), as for the catalogue's platforms.
OAuthScope = enum.StrEnum(  # type: ignore[misc]
    "OAuthScope", [(s, s) for s in sorted(OAUTH_SCOPES)]
)
OAuthScope.__doc__ = "A scope a partner application may ask users for"
GrantTypeName = Literal["authorization_code", "refresh_token", "client_credentials"]
assert set(GRANT_TYPES) == {"authorization_code", "refresh_token", "client_credentials"}

_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _redirect_uri(value: str) -> str:
    parts = urlsplit(value)
    if parts.fragment or "#" in value:
        raise ValueError("a redirect URI has no fragment (RFC 6749 §3.1.2)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a redirect URI carries no user name or password")
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return value
    raise ValueError(
        "must be an https:// URL, or http:// on a loopback address (localhost, 127.0.0.1, "
        "[::1]) for a native application (RFC 8252 §7.3)"
    )


RedirectUri = Annotated[
    str,
    StringConstraints(
        pattern=r"^(https://[^\s#]+|http://(localhost|127\.0\.0\.1|\[::1\])([:/?][^\s#]*)?)$",
        max_length=2048,
    ),
    AfterValidator(_redirect_uri),
    Field(
        description="Where users come back with a code: compared exactly, character for character"
    ),
]
ClientName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"\S")
]
PublicId = Annotated[str, StringConstraints(min_length=1, max_length=40)]


def _default_grant_types() -> list[GrantTypeName]:
    return ["authorization_code", "refresh_token"]


class OAuthClientIn(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Creator Studio",
                    "website": "https://creatorstudio.example",
                    "redirect_uris": ["https://creatorstudio.example/rapport/callback"],
                    "scopes": ["profile", "listings:read", "listings:write", "catalogue:read"],
                    "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                    "client_type": "confidential",
                }
            ]
        }
    )

    name: ClientName = Field(description="Shown to users on the consent page")
    website: Url | None = Field(None, description="Shown to users on the consent page")
    redirect_uris: Annotated[
        list[RedirectUri],
        Field(max_length=MAX_REDIRECT_URIS),
        AfterValidator(no_duplicates),
        UNIQUE,
    ] = Field(
        default_factory=list,
        description="Every redirect URI the application will use (at least one for "
        "`authorization_code`); a request naming another is refused and never redirected",
    )
    scopes: Annotated[
        list[OAuthScope],
        Field(min_length=1, max_length=len(OAUTH_SCOPES)),
        AfterValidator(no_duplicates),
        UNIQUE,
    ] = Field(
        description="What the application may ask users for (each user decides on the "
        "consent page); for itself (client credentials) it may hold `catalogue:read` at most"
    )
    grant_types: Annotated[
        list[GrantTypeName],
        Field(min_length=1, max_length=len(GRANT_TYPES)),
        AfterValidator(no_duplicates),
        UNIQUE,
    ] = Field(
        default_factory=_default_grant_types,
        description="`authorization_code` (acting for users who consent, with PKCE), "
        "`refresh_token` (with it), `client_credentials` (the application itself, on the "
        "public catalogue; confidential applications only)",
    )
    client_type: Literal["confidential", "public"] = Field(
        "confidential",
        description="`confidential`: a server that keeps a client secret; `public`: a native "
        "or browser application, which has none",
    )
    brand_id: PublicId | None = Field(
        None,
        description="Register it for a brand you own or administer (its owners and admins "
        "manage it too); none: yours",
    )


class OperatorOAuthClientIn(OAuthClientIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Agency Hub",
                    "redirect_uris": ["https://agencyhub.example/oauth/callback"],
                    "scopes": ["briefs:read", "bids:write"],
                    "owner_user_id": "usr_01JD3M8ZQ4X2V6R9T0A1B2C3D4",
                }
            ]
        }
    )

    owner_user_id: PublicId = Field(description="The partner's account, which will manage it")


class OAuthClientOut(Output):
    """A partner application as its managers see it; the secret is never shown again."""

    id: str = Field(description="The application's `client_id`", examples=[CLIENT_ID_EXAMPLE])
    name: str
    website: str | None
    owner_user_id: str = Field(examples=["usr_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    brand_id: str | None = Field(examples=["brd_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    redirect_uris: list[str] = Field(examples=[["https://creatorstudio.example/rapport/callback"]])
    scopes: list[str] = Field(examples=[["listings:read", "listings:write"]])
    grant_types: list[str] = Field(examples=[["authorization_code", "refresh_token"]])
    client_type: Literal["confidential", "public"]
    secret_hint: str | None = Field(
        description="The secret's first and last characters, to recognise it",
        examples=["rcs_3q2-…0gH4"],
    )
    previous_secret_expires_at: datetime | None = Field(
        description="After a secret rotation: when the replaced secret stops working (it works "
        "beside the new one until then); none if never rotated"
    )
    plan: str = Field(description="Rate-limit plan of its tokens", examples=["standard"])
    status: ClientStatus
    created_at: datetime
    revoked_at: datetime | None


class OAuthClientCreatedOut(OAuthClientOut):
    client_secret: str | None = Field(
        description="The client secret, **shown this once** (confidential applications); "
        "only a keyed hash is stored",
        examples=["rcs_9fQy2m0-3zQnS8kz1VbYc6p4H5Jr7uWd0aLxE2tQf1M"],
    )


class OAuthClientSecretRotateIn(Input):
    overlap_seconds: int = Field(
        86_400,
        ge=0,
        le=int(MAX_ROTATION_OVERLAP.total_seconds()),
        description="How long the current secret keeps working beside the new one (default "
        "24 h, at most 30 days; 0 ends it now)",
    )


class OAuthConsentClientOut(Output):
    id: str = Field(examples=[CLIENT_ID_EXAMPLE])
    name: str
    website: str | None


class OAuthConsentOut(Output):
    """Access you granted a partner application, until you revoke it."""

    id: str = Field(examples=["ocn_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    client: OAuthConsentClientOut
    scopes: list[str] = Field(examples=[["listings:read", "listings:write"]])
    created_at: datetime
    updated_at: datetime
