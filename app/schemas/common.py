"""Building blocks shared by every request and response model."""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Annotated, Any, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import StrictBool as StrictBool
from pydantic import StrictInt as StrictInt
from pydantic_core import PydanticCustomError

# Free text that must not be blank; surrounding whitespace is trimmed. The pattern (at least
# one non-space character) states "not blank" in OpenAPI.
Text200 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"\S")
]
Text5000 = Annotated[str, StringConstraints(max_length=5000)]
CountryCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{2}$"), Field(description="ISO 3166-1 alpha-2")
]
LanguageCode = Annotated[
    str, StringConstraints(pattern=r"^[a-z]{2}$"), Field(description="ISO 639-1")
]


def _integral_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and "\x00" in value:
        # PostgreSQL text cannot hold NUL; refused before any query sees it.
        raise PydanticCustomError("nul_character", "text must not contain a NUL character")
    if isinstance(value, dict):
        return {k: _integral_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(v) for v in value]
    return value


# Pydantic reads "1700000000" as a Unix time; other strings get its own date errors.
_NUMBER = re.compile(r"\s*[+-]?[0-9]+(?:\.[0-9]*)?\s*")


def _is_date(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, date)  # datetime is a date
    return any(_is_date(arg) for arg in get_args(annotation))


@cache
def _date_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(n for n, f in model.model_fields.items() if _is_date(f.annotation))


class DateStrings(BaseModel):
    """Dates are RFC 3339 strings, as the document says (query models use this too)."""

    @field_validator("*", mode="before")
    @classmethod
    def _dates_are_strings(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic's lax mode reads a number as a Unix time; the document says a date is an
        # RFC 3339 string, so a number is refused.
        if info.field_name in _date_fields(cls):
            if isinstance(value, int | float) or (
                isinstance(value, str) and _NUMBER.fullmatch(value)
            ):
                raise PydanticCustomError("date_type", "must be an RFC 3339 date string")
        return value


class Input(DateStrings):
    """Base of request bodies: unknown fields are an error, strings are not coerced to numbers."""

    model_config = ConfigDict(extra="forbid", strict=False, str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _json_numbers(cls, data: Any) -> Any:
        # JSON (and JSON Schema's `integer`) does not tell `2.0` from `2`; neither do we. Strict
        # integer fields still refuse `2.5`, `true` and `"2"`.
        return _integral_floats_as_ints(data)


class Output(BaseModel):
    """Base of response bodies, built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
