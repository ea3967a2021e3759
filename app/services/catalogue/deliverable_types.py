"""Catalogue of deliverable types: the project's single source of truth for them.

A deliverable type is one unit of work an influencer sells (one Instagram post, one
60-second podcast mid-roll, one hour of sponsored Twitch streaming...). The catalogue is a
plain module-level mapping so a new type is a code change reviewed like any other, with no
data migration: rows elsewhere store the type's ``name`` as a string.

Each type carries a *prior* for its price, expressed CPM-style: US cents per 1,000 audience
members (followers, subscribers, monthly visitors or downloads, see ``audience_unit``), as
the 25th percentile, median and 75th percentile, plus a minimum fee below which creators
of any size rarely work. These numbers are a starting point, not market data: they are
rounded from the rules of thumb that publicly available influencer rate guides and agency
rate cards repeat (industry blog surveys such as Influencer Marketing Hub's and
Later's/Mavrck's annual rate reports, and podcast ad-network rate cards), namely:

- Instagram feed post: "$10 per 1,000 followers" is the most quoted rule; reels are
  priced somewhat above posts, stories at roughly a third to a half of a post.
- TikTok video: below Instagram per follower, commonly $2.5-$10 per 1,000 followers.
- YouTube long-form video (integration or dedicated): "$20 per 1,000 subscribers"
  (quoted ranges $10-$30); Shorts are priced like TikTok videos.
- Twitch: sponsored streams are priced per hour; guides quote per-hour rates that work
  out to a few dollars per 1,000 followers for one hour of sponsored stream.
- X (Twitter) post: the cheapest per follower, roughly $1-$4 per 1,000 followers.
- Blog post: priced on monthly unique visitors, roughly $5-$20 per 1,000 visitors.
- Podcast: a 60-second host-read mid-roll at an $18-$30 CPM per 1,000 downloads per
  episode (the commonly reported average 60-second CPM is about $25).

Rapport blends these priors with agreed prices from its own marketplace once enough
comparable deals exist (see ``app.services.catalogue.rates``), so the priors matter most early on.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

# The platforms Rapport knows. Kept here because every deliverable type names one.
PLATFORMS: frozenset[str] = frozenset(
    {"instagram", "tiktok", "youtube", "twitch", "x", "blog", "podcast"}
)


@dataclass(frozen=True)
class DeliverableType:
    """One sellable unit of work and its price prior (USD cents per 1,000 audience)."""

    name: str
    platform: str
    description: str
    audience_unit: str
    p25_cents_per_1k: int
    median_cents_per_1k: int
    p75_cents_per_1k: int
    min_fee_cents: int

    def __post_init__(self) -> None:
        # Catch catalogue typos at import time rather than in a price estimate.
        if self.platform not in PLATFORMS:
            raise ValueError(f"{self.name}: unknown platform {self.platform!r}")
        if not 0 < self.p25_cents_per_1k <= self.median_cents_per_1k <= self.p75_cents_per_1k:
            raise ValueError(f"{self.name}: prior quantiles must be positive and ordered")
        if self.min_fee_cents <= 0:
            raise ValueError(f"{self.name}: minimum fee must be positive")


def _catalogue(*types: DeliverableType) -> MappingProxyType[str, DeliverableType]:
    return MappingProxyType({t.name: t for t in types})


# Read-only so no caller mutates the shared catalogue by accident; add types here.
DELIVERABLE_TYPES: MappingProxyType[str, DeliverableType] = _catalogue(
    DeliverableType(
        name="instagram_post",
        platform="instagram",
        description="One Instagram feed post (photo or carousel) with caption",
        audience_unit="followers",
        p25_cents_per_1k=600,
        median_cents_per_1k=1_000,  # the "$10 per 1,000 followers" rule
        p75_cents_per_1k=1_500,
        min_fee_cents=5_000,
    ),
    DeliverableType(
        name="instagram_reel",
        platform="instagram",
        description="One Instagram Reel (short vertical video)",
        audience_unit="followers",
        p25_cents_per_1k=700,
        median_cents_per_1k=1_200,
        p75_cents_per_1k=1_800,
        min_fee_cents=7_500,
    ),
    DeliverableType(
        name="instagram_story",
        platform="instagram",
        description="One Instagram Story frame (24 hours), usually with a link sticker",
        audience_unit="followers",
        p25_cents_per_1k=200,
        median_cents_per_1k=400,
        p75_cents_per_1k=600,
        min_fee_cents=2_500,
    ),
    DeliverableType(
        name="tiktok_video",
        platform="tiktok",
        description="One TikTok video",
        audience_unit="followers",
        p25_cents_per_1k=250,
        median_cents_per_1k=500,
        p75_cents_per_1k=900,
        min_fee_cents=4_000,
    ),
    DeliverableType(
        name="youtube_video",
        platform="youtube",
        description="One long-form YouTube video (integration or dedicated)",
        audience_unit="subscribers",
        p25_cents_per_1k=1_000,
        median_cents_per_1k=2_000,  # the "$20 per 1,000 subscribers" rule
        p75_cents_per_1k=3_000,
        min_fee_cents=20_000,
    ),
    DeliverableType(
        name="youtube_short",
        platform="youtube",
        description="One YouTube Short",
        audience_unit="subscribers",
        p25_cents_per_1k=300,
        median_cents_per_1k=600,
        p75_cents_per_1k=1_000,
        min_fee_cents=5_000,
    ),
    DeliverableType(
        name="twitch_stream",
        platform="twitch",
        description="One hour of sponsored live streaming on Twitch",
        audience_unit="followers",
        p25_cents_per_1k=300,
        median_cents_per_1k=600,
        p75_cents_per_1k=1_200,
        min_fee_cents=5_000,
    ),
    DeliverableType(
        name="x_post",
        platform="x",
        description="One post on X (formerly Twitter)",
        audience_unit="followers",
        p25_cents_per_1k=100,
        median_cents_per_1k=200,
        p75_cents_per_1k=400,
        min_fee_cents=2_500,
    ),
    DeliverableType(
        name="blog_post",
        platform="blog",
        description="One sponsored blog article",
        audience_unit="monthly unique visitors",
        p25_cents_per_1k=500,
        median_cents_per_1k=1_000,
        p75_cents_per_1k=2_000,
        min_fee_cents=10_000,
    ),
    DeliverableType(
        name="podcast_mention",
        platform="podcast",
        description="One 60-second host-read mid-roll in a podcast episode",
        audience_unit="downloads per episode",
        p25_cents_per_1k=1_800,
        median_cents_per_1k=2_500,  # the commonly reported ~$25 CPM for 60 s
        p75_cents_per_1k=3_000,
        min_fee_cents=5_000,
    ),
)


def get_deliverable_type(name: str) -> DeliverableType:
    """Return the catalogue entry for ``name``; unknown names raise ``ValueError``."""
    try:
        return DELIVERABLE_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(DELIVERABLE_TYPES))
        raise ValueError(f"unknown deliverable type {name!r}; known types: {known}") from None


def deliverable_types_for_platform(platform: str) -> list[DeliverableType]:
    """All catalogue entries for ``platform``, in catalogue order."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; known platforms: {_known_platforms()}")
    return [t for t in DELIVERABLE_TYPES.values() if t.platform == platform]


def _known_platforms() -> str:
    return ", ".join(sorted(PLATFORMS))
