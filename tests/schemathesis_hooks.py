"""Schemathesis hooks for tests/test_schemathesis.py (loaded by path from its config file).

- Every request that carries a well-formed `Idempotency-Key` gets a fresh one, as a real client
  does: a key is for one request, and the same key with another body is (rightly) a 422.
- `schema_rules_hold`, a check stricter than `positive_data_acceptance`: a schema-valid request
  may be refused with 422 only for a rule the schema cannot state (an id that does not exist, a
  date relative to today, one field against another, the state of the deal); a 422 naming a rule
  the schema does state (type, required, pattern, enum, bounds, null, uniqueness) means the
  document and the server disagree.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis

_KEY = re.compile(r"^[!-~]{1,255}$")

# Error rules (`errors[].rule` of a 422) that a JSON Schema in the document states.
SCHEMA_RULES = frozenset(
    {
        "missing",
        "extra_forbidden",
        "int_type",
        "int_parsing",
        "float_type",
        "float_parsing",
        "string_type",
        "bool_type",
        "bool_parsing",
        "list_type",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "literal_error",
        "enum",
        "string_pattern_mismatch",
        "string_too_short",
        "string_too_long",
        "too_short",
        "too_long",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "finite_number",
        "not_nullable",
        "null_body",
        "date_type",
        "date_parsing",
        "date_from_datetime_parsing",
        "datetime_type",
        "datetime_parsing",
        "unsupported_currency",
        "pattern",
    }
)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    headers = kwargs.get("headers") or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and _KEY.match(str(headers[name])):
            headers[name] = uuid.uuid4().hex


@schemathesis.check
def schema_rules_hold(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    rules = {e.get("rule") for e in body.get("errors", [])} & SCHEMA_RULES
    if rules:
        raise AssertionError(
            f"A schema-valid request was refused for rules the schema states: {sorted(rules)}: "
            f"{body.get('detail')}"
        )
    return None
