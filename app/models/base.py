"""Declarative base and the column types every table uses."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, MetaData, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.clock import utcnow
from app.ids import new_id

# Named constraints so Alembic can drop and alter them identically on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON documents (distributions, lists of tags): JSONB on PostgreSQL, JSON text on SQLite.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


# orjson reads an integer beyond 64 bits as a float where json keeps it exact; a run of 19 digits
# or more (wherever it is) sends the document to json.
_LONG_DIGITS = re.compile(r"\d{19}")


def read_json(text: str) -> Any:
    """How the engines decode JSON columns (`json_deserializer`): orjson, several times faster
    than the json module (a catalogue page decodes about 170 documents), where it reads exactly
    what json reads; a document holding a very long number, or one orjson refuses and json
    accepts (NaN, 1e400, a lone surrogate), is read by json."""
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UtcDateTime()}


def public_id_column(kind: str) -> Mapped[str]:
    """Primary key holding the prefixed public id (see app/ids.py)."""
    return mapped_column(String(40), primary_key=True, default=lambda: new_id(kind))


def created_at_column() -> Mapped[datetime]:
    return mapped_column(default=utcnow, nullable=False)


def updated_at_column() -> Mapped[datetime]:
    return mapped_column(default=utcnow, onupdate=utcnow, nullable=False)
