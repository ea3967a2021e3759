"""Deadline extensions: a party proposes a later due date, the other party answers.

One open proposal per deliverable at a time (409 `extension-pending`); only a deliverable that
is not yet published or cancelled can be extended (409 `deliverable-not-open`); the new date must
be later than the current one and not in the past (422). Accepting moves the deliverable's due
date, re-arms its late timer and, when the new date is not over, clears its `late` flag.

| action   | from     | to        | who                                   |
|----------|----------|-----------|---------------------------------------|
| accept   | proposed | accepted  | brand, influencer — not the proposer  |
| decline  | proposed | declined  | brand, influencer — not the proposer  |
| withdraw | proposed | withdrawn | brand, influencer — the proposer      |
| cancel   | proposed | cancelled | system (the deliverable moved on) ¹   |

¹ fired by the deliverable machine's `submit_proof` and `cancel` (a `cascade`, by kind).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidRequest, NotFound
from app.models import (
    Contract,
    DeadlineExtension,
    Deliverable,
    ExtensionState,
)
from app.models.contract import OPEN_WORK, WORKING_STATES
from app.pagination import PageParams, SortKey, paginate
from app.services.delivery.deliverables import Loaded, load_deliverable, rearm_late_timer
from app.services.identity.tenancy import party_filter
from app.services.workflow.state_machine import StateMachine, Transition, TransitionContext

E = ExtensionState
Ctx = TransitionContext[DeadlineExtension]


@dataclass(frozen=True)
class Answer:
    """`fire(params=…)` of the extension machine: who answered, and their note."""

    user_id: str | None = None
    note: str | None = None


class ExtensionNotFound(NotFound):
    slug, title = "extension-not-found", "No such extension request"


class ExtensionPending(Conflict):
    slug, title = "extension-pending", "An extension of this deliverable awaits an answer"


class DeliverableNotOpen(Conflict):
    slug, title = "deliverable-not-open", "The deliverable is no longer open for this"


def not_the_proposer(ctx: Ctx) -> bool | str:
    """the other party answers a proposal"""
    return ctx.actor.kind != ctx.obj.proposed_by or "you proposed it; the other party answers"


def the_proposer(ctx: Ctx) -> bool | str:
    """only the proposer withdraws a proposal"""
    return ctx.actor.kind == ctx.obj.proposed_by or "only the party who proposed it can withdraw"


async def _apply(ctx: Ctx) -> None:
    extension: DeadlineExtension = ctx.obj
    deliverable = await ctx.session.scalar(
        select(Deliverable)
        .where(Deliverable.id == extension.deliverable_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert deliverable is not None
    contract_state = await ctx.session.scalar(
        select(Contract.state).where(Contract.id == deliverable.contract_id)
    )
    if deliverable.state not in OPEN_WORK or contract_state not in WORKING_STATES:
        raise DeliverableNotOpen(
            f"Deliverable {deliverable.id} is {deliverable.state} (contract {contract_state}); "
            "its due date can no longer change"
        )
    deliverable.due_date = extension.due_date
    await rearm_late_timer(ctx.session, deliverable, ctx.now)


def _answered(ctx: Ctx) -> None:
    answer = ctx.params_as(Answer)
    ctx.obj.responded_at = ctx.now
    ctx.obj.responded_by_user = answer.user_id
    ctx.obj.response_note = answer.note


EXTENSION_TRANSITIONS: list[Transition] = [
    Transition(
        "accept",
        {E.proposed},
        E.accepted,
        actors={"brand", "influencer"},
        guard=not_the_proposer,
        effects=[_answered, _apply],
        description="The other party agrees: the deliverable's due date moves",
    ),
    Transition(
        "decline",
        {E.proposed},
        E.declined,
        actors={"brand", "influencer"},
        guard=not_the_proposer,
        effects=[_answered],
        description="The other party refuses",
    ),
    Transition(
        "withdraw",
        {E.proposed},
        E.withdrawn,
        actors={"brand", "influencer"},
        guard=the_proposer,
        effects=[_answered],
        description="The proposer takes it back",
    ),
    Transition(
        "cancel",
        {E.proposed},
        E.cancelled,
        actors={"system"},
        description="The deliverable was published or cancelled first",
    ),
]
EXTENSIONS = StateMachine(
    "extension", DeadlineExtension, EXTENSION_TRANSITIONS, lock_parent=(Contract, "contract_id")
)


async def propose(
    session: AsyncSession,
    user_id: str,
    deliverable_id: str,
    now: datetime,
    *,
    due_date: date,
    reason: str,
) -> DeadlineExtension:
    loaded = await load_deliverable(session, user_id, deliverable_id, lock=True)
    deliverable, contract = loaded.deliverable, loaded.contract
    if deliverable.state not in OPEN_WORK or contract.state not in WORKING_STATES:
        raise DeliverableNotOpen(
            f"Deliverable {deliverable.id} is {deliverable.state} (contract {contract.state}): "
            "only a funded deliverable that is not yet published can be extended",
            current_state=deliverable.state,
        )
    if due_date <= deliverable.due_date:
        raise InvalidRequest.field(
            "due_date",
            f"must be later than the current due date {deliverable.due_date.isoformat()}",
            "not_later",
        )
    if due_date < now.date():
        raise InvalidRequest.field("due_date", "is in the past", "in_past")
    pending = await session.scalar(
        select(DeadlineExtension.id).where(
            DeadlineExtension.deliverable_id == deliverable.id,
            DeadlineExtension.state == E.proposed,
        )
    )
    if pending is not None:
        raise ExtensionPending(
            f"Extension {pending} of this deliverable awaits an answer; withdraw it or wait",
            extension_id=pending,
        )
    extension = DeadlineExtension(
        deliverable_id=deliverable.id,
        contract_id=contract.id,
        proposed_by=loaded.party.side,
        proposed_by_user=user_id,
        previous_due_date=deliverable.due_date,
        due_date=due_date,
        reason=reason,
        state=E.proposed,
        created_at=now,
    )
    session.add(extension)
    await session.flush()
    return extension


async def list_extensions(
    session: AsyncSession, user_id: str, deliverable_id: str, page: PageParams
) -> tuple[list[DeadlineExtension], str | None]:
    loaded = await load_deliverable(session, user_id, deliverable_id)
    return await paginate(
        session,
        select(DeadlineExtension).where(DeadlineExtension.deliverable_id == loaded.deliverable.id),
        [SortKey(DeadlineExtension.id, descending=True)],
        page,
    )


async def answer(
    session: AsyncSession,
    user_id: str,
    extension_id: str,
    action: str,
    now: datetime,
    note: str | None,
) -> tuple[DeadlineExtension, Loaded]:
    extension = await session.scalar(
        select(DeadlineExtension)
        .join(Contract, Contract.id == DeadlineExtension.contract_id)
        .where(DeadlineExtension.id == extension_id, party_filter(Contract, user_id))
        .execution_options(populate_existing=True)
    )
    if extension is None:
        raise ExtensionNotFound(f"No extension request {extension_id} that you are a party to")
    loaded = await load_deliverable(session, user_id, extension.deliverable_id)
    await EXTENSIONS.fire(
        session,
        extension,
        action,
        loaded.party.actor,
        now,
        reason=note,
        data={"user_id": user_id},
        params=Answer(user_id=user_id, note=note),
    )
    return extension, loaded
