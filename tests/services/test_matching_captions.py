"""Captions of recent posts as topic-depth evidence (issue 13, item 3), on hand-built listings:
each captioned post is one more sample of what the creator posts, placed under a topic like a
content sample; a listing without captions ranks as it did."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from app.services.matching import ListingIndex, rank
from app.services.matching.posts import CAPTION_CHARS, CAPTIONS_MAX, listing_captions
from tests.services.test_matching import AS_OF, BRIEF, GAMING_TEXTS, account, listing
from tests.services.test_matching import build as build_with_fillers

ON_SUBJECT = [
    "Overnight oats with tofu and berries before the long run #veganfood",
    "Lentil and chickpea bowl, my race-week lunch",
    "Tempeh wraps after a trail run, recipe below",
    "Oat milk smoothie with cashew for recovery",
    "Vegan breakfast bowls: oats, tofu, smoothie",
    "Hummus and lentils, the plant-based race fuel",
]
OFF_SUBJECT = GAMING_TEXTS


def captioned_posts(captions: list[str | None], **fields: Any) -> list[dict[str, Any]]:
    """One post a day before the index's as-of date per caption, newest first."""
    return [
        {
            "posted_at": f"{(AS_OF - timedelta(days=1 + k)).isoformat()}T12:00:00Z",
            "views": 16_000,
            "likes": 1_500,
            "comments": 45,
            "shares": None,
            "saves": None,
            "sponsored": False,
            "caption": caption,
        }
        | fields
        for k, caption in enumerate(captions)
    ]


def with_captions(lid: str, captions: list[str | None], **post_fields: Any) -> dict[str, Any]:
    """The honest vegan-food and running creator (three content samples on the brief's
    subject), its account's recent posts carrying `captions`."""
    acc = account() | {"recent_posts": captioned_posts(captions, **post_fields)}
    return listing(lid, accounts=[acc])


def build(*listings: dict[str, Any]) -> ListingIndex:
    """The listings, two plain creators on the brief's subject (a topic needs three listings
    declaring it for a profile samples are placed under) and the gaming fillers."""
    return build_with_fillers(*listings, listing("inf_y_main"), listing("inf_z_main"))


def by_id(index: ListingIndex, brief: dict[str, Any] = BRIEF) -> dict[str, Any]:
    return {m.listing_id: m for m in rank(index, brief, limit=50)}


def depth_reason(match: Any) -> str:
    return str(match.components["topic_relevance"][1])


# --- which captions count -------------------------------------------------------------------


def test_the_newest_organic_captions_count_once_each_truncated() -> None:
    """Newest first over the accounts (time zones compared as instants), at most CAPTIONS_MAX,
    each cut to CAPTION_CHARS; unknown, empty, emoji-only, sponsored and repeated texts (a
    cross-post, or a content sample sent as a caption too) left out."""
    older = [
        {"posted_at": f"2026-10-{day:02d}T12:00:00Z", "caption": f"Oat bowl number {day}"}
        for day in range(1, 21)
    ]
    newest = [
        # 09:30 in Stockholm is 08:30 UTC: older than the 09:00 UTC post of the same day.
        {"posted_at": "2026-11-20T09:30:00+01:00", "caption": "  Second newest  "},
        {"posted_at": "2026-11-20T09:00:00Z", "caption": "Newest " + "x" * 3000},
        {"posted_at": "2026-11-21T09:00:00Z", "caption": None},
        {"posted_at": "2026-11-21T09:00:00Z", "caption": ""},
        {"posted_at": "2026-11-21T09:00:00Z", "caption": "🔥🔥"},
        {"posted_at": "2026-11-21T09:00:00Z", "caption": "Paid: oat drink", "sponsored": True},
        {"posted_at": "2026-11-19T09:00:00Z", "caption": "SECOND newest!"},  # cross-posted
        {"posted_at": "2026-11-18T09:00:00Z", "caption": "My content sample"},
        {"posted_at": "2026-11-17T09:00:00Z"},  # no caption key: from before captions
    ]
    accounts = [{"recent_posts": older}, {"recent_posts": newest}]
    got = listing_captions(accounts, ["my content sample."])
    assert len(got) == CAPTIONS_MAX
    assert got[0] == ("Newest " + "x" * 3000)[:CAPTION_CHARS]
    assert got[1] == "Second newest"
    assert got[2:] == [f"Oat bowl number {day}" for day in range(20, 20 - CAPTIONS_MAX + 2, -1)]
    undated = {"posted_at": "x", "caption": "Undated"}  # unreadable: the oldest
    assert listing_captions([{"recent_posts": [undated, *older[:1]]}]) == [
        "Oat bowl number 1",
        "Undated",
    ]
    assert (
        listing_captions([{"recent_posts": [{"posted_at": "2026-11-01", "caption": None}]}]) == []
    )


# --- captions deepen or spread a subject ----------------------------------------------------


def test_a_creator_whose_captions_are_mostly_on_another_subject_ranks_below() -> None:
    """Two creators alike in everything (bio, topics, the same three content samples on the
    brief's subject, counts) but their posts' captions: the one posting about gaming covers
    the brief on the side, the one posting about its subject has it as the main one. Before
    captions counted the two tied (ids sort the off-subject creator first)."""
    off = with_captions("inf_a_off", OFF_SUBJECT * 2)
    on = with_captions("inf_b_on", ON_SUBJECT * 2)
    index = build(off, on)
    m = by_id(index)
    assert (
        m["inf_b_on"].components["topic_relevance"][0]
        > (m["inf_a_off"].components["topic_relevance"][0])
    )
    assert m["inf_b_on"].score > m["inf_a_off"].score
    order = [x for x in m if x in ("inf_a_off", "inf_b_on")]
    assert order == ["inf_b_on", "inf_a_off"]
    # Repeated captions count once: the three samples and the distinct captions placed.
    side = r" content samples and post captions on the brief's subject \(a side subject"
    assert re.search(r"; 3 of ([6-9]|1[0-3])" + side, depth_reason(m["inf_a_off"])), depth_reason(
        m["inf_a_off"]
    )
    assert (
        "; 9 of 9 content samples and post captions on the brief's subject (a main subject)"
        in depth_reason(m["inf_b_on"])
    ), depth_reason(m["inf_b_on"])


def test_captions_alone_judge_depth_for_a_creator_without_content_samples() -> None:
    """No content samples: without captions no judgement (fewer than three placed); with
    captions mostly about gaming, a side subject."""
    bare = with_captions("inf_c_bare", [None] * 7) | {"content_samples": []}
    off = with_captions("inf_a_off", OFF_SUBJECT[:6] + ON_SUBJECT[:1]) | {"content_samples": []}
    m = by_id(build(off, bare))
    assert m["inf_c_bare"].score > m["inf_a_off"].score
    assert "content samples" not in depth_reason(m["inf_c_bare"])
    assert re.search(
        r"; 1 of [3-7] content samples and post captions on the brief's subject \(a side subject",
        depth_reason(m["inf_a_off"]),
    ), depth_reason(m["inf_a_off"])


def test_sponsored_captions_do_not_spread_a_subject() -> None:
    """Paid posts about another subject are the advertiser's subject: left out."""
    paid = with_captions("inf_a_paid", OFF_SUBJECT, sponsored=True)
    plain = with_captions("inf_b_plain", [None] * len(OFF_SUBJECT), sponsored=True)
    m = by_id(build(paid, plain))
    assert m["inf_a_paid"].score == m["inf_b_plain"].score
    assert "post captions" not in depth_reason(m["inf_a_paid"])


def test_a_partner_sending_hundreds_of_long_captions_counts_the_newest_few() -> None:
    """100 posts of 5,000 characters on each of three accounts, all on the brief's subject:
    the index places the newest CAPTIONS_MAX besides the three content samples."""
    accounts = [
        account(platform)
        | {
            "recent_posts": captioned_posts(
                [
                    f"{ON_SUBJECT[k % len(ON_SUBJECT)]} {platform} day {k} {'oat ' * 1250}"[:5000]
                    for k in range(100)
                ]
            )
        }
        for platform in ("instagram", "tiktok", "youtube")
    ]
    index = build(listing("inf_a_many", accounts=accounts))
    row = index.row_of["inf_a_many"]
    assert int(index.cols["samples_placed"][row]) == 3 + CAPTIONS_MAX
    reason = depth_reason(by_id(index)["inf_a_many"])
    assert f"; {3 + CAPTIONS_MAX} of {3 + CAPTIONS_MAX} content samples and post captions" in (
        reason
    ), reason


# --- without captions, nothing changes ------------------------------------------------------


def _scores(index: ListingIndex, lids: list[str]) -> dict[str, Any]:
    m = by_id(index)
    return {lid: (m[lid].score, m[lid].components) for lid in lids}


@pytest.mark.parametrize("caption", [None, "", "absent"])
def test_a_listing_without_captions_ranks_exactly_as_before(caption: str | None) -> None:
    """Posts whose caption is unknown, empty or not sent leave a listing's score, components
    and reasons as they were; and other listings sending captions change nothing for it
    (captions stay out of the text vector and its IDF)."""

    def uncaptioned(lid: str, caption: str | None = None) -> dict[str, Any]:
        listed = with_captions(lid, [caption] * 6)
        if caption == "absent":  # the shape of posts sent before captions existed
            for post in listed["accounts"][0]["recent_posts"]:
                del post["caption"]
        return listed

    def ranked(caption: str | None, spread: list[str | None]) -> dict[str, Any]:
        index = build(
            uncaptioned("inf_b_plain", caption),
            listing("inf_c_main"),
            uncaptioned("inf_e_main", caption),
            with_captions("inf_d_spread", spread),
        )
        return _scores(index, ["inf_b_plain", "inf_c_main", "inf_e_main"])

    before = ranked("absent", [None] * len(OFF_SUBJECT))
    assert ranked(caption, [None] * len(OFF_SUBJECT)) == before
    # Another listing sending captions (the same listing otherwise) changes nothing for them.
    assert ranked(caption, list(OFF_SUBJECT)) == before
    reason = before["inf_b_plain"][1]["topic_relevance"][1]
    assert "; 3 of 3 content samples on the brief's subject (a main subject)" in reason


def test_captions_survive_upsert_compaction_and_the_store(tmp_path: Any) -> None:
    """An upserted listing's captions are placed with the fitted profiles; compaction keeps the
    placement and its reason, and a stored generation maps them back."""
    from app.services.matching.store import IndexStore

    index = build(listing("inf_b_main"), listing("inf_c_main"), listing("inf_d_main"))
    index.upsert(with_captions("inf_a_off", OFF_SUBJECT * 2))

    def view(ix: ListingIndex) -> dict[str, tuple[float, str]]:
        """Score and the reason's depth part (compaction refits IDF: text similarity moves)."""
        depth = re.compile(r"\d+ of \d+ [^;]* on the brief's subject \([^)]*\)")
        out = {}
        for lid, m in by_id(ix).items():
            found = depth.search(depth_reason(m))
            out[lid] = (m.score, found.group(0) if found else "")
        return out

    before = view(index)
    assert before["inf_a_off"][0] < before["inf_b_main"][0]
    assert (
        "content samples and post captions on the brief's subject (a side subject"
        in (before["inf_a_off"][1])
    )
    index.compact()
    after = view(index)
    assert after["inf_a_off"][1] == before["inf_a_off"][1]
    assert after["inf_a_off"][0] < after["inf_b_main"][0]
    store = IndexStore(tmp_path)
    generation = store.load(store.write(index, {}))
    assert generation is not None
    assert view(generation.index) == after


def test_the_text_similarity_follows_the_words_and_the_depth_ends_the_reason() -> None:
    """The topic reason read "... on the brief's subject (a main subject) (text similarity
    0.49)": two brackets in a row, the similarity after the depth it has nothing to do with."""
    m = by_id(build(with_captions("inf_b_on", ON_SUBJECT * 2)))
    reason = m["inf_b_on"].components["topic_relevance"][1]
    words, found, depth = reason.partition(
        "; 9 of 9 content samples and post captions on the brief's subject"
    )
    assert found, reason
    assert re.search(r"; content mentions .+ \(text similarity \d\.\d\d\)$", words), reason
    assert depth == " (a main subject)", reason
