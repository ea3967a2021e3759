"""Timers: transitions that time fires (offer expiry, review-window lapse, auto-release …).

A pending timer says "fire `action` on the `kind` object `object_id` at `due_at`". There is at
most one pending timer per (kind, object, action): scheduling again moves the existing one.
`schedule` and `cancel` write in the caller's transaction, usually as effects of a transition
(`schedule_timer`, `cancel_timer` in app/services/workflow/effects.py). The worker
(app/worker/runner.py) fires due timers as the actor `system`; a timer whose object has moved on
is marked fired with outcome `obsolete` — that is the normal fate of, say, an expiry timer of an
offer that was accepted in time, when nobody cancelled it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import rowcount
from app.ids import new_id
from app.models.workflow import Timer, TimerState
from app.services.workflow.state_machine import MACHINES


def _check_declared(kind: str, action: str) -> None:
    declared = MACHINES.get(kind)
    if declared is None:
        raise ValueError(f"no state machine of kind {kind!r} is declared")
    if not any(t.action == action and "system" in t.actors for t in declared.transitions):
        raise ValueError(f"{kind}: no transition {action!r} that the system may fire")


async def schedule(
    session: AsyncSession,
    kind: str,
    object_id: str,
    action: str,
    due_at: datetime,
    *,
    now: datetime,
) -> Timer:
    """Fire `action` on the object at `due_at`; moves the pending timer if there is one."""
    _check_declared(kind, action)
    values = {
        "id": new_id("timer"),
        "kind": kind,
        "object_id": object_id,
        "action": action,
        "due_at": due_at,
        "run_after": due_at,
        "state": TimerState.pending,
        "attempts": 0,
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # Upsert against the partial unique index `uq_timers_pending`: one statement, no race.
    stmt = insert(Timer).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["kind", "object_id", "action"],
        index_where=text("state = 'pending'"),
        set_={"due_at": due_at, "run_after": due_at, "attempts": 0, "last_error": None},
    )
    await session.execute(stmt)
    timer = await session.scalar(
        select(Timer)
        .where(
            Timer.kind == kind,
            Timer.object_id == object_id,
            Timer.action == action,
            Timer.state == TimerState.pending,
        )
        .execution_options(populate_existing=True)
    )
    assert timer is not None
    return timer


async def cancel(
    session: AsyncSession,
    kind: str,
    object_id: str,
    action: str | None = None,
    *,
    now: datetime,
) -> int:
    """Cancel the object's pending timer for `action` (every pending one when None)."""
    stmt = update(Timer).where(
        Timer.kind == kind, Timer.object_id == object_id, Timer.state == TimerState.pending
    )
    if action is not None:
        stmt = stmt.where(Timer.action == action)
    result = await session.execute(
        stmt.values(state=TimerState.cancelled, finished_at=now).execution_options(
            synchronize_session=False
        )
    )
    return rowcount(result)


async def pending_timers(session: AsyncSession, kind: str, object_id: str) -> list[Timer]:
    rows = await session.scalars(
        select(Timer)
        .where(Timer.kind == kind, Timer.object_id == object_id, Timer.state == TimerState.pending)
        .order_by(Timer.due_at)
    )
    return list(rows)
