"""The workflow spine: the audit trail of state transitions, outbox jobs and timers.

- `state_transitions`: one row per transition fired through a `StateMachine`
  (app/services/workflow/state_machine.py) — who moved what from which state to which, when and why.
- `jobs`: the outbox. A job is written in the same transaction as the change that causes it and
  relayed later by a worker (app/worker/relay.py): claimed under a lease, run, and marked
  succeeded, retried with backoff, or dead-lettered.
- `timers`: time-driven transitions. A pending timer names a machine kind, an object and an
  action; when it is due the worker fires that action as the actor `system`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JsonDoc, created_at_column, public_id_column


class JobState(enum.StrEnum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    dead = "dead"


class TimerState(enum.StrEnum):
    pending = "pending"
    fired = "fired"
    cancelled = "cancelled"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Plain strings with a CHECK (as in app/models/brand.py): a new value is a small migration.
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=20)


class StateTransition(Base):
    """The audit trail: append-only, one row per fired transition."""

    __tablename__ = "state_transitions"
    __table_args__ = (Index("ix_state_transitions_object", "kind", "object_id", "id"),)

    id: Mapped[str] = public_id_column("transition")
    kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(60), default=None)
    at: Mapped[datetime] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, default=None)


class Job(Base):
    """An outbox job: something to do outside the database, at least once, deduplicated."""

    __tablename__ = "jobs"
    __table_args__ = (
        # The relay's claim scans by state and due time.
        Index("ix_jobs_state_run_after", "state", "run_after"),
    )

    id: Mapped[str] = public_id_column("job")
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    # Enqueuing twice with one key yields one job (NULLs never collide).
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    state: Mapped[JobState] = mapped_column(_enum(JobState, "job_state"), default=JobState.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=10)
    run_after: Mapped[datetime] = mapped_column()
    locked_by: Mapped[str | None] = mapped_column(String(100), default=None)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Timer(Base):
    """A transition that time fires: `action` on (`kind`, `object_id`) when `due_at` passes."""

    __tablename__ = "timers"
    __table_args__ = (
        # At most one pending timer per object and action; `schedule` moves it instead.
        Index(
            "uq_timers_pending",
            "kind",
            "object_id",
            "action",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_timers_state_run_after", "state", "run_after"),
    )

    id: Mapped[str] = public_id_column("timer")
    kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    # When the transition is due (the business meaning; never moved by retries) …
    due_at: Mapped[datetime] = mapped_column()
    # … and when the worker looks at it next (due_at, or later after an unexpected failure).
    run_after: Mapped[datetime] = mapped_column()
    state: Mapped[TimerState] = mapped_column(
        _enum(TimerState, "timer_state"), default=TimerState.pending
    )
    # Once fired: `transitioned`, or `obsolete` when the object had moved on (with the reason).
    outcome: Mapped[str | None] = mapped_column(String(20), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = created_at_column()
    # When it left `pending` (fired or cancelled).
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
