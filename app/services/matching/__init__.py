"""Explainable matching of listings to briefs (and briefs to listings).

Feed the index listing dicts in the catalogue's shape (docs/design/catalogue-shapes.md):

    index = ListingIndex.build(listing_dicts, as_of=date.today())
    # or page by page: b = IndexBuilder(as_of=...); b.add_many(page) ...; index = b.finish()
    index.upsert(listing_dict)          # after a listing changes
    index.remove(listing_id)            # after a listing is deleted
    matches = rank(index, brief_dict, limit=20, blocked_ids=brand["blocked_influencers"])
    for m in matches: m.listing_id, m.score, m.components["audience_fit"]  # (value, reason)
    next_page = rank(index, brief_dict, offset_cursor=matches[-1].cursor)
    why_not = filtered_out_reason(index, brief_dict, listing_id, exclusivity_conflicts=...)
    briefs = rank_briefs_for_listing(listing_dict, open_brief_dicts, index=index)

See ``scoring`` for the components and weights and ``index`` for memory per listing.
"""

from app.services.matching.index import IndexBuilder, ListingIndex
from app.services.matching.scoring import (
    COMPONENTS,
    DEFAULT_WEIGHTS,
    BriefMatch,
    Match,
    RankFilters,
    filtered_out_reason,
    hard_filter_mask,
    rank,
    rank_briefs_for_listing,
    resolve_weights,
)

__all__ = [
    "COMPONENTS",
    "DEFAULT_WEIGHTS",
    "BriefMatch",
    "IndexBuilder",
    "ListingIndex",
    "Match",
    "RankFilters",
    "filtered_out_reason",
    "hard_filter_mask",
    "rank",
    "rank_briefs_for_listing",
    "resolve_weights",
]
