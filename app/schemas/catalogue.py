"""Value types of the catalogue shared by listings, brand profiles and briefs
(docs/design/catalogue-shapes.md).

Numbers that count or cost are strict integers (`100.5`, `"100"` and `true` are refused);
percentages are numbers in [0, 100]; platforms and deliverable types come from the one catalogue
in `app.services.catalogue.deliverable_types`; currencies from `app.services.catalogue.currencies`.
"""

from __future__ import annotations

import enum
from datetime import date
from itertools import pairwise
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, Strict, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from app.schemas.common import CountryCode, Input, LanguageCode
from app.services.catalogue import currencies
from app.services.catalogue.deliverable_types import DELIVERABLE_TYPES, PLATFORMS

# In the order of the shapes document; the set is the catalogue module's.
PLATFORM_ORDER: tuple[str, ...] = (
    "instagram",
    "tiktok",
    "youtube",
    "twitch",
    "x",
    "blog",
    "podcast",
)
assert set(PLATFORM_ORDER) == set(PLATFORMS), "platforms differ from the deliverable catalogue"

# Members built from the catalogue's lists (one source): mypy types only enums it can read
# member by member, hence the two `misc` ignores.
Platform = enum.StrEnum("Platform", [(p, p) for p in PLATFORM_ORDER])  # type: ignore[misc]
Platform.__doc__ = "A social platform"
DeliverableTypeName = enum.StrEnum(  # type: ignore[misc]
    "DeliverableTypeName", [(name, name) for name in DELIVERABLE_TYPES]
)
DeliverableTypeName.__doc__ = "A deliverable type of the catalogue (each belongs to one platform)"

AgeBand = Literal["13-17", "18-24", "25-34", "35-44", "45-54", "55+"]
Gender = Literal["female", "male", "other"]
Objective = Literal["awareness", "engagement", "traffic", "sales"]
ApprovalPolicy = Literal["none", "first", "all"]
UsageChannel = Literal["organic", "paid_social", "website", "email", "ooh", "tv"]

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=60),
    Field(description="A lowercase slug, e.g. `vegan-food`"),
]
Count = Annotated[int, Strict(), Field(ge=0, le=10**15, description="A non-negative integer")]
Money = Annotated[
    int, Strict(), Field(ge=0, le=10**15, description="Integer amount in the currency's minor unit")
]
Percent = Annotated[float, Strict(), Field(ge=0, le=100, allow_inf_nan=False)]
Url = Annotated[
    str,
    StringConstraints(pattern=r"^https?://[^\s/$.?#][^\s]*$", max_length=2048),
    Field(description="An http(s) URL"),
]
ListingId = Annotated[str, StringConstraints(pattern=r"^inf_[0-9A-HJKMNP-TV-Z]{26}$")]


SUPPORTED_CURRENCIES = sorted(currencies.MINOR_UNIT_EXPONENTS)


def _currency(code: str) -> str:
    # Exactly the codes the OpenAPI enum lists (upper case): `eur` is refused, not normalised,
    # so a client generated from the spec and the server agree.
    if code not in currencies.MINOR_UNIT_EXPONENTS:
        raise PydanticCustomError(
            "unsupported_currency",
            "is not a supported ISO 4217 currency ({supported})",
            {"supported": ", ".join(SUPPORTED_CURRENCIES)},
        )
    return code


Currency = Annotated[
    str,
    StringConstraints(min_length=3, max_length=3),
    AfterValidator(_currency),
    Field(
        description="ISO 4217 code of a supported currency, upper case, e.g. `EUR`",
        examples=["EUR"],
        json_schema_extra={"enum": SUPPORTED_CURRENCIES},
    ),
]


def distribution_total_ok(values: dict[Any, float]) -> bool:
    return not values or abs(sum(values.values()) - 100.0) <= 1.0


def _check_distribution(values: dict[Any, float]) -> dict[Any, float]:
    if not distribution_total_ok(values):
        raise PydanticCustomError(
            "distribution_sum",
            "percentages must sum to 100 ± 1 (they sum to {total})",
            {"total": round(sum(values.values()), 3)},
        )
    return values


# Beside `AfterValidator(no_duplicates)`: states the rule in OpenAPI.
UNIQUE = Field(json_schema_extra={"uniqueItems": True})


def no_duplicates(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("unique_items", "must not repeat an item")
    return values


def _keys_by_pattern(schema: dict[str, Any]) -> None:
    # Pydantic states a key pattern as `patternProperties`, which still lets any other key
    # through; the server refuses them, so say so: the pattern names every key.
    patterns = schema.pop("patternProperties", None)
    if patterns:
        [(pattern, values)] = patterns.items()
        schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
        schema["additionalProperties"] = values


# An audience's shares in percent by country, age band, gender and language.
CountryShares = Annotated[
    dict[CountryCode, Percent],
    Field(max_length=250, json_schema_extra=_keys_by_pattern),
    AfterValidator(_check_distribution),
]
AgeBandShares = Annotated[
    dict[AgeBand, Percent],
    Field(max_length=6, json_schema_extra=_keys_by_pattern),
    AfterValidator(_check_distribution),
]
GenderShares = Annotated[
    dict[Gender, Percent],
    Field(max_length=3, json_schema_extra=_keys_by_pattern),
    AfterValidator(_check_distribution),
]
LanguageShares = Annotated[
    dict[LanguageCode, Percent],
    Field(max_length=200, json_schema_extra=_keys_by_pattern),
    AfterValidator(_check_distribution),
]


def _patch_schema(schema: dict[str, Any], cls: type[Patch]) -> None:
    """In OpenAPI, only `nullable_fields` accept `null` (the validator below refuses it
    elsewhere): drop the `null` branch pydantic derives from `X | None = None`."""
    for name, prop in schema.get("properties", {}).items():
        if name in cls.nullable_fields:
            continue
        branches = [b for b in prop.get("anyOf", []) if b != {"type": "null"}]
        if len(branches) == 1 and "anyOf" in prop:
            del prop["anyOf"]
            prop.update(branches[0])
        elif branches:
            prop["anyOf"] = branches
        prop.pop("default", None)


class Patch(Input):
    """Base of PATCH bodies: only fields sent change; `null` only clears a nullable field."""

    model_config = ConfigDict(json_schema_extra=_patch_schema)

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: Any, info: Any) -> Any:
        if value is None and info.field_name not in cls.nullable_fields:
            raise PydanticCustomError("not_nullable", "cannot be null")
        return value


def ordered_dates(points: list[Any], attribute: str = "date") -> list[Any]:
    dates: list[date] = [getattr(p, attribute) for p in points]
    if any(later <= earlier for earlier, later in pairwise(dates)):
        raise PydanticCustomError(
            "not_in_order", "points must be in strictly increasing date order"
        )
    return points
