"""Declarative effects for transition tables (app/services/workflow/state_machine.py).

Each function returns an `Effect`, run by the engine after the compare-and-set and the audit row,
in the caller's transaction:

- `set_columns(responded_at=lambda ctx: ctx.now)` sets columns on the object;
- `enqueue_job(TOPIC, payload)` writes an outbox job (app/services/workflow/outbox.py), keyed by
  default to the one transition that caused it;
- `schedule_timer(action, after)` / `cancel_timer(*actions)` arm or cancel time-driven transitions
  of this object (app/services/workflow/timers.py);
- `cascade(kind, action, ids_from=…)` fires a transition of other objects — usually another
  aggregate's — through the machine registry (`state_machine.machine(kind)`), so the declaring
  module does not import the other aggregate's module. The fired transitions carry a `Cause`
  (`ctx.cause`) naming this one; their actor is the system acting for this transition unless
  `actor=` says otherwise.

`check_cascades()` verifies, once every machine is declared (app/services/wiring.py), that each
cascade names a declared kind and an action its actor may take.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.services.workflow import outbox, timers
from app.services.workflow.state_machine import (
    MACHINES,
    Actor,
    TransitionContext,
    machine,
    state_name,
)

Ctx = TransitionContext[Any]


def set_columns(**values: Any) -> Callable[[Ctx], None]:
    """Effect: set columns on the object; a callable value is called with the context
    (`set_columns(responded_at=lambda ctx: ctx.now)`)."""

    def _effect(ctx: Ctx) -> None:
        for name, value in values.items():
            setattr(ctx.obj, name, value(ctx) if callable(value) else value)

    _effect.__name__ = f"set_columns({', '.join(values)})"
    return _effect


def enqueue_job(
    topic: str,
    payload: Callable[[Ctx], dict[str, Any]] | None = None,
    *,
    key: Callable[[Ctx], str] | None = None,
    delay: timedelta | None = None,
    max_attempts: int | None = None,
) -> Callable[[Ctx], Awaitable[None]]:
    """Effect: write an outbox job in the transition's transaction.

    The default payload names the object and the transition; the default idempotency key is
    `<transition id>:<topic>`, so a job is tied to the one transition that caused it."""

    async def _effect(ctx: Ctx) -> None:
        body = payload(ctx) if payload is not None else {}
        body = {
            "kind": ctx.machine.kind,
            "object_id": ctx.object_id,
            "transition_id": ctx.transition_id,
            **body,
        }
        await outbox.enqueue(
            ctx.session,
            topic,
            body,
            now=ctx.now,
            idempotency_key=key(ctx) if key is not None else f"{ctx.transition_id}:{topic}",
            run_after=ctx.now + delay if delay is not None else None,
            max_attempts=max_attempts,
        )

    _effect.__name__ = f"enqueue_job({topic!r})"
    return _effect


def schedule_timer(
    action: str, after: timedelta | Callable[[Ctx], datetime]
) -> Callable[[Ctx], Awaitable[None]]:
    """Effect: fire `action` on this object later (a fixed delay, or a time computed from it)."""

    async def _effect(ctx: Ctx) -> None:
        due = ctx.now + after if isinstance(after, timedelta) else after(ctx)
        await timers.schedule(
            ctx.session, ctx.machine.kind, ctx.object_id, action, due, now=ctx.now
        )

    _effect.__name__ = f"schedule_timer({action!r})"
    return _effect


def cancel_timer(*actions: str) -> Callable[[Ctx], Awaitable[None]]:
    """Effect: cancel this object's pending timers for `actions` (all of them when none given)."""

    async def _effect(ctx: Ctx) -> None:
        for action in actions or (None,):
            await timers.cancel(ctx.session, ctx.machine.kind, ctx.object_id, action, now=ctx.now)

    _effect.__name__ = f"cancel_timer({', '.join(actions) or '*'})"
    return _effect


@dataclass(frozen=True)
class Cascade:
    """Effect: fire `action` on the `kind` objects whose ids `ids_from(ctx)` returns, in that
    order. Objects not in `only_from` (when given) are left alone; `lock` loads each with its
    row lock first (its machine's `lock_parent` before it). The actor is the system acting for
    this transition (`Actor("system", <transition id>)`) unless `actor` computes another; `reason`
    goes to their audit rows."""

    kind: str
    action: str
    ids_from: Callable[[Ctx], Awaitable[Sequence[str]]]
    only_from: frozenset[str] | None = None
    actor: Callable[[Ctx], Actor] | None = None
    reason: Callable[[Ctx], str | None] | None = None
    lock: bool = False

    @property
    def __name__(self) -> str:
        return f"cascade({self.kind!r}, {self.action!r})"

    async def __call__(self, ctx: Ctx) -> None:
        target = machine(self.kind)
        actor = self.actor(ctx) if self.actor is not None else Actor("system", ctx.transition_id)
        reason = self.reason(ctx) if self.reason is not None else None
        cause = ctx.as_cause()
        for object_id in await self.ids_from(ctx):
            obj = await target.load(ctx.session, object_id, lock=self.lock)
            if self.only_from is not None and target.state_of(obj) not in self.only_from:
                continue
            await target.fire(
                ctx.session, obj, self.action, actor, ctx.now, reason=reason, cause=cause
            )


def cascade(
    kind: str,
    action: str,
    *,
    ids_from: Callable[[Ctx], Awaitable[Sequence[str]]],
    only_from: Iterable[Any] | None = None,
    actor: Callable[[Ctx], Actor] | None = None,
    reason: Callable[[Ctx], str | None] | None = None,
    lock: bool = False,
) -> Cascade:
    """See `Cascade`. `ids_from` is usually one query (`select(Milestone.id).where(…)`)."""
    sources = frozenset(state_name(s) for s in only_from) if only_from is not None else None
    return Cascade(kind, action, ids_from, sources, actor, reason, lock)


def check_cascades() -> list[str]:
    """What is wrong with the declared cascades: a kind nobody declared, an action the target
    does not have, or (for the default system actor) one the system may not take. Empty when
    every cascade can fire."""
    problems = []
    for source in MACHINES.values():
        for transition in source.transitions:
            for effect in transition.effects:
                if not isinstance(effect, Cascade):
                    continue
                where = f"{source.kind}.{transition.action}: {effect.__name__}"
                target = MACHINES.get(effect.kind)
                if target is None:
                    problems.append(f"{where}: no machine of kind {effect.kind!r}")
                    continue
                moves = [t for t in target.transitions if t.action == effect.action]
                if not moves:
                    problems.append(f"{where}: {effect.kind} has no action {effect.action!r}")
                elif effect.actor is None and not any("system" in t.actors for t in moves):
                    problems.append(f"{where}: the system may not {effect.action} a {effect.kind}")
    return problems
