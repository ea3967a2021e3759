"""The state-machine engine, exercised on a real table (brand invitations) with a machine declared
here, and on the outbox's own `job` machine."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.errors import InvalidTransition, PreconditionFailed
from app.models import (
    Brand,
    BrandInvitation,
    BrandRole,
    Brief,
    Job,
    JobState,
    StateTransition,
    Timer,
)
from app.pagination import PageParams
from app.services.workflow import outbox, timers
from app.services.workflow.effects import (
    cancel_timer,
    cascade,
    check_cascades,
    enqueue_job,
    schedule_timer,
    set_columns,
)
from app.services.workflow.state_machine import (
    MACHINES,
    Actor,
    ActorNotAllowed,
    Cause,
    ConcurrentTransition,
    StateMachine,
    Transition,
    TransitionContext,
    TransitionRefused,
    list_transitions,
)
from tests.conftest import BACKEND
from tests.factories import T0

ACCEPTED = "test.invitation.accepted"


def not_expired(ctx) -> bool:
    """the invitation has expired"""
    return ctx.obj.expires_at > ctx.now


def _responded(ctx):
    return ctx.now


INVITATIONS = StateMachine(
    "test_invitation",
    BrandInvitation,
    [
        Transition(
            "accept",
            {"pending"},
            "accepted",
            actors={"influencer"},
            effects=[
                set_columns(responded_at=_responded),
                cancel_timer("expire"),
                enqueue_job(ACCEPTED, lambda ctx: {"email": ctx.obj.email}),
            ],
        ),
        Transition(
            "decline",
            {"pending"},
            "declined",
            actors={"influencer"},
            effects=[set_columns(responded_at=_responded), cancel_timer()],
        ),
        # No cancel_timer: a pending expiry timer becomes obsolete when it fires.
        Transition(
            "revoke", {"pending"}, "revoked", actors={"brand", "operator"}, guard=not_expired
        ),
        Transition("expire", {"pending"}, "revoked", actors={"system"}),
        Transition(
            "remind",
            {"pending"},
            "pending",
            actors={"brand"},
            effects=[schedule_timer("expire", timedelta(days=1))],
        ),
    ],
    register=True,  # a test machine: installed where wire() installs the app's
)

INFLUENCER = Actor("influencer", "inf_1")
BRAND = Actor("brand", "brd_1")


async def make_invitation(database, email: str = "mara@example.com") -> str:
    async with database.sessionmaker() as session, session.begin():
        brand = Brand(name="Acme")
        session.add(brand)
        await session.flush()
        invitation = BrandInvitation(
            brand_id=brand.id, email=email, role=BrandRole.member, expires_at=T0 + timedelta(days=7)
        )
        session.add(invitation)
    return invitation.id


async def state_of(database, invitation_id: str) -> str:
    async with database.sessionmaker() as session:
        invitation = await session.get(BrandInvitation, invitation_id)
        return invitation.state.value


async def count(database, model, *where) -> int:
    async with database.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


def test_declared_table_reads():
    assert INVITATIONS.allowed_actions("pending", "influencer") == ["accept", "decline"]
    assert INVITATIONS.allowed_actions("pending", "brand") == ["remind", "revoke"]
    assert INVITATIONS.allowed_actions("pending", "system") == ["expire"]
    assert INVITATIONS.allowed_actions("accepted", "influencer") == []
    assert INVITATIONS.allowed_actions("pending") == [
        "accept",
        "decline",
        "expire",
        "remind",
        "revoke",
    ]
    described = {row["action"]: row for row in INVITATIONS.describe()}
    assert described["revoke"]["guard"] == "not_expired"
    assert described["accept"]["actors"] == ["influencer"]


def test_declaration_mistakes_are_refused():
    with pytest.raises(ValueError, match="two transitions"):
        StateMachine(
            "t1",
            BrandInvitation,
            [Transition("a", {"pending"}, "accepted"), Transition("a", {"pending"}, "declined")],
            register=False,
        )
    with pytest.raises(ValueError, match="actors"):
        Transition("a", {"pending"}, "accepted", actors={"robot"})
    with pytest.raises(ValueError, match="not in the column"):
        StateMachine("t2", BrandInvitation, [Transition("a", {"pending"}, "lost")], register=False)
    with pytest.raises(ValueError, match="no column"):
        StateMachine("t3", BrandInvitation, [], state_column="status", register=False)
    with pytest.raises(ValueError, match="already declared"):
        StateMachine("test_invitation", Brand, [], state_column="name", register=True)
    with pytest.raises(ValueError, match="unknown actor"):
        Actor("user", "usr_1")


async def test_legal_transition_moves_audits_and_runs_effects(database):
    invitation_id = await make_invitation(database)
    async with database.sessionmaker() as session, session.begin():
        await timers.schedule(
            session, "test_invitation", invitation_id, "expire", T0 + timedelta(days=7), now=T0
        )
    async with database.sessionmaker() as session, session.begin():
        invitation = await INVITATIONS.fire(
            session, invitation_id, "accept", INFLUENCER, T0, reason="looks good", data={"n": 1}
        )
        assert invitation.state == "accepted" and invitation.responded_at == T0

    assert await state_of(database, invitation_id) == "accepted"
    async with database.sessionmaker() as session:
        (trail,) = (await session.scalars(select(StateTransition))).all()
        assert trail.id.startswith("trn_")
        assert (trail.kind, trail.object_id, trail.action) == (
            "test_invitation",
            invitation_id,
            "accept",
        )
        assert (trail.from_state, trail.to_state) == ("pending", "accepted")
        assert (trail.actor_kind, trail.actor_id, trail.at) == ("influencer", "inf_1", T0)
        assert (trail.reason, trail.data) == ("looks good", {"n": 1})
        (job,) = (await session.scalars(select(Job))).all()
        assert job.topic == ACCEPTED and job.state == "pending" and job.run_after == T0
        assert job.payload == {
            "kind": "test_invitation",
            "object_id": invitation_id,
            "transition_id": trail.id,
            "email": "mara@example.com",
        }
        assert job.idempotency_key == f"{trail.id}:{ACCEPTED}"
        (timer,) = (await session.scalars(select(Timer))).all()
        assert timer.state == "cancelled" and timer.finished_at == T0

        rows, cursor = await list_transitions(
            session, "test_invitation", invitation_id, PageParams(limit=10, cursor=None)
        )
        assert [r.id for r in rows] == [trail.id] and cursor is None


async def test_illegal_transition_names_state_and_allowed_actions(database):
    invitation_id = await make_invitation(database)
    async with database.sessionmaker() as session, session.begin():
        await INVITATIONS.fire(session, invitation_id, "decline", INFLUENCER, T0)
    async with database.sessionmaker() as session, session.begin():
        with pytest.raises(InvalidTransition) as caught:
            await INVITATIONS.fire(session, invitation_id, "accept", INFLUENCER, T0)
    problem = caught.value
    assert problem.status == 409
    assert problem.body()["type"].endswith("/invalid-transition")
    assert problem.extensions == {"current_state": "declined", "allowed_actions": []}
    assert "declined" in problem.detail

    other_id = await make_invitation(database, "other@example.com")
    async with database.sessionmaker() as session, session.begin():
        with pytest.raises(InvalidTransition) as caught:
            await INVITATIONS.fire(session, other_id, "teleport", BRAND, T0)
    assert caught.value.extensions["allowed_actions"] == ["remind", "revoke"]
    assert await count(database, StateTransition) == 1  # only the decline


async def test_wrong_actor_is_403_naming_who_may_act(database):
    invitation_id = await make_invitation(database)
    async with database.sessionmaker() as session, session.begin():
        with pytest.raises(ActorNotAllowed) as caught:
            await INVITATIONS.fire(session, invitation_id, "accept", BRAND, T0)
        with pytest.raises(ActorNotAllowed):
            await INVITATIONS.fire(session, invitation_id, "expire", Actor("operator", "usr_1"), T0)
    problem = caught.value
    assert problem.status == 403 and problem.body()["type"].endswith("/actor-not-allowed")
    assert problem.extensions["allowed_actors"] == ["influencer"]
    assert await state_of(database, invitation_id) == "pending"
    assert await count(database, StateTransition) == 0


async def test_guard_refusal_is_409_and_changes_nothing(database):
    invitation_id = await make_invitation(database)
    late = T0 + timedelta(days=8)
    async with database.sessionmaker() as session, session.begin():
        with pytest.raises(TransitionRefused) as caught:
            await INVITATIONS.fire(session, invitation_id, "revoke", BRAND, late)
    assert caught.value.status == 409
    assert "the invitation has expired" in caught.value.detail
    assert await state_of(database, invitation_id) == "pending"
    async with database.sessionmaker() as session, session.begin():
        await INVITATIONS.fire(session, invitation_id, "revoke", Actor("operator", "usr_9"), T0)
    assert await state_of(database, invitation_id) == "revoked"


async def test_self_transition_with_a_timer_effect(database):
    invitation_id = await make_invitation(database)
    async with database.sessionmaker() as session, session.begin():
        await INVITATIONS.fire(session, invitation_id, "remind", BRAND, T0)
    async with database.sessionmaker() as session, session.begin():
        await INVITATIONS.fire(session, invitation_id, "remind", BRAND, T0 + timedelta(hours=5))
    async with database.sessionmaker() as session:
        (timer,) = await timers.pending_timers(session, "test_invitation", invitation_id)
    # Scheduling again moved the one pending timer.
    assert timer.due_at == T0 + timedelta(days=1, hours=5)
    assert await state_of(database, invitation_id) == "pending"
    assert await count(database, StateTransition) == 2


async def test_the_move_and_its_effects_roll_back_together(database):
    invitation_id = await make_invitation(database)
    async with database.sessionmaker() as session:
        async with session.begin():
            await INVITATIONS.fire(session, invitation_id, "accept", INFLUENCER, T0)
            await session.rollback()
    assert await state_of(database, invitation_id) == "pending"
    assert await count(database, StateTransition) == 0
    assert await count(database, Job) == 0


async def test_a_stale_object_loses_the_compare_and_set(database):
    invitation_id = await make_invitation(database)
    async with database.sessionmaker() as stale_session:
        async with stale_session.begin():
            stale = await stale_session.get(BrandInvitation, invitation_id)
        # Someone else accepts meanwhile …
        async with database.sessionmaker() as other, other.begin():
            await INVITATIONS.fire(other, invitation_id, "accept", INFLUENCER, T0)
        # … so the decline, decided on what the stale copy said, must not win.
        assert stale.state == "pending"
        async with stale_session.begin():
            with pytest.raises(ConcurrentTransition) as caught:
                await INVITATIONS.fire(stale_session, stale, "decline", INFLUENCER, T0)
    assert caught.value.status == 409
    assert await state_of(database, invitation_id) == "accepted"
    assert await count(database, StateTransition) == 1


async def test_concurrent_callers_exactly_one_wins(database):
    invitation_id = await make_invitation(database)
    callers = 20
    # PostgreSQL: everyone reads `pending` first, then all fire at once. SQLite serialises whole
    # transactions (BEGIN IMMEDIATE), so a barrier there would only deadlock on the write lock.
    barrier = asyncio.Barrier(callers) if BACKEND == "postgresql" else None

    async def caller(i: int) -> str:
        action = "accept" if i % 2 else "decline"
        async with database.sessionmaker() as session:
            try:
                async with session.begin():
                    invitation = await session.get(BrandInvitation, invitation_id)
                    if barrier is not None:
                        await barrier.wait()
                    await INVITATIONS.fire(session, invitation, action, INFLUENCER, T0)
                return "won"
            except ConcurrentTransition:
                return "concurrent"
            except InvalidTransition:
                return "invalid"

    outcomes = await asyncio.gather(*(caller(i) for i in range(callers)))
    assert outcomes.count("won") == 1, outcomes
    assert await count(database, StateTransition) == 1
    assert await count(database, Job) <= 1
    if BACKEND == "postgresql":
        assert outcomes.count("concurrent") == callers - 1
    assert await state_of(database, invitation_id) in ("accepted", "declined")


async def test_operator_retry_goes_through_the_job_machine(database):
    async with database.sessionmaker() as session, session.begin():
        job = await outbox.enqueue(session, "test.noop", {}, now=T0)
        job_id = job.id
    operator = Actor("operator", "usr_op")
    async with database.sessionmaker() as session, session.begin():
        with pytest.raises(InvalidTransition) as caught:
            await outbox.retry_job(session, job_id, operator, T0)
    assert caught.value.extensions == {"current_state": "pending", "allowed_actions": []}
    assert outbox.JOBS.allowed_actions("dead", "operator") == ["retry"]
    async with database.sessionmaker() as session, session.begin():
        (await session.get(Job, job_id)).state = JobState.dead
    async with database.sessionmaker() as session, session.begin():
        with pytest.raises(ActorNotAllowed):
            await outbox.JOBS.fire(session, job_id, "retry", Actor("system"), T0)


# A version column: the compare-and-set checks and bumps it, `If-Match` becomes `expected_version`.
VERSIONED = StateMachine(
    "test_brief",
    Brief,
    [
        Transition("publish", {"draft"}, "open", actors={"brand"}),
        Transition("close", {"open"}, "closed", actors={"brand"}),
    ],
    version_column="version",
)


async def make_brief(database) -> str:
    async with database.sessionmaker() as session, session.begin():
        brand = Brand(name="Acme")
        session.add(brand)
        await session.flush()
        brief = Brief(
            brand_id=brand.id,
            title="Autumn oats",
            objective="awareness",
            currency="EUR",
            budget_total=500_000,
            per_influencer_min=20_000,
            per_influencer_max=80_000,
            application_deadline=date(2026, 12, 1),
            content_due=date(2026, 12, 15),
            publish_start=date(2026, 12, 16),
            publish_end=date(2026, 12, 31),
        )
        session.add(brief)
    return brief.id


async def test_a_version_column_is_compared_and_bumped(database):
    brief_id = await make_brief(database)
    async with database.sessionmaker() as session, session.begin():
        brief = await session.get(Brief, brief_id)
        assert brief.version == 1
        with pytest.raises(PreconditionFailed):
            await VERSIONED.fire(session, brief, "publish", BRAND, T0, expected_version=2)
        # A pending ORM edit flushes first (the ORM bumps the version), then the move bumps it.
        brief.title = "Autumn oats, again"
        await VERSIONED.fire(session, brief, "publish", BRAND, T0, expected_version=1)
        assert (brief.state, brief.version) == ("open", 3)
        brief.title = "Autumn oats, open"  # the ORM's own versioned UPDATE still matches
    async with database.sessionmaker() as session:
        brief = await session.get(Brief, brief_id)
        assert (brief.state, brief.version, brief.title) == ("open", 4, "Autumn oats, open")

    # A copy read before someone else's move loses, even with the right state in hand.
    async with database.sessionmaker() as stale_session:
        async with stale_session.begin():
            stale = await stale_session.get(Brief, brief_id)
        async with database.sessionmaker() as other, other.begin():
            await VERSIONED.fire(other, brief_id, "close", BRAND, T0)
        async with stale_session.begin():
            with pytest.raises(ConcurrentTransition):
                await VERSIONED.fire(stale_session, stale, "close", BRAND, T0)


# --- cascades and typed parameters ------------------------------------------------------------


@dataclass(frozen=True)
class Closing:
    """Typed parameters of the test brief's `close`."""

    note: str | None = None


async def _brand_invitations(ctx: TransitionContext[Brief]) -> list[str]:
    rows = await ctx.session.scalars(
        select(BrandInvitation.id)
        .where(BrandInvitation.brand_id == ctx.obj.brand_id)
        .order_by(BrandInvitation.id)
    )
    return list(rows)


def _record_note(ctx: TransitionContext[Brief]) -> None:
    ctx.obj.title = ctx.params_as(Closing).note or ctx.obj.title


CASCADING = StateMachine(
    "test_cascading_brief",
    Brief,
    [
        Transition("publish", {"draft"}, "open", actors={"brand"}),
        Transition(
            "close",
            {"open"},
            "closed",
            actors={"brand"},
            effects=[
                _record_note,
                # The brand's pending invitations expire with it; others are left alone.
                cascade(
                    "test_invitation",
                    "expire",
                    ids_from=_brand_invitations,
                    only_from={"pending"},
                    reason=lambda ctx: f"brief {ctx.obj.id} closed",
                ),
            ],
        ),
    ],
    register=True,
)


async def test_a_cascade_fires_another_machine_by_kind_with_its_cause(database):
    brief_id = await make_brief(database)
    async with database.sessionmaker() as session, session.begin():
        brief = await session.get(Brief, brief_id)
        pending = BrandInvitation(
            brand_id=brief.brand_id,
            email="a@example.com",
            role=BrandRole.member,
            expires_at=T0 + timedelta(days=7),
        )
        declined = BrandInvitation(
            brand_id=brief.brand_id,
            email="b@example.com",
            role=BrandRole.member,
            expires_at=T0 + timedelta(days=7),
        )
        session.add_all([pending, declined])
        await session.flush()
        pending_id, declined_id = pending.id, declined.id
        await INVITATIONS.fire(session, declined, "decline", INFLUENCER, T0)
        await CASCADING.fire(session, brief, "publish", BRAND, T0)
        closed = await CASCADING.fire(
            session, brief, "close", BRAND, T0, params=Closing("closed early")
        )
        assert (closed.state, closed.title) == ("closed", "closed early")  # typed: a Brief
    assert await state_of(database, pending_id) == "revoked"  # `expire` revokes
    assert await state_of(database, declined_id) == "declined"
    async with database.sessionmaker() as session:
        close = await session.scalar(
            select(StateTransition).where(
                StateTransition.object_id == brief_id, StateTransition.action == "close"
            )
        )
        expired = await session.scalar(
            select(StateTransition).where(
                StateTransition.object_id == pending_id, StateTransition.action == "expire"
            )
        )
    # Fired as the system acting for the closing transition, with the cascade's reason.
    assert (expired.actor_kind, expired.actor_id) == ("system", close.id)
    assert expired.reason == f"brief {brief_id} closed"


async def test_the_cause_reaches_the_cascaded_transition(database):
    seen: list[Cause | None] = []

    def remember(ctx: TransitionContext[BrandInvitation]) -> bool:
        seen.append(ctx.cause)
        return True

    target = StateMachine(
        "test_caused",
        BrandInvitation,
        [Transition("expire", {"pending"}, "revoked", actors={"system"}, guard=remember)],
        register=True,
    )
    effect = cascade("test_caused", "expire", ids_from=_brand_invitations)
    source = StateMachine(
        "test_causing",
        Brief,
        [Transition("publish", {"draft"}, "open", actors={"brand"}, effects=[effect])],
        register=True,
    )
    brief_id = await make_brief(database)
    async with database.sessionmaker() as session, session.begin():
        brief = await session.get(Brief, brief_id)
        session.add(
            BrandInvitation(
                brand_id=brief.brand_id,
                email="c@example.com",
                role=BrandRole.member,
                expires_at=T0 + timedelta(days=7),
            )
        )
        await session.flush()
        await source.fire(session, brief, "publish", BRAND, T0)
    assert target.kind == "test_caused"
    [cause] = seen
    assert cause is not None
    assert (cause.kind, cause.object_id, cause.action) == ("test_causing", brief_id, "publish")


def test_params_of_another_type_are_a_programming_error():
    ctx = TransitionContext(
        session=None,  # type: ignore[arg-type]
        machine=INVITATIONS,
        obj=BrandInvitation(id="inv_1"),
        action="accept",
        from_state="pending",
        to_state="accepted",
        actor=INFLUENCER,
        now=T0,
        params="a note",
    )
    with pytest.raises(TypeError, match="not a Closing"):
        ctx.params_as(Closing)
    ctx.params = None
    assert ctx.params_as(Closing) == Closing()


def test_check_cascades_names_a_cascade_that_cannot_fire():
    assert check_cascades() == []
    broken = StateMachine(
        "test_broken_cascades",
        Brief,
        [
            Transition(
                "publish",
                {"draft"},
                "open",
                actors={"brand"},
                effects=[
                    cascade("no_such_kind", "expire", ids_from=_brand_invitations),
                    cascade("test_invitation", "teleport", ids_from=_brand_invitations),
                    cascade("test_invitation", "accept", ids_from=_brand_invitations),
                ],
            )
        ],
        register=True,
    )
    try:
        problems = check_cascades()
        assert len(problems) == 3
        assert "no machine of kind 'no_such_kind'" in problems[0]
        assert "has no action 'teleport'" in problems[1]
        assert "the system may not accept" in problems[2]
    finally:
        del MACHINES[broken.kind]
    assert check_cascades() == []
