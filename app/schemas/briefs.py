"""Briefs (docs/design/catalogue-shapes.md). Structure is checked here; the rules that relate
fields to each other or to the clock (budget bounds, timeline order, deadlines in the past,
deliverables on the brief's platforms) live in `app.services.catalogue.briefs.check_brief`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from app.models import BriefState, PlatformCoverage, Visibility
from app.schemas.catalogue import (
    UNIQUE,
    AgeBand,
    ApprovalPolicy,
    Count,
    Currency,
    DeliverableTypeName,
    Gender,
    Money,
    Objective,
    Patch,
    Platform,
    Slug,
    UsageChannel,
    no_duplicates,
)
from app.schemas.common import (
    CountryCode,
    DateStrings,
    Input,
    LanguageCode,
    Output,
    StrictBool,
    Text200,
    Text5000,
)
from app.services.matching.scoring import DEFAULT_WEIGHTS, resolve_weights

# Not blank: the pattern states in OpenAPI what stripping then `min_length` enforce (a must-have of
# spaces only is a 422), so fuzzers and generated clients do not send one as valid.
MustHave = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=r"\S")
]
KpiMetric = Literal[
    "impressions",
    "reach",
    "views",
    "likes",
    "comments",
    "shares",
    "saves",
    "clicks",
    "conversions",
    "revenue",
    "engagements",
]


# Lists without repeats (a repeat is a 422), at most so many items.
AudienceCountries = Annotated[
    list[CountryCode], Field(max_length=250), AfterValidator(no_duplicates), UNIQUE
]
AudienceAgeBands = Annotated[
    list[AgeBand], Field(max_length=6), AfterValidator(no_duplicates), UNIQUE
]
AudienceGenders = Annotated[
    list[Gender], Field(max_length=3), AfterValidator(no_duplicates), UNIQUE
]
AudienceLanguages = Annotated[
    list[LanguageCode], Field(max_length=200), AfterValidator(no_duplicates), UNIQUE
]
UsageChannels = Annotated[
    list[UsageChannel], Field(max_length=6), AfterValidator(no_duplicates), UNIQUE
]


class TargetAudience(Input):
    """Who the brief is for; an empty list means "any"."""

    countries: AudienceCountries = Field(default_factory=list)
    age_bands: AudienceAgeBands = Field(default_factory=list)
    genders: AudienceGenders = Field(default_factory=list)
    languages: AudienceLanguages = Field(default_factory=list)


class Deliverable(Input):
    type: DeliverableTypeName
    count: Annotated[int, Field(strict=True, ge=1, le=100)]


# A budget of 0 is no budget (and ranking divides by its bounds): every amount is at least 1.
PositiveMoney = Annotated[Money, Field(ge=1)]


class Budget(Input):
    """Integer minor units of `currency`, each at least 1:
    per_influencer_min ≤ per_influencer_max ≤ total."""

    currency: Currency
    total: PositiveMoney
    per_influencer_min: PositiveMoney
    per_influencer_max: PositiveMoney


class Timeline(Input):
    """application_deadline ≤ content_due ≤ publish_start ≤ publish_end, none in the past."""

    application_deadline: date
    content_due: date
    publish_start: date
    publish_end: date


class UsageRights(Input):
    channels: UsageChannels = Field(default_factory=list)
    days: Annotated[int, Field(strict=True, ge=0, le=3650)] = 0


class Exclusivity(Input):
    category: Slug | None = None
    days: Annotated[int, Field(strict=True, ge=0, le=3650)] = 0


class TermsDefaults(Input):
    """Defaults the brand proposes for every offer made on this brief."""

    approval_policy: ApprovalPolicy = "first"
    revision_cap: Annotated[int, Field(strict=True, ge=0, le=10)] = 2
    review_window_hours: Annotated[int, Field(strict=True, ge=1, le=720)] = 72
    usage_rights: UsageRights = Field(default_factory=UsageRights)
    exclusivity: Exclusivity = Field(default_factory=Exclusivity)
    disclosure_required: StrictBool = True


class Kpi(Input):
    metric: KpiMetric
    target: Count


Platforms = Annotated[
    list[Platform], Field(min_length=1, max_length=7), AfterValidator(no_duplicates), UNIQUE
]
Deliverables = Annotated[list[Deliverable], Field(min_length=1, max_length=20)]
Topics = Annotated[list[Slug], Field(max_length=20), AfterValidator(no_duplicates), UNIQUE]
MustHaves = Annotated[list[MustHave], Field(max_length=30)]
Kpis = Annotated[list[Kpi], Field(max_length=20)]


def _known_weights(value: dict[str, float]) -> dict[str, float]:
    resolve_weights(value)  # unknown names, negatives and all-zero raise ValueError → 422
    return value


MatchWeights = Annotated[
    dict[str, Annotated[float, Field(ge=0, le=100)]],
    AfterValidator(_known_weights),
    Field(
        description="Weights of the match components (topic_relevance, audience_fit, "
        "authenticity, engagement_quality, price_fit, over_exposure, relationship); the ones "
        "left out keep their defaults",
        examples=[{"topic_relevance": 0.4, "price_fit": 0.1}],
        json_schema_extra={"propertyNames": {"enum": sorted(DEFAULT_WEIGHTS)}},
    ),
]


PLATFORM_COVERAGE_HELP = (
    "What the brief's platforms mean for the creators matched to it. `preferred` (default): a "
    "creator who can make only part of the deliverables (no account on one of the platforms) "
    "still ranks, lower; `required`: only creators on every platform of the brief rank (as "
    "`every_platform=true` on `/matches`); `alternatives`: the platforms are alternatives, a "
    "creator on any of them is a full match, priced on the deliverables they can make. A draft "
    "may change it; frozen once the brief is open"
)


class BriefIn(Input):
    """A new brief, created as a draft of a brand you belong to."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "brand_id": "brd_01JD3M8ZQ4X2V6R9T0A1B2C3D4",
                    "title": "Race-week breakfast",
                    "objective": "awareness",
                    "description": "Show how our oat drink fits a runner's breakfast on race week.",
                    "must_haves": ["show the carton", "link in bio"],
                    "category": "food",
                    "target_audience": {
                        "countries": ["SE", "NO"],
                        "age_bands": ["18-24", "25-34"],
                        "genders": ["female"],
                        "languages": ["sv"],
                    },
                    "topics": ["vegan-food", "running"],
                    "platforms": ["instagram"],
                    "deliverables": [{"type": "instagram_reel", "count": 2}],
                    "budget": {
                        "currency": "EUR",
                        "total": 1_000_000,
                        "per_influencer_min": 50_000,
                        "per_influencer_max": 150_000,
                    },
                    "timeline": {
                        "application_deadline": "2026-12-10",
                        "content_due": "2026-12-20",
                        "publish_start": "2026-12-21",
                        "publish_end": "2027-01-10",
                    },
                    "terms_defaults": {
                        "approval_policy": "first",
                        "revision_cap": 2,
                        "review_window_hours": 72,
                        "usage_rights": {"channels": ["organic"], "days": 30},
                        "exclusivity": {"category": "food", "days": 0},
                        "disclosure_required": True,
                    },
                    "kpis": [{"metric": "impressions", "target": 200_000}],
                    "visibility": "public",
                    "platform_coverage": "preferred",
                }
            ]
        }
    )

    brand_id: str = Field(examples=["brd_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    title: Text200
    objective: Objective
    description: Text5000 = ""
    must_haves: MustHaves = Field(default_factory=list)
    category: Slug | None = None
    target_audience: TargetAudience = Field(default_factory=TargetAudience)
    topics: Topics = Field(default_factory=list)
    platforms: Platforms
    deliverables: Deliverables
    budget: Budget
    timeline: Timeline
    terms_defaults: TermsDefaults = Field(default_factory=TermsDefaults)
    kpis: Kpis = Field(default_factory=list)
    visibility: Visibility = Visibility.public
    match_weights: MatchWeights | None = None
    platform_coverage: PlatformCoverage = Field(
        PlatformCoverage.preferred, description=PLATFORM_COVERAGE_HELP, examples=["required"]
    )


class BriefPatch(Patch):
    """Fields sent replace the stored ones whole (a `budget` is sent complete). A draft may
    change anything; an open brief only `description`, `must_haves`, `kpis` and a later
    `timeline.application_deadline`; closed, completed and cancelled briefs nothing."""

    nullable_fields = frozenset({"category", "match_weights"})

    title: Text200 | None = None
    objective: Objective | None = None
    description: Text5000 | None = None
    must_haves: MustHaves | None = None
    category: Slug | None = None
    target_audience: TargetAudience | None = None
    topics: Topics | None = None
    platforms: Platforms | None = None
    deliverables: Deliverables | None = None
    budget: Budget | None = None
    timeline: Timeline | None = None
    terms_defaults: TermsDefaults | None = None
    kpis: Kpis | None = None
    visibility: Visibility | None = None
    match_weights: MatchWeights | None = None
    platform_coverage: PlatformCoverage | None = Field(
        None, description=PLATFORM_COVERAGE_HELP, examples=["alternatives"]
    )


# --- output ------------------------------------------------------------------------------------


class TargetAudienceOut(Output):
    countries: list[str]
    age_bands: list[str]
    genders: list[str]
    languages: list[str]


class BriefDeliverableOut(Output):
    type: str
    count: int


class BudgetOut(Output):
    currency: str
    total: int
    per_influencer_min: int
    per_influencer_max: int


class TimelineOut(Output):
    application_deadline: date
    content_due: date
    publish_start: date
    publish_end: date


class UsageRightsOut(Output):
    channels: list[str]
    days: int


class ExclusivityOut(Output):
    category: str | None
    days: int


class TermsDefaultsOut(Output):
    approval_policy: str
    revision_cap: int
    review_window_hours: int
    usage_rights: UsageRightsOut
    exclusivity: ExclusivityOut
    disclosure_required: bool


class KpiOut(Output):
    metric: str
    target: int


class BriefOut(Output):
    id: str = Field(examples=["brf_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    brand_id: str
    state: BriefState
    title: str
    objective: str
    description: str
    must_haves: list[str]
    category: str | None
    target_audience: TargetAudienceOut
    topics: list[str]
    platforms: list[str]
    deliverables: list[BriefDeliverableOut]
    budget: BudgetOut
    timeline: TimelineOut
    terms_defaults: TermsDefaultsOut
    kpis: list[KpiOut]
    visibility: Visibility
    match_weights: dict[str, float] | None = Field(
        description="The brand's weights for ranking listings against this brief; null: defaults"
    )
    platform_coverage: PlatformCoverage = Field(description=PLATFORM_COVERAGE_HELP)
    budget_warning: str | None = Field(
        description="Set when the per-influencer budget is below the fair range for the "
        "deliverables (from the fair-rate guidance)"
    )
    created_at: datetime
    updated_at: datetime


BriefSort = Literal["created", "-created", "deadline", "-deadline", "budget", "-budget"]


class BriefQuery(DateStrings):
    """Filters of `GET /v1/briefs`: every filter narrows; a repeated one matches any."""

    q: str | None = Field(
        None,
        max_length=200,
        description="Words that must all appear (as substrings, case-insensitively) in the "
        "title, description, must-haves, topics or category",
    )
    brand_id: str | None = Field(None, description="Only this brand's briefs")
    state: list[BriefState] = Field(
        default_factory=list, description="Others' briefs are always open; yours in any state"
    )
    objective: list[Objective] = Field(default_factory=list)
    platform: list[Platform] = Field(default_factory=list)
    topic: list[Slug] = Field(default_factory=list)
    country: list[CountryCode] = Field(
        default_factory=list, description="Targets this country (or targets any country)"
    )
    deliverable_type: list[DeliverableTypeName] = Field(default_factory=list)
    currency: Currency | None = Field(None, description="Budget currency (required with budgets)")
    budget_min: int | None = Field(
        None, ge=0, description="The per-influencer range reaches at least this (minor units)"
    )
    budget_max: int | None = Field(
        None, ge=0, description="The per-influencer range starts at most at this"
    )
    deadline_after: date | None = Field(None, description="application_deadline after this day")
    deadline_before: date | None = Field(None, description="application_deadline before this day")
    sort: BriefSort = Field("-created", description="`-` sorts descending; budget is the total")
