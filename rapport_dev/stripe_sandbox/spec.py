"""Stripe's OpenAPI description as the source of truth for request validation.

The sandbox is only useful if it refuses what real Stripe refuses: an unknown or ill-typed
parameter must fail here exactly like it would in production, otherwise the application's bugs
surface only against the real API. So every request is decoded from the wire format (form
encoding with bracket notation, every value a string) and checked against the operation's schema
in Stripe's own spec (API version 2020-08-27).

The spec is 4 MB of JSON: it is loaded once, lazily, behind a lock, and shared by every sandbox
in the process.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Stripe's published description and example objects, copied into the package (gzip) so that a
# clone works anywhere: nothing here reads outside the repository.
DATA_DIR = Path(__file__).resolve().parent / "data"
SPEC_FILE = DATA_DIR / "spec3-2022-04-12.json.gz"
FIXTURES_FILE = DATA_DIR / "fixtures3-2022-04-12.json.gz"

API_VERSION = "2020-08-27"


class ParamError(Exception):
    """A request parameter Stripe would reject; rendered as a 400 invalid_request_error."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


def _load_json(path: Path) -> Any:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    template: str  # e.g. "/v1/payment_intents/{intent}"
    raw: dict[str, Any]

    @property
    def body_schema(self) -> dict[str, Any] | None:
        content = (self.raw.get("requestBody") or {}).get("content") or {}
        form = content.get("application/x-www-form-urlencoded") or {}
        return form.get("schema")

    @property
    def query_schema(self) -> dict[str, Any]:
        """The query `parameters` folded into one object schema, so one validator does both."""
        props: dict[str, Any] = {}
        required: list[str] = []
        for param in self.raw.get("parameters") or []:
            if param.get("in") != "query":
                continue
            props[param["name"]] = param.get("schema") or {}
            if param.get("required"):
                required.append(param["name"])
        return {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }


class Spec:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.version = raw.get("info", {}).get("version", API_VERSION)
        self._operations: dict[tuple[str, str], Operation] = {}
        # (regex, template) sorted so literal paths win over templated ones
        # (/v1/payment_intents/search before /v1/payment_intents/{intent}).
        self._matchers: list[tuple[re.Pattern[str], str, tuple[str, ...]]] = []
        for template, item in raw.get("paths", {}).items():
            for method, op in item.items():
                if method in ("get", "post", "delete"):
                    self._operations[(method.upper(), template)] = Operation(
                        method.upper(), template, op
                    )
            self._matchers.append(compile_template(template))
        self._matchers.sort(key=lambda m: (len(m[2]), -len(m[1])))

    def operation(self, method: str, template: str) -> Operation | None:
        return self._operations.get((method.upper(), template))

    def match(self, method: str, path: str) -> Operation | None:
        """The spec operation for a concrete request path, if Stripe has one."""
        for regex, template, _names in self._matchers:
            if regex.fullmatch(path):
                op = self.operation(method, template)
                if op is not None:
                    return op
        return None

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if not ref:
            return schema
        node: Any = self.raw
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node


def compile_template(template: str) -> tuple[re.Pattern[str], str, tuple[str, ...]]:
    names = tuple(re.findall(r"{(\w+)}", template))
    pattern = re.escape(template)
    for name in names:
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/]+)")
    return re.compile(pattern), template, names


_spec: Spec | None = None
_fixtures: dict[str, Any] | None = None
_load_lock = threading.Lock()


def get_spec() -> Spec:
    global _spec
    if _spec is None:
        with _load_lock:
            if _spec is None:
                _spec = Spec(_load_json(SPEC_FILE))
    return _spec


def fixture(resource: str) -> dict[str, Any]:
    """A fresh copy of Stripe's example object for a resource type (e.g. "payment_intent")."""
    global _fixtures
    if _fixtures is None:
        with _load_lock:
            if _fixtures is None:
                _fixtures = _load_json(FIXTURES_FILE)["resources"]
    return copy.deepcopy(_fixtures[resource])


# --- decoding the wire format -------------------------------------------------------------------

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`a[b][c]=1&l[0]=x&l[]=y` → {"a": {"b": {"c": "1"}}, "l": {"0": "x"}} / ["y"].

    Indexed arrays (`l[0]`, what the SDK sends) stay dicts keyed by the index until the schema
    says the parameter is an array; `l[]` appends. Leaves stay strings: the schema coerces them.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        m = _KEY_RE.match(key)
        if m is None:
            raise ParamError(f"Invalid parameter name: {key}", param=key)
        parts = [m.group(1), *re.findall(r"\[([^\[\]]*)\]", m.group(2))]
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            path = parts[0] + "".join(f"[{p}]" for p in parts[1:i])
            if part == "" and i > 0:
                # `name[]` appends; only meaningful as the final segment.
                if not last or not isinstance(node, list):
                    raise ParamError(f"Invalid array: {path}", param=path)
                node.append(value)
                break
            if not isinstance(node, dict):
                raise ParamError(f"Invalid hash: {path}", param=path)
            if last:
                if isinstance(node.get(part), dict | list):
                    raise ParamError(f"Invalid hash: {key}", param=key)
                node[part] = value
            else:
                nxt_is_append = parts[i + 1] == ""
                existing = node.get(part)
                if existing is None:
                    existing = [] if nxt_is_append else {}
                    node[part] = existing
                elif isinstance(existing, str):
                    raise ParamError(f"Invalid hash: {path}[{part}]", param=part)
                node = existing
    return root


# --- validation ---------------------------------------------------------------------------------


def validate(spec: Spec, schema: dict[str, Any] | None, params: dict[str, Any]) -> dict[str, Any]:
    """Check decoded params against an operation's schema and coerce strings to typed values.

    Raises ParamError with Stripe's messages ("Received unknown parameter: foo", "Invalid
    integer: abc", "Missing required param: amount.").
    """
    if schema is None:
        if params:
            name = sorted(params)[0]
            raise ParamError(
                f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
            )
        return {}
    return _coerce_object(spec, spec.resolve(schema), params, "")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "array" if value and all(k.isdigit() for k in value) else "object"
    if isinstance(value, list):
        return "array"
    return "scalar"


def _coerce(
    spec: Spec, schema: dict[str, Any], value: Any, param: str, allow_empty: bool = False
) -> Any:
    schema = spec.resolve(schema)
    if "anyOf" in schema:
        errors: list[tuple[dict[str, Any], ParamError]] = []
        for variant in schema["anyOf"]:
            try:
                return _coerce(spec, variant, value, param, allow_empty)
            except ParamError as exc:
                errors.append((spec.resolve(variant), exc))
        # Report the error of the variant whose shape matches what was sent: a hash sent to
        # anyOf[object, ""] should complain about the hash's content, not "Invalid string".
        shape = _shape(value)
        for variant, exc in errors:
            vtype = variant.get("type")
            vshape = vtype if vtype in ("object", "array") else "scalar"
            if vshape == shape or (shape == "array" and vtype == "object"):
                raise exc
        raise errors[0][1]

    typ = schema.get("type")
    if isinstance(value, str) and value == "" and typ != "object":
        if "" in (schema.get("enum") or []) or allow_empty:
            return ""
        raise ParamError(
            f"You passed an empty string for '{param}'. We assume empty values are an attempt "
            f"to unset a parameter; however '{param}' cannot be unset. You should remove "
            f"'{param}' from your request or supply a non-empty value.",
            param=param,
            code="parameter_invalid_empty",
        )

    if typ == "object" or (typ is None and "properties" in schema):
        if not isinstance(value, dict):
            raise ParamError(f"Invalid object: {param}", param=param)
        return _coerce_object(spec, schema, value, param)
    if typ == "array":
        items: list[Any]
        if isinstance(value, list):
            items = value
        elif isinstance(value, dict) and all(k.isdigit() for k in value):
            items = [value[k] for k in sorted(value, key=int)]
        else:
            raise ParamError(f"Invalid array: {param}", param=param)
        item_schema = schema.get("items") or {}
        return [_coerce(spec, item_schema, item, f"{param}[{i}]") for i, item in enumerate(items)]
    if not isinstance(value, str):
        # A hash or list where a scalar belongs.
        what = {"integer": "integer", "boolean": "boolean", "number": "decimal"}.get(
            typ or "", "string"
        )
        raise ParamError(f"Invalid {what}: {param}", param=param)
    if typ == "integer":
        if not re.fullmatch(r"-?\d+", value):
            raise ParamError(
                f"Invalid integer: {value}", param=param, code="parameter_invalid_integer"
            )
        return int(value)
    if typ == "number":
        try:
            return float(value)
        except ValueError:
            raise ParamError(f"Invalid decimal: {value}", param=param) from None
    if typ == "boolean":
        if value not in ("true", "false"):
            raise ParamError(f"Invalid boolean: {value}", param=param)
        return value == "true"
    if typ == "string":
        enum = schema.get("enum")
        if enum and value not in enum and not schema.get("x-stripeBypassValidation"):
            choices = ", ".join(e for e in enum if e)
            raise ParamError(f"Invalid {param}: must be one of {choices}", param=param)
        max_length = schema.get("maxLength")
        if max_length is not None and len(value) > max_length:
            raise ParamError(
                f"Invalid {param}: must be at most {max_length} characters", param=param
            )
        return value
    # An untyped schema: nothing to check.
    return value


def _coerce_object(
    spec: Spec, schema: dict[str, Any], value: dict[str, Any], prefix: str
) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    out: dict[str, Any] = {}
    for key, sub in value.items():
        name = _join(prefix, key)
        if key in props:
            out[key] = _coerce(spec, props[key], sub, name)
        elif isinstance(additional, dict):
            # Free-form maps such as metadata: an empty value means "unset this key".
            out[key] = _coerce(spec, additional, sub, name, allow_empty=True)
        elif additional is True or (not props and additional is None):
            out[key] = sub
        else:
            raise ParamError(
                f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
            )
    for key in schema.get("required") or []:
        if key not in value:
            name = _join(prefix, key)
            raise ParamError(
                f"Missing required param: {name}.", param=name, code="parameter_missing"
            )
    return out
