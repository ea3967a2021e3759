"""Finishing touches on the generated OpenAPI document, for code generators and fuzzers.

FastAPI derives most of the document from the routes and models; what it cannot know is added
here, from the same sources the server enforces:

- generic pages and form bodies get readable names (`Page[BidOut]` → `BidPage`, not
  `Page_BidOut_`; `Body_issue_token` → `IssueTokenForm`);
- every `limit` states the page-size cap the server enforces (`Settings.page_size_max`);
- an optional body is the object or nothing, never `null` (what the server accepts);
- every schema and every JSON response carries an example (`app/openapi_examples.py`);
- every route that takes the sign-in token also takes an API key (`ApiKey`, an HTTP bearer
  scheme), with the same scopes listed in its security requirement;
- every route whose scopes a partner application may be granted also takes its OAuth token
  (`PartnerOAuth`: authorization code with PKCE, and client credentials for the catalogue).
"""

from __future__ import annotations

import json
from typing import Any

from app.openapi_examples import example_for
from app.services.identity.scopes import CLIENT_CREDENTIALS_SCOPES, OAUTH_SCOPES, SCOPE_DESCRIPTIONS
from app.settings import Settings

_REF = "#/components/schemas/"


def refine(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    schema = _rename_components(schema, components)
    components = schema["components"]["schemas"]
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            _limits(operation, settings)
            _optional_body(operation)
            _query_values(operation)
    _examples(schema, components)
    _api_key_security(schema)
    _partner_oauth_security(schema)
    _rate_limit_headers(schema)
    return schema


RATE_LIMIT_HEADERS = {
    "Retry-After": {
        "description": "Seconds until the credential's bucket takes a request again",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Policy": {
        "description": 'The quota and its window (IETF draft): `"standard";q=600;w=60`',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'Requests left and seconds until one more fits: `"standard";r=0;t=42`',
        "schema": {"type": "string"},
    },
}


def _rate_limit_headers(schema: dict[str, Any]) -> None:
    """A 429 (app/services/identity/rate_limits.py) always says when to come back."""
    schema["components"].setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
    refs = {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_LIMIT_HEADERS}
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            refused = operation.get("responses", {}).get("429")
            if refused is not None:
                refused.setdefault("headers", {}).update(refs)


API_KEY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "rk_live_… / rk_test_…",
    "description": "An API key made with `POST /v1/api-keys`, sent as "
    "`Authorization: Bearer rk_…`. It holds the scopes it was made with; each operation lists "
    "the scopes it needs.",
}


def _api_key_security(schema: dict[str, Any]) -> None:
    """`Authenticator` accepts a sign-in token or an API key; FastAPI knows only the first."""
    schemes = schema["components"].setdefault("securitySchemes", {})
    if "OAuth2PasswordBearer" not in schemes:
        return
    schemes["ApiKey"] = API_KEY_SCHEME
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            security = operation.get("security", [])
            for requirement in list(security):
                if "OAuth2PasswordBearer" in requirement:
                    security.append({"ApiKey": requirement["OAuth2PasswordBearer"]})


def partner_oauth_scheme() -> dict[str, Any]:
    def scopes(names: frozenset[str]) -> dict[str, str]:
        return {name: SCOPE_DESCRIPTIONS[name] for name in sorted(names)}

    return {
        "type": "oauth2",
        "description": "A partner application's token (docs/partners.md): acting for a user who "
        "consented on Rapport's page (authorization code with PKCE S256; refresh tokens rotate), "
        "or for the application itself on the public catalogue (client credentials). Sent as "
        "`Authorization: Bearer roa_…`.",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": "/oauth/authorize",
                "tokenUrl": "/oauth/token",
                "refreshUrl": "/oauth/token",
                "scopes": scopes(OAUTH_SCOPES),
            },
            "clientCredentials": {
                "tokenUrl": "/oauth/token",
                "scopes": scopes(CLIENT_CREDENTIALS_SCOPES),
            },
        },
    }


def _partner_oauth_security(schema: dict[str, Any]) -> None:
    """`Authenticator` accepts a partner's OAuth token where its scopes can be granted one."""
    schemes = schema["components"].setdefault("securitySchemes", {})
    if "OAuth2PasswordBearer" not in schemes:
        return
    schemes["PartnerOAuth"] = partner_oauth_scheme()
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            security = operation.get("security", [])
            for requirement in list(security):
                needed = requirement.get("OAuth2PasswordBearer")
                if needed is not None and set(needed) <= OAUTH_SCOPES:
                    security.append({"PartnerOAuth": needed})


def _rename_components(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Components whose key FastAPI mangled (`Page_BidOut_`) take their model's title."""
    renames = {
        key: body["title"]
        for key, body in components.items()
        if key.startswith("Page_") and body.get("title") and body["title"] not in components
    }
    # FastAPI names a form body `Body_<operation id>`: `Body_issue_token` → `IssueTokenForm`.
    for key, body in components.items():
        if key.startswith("Body_"):
            renames[key] = "".join(w.capitalize() for w in key[5:].split("_")) + "Form"
            body["title"] = renames[key]
            # An empty form field is a missing one to the server.
            for name in body.get("required", []):
                prop = body["properties"][name]
                if prop.get("type") == "string":
                    prop["minLength"] = max(1, prop.get("minLength", 0))
    if not renames:
        return schema
    text = json.dumps(schema)
    for old, new in renames.items():
        text = text.replace(f'"{_REF}{old}"', f'"{_REF}{new}"')
    renamed: dict[str, Any] = json.loads(text)
    schemas = renamed["components"]["schemas"]
    renamed["components"]["schemas"] = {
        renames.get(key, key): body for key, body in sorted(schemas.items())
    }
    renamed["components"]["schemas"] = dict(sorted(renamed["components"]["schemas"].items()))
    return renamed


def _limits(operation: dict[str, Any], settings: Settings) -> None:
    # `pagination.resolve_limit` reads the cap from settings at request time, so FastAPI cannot
    # see it; state it here so clients and fuzzers know the bound.
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("name") == "limit":
            target = parameter["schema"]
            branches = target.get("anyOf")
            if branches:
                target = next(b for b in branches if b.get("type") == "integer")
            target["minimum"] = max(1, target.get("minimum", 1))
            target["maximum"] = settings.page_size_max


def _query_values(operation: dict[str, Any]) -> None:
    """A query parameter is absent or a string: FastAPI's `null` branch (from `X | None`) would
    tell clients and fuzzers to send the text "null"."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
        if parameter.get("in") == "query" and "anyOf" in schema and branches:
            if len(branches) == 1:
                del schema["anyOf"]
                schema.update(branches[0])
            else:
                schema["anyOf"] = branches
            if schema.get("default", 0) is None:
                del schema["default"]


def _optional_body(operation: dict[str, Any]) -> None:
    """An optional body is "the object, or no body at all" (`deps.refuse_null_body` refuses a
    JSON `null`): generated clients then leave it out instead of sending an unset value."""
    body = operation.get("requestBody")
    if not body or body.get("required"):
        return
    for media in body.get("content", {}).values():
        branches = [b for b in media["schema"].get("anyOf", []) if b != {"type": "null"}]
        if len(branches) == 1:
            media["schema"] = branches[0]


def _examples(schema: dict[str, Any], components: dict[str, Any]) -> None:
    for name, body in components.items():
        if "examples" not in body and "enum" not in body:
            body["examples"] = [example_for({"$ref": _REF + name}, components)]
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            contents = [operation.get("requestBody", {}).get("content", {})]
            contents += [r.get("content", {}) for r in operation.get("responses", {}).values()]
            for content in contents:
                for media in content.values():
                    if "example" not in media and "examples" not in media and "schema" in media:
                        media["example"] = example_for(media["schema"], components)
