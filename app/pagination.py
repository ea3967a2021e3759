"""One cursor-pagination helper for every list.

Keyset pagination: the cursor holds the sort key of the last row returned, so a page is stable
while rows are inserted or deleted elsewhere, and deep pages cost the same as the first. The last
sort column must be unique (the public id), which makes the order total. Cursors are opaque
(base64url JSON) and bound to their sort: a cursor from one sort is refused by another.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.errors import InvalidRequest
from app.settings import Settings

if TYPE_CHECKING:
    from typing_extensions import TypeForm

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; follow `next_cursor` for the next."""

    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page"
    )
    has_more: bool

    @classmethod
    def model_parametrized_name(cls, params: tuple[TypeForm[Any], ...]) -> str:
        # `Page[BidOut]` is named `BidPage` in OpenAPI (and so in generated clients), not
        # `Page_BidOut_`. Pages are only ever of models, which have a `__name__`.
        item = params[0]
        assert isinstance(item, type)
        return item.__name__.removesuffix("Out") + "Page"


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(
    request: Request,
    limit: Annotated[
        int | None,
        Query(ge=1, description="Page size; the server's default is 20 and its cap is 100"),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=2048, description="`next_cursor` of the last page")
    ] = None,
) -> PageParams:
    return PageParams(limit=resolve_limit(request, limit), cursor=cursor)


def resolve_limit(request: Request, limit: int | None) -> int:
    """The page size: the settings' default when none is given, a 422 above the cap."""
    # app.resources.Resources (not imported: services import this module, and it them).
    settings: Settings = request.app.state.resources.settings
    if limit is None:
        return settings.page_size_default
    if limit > settings.page_size_max:
        raise InvalidRequest.field(
            "limit", f"must be at most {settings.page_size_max}", "less_than_equal"
        )
    return limit


Pagination = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True)
class SortKey:
    column: InstrumentedAttribute[Any]
    descending: bool = False


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "dt" in value:
        return datetime.fromisoformat(value["dt"])
    if isinstance(value, dict) and "d" in value:
        return date.fromisoformat(value["d"])
    return value


def _signature(order: Sequence[SortKey]) -> str:
    return ",".join(("-" if k.descending else "") + k.column.key for k in order)


def encode_cursor(order: Sequence[SortKey], values: Sequence[Any]) -> str:
    payload = {"s": _signature(order), "v": [_encode_value(v) for v in values]}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(order: Sequence[SortKey], cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        values = payload["v"]
        valid = payload["s"] == _signature(order) and len(values) == len(order)
    except (binascii.Error, ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise InvalidRequest.field("cursor", "is not a cursor of this list and sort", "cursor")
    try:
        return [_decode_value(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise InvalidRequest.field("cursor", "is corrupt", "cursor") from exc


def _after(order: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in `order`: (a > x) or (a = x and b > y) or …"""
    clauses = []
    for i, key in enumerate(order):
        equal_prefix = [order[j].column == values[j] for j in range(i)]
        step = key.column < values[i] if key.descending else key.column > values[i]
        clauses.append(and_(*equal_prefix, step))
    return or_(*clauses)


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    order: Sequence[SortKey],
    params: PageParams,
    values: Mapping[str, Any] | None = None,
) -> tuple[list[Any], str | None]:
    """Runs `stmt` (selecting one ORM entity) one page at a time; returns rows and next cursor.
    `values` fill the statement's named bound parameters (a statement built once)."""
    if params.cursor:
        stmt = stmt.where(_after(order, decode_cursor(order, params.cursor)))
    stmt = stmt.order_by(*(k.column.desc() if k.descending else k.column.asc() for k in order))
    rows = list((await session.scalars(stmt.limit(params.limit + 1), values)).all())
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    last = rows[-1]
    return rows, encode_cursor(order, [getattr(last, k.column.key) for k in order])


def page_of(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"data": items, "next_cursor": next_cursor, "has_more": next_cursor is not None}
