"""The one API version the sandbox speaks, and the event types that exist in it.

Stripe answers each request in the version its `Stripe-Version` header names (or the account's
default). The sandbox only knows 2020-08-27 — the version of its bundled spec and the one
Rapport pins — so a request naming any other version is refused the way Stripe refuses a version
it does not know (400 `invalid_request_error`, "Invalid Stripe API version: ..."), rather than
answered in a shape that version would not have. Events are stamped with the account's version,
2020-08-27, and only event types that exist in that version (the spec's list of
`enabled_events`) can be emitted.
"""

from __future__ import annotations

from functools import cache

from .spec import API_VERSION, get_spec


@cache
def event_types() -> frozenset[str]:
    """Every event type of the bundled spec's API version (its webhook `enabled_events` list)."""
    op = get_spec().operation("POST", "/v1/webhook_endpoints")
    assert op is not None and op.body_schema is not None
    enum = op.body_schema["properties"]["enabled_events"]["items"]["enum"]
    return frozenset(t for t in enum if t != "*")


def version_error(requested: str | None) -> str | None:
    """Stripe's message refusing `requested`, or None when the sandbox can answer it."""
    if requested is None or requested.strip() == API_VERSION:
        return None
    return (
        f"Invalid Stripe API version: {requested} (the Rapport Stripe sandbox answers only "
        f"{API_VERSION}, the version Rapport pins)"
    )
