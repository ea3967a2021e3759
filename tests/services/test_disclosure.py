"""Tests for the paid-post disclosure checker (app.services.delivery.disclosure)."""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.catalogue.deliverable_types import PLATFORMS
from app.services.delivery.disclosure import (
    PLATFORM_RULES,
    SUPPORTED_PLATFORMS,
    DisclosureResult,
    check_disclosure,
)

TAIL_10 = "#ootd #fashion #style #summer #beach #sun #love #instagood #photooftheday #ad"
LONG_STORY = (
    "Spent the whole weekend testing the new trail shoes on the Pennine Way, through mud, "
    "rain and a surprising amount of sheep. Here is what I think after 60 km. "
)
assert len(LONG_STORY) > 125

# (id, platform, text, label, passed, marker, substrings that must appear in the reasons)
CASES = [
    # --- English, passing ---------------------------------------------------------------
    (
        "en-start-hashtag",
        "instagram",
        "#ad Obsessed with my new @glossier skincare routine, link in bio",
        None,
        True,
        "#ad",
        ["'#ad'", "position 0", "first 125 characters"],
    ),
    (
        "en-punctuated-hashtag",
        "instagram",
        "Morning coffee with @nespresso #ad. Best way to start the day",
        None,
        True,
        "#ad",
        ["'#ad'", "position 31"],
    ),
    (
        "en-uppercase-ad-colon",
        "youtube",
        "AD: I tried every budget mic under $100 so you don't have to",
        None,
        True,
        "AD",
        ["'AD'", "first 150 characters"],
    ),
    (
        "en-paid-partnership-phrase",
        "instagram",
        "Paid partnership with @sephora. Three looks, one palette",
        None,
        True,
        "Paid partnership",
        ["'Paid partnership'"],
    ),
    (
        "en-sponsored-by-tiktok",
        "tiktok",
        "POV: your gym bag finally closes. Sponsored by @gymshark",
        None,
        True,
        "Sponsored by",
        ["'Sponsored by'", "tiktok"],
    ),
    (
        "en-bracketed-ad-middle",
        "instagram",
        "Golden hour in Lisbon [ad] with the new Ray-Ban Meta glasses",
        None,
        True,
        "[ad]",
        ["'[ad]'"],
    ),
    (
        "en-this-video-is-an-ad",
        "youtube",
        "My honest NordVPN review - this video is an ad, but my opinions are my own",
        None,
        True,
        "this video is an ad",
        ["'this video is an ad'"],
    ),
    (
        "en-x-post-at-end-still-visible",
        "x",
        "New drop from @Allbirds is finally here, comfy enough for a 12h shift. #ad",
        None,
        True,
        "#ad",
        ["first 280 characters"],
    ),
    (
        "en-twitch-title",
        "twitch",
        "[Sponsored] Playing the new Elden Ring DLC all night !drops",
        None,
        True,
        "[Sponsored]",
        ["'[Sponsored]'", "first 140 characters"],
    ),
    (
        "en-blog-before-link",
        "blog",
        "Sponsored by Le Creuset. My five favourite autumn soups, with the recipes below. "
        "Get the pot here: https://lecreuset.example/dutch-oven",
        None,
        True,
        "Sponsored by",
        ["before any link"],
    ),
    (
        "en-podcast-read",
        "podcast",
        "This episode is sponsored by Squarespace. Go to squarespace.com/pod for 10% off.",
        None,
        True,
        "sponsored by",
        ["'sponsored by'", "first 200 characters"],
    ),
    (
        "en-marker-leads-visible-tail",
        "instagram",
        "Three ways to style a linen shirt #ad #linen #summerstyle #ootd",
        None,
        True,
        "#ad",
        ["'#ad'"],
    ),
    (
        "en-earliest-of-two-markers",
        "instagram",
        "Ad | Trying the new Oatly barista edition #sponsored",
        None,
        True,
        "Ad",
        ["position 0"],
    ),
    (
        "en-ambiguous-plus-valid",
        "instagram",
        "#ad #collab with @fenty, the new gloss bomb is unreal",
        None,
        True,
        "#ad",
        ["#collab is ambiguous"],
    ),
    # --- other languages, passing -------------------------------------------------------
    (
        "de-anzeige-leading",
        "instagram",
        "ANZEIGE | Mein neues Lieblingsparfum von @hugoboss für den Herbst",
        None,
        True,
        "ANZEIGE",
        ["'ANZEIGE'"],
    ),
    (
        "de-werbung-bracketed",
        "instagram",
        "[Werbung] Endlich Urlaub am Gardasee mit @tui",
        None,
        True,
        "[Werbung]",
        ["'[Werbung]'"],
    ),
    (
        "de-werbung-hashtag",
        "tiktok",
        "#werbung So bekommst du deine Sneaker wieder weiß",
        None,
        True,
        "#werbung",
        ["'#werbung'"],
    ),
    (
        "fr-publicite-accented",
        "instagram",
        "#publicité Ma routine du soir avec @laroche.posay",
        None,
        True,
        "#publicité",
        ["'#publicité'"],
    ),
    (
        "fr-publicite-unaccented-uppercase",
        "instagram",
        "#PUBLICITE Ma routine du soir avec @laroche.posay",
        None,
        True,
        "#PUBLICITE",
        ["'#PUBLICITE'"],
    ),
    (
        "fr-collaboration-commerciale",
        "youtube",
        "Collaboration commerciale avec Decathlon : je teste le vélo électrique en montagne",
        None,
        True,
        "Collaboration commerciale",
        ["'Collaboration commerciale'"],
    ),
    (
        "es-publicidad",
        "instagram",
        "#publicidad Mi nueva rutina de verano con @isdin",
        None,
        True,
        "#publicidad",
        ["'#publicidad'"],
    ),
    (
        "es-patrocinado-por",
        "tiktok",
        "Patrocinado por @mercadona: la compra semanal en 5 minutos",
        None,
        True,
        "Patrocinado por",
        ["'Patrocinado por'"],
    ),
    (
        "it-pubblicita",
        "instagram",
        "#pubblicità La mia colazione preferita con @barilla",
        None,
        True,
        "#pubblicità",
        ["'#pubblicità'"],
    ),
    (
        "it-adv",
        "instagram",
        "#adv Weekend a Roma con le nuove @geox",
        None,
        True,
        "#adv",
        ["'#adv'"],
    ),
    (
        "nl-reclame",
        "instagram",
        "#reclame Mijn favoriete fietsroute met @vanmoof",
        None,
        True,
        "#reclame",
        ["'#reclame'"],
    ),
    (
        "nl-gesponsord-door",
        "youtube",
        "Deze video is gesponsord door Coolblue - ik test vijf koffiemachines",
        None,
        True,
        "gesponsord door",
        ["'gesponsord door'"],
    ),
    (
        "pt-publi",
        "instagram",
        "#publi Meu skincare da manhã com @natura",
        None,
        True,
        "#publi",
        ["'#publi'"],
    ),
    (
        "sv-reklam",
        "instagram",
        "Reklam för @hm: höstens bästa jackor",
        None,
        True,
        "Reklam",
        ["'Reklam'"],
    ),
    (
        "sv-annons-hashtag",
        "tiktok",
        "#annons Så packar du inför fjällen med @fjallraven",
        None,
        True,
        "#annons",
        ["'#annons'"],
    ),
    # --- labels -------------------------------------------------------------------------
    (
        "label-instagram",
        "instagram",
        "Sunday reset with my favourite candle",
        True,
        True,
        "Paid partnership",
        ["'Paid partnership'", "label"],
    ),
    (
        "label-tiktok",
        "tiktok",
        "Unboxing the new Galaxy, what do you think?",
        True,
        True,
        "Paid partnership (content disclosure)",
        ["label"],
    ),
    (
        "label-youtube",
        "youtube",
        "I switched to a standing desk for 30 days",
        True,
        True,
        "Includes paid promotion",
        ["'Includes paid promotion'"],
    ),
    (
        "label-twitch",
        "twitch",
        "Chill Sunday stream, new keyboard!",
        True,
        True,
        "Branded content",
        ["'Branded content'"],
    ),
    (
        "label-x-not-enough",
        "x",
        "Loving my new @Sonos Era 100, the sound is unreal",
        True,
        False,
        None,
        ["x has no native paid-partnership label", "does not count on its own"],
    ),
    (
        "label-blog-not-enough",
        "blog",
        "My ten favourite kitchen gadgets of the year",
        True,
        False,
        None,
        ["blog has no native paid-partnership label"],
    ),
    (
        "label-podcast-not-enough",
        "podcast",
        "Today we talk about sleep with Dr. Walker.",
        True,
        False,
        None,
        ["podcast has no native paid-partnership label"],
    ),
    (
        "label-explicitly-off",
        "instagram",
        "Sunday reset with my favourite candle",
        False,
        False,
        None,
        ["No disclosure marker", "turn on the instagram 'Paid partnership' label"],
    ),
    (
        "label-rescues-buried-marker",
        "instagram",
        "Beach day in Mallorca with my new bikini " + TAIL_10,
        True,
        True,
        "Paid partnership",
        ["label", "buried among 10 hashtags at the end"],
    ),
    # --- failing placements -------------------------------------------------------------
    (
        "buried-10-hashtag-tail",
        "instagram",
        "Beach day in Mallorca with my new bikini " + TAIL_10,
        None,
        False,
        None,
        ["buried among 10 hashtags at the end"],
    ),
    (
        "buried-short-caption-mid-tail",
        "instagram",
        "Cosy autumn evenings #candles #ad #hygge",
        None,
        False,
        None,
        ["buried among 3 hashtags at the end"],
    ),
    (
        "leads-tail-but-beyond-fold",
        "instagram",
        LONG_STORY + "#ad #trailrunning #hiking #outdoors",
        None,
        False,
        None,
        ["beyond the first 125 characters", "buried among 4 hashtags at the end"],
    ),
    (
        "beyond-fold-instagram",
        "instagram",
        LONG_STORY + "Thanks @salomon for the pair. #ad",
        None,
        False,
        None,
        ["beyond the first 125 characters visible on instagram", "move it to the start"],
    ),
    (
        "beyond-fold-tiktok",
        "tiktok",
        "the 3 things nobody tells you about moving to Berlin: 1) Anmeldung 2) Sundays 3) "
        "cash only. Sponsored by @wise",
        None,
        False,
        None,
        ["beyond the first 100 characters visible on tiktok"],
    ),
    (
        "blog-marker-after-link",
        "blog",
        "My favourite running shoes this year: https://shop.example/shoes?ref=me. Disclosure: #ad",
        None,
        False,
        None,
        ["comes after the first link", "before any link"],
    ),
    (
        "podcast-marker-late",
        "podcast",
        "In this episode we talk about the history of coffee, from Ethiopian legends to the "
        "third wave, with barista champion Anna Schmidt, and we answer your questions about "
        "grinders. This episode is sponsored by Athletic Greens.",
        None,
        False,
        None,
        ["beyond the first 200 characters visible on podcast"],
    ),
    # --- failing markers ----------------------------------------------------------------
    (
        "marker-only-in-url",
        "instagram",
        "New blog post is up! https://x.com/#ad",
        None,
        False,
        None,
        ["only inside a link", "https://x.com/#ad"],
    ),
    (
        "marker-inside-words",
        "instagram",
        "Weekend #adventure in the Alps with my #adidas Terrex",
        None,
        False,
        None,
        ["No disclosure marker"],
    ),
    (
        "marker-glued-to-word",
        "instagram",
        "Best summer ever lol#ad",
        None,
        False,
        None,
        ["No disclosure marker"],
    ),
    (
        "ambiguous-sp",
        "instagram",
        "#sp Loving these earbuds from @jbl",
        None,
        False,
        None,
        ["#sp is ambiguous; use #ad"],
    ),
    (
        "ambiguous-spon-and-partner",
        "tiktok",
        "#spon #partner my new morning routine",
        None,
        False,
        None,
        ["#spon is ambiguous", "#partner is ambiguous"],
    ),
    (
        "ambiguous-ambassador-thanks",
        "instagram",
        "#ambassador #thanks @lululemon for the new leggings",
        None,
        False,
        None,
        ["#ambassador is ambiguous", "#thanks is ambiguous"],
    ),
    (
        "ambiguous-gifted",
        "instagram",
        "#gifted New palette from @hudabeauty",
        None,
        False,
        None,
        ["#gifted is ambiguous", "free gift"],
    ),
    (
        "fr-partenariat-ambiguous",
        "instagram",
        "#partenariat Ma nouvelle crème avec @nuxe",
        None,
        False,
        None,
        ["#partenariat is ambiguous", "Collaboration commerciale"],
    ),
    (
        "sv-samarbete-ambiguous",
        "instagram",
        "#samarbete Höstens mysigaste stickade tröja",
        None,
        False,
        None,
        ["#samarbete is ambiguous", "reklam"],
    ),
    (
        "de-kooperation-ambiguous",
        "instagram",
        "#kooperation Mein neues Rad von @canyon",
        None,
        False,
        None,
        ["#kooperation is ambiguous", "#anzeige"],
    ),
    (
        "negated-phrase",
        "instagram",
        "Not a paid partnership, I just really love this serum",
        None,
        False,
        None,
        ["negated"],
    ),
    (
        "de-werbung-mid-sentence-not-a-label",
        "instagram",
        "Ich mag eigentlich keine Werbung, aber dieses Rad ist toll",
        None,
        False,
        None,
        ["No disclosure marker"],
    ),
    (
        "ad-word-not-a-label",
        "instagram",
        "Ad astra per aspera, new tattoo day",
        None,
        False,
        None,
        ["No disclosure marker"],
    ),
    (
        "empty-text",
        "instagram",
        "",
        None,
        False,
        None,
        ["text is empty"],
    ),
    (
        "whitespace-text",
        "tiktok",
        "   \n\t ",
        False,
        False,
        None,
        ["text is empty"],
    ),
    (
        "whitespace-text-with-label",
        "youtube",
        "  ",
        True,
        True,
        "Includes paid promotion",
        ["label"],
    ),
]


@pytest.mark.parametrize(
    ("platform", "text", "label", "passed", "marker", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_realistic_captions(
    platform: str,
    text: str,
    label: bool | None,
    passed: bool,
    marker: str | None,
    expected: list[str],
) -> None:
    result = check_disclosure(platform, text, label)
    joined = " ".join(result.reasons)
    assert result.passed is passed, joined
    assert result.marker == marker, joined
    for fragment in expected:
        assert fragment in joined, f"{fragment!r} not in {result.reasons}"


def test_there_are_at_least_40_realistic_cases() -> None:
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)


def test_position_points_at_the_marker() -> None:
    text = "Morning coffee with @nespresso #ad. Best way to start the day"
    result = check_disclosure("instagram", text)
    assert result.position is not None
    assert text[result.position : result.position + 3] == "#ad"


def test_label_only_pass_has_no_position() -> None:
    result = check_disclosure("instagram", "Sunday reset", paid_partnership_label=True)
    assert result.passed
    assert result.position is None


def test_failures_always_say_how_to_fix() -> None:
    result = check_disclosure("x", "Loving my new headphones")
    assert not result.passed
    assert result.reasons[-1].startswith("To fix:")
    assert "first 280 characters" in result.reasons[-1]


def test_marker_exactly_at_the_fold_edge() -> None:
    width = PLATFORM_RULES["instagram"].visible_chars
    filler = "x" * (width - 4) + " "
    assert check_disclosure("instagram", filler + "#ad").passed  # ends at char 125
    assert not check_disclosure("instagram", filler + " #ad").passed  # ends at char 126


def test_leading_whitespace_does_not_use_up_the_fold() -> None:
    width = PLATFORM_RULES["instagram"].visible_chars
    text = "\n\n   " + "x" * (width - 4) + " #ad"
    assert check_disclosure("instagram", text).passed


def test_two_hashtag_tail_is_not_buried() -> None:
    result = check_disclosure("instagram", "Cosy autumn evenings #candles #ad")
    assert result.passed
    assert result.marker == "#ad"


def test_earliest_visible_marker_wins() -> None:
    result = check_disclosure("instagram", "Werbung: neue Jacke #ad")
    assert result.marker == "Werbung"
    assert result.position == 0


def test_decomposed_accents_are_normalised() -> None:
    decomposed = "#publicite\u0301 Ma routine"  # e + combining acute accent
    result = check_disclosure("instagram", decomposed)
    assert result.passed
    assert result.marker == "#publicité"


def test_platform_is_case_insensitive() -> None:
    assert check_disclosure(" Instagram ", "#ad hello").passed


@pytest.mark.parametrize("platform", ["facebook", "", "snapchat", "twitter "])
def test_unknown_platform_raises_value_error(platform: str) -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        check_disclosure(platform, "#ad hello")


def test_platforms_match_the_deliverable_catalogue() -> None:
    assert SUPPORTED_PLATFORMS == PLATFORMS


def test_result_is_frozen() -> None:
    result = check_disclosure("instagram", "#ad hello")
    assert isinstance(result, DisclosureResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.passed = False  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_prepending_ad_always_passes_on_instagram(text: str) -> None:
    result = check_disclosure("instagram", "#ad " + text)
    assert result.passed, result.reasons
    assert result.position == 0
    assert result.reasons


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(SUPPORTED_PLATFORMS)),
    st.text(),
    st.sampled_from([None, True, False]),
)
def test_never_raises_on_arbitrary_text(platform: str, text: str, label: bool | None) -> None:
    result = check_disclosure(platform, text, label)
    assert result.reasons
    assert all(isinstance(reason, str) and reason for reason in result.reasons)
    assert (result.marker is not None) == result.passed


# Markers mixed into arbitrary unicode and hashtag-heavy text: still no crash, and a pass
# always points at a real marker position.
_PIECES = st.sampled_from(
    [
        *["#ad", "#ad.", "#adventure", "#sp", " ", "\n", "https://x.com/#ad", "Ad:", "[Werbung]"],
        *["@brand", "#ootd", "é", "\u0301", "Paid partnership", "not ", "#publicité", "x" * 60],
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SUPPORTED_PLATFORMS)), st.lists(_PIECES | st.text(max_size=5)))
def test_marker_soup_is_consistent(platform: str, pieces: list[str]) -> None:
    text = "".join(pieces)
    result = check_disclosure(platform, text)
    assert result.reasons
    if result.passed and result.position is not None:
        assert result.marker is not None
        normalised = unicodedata.normalize("NFC", text)
        assert normalised[result.position :].startswith(result.marker)


def test_spammy_caption_lists_a_bounded_number_of_findings() -> None:
    text = " ".join(f"#sp #spon https://shop.example/{i}#ad" for i in range(200))
    result = check_disclosure("instagram", text)
    assert not result.passed
    assert len(result.reasons) <= 13
    assert any("more similar findings" in reason for reason in result.reasons)
