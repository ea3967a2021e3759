from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth import BriefReader, BriefWriter
from app.db import Session, reads_only
from app.deps import Now
from app.errors import AUTH_PROBLEMS, InvalidTransition, problem_responses
from app.models import Brief
from app.pagination import Page, Pagination, page_of
from app.schemas.briefs import BriefIn, BriefOut, BriefPatch, BriefQuery
from app.services.catalogue import briefs as service
from app.services.catalogue.briefs import (
    BriefChanged,
    BriefFilters,
    BriefNotEditable,
    BriefNotFound,
)
from app.services.identity.brands import BrandNotFound

router = APIRouter(tags=["briefs"])


def _out(brief: Brief | service.BriefRow) -> BriefOut:
    return BriefOut(
        **service.document(brief),
        budget_warning=service.budget_warning(brief),
        created_at=brief.created_at,
        updated_at=brief.updated_at,
    )


@router.post(
    "/v1/briefs",
    status_code=status.HTTP_201_CREATED,
    summary="Create a brief (a draft) for a brand you belong to",
    description="Validation covers the rules between fields: budget bounds, timeline order and "
    "deadlines not in the past, deliverables on the brief's platforms. See docs/catalogue.md.",
    responses=problem_responses(*AUTH_PROBLEMS, BrandNotFound),
)
async def create_brief(
    body: BriefIn, principal: BriefWriter, session: Session, now: Now
) -> BriefOut:
    doc = body.model_dump(mode="json", exclude={"brand_id"})
    return _out(await service.create_brief(session, principal.user_id, body.brand_id, doc, now))


@router.get(
    "/v1/briefs",
    summary="Search briefs: open public briefs and your brands' briefs",
    description="Filters narrow the result (a repeated filter matches any of its values); `q` "
    "matches briefs containing every word. Sorted by `sort`, then id; cursor-paginated.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
@reads_only
async def search_briefs(
    query: Annotated[BriefQuery, Query()],
    principal: BriefReader,
    session: Session,
    page: Pagination,
) -> Page[BriefOut]:
    filters = BriefFilters(**query.model_dump(mode="json"))
    rows, cursor = await service.search_briefs(session, principal.user_id, filters, page)
    return Page[BriefOut](**page_of([_out(b) for b in rows], cursor))


@router.get(
    "/v1/briefs/{brief_id}",
    summary="A brief",
    description="Your brands' briefs in any state; others' once open, if public. "
    "`budget_warning` is set when the per-influencer budget is below the fair range.",
    responses=problem_responses(*AUTH_PROBLEMS, BriefNotFound),
)
@reads_only
async def get_brief(brief_id: str, principal: BriefReader, session: Session) -> BriefOut:
    return _out(await service.read_brief(session, principal.user_id, brief_id))


@router.patch(
    "/v1/briefs/{brief_id}",
    summary="Change a brief",
    description="Fields sent replace the stored ones whole. A draft changes anything; an open "
    "brief only `description`, `must_haves`, `kpis` and a later `application_deadline`; "
    "closed, completed and cancelled briefs nothing (409 `brief-not-editable`).",
    responses=problem_responses(*AUTH_PROBLEMS, BriefNotFound, BriefNotEditable, BriefChanged),
)
async def update_brief(
    brief_id: str, body: BriefPatch, principal: BriefWriter, session: Session, now: Now
) -> BriefOut:
    changes = body.model_dump(mode="json", exclude_unset=True)
    return _out(await service.update_brief(session, principal.user_id, brief_id, changes, now))


_TRANSITION_PROBLEMS = problem_responses(*AUTH_PROBLEMS, BriefNotFound, InvalidTransition)


@router.post(
    "/v1/briefs/{brief_id}/open",
    summary="Open a draft brief to applications",
    description="draft → open. The brief must be valid today (422 otherwise, e.g. a passed "
    "application deadline).",
    responses=_TRANSITION_PROBLEMS,
)
async def open_brief(brief_id: str, principal: BriefWriter, session: Session, now: Now) -> BriefOut:
    return _out(await service.transition(session, principal.user_id, brief_id, "open", now))


@router.post(
    "/v1/briefs/{brief_id}/close",
    summary="Close an open brief to new applications",
    description="open → closed.",
    responses=_TRANSITION_PROBLEMS,
)
async def close_brief(
    brief_id: str, principal: BriefWriter, session: Session, now: Now
) -> BriefOut:
    return _out(await service.transition(session, principal.user_id, brief_id, "close", now))


@router.post(
    "/v1/briefs/{brief_id}/complete",
    summary="Mark a closed brief completed",
    description="closed → completed.",
    responses=_TRANSITION_PROBLEMS,
)
async def complete_brief(
    brief_id: str, principal: BriefWriter, session: Session, now: Now
) -> BriefOut:
    return _out(await service.transition(session, principal.user_id, brief_id, "complete", now))


@router.post(
    "/v1/briefs/{brief_id}/cancel",
    summary="Cancel a brief",
    description="draft, open or closed → cancelled.",
    responses=_TRANSITION_PROBLEMS,
)
async def cancel_brief(
    brief_id: str, principal: BriefWriter, session: Session, now: Now
) -> BriefOut:
    return _out(await service.transition(session, principal.user_id, brief_id, "cancel", now))
