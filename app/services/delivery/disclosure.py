"""Disclosure compliance checker for paid influencer posts.

``check_disclosure(platform, text, paid_partnership_label)`` decides whether a paid post is
clearly disclosed and explains why in plain sentences. It is a heuristic pre-check that
catches the common mistakes regulators act on; it is not legal advice.

Sources the rules are drawn from
--------------------------------
- US: FTC Endorsement Guides (16 CFR Part 255, revised 2023) and "Disclosures 101 for
  Social Media Influencers": disclose clearly and conspicuously, where people will see it
  without clicking "more"; "#ad", "Advertisement", "Sponsored" and "Paid partnership" work;
  "#sp", "#spon", "#collab", "#ambassador", "#thanks" or "#partner" alone are ambiguous; a
  disclosure mixed into a group of hashtags or links is easy to miss.
- UK: ASA/CAP code and "Influencers' guide to making clear that ads are ads" (with the
  CMA): use "#ad" / "Advert" up front; "#sp", "#spon", "#collab", "#gifted" (for a paid
  post), "#affiliate" alone are not enough; a label buried among other hashtags at the end
  fails. The ASA also advises adding "#ad" even when the platform label is on; Rapport
  accepts the platform label alone (below) and leaves that stricter UK reading to the user.
- Germany: Landesmedienanstalten, "Leitfaden der Medienanstalten: Werbekennzeichnung bei
  Online-Medien": "Werbung" or "Anzeige" at the start; "#sponsoredby", "#kooperation"
  and English-only tags are not enough for a German audience.
- France: loi n 2023-451 du 9 juin 2023 ("loi influenceurs") and the ARPP
  recommendation: "Publicite" or "Collaboration commerciale" must be shown clearly;
  "#partenariat" alone does not meet the law's wording.
- Spain: Ley 13/2022 General de Comunicacion Audiovisual, Real Decreto 444/2024 and the
  Autocontrol "Codigo de conducta sobre el uso de influencers en la publicidad":
  "publicidad", "publi", "patrocinado por"; "#sp", "#spon", "#colab" alone are not enough.
- Italy: IAP "Digital Chart" and AGCOM guidelines: "Pubblicita", "Sponsorizzato da",
  "#adv", "#ad". Netherlands: Reclamecode Social Media & Influencer Marketing: "#reclame",
  "gesponsord door", "#ad". Portugal/Brazil: DGC guide and CONAR: "#publi",
  "#publicidade", "#publipost". Sweden: Konsumentverket: "reklam" or "annons";
  "samarbete" alone is not enough. Denmark/Norway: "reklame", "annonse". Poland: "reklama".

Rules implemented
-----------------
1. **Markers** (case-insensitive; accents are ignored when matching, so ``#publicite`` and
   ``#publicité`` are the same tag):

   - *Hashtags* in ``ACCEPTED_HASHTAGS``. A hashtag is a whole token: ``#`` not preceded
     by a letter, digit, ``&`` or ``/``, followed by word characters, optionally joined by
     hyphens; so ``#adventure``, ``#adidas``, ``#ad-free`` and ``word#ad`` are not ``#ad``,
     while ``#ad.``, ``#ad,`` and ``#ad!`` are. Glued tags (``#ad#fashion``) are split.
   - *Phrases* in ``_PHRASES`` anywhere in the text ("Paid partnership", "Sponsored by",
     "This is an ad", "Bezahlte Partnerschaft", "Collaboration commerciale",
     "Patrocinado por", ...), unless negated just before ("not a paid partnership").
   - *Label words* in ``LABEL_WORDS`` ("Ad", "Advertisement", "Sponsored", "Anzeige",
     "Werbung", "Publicite", "Publicidad", "Reklam", ...) only when used as a label: in
     brackets (``[Ad]``, ``(Werbung)``) or at the start of a line followed by a separator
     (``:``, ``|``, ``/``, `` - ``, ``*``, ``.``), a preposition naming the brand
     ("Reklam för @hm", "Werbung für", "Ad for") or the end of the line ("Ad: ...",
     "ANZEIGE | ...", "Werbung" alone on the first line). A bare word mid-sentence
     ("ich mag keine Werbung") or before other words ("Ad astra") is not a label.
   - *Ambiguous hashtags* in ``AMBIGUOUS_HASHTAGS`` (``#sp``, ``#spon``, ``#partner``,
     ``#collab``, ``#ambassador``, ``#thanks``, ``#gifted``, ``#partenariat``,
     ``#samarbete``, ...) never count, and each one found gets its own reason
     ("#sp is ambiguous; use #ad.").
   - Anything inside a URL (``https://x.com/#ad``) never counts.

2. **Placement.** A marker counts only if it ends within the first ``visible_chars``
   characters of the text (leading whitespace is skipped), i.e. where a viewer sees it
   without expanding the post:

   ========== ====== ===========================================================
   platform   chars  why
   ========== ====== ===========================================================
   instagram  125    the feed truncates captions at about 125 characters ("more")
   tiktok     100    captions show about two lines (~100 chars) before "more"
   youtube    150    the title plus the first description lines above "Show more"
   twitch     140    the stream title (Twitch's title limit is 140 characters)
   x          280    a standard post is shown whole; longer posts fold at 280
   blog       300    the top of the article, and also before the first link
   podcast    200    the start of the show notes / ad-read script
   ========== ====== ===========================================================

   Blogs also require the marker to come before the first link (URL, ``<a`` tag or
   Markdown link): readers must know before they click an affiliate/sponsored link.
   Only characters are counted; line breaks are not weighted.

3. **Not buried.** The *tail block* is the maximal run at the end of the text made only of
   hashtags, @mentions, whitespace and punctuation/emoji. A marker hashtag in a tail block
   of 3 or more hashtags is "buried among N hashtags at the end" and fails, unless it is
   the first hashtag of the block *and* within the visible window (a caption that leads
   its closing hashtags with ``#ad`` inside the fold is fine). A marker that leads a tail
   block beyond the window is still buried (and beyond the fold). Phrases and label words
   are never buried (they are words, which end the tail block).

4. **Platform label.** ``paid_partnership_label=True`` passes on its own on platforms with
   a native, viewer-visible label: instagram ("Paid partnership"), tiktok (content
   disclosure setting, shown as "Paid partnership"), youtube ("Includes paid promotion")
   and twitch (the "Branded content" stream setting). X has no creator-facing
   paid-partnership toggle we rely on, and blogs and podcasts have none, so there the flag
   alone does not pass and the reasons say so. ``None`` means "unknown" and, like
   ``False``, does not pass.

5. Empty or whitespace-only text without a valid label fails with its own reason.

6. Several valid markers: the earliest visible one is reported.

``position`` is a character offset into the NFC-normalised text (the same as the input
for normally composed text); it is ``None`` when only the platform label passes.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from types import MappingProxyType

BURIED_MIN_HASHTAGS = 3
MAX_LISTED_FINDINGS = 10  # per result, so a spammy caption cannot produce huge responses


@dataclass(frozen=True)
class DisclosureResult:
    """Outcome of a disclosure check; ``reasons`` is never empty."""

    passed: bool
    reasons: list[str]
    marker: str | None
    position: int | None


@dataclass(frozen=True)
class PlatformRule:
    """How much of a post is visible without expanding it, and the native label if any."""

    visible_chars: int
    where: str
    label_name: str | None
    before_first_link: bool = False


PLATFORM_RULES: MappingProxyType[str, PlatformRule] = MappingProxyType(
    {
        "instagram": PlatformRule(
            125, "before Instagram cuts the caption off with 'more'", "Paid partnership"
        ),
        "tiktok": PlatformRule(
            100, "before TikTok truncates the caption", "Paid partnership (content disclosure)"
        ),
        "youtube": PlatformRule(
            150,
            "in the title and first description lines above 'Show more'",
            "Includes paid promotion",
        ),
        "twitch": PlatformRule(140, "in the stream title", "Branded content"),
        "x": PlatformRule(280, "before X folds a long post behind 'Show more'", None),
        "blog": PlatformRule(300, "at the top of the article", None, before_first_link=True),
        "podcast": PlatformRule(200, "at the start of the show notes or ad read", None),
    }
)
SUPPORTED_PLATFORMS: frozenset[str] = frozenset(PLATFORM_RULES)

# Accepted hashtags, keyed by the lower-case, accent-free tag; value = language(s).
ACCEPTED_HASHTAGS: MappingProxyType[str, str] = MappingProxyType(
    {
        "ad": "en",
        "advert": "en",
        "advertisement": "en",
        "advertising": "en",
        "sponsored": "en",
        "paidpartnership": "en",
        "paidpartner": "en",
        "paidad": "en",
        "anzeige": "de",
        "werbung": "de",
        "pub": "fr",
        "publicite": "fr",
        "collaborationcommerciale": "fr",
        "partenariatremunere": "fr",
        "sponsorise": "fr",
        "publicidad": "es",
        "patrocinado": "es, pt",
        "patrocinada": "es, pt",
        "publi": "es, pt",
        "pubblicita": "it",
        "adv": "it",
        "sponsorizzato": "it",
        "sponsorizzata": "it",
        "reclame": "nl",
        "gesponsord": "nl",
        "advertentie": "nl",
        "publicidade": "pt",
        "publipost": "pt",
        "reklam": "sv",
        "annons": "sv",
        "reklame": "da, no",
        "annonse": "no",
        "reklama": "pl",
    }
)

# Hashtags that look like disclosures but are not, with the advice given for each.
AMBIGUOUS_HASHTAGS: MappingProxyType[str, str] = MappingProxyType(
    {
        "sp": "use #ad",
        "spon": "use #ad",
        "sponso": "use #ad",
        "sponsor": "use #sponsored or #ad",
        "partner": "the FTC calls it ambiguous on its own; use #ad",
        "partnership": "use #paidpartnership or #ad",
        "collab": "use #ad",
        "colab": "use #ad",
        "collaboration": "use #ad",
        "ambassador": "being an ambassador does not say this post is paid; use #ad",
        "brandambassador": "being an ambassador does not say this post is paid; use #ad",
        "thanks": "use #ad",
        "thankyou": "use #ad",
        "gifted": "it only discloses a free gift; a paid post needs #ad",
        "gift": "it only discloses a free gift; a paid post needs #ad",
        "affiliate": "use #ad next to affiliate links",
        "aff": "use #ad next to affiliate links",
        "promo": "use #ad",
        "kooperation": "German media authorities require #anzeige or #werbung",
        "partenariat": (
            "French law (loi 2023-451) requires 'Publicité' or 'Collaboration commerciale'; "
            "use #publicité"
        ),
        "samarbete": "Konsumentverket requires 'reklam' or 'annons'; use #reklam",
        "samenwerking": "use #reclame or #ad",
        "colaboracion": "use #publicidad",
        "collaborazione": "use #pubblicità or #adv",
        "parceria": "use #publi or #publicidade",
    }
)

# Words that disclose when used as a label (bracketed, or leading a line + separator).
LABEL_WORDS: tuple[str, ...] = (
    "ad",
    "advert",
    "advertisement",
    "advertising",
    "sponsored",
    "anzeige",
    "werbung",
    "publicite",
    "publicidad",
    "pubblicita",
    "publicidade",
    "publi",
    "reclame",
    "advertentie",
    "reklam",
    "reklame",
    "annons",
    "annonse",
    "reklama",
)

# Phrases that disclose anywhere (matched on accent-free text, so no accents here).
_PHRASES: tuple[str, ...] = (
    r"paid partnership",
    r"paid promotion",
    r"sponsored by",
    r"this (?:(?:post|video|reel|episode|stream|tweet) )?is (?:an? )?(?:paid )?"
    r"(?:ad|advert|advertisement)",
    r"bezahlte partnerschaft",
    r"bezahlte werbung",
    r"enthalt werbung",
    r"unterstutzt durch produktplatzierung",
    r"collaboration commerciale",
    r"partenariat remunere",
    r"sponsorise par",
    r"patrocinad[oa] por",
    r"colaboracion (?:pagada|remunerada)",
    r"sponsorizzat[oa] da",
    r"partnership retribuita",
    r"gesponsord door",
    r"betaalde samenwerking",
    r"parceria paga",
    r"betalt partnerskap",
)

_FIX_EXAMPLES = "'#ad', 'Paid partnership', 'Sponsored by <brand>' or a local label such as "
_FIX_EXAMPLES += "#anzeige, #publicité or #publicidad"


def _words_pattern(words: tuple[str, ...]) -> str:
    # Longest first so "advertisement" wins over "ad" at the same position.
    return "|".join(sorted(words, key=len, reverse=True))


_HASHTAG_RE = re.compile(r"#(\w+(?:-\w+)*)")
_MENTION_RE = re.compile(r"(?<![\w@])@\w[\w.]*")
_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_LINK_START_RE = re.compile(r"(?:https?://|www\.)|<a\s|\[[^\]\n]*\]\(", re.IGNORECASE)
_PHRASE_RE = re.compile(
    r"(?<![\w#@/])(?:" + "|".join(p.replace(" ", r"\s+") for p in _PHRASES) + r")(?!\w)",
    re.IGNORECASE,
)
_LABEL = _words_pattern(LABEL_WORDS)
_BRACKETED_LABEL_RE = re.compile(rf"[\[(]\s*(?:{_LABEL})\s*[\])]", re.IGNORECASE)
_LEADING_LABEL_RE = re.compile(
    rf"^[^\w\n#@]{{0,8}}?(?P<word>{_LABEL})"
    r"(?=[ \t]*(?:$|[:|/*!.,)\]\u2013\u2014\u2022\u00b7]|[ \t][-\u2013\u2014][ \t])"
    # ... or by a preposition naming the brand: "Reklam för", "Werbung für", "Ad for".
    r"|[ \t]+(?:for|fur|pour|para|per|voor|por|with|mit|med|avec|con|com|i|en)[ \t])",
    re.IGNORECASE | re.MULTILINE,
)
# Negation right before a phrase: "not a paid partnership", "isn't sponsored by",
# "keine bezahlte Werbung", "no es una colaboración pagada" (up to two words between).
_NEGATION_RE = re.compile(
    r"(?:\b(?:not|no|never|non|nicht|kein|keine|keinen|pas|sin|geen|niet|inte|ej|nao|"
    r"nessuna|nessun)|n['\u2019]t)(?:[ \t]+\w+){0,2}[ \t]+$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Candidate:
    """An accepted marker found in the text (not yet checked for placement)."""

    text: str
    start: int
    end: int
    is_hashtag: bool


@dataclass
class _Scan:
    """Everything the text scan found, positions relative to the normalised text."""

    candidates: list[_Candidate]
    hashtag_spans: list[tuple[int, int]]
    mention_spans: list[tuple[int, int]]
    notes: list[str]  # ambiguous tags, markers inside URLs, negated phrases


def check_disclosure(
    platform: str, text: str, paid_partnership_label: bool | None = None
) -> DisclosureResult:
    """Check that a paid post on ``platform`` is clearly disclosed; see the module docstring.

    Raises ``ValueError`` for an unknown platform.
    """
    key = platform.strip().lower() if isinstance(platform, str) else platform
    rule = PLATFORM_RULES.get(key) if isinstance(key, str) else None
    if rule is None:
        known = ", ".join(sorted(PLATFORM_RULES))
        raise ValueError(f"unknown platform {platform!r}; supported platforms: {known}")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")

    text = unicodedata.normalize("NFC", text)
    label_counts = bool(paid_partnership_label) and rule.label_name is not None
    label_notes = _label_notes(key, rule, paid_partnership_label)

    if not text.strip():
        if label_counts:
            return _label_pass(key, rule, [])
        reasons = [
            "The post text is empty and no paid-partnership label is set, so nothing "
            "discloses the partnership.",
            *label_notes,
            _fix_sentence(key, rule),
        ]
        return DisclosureResult(False, reasons, None, None)

    scan = _scan(text)
    window_end, link_start = _visible_window(text, rule)
    tail_hashtags = _tail_hashtags(text, scan)

    issues: list[str] = []
    for candidate in scan.candidates:
        problems = _placement_problems(candidate, key, rule, window_end, link_start, tail_hashtags)
        if not problems:
            return _marker_pass(key, rule, candidate, paid_partnership_label, scan.notes)
        issues.extend(problems)

    findings = _capped([*issues, *scan.notes])
    if label_counts:
        return _label_pass(key, rule, findings)

    reasons = [*findings, *label_notes]
    if not scan.candidates:
        reasons.insert(0, "No disclosure marker was found in the text.")
    reasons.append(_fix_sentence(key, rule))
    return DisclosureResult(False, reasons, None, None)


# --- scanning ---------------------------------------------------------------------------


def _fold(text: str) -> str:
    """``text`` with accents removed, character for character (same length, same offsets)."""
    return "".join(_fold_char(c) for c in text)


def _fold_char(char: str) -> str:
    if char.isascii():
        return char
    base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
    # Keep the original when folding would change the length (e.g. Hangul syllables).
    return base if len(base) == 1 else char


def _scan(text: str) -> _Scan:
    folded = _fold(text)
    urls = [m.span() for m in _URL_RE.finditer(text)]  # sorted and non-overlapping
    url_starts = [start for start, _ in urls]

    def in_url(start: int, end: int) -> str | None:
        # Only the URL starting at or before ``start`` and the next one can overlap.
        first = max(0, bisect_right(url_starts, start) - 1)
        for url_start, url_end in urls[first : first + 2]:
            if start < url_end and url_start < end:
                return text[url_start:url_end]
        return None

    scan = _Scan([], [], [m.span() for m in _MENTION_RE.finditer(text)], [])
    found: list[_Candidate] = []

    last_hashtag_end = -1
    for match in _HASHTAG_RE.finditer(folded):
        start, end = match.span()
        tag = text[start:end]
        token = match.group(1).casefold()
        url = in_url(start, end)
        if url is not None:
            if token in ACCEPTED_HASHTAGS:
                scan.notes.append(
                    f"'{tag}' appears only inside a link ({url}); text inside a URL is not a "
                    "disclosure."
                )
            continue
        if not _starts_hashtag(folded, start, last_hashtag_end):
            continue
        last_hashtag_end = end
        scan.hashtag_spans.append((start, end))
        if token in ACCEPTED_HASHTAGS:
            found.append(_Candidate(tag, start, end, is_hashtag=True))
        elif token in AMBIGUOUS_HASHTAGS:
            scan.notes.append(f"{tag} is ambiguous; {AMBIGUOUS_HASHTAGS[token]}.")

    for start, end in _word_marker_spans(folded):
        marker = text[start:end]
        url = in_url(start, end)
        if url is not None:
            scan.notes.append(
                f"'{marker}' appears only inside a link ({url}); text inside a URL is not a "
                "disclosure."
            )
        elif _NEGATION_RE.search(folded[max(0, start - 40) : start]):
            scan.notes.append(
                f"'{marker}' at position {start} is negated, so it does not disclose a partnership."
            )
        else:
            found.append(_Candidate(marker, start, end, is_hashtag=False))

    scan.candidates = _drop_overlaps(found)
    return scan


def _starts_hashtag(folded: str, start: int, last_hashtag_end: int) -> bool:
    """A ``#`` starts a hashtag unless glued to a word, an HTML entity (``&#``) or a path."""
    if start == 0 or start == last_hashtag_end:  # glued tags like "#ad#fashion"
        return True
    previous = folded[start - 1]
    return not (previous.isalnum() or previous in "_&/#")


def _word_marker_spans(folded: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _PHRASE_RE.finditer(folded)]
    spans += [m.span() for m in _BRACKETED_LABEL_RE.finditer(folded)]
    spans += [m.span("word") for m in _LEADING_LABEL_RE.finditer(folded)]
    return spans


def _drop_overlaps(candidates: list[_Candidate]) -> list[_Candidate]:
    """Earliest first; of overlapping matches ("[Ad]" and "Ad") keep the first, longest."""
    kept: list[_Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (c.start, -c.end)):
        if kept and candidate.start < kept[-1].end:
            continue
        kept.append(candidate)
    return kept


# --- placement --------------------------------------------------------------------------


def _visible_window(text: str, rule: PlatformRule) -> tuple[int, int | None]:
    """End offset of the part seen without expanding, and the first link's offset (blogs)."""
    leading_space = len(text) - len(text.lstrip())
    window_end = leading_space + rule.visible_chars
    link_start = None
    if rule.before_first_link:
        link = _LINK_START_RE.search(text)
        if link is not None:
            link_start = link.start()
            window_end = min(window_end, link_start)
    return window_end, link_start


def _tail_hashtags(text: str, scan: _Scan) -> list[tuple[int, int]]:
    """Hashtag spans in the trailing block of hashtags / mentions / punctuation."""
    masked = list(text)
    for start, end in scan.hashtag_spans + scan.mention_spans:
        masked[start:end] = " " * (end - start)
    block_start = 0
    for index in range(len(masked) - 1, -1, -1):
        if masked[index].isalnum() or masked[index] == "_":
            block_start = index + 1
            break
    return [span for span in scan.hashtag_spans if span[0] >= block_start]


def _placement_problems(
    candidate: _Candidate,
    platform: str,
    rule: PlatformRule,
    window_end: int,
    link_start: int | None,
    tail_hashtags: list[tuple[int, int]],
) -> list[str]:
    problems: list[str] = []
    visible = candidate.end <= window_end
    if not visible:
        if link_start is not None and candidate.end > link_start:
            problems.append(
                f"'{candidate.text}' at position {candidate.start} comes after the first link "
                f"(position {link_start}); on a {platform} the disclosure must come before any "
                f"link and within the first {rule.visible_chars} characters."
            )
        else:
            problems.append(
                f"'{candidate.text}' at position {candidate.start} is beyond the first "
                f"{rule.visible_chars} characters visible on {platform} ({rule.where}); move "
                "it to the start of the text."
            )
    span = (candidate.start, candidate.end)
    if candidate.is_hashtag and span in tail_hashtags and len(tail_hashtags) >= BURIED_MIN_HASHTAGS:
        leads_block = span == tail_hashtags[0]
        if not (leads_block and visible):
            problems.append(
                f"'{candidate.text}' is buried among {len(tail_hashtags)} hashtags at the end "
                "of the text; put it at the start, apart from the other hashtags."
            )
    return problems


# --- results ----------------------------------------------------------------------------


def _marker_pass(
    platform: str,
    rule: PlatformRule,
    candidate: _Candidate,
    label: bool | None,
    notes: list[str],
) -> DisclosureResult:
    where = f"within the first {rule.visible_chars} characters visible on {platform}"
    if rule.before_first_link:
        where += " and before any link"
    reasons = [f"Disclosure '{candidate.text}' found at position {candidate.start}, {where}."]
    if label and rule.label_name is not None:
        reasons.append(f"The {platform} '{rule.label_name}' label is also enabled.")
    elif label:
        reasons.append(
            f"{platform} has no native paid-partnership label, so paid_partnership_label=True "
            "was not counted; the text disclosure is enough."
        )
    reasons.extend(f"Note: {note}" for note in _capped(notes))
    return DisclosureResult(True, reasons, candidate.text, candidate.start)


def _label_pass(platform: str, rule: PlatformRule, notes: list[str]) -> DisclosureResult:
    assert rule.label_name is not None  # only called when the platform has a label
    reasons = [
        f"The {platform} paid-partnership label ('{rule.label_name}') is enabled; the platform "
        "shows it with the post, which discloses the partnership."
    ]
    reasons.extend(f"Note: {note}" for note in notes)
    return DisclosureResult(True, reasons, rule.label_name, None)


def _label_notes(platform: str, rule: PlatformRule, label: bool | None) -> list[str]:
    if label and rule.label_name is None:
        return [
            f"{platform} has no native paid-partnership label, so paid_partnership_label=True "
            "does not count on its own; the disclosure must be in the text."
        ]
    return []


def _capped(findings: list[str]) -> list[str]:
    """Findings without repeats, at most ``MAX_LISTED_FINDINGS`` plus a count of the rest."""
    unique = list(dict.fromkeys(findings))
    if len(unique) <= MAX_LISTED_FINDINGS:
        return unique
    rest = len(unique) - MAX_LISTED_FINDINGS
    return [*unique[:MAX_LISTED_FINDINGS], f"...and {rest} more similar findings."]


def _fix_sentence(platform: str, rule: PlatformRule) -> str:
    where = f"within the first {rule.visible_chars} characters"
    if rule.before_first_link:
        where += " and before the first link"
    fix = f"To fix: put {_FIX_EXAMPLES} {where} of the {platform} text"
    if rule.label_name is not None:
        fix += f", or turn on the {platform} '{rule.label_name}' label"
    return fix + "."
