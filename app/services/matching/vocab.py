"""Fixed vocabularies of the matching index: platforms, deliverables, countries, languages.

The index stores audience distributions as dense arrays over these vocabularies, so they
are fixed tables (a code change, reviewed) rather than data. Anything outside a vocabulary
falls into its "other" bucket: a brief that targets an "other" country matches nobody's
audience share, which is the honest answer when the index cannot see that country.

Money is compared in one common unit, US cents, with the static FX table of the fair-rate
guidance (`app.services.catalogue.rates.USD_TO_CURRENCY`), so a rate card in SEK and a budget in EUR
are compared with the same factors that price guidance uses.
"""

from __future__ import annotations

from decimal import Decimal

from app.services.catalogue.currencies import MINOR_UNIT_EXPONENTS
from app.services.catalogue.deliverable_types import DELIVERABLE_TYPES
from app.services.catalogue.rates import TYPICAL_ENGAGEMENT, USD_TO_CURRENCY

PLATFORMS: tuple[str, ...] = ("instagram", "tiktok", "youtube", "twitch", "x", "blog", "podcast")
PLATFORM_INDEX: dict[str, int] = {p: i for i, p in enumerate(PLATFORMS)}

DELIVERABLES: tuple[str, ...] = tuple(DELIVERABLE_TYPES)
DELIVERABLE_INDEX: dict[str, int] = {d: i for i, d in enumerate(DELIVERABLES)}
DELIVERABLE_PLATFORM: dict[str, str] = {d.name: d.platform for d in DELIVERABLE_TYPES.values()}
# Blogs and podcasts are priced per visitor / download, not per follower.
AUDIENCE_FROM_VIEWS: frozenset[str] = frozenset({"blog", "podcast"})

AGE_BANDS: tuple[str, ...] = ("13-17", "18-24", "25-34", "35-44", "45-54", "55+")
AGE_INDEX: dict[str, int] = {a: i for i, a in enumerate(AGE_BANDS)}
GENDERS: tuple[str, ...] = ("female", "male", "other")
GENDER_INDEX: dict[str, int] = {g: i for i, g in enumerate(GENDERS)}

# Follower tiers, the same bounds as the fair-rate guidance.
TIERS: tuple[str, ...] = ("nano", "micro", "mid", "macro", "mega")
TIER_BOUNDS: tuple[int, ...] = (10_000, 100_000, 500_000, 1_000_000)

# 60 countries (the markets and audiences that matter for the marketplace) + "other".
# Each: official/common languages of the audience, and a region used to judge whether an
# audience's geography is plausible for a creator (neighbours share audiences).
COUNTRY_FACTS: dict[str, tuple[tuple[str, ...], str]] = {
    "US": (("en", "es"), "north-america"),
    "CA": (("en", "fr"), "north-america"),
    "MX": (("es",), "latam"),
    "BR": (("pt",), "latam"),
    "AR": (("es",), "latam"),
    "CL": (("es",), "latam"),
    "CO": (("es",), "latam"),
    "PE": (("es",), "latam"),
    "GB": (("en",), "british-isles"),
    "IE": (("en",), "british-isles"),
    "DE": (("de",), "dach"),
    "AT": (("de",), "dach"),
    "CH": (("de", "fr", "it"), "dach"),
    "FR": (("fr",), "west-europe"),
    "BE": (("nl", "fr"), "west-europe"),
    "NL": (("nl",), "west-europe"),
    "LU": (("fr", "de"), "west-europe"),
    "ES": (("es",), "south-europe"),
    "PT": (("pt",), "south-europe"),
    "IT": (("it",), "south-europe"),
    "GR": (("el",), "south-europe"),
    "SE": (("sv",), "nordics"),
    "NO": (("no",), "nordics"),
    "DK": (("da",), "nordics"),
    "FI": (("fi", "sv"), "nordics"),
    "IS": (("is",), "nordics"),
    "PL": (("pl",), "central-europe"),
    "CZ": (("cs",), "central-europe"),
    "SK": (("sk",), "central-europe"),
    "HU": (("hu",), "central-europe"),
    "RO": (("ro",), "central-europe"),
    "HR": (("hr",), "central-europe"),
    "BG": (("bg",), "central-europe"),
    "UA": (("uk", "ru"), "east-europe"),
    "RU": (("ru",), "east-europe"),
    "TR": (("tr",), "mena"),
    "IL": (("he",), "mena"),
    "AE": (("ar", "en"), "mena"),
    "SA": (("ar",), "mena"),
    "EG": (("ar",), "mena"),
    "MA": (("ar", "fr"), "mena"),
    "NG": (("en",), "africa"),
    "ZA": (("en", "af"), "africa"),
    "KE": (("sw", "en"), "africa"),
    "IN": (("hi", "en"), "south-asia"),
    "PK": (("ur", "en"), "south-asia"),
    "BD": (("bn",), "south-asia"),
    "JP": (("ja",), "east-asia"),
    "KR": (("ko",), "east-asia"),
    "CN": (("zh",), "east-asia"),
    "TW": (("zh",), "east-asia"),
    "HK": (("zh", "en"), "east-asia"),
    "SG": (("en", "zh", "ms"), "south-east-asia"),
    "MY": (("ms", "en"), "south-east-asia"),
    "TH": (("th",), "south-east-asia"),
    "VN": (("vi",), "south-east-asia"),
    "ID": (("id",), "south-east-asia"),
    "PH": (("tl", "en"), "south-east-asia"),
    "AU": (("en",), "oceania"),
    "NZ": (("en",), "oceania"),
}
# Languages widely understood in a country besides its own (English where most people under
# 50 follow it: Northern and Western Europe, Israel, the Gulf, Singapore …). An audience there
# is plausible for a creator who posts in it; the fake-follower geography check uses this.
ALSO_UNDERSTOOD: dict[str, tuple[str, ...]] = {
    code: ("en",)
    for code in (
        "NL", "BE", "LU", "SE", "NO", "DK", "FI", "IS", "DE", "AT", "CH", "PT", "PL",
        "IL", "AE", "MY", "HK", "SG", "ZA", "KE", "NG", "PH", "IN", "PK",
    )
}  # fmt: skip
COUNTRIES: tuple[str, ...] = (*COUNTRY_FACTS, "other")
COUNTRY_INDEX: dict[str, int] = {c: i for i, c in enumerate(COUNTRIES)}
OTHER_COUNTRY = len(COUNTRIES) - 1

LANGUAGES: tuple[str, ...] = (
    *sorted({lang for langs, _ in COUNTRY_FACTS.values() for lang in langs}),
    "other",
)
LANGUAGE_INDEX: dict[str, int] = {lang: i for i, lang in enumerate(LANGUAGES)}
OTHER_LANGUAGE = len(LANGUAGES) - 1

# Conversion to the common comparison unit (US cents per minor unit of each currency).
USD_CENTS_PER_MINOR: dict[str, float] = {
    code: float(Decimal(100) / rate / (Decimal(10) ** MINOR_UNIT_EXPONENTS[code]))
    for code, rate in USD_TO_CURRENCY.items()
    if code in MINOR_UNIT_EXPONENTS
}

# Typical engagement (interactions / followers) by platform and tier. The fair-rate table has
# instagram, tiktok, youtube and x; twitch, blog and podcast get rough values here so the
# index has a prior before it has computed its own medians.
TYPICAL_ER: dict[str, dict[str, float]] = {
    **{p: dict(v) for p, v in TYPICAL_ENGAGEMENT.items()},
    "twitch": {"nano": 0.05, "micro": 0.03, "mid": 0.02, "macro": 0.015, "mega": 0.01},
    "blog": {"nano": 0.02, "micro": 0.012, "mid": 0.008, "macro": 0.006, "mega": 0.005},
    "podcast": {"nano": 0.02, "micro": 0.012, "mid": 0.008, "macro": 0.006, "mega": 0.005},
}

PLATFORM_LABEL: dict[str, str] = {
    "instagram": "Instagram",
    "tiktok": "TikTok",
    "youtube": "YouTube",
    "twitch": "Twitch",
    "x": "X",
    "blog": "blog",
    "podcast": "podcast",
}


def tier_of(followers: float) -> str:
    for bound, name in zip(TIER_BOUNDS, TIERS, strict=False):
        if followers < bound:
            return name
    return "mega"
