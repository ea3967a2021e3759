"""Examples for the OpenAPI document, built from the schemas themselves.

A model's own example wins (`model_config = ConfigDict(json_schema_extra={"examples": [...]})`,
or `Field(examples=[...])` on a field). Everything else is filled from the field's name and
constraints with values a partner would recognise (a Swedish running creator, an oat-drink
brand, euros in cents), so every example satisfies its schema (`tests/test_openapi.py` checks
each against its schema, and each request example against the server's own validation).
"""

from __future__ import annotations

from typing import Any

_REF = "#/components/schemas/"
ULID = "01JD3M8ZQ4X2V6R9T0A1B2C3D4"

# Patterns the models use, and a value each accepts.
_PATTERNS = {
    r"^@?[A-Za-z0-9._-]{1,100}$": "mia.runs",
    r"^https?://[^\s/$.?#][^\s]*$": "https://www.instagram.com/p/C0ffee123/",
    r"^inf_[0-9A-HJKMNP-TV-Z]{26}$": f"inf_{ULID}",
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$": "running",
    r"^pm_[A-Za-z0-9_]{1,100}$": "pm_card_visa",
    r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$": "instagram_reel",
    r"^[A-Z]{2}$": "SE",
    r"^[a-z]{2}$": "sv",
    r"^[A-Z]{3}$": "EUR",
    r"^password$": "password",
}

# Id prefixes by the name of the field holding the id.
_ID_PREFIXES = {
    "user": "usr",
    "brand": "brd",
    "brief": "brf",
    "bid": "bid",
    "offer": "ofr",
    "contract": "ctr",
    "deliverable": "dlv",
    "draft": "drf",
    "extension": "ext",
    "dispute": "dsp",
    "influencer": "inf",
    "listing": "inf",
    "invitation": "inv",
    "milestone": "mst",
    "job": "job",
    "account": "sac",
    "message": "msg",
    "proof": "prf",
    "payout": "po",
    "against": "ofr",
    "invited_by": "usr",
    "actor": "usr",
}

_STRINGS = {
    "email": "mia@example.com",
    "full_name": "Mia Lindqvist",
    "display_name": "Mia Runs",
    "name": "Nordic Oat Co.",
    "title": "Race-week breakfast",
    "handle": "mia.runs",
    "caption": "Race-week breakfast, sorted: oats, berries and a splash of oat drink. #ad",
    "pitch": "Two reels from my race-week routine, filmed at dawn on the running track.",
    "reason": "The race was moved a week, so the reels go live a week later.",
    "feedback": "Lovely reel. Please show the carton in the first three seconds.",
    "body": "Could we move the story to the Monday after the race?",
    "note": "Posted from the stadium, as agreed.",
    "notes": "Two takes; the second one has the better light.",
    "description": "Show how our oat drink fits a runner's breakfast on race week.",
    "bio": "Marathoner in Stockholm. Slow mornings, fast Sundays.",
    "category": "food",
    "currency": "EUR",
    "country": "SE",
    "language": "sv",
    "platform": "instagram",
    "deliverable_type": "instagram_reel",
    "type": "instagram_reel",
    "key": "reels",
    "metric": "impressions",
    "website": "https://nordicoat.example",
    "url": "https://www.instagram.com/p/C0ffee123/",
    "evidence_url": "https://www.instagram.com/p/C0ffee123/insights",
    "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfMDEifQ.c2lnbmF0dXJl",
    "refresh_token": "rt_3q2-7wEZx9kQm8Lh5sVbYc",
    "token_type": "bearer",
    "scope": "profile brands:read brands:write catalogue:read",
    "password": "correct horse battery staple",
    "username": "mia@example.com",
    "platform_post_id": "C0ffee123",
    "cursor": "eyJzIjoiaWQiLCJ2IjpbImJyZF8wMUpEM004WlE0WDJWNlI5VDBBMUIyQzNENCJdfQ",
    "next_cursor": None,
    "detail": "Cannot accept an offer that is rejected; allowed now: none",
    "status": "ok",
    "state": "open",
}

_AMOUNT_WORDS = ("amount", "price", "total", "fee", "budget", "revenue", "balance", "p50", "net")


def example_for(schema: dict[str, Any], components: dict[str, Any], name: str = "") -> Any:
    return _example(schema, components, name, depth=0)


def _example(schema: dict[str, Any], components: dict[str, Any], name: str, depth: int) -> Any:
    if "$ref" in schema:
        target = components[schema["$ref"].removeprefix(_REF)]
        if target.get("examples"):
            return target["examples"][0]
        return _example(target, components, name, depth + 1)
    for key in ("examples",):
        if schema.get(key):
            return schema[key][0]
    if "example" in schema:
        return schema["example"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        preferred = _STRINGS.get(name)
        return preferred if preferred in schema["enum"] else schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [b for b in schema[key] if b.get("type") != "null"]
            if not branches:
                return None
            if name in _STRINGS and _STRINGS[name] is None:
                return None
            return _example(branches[0], components, name, depth)
    if "allOf" in schema:
        return _example(schema["allOf"][0], components, name, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return _object(schema, components, depth)
    if kind == "array":
        items = schema.get("items", {})
        count = max(1, schema.get("minItems", 1))
        singular = name[:-1] if name.endswith("s") else name
        first = _example(items, components, singular, depth + 1)
        if count == 1 or not isinstance(first, str | int):
            return [first] * count
        return [first, *[f"{first}-{i}" for i in range(2, count + 1)]][:count]
    if kind == "string":
        return _string(schema, name)
    if kind == "integer":
        return _number(schema, name, integer=True)
    if kind == "number":
        return _number(schema, name, integer=False)
    if kind == "boolean":
        return schema.get("default", True)
    if kind == "null":
        return None
    return _string(schema, name) if name else {}


def _object(schema: dict[str, Any], components: dict[str, Any], depth: int) -> dict[str, Any]:
    properties = schema.get("properties", {})
    if not properties:
        extra = schema.get("additionalProperties")
        if not isinstance(extra, dict) or not extra:
            return {}
        names = schema.get("propertyNames", {})
        key = names["enum"][0] if names.get("enum") else _PATTERNS.get(names.get("pattern"), "SE")
        if extra.get("type") == "number" and extra.get("maximum") == 100:
            return {key: 100.0}  # a distribution: its percentages sum to 100
        return {key: _example(extra, components, "share", depth + 1)}
    required = set(schema.get("required", []))
    out: dict[str, Any] = {}
    for prop, sub in properties.items():
        # Deep optional parts are left out: the example stays readable.
        if depth > 3 and prop not in required:
            continue
        out[prop] = _example(sub, components, prop, depth + 1)
    return out


def _string(schema: dict[str, Any], name: str) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2026-11-24T12:00:00Z"
    if fmt == "date":
        return {"publish_end": "2027-01-10", "end_date": "2027-01-05"}.get(name, "2026-12-15")
    if fmt == "email":
        return "mia@example.com"
    if fmt in ("uri", "url"):
        return "https://nordicoat.example"
    if schema.get("pattern") in _PATTERNS:
        return _PATTERNS[schema["pattern"]]
    value = _STRINGS.get(name)
    if value is None:
        stem = name.removesuffix("_id")
        if name == "id" or name.endswith("_id") or stem in _ID_PREFIXES:
            return f"{_ID_PREFIXES.get(stem, 'obj')}_{ULID}"
        value = name.replace("_", " ").capitalize() or "Example"
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    value = value.ljust(low, ".")
    return value[:high] if high else value


def _number(schema: dict[str, Any], name: str, *, integer: bool) -> int | float:
    default: int | float | None = schema.get("default")
    if default is not None and default != 0:
        return default
    lowered = name.lower()
    if any(word in lowered for word in _AMOUNT_WORDS):
        guess: float = 120_000
    elif "followers" in lowered or "impressions" in lowered or "audience" in lowered:
        guess = 48_000
    elif "rate" in lowered or "share" in lowered or "score" in lowered or "weight" in lowered:
        guess = 0.25
    elif "hours" in lowered:
        guess = 72
    elif "days" in lowered:
        guess = 30
    elif "version" in lowered or "count" in lowered or "position" in lowered:
        guess = 1
    else:
        guess = 12
    low = schema.get("minimum", schema.get("exclusiveMinimum", float("-inf")))
    high = schema.get("maximum", schema.get("exclusiveMaximum", float("inf")))
    if guess < low or guess > high:
        guess = low if low != float("-inf") else (high if high != float("inf") else 0)
        if "exclusiveMinimum" in schema and guess == schema["exclusiveMinimum"]:
            guess = guess + (1 if integer else 0.5)
        if "exclusiveMaximum" in schema and guess == schema["exclusiveMaximum"]:
            guess = guess - (1 if integer else 0.5)
    if integer:
        return int(guess)
    return float(guess)
