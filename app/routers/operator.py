"""Platform operations: the outbox's dead letters and the transition audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import Operator
from app.db import Session
from app.deps import Now
from app.errors import AUTH_PROBLEMS, InvalidTransition, problem_responses
from app.models.workflow import JobState
from app.pagination import Page, Pagination, page_of
from app.schemas.workflow import JobOut, JobRetryIn, TransitionOut
from app.services.workflow import outbox
from app.services.workflow.outbox import JobNotFound
from app.services.workflow.state_machine import Actor, list_transitions

router = APIRouter(tags=["operator"])


@router.get(
    "/v1/operator/jobs",
    summary="Outbox jobs, newest first (`state=dead` lists the dead letters)",
    description="Background jobs (payouts, transfers, notifications), newest first. Operators "
    "only.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_jobs(
    principal: Operator,
    session: Session,
    page: Pagination,
    state: Annotated[JobState | None, Query(description="Only jobs in this state")] = None,
    topic: Annotated[
        str | None, Query(max_length=100, description="Only jobs of this topic")
    ] = None,
) -> Page[JobOut]:
    rows, cursor = await outbox.list_jobs(session, state, topic, page)
    return Page[JobOut](**page_of([JobOut.model_validate(j) for j in rows], cursor))


@router.get(
    "/v1/operator/jobs/{job_id}",
    summary="One outbox job",
    description="One background job with its attempts, last error and next run. Operators only.",
    responses=problem_responses(*AUTH_PROBLEMS, JobNotFound),
)
async def get_job(job_id: str, principal: Operator, session: Session) -> JobOut:
    return JobOut.model_validate(await outbox.get_job(session, job_id))


@router.post(
    "/v1/operator/jobs/{job_id}/retry",
    summary="Send a dead job back to the queue",
    description="The job becomes `pending`, due now, with its attempts reset; its last error "
    "stays for reference. Only `dead` jobs can be retried (409 otherwise). Audited.",
    responses=problem_responses(*AUTH_PROBLEMS, JobNotFound, InvalidTransition),
)
async def retry_job(
    job_id: str,
    principal: Operator,
    session: Session,
    now: Now,
    body: JobRetryIn | None = None,
) -> JobOut:
    actor = Actor("operator", principal.user_id)
    reason = body.reason if body is not None else None
    return JobOut.model_validate(await outbox.retry_job(session, job_id, actor, now, reason))


@router.get(
    "/v1/operator/transitions",
    summary="The audit trail of state transitions, oldest first",
    description="Every recorded state change (briefs, bids, offers, contracts, deliverables, "
    "disputes), oldest first, with who made it and when. Operators only.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_state_transitions(
    principal: Operator,
    session: Session,
    page: Pagination,
    kind: Annotated[
        str | None, Query(max_length=40, description="Only objects of this kind")
    ] = None,
    object_id: Annotated[str | None, Query(max_length=40, description="Only this object")] = None,
) -> Page[TransitionOut]:
    rows, cursor = await list_transitions(session, kind, object_id, page)
    return Page[TransitionOut](**page_of([TransitionOut.model_validate(t) for t in rows], cursor))
