"""The rules that bids and offers must follow against their brief and the clock.

Input arrives JSON-shaped (`model_dump(mode="json")`) and structurally valid; what is checked
here needs the brief or today's date. Every broken rule is collected and reported in ONE
`InvalidRequest` (422) naming each field:

| field | rule | when |
|---|---|---|
| `currency` | `currency_mismatch` | not the brief's currency |
| `deliverables.N.type` | `platform_not_in_brief` | the type's platform is not one of the brief's |
| `deliverables.N.due_date` | `in_past` | before today |
| `deliverables.N.due_date` | `outside_brief_window` | outside the brief's publishing window |
| `payment_schedule` | `sum_mismatch` | milestone amounts do not add up to the price exactly |
| `payment_schedule.N.deliverables.M` | `unknown_deliverable` | names no deliverable line |
| `expires_at` | `in_past` / `too_far` / `timezone_required` | |
| `timeline.start_date`, `.end_date` | `in_past`, `out_of_order`, `outside_brief_window` | bids |
| `funding_window_hours` | `not_shorter_than_period` | recurring terms, a period or longer |

Offer terms are resolved in full before they are stored: an omitted field takes the brief's
`terms_defaults`, then the platform default, so an offer's terms never change meaning later.

**Recurring terms** (`recurrence`, an ambassador programme: docs/relationships.md) are one
period's; `shift` moves a date or time by whole periods (months keep their day, clamped to the
month's last: 31 January + 1 month = 28 or 29 February), and `period_terms` gives period n's
terms (the deliverables' due dates moved by n - 1 periods). A period must outlast its funding
window, so a renewal's funding is decided before the next period starts: an explicit
`funding_window_hours` of a period or more is refused, and the default is at most half of the
shortest period (a week: 84 hours).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from app.errors import InvalidRequest
from app.models import Brief
from app.services.catalogue.deliverable_types import get_deliverable_type

DEFAULT_APPROVAL_POLICY = "first"
DEFAULT_REVISION_CAP = 2
DEFAULT_REVIEW_WINDOW_HOURS = 72
DEFAULT_VERIFICATION_WINDOW_HOURS = 72
MAX_OFFER_LIFETIME = timedelta(days=30)


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str, rule: str) -> None:
        self.items.append({"field": field, "message": message, "rule": rule})

    def raise_any(self) -> None:
        if self.items:
            summary = "; ".join(f"{e['field']}: {e['message']}" for e in self.items[:5])
            raise InvalidRequest(summary, self.items)


def publishing_window(brief: Brief) -> tuple[date, date]:
    """Deliverables are due inside the brief's publishing window (both days included)."""
    return brief.publish_start, brief.publish_end


def _currency(errors: _Errors, currency: str | None, brief: Brief) -> str:
    if currency is not None and currency != brief.currency:
        errors.add(
            "currency",
            f"must be the brief's currency {brief.currency}, not {currency}",
            "currency_mismatch",
        )
    return brief.currency


def _lines(
    errors: _Errors, lines: list[Mapping[str, Any]], brief: Brief, today: date
) -> list[dict[str, Any]]:
    """Checks deliverable lines; returns them with every `key` filled in (`d1`, `d2` …)."""
    start, end = publishing_window(brief)
    platforms = set(brief.platforms)
    taken = {line["key"] for line in lines if line.get("key")}
    out: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        kind = get_deliverable_type(line["type"])
        if kind.platform not in platforms:
            errors.add(
                f"deliverables.{i}.type",
                f"{kind.name} is a {kind.platform} deliverable; the brief is on "
                f"{', '.join(sorted(platforms))}",
                "platform_not_in_brief",
            )
        due = date.fromisoformat(line["due_date"])
        if due < today:
            errors.add(
                f"deliverables.{i}.due_date", f"is in the past (today is {today})", "in_past"
            )
        elif not start <= due <= end:
            errors.add(
                f"deliverables.{i}.due_date",
                f"must be inside the brief's publishing window {start} … {end}",
                "outside_brief_window",
            )
        key = line.get("key")
        if not key:
            n = i + 1
            while f"d{n}" in taken:
                n += 1
            key = f"d{n}"
            taken.add(key)
        out.append(
            {"key": key, "type": kind.name, "count": line["count"], "due_date": due.isoformat()}
        )
    return out


def resolve_bid(doc: Mapping[str, Any], brief: Brief, now: datetime) -> dict[str, Any]:
    """A bid's price, currency, deliverables, timeline and pitch, checked against the brief."""
    errors = _Errors()
    today = now.date()
    currency = _currency(errors, doc.get("currency"), brief)
    lines = _lines(errors, doc["deliverables"], brief, today)
    timeline = doc["timeline"]
    start, end = (
        date.fromisoformat(timeline["start_date"]),
        date.fromisoformat(timeline["end_date"]),
    )
    if start < today:
        errors.add("timeline.start_date", f"is in the past (today is {today})", "in_past")
    if end < start:
        errors.add("timeline.end_date", "must not be before start_date", "out_of_order")
    if end > brief.publish_end:
        errors.add(
            "timeline.end_date",
            f"must not be after the brief's publishing window ends ({brief.publish_end})",
            "outside_brief_window",
        )
    errors.raise_any()
    return {
        "price": doc["price"],
        "currency": currency,
        "deliverables": lines,
        "timeline": {
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "note": timeline.get("note", ""),
        },
        "pitch": doc.get("pitch", ""),
    }


def _schedule(
    errors: _Errors, schedule: list[Mapping[str, Any]] | None, price: int, keys: list[str]
) -> list[dict[str, Any]]:
    if schedule is None:
        return [{"name": None, "amount": price, "deliverables": [], "on_completion": True}]
    known = set(keys)
    out = []
    for i, milestone in enumerate(schedule):
        for j, key in enumerate(milestone["deliverables"]):
            if key not in known:
                errors.add(
                    f"payment_schedule.{i}.deliverables.{j}",
                    f"names no deliverable of this offer (keys: {', '.join(keys)})",
                    "unknown_deliverable",
                )
        out.append(
            {
                "name": milestone.get("name"),
                "amount": milestone["amount"],
                "deliverables": list(milestone["deliverables"]),
                "on_completion": milestone["on_completion"],
            }
        )
    total = sum(m["amount"] for m in out)
    if total != price:
        errors.add(
            "payment_schedule",
            f"milestone amounts sum to {total}; they must sum exactly to the price {price}",
            "sum_mismatch",
        )
    return out


def _expires_at(errors: _Errors, raw: str | None, now: datetime, default: timedelta) -> datetime:
    if raw is None:
        return now + default
    at = datetime.fromisoformat(raw)
    if at.tzinfo is None:
        errors.add("expires_at", "must include a time zone (e.g. Z)", "timezone_required")
        return now + default
    if at <= now:
        errors.add("expires_at", f"must be in the future (now is {now.isoformat()})", "in_past")
    elif at - now > MAX_OFFER_LIFETIME:
        errors.add("expires_at", "must be at most 30 days from now", "too_far")
    return at


# --- recurrence (ambassador programmes) --------------------------------------------------------

When = TypeVar("When", date, datetime)


def shift(value: When, interval: str, periods: int) -> When:
    """`value` moved by `periods` intervals (`week` or `month`, any count of them)."""
    if interval == "week":
        return value + timedelta(weeks=periods)
    if interval != "month":
        raise ValueError(f"unknown interval {interval!r}")
    months = value.year * 12 + value.month - 1 + periods
    year, month = divmod(months, 12)
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def shortest_period_hours(recurrence: Mapping[str, Any]) -> int:
    """The shortest a period of this recurrence can be, in hours (a month: 28 days)."""
    days = 7 if recurrence["interval"] == "week" else 28
    return 24 * days * int(recurrence["interval_count"])


def period_terms(terms: Mapping[str, Any], period_no: int) -> dict[str, Any]:
    """Period `period_no`'s terms of recurring `terms`: the deliverables' due dates moved by
    `period_no - 1` periods; everything else as agreed."""
    recurrence = terms["recurrence"]
    periods = recurrence["interval_count"] * (period_no - 1)
    lines = [
        line
        | {
            "due_date": shift(
                date.fromisoformat(line["due_date"]), recurrence["interval"], periods
            ).isoformat()
        }
        for line in terms["deliverables"]
    ]
    return dict(terms) | {"deliverables": lines}


def _recurrence(
    errors: _Errors, raw: Mapping[str, Any] | None, funding_hours: int | None, default_hours: int
) -> tuple[dict[str, Any] | None, int]:
    """The recurrence (None: one-off terms) and the funding window it allows."""
    if raw is None:
        return None, funding_hours if funding_hours is not None else default_hours
    recurrence = {
        "interval": raw["interval"],
        "interval_count": raw.get("interval_count", 1),
        "notice_days": raw.get("notice_days", 30),
    }
    shortest = shortest_period_hours(recurrence)
    if funding_hours is None:
        return recurrence, min(default_hours, shortest // 2)
    if funding_hours >= shortest:
        errors.add(
            "funding_window_hours",
            f"must be shorter than one period ({shortest} hours at the least), so each "
            "renewal's funding is decided before the next period starts",
            "not_shorter_than_period",
        )
    return recurrence, funding_hours


def resolve_offer(
    doc: Mapping[str, Any],
    brief: Brief,
    now: datetime,
    *,
    offer_expiry: timedelta,
    funding_window_hours: int,
) -> tuple[dict[str, Any], datetime]:
    """The offer's complete terms (defaults filled in) and when it expires."""
    errors = _Errors()
    defaults = brief.terms_defaults or {}
    currency = _currency(errors, doc.get("currency"), brief)
    lines = _lines(errors, doc["deliverables"], brief, now.date())
    price = doc["price"]
    schedule = _schedule(errors, doc.get("payment_schedule"), price, [d["key"] for d in lines])
    expires_at = _expires_at(errors, doc.get("expires_at"), now, offer_expiry)
    explicit_window = doc.get("funding_window_hours")
    if explicit_window is None:
        explicit_window = defaults.get("funding_window_hours")
    recurrence, funding_hours = _recurrence(
        errors, doc.get("recurrence"), explicit_window, funding_window_hours
    )
    errors.raise_any()

    def pick(name: str, fallback: Any) -> Any:
        value = doc.get(name)
        if value is not None:
            return value
        value = defaults.get(name)
        return value if value is not None else fallback

    usage = pick("usage_rights", {})
    exclusivity = pick("exclusivity", {})
    terms = {
        "price": price,
        "currency": currency,
        "deliverables": lines,
        "approval_policy": pick("approval_policy", DEFAULT_APPROVAL_POLICY),
        "revision_cap": pick("revision_cap", DEFAULT_REVISION_CAP),
        "review_window_hours": pick("review_window_hours", DEFAULT_REVIEW_WINDOW_HOURS),
        "verification_window_hours": pick(
            "verification_window_hours", DEFAULT_VERIFICATION_WINDOW_HOURS
        ),
        "funding_window_hours": funding_hours,
        "usage_rights": {
            "channels": list(usage.get("channels", [])),
            "days": usage.get("days", 0),
        },
        "exclusivity": {
            "category": exclusivity.get("category"),
            "days": exclusivity.get("days", 0),
        },
        "payment_schedule": schedule,
        "kpis": list(doc["kpis"] if doc.get("kpis") is not None else brief.kpis or []),
        "disclosure_required": pick("disclosure_required", True),
    }
    if recurrence is not None:  # one-off terms keep the shape they always had
        terms["recurrence"] = recurrence
    return terms, expires_at


def last_due_date(terms: Mapping[str, Any]) -> date:
    return max(date.fromisoformat(d["due_date"]) for d in terms["deliverables"])


def exclusivity_window(terms: Mapping[str, Any], starts: date) -> tuple[str, date] | None:
    """(category, last day) of the exclusivity these terms impose, if any: from acceptance
    until `days` after the last deliverable is due."""
    exclusivity = terms.get("exclusivity") or {}
    category, days = exclusivity.get("category"), exclusivity.get("days", 0)
    if not category or days <= 0:
        return None
    return category, last_due_date(terms) + timedelta(days=days)


def deal_categories(terms: Mapping[str, Any], brief: Brief) -> set[str]:
    """The categories a deal on these terms is in: the brief's, and the exclusivity it asks."""
    categories = {brief.category} if brief.category else set()
    window = exclusivity_window(terms, date.min)
    if window is not None:
        categories.add(window[0])
    return categories


# --- diff ---------------------------------------------------------------------------------------


def diff(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """Changed fields between two JSON documents, as dotted paths with before/after values.
    Objects are compared key by key, lists of equal length item by item; anything else whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[dict[str, Any]] = []
        for key in [*before, *(k for k in after if k not in before)]:
            sub = f"{path}.{key}" if path else str(key)
            changes += diff(before.get(key), after.get(key), sub)
        return changes
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        changes = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            changes += diff(b, a, f"{path}.{i}" if path else str(i))
        return changes
    if before == after:
        return []
    return [{"field": path, "before": before, "after": after}]
