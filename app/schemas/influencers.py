from __future__ import annotations

from datetime import datetime

from pydantic import Field

from app.schemas.common import CountryCode, Input, LanguageCode, Output, Text200, Text5000


class InfluencerIn(Input):
    display_name: Text200
    bio: Text5000 = ""
    country: CountryCode | None = None
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20)


class InfluencerPatch(Input):
    display_name: Text200 | None = None
    bio: Text5000 | None = None
    country: CountryCode | None = None
    languages: list[LanguageCode] | None = Field(None, max_length=20)


class InfluencerOut(Output):
    id: str = Field(examples=["inf_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    user_id: str
    display_name: str
    bio: str
    country: str | None
    languages: list[str]
    created_at: datetime
    updated_at: datetime
