"""Ambassador programmes (docs/relationships.md): read by their two parties, ended by either
with notice (app/services/relationships/programmes.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import ContractReader, ContractWriter
from app.db import Session
from app.deps import Now
from app.errors import AUTH_PROBLEMS, InvalidTransition, problem_responses
from app.models import ProgrammeState
from app.pagination import Page, Pagination, page_of
from app.schemas.programmes import (
    NoticeIn,
    PeriodFundingOut,
    PerPeriodOut,
    ProgrammeOut,
    ProgrammePeriodOut,
)
from app.schemas.workflow import TransitionOut
from app.services.relationships import programmes as service
from app.services.relationships.programmes import PROGRAMMES, ProgrammeNotFound, ProgrammeView
from app.services.workflow.state_machine import ActorNotAllowed, ConcurrentTransition

router = APIRouter(tags=["relationships"])


def _out(view: ProgrammeView) -> ProgrammeOut:
    p = view.programme
    return ProgrammeOut(
        id=p.id,
        offer_id=p.offer_id,
        bid_id=p.bid_id,
        brief_id=p.brief_id,
        brand_id=p.brand_id,
        influencer_id=p.influencer_id,
        state=p.state,
        interval=p.interval,
        interval_count=p.interval_count,
        notice_days=p.notice_days,
        per_period=PerPeriodOut(
            price=p.price, currency=p.currency, deliverables=view.deliverables_per_period
        ),
        starts_at=p.starts_at,
        current_period=p.current_period,
        next_renewal_at=p.next_renewal_at,
        notice_given_at=p.notice_given_at,
        notice_given_by=p.notice_given_by,
        notice_reason=p.notice_reason,
        notice_ends_at=p.notice_ends_at,
        ended_at=p.ended_at,
        end_reason=p.end_reason,
        periods=[
            ProgrammePeriodOut(
                period_no=period.period_no,
                starts_at=period.starts_at,
                contract_id=period.contract.id,
                contract_state=period.contract.state,
                funding_due_at=period.contract.funding_due_at,
                funded_at=period.contract.funded_at,
                funding=(
                    PeriodFundingOut.model_validate(period.payment) if period.payment else None
                ),
            )
            for period in view.periods
        ],
        side=view.party.side,
        allowed_actions=PROGRAMMES.allowed_actions(p.state, view.party.side.value),
        created_at=p.created_at,
    )


@router.get(
    "/v1/programmes",
    summary="Your ambassador programmes, both sides",
    description="Programmes of your brands and your own as an influencer, newest first.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_programmes(
    principal: ContractReader,
    session: Session,
    page: Pagination,
    state: Annotated[
        list[ProgrammeState],
        Query(default_factory=list, description="Only programmes in these states"),
    ],
) -> Page[ProgrammeOut]:
    views, cursor = await service.list_programmes(session, principal.user_id, page, states=state)
    return Page[ProgrammeOut](**page_of([_out(v) for v in views], cursor))


@router.get(
    "/v1/programmes/{programme_id}",
    summary="An ambassador programme",
    description="The recurrence, every period (its contract, its funding and why a funding "
    "failed), the notice and why it ended; the two parties only.",
    responses=problem_responses(*AUTH_PROBLEMS, ProgrammeNotFound),
)
async def get_programme(
    programme_id: str, principal: ContractReader, session: Session
) -> ProgrammeOut:
    return _out(await service.get_programme(session, principal.user_id, programme_id))


@router.post(
    "/v1/programmes/{programme_id}/notice",
    summary="End a programme with the agreed notice",
    description="Either party: active → notice_given. Periods starting before the notice ends "
    "(`notice_ends_at` = now + `notice_days`) still start; none after; then the programme "
    "ends. The running period is finished as agreed. 409 once notice was given or the "
    "programme is over.",
    responses=problem_responses(
        *AUTH_PROBLEMS,
        ProgrammeNotFound,
        InvalidTransition,
        ActorNotAllowed,
        ConcurrentTransition,
    ),
)
async def give_notice(
    programme_id: str,
    principal: ContractWriter,
    session: Session,
    now: Now,
    body: NoticeIn | None = None,
) -> ProgrammeOut:
    reason = body.reason if body is not None else None
    view = await service.give_notice(session, principal.user_id, programme_id, now, reason)
    return _out(view)


@router.get(
    "/v1/programmes/{programme_id}/transitions",
    summary="The programme's audit trail",
    description="Every transition (renewals, notice, end), oldest first; the two parties only.",
    responses=problem_responses(*AUTH_PROBLEMS, ProgrammeNotFound),
)
async def list_programme_transitions(
    programme_id: str, principal: ContractReader, session: Session, page: Pagination
) -> Page[TransitionOut]:
    rows, cursor = await service.programme_transitions(
        session, principal.user_id, programme_id, page
    )
    return Page[TransitionOut](**page_of([TransitionOut.model_validate(t) for t in rows], cursor))
