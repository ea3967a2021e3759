"""Ambassador programmes: a recurring contract (issue 15 item 5, docs/relationships.md).

**What it is.** An offer whose terms carry a `recurrence` (`interval` week or month,
`interval_count`, `notice_days`) describes one period: its deliverables, price and payment
schedule. Accepting it makes period 1's contract as usual (delivery's `create_contract`) and,
right after, the programme (`start_programme`, one of negotiation's `ACCEPTANCE_HOOKS`, installed
by app/services/wiring.py). Every later period is an ordinary contract of its own — deliverables
due a whole number of periods later, milestones, a funding, a ledger — made by the worker, so
the contract, milestone and money machinery is reused, never copied.

**The renewal, crash-safe.** Each period start is a `programme.renew` job
`{programme_id, period_no}` due at that moment (outbox idempotency key
`programme.renew:<amb>:<n>`: enqueued once). The job (`renew_job`) locks the programme and
fires `renew` with the period's number; `renew`'s guard lets only the next period through, and
only once its start has come, and the compare-and-set on the programme's `version` lets one of
two concurrent runs win. Its effect makes the period's contract (delivery's
`create_period_contract`; the database refuses a second contract for one offer and period),
arms the period's `lapse` timer at the contract's funding deadline, enqueues the charge
(`money.fund_renewal`, key per contract: the money code charges the brand's saved card once)
and the next period's `programme.renew` job. A job run twice, or two at once, makes one period
and one funding.

**Ending.** Either party gives notice (`give_notice`): periods starting before the notice ends
still start; a timer ends the programme (`end`) when it does; the running period is finished
as agreed. A period whose contract is not funded by its funding deadline (the saved card was
declined, nobody paid) makes the programme `lapse`, with the reason (Stripe's message) both
parties read; so does a renewal that another brand's exclusivity would forbid.

The machine — `PROGRAMMES`, the one table (audit rows in `state_transitions`, kind
`programme`):

| action      | from                 | to           | who            |
|-------------|----------------------|--------------|----------------|
| renew       | active               | active       | system (job)   |
| renew       | notice_given         | notice_given | system (job)   |
| give_notice | active               | notice_given | both           |
| end         | notice_given         | ended        | system (timer) |
| lapse       | active, notice_given | lapsed       | system         |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.models import (
    AmbassadorProgramme,
    Bid,
    Brief,
    Contract,
    Interval,
    Offer,
    Payment,
    ProgrammeState,
    Side,
)
from app.models.contract import ContractState
from app.pagination import PageParams, SortKey, paginate
from app.services.delivery.contracts import create_period_contract
from app.services.identity.tenancy import Party, party_filter, party_of
from app.services.negotiation.exclusivity import ExclusivityConflict, check_exclusivity
from app.services.negotiation.terms import deal_categories, last_due_date, period_terms, shift
from app.services.relationships import records
from app.services.workflow import timers
from app.services.workflow.effects import cancel_timer
from app.services.workflow.jobs import (
    FUND_RENEWAL_TOPIC,
    PROGRAMME_RENEW_TOPIC,
    ClaimedJob,
    JobContext,
)
from app.services.workflow.outbox import enqueue
from app.services.workflow.state_machine import (
    Actor,
    StateMachine,
    Transition,
    TransitionContext,
    list_transitions,
)

P = ProgrammeState
Ctx = TransitionContext[AmbassadorProgramme]
RUNNING = (P.active, P.notice_given)
# A renewal job waits (retries) while the latest period's funding is still undecided; its lapse
# timer settles that within the funding window, so a few retries suffice.
RENEW_MAX_ATTEMPTS = 20


class ProgrammeNotFound(NotFound):
    slug, title = "programme-not-found", "No such ambassador programme"


class RenewalNotDue(Exception):
    """The renewal cannot be decided yet: the job is retried later."""


@dataclass(frozen=True)
class Renewal:
    period_no: int = 0


@dataclass(frozen=True)
class Lapse:
    # Why the programme cannot go on, when it is not an unfunded period (a conflict).
    reason: str | None = None


@dataclass(frozen=True)
class Notice:
    reason: str | None = None


def period_start(programme: AmbassadorProgramme, period_no: int) -> datetime:
    return shift(
        programme.starts_at,
        Interval(programme.interval).value,
        programme.interval_count * (period_no - 1),
    )


async def period_contract(
    session: AsyncSession, programme_id: str, period_no: int
) -> Contract | None:
    return await session.scalar(
        select(Contract)
        .where(Contract.programme_id == programme_id, Contract.period_no == period_no)
        .execution_options(populate_existing=True)
    )


async def _latest(session: AsyncSession, programme: AmbassadorProgramme) -> Contract:
    contract = await period_contract(session, programme.id, programme.current_period)
    assert contract is not None, f"{programme.id} has no period {programme.current_period}"
    return contract


# --- guards -------------------------------------------------------------------------------


async def next_period_due(ctx: Ctx) -> bool | str:
    """the next period's start has come, it starts before any notice ends, and the latest
    period is funded"""
    programme, n = ctx.obj, ctx.params_as(Renewal).period_no
    if n != programme.current_period + 1:
        return f"period {n} is not the next one: period {programme.current_period} is the latest"
    starts = period_start(programme, n)
    if ctx.now < starts:
        return f"period {n} starts at {starts.isoformat()}"
    if programme.notice_ends_at is not None and starts >= programme.notice_ends_at:
        return f"the notice ends at {programme.notice_ends_at.isoformat()}, before period {n}"
    latest = await _latest(ctx.session, programme)
    if latest.funded_at is None:
        return f"period {programme.current_period} is not funded"
    return True


async def cannot_go_on(ctx: Ctx) -> bool | str:
    """the latest period was not funded by its funding deadline (or a renewal is forbidden)"""
    if ctx.params_as(Lapse).reason:
        return True
    latest = await _latest(ctx.session, ctx.obj)
    if latest.funded_at is not None:
        return f"period {latest.period_no} was funded"
    if ctx.now < latest.funding_due_at:
        return f"period {latest.period_no} may still be funded until {latest.funding_due_at}"
    return True


def notice_over(ctx: Ctx) -> bool | str:
    """the notice has ended"""
    ends = ctx.obj.notice_ends_at
    return ends is not None and ctx.now >= ends


# --- effects ------------------------------------------------------------------------------


async def _after_period_start(
    session: AsyncSession, programme: AmbassadorProgramme, contract: Contract, now: datetime
) -> None:
    """A period's contract exists: its lapse timer, and the next period's renewal job."""
    await timers.schedule(
        session, PROGRAMMES.kind, programme.id, "lapse", contract.funding_due_at, now=now
    )
    n = programme.current_period + 1
    starts = period_start(programme, n)
    if programme.notice_ends_at is not None and starts >= programme.notice_ends_at:
        programme.next_renewal_at = None
        return
    programme.next_renewal_at = starts
    await enqueue(
        session,
        PROGRAMME_RENEW_TOPIC,
        {"programme_id": programme.id, "period_no": n},
        now=now,
        idempotency_key=f"{PROGRAMME_RENEW_TOPIC}:{programme.id}:{n}",
        run_after=starts,
        max_attempts=RENEW_MAX_ATTEMPTS,
    )


async def _start_period(ctx: Ctx) -> None:
    """Effect of `renew`: the period's contract, its charge, the next renewal."""
    programme, n = ctx.obj, ctx.params_as(Renewal).period_no
    bid, brief, offer = await _deal(ctx.session, programme)
    contract = await create_period_contract(
        ctx.session,
        bid,
        offer.id,
        brief,
        period_terms(offer.terms, n),
        ctx.now,
        programme_id=programme.id,
        period_no=n,
    )
    programme.current_period = n
    programme.updated_at = ctx.now
    await enqueue(
        ctx.session,
        FUND_RENEWAL_TOPIC,
        {"contract_id": contract.id, "programme_id": programme.id, "period_no": n},
        now=ctx.now,
        idempotency_key=f"{FUND_RENEWAL_TOPIC}:{contract.id}",
    )
    await _after_period_start(ctx.session, programme, contract, ctx.now)


async def _give_notice(ctx: Ctx) -> None:
    programme = ctx.obj
    programme.notice_given_at = ctx.now
    programme.notice_given_by = Side(ctx.actor.kind)
    programme.notice_reason = ctx.params_as(Notice).reason
    ends = ctx.now + timedelta(days=programme.notice_days)
    programme.notice_ends_at = ends
    if programme.next_renewal_at is not None and programme.next_renewal_at >= ends:
        programme.next_renewal_at = None  # its renewal job finds nothing to do
    programme.updated_at = ctx.now
    await timers.schedule(ctx.session, PROGRAMMES.kind, programme.id, "end", ends, now=ctx.now)


def _ended(ctx: Ctx) -> None:
    programme = ctx.obj
    assert programme.notice_given_by is not None and programme.notice_given_at is not None
    programme.ended_at = ctx.now
    programme.next_renewal_at = None
    programme.end_reason = (
        f"the {programme.notice_given_by.value} gave notice on "
        f"{programme.notice_given_at.date().isoformat()}; it ended on "
        f"{ctx.now.date().isoformat()} (period {programme.current_period} was the last)"
    )
    programme.updated_at = ctx.now


async def _lapsed(ctx: Ctx) -> None:
    programme = ctx.obj
    reason = ctx.params_as(Lapse).reason
    if reason is None:
        latest = await _latest(ctx.session, programme)
        payment = await ctx.session.scalar(
            select(Payment)
            .where(Payment.contract_id == latest.id)
            .execution_options(populate_existing=True)
        )
        why = (
            f"the payment failed: {payment.failure_message}"
            if payment is not None and payment.failure_message
            else f"its contract is {latest.state} and no payment arrived"
        )
        reason = (
            f"period {latest.period_no} ({latest.id}) was not funded by "
            f"{latest.funding_due_at.isoformat()}: {why}"
        )
    programme.ended_at = ctx.now
    programme.next_renewal_at = None
    programme.end_reason = reason
    programme.updated_at = ctx.now


PROGRAMME_TRANSITIONS: list[Transition] = [
    Transition(
        "renew",
        {P.active},
        P.active,
        actors={"system"},
        guard=next_period_due,
        effects=[_start_period],
        description="The next period starts (the `programme.renew` job): its contract is made "
        "and the brand's saved card charged for it; the next renewal is due a period later",
    ),
    Transition(
        "renew",
        {P.notice_given},
        P.notice_given,
        actors={"system"},
        guard=next_period_due,
        effects=[_start_period],
        description="A period that starts before the notice ends starts as agreed",
    ),
    Transition(
        "give_notice",
        {P.active},
        P.notice_given,
        actors={"brand", "influencer"},
        effects=[_give_notice],
        description="Either party ends it with the agreed notice: no period starts after the "
        "notice ends; the running period is finished as agreed",
    ),
    Transition(
        "end",
        {P.notice_given},
        P.ended,
        actors={"system"},
        guard=notice_over,
        effects=[cancel_timer("lapse"), _ended],
        description="The notice ended: no more periods",
    ),
    Transition(
        "lapse",
        {P.active, P.notice_given},
        P.lapsed,
        actors={"system"},
        guard=cannot_go_on,
        effects=[cancel_timer("end"), _lapsed],
        description="A period was not funded by its funding deadline (the saved card was "
        "declined, nobody paid), or a renewal would break another brand's exclusivity: no "
        "more periods, with the reason",
    ),
]
PROGRAMMES = StateMachine(
    "programme", AmbassadorProgramme, PROGRAMME_TRANSITIONS, version_column="version"
)


# --- the start: an accepted offer with recurring terms --------------------------------------


async def start_programme(
    session: AsyncSession, bid: Bid, offer: Offer, brief: Brief, now: datetime
) -> AmbassadorProgramme | None:
    """One of negotiation's `ACCEPTANCE_HOOKS`, after delivery made period 1's contract: the
    programme, when the accepted terms recur (None otherwise)."""
    recurrence = offer.terms.get("recurrence")
    if not recurrence:
        return None
    contract = await session.scalar(
        select(Contract).where(Contract.offer_id == offer.id, Contract.period_no == 1)
    )
    if contract is None:
        raise RuntimeError("start_programme runs after create_contract (ACCEPTANCE_HOOKS order)")
    programme = AmbassadorProgramme(
        offer_id=offer.id,
        bid_id=bid.id,
        brief_id=brief.id,
        brand_id=bid.brand_id,
        influencer_id=bid.influencer_id,
        state=P.active,
        version=1,
        interval=Interval(recurrence["interval"]),
        interval_count=recurrence["interval_count"],
        notice_days=recurrence["notice_days"],
        price=contract.price,
        currency=contract.currency,
        starts_at=now,
        current_period=1,
        created_at=now,
        updated_at=now,
    )
    session.add(programme)
    await session.flush()
    contract.programme_id = programme.id
    await session.flush()
    await _after_period_start(session, programme, contract, now)
    await records.programme_started(session, bid.brand_id, bid.influencer_id, programme.id, now)
    return programme


async def _deal(session: AsyncSession, programme: AmbassadorProgramme) -> tuple[Bid, Brief, Offer]:
    bid = await session.get(Bid, programme.bid_id)
    brief = await session.get(Brief, programme.brief_id)
    offer = await session.get(Offer, programme.offer_id)
    assert bid is not None and brief is not None and offer is not None
    return bid, brief, offer


# --- the renewal job ------------------------------------------------------------------------


async def renew_job(ctx: JobContext, job: ClaimedJob) -> None:
    """`programme.renew` `{programme_id, period_no}`: start that period, once.

    Nothing to do (succeeds) when the programme is over, the period exists already (a repeat),
    or the notice ends first (its timer ends the programme). Retried while the latest period's
    funding is undecided. A renewal another brand's exclusivity forbids lapses the programme."""
    session = ctx.session
    programme_id, n = str(job.payload["programme_id"]), int(job.payload["period_no"])
    programme = await session.scalar(
        select(AmbassadorProgramme)
        .where(AmbassadorProgramme.id == programme_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if programme is None or programme.state not in RUNNING or programme.current_period >= n:
        return
    starts = period_start(programme, n)
    if programme.notice_ends_at is not None and starts >= programme.notice_ends_at:
        return
    if ctx.now < starts:
        raise RenewalNotDue(f"period {n} of {programme_id} starts at {starts.isoformat()}")
    latest = await _latest(session, programme)
    if latest.funded_at is None:
        if latest.state == ContractState.awaiting_funding and ctx.now < latest.funding_due_at:
            raise RenewalNotDue(
                f"period {latest.period_no} of {programme_id} may be funded until "
                f"{latest.funding_due_at.isoformat()}"
            )
        # Unfunded past its deadline: the lapse timer's business (it may not have run yet).
        await PROGRAMMES.fire(session, programme, "lapse", Actor("system", job.id), ctx.now)
        return
    actor = Actor("system", job.id)
    bid, brief, offer = await _deal(session, programme)
    terms = period_terms(offer.terms, n)
    try:
        await check_exclusivity(
            session,
            bid.influencer_id,
            bid.brand_id,
            deal_categories(terms, brief),
            ctx.now.date(),
            last_due_date(terms),
        )
    except ExclusivityConflict as exc:
        await PROGRAMMES.fire(
            session,
            programme,
            "lapse",
            actor,
            ctx.now,
            params=Lapse(f"period {n} cannot start: {exc.detail}"),
            reason=exc.detail,
        )
        return
    await PROGRAMMES.fire(
        session,
        programme,
        "renew",
        actor,
        ctx.now,
        params=Renewal(n),
        reason=f"period {n} starts {starts.isoformat()}",
        data={"period_no": n},
    )


# --- the parties' side ----------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodView:
    period_no: int
    starts_at: datetime
    contract: Contract
    payment: Payment | None


@dataclass(frozen=True)
class ProgrammeView:
    programme: AmbassadorProgramme
    party: Party
    periods: list[PeriodView]
    deliverables_per_period: int


async def _views(
    session: AsyncSession, user_id: str, rows: Sequence[AmbassadorProgramme]
) -> list[ProgrammeView]:
    if not rows:
        return []
    ids = [p.id for p in rows]
    contracts = list(
        await session.scalars(
            select(Contract)
            .where(Contract.programme_id.in_(ids))
            .order_by(Contract.programme_id, Contract.period_no)
            .execution_options(populate_existing=True)
        )
    )
    payments = {
        p.contract_id: p
        for p in await session.scalars(
            select(Payment)
            .where(Payment.contract_id.in_([c.id for c in contracts]))
            .execution_options(populate_existing=True)
        )
    }
    offers = {
        o.id: o
        for o in await session.scalars(
            select(Offer).where(Offer.id.in_([p.offer_id for p in rows]))
        )
    }
    views = []
    for programme in rows:
        periods = [
            PeriodView(c.period_no, period_start(programme, c.period_no), c, payments.get(c.id))
            for c in contracts
            if c.programme_id == programme.id
        ]
        terms: dict[str, Any] = offers[programme.offer_id].terms
        views.append(
            ProgrammeView(
                programme,
                await party_of(session, user_id, programme.brand_id, programme.influencer_id),
                periods,
                sum(int(line["count"]) for line in terms["deliverables"]),
            )
        )
    return views


async def get_programme(session: AsyncSession, user_id: str, programme_id: str) -> ProgrammeView:
    programme = await session.scalar(
        select(AmbassadorProgramme)
        .where(AmbassadorProgramme.id == programme_id, party_filter(AmbassadorProgramme, user_id))
        .execution_options(populate_existing=True)
    )
    if programme is None:
        raise ProgrammeNotFound(f"No ambassador programme {programme_id} that you are a party to")
    (view,) = await _views(session, user_id, [programme])
    return view


async def list_programmes(
    session: AsyncSession,
    user_id: str,
    page: PageParams,
    *,
    states: Sequence[ProgrammeState] = (),
) -> tuple[list[ProgrammeView], str | None]:
    """The user's programmes, both sides, newest first."""
    stmt = select(AmbassadorProgramme).where(party_filter(AmbassadorProgramme, user_id))
    if states:
        stmt = stmt.where(AmbassadorProgramme.state.in_(states))
    rows, cursor = await paginate(
        session, stmt, [SortKey(AmbassadorProgramme.id, descending=True)], page
    )
    return await _views(session, user_id, rows), cursor


async def give_notice(
    session: AsyncSession, user_id: str, programme_id: str, now: datetime, reason: str | None
) -> ProgrammeView:
    view = await get_programme(session, user_id, programme_id)
    await PROGRAMMES.fire(
        session,
        view.programme,
        "give_notice",
        view.party.actor,
        now,
        reason=reason,
        data={"user_id": user_id},
        params=Notice(reason),
    )
    return await get_programme(session, user_id, programme_id)


async def programme_transitions(
    session: AsyncSession, user_id: str, programme_id: str, page: PageParams
) -> tuple[list[Any], str | None]:
    view = await get_programme(session, user_id, programme_id)
    return await list_transitions(session, PROGRAMMES.kind, view.programme.id, page)
