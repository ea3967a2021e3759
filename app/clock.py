"""The time source. Everything time-driven asks the clock, never `datetime.now()` directly, so
tests (and operators replaying a scenario) can move time forward deterministically."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock:
    """System time unless frozen; `advance` moves a frozen clock forward."""

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._frozen_at = frozen_at

    def now(self) -> datetime:
        return self._frozen_at if self._frozen_at is not None else utcnow()

    def freeze(self, at: datetime | None = None) -> None:
        self._frozen_at = (at or utcnow()).astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._frozen_at = self.now() + delta

    def unfreeze(self) -> None:
        self._frozen_at = None


def rfc3339(value: datetime) -> str:
    """UTC, second precision or finer, with a `Z` suffix."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
