from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints

from app.schemas.common import Input, Output, Text200

Password = Annotated[
    str,
    StringConstraints(min_length=10, max_length=200),
    Field(description="10 to 200 characters"),
]


class RegisterIn(Input):
    email: EmailStr
    password: Password
    full_name: Text200


class RefreshIn(Input):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class TokenOut(Output):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str = Field(description="Single use: every refresh returns a new one")
    scope: str


class UserOut(Output):
    id: str = Field(examples=["usr_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    email: str
    full_name: str
    is_operator: bool
    created_at: datetime
