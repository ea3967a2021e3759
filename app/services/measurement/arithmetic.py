"""The report's arithmetic, on plain facts (no database): sums, costs per result, rates, ROAS and
KPI attainment. Integers and `Decimal` only; money stays in its currency.

Every count carries its **sources** — `rapport` (measured by Rapport: tracked links, signed
conversions), `platform_api`, `screenshot`, `self_reported` — and is `verified` only when every
source is `rapport` or `platform_api`, so a screenshot's or a self-report's number reads as
what it is.

Costs per result are money over a count: the spend in minor units, divided, shown in the
currency's major unit and rounded half to even at a hundredth of its minor unit (4 decimals for
EUR, 2 for JPY): CPM = spend * 1000 / impressions, CPE = spend / engagements, CPC = spend /
clicks, CPA = spend / conversions. ROAS = revenue / spend in the same currency (4 decimals);
revenue in another currency is shown but never converted. Rates (engagement rate = engagements /
impressions, click-through rate = clicks / impressions, conversion rate = conversions / clicks)
have 4 decimals. A missing or zero denominator gives `None` with the reason — never a division
error, never an infinity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from app.services.catalogue.currencies import minor_unit_exponent

SOURCES = ("rapport", "platform_api", "screenshot", "self_reported")
VERIFIED_SOURCES = frozenset({"rapport", "platform_api"})
REPORTED_METRICS = ("impressions", "reach", "likes", "comments", "shares", "saves")
ENGAGEMENT_PARTS = ("likes", "comments", "shares", "saves")
MEASURED_METRICS = ("clicks", "conversions")
RATE_PLACES = Decimal("0.0001")


def ordered(sources: Iterable[str]) -> list[str]:
    return sorted(set(sources), key=SOURCES.index)


@dataclass(frozen=True)
class Count:
    """A count with its provenance. `value` None: nobody reported or measured it (`reason`).
    `reported`: what the parties reported for a figure Rapport measured itself."""

    value: int | None
    sources: frozenset[str] = frozenset()
    reason: str | None = None
    reported: int | None = None

    @property
    def verified(self) -> bool:
        return self.value is not None and bool(self.sources) and self.sources <= VERIFIED_SOURCES


def add_counts(counts: Sequence[Count], missing: str) -> Count:
    """The sum of the counts that have a value; None (with `missing`) when none has."""
    values = [c.value for c in counts if c.value is not None]
    reported = [c.reported for c in counts if c.reported is not None]
    if not values:
        return Count(None, reason=missing)
    return Count(
        sum(values),
        frozenset().union(*(c.sources for c in counts if c.value is not None)),
        reported=sum(reported) if reported else None,
    )


@dataclass(frozen=True)
class Money:
    currency: str
    amount: int
    sources: frozenset[str] = frozenset()

    @property
    def verified(self) -> bool:
        return bool(self.sources) and self.sources <= VERIFIED_SOURCES


def add_money(parts: Iterable[Mapping[str, Money]]) -> dict[str, Money]:
    """Sums per currency — never across currencies."""
    out: dict[str, Money] = {}
    for part in parts:
        for currency, m in part.items():
            seen = out.get(currency)
            out[currency] = (
                m
                if seen is None
                else Money(currency, seen.amount + m.amount, seen.sources | m.sources)
            )
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class Ratio:
    value: Decimal | None
    unit: str  # a currency (money per result) or "ratio"
    formula: str
    reason: str | None = None


@dataclass
class Facts:
    """What one contract achieved, gathered from the database (facts.py)."""

    contract_id: str
    influencer_id: str
    influencer_name: str
    state: str
    currency: str
    spend: int  # the agreed price, less refunds from escrow; 0 when never funded
    reported: dict[str, Count]  # REPORTED_METRICS + clicks, conversions, from metric reports
    reported_revenue: dict[str, Money]
    has_links: bool = False
    has_promo_codes: bool = False
    clicks: int = 0  # counted clicks of the contract's tracked links
    unique_visitors: int = 0
    repeat_clicks: int = 0
    bot_clicks: int = 0
    conversions: int = 0  # posted orders not refunded in full
    revenue: dict[str, int] = field(default_factory=dict)  # net of refunds, per currency
    kpis: list[tuple[str, int]] = field(default_factory=list)
    re_engagements: int = 0

    @property
    def tracked(self) -> bool:
        """Rapport measures conversions and revenue: the shop can attribute orders here."""
        return self.has_links or self.has_promo_codes


@dataclass(frozen=True)
class Figures:
    counts: dict[str, Count]  # impressions … saves, engagements, clicks, conversions, visitors
    revenue: dict[str, Money]


def figures(f: Facts) -> Figures:
    counts = {m: f.reported.get(m, Count(None, reason="not reported")) for m in REPORTED_METRICS}
    counts["engagements"] = add_counts(
        [counts[m] for m in ENGAGEMENT_PARTS], "no likes, comments, shares or saves reported"
    )
    reported_clicks = f.reported.get("clicks", Count(None, reason="not reported"))
    reported_conversions = f.reported.get("conversions", Count(None, reason="not reported"))
    if f.has_links:
        counts["clicks"] = Count(f.clicks, frozenset({"rapport"}), reported=reported_clicks.value)
        counts["unique_visitors"] = Count(f.unique_visitors, frozenset({"rapport"}))
    else:
        counts["clicks"] = reported_clicks
        counts["unique_visitors"] = Count(None, reason="no tracked link")
    if f.tracked:
        counts["conversions"] = Count(
            f.conversions, frozenset({"rapport"}), reported=reported_conversions.value
        )
        revenue = {
            c: Money(c, amount, frozenset({"rapport"})) for c, amount in sorted(f.revenue.items())
        }
    else:
        counts["conversions"] = reported_conversions
        revenue = dict(sorted(f.reported_revenue.items()))
    return Figures(counts, revenue)


def sum_figures(parts: Sequence[Figures]) -> Figures:
    names = list(parts[0].counts) if parts else []
    counts = {
        n: add_counts([p.counts[n] for p in parts], f"no {n.replace('_', ' ')} on any contract")
        for n in names
    }
    return Figures(counts, add_money(p.revenue for p in parts))


# --- ratios -------------------------------------------------------------------------------------


def _quantize(value: Decimal, places: Decimal) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_EVEN)


def cost_per(
    spend: int, currency: str, count: Count, what: str, *, per: int = 1, formula: str
) -> Ratio:
    if count.value is None:
        return Ratio(None, currency, formula, f"no {what} reported or measured")
    if count.value == 0:
        return Ratio(None, currency, formula, f"{what} is 0: a cost per {what} is undefined")
    exponent = minor_unit_exponent(currency)
    with localcontext() as ctx:
        ctx.prec = 50
        value = Decimal(spend) * per / Decimal(count.value)
        value = value.scaleb(-exponent)
        return Ratio(_quantize(value, Decimal(1).scaleb(-(exponent + 2))), currency, formula)


def rate(
    numerator: Count, denominator: Count, *, what: str, top: str, of: str, formula: str
) -> Ratio:
    if denominator.value is None:
        return Ratio(None, "ratio", formula, f"no {of} reported or measured")
    if denominator.value == 0:
        return Ratio(None, "ratio", formula, f"{of} is 0: the {what} is undefined")
    if numerator.value is None:
        return Ratio(None, "ratio", formula, f"no {top} reported or measured")
    with localcontext() as ctx:
        ctx.prec = 50
        return Ratio(
            _quantize(Decimal(numerator.value) / Decimal(denominator.value), RATE_PLACES),
            "ratio",
            formula,
        )


def roas(revenue: Mapping[str, Money], spend: int, currency: str, tracked: bool) -> Ratio:
    formula = "revenue / spend"
    if spend == 0:
        return Ratio(None, "ratio", formula, "spend is 0 (nothing funded): ROAS is undefined")
    same = revenue.get(currency)
    if same is None:
        others = [c for c in revenue if c != currency]
        if others:
            return Ratio(
                None,
                "ratio",
                formula,
                f"revenue only in {', '.join(others)}; spend is in {currency} and no exchange "
                "rate is applied",
            )
        if not tracked:
            return Ratio(None, "ratio", formula, "no revenue reported or measured")
        same = Money(currency, 0, frozenset({"rapport"}))
    with localcontext() as ctx:
        ctx.prec = 50
        return Ratio(
            _quantize(Decimal(same.amount) / Decimal(spend), RATE_PLACES), "ratio", formula
        )


def ratios(figs: Figures, spend: int, currency: str, tracked: bool) -> dict[str, Ratio]:
    c = figs.counts
    return {
        "cpm": cost_per(
            spend, currency, c["impressions"], "impressions", per=1000,
            formula="spend * 1000 / impressions",
        ),
        "cpe": cost_per(
            spend, currency, c["engagements"], "engagements", formula="spend / engagements"
        ),
        "cpc": cost_per(spend, currency, c["clicks"], "clicks", formula="spend / clicks"),
        "cpa": cost_per(
            spend, currency, c["conversions"], "conversions", formula="spend / conversions"
        ),
        "roas": roas(figs.revenue, spend, currency, tracked),
        "engagement_rate": rate(
            c["engagements"], c["impressions"], what="engagement rate", top="engagements",
            of="impressions", formula="engagements / impressions",
        ),
        "click_through_rate": rate(
            c["clicks"], c["impressions"], what="click-through rate", top="clicks",
            of="impressions", formula="clicks / impressions",
        ),
        "conversion_rate": rate(
            c["conversions"], c["clicks"], what="conversion rate", top="conversions",
            of="clicks", formula="conversions / clicks",
        ),
    }  # fmt: skip


# --- KPIs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiResult:
    metric: str
    target: int
    actual: int | None
    sources: frozenset[str]
    attainment: Decimal | None  # actual / target, 4 decimals
    met: bool | None
    reason: str | None = None
    contracts: int = 1  # how many contracts' targets are summed (totals)


def _actual(metric: str, figs: Figures, currency: str) -> Count:
    if metric == "revenue":
        money = figs.revenue.get(currency)
        if money is None:
            return Count(None, reason=f"no revenue in {currency} reported or measured")
        return Count(money.amount, money.sources)
    if metric in figs.counts and metric != "unique_visitors":
        return figs.counts[metric]
    return Count(None, reason=f"Rapport has no source for {metric}: no report carries it")


def kpi_result(metric: str, target: int, actual: Count, contracts: int = 1) -> KpiResult:
    if actual.value is None:
        return KpiResult(metric, target, None, frozenset(), None, None, actual.reason, contracts)
    if target <= 0:
        return KpiResult(
            metric, target, actual.value, actual.sources, None, True, "the target is 0", contracts
        )
    with localcontext() as ctx:
        ctx.prec = 50
        attainment = _quantize(Decimal(actual.value) / Decimal(target), RATE_PLACES)
    return KpiResult(
        metric,
        target,
        actual.value,
        actual.sources,
        attainment,
        actual.value >= target,
        None,
        contracts,
    )


def kpis(f: Facts, figs: Figures) -> list[KpiResult]:
    return [kpi_result(m, t, _actual(m, figs, f.currency)) for m, t in f.kpis]


def total_kpis(parts: Sequence[tuple[Facts, Figures]], currency: str) -> list[KpiResult]:
    """Per metric: the targets of the contracts that agreed one, summed, against the same
    contracts' actuals (revenue targets are in each contract's currency: one group's)."""
    targets: dict[str, int] = defaultdict(int)
    actuals: dict[str, list[Count]] = defaultdict(list)
    for f, figs in parts:
        for metric, target in f.kpis:
            targets[metric] += target
            actuals[metric].append(_actual(metric, figs, currency))
    out = []
    for metric, target in targets.items():
        counted = actuals[metric]
        total = add_counts(counted, f"no {metric} reported or measured")
        missing = sum(1 for c in counted if c.value is None)
        result = kpi_result(metric, target, total, contracts=len(counted))
        if missing and total.value is not None:
            result = replace(
                result, reason=f"{missing} of {len(counted)} contract(s) have no {metric} figure"
            )
        out.append(result)
    return out


# --- blocks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A contract's report, or the total of the contracts in one currency."""

    currency: str
    spend: int
    figures: Figures
    ratios: dict[str, Ratio]
    kpis: list[KpiResult]
    re_engagements: int
    tracked: bool


def contract_block(f: Facts) -> Block:
    figs = figures(f)
    return Block(
        f.currency,
        f.spend,
        figs,
        ratios(figs, f.spend, f.currency, f.tracked),
        kpis(f, figs),
        f.re_engagements,
        f.tracked,
    )


def currency_blocks(all_facts: Sequence[Facts]) -> list[Block]:
    """One total per currency of spend (contracts never sum money across currencies)."""
    groups: dict[str, list[Facts]] = defaultdict(list)
    for f in all_facts:
        groups[f.currency].append(f)
    out = []
    for currency, group in sorted(groups.items()):
        parts = [(f, figures(f)) for f in group]
        figs = sum_figures([p[1] for p in parts])
        spend = sum(f.spend for f in group)
        tracked = any(f.tracked for f in group)
        out.append(
            Block(
                currency,
                spend,
                figs,
                ratios(figs, spend, currency, tracked),
                total_kpis(parts, currency),
                sum(f.re_engagements for f in group),
                tracked,
            )
        )
    return out
