"""Public identifiers: a type prefix plus a time-ordered, random, opaque body.

`brf_01JD3M8ZQ4X2…` — the prefix says what the object is (PRODUCT.md's convention), the body is a
ULID (48-bit millisecond time + 80 random bits, Crockford base32). Being time-ordered means the
id alone is a stable, creation-ordered pagination key; being random means ids cannot be guessed
or enumerated. The id is the primary key: there is no second, internal integer id to leak.
"""

from __future__ import annotations

import os
import random
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BODY_LENGTH = 26

# One place that names every kind of object and its prefix.
PREFIXES: dict[str, str] = {
    "user": "usr",
    "brand": "brd",
    "brand_invitation": "bin",
    "influencer": "inf",
    "refresh_token": "rft",
    "social_account": "sac",
    "brief": "brf",
    "invitation": "inv",
    "bid": "bid",
    "offer": "ofr",
    "message": "msg",
    "contract": "ctr",
    "deliverable": "dlv",
    "draft": "drf",
    "milestone": "mst",
    "proof": "prf",
    "metric_report": "mtr",
    "extension": "ext",
    "dispute": "dsp",
    "transition": "trn",
    "job": "job",
    "timer": "tmr",
    "payout": "pyo",
    "transfer": "trf",
    "payment": "pay",
    "refund": "rfd",
    "journal_entry": "jrn",
    "ledger_account": "lac",
    "stripe_event": "sev",
    "api_key": "key",
    "partner": "prt",
    "webhook_endpoint": "whe",
    "webhook_delivery": "whd",
    "event": "evt",  # public events (issue 14)
    # relationships (issue 15)
    "relationship": "rel",
    "relationship_list": "rls",
    "rating": "rtg",
    # OAuth2 for partner applications (issue 14)
    "oauth_client": "cli",
    "oauth_code": "ocd",
    "oauth_token": "otk",
    "oauth_consent": "ocn",
    "programme": "amb",  # ambassador programmes (issue 15)
    # measurement (issue 15 items 6-8)
    "tracked_link": "lnk",
    "link_click": "clk",
    "promo_code": "pmc",
    "conversion": "cnv",
    "conversion_refund": "cnr",
}


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def ulid_body(ms: int | None = None, rng: random.Random | None = None) -> str:
    """A 26-character ULID body. `rng` makes ids deterministic (the seed generator uses it)."""
    if ms is None:
        ms = time.time_ns() // 1_000_000
    randomness = rng.getrandbits(80) if rng is not None else int.from_bytes(os.urandom(10), "big")
    return _encode(((ms & ((1 << 48) - 1)) << 80) | randomness, _BODY_LENGTH)


def new_id(kind: str, *, ms: int | None = None, rng: random.Random | None = None) -> str:
    return f"{PREFIXES[kind]}_{ulid_body(ms, rng)}"


def has_prefix(public_id: str, kind: str) -> bool:
    """True when `public_id` is well formed for `kind` (cheap check before a lookup)."""
    prefix, _, body = public_id.partition("_")
    return (
        prefix == PREFIXES[kind] and len(body) == _BODY_LENGTH and all(c in _ALPHABET for c in body)
    )
