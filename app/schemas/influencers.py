"""Influencer listings (the profile is the listing) and their social accounts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field, StringConstraints

from app.schemas.catalogue import (
    UNIQUE,
    AgeBandShares,
    Count,
    CountryShares,
    Currency,
    DeliverableTypeName,
    GenderShares,
    LanguageShares,
    Money,
    Patch,
    Platform,
    Slug,
    Url,
    no_duplicates,
    ordered_dates,
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

Handle = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^@?[A-Za-z0-9._-]{1,100}$", max_length=101),
    Field(description="The account's handle; unique per platform, case-insensitively"),
]
Sample = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
NonNegative = Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)]


class FollowerPoint(Input):
    date: date
    followers: Count


# An average or a post's count: a number, or null (or left out) when it is not known. Unknown
# is not 0: "nobody saved it" and "the platform does not say" are different facts, and the
# matching treats a missing figure as missing evidence, never as a bad one.
UnknownCount = Annotated[
    Count | None,
    Field(description="A non-negative integer; null or left out when unknown (not 0)"),
]
MAX_RECENT_POSTS = 100
MAX_COMMENT_SAMPLES = 100
CommentSample = Annotated[str, StringConstraints(min_length=1, max_length=500)]
# YouTube's description limit, the longest of the platforms' own caption fields (Instagram's
# caption is at most 2,200 characters, TikTok's 4,000); a blog post or a podcast's show notes
# are sent as their first 5,000 characters.
MAX_CAPTION = 5000
CAPTION_EXAMPLE = "Five-minute oat bowls for race week: oats, tofu, berries #veganfood #running"
PostCaption = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_CAPTION)] | None,
    Field(
        description=f"The post's text (caption, description, show notes) as published, at "
        f"most {MAX_CAPTION:,} characters (YouTube's description limit; Instagram allows "
        '2,200, TikTok 4,000), trimmed; null or left out when unknown, "" for a post '
        "without text. The matching reads what the creator posts about from it (topic depth)",
        examples=[CAPTION_EXAMPLE],
    ),
]


class PostMetrics(Input):
    """One recent post of the account with its counts, as the platform shows them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "posted_at": "2026-11-20T17:05:00Z",
                    "url": "https://www.instagram.com/p/C0ffee123/",
                    "views": 23_400,
                    "likes": 2_050,
                    "comments": 88,
                    "shares": 41,
                    "saves": None,
                    "sponsored": False,
                    "caption": CAPTION_EXAMPLE,
                }
            ]
        }
    )

    posted_at: AwareDatetime = Field(
        description="When it went live (RFC 3339 with a time zone; not in the future)"
    )
    url: Url | None = None
    views: Annotated[Count | None, Field(description="Views or plays; null when unknown")] = None
    likes: Annotated[Count | None, Field(description="null when unknown")] = None
    comments: Annotated[Count | None, Field(description="null when unknown")] = None
    shares: Annotated[Count | None, Field(description="null when unknown")] = None
    saves: Annotated[Count | None, Field(description="null when unknown")] = None
    sponsored: Annotated[
        StrictBool | None,
        Field(description="A paid or gifted post (disclosed as an ad); null when not said"),
    ] = None
    caption: PostCaption = None


RecentPosts = Annotated[
    list[PostMetrics],
    Field(
        max_length=MAX_RECENT_POSTS,
        description=f"Up to {MAX_RECENT_POSTS} recent posts with their counts (and text), any "
        "order; the matching reads engagement, likes per view, viral posts and the sponsored "
        "share from them, and topic depth from the captions of the newest unsponsored ones",
    ),
]
CommentSamples = Annotated[
    list[CommentSample],
    Field(
        max_length=MAX_COMMENT_SAMPLES,
        description=f"Up to {MAX_COMMENT_SAMPLES} comment texts (each at most 500 characters) as "
        "they appear under recent posts, unedited: a sample of what the audience writes",
    ),
]


class AccountIn(Input):
    platform: Platform
    handle: Handle
    url: Url
    followers: Count
    avg_views: UnknownCount = None
    avg_likes: UnknownCount = None
    avg_comments: UnknownCount = None
    avg_shares: UnknownCount = None
    avg_saves: UnknownCount = None
    posts_per_week: NonNegative = 0.0
    follower_history: Annotated[
        list[FollowerPoint], Field(max_length=1000), AfterValidator(ordered_dates)
    ] = Field(default_factory=list, description="Dated follower counts, in date order")
    recent_posts: RecentPosts = Field(default_factory=list)
    comment_samples: CommentSamples = Field(default_factory=list)


class AccountPatch(Patch):
    """Change an account; the platform is fixed (delete and add to move platforms). `null`
    makes an average unknown."""

    nullable_fields = frozenset(
        {"avg_views", "avg_likes", "avg_comments", "avg_shares", "avg_saves"}
    )

    handle: Handle | None = None
    url: Url | None = None
    followers: Count | None = None
    avg_views: UnknownCount = None
    avg_likes: UnknownCount = None
    avg_comments: UnknownCount = None
    avg_shares: UnknownCount = None
    avg_saves: UnknownCount = None
    posts_per_week: NonNegative | None = None
    follower_history: (
        Annotated[list[FollowerPoint], Field(max_length=1000), AfterValidator(ordered_dates)] | None
    ) = None
    recent_posts: RecentPosts | None = None
    comment_samples: CommentSamples | None = None


class FollowerPointOut(Output):
    date: date
    followers: int


class PostMetricsOut(Output):
    posted_at: datetime
    url: str | None = None
    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    sponsored: bool | None = None
    caption: str | None = Field(
        None,
        description="The post's text as published; null: unknown",
        examples=[CAPTION_EXAMPLE],
    )


class AccountOut(Output):
    id: str = Field(examples=["sac_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    platform: str
    handle: str
    url: str
    followers: int
    avg_views: int | None = Field(description="null: unknown (not reported), not 0")
    avg_likes: int | None
    avg_comments: int | None
    avg_shares: int | None
    avg_saves: int | None
    posts_per_week: float
    follower_history: list[FollowerPointOut]
    recent_posts: list[PostMetricsOut] = Field(default_factory=list)
    comment_samples: list[str] = Field(default_factory=list)


class Audience(Input):
    """Audience demographics in percent; each non-empty distribution sums to 100 ± 1."""

    countries: CountryShares = Field(default_factory=dict)
    age_bands: AgeBandShares = Field(default_factory=dict)
    genders: GenderShares = Field(default_factory=dict)
    languages: LanguageShares = Field(default_factory=dict)


class SponsoredPost(Input):
    brand: Text200
    category: Slug
    date: date
    platform: Platform


class Rate(Input):
    deliverable_type: DeliverableTypeName
    amount: Money
    currency: Currency


def _one_rate_per_type(rates: list[Rate]) -> list[Rate]:
    no_duplicates([r.deliverable_type for r in rates])
    return rates


Topics = Annotated[list[Slug], Field(max_length=30), AfterValidator(no_duplicates), UNIQUE]
Slugs = Annotated[list[Slug], Field(max_length=30), AfterValidator(no_duplicates), UNIQUE]
Samples = Annotated[list[Sample], Field(max_length=20)]
RateCard = Annotated[list[Rate], Field(max_length=50), AfterValidator(_one_rate_per_type)]
SponsoredPosts = Annotated[list[SponsoredPost], Field(max_length=500)]
Languages = Annotated[list[LanguageCode], Field(max_length=20)]


class InfluencerIn(Input):
    """A new listing. `accounts` may be given here or added later under `/accounts`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "display_name": "Mara Lind",
                    "bio": "Plant-based recipes and trail running from Stockholm.",
                    "country": "SE",
                    "languages": ["sv", "en"],
                    "topics": ["vegan-food", "running"],
                    "content_samples": ["Five-minute oat bowls for race week"],
                    "values": ["sustainability"],
                    "refused_categories": ["alcohol", "gambling"],
                    "available": True,
                    "audience": {
                        "countries": {"SE": 61.0, "NO": 12.0, "US": 27.0},
                        "age_bands": {"18-24": 30.0, "25-34": 45.0, "35-44": 25.0},
                        "genders": {"female": 70.0, "male": 28.0, "other": 2.0},
                        "languages": {"sv": 60.0, "en": 40.0},
                    },
                    "accounts": [
                        {
                            "platform": "instagram",
                            "handle": "mara.runs",
                            "url": "https://www.instagram.com/mara.runs/",
                            "followers": 48_200,
                            "avg_views": 21_000,
                            "avg_likes": 1_900,
                            "avg_comments": 85,
                            "posts_per_week": 4.0,
                            "follower_history": [
                                {"date": "2026-06-01", "followers": 41_000},
                                {"date": "2026-09-01", "followers": 46_000},
                            ],
                        }
                    ],
                    "sponsored_posts": [
                        {
                            "brand": "Oatly",
                            "category": "food",
                            "date": "2026-10-02",
                            "platform": "instagram",
                        }
                    ],
                    "rate_card": [
                        {"deliverable_type": "instagram_reel", "amount": 90_000, "currency": "EUR"}
                    ],
                }
            ]
        }
    )

    display_name: Text200
    bio: Text5000 = ""
    country: CountryCode | None = None
    languages: Languages = Field(default_factory=list)
    topics: Topics = Field(default_factory=list)
    content_samples: Samples = Field(default_factory=list)
    values: Slugs = Field(default_factory=list)
    refused_categories: Slugs = Field(default_factory=list)
    available: StrictBool = True
    unavailable_until: date | None = None
    audience: Audience = Field(default_factory=Audience)
    accounts: Annotated[list[AccountIn], Field(max_length=20)] = Field(default_factory=list)
    sponsored_posts: SponsoredPosts = Field(default_factory=list)
    rate_card: RateCard = Field(default_factory=list)


class InfluencerPatch(Patch):
    """Change your listing: fields sent replace the stored ones whole (accounts have their own
    routes). `null` clears `country` and `unavailable_until`."""

    nullable_fields = frozenset({"country", "unavailable_until"})

    display_name: Text200 | None = None
    bio: Text5000 | None = None
    country: CountryCode | None = None
    languages: Languages | None = None
    topics: Topics | None = None
    content_samples: Samples | None = None
    values: Slugs | None = None
    refused_categories: Slugs | None = None
    available: StrictBool | None = None
    unavailable_until: date | None = None
    audience: Audience | None = None
    sponsored_posts: SponsoredPosts | None = None
    rate_card: RateCard | None = None


class AudienceOut(Output):
    countries: dict[str, float] = Field(default_factory=dict)
    age_bands: dict[str, float] = Field(default_factory=dict)
    genders: dict[str, float] = Field(default_factory=dict)
    languages: dict[str, float] = Field(default_factory=dict)


class RateOut(Output):
    deliverable_type: str
    amount: int
    currency: str


class SponsoredPostOut(Output):
    brand: str
    category: str
    date: date
    platform: str


class ListingOut(Output):
    """A listing as everyone with the catalogue scope sees it."""

    id: str = Field(examples=["inf_01JD3M8ZQ4X2V6R9T0A1B2C3D4"])
    display_name: str
    bio: str
    country: str | None
    languages: list[str]
    topics: list[str]
    content_samples: list[str]
    values: list[str]
    refused_categories: list[str]
    available: bool
    unavailable_until: date | None
    audience: AudienceOut
    accounts: list[AccountOut]
    sponsored_posts: list[SponsoredPostOut]
    rate_card: list[RateOut]
    created_at: datetime
    updated_at: datetime


class InfluencerOut(ListingOut):
    """Your own listing: the public listing plus the account it belongs to."""

    user_id: str | None


ListingSort = Literal["created", "-created", "followers", "-followers"]


class ListingQuery(DateStrings):
    """Filters of `GET /v1/influencers`: every filter narrows; a repeated one matches any."""

    q: str | None = Field(
        None,
        max_length=200,
        description="Words that must all appear (as substrings, case-insensitively) in the "
        "name, bio, topics, content samples or handles",
    )
    platform: list[Platform] = Field(default_factory=list, description="Has an account on it")
    topic: list[Slug] = Field(default_factory=list, description="Has this topic")
    country: list[CountryCode] = Field(
        default_factory=list, description="Part of the audience is in this country"
    )
    min_country_share: float | None = Field(
        None, ge=0, le=100, description="With `country`: at least this percent of the audience"
    )
    home_country: CountryCode | None = Field(None, description="The influencer's own country")
    deliverable_type: list[DeliverableTypeName] = Field(
        default_factory=list, description="Has a rate for this deliverable type"
    )
    currency: Currency | None = Field(None, description="Currency of `price_min`/`price_max`")
    price_min: int | None = Field(
        None, ge=0, description="A rate (of `deliverable_type` when given) ≥ this, minor units"
    )
    price_max: int | None = Field(None, ge=0, description="… and ≤ this")
    followers_min: int | None = Field(
        None,
        ge=0,
        description="Followers ≥ this (on `platform` when given, else the largest account)",
    )
    followers_max: int | None = Field(None, ge=0, description="Followers ≤ this")
    available: bool | None = Field(None, description="Only (un)available influencers")
    sort: ListingSort = Field("-created", description="`-` sorts descending")
