"""Briefs: creation, editing, the lifecycle, and who may see them.

**Lifecycle** — one declared table, `TRANSITIONS` (state, action) → state:

| from   | action   | to        | checks                                                  |
|--------|----------|-----------|---------------------------------------------------------|
| draft  | open     | open      | the whole brief is valid today (no deadline has passed)  |
| open   | close    | closed    | —                                                       |
| closed | complete | completed | —                                                       |
| draft, open, closed | cancel | cancelled | —                                            |

Any other (state, action) is `InvalidTransition` (409, naming the current state and the actions
allowed in it). A move is a compare-and-set — `UPDATE briefs SET state=:to, version=version+1
WHERE id=:id AND state=:from` — so of two concurrent callers exactly one wins; the loser gets
`InvalidTransition` with the state it lost to.

**Who** — only members of the brief's brand (any role) create, edit and move a brief. Everyone
with the catalogue scope reads a brief once it has left draft, if it is public. Drafts and
invite-only briefs are 404 to everyone outside the brand but the influencers it invited
(`readable_by`, `invited_brief_ids`; invitations are services/negotiation/bids.py's). After every
transition and edit, `CHANGE_HOOKS` run in the same transaction (bids expire with the brief).

**Editing** — `EDITABLE`: a draft changes anything but its brand; an open brief only its
`description`, `must_haves` and `kpis` (clarifications), and its `application_deadline` only to
a later date — what applicants bid on (deliverables, budget, audience, dates of the work, whether
every platform is required: `platform_coverage`) is frozen once it is open; closed, completed and
cancelled briefs do not change. Every write bumps `version` (SQLAlchemy's version counter), so an
edit racing a transition fails with 409 instead of changing a brief that is no longer a draft.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    and_,
    bindparam,
    exists,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.db import rowcount
from app.errors import Conflict, InvalidRequest, InvalidTransition, NotFound
from app.models import (
    Brand,
    Brief,
    BriefCountry,
    BriefDeliverableType,
    BriefInvitation,
    BriefPlatform,
    BriefState,
    BriefTopic,
    Influencer,
    PlatformCoverage,
    Visibility,
)
from app.pagination import PageParams, SortKey, paginate
from app.services.catalogue import rates
from app.services.catalogue.deliverable_types import get_deliverable_type
from app.services.catalogue.search_columns import as_date, like_pattern, reindex_brief, search_terms
from app.services.identity.brands import BrandNotFound
from app.services.identity.tenancy import member_brands

S = BriefState
TRANSITIONS: dict[tuple[BriefState, str], BriefState] = {
    (S.draft, "open"): S.open,
    (S.open, "close"): S.closed,
    (S.closed, "complete"): S.completed,
    (S.draft, "cancel"): S.cancelled,
    (S.open, "cancel"): S.cancelled,
    (S.closed, "cancel"): S.cancelled,
}
ACTIONS: tuple[str, ...] = tuple(dict.fromkeys(action for _, action in TRANSITIONS))

DOCUMENT_FIELDS: tuple[str, ...] = (
    "title",
    "objective",
    "description",
    "must_haves",
    "category",
    "target_audience",
    "topics",
    "platforms",
    "deliverables",
    "budget",
    "timeline",
    "terms_defaults",
    "kpis",
    "visibility",
    "match_weights",
    "platform_coverage",
)
EDITABLE: dict[BriefState, frozenset[str]] = {
    S.draft: frozenset(DOCUMENT_FIELDS),
    # Clarifications, and how the brand ranks applicants: nothing an applicant relied on.
    S.open: frozenset({"description", "must_haves", "kpis", "timeline", "match_weights"}),
}
TIMELINE_ORDER: tuple[str, ...] = (
    "application_deadline",
    "content_due",
    "publish_start",
    "publish_end",
)


# Other aggregates follow a brief's changes in the same transaction: `await hook(session, brief,
# now)` runs after every transition and every edit. app/services/wiring.py installs them (the
# negotiation's: bids expire when the brief leaves `open`, their deadline timers move with it).
BriefHook = Callable[[AsyncSession, Brief, datetime], Awaitable[None]]
CHANGE_HOOKS: list[BriefHook] = []


async def _changed(session: AsyncSession, brief: Brief, now: datetime) -> None:
    for hook in CHANGE_HOOKS:
        await hook(session, brief, now)


class BriefNotFound(NotFound):
    slug, title = "brief-not-found", "No such brief"


class BriefNotEditable(Conflict):
    slug, title = "brief-not-editable", "This part of the brief cannot change in its state"


class BriefChanged(Conflict):
    slug, title = "brief-changed", "The brief changed while you edited it"


def allowed_actions(state: BriefState) -> list[str]:
    return [action for (source, action) in TRANSITIONS if source == state]


# --- validation ---------------------------------------------------------------------------------


def check_brief(doc: Mapping[str, Any], today: date) -> None:
    """The rules between fields and against the clock; `doc` is JSON-shaped and already passed
    the schema. Raises one `InvalidRequest` naming every broken rule."""
    errors: list[dict[str, str]] = []

    def fail(field: str, message: str, rule: str) -> None:
        errors.append({"field": field, "message": message, "rule": rule})

    budget = doc["budget"]
    if budget["per_influencer_min"] > budget["per_influencer_max"]:
        fail("budget.per_influencer_min", "must not be above per_influencer_max", "min_above_max")
    if budget["per_influencer_max"] > budget["total"]:
        fail("budget.per_influencer_max", "must not be above the total", "above_total")

    timeline = {key: as_date(doc["timeline"][key]) for key in TIMELINE_ORDER}
    if timeline["application_deadline"] < today:
        fail("timeline.application_deadline", f"is in the past (today is {today})", "in_past")
    for earlier, later in pairwise(TIMELINE_ORDER):
        if timeline[later] < timeline[earlier]:
            fail(f"timeline.{later}", f"must not be before {earlier}", "out_of_order")

    platforms = set(doc["platforms"])
    seen: set[str] = set()
    for i, deliverable in enumerate(doc["deliverables"]):
        kind = get_deliverable_type(deliverable["type"])
        if kind.platform not in platforms:
            fail(
                f"deliverables.{i}.type",
                f"{kind.name} is a {kind.platform} deliverable; {kind.platform} is not among "
                "the brief's platforms",
                "platform_not_in_brief",
            )
        if kind.name in seen:
            fail(f"deliverables.{i}.type", f"{kind.name} is listed twice", "unique_items")
        seen.add(kind.name)
    if errors:
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise InvalidRequest(summary, errors)


# --- shape ----------------------------------------------------------------------------------------


# A brief as the API's reads load it: the table's row (`read_brief`, `search_briefs`), without an
# ORM entity — loading one cost more CPU than the row's SQL (benchmarks/api/README.md); writes
# load `Brief`. Both have every column as an attribute.
BriefRow = Row[Any]


def document(brief: Brief | BriefRow) -> dict[str, Any]:
    """The brief in the API's shape (docs/design/catalogue-shapes.md), JSON-ready."""
    return {
        "id": brief.id,
        "brand_id": brief.brand_id,
        "state": BriefState(brief.state).value,
        "title": brief.title,
        "objective": brief.objective,
        "description": brief.description,
        "must_haves": brief.must_haves,
        "category": brief.category,
        "target_audience": brief.target_audience,
        "topics": brief.topics,
        "platforms": brief.platforms,
        "deliverables": brief.deliverables,
        "budget": {
            "currency": brief.currency,
            "total": brief.budget_total,
            "per_influencer_min": brief.per_influencer_min,
            "per_influencer_max": brief.per_influencer_max,
        },
        "timeline": {key: getattr(brief, key).isoformat() for key in TIMELINE_ORDER},
        "terms_defaults": brief.terms_defaults,
        "kpis": brief.kpis,
        "visibility": Visibility(brief.visibility).value,
        "match_weights": brief.match_weights,
        "platform_coverage": PlatformCoverage(brief.platform_coverage).value,
    }


def budget_warning(brief: Brief | BriefRow) -> str | None:
    """The fair-rate guidance's warning when the per-influencer budget is below its range."""
    try:
        return rates.brief_budget_warning(
            [(d["type"], d["count"]) for d in brief.deliverables],
            brief.per_influencer_max,
            brief.currency,
        )
    except ValueError:  # a catalogue entry retired since the brief was written: no guidance
        return None


def _apply(brief: Brief, doc: Mapping[str, Any]) -> None:
    """Write a JSON-shaped document's fields onto the row's columns."""
    for field in DOCUMENT_FIELDS:
        if field in ("budget", "timeline"):
            continue
        setattr(brief, field, doc[field])
    brief.visibility = Visibility(doc["visibility"])
    brief.platform_coverage = PlatformCoverage(doc["platform_coverage"])
    budget = doc["budget"]
    brief.currency = budget["currency"]
    brief.budget_total = budget["total"]
    brief.per_influencer_min = budget["per_influencer_min"]
    brief.per_influencer_max = budget["per_influencer_max"]
    for key in TIMELINE_ORDER:
        setattr(brief, key, as_date(doc["timeline"][key]))


# --- who sees what --------------------------------------------------------------------------------


def invited_brief_ids(user_id: str) -> Select[str] | None:
    """The ids of the briefs the user's influencer listing was invited to (negotiation/bids.py
    `invite`); `readable_by` / `catalogue_filter` show those briefs to the invitee."""
    return (
        select(BriefInvitation.brief_id)
        .join(Influencer, Influencer.id == BriefInvitation.influencer_id)
        .where(Influencer.user_id == user_id)
    )


def readable_by(user_id: str) -> ColumnElement[bool]:
    """Briefs a user may read: their brands' briefs in any state; others' once out of draft,
    when public (or invite-only and the user was invited)."""
    clauses = [
        Brief.brand_id.in_(member_brands(user_id)),
        and_(Brief.state != S.draft, Brief.visibility == Visibility.public),
    ]
    invited = invited_brief_ids(user_id)
    if invited is not None:
        clauses.append(and_(Brief.state != S.draft, Brief.id.in_(invited)))
    return or_(*clauses)


def catalogue_filter(user_id: str) -> ColumnElement[bool]:
    """What `GET /v1/briefs` lists: open public briefs (and open briefs the user was
    invited to) plus every brief of the user's brands."""
    clauses = [
        Brief.brand_id.in_(member_brands(user_id)),
        and_(Brief.state == S.open, Brief.visibility == Visibility.public),
    ]
    invited = invited_brief_ids(user_id)
    if invited is not None:
        clauses.append(and_(Brief.state == S.open, Brief.id.in_(invited)))
    return or_(*clauses)


# The reads' statements, built once with the account as a bound parameter: building the
# visibility filter on every request cost more CPU than PostgreSQL spent running it
# (benchmarks/api/README.md). The helpers take the parameter where they take an id.
_ACCOUNT = bindparam("account_id", type_=String())
_BRIEF_ID = bindparam("brief_id", type_=String())
_READABLE_BRIEF = select(Brief).where(Brief.id == _BRIEF_ID, readable_by(cast(str, _ACCOUNT)))
# The same reads selecting the table's columns (Core rows, no ORM entity; the same SQL).
_BRIEFS = Brief.__table__
_READABLE_BRIEF_ROW = select(_BRIEFS).where(
    _BRIEFS.c.id == _BRIEF_ID, readable_by(cast(str, _ACCOUNT))
)
_CATALOGUE = select(_BRIEFS).where(catalogue_filter(cast(str, _ACCOUNT)))


async def get_brief(session: AsyncSession, user_id: str, brief_id: str) -> Brief:
    brief = await session.scalar(_READABLE_BRIEF, {"brief_id": brief_id, "account_id": user_id})
    if brief is None:
        raise BriefNotFound(f"No brief {brief_id}")
    return brief


async def read_brief(session: AsyncSession, user_id: str, brief_id: str) -> BriefRow:
    """`get_brief` for showing it: the row, not an entity (nothing can change it)."""
    values = {"brief_id": brief_id, "account_id": user_id}
    brief = (await session.execute(_READABLE_BRIEF_ROW, values)).first()
    if brief is None:
        raise BriefNotFound(f"No brief {brief_id}")
    return brief


async def _managed(session: AsyncSession, user_id: str, brief_id: str) -> Brief:
    """A brief of one of the user's brands (anyone else: 404, even when they can read it)."""
    brief = await session.scalar(
        select(Brief).where(Brief.id == brief_id, Brief.brand_id.in_(member_brands(user_id)))
    )
    if brief is None:
        raise BriefNotFound(f"No brief {brief_id} among your brands' briefs")
    return brief


# --- writes ---------------------------------------------------------------------------------------


async def create_brief(
    session: AsyncSession, user_id: str, brand_id: str, doc: Mapping[str, Any], now: datetime
) -> Brief:
    """A new draft. `doc` is JSON-shaped (`model_dump(mode="json")`) without `brand_id`."""
    mine = await session.scalar(
        select(Brand.id).where(Brand.id == brand_id, Brand.id.in_(member_brands(user_id)))
    )
    if mine is None:
        raise BrandNotFound(f"No brand {brand_id} among your brands")
    check_brief(doc, now.date())
    brief = Brief(brand_id=brand_id, created_by=user_id, state=S.draft)
    _apply(brief, doc)
    session.add(brief)
    await session.flush()
    await reindex_brief(session, brief)
    return brief


def _check_editable(brief: Brief, changes: Mapping[str, Any]) -> None:
    editable = EDITABLE.get(brief.state, frozenset())
    refused = sorted(set(changes) - editable)
    if brief.state == S.open and "timeline" in changes:
        new, old = changes["timeline"], document(brief)["timeline"]
        moved = [k for k in TIMELINE_ORDER if as_date(new[k]) != as_date(old[k])]
        if [k for k in moved if k != "application_deadline"] or as_date(
            new["application_deadline"]
        ) < as_date(old["application_deadline"]):
            refused.append("timeline")
    if refused:
        allowed = sorted(editable)
        raise BriefNotEditable(
            f"A brief that is {brief.state.value} cannot change {', '.join(refused)}"
            + (f"; it may change {', '.join(allowed)}" if allowed else ""),
            current_state=brief.state.value,
            refused_fields=refused,
            editable_fields=allowed,
        )


async def update_brief(
    session: AsyncSession, user_id: str, brief_id: str, changes: Mapping[str, Any], now: datetime
) -> Brief:
    """`changes`: only the fields sent (JSON-shaped); each replaces the stored one whole."""
    brief = await _managed(session, user_id, brief_id)
    _check_editable(brief, changes)
    merged = document(brief) | dict(changes)
    check_brief(merged, now.date())
    _apply(brief, merged)
    try:
        await session.flush()
    except StaleDataError as exc:
        raise BriefChanged("The brief changed meanwhile; read it again") from exc
    await reindex_brief(session, brief)
    await _changed(session, brief, now)
    return brief


async def transition(
    session: AsyncSession, user_id: str, brief_id: str, action: str, now: datetime
) -> Brief:
    brief = await _managed(session, user_id, brief_id)
    source = brief.state
    target = TRANSITIONS.get((source, action))
    if target is None:
        raise InvalidTransition("brief", source.value, action, allowed_actions(source))
    if target == S.open:
        check_brief(document(brief), now.date())
    won = await session.execute(
        update(Brief)
        .where(Brief.id == brief.id, Brief.state == source)
        .values(state=target, version=Brief.version + 1)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(brief)
    if rowcount(won) != 1:
        raise InvalidTransition("brief", brief.state.value, action, allowed_actions(brief.state))
    await _changed(session, brief, now)
    return brief


# --- the catalogue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BriefFilters:
    """Every filter narrows (AND); a list matches any of its values (OR)."""

    q: str | None = None
    brand_id: str | None = None
    state: Sequence[str] = ()
    objective: Sequence[str] = ()
    platform: Sequence[str] = ()
    topic: Sequence[str] = ()
    country: Sequence[str] = ()
    deliverable_type: Sequence[str] = ()
    currency: str | None = None
    budget_min: int | None = None
    budget_max: int | None = None
    deadline_after: date | str | None = None
    deadline_before: date | str | None = None
    sort: str = "-created"


BRIEF_SORTS: dict[str, list[SortKey]] = {
    "created": [SortKey(Brief.created_at), SortKey(Brief.id)],
    "-created": [SortKey(Brief.created_at, True), SortKey(Brief.id, True)],
    "deadline": [SortKey(Brief.application_deadline), SortKey(Brief.id)],
    "-deadline": [SortKey(Brief.application_deadline, True), SortKey(Brief.id, True)],
    "budget": [SortKey(Brief.budget_total), SortKey(Brief.id)],
    "-budget": [SortKey(Brief.budget_total, True), SortKey(Brief.id, True)],
}


def brief_conditions(f: BriefFilters) -> list[ColumnElement[bool]]:
    if (f.budget_min is not None or f.budget_max is not None) and f.currency is None:
        raise InvalidRequest.field(
            "currency",
            "is required with budget_min/budget_max (amounts differ by currency)",
            "required_with_budget",
        )
    if f.budget_min is not None and f.budget_max is not None and f.budget_min > f.budget_max:
        raise InvalidRequest.field("budget_min", "must not be above budget_max", "min_above_max")
    where: list[ColumnElement[bool]] = []
    for term in search_terms(f.q):
        where.append(Brief.search_text.like(like_pattern(term), escape="\\"))
    if f.brand_id:
        where.append(Brief.brand_id == f.brand_id)
    if f.state:
        where.append(Brief.state.in_(f.state))
    if f.objective:
        where.append(Brief.objective.in_(f.objective))
    for table, column, values in (
        (BriefPlatform, BriefPlatform.platform, f.platform),
        (BriefTopic, BriefTopic.topic, f.topic),
        (BriefDeliverableType, BriefDeliverableType.deliverable_type, f.deliverable_type),
    ):
        if values:
            where.append(exists().where(table.brief_id == Brief.id, column.in_(values)))
    if f.country:
        # A brief with no target countries targets every country.
        where.append(
            or_(
                exists().where(
                    BriefCountry.brief_id == Brief.id, BriefCountry.country.in_(f.country)
                ),
                not_(exists().where(BriefCountry.brief_id == Brief.id)),
            )
        )
    if f.currency is not None:
        where.append(Brief.currency == f.currency)
    # The brief's per-influencer range overlaps [budget_min, budget_max].
    if f.budget_min is not None:
        where.append(Brief.per_influencer_max >= f.budget_min)
    if f.budget_max is not None:
        where.append(Brief.per_influencer_min <= f.budget_max)
    if f.deadline_after is not None:
        where.append(Brief.application_deadline > as_date(f.deadline_after))
    if f.deadline_before is not None:
        where.append(Brief.application_deadline < as_date(f.deadline_before))
    return where


async def search_briefs(
    session: AsyncSession, user_id: str, filters: BriefFilters, page: PageParams
) -> tuple[list[BriefRow], str | None]:
    conditions = brief_conditions(filters)
    stmt = _CATALOGUE.where(*conditions) if conditions else _CATALOGUE
    return await paginate(
        session,
        stmt,
        BRIEF_SORTS[filters.sort],
        page,
        values={"account_id": user_id},
        entities=False,
    )
