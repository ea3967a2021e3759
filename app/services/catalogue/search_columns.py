"""The catalogue's denormalised search columns and side tables, computed in one place.

Listings and briefs are stored as the documents the API reads and writes. What the catalogue
filters, searches and sorts on is derived from those documents here — by the API services on
every write and by the bulk loader (`rapport_dev.catalogue_load`) for seeded rows — so both
paths index a document identically:

- `search_text`: the document's searchable text joined by spaces and lower-cased by Python
  (`str.lower`, full Unicode), matched with `LIKE '%term%'` — the same query, hence the same
  results, on SQLite and PostgreSQL;
- `max_followers` (listings): the largest account's followers;
- side tables: listing topics / audience countries (with share) / rate card, brief topics /
  platforms / target countries / deliverable types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Brief,
    BriefCountry,
    BriefDeliverableType,
    BriefPlatform,
    BriefTopic,
    Influencer,
    ListingCountry,
    ListingRate,
    ListingTopic,
    SocialAccount,
)


def search_text(parts: Iterable[str | None]) -> str:
    return " ".join(p for p in parts if p).lower()


def search_terms(q: str | None) -> list[str]:
    """The terms of a search query: whitespace-separated, lower-cased, deduplicated."""
    return list(dict.fromkeys((q or "").lower().split()))


def like_pattern(term: str) -> str:
    """`%term%` with LIKE's wildcards escaped (use with `escape="\\\\"`)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- listings -----------------------------------------------------------------------------------


def listing_search_text(doc: Mapping[str, Any], handles: Iterable[str]) -> str:
    return search_text(
        [
            doc["display_name"],
            doc.get("bio") or "",
            *doc.get("topics", ()),
            *doc.get("content_samples", ()),
            *handles,
        ]
    )


def listing_derived(
    doc: Mapping[str, Any], accounts: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The derived columns of an `influencers` row."""
    return {
        "max_followers": max((int(a["followers"]) for a in accounts), default=0),
        "search_text": listing_search_text(doc, (a["handle"] for a in accounts)),
    }


def listing_topic_rows(listing_id: str, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"influencer_id": listing_id, "topic": t} for t in dict.fromkeys(doc.get("topics", ()))]


def listing_country_rows(listing_id: str, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    countries = (doc.get("audience") or {}).get("countries") or {}
    return [
        {"influencer_id": listing_id, "country": c, "share": float(s)}
        for c, s in countries.items()
        if s > 0
    ]


def listing_rate_rows(listing_id: str, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "influencer_id": listing_id,
            "deliverable_type": r["deliverable_type"],
            "currency": r["currency"],
            "amount": int(r["amount"]),
        }
        for r in doc.get("rate_card", ())
    ]


def listing_document(listing: Influencer) -> dict[str, Any]:
    return {
        "display_name": listing.display_name,
        "bio": listing.bio,
        "topics": listing.topics,
        "content_samples": listing.content_samples,
        "audience": listing.audience,
        "rate_card": listing.rate_card,
    }


async def reindex_listing(
    session: AsyncSession, listing: Influencer, accounts: Sequence[SocialAccount]
) -> None:
    """Recompute a listing's derived columns and replace its side-table rows."""
    doc = listing_document(listing)
    derived = listing_derived(
        doc, [{"followers": a.followers, "handle": a.handle} for a in accounts]
    )
    listing.max_followers = derived["max_followers"]
    listing.search_text = derived["search_text"]
    for table, rows in (
        (ListingTopic, listing_topic_rows(listing.id, doc)),
        (ListingCountry, listing_country_rows(listing.id, doc)),
        (ListingRate, listing_rate_rows(listing.id, doc)),
    ):
        await session.execute(delete(table).where(table.influencer_id == listing.id))
        if rows:
            await session.execute(insert(table), rows)
    await session.flush()


# --- briefs ------------------------------------------------------------------------------------


def brief_search_text(doc: Mapping[str, Any]) -> str:
    return search_text(
        [
            doc["title"],
            doc.get("description") or "",
            *doc.get("must_haves", ()),
            *doc.get("topics", ()),
            doc.get("category") or "",
        ]
    )


# The tables that hold one row per value of a brief's list fields, each keyed by `brief_id`.
BriefSideTable = type[BriefTopic | BriefPlatform | BriefCountry | BriefDeliverableType]


def brief_side_rows(
    brief_id: str, doc: Mapping[str, Any]
) -> dict[BriefSideTable, list[dict[str, Any]]]:
    audience = doc.get("target_audience") or {}
    return {
        BriefTopic: [{"brief_id": brief_id, "topic": t} for t in dict.fromkeys(doc["topics"])],
        BriefPlatform: [
            {"brief_id": brief_id, "platform": p} for p in dict.fromkeys(doc["platforms"])
        ],
        BriefCountry: [
            {"brief_id": brief_id, "country": c}
            for c in dict.fromkeys(audience.get("countries", ()))
        ],
        BriefDeliverableType: [
            {"brief_id": brief_id, "deliverable_type": t}
            for t in dict.fromkeys(d["type"] for d in doc["deliverables"])
        ],
    }


def brief_document(brief: Brief) -> dict[str, Any]:
    return {
        "title": brief.title,
        "description": brief.description,
        "must_haves": brief.must_haves,
        "topics": brief.topics,
        "category": brief.category,
        "platforms": brief.platforms,
        "deliverables": brief.deliverables,
        "target_audience": brief.target_audience,
    }


async def reindex_brief(session: AsyncSession, brief: Brief) -> None:
    doc = brief_document(brief)
    brief.search_text = brief_search_text(doc)
    for table, rows in brief_side_rows(brief.id, doc).items():
        await session.execute(delete(table).where(table.brief_id == brief.id))
        if rows:
            await session.execute(insert(table), rows)
    await session.flush()


def as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
