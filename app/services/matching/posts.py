"""What an account's recent posts and comment samples say (issue 13), per listing, in plain
Python at extraction time; the index keeps only the few numbers the ranking reads.

- **Averages from posts.** An average the creator did not report (null) is taken from the
  posts that carry the count; one that no post carries stays unknown. Unknown is never 0.
- **Likes per view.** The median over posts with both counts (else the two averages): likes
  far above what views support are likes without an audience behind them (bought likes,
  engagement pods).
- **A viral post.** A post with many times the account's usual views: a follower jump in the
  weeks after it is growth the audience earned, not followers bought.
- **Sponsored share.** The share of the last 90 days' posts flagged sponsored, among the posts
  whose flag is known; with too few known flags it is unknown (the declared sponsored posts
  and the posting rate are used instead).
- **Captions.** The text of the newest organic posts (``listing_captions``), which the index
  places under the creator's topics like content samples (topic depth).
- **Low-effort comments.** The share of sampled comments that are emoji or punctuation only,
  a short generic compliment, or a short repeat of another comment in the sample. Every popular
  account gets some; an engagement pod's comments are mostly that. Too small a sample is
  unknown.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

MIN_POSTS = 3  # posts with a count before a per-post figure counts
MIN_FLAGGED_POSTS = 5  # posts with a known sponsored flag before the share counts
MIN_COMMENTS = 10  # sampled comments before their share counts
VIRAL_VIEWS = 8.0  # a post with this many times the account's median views is viral
GENERIC_MAX_WORDS = 5
# Captions that count for topic depth: the newest CAPTIONS_MAX of a listing (over its accounts),
# each its first CAPTION_CHARS characters (a caption's subject is in its words and hashtags, not
# in its length): a partner sending 100 posts of 5,000 characters on each of 20 accounts costs
# the index build a date read per post and a dozen samples, not 2,000 texts.
CAPTIONS_MAX = 12
CAPTION_CHARS = 1000

# Words of short, generic compliments and filler in the languages creators write in most; a
# comment made only of these (and emoji) says nothing about the post. Not exhaustive: a
# comment it misses is counted as a real one, which errs on the creator's side.
GENERIC_WORDS = frozenset(
    """
    a all always amazing an and are as awesome back beautiful best big brilliant check collab
    content cool cute dm do done ever everything excellent fab fabulous fantastic feed fire
    follow followed following for from gorgeous good great happy hello hey hi huge i in
    incredible insane inspiration inspiring inspo is it its job just keep king legend lit
    literally look looking lovely love loved loving lol lmao me mood much my need nice now
    of oh omg on one out page perfect perfection pic pics photo photos post posts pretty
    profile queen really same send sending shine shining slay so stunning super sweet thank
    thanks that the this those to too top u up ur vibe vibes video vid wait wonderful work
    wow wowww yay yes yess yesss you your yours goals obsessed dope sick bomb epic
    que qué lindo linda lindos lindas hermoso hermosa bonito bonita precioso preciosa genial
    increible increíble me encanta encantó muy bueno buena buenísimo guapa guapo wow top
    maravilloso maravillosa excelente felicidades bello bella bellissimo bellissima stupendo
    stupenda fantastico fantastica bravo brava grande
    maravilhoso maravilhosa incrível incrivel demais amei amo perfeito perfeita muito bom boa
    show arrasou sensacional lindíssima lindissima parabéns parabens top
    toll schön schoen super geil mega wunderschön klasse sehr gut richtig hammer krass
    wahnsinn danke liebe
    trop beau belle magnifique génial genial superbe adore j'adore bravo très tres joli jolie
    canon sublime merci
    """.split()
)
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
# Kana and CJK ideographs: Japanese and Chinese are written without spaces, so one regex "word"
# is a whole sentence; it counts as one word per ``CJK_CHARS_PER_WORD`` characters.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CJK_CHARS_PER_WORD = 2


@dataclass(frozen=True)
class AccountPosts:
    """One account's per-post summary (None: unknown)."""

    likes: float | None  # average per post (reported, else from the posts)
    comments: float | None
    views: float | None
    shares: float | None
    saves: float | None
    likes_per_view: float | None
    viral_day: int | None  # day number (since 1970-01-01) of the most viral post, if any
    viral_factor: float | None  # its views over the account's median views
    n_posts: int  # posts with at least one count
    newest: str  # ISO date of the newest dated post ("": none dated)


def _mean(values: Iterable[int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if len(known) >= MIN_POSTS else None


def _day(when: str) -> int:
    return (date.fromisoformat(when[:10]) - date(1970, 1, 1)).days


def account_posts(account: Mapping[str, Any]) -> AccountPosts:
    """The account's averages, likes per view and most viral post, from what it reports."""
    posts = [p for p in account.get("recent_posts") or () if isinstance(p, Mapping)]

    def average(key: str) -> float | None:
        reported = account.get(f"avg_{key}")
        if reported is not None:
            return float(reported)
        return _mean(p.get(key) for p in posts)

    likes, views = average("likes"), average("views")
    per_view = [
        p["likes"] / p["views"]
        for p in posts
        if p.get("likes") is not None and p.get("views") is not None and p["views"] > 0
    ]
    if len(per_view) >= MIN_POSTS:
        likes_per_view: float | None = statistics.median(per_view)
    elif likes is not None and views:
        likes_per_view = likes / views
    else:
        likes_per_view = None

    viral_day: int | None = None
    viral_factor: float | None = None
    seen = [(p["views"], p.get("posted_at") or "") for p in posts if p.get("views") is not None]
    if len(seen) >= MIN_POSTS:
        median = statistics.median(v for v, _ in seen)
        top, when = max(seen)
        if median > 0 and top >= VIRAL_VIEWS * median and when:
            viral_day, viral_factor = _day(when), top / median
    counted = sum(
        any(p.get(k) is not None for k in ("views", "likes", "comments", "shares", "saves"))
        for p in posts
    )
    newest = max((str(p.get("posted_at") or "")[:10] for p in posts), default="")
    return AccountPosts(
        likes=likes,
        comments=average("comments"),
        views=views,
        shares=average("shares"),
        saves=average("saves"),
        likes_per_view=likes_per_view,
        viral_day=viral_day,
        viral_factor=viral_factor,
        n_posts=counted,
        newest=newest,
    )


def sponsored_share(accounts: Iterable[Mapping[str, Any]], since: str) -> tuple[float, int]:
    """(share flagged sponsored, posts with a known flag) over posts on or after `since` (an
    ISO date); the share is NaN with fewer than ``MIN_FLAGGED_POSTS`` known flags."""
    known = sponsored = 0
    for account in accounts:
        for post in account.get("recent_posts") or ():
            flag = post.get("sponsored")
            if flag is None or (post.get("posted_at") or "")[:10] < since:
                continue
            known += 1
            sponsored += bool(flag)
    if known < MIN_FLAGGED_POSTS:
        return float("nan"), known
    return sponsored / known, known


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    return " ".join(_WORD.findall(text))


def _n_words(words: list[str]) -> int:
    """Words in a normalised comment, a run of kana or ideographs counting one per
    ``CJK_CHARS_PER_WORD`` characters ("カセットについてもっと知りたいです" is a sentence, not a
    word)."""
    return sum(-(-len(w) // CJK_CHARS_PER_WORD) if _CJK.search(w) else 1 for w in words)


def low_effort_share(samples: Iterable[str]) -> tuple[float, int]:
    """(share of low-effort comments, comments sampled); NaN below ``MIN_COMMENTS``.

    Low effort: no letters at all (emoji, punctuation), a short comment (at most
    ``GENERIC_MAX_WORDS`` words) of generic words only, or a short comment with the same text
    as an earlier one in the sample (after case, punctuation and emoji are set aside). A
    longer sentence said twice is not counted: followers ask the same question. Text without
    spaces (Japanese, Chinese) is measured in characters (``_n_words``)."""
    seen: set[str] = set()
    n = low = 0
    for raw in samples:
        n += 1
        norm = _normalise(raw)
        words = norm.split()
        short = _n_words(words) <= GENERIC_MAX_WORDS
        if not any(ch.isalpha() for ch in norm) or (short and norm in seen):
            low += 1
        elif short and all(w in GENERIC_WORDS for w in words):
            low += 1
        seen.add(norm)
    if n < MIN_COMMENTS:
        return float("nan"), n
    return low / n, n


def _posted(post: Mapping[str, Any]) -> datetime:
    """When a post went live (a time without a zone read as UTC); unreadable: the oldest."""
    try:
        when = datetime.fromisoformat(str(post.get("posted_at") or ""))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def listing_captions(
    accounts: Iterable[Mapping[str, Any]], content_samples: Iterable[str] = ()
) -> list[str]:
    """The captions of the listing's newest recent posts, newest first, for topic depth: at
    most ``CAPTIONS_MAX``, each its first ``CAPTION_CHARS`` characters.

    Left out: posts without text (null: unknown, or ""), posts flagged sponsored (a paid
    post's subject is the advertiser's, not what the creator's audience follows them for),
    captions without a word (emoji only), and a caption whose text (case, punctuation and
    emoji set aside) is a content sample's or a newer caption's: the same post cross-posted to
    another platform, or sent as a content sample too, is one piece of content, counted
    once."""
    found: list[tuple[Mapping[str, Any], str]] = []
    for account in accounts:
        for post in account.get("recent_posts") or ():
            caption = post.get("caption")  # most posts have none: the cheap test first
            if caption and isinstance(caption, str) and post.get("sponsored") is not True:
                found.append((post, caption))
    if not found:
        return []
    found.sort(key=lambda item: _posted(item[0]), reverse=True)  # stable: ties keep their order
    seen = {_normalise(sample) for sample in content_samples}
    out: list[str] = []
    for _, caption in found:
        key = _normalise(caption)
        if not key or key in seen:  # no words (emoji only), or said already
            continue
        seen.add(key)
        out.append(caption.strip()[:CAPTION_CHARS])
        if len(out) == CAPTIONS_MAX:
            break
    return out


def listing_comments(accounts: Iterable[Mapping[str, Any]]) -> list[str]:
    return [text for a in accounts for text in a.get("comment_samples") or ()]


__all__ = [
    "AccountPosts",
    "account_posts",
    "listing_captions",
    "listing_comments",
    "low_effort_share",
    "sponsored_share",
]
