"""Public events: one row per state change a party may hear about, and the feed that lists them.

An event is written in the transaction of the change it reports, so it exists if and only if the
change committed (docs/partners.md, "Events"). Its payload is the envelope every consumer sees —
the webhook body (app/services/workflow/webhooks.py) and `GET /v1/events` alike:

    {"id": "evt_…", "type": "offer.accepted", "created_at": "2026-…Z",
     "data": {"object": <the offer as GET /v1/offers/{id} serves it>}}

Where events come from:
- every transition fired through a state machine: `on_transition` is one of the engine's
  `TRANSITION_HOOKS` (installed by app.services.wiring.wire()); the type is
  `<kind>.<new state>` (`offer.accepted`, `contract.active`), or `<kind>.<action>` for a move that
  keeps the state (`deliverable.flag_late`);
- changes that are not machine transitions call `emit` at their one place (brief edits and
  lifecycle moves through the brief-change hook, transfers and payouts where money books them).

What an object looks like, and who may see it, is not this layer's business (workflow is the
lowest domain package): each kind has an `ObjectView`, installed by wire(), that renders the
object with the API's output schema and names its audience (the brand and/or the influencer who
are parties to it). A kind without a view has no public events (jobs, for instance).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ids import new_id
from app.models import BrandMember, Event, Influencer
from app.pagination import PageParams, SortKey, paginate
from app.services.workflow import webhooks
from app.services.workflow.state_machine import MACHINES, TransitionContext


@dataclass(frozen=True)
class EventObject:
    """An object rendered for an event: the API's shape, and the parties who may see it."""

    object: dict[str, Any]
    brand_id: str | None
    influencer_id: str | None


ObjectView = Callable[[AsyncSession, Any], Awaitable[EventObject]]


@dataclass
class EventCatalogue:
    """Object views by kind, and the event types beyond the machines' (filled by wire())."""

    views: dict[str, ObjectView] = field(default_factory=dict)
    extra_types: dict[str, frozenset[str]] = field(default_factory=dict)

    def install(
        self, views: Mapping[str, ObjectView], extra_types: Mapping[str, Iterable[str]]
    ) -> None:
        """Replace the views and extra types (wire() may run more than once)."""
        self.views = dict(views)
        self.extra_types = {kind: frozenset(types) for kind, types in extra_types.items()}

    def types(self) -> list[str]:
        """Every event type a subscriber may name: the machines' moves, then the extras."""
        found: set[str] = set()
        for kind in self.views:
            machine = MACHINES.get(kind)
            if machine is not None:
                for t in machine.transitions:
                    for source in t.from_states:
                        found.add(event_type(kind, t.action, source, t.to_state))
            found |= self.extra_types.get(kind, frozenset())
        return sorted(found)


CATALOGUE = EventCatalogue()


def event_type(kind: str, action: str, from_state: str, to_state: str) -> str:
    return f"{kind}.{to_state}" if to_state != from_state else f"{kind}.{action}"


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def emit(
    session: AsyncSession, kind: str, obj: Any, type_: str, now: datetime
) -> Event | None:
    """Write the event `type_` about `obj` in the caller's transaction, and its deliveries.

    None when the kind has no view (no public events) — never an error: the change goes on."""
    view = CATALOGUE.views.get(kind)
    if view is None:
        return None
    # Pending changes first (effects set columns): the view reads the object as it now is.
    await session.flush()
    rendered = await view(session, obj)
    event_id = new_id("event")
    event = Event(
        id=event_id,
        type=type_,
        kind=kind,
        object_id=str(rendered.object.get("id", "")),
        brand_id=rendered.brand_id,
        influencer_id=rendered.influencer_id,
        payload={
            "id": event_id,
            "type": type_,
            "created_at": rfc3339(now),
            "data": {"object": rendered.object},
        },
        created_at=now,
    )
    session.add(event)
    await session.flush()
    await webhooks.schedule_deliveries(session, event, now)
    return event


async def emit_if_changed(
    session: AsyncSession, kind: str, obj: Any, field_name: str, value: str, now: datetime
) -> Event | None:
    """`<kind>.<value>`, unless the object's latest event already shows `field_name` = value
    (a status copied from Stripe arrives more than once)."""
    last = await last_event(session, kind, str(obj.id))
    if last is not None and last.payload["data"]["object"].get(field_name) == value:
        return None
    return await emit(session, kind, obj, f"{kind}.{value}", now)


async def on_transition(ctx: TransitionContext[Any]) -> None:
    """The engine's hook: the transition's public event, after its effects changed the object."""
    type_ = event_type(ctx.machine.kind, ctx.action, ctx.from_state, ctx.to_state)
    await emit(ctx.session, ctx.machine.kind, ctx.obj, type_, ctx.now)


async def last_event(session: AsyncSession, kind: str, object_id: str) -> Event | None:
    """The object's latest event (a hook that cannot tell an edit from a move asks)."""
    return await session.scalar(
        select(Event)
        .where(Event.kind == kind, Event.object_id == object_id)
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(1)
    )


# --- the feed ---------------------------------------------------------------------------------

FEED_ORDER = [SortKey(Event.created_at, descending=True), SortKey(Event.id, descending=True)]


def visible_to(user_id: str) -> Any:
    """Events whose audience includes the user: their brands', or their own as an influencer."""
    return or_(
        Event.brand_id.in_(select(BrandMember.brand_id).where(BrandMember.user_id == user_id)),
        Event.influencer_id.in_(select(Influencer.id).where(Influencer.user_id == user_id)),
    )


async def list_events(
    session: AsyncSession,
    user_id: str,
    page: PageParams,
    *,
    types: Sequence[str] = (),
    object_id: str | None = None,
) -> tuple[list[Event], str | None]:
    """The events the user may see, newest first, one page at a time."""
    stmt = select(Event).where(visible_to(user_id))
    if types:
        stmt = stmt.where(Event.type.in_(list(types)))
    if object_id is not None:
        stmt = stmt.where(Event.object_id == object_id)
    return await paginate(session, stmt, FEED_ORDER, page)
