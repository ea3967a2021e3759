"""A creator's performance history, and the matching's relationship component
(docs/relationships.md has each figure's definition and who sees what).

The history counts finished contracts (`completed`, or `resolved` by an operator), per pair of
brand and creator, so one pass gives both a brand's own history with a creator and the
creator's record with all brands (the sum of its pairs):

- on time: published deliverables whose publication date (UTC) is on or before their due date
  (an agreed extension moves the due date), over published deliverables;
- revision rounds: change requests on the contracts' drafts, over what the terms allowed
  (`revision_cap` per deliverable, cancelled deliverables not counted);
- delivered against promised: each KPI of the terms (`{metric, target}`) against the sum of the
  contract's current metric reports (per deliverable the best source: platform API, then
  screenshot, then self-reported); met when the sum reaches the target; attainment is the mean
  of min(sum / target, 1) over the KPIs that were reported at all;
- disclosure: each published deliverable's latest proof passed the disclosure check;
- ratings: the brands' ratings of the creator, once revealed (ratings.py), mean of 1-5.

Each figure is a rate in [0, 1] or null with the reason (a zero denominator is never a 0).
`History.score` is the mean of the available rates (revisions as 1 - share used, ratings as
(mean - 1) / 4).

A creator chooses which figures brands see (`performance_visibility`; no row: all of them).
The creator always sees everything; a brand sees its own history with the creator whole and the
creator's record with all brands within the public figures. The matching's relationship
component (`relationship_scores`) follows the same rule: 0.5 + (s - 0.5) x n / (n + 1), where s
weighs the brand's own score twice and the all-brands score (public figures) once, and n is the
creator's count of finished contracts — one contract moves the component half way, more
contracts further. No finished contract: no entry, the matching's neutral 0.5 with its reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from sqlalchemy import ColumnElement, RowMapping, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

from app.errors import InvalidRequest
from app.models import (
    Contract,
    Deliverable,
    DeliverableState,
    Draft,
    DraftState,
    MetricReport,
    Proof,
    Side,
)
from app.models.delivery import METRIC_FIELDS, MetricSource
from app.models.relationship import PerformanceVisibility, Rating
from app.services.relationships.ratings import FINISHED_STATES, reveal_time
from app.services.relationships.records import my_listing_id, require_listing, require_member

Figure = Literal["on_time", "revisions", "metrics", "disclosure", "ratings"]
FIGURES: tuple[Figure, ...] = ("on_time", "revisions", "metrics", "disclosure", "ratings")
SOURCE_RANK = {
    MetricSource.platform_api.value: 0,
    MetricSource.screenshot.value: 1,
    MetricSource.self_reported.value: 2,
}
ENGAGEMENT_FIELDS = ("likes", "comments", "shares", "saves")
OWN_WEIGHT, ALL_WEIGHT = 2.0, 1.0


@dataclass
class History:
    """Counters of finished contracts (one pair, or a creator's sum over brands)."""

    contracts: int = 0
    published: int = 0
    on_time: int = 0
    rounds_used: int = 0
    rounds_allowed: int = 0
    kpis: int = 0
    kpis_reported: int = 0
    kpis_met: int = 0
    attainment_sum: float = 0.0
    proofs_checked: int = 0
    proofs_passed: int = 0
    ratings: list[dict[str, int]] = field(default_factory=list)
    last_ended_at: datetime | None = None

    def add(self, other: History) -> None:
        for name in (
            "contracts",
            "published",
            "on_time",
            "rounds_used",
            "rounds_allowed",
            "kpis",
            "kpis_reported",
            "kpis_met",
            "proofs_checked",
            "proofs_passed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.attainment_sum += other.attainment_sum
        self.ratings.extend(other.ratings)
        if other.last_ended_at and (
            self.last_ended_at is None or other.last_ended_at > self.last_ended_at
        ):
            self.last_ended_at = other.last_ended_at

    # --- the figures (a rate, or None with the reason) ------------------------------------

    def on_time_rate(self) -> tuple[float | None, str]:
        if not self.published:
            return None, "no published deliverable"
        return self.on_time / self.published, f"{self.on_time} of {self.published} on time"

    def revision_share(self) -> tuple[float | None, str]:
        if not self.rounds_allowed:
            return None, (
                f"{self.rounds_used} revision round(s); the terms allowed none"
                if self.rounds_used
                else "the terms allowed no revision rounds"
            )
        share = self.rounds_used / self.rounds_allowed
        return share, f"{self.rounds_used} of {self.rounds_allowed} revision rounds used"

    def kpi_attainment(self) -> tuple[float | None, str]:
        if not self.kpis:
            return None, "no KPI in the terms"
        if not self.kpis_reported:
            return None, f"{self.kpis} KPI(s), none reported"
        value = self.attainment_sum / self.kpis_reported
        return value, f"{self.kpis_met} of {self.kpis_reported} reported KPI(s) met"

    def disclosure_rate(self) -> tuple[float | None, str]:
        if not self.proofs_checked:
            return None, "no proof of publication"
        return (
            self.proofs_passed / self.proofs_checked,
            f"{self.proofs_passed} of {self.proofs_checked} posts properly disclosed",
        )

    def rating_mean(self) -> tuple[float | None, str]:
        if not self.ratings:
            return None, "no revealed rating"
        means = [sum(r.values()) / len(r) for r in self.ratings]
        value = sum(means) / len(means)
        return value, f"rated {value:.1f}/5 by {len(self.ratings)} brand rating(s)"

    def rating_dimensions(self) -> dict[str, float]:
        totals: dict[str, list[int]] = defaultdict(list)
        for r in self.ratings:
            for dimension, score in r.items():
                totals[dimension].append(score)
        return {d: sum(v) / len(v) for d, v in sorted(totals.items())}

    def rates(self, figures: Collection[str] = FIGURES) -> dict[str, float]:
        """Each available figure as a goodness in [0, 1] (higher is better)."""
        out: dict[str, float] = {}
        on_time, _ = self.on_time_rate()
        share, _ = self.revision_share()
        attainment, _ = self.kpi_attainment()
        disclosure, _ = self.disclosure_rate()
        rating, _ = self.rating_mean()
        candidates: dict[str, float | None] = {
            "on_time": on_time,
            "revisions": None if share is None else 1.0 - min(share, 1.0),
            "metrics": attainment,
            "disclosure": disclosure,
            "ratings": None if rating is None else (rating - 1.0) / 4.0,
        }
        for name, value in candidates.items():
            if name in figures and value is not None:
                out[name] = value
        return out

    def score(self, figures: Collection[str] = FIGURES) -> float | None:
        rates = self.rates(figures)
        return sum(rates.values()) / len(rates) if rates else None

    def reasons(self) -> dict[str, str]:
        """The available figures' reasons, in the order a summary names them."""
        out: dict[str, str] = {}
        for name, (value, reason) in (
            ("on_time", self.on_time_rate()),
            ("ratings", self.rating_mean()),
            ("revisions", self.revision_share()),
            ("metrics", self.kpi_attainment()),
            ("disclosure", self.disclosure_rate()),
        ):
            if value is not None:
                out[name] = reason
        return out

    def summary(self, figures: Collection[str] = FIGURES) -> str:
        return _summary(self.contracts, self.reasons(), figures)


def _summary(contracts: int, reasons: Mapping[str, str], figures: Collection[str]) -> str:
    parts = [f"{contracts} finished contract(s)"]
    parts += [reason for name, reason in reasons.items() if name in figures]
    return ", ".join(parts)


def _kpi_value(metric: str, report: RowMapping) -> int | None:
    if metric in METRIC_FIELDS or metric == "revenue":
        value: Any = report[metric]
        return None if value is None else int(value)
    if metric == "engagements":
        values = [report[f] for f in ENGAGEMENT_FIELDS]
        return None if all(v is None for v in values) else sum(int(v or 0) for v in values)
    return None  # a metric reports do not carry (e.g. views): not measurable here


async def histories(
    session: AsyncSession,
    now: datetime,
    *,
    influencer_ids: Collection[str] | None = None,
    brand_id: str | None = None,
) -> dict[str, dict[str, History]]:
    """influencer id → brand id → History over finished contracts, filtered as asked.

    Columns, not ORM objects: the matching reads every creator's history per ranking, and
    loading entities cost 8 in 10 of the time (benchmarks in docs/relationships.md)."""
    where: list[ColumnElement[bool]] = [Contract.state.in_(FINISHED_STATES)]
    if influencer_ids is not None:
        where.append(Contract.influencer_id.in_(list(influencer_ids)))
    if brand_id is not None:
        where.append(Contract.brand_id == brand_id)
    contracts = (
        await session.execute(
            select(
                Contract.id,
                Contract.brand_id,
                Contract.influencer_id,
                Contract.ended_at,
                Contract.terms,
            ).where(*where)
        )
    ).all()
    if not contracts:
        return {}
    out: dict[str, dict[str, History]] = defaultdict(dict)
    terms: dict[str, dict[str, Any]] = {}
    ended: dict[str, datetime | None] = {}
    # The later statements select by this subquery again: a contract that finished since the
    # first one comes back from them and is skipped (counted on the next read), never a KeyError
    # (found by make load: /matches while deals complete).
    ids = select(Contract.id).where(*where)
    pair: dict[str, History] = {}
    for contract_id, brand, influencer_id, ended_at, contract_terms in contracts:
        h = out[influencer_id].setdefault(brand, History())
        pair[contract_id] = h
        terms[contract_id] = contract_terms or {}
        ended[contract_id] = ended_at
        h.contracts += 1
        if ended_at and (h.last_ended_at is None or ended_at > h.last_ended_at):
            h.last_ended_at = ended_at

    deliverables = await session.execute(
        select(
            Deliverable.contract_id,
            Deliverable.state,
            Deliverable.due_date,
            Deliverable.published_at,
        ).where(Deliverable.contract_id.in_(ids))
    )
    counted: dict[str, int] = defaultdict(int)
    for contract_id, state, due_date, published_at in deliverables:
        if contract_id not in pair:
            continue
        h = pair[contract_id]
        if state != DeliverableState.cancelled.value:
            counted[contract_id] += 1
        if published_at is not None:
            h.published += 1
            if published_at.astimezone(UTC).date() <= due_date:
                h.on_time += 1
    for contract_id, n in counted.items():
        pair[contract_id].rounds_allowed += n * int(terms[contract_id].get("revision_cap") or 0)
    requested = await session.execute(
        select(Draft.contract_id, func.count())
        .where(Draft.contract_id.in_(ids), Draft.state == DraftState.changes_requested)
        .group_by(Draft.contract_id)
    )
    for contract_id, n in requested:
        if contract_id in pair:
            pair[contract_id].rounds_used += int(n)

    latest_proof: dict[str, tuple[int, str, bool]] = {}
    proofs = await session.execute(
        select(Proof.deliverable_id, Proof.contract_id, Proof.version_no, Proof.disclosure).where(
            Proof.contract_id.in_(ids)
        )
    )
    for deliverable_id, contract_id, version_no, disclosure in proofs:
        if contract_id not in pair:
            continue
        seen = latest_proof.get(deliverable_id)
        if seen is None or version_no > seen[0]:
            latest_proof[deliverable_id] = (
                version_no,
                contract_id,
                bool((disclosure or {}).get("passed")),
            )
    for _, contract_id, passed in latest_proof.values():
        h = pair[contract_id]
        h.proofs_checked += 1
        h.proofs_passed += 1 if passed else 0

    with_kpis = [c for c, t in terms.items() if t.get("kpis")]
    per_contract: dict[str, list[RowMapping]] = defaultdict(list)
    if with_kpis:
        columns = [getattr(MetricReport, f) for f in (*METRIC_FIELDS, "revenue")]
        reports = await session.execute(
            select(
                MetricReport.deliverable_id,
                MetricReport.contract_id,
                MetricReport.source,
                MetricReport.measured_at,
                *columns,
            ).where(MetricReport.contract_id.in_(ids), MetricReport.superseded_at.is_(None))
        )
        best: dict[str, tuple[tuple[int, float], RowMapping]] = {}
        for r in reports.mappings():
            if r["contract_id"] not in pair:
                continue
            key = (SOURCE_RANK.get(str(r["source"]), 3), -r["measured_at"].timestamp())
            seen_r = best.get(r["deliverable_id"])
            if seen_r is None or key < seen_r[0]:
                best[r["deliverable_id"]] = (key, r)
        for _, r in best.values():
            per_contract[r["contract_id"]].append(r)
    for contract_id in with_kpis:
        h = pair[contract_id]
        for kpi in terms[contract_id]["kpis"]:
            metric, target = str(kpi.get("metric")), int(kpi.get("target") or 0)
            h.kpis += 1
            values = [_kpi_value(metric, r) for r in per_contract.get(contract_id, [])]
            got = [v for v in values if v is not None]
            if not got or target <= 0:
                continue
            achieved = sum(got)
            h.kpis_reported += 1
            h.kpis_met += 1 if achieved >= target else 0
            h.attainment_sum += min(achieved / target, 1.0)

    ratings: dict[str, list[tuple[Side, datetime, dict[str, Any]]]] = defaultdict(list)
    rows = await session.execute(
        select(Rating.contract_id, Rating.rater_side, Rating.created_at, Rating.scores).where(
            Rating.contract_id.in_(ids)
        )
    )
    for contract_id, side, created_at, scores in rows:
        if contract_id in pair:
            ratings[contract_id].append((Side(side), created_at, scores))
    for contract_id, given in ratings.items():
        at = reveal_time(ended[contract_id], [(side, created) for side, created, _ in given])
        if at is None or now < at:
            continue
        for side, _, scores in given:
            if side == Side.brand:
                pair[contract_id].ratings.append({d: int(v["score"]) for d, v in scores.items()})
    return dict(out)


def total(pairs: Mapping[str, History]) -> History:
    out = History()
    for h in pairs.values():
        out.add(h)
    return out


async def public_figures(
    session: AsyncSession, influencer_ids: Iterable[str]
) -> dict[str, frozenset[str]]:
    """Each creator's public figures (all of them unless the creator chose otherwise)."""
    ids = list(influencer_ids)
    out: dict[str, frozenset[str]] = {i: frozenset(FIGURES) for i in ids}
    if ids:
        rows = await session.scalars(
            select(PerformanceVisibility).where(PerformanceVisibility.influencer_id.in_(ids))
        )
        for row in rows:
            out[row.influencer_id] = frozenset(f for f in row.public if f in FIGURES)
    return out


async def set_public_figures(
    session: AsyncSession, influencer_id: str, figures: Iterable[str], now: datetime
) -> frozenset[str]:
    chosen = list(dict.fromkeys(figures))
    unknown = [f for f in chosen if f not in FIGURES]
    if unknown:
        raise InvalidRequest.field(
            "public", f"unknown figure(s) {', '.join(unknown)}; one of {', '.join(FIGURES)}"
        )
    row = await session.get(PerformanceVisibility, influencer_id)
    if row is None:
        session.add(
            PerformanceVisibility(influencer_id=influencer_id, public=chosen, updated_at=now)
        )
    else:
        row.public = chosen
        row.updated_at = now
        attributes.flag_modified(row, "updated_at")  # the app's clock, not `onupdate`'s
    await session.flush()
    return frozenset(chosen)


# --- the matching's relationship component --------------------------------------------------


@dataclass(frozen=True)
class Record:
    """A creator's histories (per brand), with the all-brands figures worked out once."""

    pairs: Mapping[str, History]
    contracts: int
    rates: Mapping[str, float]  # every available figure as goodness in [0, 1]
    reasons: Mapping[str, str]

    @classmethod
    def of(cls, pairs: Mapping[str, History]) -> Record:
        everyone = total(pairs)
        return cls(pairs, everyone.contracts, everyone.rates(), everyone.reasons())

    def score(self, figures: Collection[str]) -> float | None:
        rates = [v for name, v in self.rates.items() if name in figures]
        return sum(rates) / len(rates) if rates else None


def component(
    own: History | None, record: Record, public: Collection[str]
) -> tuple[float, str] | None:
    """The relationship component from a brand's own history and the creator's record."""
    if not record.contracts:
        return None
    own_score = own.score() if own is not None else None
    all_score = record.score(public)
    parts = [(s, w) for s, w in ((own_score, OWN_WEIGHT), (all_score, ALL_WEIGHT)) if s is not None]
    if not parts:
        return 0.5, (
            f"{record.contracts} finished contract(s), no figure to judge them by (neutral)"
        )
    s = sum(v * w for v, w in parts) / sum(w for _, w in parts)
    n = record.contracts
    value = 0.5 + (s - 0.5) * n / (n + 1)
    said: list[str] = []
    if own is not None and own.contracts:
        said.append(f"with this brand: {own.summary()}")
    said.append(f"with all brands: {_summary(record.contracts, record.reasons, public)}")
    return value, "; ".join(said)


@dataclass(frozen=True)
class _Read:
    key: tuple[Any, ...]
    records: Mapping[str, Record]


# The process's last read of every creator's history. Each ranking asks the database whether it
# still holds (`_fingerprint`: a finished contract, a rating or a metric report added or gone,
# or another day for the ratings' reveal) and reads it again only then: the history pass costs
# ~0.2 s per 1,000 finished contracts on SQLite, the check a few milliseconds.
_LAST: list[_Read] = []


# One statement (one round trip, asked on every ranking): three one-row aggregates side by side,
# joined on true (a cross join of single rows, said explicitly so SQLAlchemy does not warn).
_CONTRACTS = (
    select(func.count(), func.max(Contract.id), func.max(Contract.ended_at))
    .where(Contract.state.in_(FINISHED_STATES))
    .subquery()
)
_RATINGS = select(func.count(), func.max(Rating.id)).subquery()
_REPORTS = select(func.count(), func.max(MetricReport.id)).subquery()
_FINGERPRINT = select(_CONTRACTS, _RATINGS, _REPORTS).select_from(
    _CONTRACTS.join(_RATINGS, true()).join(_REPORTS, true())
)


async def _fingerprint(session: AsyncSession, today: date) -> tuple[Any, ...]:
    return (today, *(await session.execute(_FINGERPRINT)).one())


async def records(session: AsyncSession, today: date) -> Mapping[str, Record]:
    """Every creator with a finished contract: their histories as of the start of `today`."""
    key = await _fingerprint(session, today)
    if _LAST and _LAST[0].key == key:
        return _LAST[0].records
    now = datetime.combine(today, time.min, tzinfo=UTC)
    found = {i: Record.of(pairs) for i, pairs in (await histories(session, now)).items()}
    _LAST[:] = [_Read(key, found)]
    return found


async def _public_figures_of_all(session: AsyncSession) -> dict[str, frozenset[str]]:
    """The creators who chose their public figures (everyone else shows all of them)."""
    rows = await session.execute(
        select(PerformanceVisibility.influencer_id, PerformanceVisibility.public)
    )
    return {i: frozenset(f for f in public if f in FIGURES) for i, public in rows}


async def relationship_scores(
    session: AsyncSession, brand_id: str, today: date
) -> dict[str, tuple[float, str]]:
    """listing id → (component, reason) for every creator with a finished contract.

    Ratings count once revealed by the start of `today` (the matching works by day)."""
    found = await records(session, today)
    if not found:  # no finished contract anywhere: no figures to read
        return {}
    chosen = await _public_figures_of_all(session)
    everything = frozenset(FIGURES)
    out: dict[str, tuple[float, str]] = {}
    for influencer_id, record in found.items():
        value = component(record.pairs.get(brand_id), record, chosen.get(influencer_id, everything))
        if value is not None:
            out[influencer_id] = value
    return out


# --- the views: the creator, a brand, anyone ----------------------------------------------------


def figures(h: History, visible: Collection[str] = FIGURES) -> dict[str, Any]:
    """The figures as the API shows them; a figure the viewer may not see is None."""
    on_time, on_time_why = h.on_time_rate()
    share, share_why = h.revision_share()
    attainment, attainment_why = h.kpi_attainment()
    disclosure, disclosure_why = h.disclosure_rate()
    rating, rating_why = h.rating_mean()
    shown: dict[str, Any] = {
        "on_time": {"rate": on_time, "count": h.on_time, "of": h.published, "reason": on_time_why},
        "revisions": {
            "rate": share,
            "count": h.rounds_used,
            "of": h.rounds_allowed,
            "reason": share_why,
        },
        "metrics": {
            "rate": attainment,
            "count": h.kpis_met,
            "of": h.kpis_reported,
            "reason": attainment_why,
        },
        "disclosure": {
            "rate": disclosure,
            "count": h.proofs_passed,
            "of": h.proofs_checked,
            "reason": disclosure_why,
        },
        "ratings": {
            "mean": rating,
            "count": len(h.ratings),
            "by_dimension": h.rating_dimensions(),
            "reason": rating_why,
        },
    }
    out: dict[str, Any] = {name: (shown[name] if name in visible else None) for name in FIGURES}
    out["finished_contracts"] = h.contracts
    out["score"] = h.score(visible)
    return out


@dataclass(frozen=True)
class CreatorPerformance:
    influencer_id: str
    everyone: History
    own: History | None  # the viewing brand's own history with the creator
    public: frozenset[str]


async def performance_of(
    session: AsyncSession, influencer_id: str, now: datetime, *, brand_id: str | None = None
) -> CreatorPerformance:
    pairs = (await histories(session, now, influencer_ids=[influencer_id])).get(influencer_id, {})
    public = (await public_figures(session, [influencer_id]))[influencer_id]
    own = pairs.get(brand_id, History()) if brand_id is not None else None
    return CreatorPerformance(influencer_id, total(pairs), own, public)


async def for_brand(
    session: AsyncSession, user_id: str, brand_id: str, influencer_id: str, now: datetime
) -> CreatorPerformance:
    """A brand's view: its own history whole, the creator's record within the public figures."""
    await require_member(session, user_id, brand_id)
    await require_listing(session, influencer_id, None)
    return await performance_of(session, influencer_id, now, brand_id=brand_id)


async def for_anyone(
    session: AsyncSession, influencer_id: str, now: datetime
) -> CreatorPerformance:
    await require_listing(session, influencer_id, None)
    return await performance_of(session, influencer_id, now)


async def for_creator(session: AsyncSession, user_id: str, now: datetime) -> CreatorPerformance:
    return await performance_of(session, await my_listing_id(session, user_id), now)
