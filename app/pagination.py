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
from sqlalchemy.orm import ColumnProperty, InstrumentedAttribute

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


# What a page is ordered by: a mapped attribute, or the table's column behind it.
_Orderable = InstrumentedAttribute[Any] | ColumnElement[Any]


def _after(order: Sequence[tuple[_Orderable, bool]], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in `order` ((column, descending) pairs):
    (a > x) or (a = x and b > y) or …"""
    clauses = []
    for i, (column, descending) in enumerate(order):
        equal_prefix = [order[j][0] == values[j] for j in range(i)]
        step = column < values[i] if descending else column > values[i]
        clauses.append(and_(*equal_prefix, step))
    return or_(*clauses)


def _table_column(attribute: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    """The table's column behind a mapped attribute. A statement of table columns ordered by it
    stays a Core statement; ordered by the attribute, SQLAlchemy runs it through the ORM."""
    prop = attribute.property
    assert isinstance(prop, ColumnProperty)
    return prop.columns[0]


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    order: Sequence[SortKey],
    params: PageParams,
    values: Mapping[str, Any] | None = None,
    *,
    entities: bool = True,
) -> tuple[list[Any], str | None]:
    """Runs `stmt` one page at a time; returns rows and next cursor. `stmt` selects one ORM
    entity (the rows are entities), or with `entities=False` columns (the rows are `Row`s).
    `values` fill the statement's named bound parameters (a statement built once)."""
    columns: list[tuple[_Orderable, bool]] = [
        (k.column if entities else _table_column(k.column), k.descending) for k in order
    ]
    if params.cursor:
        stmt = stmt.where(_after(columns, decode_cursor(order, params.cursor)))
    stmt = stmt.order_by(*(c.desc() if descending else c.asc() for c, descending in columns))
    stmt = stmt.limit(params.limit + 1)
    if entities:
        rows = list((await session.scalars(stmt, values)).all())
    else:
        rows = list((await session.execute(stmt, values)).all())
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    last = rows[-1]
    return rows, encode_cursor(order, [getattr(last, k.column.key) for k in order])


def page_of(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"data": items, "next_cursor": next_cursor, "has_more": next_cursor is not None}
