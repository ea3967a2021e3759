"""API keys: what is sent to make, rotate and re-plan one, and what is shown of it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from app.schemas.catalogue import UNIQUE, no_duplicates
from app.schemas.common import Input, Output, Text200
from app.services.identity.credentials import ApiKeyStatus
from app.services.identity.scopes import Scope

KEY_ID_EXAMPLE = "key_01JD3M8ZQ4X2V6R9T0A1B2C3D4"

Scopes = Annotated[
    list[Scope],
    Field(
        min_length=1,
        max_length=len(Scope),
        description="What the key may do: a subset of the scopes of the credential creating it",
    ),
    AfterValidator(no_duplicates),
    UNIQUE,
]


class ApiKeyIn(Input):
    name: Text200 = Field(description="What the key is for, to tell keys apart")
    scopes: Scopes
    expires_at: datetime | None = Field(
        None, description="When the key stops working (RFC 3339); none: until revoked"
    )


class ApiKeyRotateIn(Input):
    overlap_seconds: int = Field(
        86_400,
        ge=0,
        le=30 * 86_400,
        description="How long the old key keeps working beside the new one (default 24 h, at "
        "most 30 days; 0 ends it now)",
    )


class ApiKeyPlanIn(Input):
    plan: str = Field(
        min_length=1, max_length=40, description="A plan of `RAPPORT_RATE_LIMIT_PLANS`"
    )


class ApiKeyOut(Output):
    """An API key as its owner sees it; the secret itself is never shown again."""

    id: str = Field(examples=[KEY_ID_EXAMPLE])
    name: str
    mode: Literal["live", "test"] = Field(
        description="`live` (rk_live_, production) or `test` (rk_test_)"
    )
    hint: str = Field(
        description="The key's first and last characters, to recognise it",
        examples=["rk_test_3q2-…0gH4"],
    )
    scopes: list[str] = Field(examples=[["briefs:read", "bids:write"]])
    plan: str = Field(
        description="Rate-limit plan (see the `RateLimit-Policy` header)", examples=["standard"]
    )
    status: ApiKeyStatus = Field(
        description="`active`; `expiring` (rotated, or given an expiry: works until "
        "`expires_at`); `expired`; `revoked`"
    )
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(
        description="Last request made with the key (to the minute)"
    )
    rotated_from_id: str | None = Field(
        description="The key this one replaced", examples=[KEY_ID_EXAMPLE]
    )
    rotated_to_id: str | None = Field(
        description="The key that replaced this one", examples=[KEY_ID_EXAMPLE]
    )


class ApiKeyCreatedOut(ApiKeyOut):
    secret: str = Field(
        description="The whole key, `rk_live_…` or `rk_test_…`: shown this once, never again. "
        "Send it as `Authorization: Bearer <secret>`",
        examples=["rk_test_3q2-7wEXAMPLEj0Qy3m9cK1xZ4nV8bT6rP2sL5dF0gH"],
    )


class ApiKeyRotatedOut(ApiKeyCreatedOut):
    previous: ApiKeyOut = Field(
        description="The rotated key: it keeps working until its `expires_at`"
    )
