"""The state-machine engine: one declared transition table per aggregate, fired safely.

An aggregate (bid, offer, contract, deliverable, draft, milestone, payout …) declares every move
it can make in ONE place, with effects from app/services/workflow/effects.py:

    OFFERS = StateMachine(
        "offer",
        Offer,
        [
            Transition("accept", {"open"}, "accepted", actors={"brand", "influencer"},
                       guard=answerable,
                       effects=[cancel_timer("expire"), set_columns(responded_at=_now)]),
            Transition("expire", {"open"}, "expired", actors={"system"}),
        ],
    )

and moves an object with `await OFFERS.fire(session, offer, "accept", actor, now)`, which
returns the object (typed: `StateMachine[Offer].fire` returns an `Offer`). `fire`

1. finds the transition for (action, current state); none → `InvalidTransition` (409, naming the
   current state and the actions this actor may take now);
2. checks the actor's kind; a party that may not take this action → `ActorNotAllowed` (403,
   naming who may). Whether the caller is a party *at all* is the service's business: it loads
   the object through a tenancy-filtered query and answers 404 before the engine is involved;
3. runs the guard (a refusal is `TransitionRefused`, 409, or whatever `Problem` the guard raises);
4. moves the row with a compare-and-set — `UPDATE … SET state=:to[, version=version+1]
   WHERE id=:id AND state=:from[ AND version=:v]` — and raises `ConcurrentTransition` (409)
   unless exactly one row changed. Two callers can therefore never both win: on PostgreSQL the
   second UPDATE waits for the first's row lock and then finds the state changed; on SQLite every
   transaction takes the write lock up front (`BEGIN IMMEDIATE`, app/db.py), so the second caller
   reads the new state and gets `InvalidTransition`;
5. writes the audit row (`state_transitions`) and runs the declared effects — enqueue outbox
   jobs, schedule or cancel timers, set columns, fire another aggregate's transition — all in the
   caller's transaction: the move and its consequences commit together or not at all.

Guards and effects see a `TransitionContext[Model]`: the object (typed), the actor, the clock,
the caller's typed `params` (`ctx.params_as(DraftReview)`: any object the caller passed to
`fire(params=…)`, or the class's defaults) and, for a transition fired by another one's
`cascade` effect, its `cause`. Effects may change the object's other columns (the ORM flushes
them in the same transaction). The engine never commits.

`MACHINES` holds every machine by kind, installed by `app.services.wiring.wire()` from its list
(`install_machines`; nothing registers on import); `machine(kind)` finds it. Timers
(app/services/workflow/timers.py) and cascades (`effects.cascade`) reach another aggregate's
machine that way, so a module never imports another aggregate's module only to
fire its machine. This module imports no other service: outbox, timers and effects import it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar, cast

from sqlalchemy import Select, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

from app.db import rowcount
from app.errors import Conflict, Forbidden, InvalidTransition, NotFound, PreconditionFailed
from app.models.base import Base
from app.models.workflow import StateTransition
from app.pagination import PageParams, SortKey, paginate

ActorKind = Literal["brand", "influencer", "operator", "system"]
ACTOR_KINDS: frozenset[str] = frozenset({"brand", "influencer", "operator", "system"})
EVERYONE: frozenset[str] = ACTOR_KINDS


# --- problems --------------------------------------------------------------------------------


class ActorNotAllowed(Forbidden):
    slug, title = "actor-not-allowed", "This party may not take this action"

    def __init__(self, kind: str, state: str, action: str, actor_kind: str, allowed: list[str]):
        super().__init__(
            f"A {actor_kind} cannot {action} a {kind}; only: {', '.join(allowed) or 'nobody'}",
            current_state=state,
            allowed_actors=allowed,
        )


class ConcurrentTransition(Conflict):
    slug, title = "concurrent-transition", "Someone else changed this object at the same time"

    def __init__(self, kind: str, object_id: str, action: str, from_state: str) -> None:
        super().__init__(
            f"The {kind} {object_id} changed while you tried to {action} it (it was "
            f"{from_state}); read it again and retry",
            expected_state=from_state,
        )


class TransitionRefused(Conflict):
    slug, title = "transition-refused", "The action's precondition does not hold"

    def __init__(self, kind: str, state: str, action: str, reason: str) -> None:
        super().__init__(f"Cannot {action} this {kind}: {reason}", current_state=state)


class ObjectNotFound(NotFound):
    slug, title = "object-not-found", "No such object"


# --- declaration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who fires a transition: a kind (brand, influencer, operator, system) and an id.

    `id` is the acting brand's or influencer's id, the operator's user id, or for `system` what
    fired it (a timer's id, a job's id)."""

    kind: str
    id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTOR_KINDS:
            raise ValueError(f"unknown actor kind {self.kind!r}; one of {sorted(ACTOR_KINDS)}")


SYSTEM = Actor("system")


ModelT = TypeVar("ModelT", bound=Base)
ParamsT = TypeVar("ParamsT")


@dataclass(frozen=True)
class Cause:
    """The transition whose `cascade` effect fired this one (another aggregate's, usually)."""

    kind: str
    object_id: str
    action: str
    transition_id: str | None


@dataclass
class TransitionContext(Generic[ModelT]):
    """What guards and effects see."""

    session: AsyncSession
    machine: StateMachine[ModelT]
    obj: ModelT
    action: str
    from_state: str
    to_state: str
    actor: Actor
    now: datetime
    params: object = None
    cause: Cause | None = None
    transition_id: str | None = None  # the audit row's id, set before effects run

    @property
    def object_id(self) -> str:
        return self.machine.object_id(self.obj)

    def params_as(self, kind: type[ParamsT]) -> ParamsT:
        """The caller's parameters as `kind` (a dataclass whose fields all have defaults): what
        was passed to `fire(params=…)` when it is one, else `kind()` — so a guard reads typed
        fields, and a transition fired without them (a timer, a cascade) sees the defaults."""
        if isinstance(self.params, kind):
            return self.params
        if self.params is not None:
            raise TypeError(
                f"{self.machine.kind}.{self.action}: params are a "
                f"{type(self.params).__name__}, not a {kind.__name__}"
            )
        return kind()

    def as_cause(self) -> Cause:
        return Cause(self.machine.kind, self.object_id, self.action, self.transition_id)


# A guard returns True/None to allow, False or a reason (str) to refuse, or raises a Problem.
GuardResult = bool | str | None
Guard = Callable[[TransitionContext[Any]], "GuardResult | Awaitable[GuardResult]"]
Effect = Callable[[TransitionContext[Any]], "Awaitable[None] | None"]


@dataclass(frozen=True)
class Transition:
    action: str
    from_states: frozenset[str]
    to_state: str
    actors: frozenset[str] = EVERYONE
    guard: Guard | None = None
    effects: tuple[Effect, ...] = ()
    description: str = ""

    def __init__(
        self,
        action: str,
        from_states: Iterable[Any] | str,
        to_state: Any,
        actors: Iterable[str] = EVERYONE,
        guard: Guard | None = None,
        effects: Sequence[Effect] = (),
        description: str = "",
    ) -> None:
        sources = [from_states] if isinstance(from_states, str) else list(from_states)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "from_states", frozenset(state_name(s) for s in sources))
        object.__setattr__(self, "to_state", state_name(to_state))
        object.__setattr__(self, "actors", frozenset(actors))
        object.__setattr__(self, "guard", guard)
        object.__setattr__(self, "effects", tuple(effects))
        object.__setattr__(self, "description", description)
        unknown = self.actors - ACTOR_KINDS
        if unknown or not self.actors:
            raise ValueError(
                f"{action}: actors must be a non-empty subset of {sorted(ACTOR_KINDS)}"
            )
        if not self.from_states:
            raise ValueError(f"{action}: needs at least one from-state")


def state_name(value: Any) -> str:
    """A state as stored: an enum member's value, or the string itself."""
    return str(value.value if hasattr(value, "value") else value)


MACHINES: dict[str, StateMachine[Any]] = {}
"""Every declared machine by kind; timers and cascades find the machine to fire through it."""


class UnknownMachine(LookupError):
    pass


def machine(kind: str) -> StateMachine[Any]:
    """The machine declared for `kind` (a programming error, not a problem, when there is none:
    every machine is listed in app/services/wiring.py)."""
    found = MACHINES.get(kind)
    if found is None:
        raise UnknownMachine(f"no state machine of kind {kind!r} is declared")
    return found


def install_machines(machines: Iterable[StateMachine[Any]]) -> None:
    """Make machines findable by kind (again: installing the same machine twice is a no-op)."""
    for found in machines:
        existing = MACHINES.get(found.kind)
        if existing is not None and existing.model is not found.model:
            raise ValueError(f"a state machine of kind {found.kind!r} is already declared")
        MACHINES[found.kind] = found


class StateMachine(Generic[ModelT]):
    def __init__(
        self,
        kind: str,
        model: type[ModelT],
        transitions: Sequence[Transition],
        *,
        state_column: str = "state",
        version_column: str | None = None,
        register: bool = False,
        lock_parent: tuple[type[Base], str] | None = None,
    ) -> None:
        self.kind = kind
        self.model = model
        # (ParentModel, "fk_column"): `load(lock=True)` locks the parent's row before the
        # object's, so the worker takes locks in the same order as the services do (a contract,
        # then its deliverables) and the two cannot deadlock on PostgreSQL.
        self.lock_parent = lock_parent
        self.transitions = tuple(transitions)
        self.state_column = state_column
        self.version_column = version_column
        table_columns = _table(model).c
        if state_column not in table_columns:
            raise ValueError(f"{model.__name__} has no column {state_column!r}")
        if version_column is not None and version_column not in table_columns:
            raise ValueError(f"{model.__name__} has no column {version_column!r}")
        self._state_attr = getattr(model, state_column)
        self._pk = model.__mapper__.primary_key
        if len(self._pk) != 1:
            raise ValueError("a state machine needs a single-column primary key")
        self._by_key: dict[tuple[str, str], Transition] = {}
        for t in self.transitions:
            for source in t.from_states:
                if (t.action, source) in self._by_key:
                    raise ValueError(f"{kind}: two transitions for {t.action!r} from {source!r}")
                self._by_key[(t.action, source)] = t
        self.actions = frozenset(t.action for t in self.transitions)
        self.states = frozenset(s for t in self.transitions for s in (*t.from_states, t.to_state))
        declared = _column_values(table_columns[state_column])
        if declared is not None and not self.states <= declared:
            raise ValueError(f"{kind}: states {sorted(self.states - declared)} not in the column")
        if register:  # a test's own machine; the app's are installed by wire()
            install_machines([self])

    def __repr__(self) -> str:
        return f"StateMachine({self.kind!r}, {len(self.transitions)} transitions)"

    # --- reading the table ---------------------------------------------------------------

    def allowed_actions(self, state: Any, actor_kind: str | None = None) -> list[str]:
        """Actions declared from `state` (for `actor_kind`, when given), guards not evaluated."""
        state = state_name(state)
        return sorted(
            {
                t.action
                for (_, source), t in self._by_key.items()
                if source == state and (actor_kind is None or actor_kind in t.actors)
            }
        )

    def transition_for(self, state: Any, action: str) -> Transition | None:
        return self._by_key.get((action, state_name(state)))

    def state_of(self, obj: ModelT) -> str:
        return state_name(getattr(obj, self.state_column))

    def object_id(self, obj: ModelT) -> str:
        return str(getattr(obj, str(self._pk[0].key)))

    def describe(self) -> list[dict[str, Any]]:
        """The table as data (docs, the operator console)."""
        return [
            {
                "action": t.action,
                "from": sorted(t.from_states),
                "to": t.to_state,
                "actors": sorted(t.actors),
                "guard": getattr(t.guard, "__name__", None) if t.guard else None,
                "description": t.description,
            }
            for t in self.transitions
        ]

    # --- firing --------------------------------------------------------------------------

    async def load(self, session: AsyncSession, object_id: str, *, lock: bool = False) -> ModelT:
        """The object by id, fresh from the database; `lock` takes its row lock (PostgreSQL)."""
        stmt = select(self.model).where(self._pk[0] == object_id)
        if lock and self.lock_parent is not None:
            parent, column = self.lock_parent
            owner = select(getattr(self.model, column)).where(self._pk[0] == object_id)
            parent_pk = parent.__mapper__.primary_key[0]
            await session.execute(
                select(parent_pk).where(parent_pk == owner.scalar_subquery()).with_for_update()
            )
        if lock:
            stmt = stmt.with_for_update()
        obj: ModelT | None = await session.scalar(stmt.execution_options(populate_existing=True))
        if obj is None:
            raise ObjectNotFound(f"No {self.kind} {object_id}")
        return obj

    def check(self, state: Any, action: str, actor: Actor) -> Transition:
        """The transition `actor` may take from `state`, or the problem that says why not."""
        state = state_name(state)
        transition = self._by_key.get((action, state))
        if transition is None:
            raise InvalidTransition(
                self.kind, state, action, self.allowed_actions(state, actor.kind)
            )
        if actor.kind not in transition.actors:
            raise ActorNotAllowed(self.kind, state, action, actor.kind, sorted(transition.actors))
        return transition

    async def fire(
        self,
        session: AsyncSession,
        obj_or_id: ModelT | str,
        action: str,
        actor: Actor,
        now: datetime,
        *,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        params: object = None,
        cause: Cause | None = None,
    ) -> ModelT:
        """Move the object by `action`; returns the object in its new state.

        `reason` and `data` go to the audit row; `params` (a typed object, read with
        `ctx.params_as`) reaches guards and effects; `cause` is set by cascades.
        `expected_version` (needs a version column) turns a stale `If-Match` into 412."""
        obj = await self.load(session, obj_or_id) if isinstance(obj_or_id, str) else obj_or_id
        if expected_version is not None:
            # The version the client saw, before this transaction's own edits.
            if self.version_column is None:
                raise TypeError(f"{self.kind} has no version column")
            seen = getattr(obj, self.version_column)
            if expected_version != seen:
                raise PreconditionFailed(
                    f"The {self.kind} is at version {seen}, not {expected_version}",
                    current_version=seen,
                )
        # Pending ORM changes go first (an ORM-versioned row bumps its version as it flushes),
        # so the state and version read below are what the compare-and-set will compare.
        await session.flush()
        object_id = self.object_id(obj)
        from_state = self.state_of(obj)
        transition = self.check(from_state, action, actor)
        version = getattr(obj, self.version_column) if self.version_column is not None else None

        ctx = TransitionContext(
            session=session,
            machine=self,
            obj=obj,
            action=action,
            from_state=from_state,
            to_state=transition.to_state,
            actor=actor,
            now=now,
            params=params,
            cause=cause,
        )
        if transition.guard is not None:
            verdict = await _maybe_await(transition.guard(ctx))
            if verdict is False or isinstance(verdict, str):
                why = verdict if isinstance(verdict, str) else _guard_name(transition.guard)
                raise TransitionRefused(self.kind, from_state, action, why)

        await self._compare_and_set(session, obj, object_id, from_state, transition, version)

        record = StateTransition(
            kind=self.kind,
            object_id=object_id,
            action=action,
            from_state=from_state,
            to_state=transition.to_state,
            actor_kind=actor.kind,
            actor_id=actor.id,
            at=now,
            reason=reason,
            data=dict(data) if data is not None else None,
        )
        session.add(record)
        await session.flush()
        ctx.transition_id = record.id
        for effect in transition.effects:
            await _maybe_await(effect(ctx))
        # --- public events (issue 14): the hooks wiring.wire() installs, e.g. the event row.
        for hook in TRANSITION_HOOKS:
            await hook(ctx)
        return obj

    async def _compare_and_set(
        self,
        session: AsyncSession,
        obj: ModelT,
        object_id: str,
        from_state: str,
        transition: Transition,
        version: int | None,
    ) -> None:
        table = _table(self.model)
        state_col = table.c[self.state_column]
        to_value = _bind(state_col, transition.to_state)
        values: dict[str, Any] = {self.state_column: to_value}
        where = [table.c[self._pk[0].name] == object_id, state_col == _bind(state_col, from_state)]
        if self.version_column is not None:
            version_col = table.c[self.version_column]
            values[self.version_column] = version_col + 1
            where.append(version_col == version)
        result = await session.execute(
            update(table).where(*where).values(values).execution_options(synchronize_session=False)
        )
        if rowcount(result) != 1:
            raise ConcurrentTransition(self.kind, object_id, transition.action, from_state)
        # The row changed under the ORM's feet: tell the identity map without another UPDATE.
        attributes.set_committed_value(obj, self.state_column, to_value)
        if self.version_column is not None and version is not None:
            attributes.set_committed_value(obj, self.version_column, version + 1)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _column_values(column: Any) -> frozenset[str] | None:
    enums = getattr(column.type, "enums", None)
    return frozenset(enums) if enums else None


def _bind(column: Any, state: str) -> Any:
    enum_class = getattr(column.type, "enum_class", None)
    return enum_class(state) if enum_class is not None else state


def _guard_name(guard: Guard) -> str:
    doc = inspect.getdoc(guard)
    if doc:
        return doc.splitlines()[0].rstrip(".")
    return getattr(guard, "__name__", "guard").replace("_", " ")


# --- transition hooks (issue 14, public events) ----------------------------------------------
# Called after every fired transition (audit row and effects written), in its transaction.
# Filled by app.services.wiring.wire() (app/services/workflow/events.py writes the event row).
TransitionHook = Callable[[TransitionContext[Any]], Awaitable[None]]
TRANSITION_HOOKS: list[TransitionHook] = []


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


# --- the audit trail --------------------------------------------------------------------------

# Ids are time-ordered only to the millisecond of the machine that made them: `at` comes first.
TRANSITION_ORDER = [SortKey(StateTransition.at), SortKey(StateTransition.id)]


def transitions_query(kind: str | None = None, object_id: str | None = None) -> Select[Any]:
    stmt = select(StateTransition)
    if kind is not None:
        stmt = stmt.where(StateTransition.kind == kind)
    if object_id is not None:
        stmt = stmt.where(StateTransition.object_id == object_id)
    return stmt


async def list_transitions(
    session: AsyncSession, kind: str | None, object_id: str | None, page: PageParams
) -> tuple[list[StateTransition], str | None]:
    """The audit trail, oldest first (ids are time-ordered), one page at a time."""
    return await paginate(session, transitions_query(kind, object_id), TRANSITION_ORDER, page)
