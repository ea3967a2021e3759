"""Delivery routes: deliverables, drafts and reviews, proof, cancellation, deadline extensions
and metric reports (app/services/delivery/deliverables.py and neighbours, docs/delivery.md).

The contract's two parties only; anyone else gets 404. What a party may do is the machines'
business (403 `actor-not-allowed` for the wrong side, 409 for the wrong state)."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.auth import ContractReader, ContractWriter, DeliverableWriter
from app.db import Session
from app.deps import Now
from app.errors import AUTH_PROBLEMS, InvalidTransition, problem_responses
from app.models import Side
from app.models.contract import late_at
from app.models.delivery import METRIC_FIELDS
from app.pagination import Page, Pagination, page_of
from app.schemas.delivery import (
    ApproveIn,
    DeliverableDetailOut,
    DraftIn,
    DraftOut,
    ExtensionAnswerIn,
    ExtensionIn,
    ExtensionOut,
    MetricReportIn,
    MetricReportOut,
    MetricsOut,
    ProofIn,
    ProofOut,
    ReasonOptionalIn,
    ReasonRequiredIn,
    RequestChangesIn,
)
from app.services.delivery import deliverables as service
from app.services.delivery import extensions as extension_service
from app.services.delivery import metrics as metric_service
from app.services.delivery.contracts import ContractNotFound
from app.services.delivery.deliverables import (
    DeliverableNotFound,
    DeliverableView,
    DisclosureFailed,
    DraftApprovalRequired,
    DraftInReview,
    DraftNotFound,
    ReviewWindowLapsed,
    RevisionCapReached,
    VerificationWindowLapsed,
)
from app.services.delivery.extensions import DeliverableNotOpen, ExtensionNotFound, ExtensionPending
from app.services.delivery.metrics import DeliverableNotPublished
from app.services.workflow.state_machine import (
    ActorNotAllowed,
    ConcurrentTransition,
    TransitionRefused,
)

router = APIRouter(tags=["delivery"])

MOVES = (InvalidTransition, ActorNotAllowed, ConcurrentTransition, TransitionRefused)


def deliverable_out(v: DeliverableView) -> DeliverableDetailOut:
    d, terms = v.deliverable, v.contract.terms
    return DeliverableDetailOut(
        id=d.id,
        contract_id=d.contract_id,
        position=d.position,
        key=d.key,
        unit=d.unit,
        type=d.type,
        platform=service.platform_of(d),
        due_date=d.due_date,
        late_at=late_at(d.due_date),
        state=d.state,
        late=d.late,
        late_since=d.late_since,
        draft_required=v.draft_required,
        approval_policy=str(terms.get("approval_policy")),
        revision_cap=int(terms.get("revision_cap", 0)),
        revisions_used=v.revisions_used,
        published_at=d.published_at,
        confirmed_at=d.confirmed_at,
        cancelled_at=d.cancelled_at,
        latest_draft=DraftOut.model_validate(v.latest_draft) if v.latest_draft else None,
        proof=ProofOut.model_validate(v.proof) if v.proof else None,
        open_extension=(
            ExtensionOut.model_validate(v.open_extension) if v.open_extension else None
        ),
        milestone_ids=v.milestone_ids,
        side=Side(v.side),
        allowed_actions=v.allowed_actions,
    )


async def _deliverable(session: Session, loaded: service.Loaded) -> DeliverableDetailOut:
    return deliverable_out(await service.view(session, loaded))


# --- deliverables -------------------------------------------------------------------------------


@router.get(
    "/v1/contracts/{contract_id}/deliverables",
    summary="The contract's deliverables",
    description="In position order, with their latest draft, proof, open extension request and "
    "what your side may do now.",
    responses=problem_responses(*AUTH_PROBLEMS, ContractNotFound),
)
async def list_contract_deliverables(
    contract_id: str, principal: ContractReader, session: Session, page: Pagination
) -> Page[DeliverableDetailOut]:
    rows, contract, party, cursor = await service.list_deliverables(
        session, principal.user_id, contract_id, page
    )
    outs = await service.views(session, contract, party.side.value, rows)
    return Page[DeliverableDetailOut](**page_of([deliverable_out(v) for v in outs], cursor))


@router.get(
    "/v1/deliverables/{deliverable_id}",
    summary="A deliverable",
    description="One deliverable of a contract: its type, due date, state, drafts and proof. "
    "Only the contract's parties can read it.",
    responses=problem_responses(*AUTH_PROBLEMS, DeliverableNotFound),
)
async def get_deliverable(
    deliverable_id: str, principal: ContractReader, session: Session
) -> DeliverableDetailOut:
    loaded = await service.load_deliverable(session, principal.user_id, deliverable_id)
    return await _deliverable(session, loaded)


# --- drafts -------------------------------------------------------------------------------------


@router.post(
    "/v1/deliverables/{deliverable_id}/drafts",
    status_code=status.HTTP_201_CREATED,
    summary="Submit a draft (influencer)",
    description="Version n+1 of the deliverable's content, in review until the brand answers or "
    "the review window (`terms.review_window_hours`) lapses into approval. Where the approval "
    "policy asks for it, the deliverable goes `in_review`; otherwise the draft is voluntary and "
    "never blocks the proof. The caption's disclosure check is stored with it.",
    responses=problem_responses(*AUTH_PROBLEMS, DeliverableNotFound, DraftInReview, *MOVES),
)
async def submit_draft(
    deliverable_id: str, body: DraftIn, principal: DeliverableWriter, session: Session, now: Now
) -> DraftOut:
    draft = await service.submit_draft(
        session,
        principal.user_id,
        deliverable_id,
        now,
        caption=body.caption,
        media_urls=list(body.media_urls),
        notes=body.notes,
    )
    return DraftOut.model_validate(draft)


@router.get(
    "/v1/deliverables/{deliverable_id}/drafts",
    summary="The deliverable's drafts, newest first",
    description="Every draft the creator submitted for this deliverable, newest first, with the "
    "brand's answer to each.",
    responses=problem_responses(*AUTH_PROBLEMS, DeliverableNotFound),
)
async def list_drafts(
    deliverable_id: str, principal: ContractReader, session: Session, page: Pagination
) -> Page[DraftOut]:
    rows, cursor = await service.list_drafts(session, principal.user_id, deliverable_id, page)
    return Page[DraftOut](**page_of([DraftOut.model_validate(d) for d in rows], cursor))


@router.get(
    "/v1/drafts/{draft_id}",
    summary="A draft",
    description="One draft: its caption, media links, disclosure check and the brand's answer.",
    responses=problem_responses(*AUTH_PROBLEMS, DraftNotFound),
)
async def get_draft(draft_id: str, principal: ContractReader, session: Session) -> DraftOut:
    draft, _ = await service.load_draft(session, principal.user_id, draft_id)
    return DraftOut.model_validate(draft)


@router.post(
    "/v1/drafts/{draft_id}/approve",
    summary="Approve a draft (brand)",
    description="Inside the review window only (409 `review-window-lapsed` after it: the draft "
    "is approved automatically). With `terms.disclosure_required`, a caption that fails the "
    "disclosure check cannot be approved (422 `disclosure-failed` with the reasons).",
    responses=problem_responses(
        *AUTH_PROBLEMS, DraftNotFound, ReviewWindowLapsed, DisclosureFailed, *MOVES
    ),
)
async def approve_draft(
    draft_id: str,
    principal: DeliverableWriter,
    session: Session,
    now: Now,
    body: ApproveIn | None = None,
) -> DraftOut:
    feedback = body.feedback if body is not None else None
    draft = await service.review_draft(
        session, principal.user_id, draft_id, "approve", now, feedback
    )
    return DraftOut.model_validate(draft)


@router.post(
    "/v1/drafts/{draft_id}/request-changes",
    summary="Ask for changes to a draft (brand)",
    description="Inside the review window, and at most `terms.revision_cap` times per "
    "deliverable (409 `revision-cap-reached` naming the cap and the options: approve, amend the "
    "terms with a new offer, open a dispute).",
    responses=problem_responses(
        *AUTH_PROBLEMS, DraftNotFound, ReviewWindowLapsed, RevisionCapReached, *MOVES
    ),
)
async def request_draft_changes(
    draft_id: str, body: RequestChangesIn, principal: DeliverableWriter, session: Session, now: Now
) -> DraftOut:
    draft = await service.review_draft(
        session, principal.user_id, draft_id, "request_changes", now, body.feedback
    )
    return DraftOut.model_validate(draft)


# --- proof --------------------------------------------------------------------------------------


@router.post(
    "/v1/deliverables/{deliverable_id}/proof",
    status_code=status.HTTP_201_CREATED,
    summary="Submit proof of publication (influencer)",
    description="The deliverable becomes `published`; the brand confirms or disputes within the "
    "verification window (`terms.verification_window_hours`), else it is confirmed "
    "automatically. Needs an approved draft where the policy asks for one (409 "
    "`draft-approval-required`); with `terms.disclosure_required` the caption must pass the "
    "disclosure check (422 `disclosure-failed`). After a disputed proof, submit another.",
    responses=problem_responses(
        *AUTH_PROBLEMS, DeliverableNotFound, DraftApprovalRequired, DisclosureFailed, *MOVES
    ),
)
async def submit_proof(
    deliverable_id: str, body: ProofIn, principal: DeliverableWriter, session: Session, now: Now
) -> DeliverableDetailOut:
    loaded = await service.submit_proof(
        session,
        principal.user_id,
        deliverable_id,
        now,
        url=body.url,
        published_at=body.published_at,
        platform_post_id=body.platform_post_id,
        caption=body.caption,
        paid_partnership_label=body.paid_partnership_label,
    )
    return await _deliverable(session, loaded)


@router.post(
    "/v1/deliverables/{deliverable_id}/proof/confirm",
    summary="Confirm the proof (brand)",
    description="Inside the verification window. Releases every milestone whose deliverables "
    "are all confirmed (unless the contract is disputed).",
    responses=problem_responses(
        *AUTH_PROBLEMS, DeliverableNotFound, VerificationWindowLapsed, *MOVES
    ),
)
async def confirm_proof(
    deliverable_id: str,
    principal: DeliverableWriter,
    session: Session,
    now: Now,
    body: ReasonOptionalIn | None = None,
) -> DeliverableDetailOut:
    reason = body.reason if body is not None else None
    loaded = await service.decide_proof(
        session, principal.user_id, deliverable_id, "confirm", now, reason
    )
    return await _deliverable(session, loaded)


@router.post(
    "/v1/deliverables/{deliverable_id}/proof/dispute",
    summary="Dispute the proof (brand)",
    description="Inside the verification window: the deliverable becomes `proof_disputed`; the "
    "influencer may submit another proof, or either party opens a contract dispute.",
    responses=problem_responses(
        *AUTH_PROBLEMS, DeliverableNotFound, VerificationWindowLapsed, *MOVES
    ),
)
async def dispute_proof(
    deliverable_id: str,
    body: ReasonRequiredIn,
    principal: DeliverableWriter,
    session: Session,
    now: Now,
) -> DeliverableDetailOut:
    loaded = await service.decide_proof(
        session, principal.user_id, deliverable_id, "dispute_proof", now, body.reason
    )
    return await _deliverable(session, loaded)


# --- cancellation -------------------------------------------------------------------------------


@router.post(
    "/v1/deliverables/{deliverable_id}/cancel",
    summary="Cancel a deliverable",
    description="Either party, while nothing was submitted for it; the brand also when it is "
    "late (not yet published). The milestones paying for it become refundable (an outbox job "
    "`money.refund_milestone` each). The contract must be active.",
    responses=problem_responses(*AUTH_PROBLEMS, DeliverableNotFound, *MOVES),
)
async def cancel_deliverable(
    deliverable_id: str,
    principal: ContractWriter,
    session: Session,
    now: Now,
    body: ReasonOptionalIn | None = None,
) -> DeliverableDetailOut:
    reason = body.reason if body is not None else None
    loaded = await service.cancel_deliverable(
        session, principal.user_id, deliverable_id, now, reason
    )
    return await _deliverable(session, loaded)


# --- extensions ---------------------------------------------------------------------------------


@router.post(
    "/v1/deliverables/{deliverable_id}/extensions",
    status_code=status.HTTP_201_CREATED,
    summary="Propose a later due date",
    description="Either party; the other accepts or declines. One open proposal per deliverable.",
    responses=problem_responses(
        *AUTH_PROBLEMS, DeliverableNotFound, DeliverableNotOpen, ExtensionPending
    ),
)
async def propose_extension(
    deliverable_id: str,
    body: ExtensionIn,
    principal: DeliverableWriter,
    session: Session,
    now: Now,
) -> ExtensionOut:
    extension = await extension_service.propose(
        session, principal.user_id, deliverable_id, now, due_date=body.due_date, reason=body.reason
    )
    return ExtensionOut.model_validate(extension)


@router.get(
    "/v1/deliverables/{deliverable_id}/extensions",
    summary="The deliverable's extension requests, newest first",
    description="Requests to move this deliverable's due date, newest first, in every state.",
    responses=problem_responses(*AUTH_PROBLEMS, DeliverableNotFound),
)
async def list_extensions(
    deliverable_id: str, principal: ContractReader, session: Session, page: Pagination
) -> Page[ExtensionOut]:
    rows, cursor = await extension_service.list_extensions(
        session, principal.user_id, deliverable_id, page
    )
    return Page[ExtensionOut](**page_of([ExtensionOut.model_validate(e) for e in rows], cursor))


async def _answer(
    session: Session, user_id: str, extension_id: str, action: str, now: Now, note: str | None
) -> ExtensionOut:
    extension, _ = await extension_service.answer(session, user_id, extension_id, action, now, note)
    return ExtensionOut.model_validate(extension)


@router.post(
    "/v1/extensions/{extension_id}/accept",
    summary="Accept a proposed due date (the other party)",
    description="The deliverable's due date moves; a late flag clears when the new date is not "
    "over yet.",
    responses=problem_responses(*AUTH_PROBLEMS, ExtensionNotFound, DeliverableNotOpen, *MOVES),
)
async def accept_extension(
    extension_id: str,
    principal: DeliverableWriter,
    session: Session,
    now: Now,
    body: ExtensionAnswerIn | None = None,
) -> ExtensionOut:
    note = body.note if body is not None else None
    return await _answer(session, principal.user_id, extension_id, "accept", now, note)


@router.post(
    "/v1/extensions/{extension_id}/decline",
    summary="Decline a proposed due date (the other party)",
    description="The party who did not propose the new due date refuses it; the current due date "
    "stands. An optional `note` says why.",
    responses=problem_responses(*AUTH_PROBLEMS, ExtensionNotFound, *MOVES),
)
async def decline_extension(
    extension_id: str,
    principal: DeliverableWriter,
    session: Session,
    now: Now,
    body: ExtensionAnswerIn | None = None,
) -> ExtensionOut:
    note = body.note if body is not None else None
    return await _answer(session, principal.user_id, extension_id, "decline", now, note)


@router.post(
    "/v1/extensions/{extension_id}/withdraw",
    summary="Withdraw your proposal",
    description="The party who proposed a new due date takes the proposal back before the other "
    "side answers.",
    responses=problem_responses(*AUTH_PROBLEMS, ExtensionNotFound, *MOVES),
)
async def withdraw_extension(
    extension_id: str,
    principal: DeliverableWriter,
    session: Session,
    now: Now,
    body: ExtensionAnswerIn | None = None,
) -> ExtensionOut:
    note = body.note if body is not None else None
    return await _answer(session, principal.user_id, extension_id, "withdraw", now, note)


# --- metrics ------------------------------------------------------------------------------------


@router.post(
    "/v1/deliverables/{deliverable_id}/metrics",
    status_code=status.HTTP_201_CREATED,
    summary="Report metrics of a published deliverable",
    description="Either party. Reporting again from the same source is a correction: the next "
    "version of your series, superseding the previous one. Counts are never negative.",
    responses=problem_responses(*AUTH_PROBLEMS, DeliverableNotFound, DeliverableNotPublished),
)
async def report_metrics(
    deliverable_id: str,
    body: MetricReportIn,
    principal: DeliverableWriter,
    session: Session,
    now: Now,
) -> MetricReportOut:
    row = await metric_service.report(
        session,
        principal.user_id,
        deliverable_id,
        now,
        source=body.source,
        values={f: getattr(body, f) for f in METRIC_FIELDS},
        revenue=body.revenue,
        currency=body.currency,
        measured_at=body.measured_at,
        evidence_url=body.evidence_url,
        note=body.note,
    )
    return MetricReportOut.model_validate(row)


@router.get(
    "/v1/deliverables/{deliverable_id}/metrics",
    summary="The deliverable's metrics: the latest of each series, and the history",
    description="The reported results of this deliverable (impressions, reach, clicks, revenue "
    "and so on): the latest value of each series, and every report.",
    responses=problem_responses(*AUTH_PROBLEMS, DeliverableNotFound),
)
async def list_metrics(
    deliverable_id: str, principal: ContractReader, session: Session
) -> MetricsOut:
    doc = await metric_service.list_reports(session, principal.user_id, deliverable_id)
    return MetricsOut.model_validate(doc)
