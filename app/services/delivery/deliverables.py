"""Delivery: deliverables, drafts and their reviews, proof of publication (docs/delivery.md).

**Policy.** The contract's terms say which deliverables need an approved draft before proof:
`all` → every one; `first` → the first by position; `none` → none. A *voluntary* draft (one
the policy does not ask for) is reviewed like any other but never blocks the proof.

**Windows.** The brand reviews a draft within `terms.review_window_hours` (default 72) of its
submission, and confirms or disputes a proof within `terms.verification_window_hours` (default
72); when a window lapses a timer approves / confirms, recorded as automatic
(`approved_automatically`, `confirmed_automatically`, and the audit row's reason). A review
after the window is a 409 (`review-window-lapsed` / `verification-window-lapsed`) that changes
nothing. Change requests are counted per deliverable against `terms.revision_cap`; one more is
a 409 `revision-cap-reached`.

**Disclosure.** With `terms.disclosure_required` the caption must pass `check_disclosure` for
the deliverable's platform: a draft's check is stored when it is submitted and the brand cannot
approve a failing draft (422 `disclosure-failed`, with the checker's reasons — request changes
instead); a failing proof is refused (422). An automatic approval does not check (the brand
let the window lapse); the proof, which is what the public sees, always must pass.

**The deliverable's lifecycle** — `DELIVERABLES` (`late` is a flag, not a state):

| action                 | from                              | to                | who          |
|------------------------|-----------------------------------|-------------------|--------------|
| submit_draft           | pending, changes_requested        | in_review         | influencer ¹ |
| submit_voluntary_draft | pending                           | pending           | influencer ² |
| approve                | in_review                         | approved          | brand, system ³ |
| request_changes        | in_review                         | changes_requested | brand ³      |
| submit_proof           | pending ², approved, proof_disputed | published       | influencer   |
| confirm                | published                         | confirmed         | brand, system |
| dispute_proof          | published                         | proof_disputed    | brand        |
| cancel                 | pending … approved (open work)    | cancelled         | both, system |
| flag_late              | each open-work state              | (the same)        | system       |

¹ the policy asks for a draft of it; ² it does not; ³ fired by its draft's review.

Every move needs the contract `active` or `disputed` (a dispute freezes money, not work);
`cancel` needs it `active`. Who may cancel: the influencer, a deliverable nothing was submitted
for; the brand, the same or a late one. Cancelling makes the milestones paying for the
deliverable refundable (`money.refund_milestone`). Confirming releases every milestone whose
deliverables are all confirmed (`money.release_milestone`, once per milestone), and when every
deliverable is confirmed or cancelled the contract is `delivered` (or `cancelled` when none was
confirmed) — both decided in services/delivery/completion.py. Publishing or cancelling a
deliverable cancels its open extension proposal (a `cascade` to the extension machine); a
deliverable cancelled with its contract (`ctx.cause` is the contract's `cancel`) leaves the money
to the contract's refund. Callers pass `DeliverableMove` / `DraftReview` as the machines' typed
`params`.

**The draft's review** — `DRAFTS`: `approve` (in_review → approved; brand in the window, or the
system's timer after it), `request_changes` (in_review → changes_requested; brand, in the window,
under the cap), `withdraw` (in_review → withdrawn; system, when the deliverable is published or
cancelled). A required draft's review moves the deliverable with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import rfc3339
from app.errors import Conflict, InvalidRequest, NotFound
from app.ids import new_id
from app.models import (
    Contract,
    DeadlineExtension,
    Deliverable,
    DeliverableState,
    Draft,
    DraftState,
    ExtensionState,
    MilestoneDeliverable,
    Proof,
    ProofState,
    StateTransition,
)
from app.models.contract import OPEN_WORK, WORKING_STATES, late_at
from app.pagination import PageParams, SortKey, paginate
from app.services.catalogue.deliverable_types import get_deliverable_type
from app.services.delivery.completion import (
    evaluate_contract,
    lock_contract,
    milestone_ids_of,
    refund_pending,
    release_met,
)
from app.services.delivery.contracts import ContractNotFound
from app.services.delivery.disclosure import check_disclosure
from app.services.identity.tenancy import Party, party_filter, party_of
from app.services.negotiation.terms import (
    DEFAULT_REVIEW_WINDOW_HOURS,
    DEFAULT_VERIFICATION_WINDOW_HOURS,
)
from app.services.workflow import timers
from app.services.workflow.effects import cancel_timer, cascade, schedule_timer, set_columns
from app.services.workflow.state_machine import Actor, StateMachine, Transition, TransitionContext

D = DeliverableState
Ctx = TransitionContext[Deliverable]
DraftCtx = TransitionContext[Draft]
REVISION_OPTIONS = [
    "approve the draft",
    "amend the terms with a new offer",
    "open a dispute (POST /v1/contracts/{id}/disputes)",
]


# --- problems -----------------------------------------------------------------------------------


class DeliverableNotFound(NotFound):
    slug, title = "deliverable-not-found", "No such deliverable"


class DraftNotFound(NotFound):
    slug, title = "draft-not-found", "No such draft"


class RevisionCapReached(Conflict):
    slug, title = "revision-cap-reached", "The agreed number of revision rounds is used up"

    def __init__(self, cap: int, used: int) -> None:
        super().__init__(
            f"The terms allow {cap} change request(s) per deliverable and {used} were made. "
            "Options: approve the draft, amend the terms with a new offer, or open a dispute",
            revision_cap=cap,
            revisions_used=used,
            options=REVISION_OPTIONS,
        )


class ReviewWindowLapsed(Conflict):
    slug, title = "review-window-lapsed", "The review window is over: the draft is approved"

    def __init__(self, draft: Draft) -> None:
        super().__init__(
            f"The review window of draft {draft.id} ended at {rfc3339(draft.review_due_at)}; "
            "it was (or is being) approved automatically and can no longer be reviewed",
            review_due_at=rfc3339(draft.review_due_at),
            approved_automatically=True,
            current_state=str(draft.state),
        )


class VerificationWindowLapsed(Conflict):
    slug, title = (
        "verification-window-lapsed",
        "The verification window is over: the proof is confirmed",
    )

    def __init__(self, proof: Proof) -> None:
        super().__init__(
            f"The verification window of proof {proof.id} ended at "
            f"{rfc3339(proof.verification_due_at)}; it was (or is being) confirmed automatically",
            verification_due_at=rfc3339(proof.verification_due_at),
            confirmed_automatically=True,
        )


class DraftApprovalRequired(Conflict):
    slug, title = "draft-approval-required", "This deliverable needs an approved draft first"


class DraftInReview(Conflict):
    slug, title = "draft-in-review", "A draft of this deliverable is already in review"


class DisclosureFailed(InvalidRequest):
    slug, title = "disclosure-failed", "The caption does not disclose the paid partnership"

    def __init__(self, platform: str, reasons: list[str], field: str = "caption") -> None:
        super().__init__(
            f"{field}: not a proper disclosure for {platform}: " + " ".join(reasons),
            [{"field": field, "message": r, "rule": "disclosure"} for r in reasons],
        )
        self.extensions["reasons"] = reasons
        self.extensions["platform"] = platform


# --- what the callers pass to the machines ----------------------------------------------------


@dataclass(frozen=True)
class DeliverableMove:
    """`fire(params=…)` of the deliverable machine: who acted, and what they sent."""

    user_id: str | None = None
    reason_text: str | None = None  # a proof dispute's reason
    verification_due_at: datetime | None = None  # a proof's verification deadline


@dataclass(frozen=True)
class DraftReview:
    """`fire(params=…)` of the draft machine: who reviewed it, and their feedback."""

    user_id: str | None = None
    feedback: str | None = None


def _with_contract(ctx: Ctx) -> bool:
    """The deliverable moves because its whole (funded, untouched) contract was cancelled."""
    return ctx.cause is not None and ctx.cause.kind == "contract"


# --- rules --------------------------------------------------------------------------------------


def draft_required(terms: dict[str, Any], position: int) -> bool:
    policy = terms.get("approval_policy", "first")
    return policy == "all" or (policy == "first" and position == 1)


def review_window(terms: dict[str, Any]) -> timedelta:
    return timedelta(hours=terms.get("review_window_hours") or DEFAULT_REVIEW_WINDOW_HOURS)


def verification_window(terms: dict[str, Any]) -> timedelta:
    hours = terms.get("verification_window_hours") or DEFAULT_VERIFICATION_WINDOW_HOURS
    return timedelta(hours=hours)


def platform_of(deliverable: Deliverable) -> str:
    return get_deliverable_type(deliverable.type).platform


def disclosure_doc(platform: str, text: str, label: bool | None = None) -> dict[str, Any]:
    result = check_disclosure(platform, text, label)
    return {
        "passed": result.passed,
        "reasons": result.reasons,
        "marker": result.marker,
        "position": result.position,
    }


async def _contract_of(session: AsyncSession, deliverable_id: str) -> Contract:
    contract = await session.scalar(
        select(Contract)
        .join(Deliverable, Deliverable.contract_id == Contract.id)
        .where(Deliverable.id == deliverable_id)
    )
    assert contract is not None
    return contract


async def _revisions_used(session: AsyncSession, deliverable_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Draft)
            .where(
                Draft.deliverable_id == deliverable_id,
                Draft.state == DraftState.changes_requested,
            )
        )
        or 0
    )


async def _latest_proof(session: AsyncSession, deliverable_id: str) -> Proof | None:
    proof: Proof | None = await session.scalar(
        select(Proof)
        .where(Proof.deliverable_id == deliverable_id)
        .order_by(Proof.version_no.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return proof


async def _set_audit_reason(ctx: TransitionContext[Any], reason: str) -> None:
    record = await ctx.session.get(StateTransition, ctx.transition_id)
    if record is not None and record.reason is None:
        record.reason = reason


# --- guards ---------------------------------------------------------------------------------


async def contract_working(ctx: Ctx) -> bool | str:
    """the contract is funded and running"""
    contract_id = getattr(ctx.obj, "contract_id", None)
    state = await ctx.session.scalar(select(Contract.state).where(Contract.id == contract_id))
    if state not in WORKING_STATES:
        return f"the contract is {state}: its deliverables cannot move"
    return True


async def draft_is_required(ctx: Ctx) -> bool | str:
    """this deliverable's approval policy asks for a draft"""
    working = await contract_working(ctx)
    if working is not True:
        return working
    contract = await _contract_of(ctx.session, ctx.obj.id)
    return draft_required(contract.terms, ctx.obj.position) or (
        "the approval policy does not ask for a draft of this deliverable"
    )


async def draft_is_voluntary(ctx: Ctx) -> bool | str:
    """this deliverable's approval policy does not ask for a draft"""
    working = await contract_working(ctx)
    if working is not True:
        return working
    contract = await _contract_of(ctx.session, ctx.obj.id)
    return not draft_required(contract.terms, ctx.obj.position) or (
        "the approval policy asks for a draft of this deliverable"
    )


async def proof_allowed(ctx: Ctx) -> bool | str:
    """the draft the policy asks for is approved"""
    working = await contract_working(ctx)
    if working is not True:
        return working
    if ctx.from_state == D.pending.value:
        contract = await _contract_of(ctx.session, ctx.obj.id)
        if draft_required(contract.terms, ctx.obj.position):
            raise DraftApprovalRequired(
                f"The approval policy ({contract.terms.get('approval_policy')}) asks for an "
                f"approved draft of deliverable {ctx.obj.id} before its proof: submit a draft "
                "(POST /v1/deliverables/{id}/drafts)",
                approval_policy=contract.terms.get("approval_policy"),
            )
    return True


async def confirm_allowed(ctx: Ctx) -> bool | str:
    """the verification window allows it"""
    working = await contract_working(ctx)
    if working is not True:
        return working
    proof = await _latest_proof(ctx.session, ctx.obj.id)
    if proof is None:
        return "there is no proof to confirm"
    if ctx.actor.kind == "system":
        return ctx.now >= proof.verification_due_at or "the verification window is still open"
    if ctx.now >= proof.verification_due_at:
        raise VerificationWindowLapsed(proof)
    return True


async def may_cancel(ctx: Ctx) -> bool | str:
    """this party may cancel this deliverable now"""
    if _with_contract(ctx):
        return True
    if ctx.actor.kind == "system":
        return "the system cancels deliverables only with their contract"
    state = await ctx.session.scalar(
        select(Contract.state).where(Contract.id == ctx.obj.contract_id)
    )
    if state != "active":
        return f"the contract is {state}: deliverables can be cancelled only while it is active"
    drafts = await ctx.session.scalar(
        select(func.count()).select_from(Draft).where(Draft.deliverable_id == ctx.obj.id)
    )
    untouched = ctx.from_state == D.pending.value and not drafts
    if untouched:
        return True
    if ctx.actor.kind == "brand" and ctx.obj.late:
        return True
    if ctx.actor.kind == "brand":
        return (
            "work has started on this deliverable and it is not late: only a late deliverable "
            "(or one nothing was submitted for) can be cancelled; open a dispute otherwise"
        )
    return (
        "work has started on this deliverable: ask the brand, propose an extension, or open "
        "a dispute"
    )


async def _late_due(ctx: Ctx) -> bool | str:
    """the deliverable's due date has passed"""
    if ctx.obj.late:
        return "the deliverable is already flagged late"
    if ctx.now < late_at(ctx.obj.due_date):
        return "the deliverable is not due yet"
    return await contract_working(ctx)


# --- effects --------------------------------------------------------------------------------


async def _withdraw_open_drafts(ctx: Ctx) -> None:
    rows = await ctx.session.scalars(
        select(Draft).where(Draft.deliverable_id == ctx.obj.id, Draft.state == DraftState.in_review)
    )
    for draft in list(rows):
        await DRAFTS.fire(
            ctx.session,
            draft,
            "withdraw",
            Actor("system", ctx.transition_id),
            ctx.now,
            reason=f"deliverable {ctx.obj.id} moved on ({ctx.action})",
        )


async def _open_extensions(ctx: Ctx) -> list[str]:
    return list(
        await ctx.session.scalars(
            select(DeadlineExtension.id).where(
                DeadlineExtension.deliverable_id == ctx.obj.id,
                DeadlineExtension.state == ExtensionState.proposed,
            )
        )
    )


def _moved_on(ctx: Ctx) -> str:
    return f"deliverable {ctx.obj.id} moved on ({ctx.action})"


# An open extension proposal ends when its deliverable is published or cancelled.
_cancel_open_extensions = cascade(
    "extension", "cancel", ids_from=_open_extensions, reason=_moved_on
)


async def _after_cancel(ctx: Ctx) -> None:
    if _with_contract(ctx):
        return  # the contract's own refund covers the money
    contract = await lock_contract(ctx.session, ctx.obj.contract_id)
    system = Actor("system", ctx.transition_id)
    await refund_pending(
        ctx.session,
        await milestone_ids_of(ctx.session, ctx.obj.id),
        system,
        ctx.now,
        reason=f"deliverable {ctx.obj.id} was cancelled",
    )
    await evaluate_contract(ctx.session, contract.id, system, ctx.now)


async def _after_confirm(ctx: Ctx) -> None:
    proof = await _latest_proof(ctx.session, ctx.obj.id)
    automatic = ctx.actor.kind == "system"
    if proof is not None:
        proof.state = ProofState.confirmed
        proof.decided_at = ctx.now
        proof.decided_by = ctx.params_as(DeliverableMove).user_id
        proof.confirmed_automatically = automatic
        if automatic:
            await _set_audit_reason(
                ctx,
                f"the verification window ended at {rfc3339(proof.verification_due_at)}: "
                "confirmed automatically",
            )
    # Lock order everywhere: deliverable (the transition's UPDATE) → contract → milestones.
    contract = await lock_contract(ctx.session, ctx.obj.contract_id)
    system = Actor("system", ctx.transition_id)
    await release_met(
        ctx.session,
        await milestone_ids_of(ctx.session, ctx.obj.id),
        system,
        ctx.now,
        contract.state,
    )
    await evaluate_contract(ctx.session, contract.id, system, ctx.now)


async def _after_proof_dispute(ctx: Ctx) -> None:
    proof = await _latest_proof(ctx.session, ctx.obj.id)
    if proof is not None:
        proof.state = ProofState.disputed
        proof.decided_at = ctx.now
        move = ctx.params_as(DeliverableMove)
        proof.decided_by = move.user_id
        proof.dispute_reason = move.reason_text


async def _flagged_late(ctx: Ctx) -> None:
    ctx.obj.late = True
    ctx.obj.late_since = ctx.now
    await _set_audit_reason(ctx, f"due {ctx.obj.due_date.isoformat()}; not published by then")


def _verification_due(ctx: Ctx) -> datetime:
    due = ctx.params_as(DeliverableMove).verification_due_at
    assert due is not None, "submit_proof needs its verification_due_at"
    return due


DELIVERABLE_TRANSITIONS: list[Transition] = [
    Transition(
        "submit_draft",
        {D.pending, D.changes_requested},
        D.in_review,
        actors={"influencer"},
        guard=draft_is_required,
        description="The influencer submits the draft the approval policy asks for",
    ),
    Transition(
        "submit_voluntary_draft",
        {D.pending},
        D.pending,
        actors={"influencer"},
        guard=draft_is_voluntary,
        description="A draft the policy does not ask for: reviewed, never blocking",
    ),
    Transition(
        "approve",
        {D.in_review},
        D.approved,
        actors={"brand", "system"},
        description="Its draft was approved (by the brand, or when the review window lapsed)",
    ),
    Transition(
        "request_changes",
        {D.in_review},
        D.changes_requested,
        actors={"brand"},
        description="The brand asked for changes to its draft",
    ),
    Transition(
        "submit_proof",
        {D.pending, D.approved, D.proof_disputed},
        D.published,
        actors={"influencer"},
        guard=proof_allowed,
        effects=[
            cancel_timer("flag_late"),
            set_columns(published_at=lambda c: c.now),
            schedule_timer("confirm", _verification_due),
            _withdraw_open_drafts,
            _cancel_open_extensions,
        ],
        description="The influencer published it and submits the proof",
    ),
    Transition(
        "confirm",
        {D.published},
        D.confirmed,
        actors={"brand", "system"},
        guard=confirm_allowed,
        effects=[
            cancel_timer("confirm"),
            set_columns(confirmed_at=lambda c: c.now),
            _after_confirm,
        ],
        description="The brand accepts the proof, or its verification window lapses",
    ),
    Transition(
        "dispute_proof",
        {D.published},
        D.proof_disputed,
        actors={"brand"},
        guard=confirm_allowed,
        effects=[cancel_timer("confirm"), _after_proof_dispute],
        description="The brand disputes the proof; the influencer may submit another",
    ),
    Transition(
        "cancel",
        set(OPEN_WORK),
        D.cancelled,
        actors={"brand", "influencer", "system"},
        guard=may_cancel,
        effects=[
            cancel_timer(),
            set_columns(cancelled_at=lambda c: c.now),
            _withdraw_open_drafts,
            _cancel_open_extensions,
            _after_cancel,
        ],
        description="Called off: its milestones' money becomes refundable",
    ),
    *(
        Transition(
            "flag_late",
            {state},
            state,
            actors={"system"},
            guard=_late_due,
            effects=[_flagged_late],
            description="Its due date passed before it was published",
        )
        for state in OPEN_WORK
    ),
]
DELIVERABLES = StateMachine(
    "deliverable", Deliverable, DELIVERABLE_TRANSITIONS, lock_parent=(Contract, "contract_id")
)


# --- the draft machine --------------------------------------------------------------------------


async def _draft_working(ctx: DraftCtx) -> bool | str:
    state = await ctx.session.scalar(
        select(Contract.state).where(Contract.id == ctx.obj.contract_id)
    )
    if state not in WORKING_STATES:
        return f"the contract is {state}: its drafts cannot be reviewed"
    return True


async def review_allowed(ctx: DraftCtx) -> bool | str:
    """the review window allows it"""
    working = await _draft_working(ctx)
    if working is not True:
        return working
    draft: Draft = ctx.obj
    if ctx.actor.kind == "system":
        return ctx.now >= draft.review_due_at or "the review window is still open"
    if ctx.now >= draft.review_due_at:
        raise ReviewWindowLapsed(draft)
    contract = await _contract_of(ctx.session, draft.deliverable_id)
    if ctx.action == "approve":
        if contract.terms.get("disclosure_required") and not draft.disclosure.get("passed"):
            deliverable = await ctx.session.get(Deliverable, draft.deliverable_id)
            assert deliverable is not None
            raise DisclosureFailed(platform_of(deliverable), list(draft.disclosure["reasons"]))
    else:
        cap = int(contract.terms.get("revision_cap", 0))
        used = await _revisions_used(ctx.session, draft.deliverable_id)
        if used >= cap:
            raise RevisionCapReached(cap, used)
    return True


async def _record_review(ctx: DraftCtx) -> None:
    draft: Draft = ctx.obj
    automatic = ctx.actor.kind == "system"
    draft.reviewed_at = ctx.now
    review = ctx.params_as(DraftReview)
    draft.reviewed_by = review.user_id
    draft.feedback = review.feedback
    reason = None
    if automatic:
        draft.approved_automatically = True
        reason = (
            f"the review window ended at {rfc3339(draft.review_due_at)}: approved automatically"
        )
        await _set_audit_reason(ctx, reason)
    if draft.required:
        deliverable = await ctx.session.get(Deliverable, draft.deliverable_id)
        assert deliverable is not None  # a draft's deliverable is never deleted
        await DELIVERABLES.fire(
            ctx.session,
            deliverable,
            ctx.action,
            ctx.actor,
            ctx.now,
            reason=reason or draft.feedback,
            data={"draft_id": draft.id},
        )


DRAFT_TRANSITIONS: list[Transition] = [
    Transition(
        "approve",
        {DraftState.in_review},
        DraftState.approved,
        actors={"brand", "system"},
        guard=review_allowed,
        effects=[cancel_timer("approve"), _record_review],
        description="The brand approves within the window, or the window lapses",
    ),
    Transition(
        "request_changes",
        {DraftState.in_review},
        DraftState.changes_requested,
        actors={"brand"},
        guard=review_allowed,
        effects=[cancel_timer("approve"), _record_review],
        description="The brand asks for changes within the window, under the revision cap",
    ),
    Transition(
        "withdraw",
        {DraftState.in_review},
        DraftState.withdrawn,
        actors={"system"},
        effects=[cancel_timer()],
        description="The deliverable was published or cancelled while the draft was in review",
    ),
]
DRAFTS = StateMachine("draft", Draft, DRAFT_TRANSITIONS, lock_parent=(Contract, "contract_id"))


# --- loading (tenancy) --------------------------------------------------------------------------


@dataclass
class Loaded:
    deliverable: Deliverable
    contract: Contract
    party: Party


async def load_deliverable(
    session: AsyncSession, user_id: str, deliverable_id: str, *, lock: bool = False
) -> Loaded:
    """A deliverable of a contract the user is a party to (404 otherwise).

    `lock=True` is for writes. Every write on a contract's deliverables takes the row locks in
    one order — the contract first, then the deliverable — so two writers on sibling
    deliverables (say, two confirmations that together meet a milestone) queue on the contract
    instead of deadlocking on PostgreSQL.
    """
    stmt = (
        select(Deliverable, Contract)
        .join(Contract, Contract.id == Deliverable.contract_id)
        .where(Deliverable.id == deliverable_id, party_filter(Contract, user_id))
        .execution_options(populate_existing=True)
    )
    if lock:
        contract_id = select(Deliverable.contract_id).where(Deliverable.id == deliverable_id)
        await session.execute(
            select(Contract.id)
            .where(Contract.id == contract_id.scalar_subquery())
            .with_for_update()
        )
        stmt = stmt.with_for_update(of=Deliverable)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise DeliverableNotFound(f"No deliverable {deliverable_id} that you are a party to")
    deliverable, contract = row
    party = await party_of(session, user_id, contract.brand_id, contract.influencer_id)
    return Loaded(deliverable, contract, party)


async def load_draft(
    session: AsyncSession, user_id: str, draft_id: str, *, lock: bool = False
) -> tuple[Draft, Loaded]:
    draft = await session.scalar(
        select(Draft)
        .join(Contract, Contract.id == Draft.contract_id)
        .where(Draft.id == draft_id, party_filter(Contract, user_id))
        .execution_options(populate_existing=True)
    )
    if draft is None:
        raise DraftNotFound(f"No draft {draft_id} that you are a party to")
    return draft, await load_deliverable(session, user_id, draft.deliverable_id, lock=lock)


async def list_deliverables(
    session: AsyncSession, user_id: str, contract_id: str, page: PageParams
) -> tuple[list[Deliverable], Contract, Party, str | None]:
    contract = await session.scalar(
        select(Contract).where(Contract.id == contract_id, party_filter(Contract, user_id))
    )
    if contract is None:
        raise ContractNotFound(f"No contract {contract_id} that you are a party to")
    party = await party_of(session, user_id, contract.brand_id, contract.influencer_id)
    rows, cursor = await paginate(
        session,
        select(Deliverable)
        .where(Deliverable.contract_id == contract_id)
        .execution_options(populate_existing=True),
        [SortKey(Deliverable.position), SortKey(Deliverable.id)],
        page,
    )
    return rows, contract, party, cursor


# --- views --------------------------------------------------------------------------------------


@dataclass
class DeliverableView:
    deliverable: Deliverable
    contract: Contract
    side: str
    draft_required: bool
    revisions_used: int
    latest_draft: Draft | None
    proof: Proof | None
    open_extension: DeadlineExtension | None
    milestone_ids: list[str]
    allowed_actions: list[str]


def allowed_actions(contract: Contract, deliverable: Deliverable, side: str) -> list[str]:
    """What the caller's side may do to the deliverable now (guards beyond the policy and the
    contract's state are not evaluated)."""
    if contract.state not in WORKING_STATES:
        return []
    required = draft_required(contract.terms, deliverable.position)
    actions = set(DELIVERABLES.allowed_actions(deliverable.state, side))
    actions -= {"approve", "request_changes", "flag_late"}  # a draft's, or the timer's
    if "submit_voluntary_draft" in actions:
        actions.discard("submit_voluntary_draft")
        if not required:
            actions.add("submit_draft")
    elif "submit_draft" in actions and not required:
        actions.discard("submit_draft")
    if deliverable.state == D.pending.value and required:
        actions.discard("submit_proof")
    if contract.state != "active":
        actions.discard("cancel")
    return sorted(actions)


async def views(
    session: AsyncSession, contract: Contract, side: str, rows: Sequence[Deliverable]
) -> list[DeliverableView]:
    ids = [d.id for d in rows]
    drafts: dict[str, list[Draft]] = defaultdict(list)
    proofs: dict[str, Proof] = {}
    extensions: dict[str, DeadlineExtension] = {}
    links: dict[str, list[str]] = defaultdict(list)
    if ids:
        for draft in await session.scalars(
            select(Draft).where(Draft.deliverable_id.in_(ids)).order_by(Draft.version_no)
        ):
            drafts[draft.deliverable_id].append(draft)
        for proof in await session.scalars(
            select(Proof).where(Proof.deliverable_id.in_(ids)).order_by(Proof.version_no)
        ):
            proofs[proof.deliverable_id] = proof
        for extension in await session.scalars(
            select(DeadlineExtension).where(
                DeadlineExtension.deliverable_id.in_(ids),
                DeadlineExtension.state == ExtensionState.proposed,
            )
        ):
            extensions[extension.deliverable_id] = extension
        for milestone_id, deliverable_id in (
            await session.execute(
                select(MilestoneDeliverable.milestone_id, MilestoneDeliverable.deliverable_id)
                .where(MilestoneDeliverable.deliverable_id.in_(ids))
                .order_by(MilestoneDeliverable.milestone_id)
            )
        ).all():
            links[deliverable_id].append(milestone_id)
    return [
        DeliverableView(
            deliverable=d,
            contract=contract,
            side=side,
            draft_required=draft_required(contract.terms, d.position),
            revisions_used=sum(1 for x in drafts[d.id] if x.state == DraftState.changes_requested),
            latest_draft=drafts[d.id][-1] if drafts[d.id] else None,
            proof=proofs.get(d.id),
            open_extension=extensions.get(d.id),
            milestone_ids=links[d.id],
            allowed_actions=allowed_actions(contract, d, side),
        )
        for d in rows
    ]


async def view(session: AsyncSession, loaded: Loaded) -> DeliverableView:
    deliverable = await session.get(Deliverable, loaded.deliverable.id, populate_existing=True)
    contract = await session.get(Contract, loaded.contract.id, populate_existing=True)
    assert deliverable is not None and contract is not None
    (one,) = await views(session, contract, loaded.party.side.value, [deliverable])
    return one


# --- drafts -------------------------------------------------------------------------------------


async def submit_draft(
    session: AsyncSession,
    user_id: str,
    deliverable_id: str,
    now: datetime,
    *,
    caption: str,
    media_urls: list[str],
    notes: str,
) -> Draft:
    loaded = await load_deliverable(session, user_id, deliverable_id, lock=True)
    deliverable, contract = loaded.deliverable, loaded.contract
    required = draft_required(contract.terms, deliverable.position)
    draft_id = new_id("draft")
    # The transition's compare-and-set takes the deliverable's row lock first, so the version
    # number and the one-draft-in-review check below see every committed draft.
    await DELIVERABLES.fire(
        session,
        deliverable,
        "submit_draft" if required else "submit_voluntary_draft",
        loaded.party.actor,
        now,
        data={"draft_id": draft_id, "user_id": user_id},
    )
    if not required:
        in_review = await session.scalar(
            select(Draft.id).where(
                Draft.deliverable_id == deliverable.id, Draft.state == DraftState.in_review
            )
        )
        if in_review is not None:
            raise DraftInReview(
                f"Draft {in_review} of this deliverable is still in review; wait for the "
                "brand's answer (or its review window) before sending another",
                draft_id=in_review,
            )
    version = (
        await session.scalar(
            select(func.max(Draft.version_no)).where(Draft.deliverable_id == deliverable.id)
        )
        or 0
    ) + 1
    draft = Draft(
        id=draft_id,
        deliverable_id=deliverable.id,
        contract_id=contract.id,
        version_no=version,
        required=required,
        caption=caption,
        media_urls=list(media_urls),
        notes=notes,
        state=DraftState.in_review,
        submitted_by=user_id,
        submitted_at=now,
        review_due_at=now + review_window(contract.terms),
        approved_automatically=False,
        disclosure=disclosure_doc(platform_of(deliverable), caption),
        created_at=now,
    )
    session.add(draft)
    await session.flush()
    await timers.schedule(session, DRAFTS.kind, draft.id, "approve", draft.review_due_at, now=now)
    return draft


async def list_drafts(
    session: AsyncSession, user_id: str, deliverable_id: str, page: PageParams
) -> tuple[list[Draft], str | None]:
    loaded = await load_deliverable(session, user_id, deliverable_id)
    return await paginate(
        session,
        select(Draft).where(Draft.deliverable_id == loaded.deliverable.id),
        [SortKey(Draft.version_no, descending=True), SortKey(Draft.id, descending=True)],
        page,
    )


async def review_draft(
    session: AsyncSession,
    user_id: str,
    draft_id: str,
    action: str,
    now: datetime,
    feedback: str | None,
) -> Draft:
    """`approve` or `request_changes`, by the brand, inside the review window."""
    draft, loaded = await load_draft(session, user_id, draft_id, lock=True)
    if draft.approved_automatically or (
        draft.state == DraftState.in_review and now >= draft.review_due_at
    ):
        raise ReviewWindowLapsed(draft)
    await DRAFTS.fire(
        session,
        draft,
        action,
        loaded.party.actor,
        now,
        reason=feedback,
        data={"user_id": user_id},
        params=DraftReview(user_id=user_id, feedback=feedback),
    )
    return draft


# --- proof --------------------------------------------------------------------------------------

# A proof's `published_at` lies between the contract's funding (the deal went live: an earlier
# post was not made for it; the brief's publishing window is a term for the brand's review, not a
# bound on evidence) and now, each widened by this much for clock skew between platform and us.
PUBLISHED_AT_SKEW = timedelta(minutes=5)


async def submit_proof(
    session: AsyncSession,
    user_id: str,
    deliverable_id: str,
    now: datetime,
    *,
    url: str,
    published_at: datetime,
    platform_post_id: str,
    caption: str,
    paid_partnership_label: bool | None,
) -> Loaded:
    loaded = await load_deliverable(session, user_id, deliverable_id, lock=True)
    deliverable, contract = loaded.deliverable, loaded.contract
    if published_at > now + PUBLISHED_AT_SKEW:
        raise InvalidRequest.field(
            "published_at", f"is in the future (now is {rfc3339(now)})", "in_future"
        )
    live_since = contract.funded_at or contract.accepted_at
    if published_at < live_since - PUBLISHED_AT_SKEW:
        raise InvalidRequest.field(
            "published_at",
            f"is before the contract was funded ({rfc3339(live_since)}): a post made earlier "
            "was not made for this contract",
            "before_funding",
        )
    platform = platform_of(deliverable)
    disclosure = disclosure_doc(platform, caption, paid_partnership_label)
    if contract.terms.get("disclosure_required") and not disclosure["passed"]:
        raise DisclosureFailed(platform, disclosure["reasons"])
    verification_due_at = now + verification_window(contract.terms)
    proof_id = new_id("proof")
    await DELIVERABLES.fire(
        session,
        deliverable,
        "submit_proof",
        loaded.party.actor,
        now,
        data={"proof_id": proof_id, "user_id": user_id, "url": url},
        params=DeliverableMove(user_id=user_id, verification_due_at=verification_due_at),
    )
    version = (
        await session.scalar(
            select(func.max(Proof.version_no)).where(Proof.deliverable_id == deliverable.id)
        )
        or 0
    ) + 1
    session.add(
        Proof(
            id=proof_id,
            deliverable_id=deliverable.id,
            contract_id=contract.id,
            version_no=version,
            url=url,
            published_at=published_at,
            platform_post_id=platform_post_id,
            caption=caption,
            paid_partnership_label=paid_partnership_label,
            disclosure=disclosure,
            state=ProofState.submitted,
            submitted_by=user_id,
            submitted_at=now,
            verification_due_at=verification_due_at,
            confirmed_automatically=False,
            created_at=now,
        )
    )
    await session.flush()
    return loaded


async def decide_proof(
    session: AsyncSession,
    user_id: str,
    deliverable_id: str,
    action: str,
    now: datetime,
    reason: str | None,
) -> Loaded:
    """`confirm` or `dispute_proof`, by the brand, inside the verification window."""
    loaded = await load_deliverable(session, user_id, deliverable_id, lock=True)
    deliverable = loaded.deliverable
    proof = await _latest_proof(session, deliverable.id)
    if proof is not None and (
        proof.confirmed_automatically
        or (deliverable.state == D.published.value and now >= proof.verification_due_at)
    ):
        raise VerificationWindowLapsed(proof)
    await DELIVERABLES.fire(
        session,
        deliverable,
        action,
        loaded.party.actor,
        now,
        reason=reason,
        data={"user_id": user_id, "proof_id": proof.id if proof else None},
        params=DeliverableMove(user_id=user_id, reason_text=reason),
    )
    return loaded


# --- cancellation -------------------------------------------------------------------------------


async def cancel_deliverable(
    session: AsyncSession, user_id: str, deliverable_id: str, now: datetime, reason: str | None
) -> Loaded:
    loaded = await load_deliverable(session, user_id, deliverable_id, lock=True)
    # Drafts first, then the deliverable: the order an automatic approval takes them in.
    await session.execute(
        select(Draft.id)
        .where(Draft.deliverable_id == deliverable_id, Draft.state == DraftState.in_review)
        .with_for_update()
    )
    await DELIVERABLES.fire(
        session,
        loaded.deliverable,
        "cancel",
        loaded.party.actor,
        now,
        reason=reason,
        data={"user_id": user_id},
    )
    return loaded


async def rearm_late_timer(session: AsyncSession, deliverable: Deliverable, now: datetime) -> None:
    """The deliverable's due date moved: re-arm its late timer, and un-flag it when the new
    date is not over yet."""
    due = late_at(deliverable.due_date)
    if deliverable.late and due > now:
        deliverable.late = False
        deliverable.late_since = None
    await timers.schedule(session, DELIVERABLES.kind, deliverable.id, "flag_late", due, now=now)
