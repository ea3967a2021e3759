"""The checked-in OpenAPI document is exactly what the app serves, and every operation is
documented: operationId, summary, tags and its problem responses."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import jsonschema_rs

import app.schemas as schemas_package
from app.schemas.common import Input
from app.services.catalogue.currencies import MINOR_UNIT_EXPONENTS

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


async def test_served_spec_equals_the_checked_in_file(client):
    served = (await client.get("/openapi.json")).json()
    on_disk = json.loads(SPEC_PATH.read_text())
    assert served == on_disk, "openapi/openapi.json is stale: run `make openapi`"


async def test_every_operation_is_documented(client):
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    ids = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            ids.append(op.get("operationId"))
            assert op.get("operationId"), where
            assert op.get("summary"), where
            assert op.get("tags"), where
            errors = {s: r for s, r in op["responses"].items() if s.startswith(("4", "5"))}
            if path.startswith("/v1/"):
                assert {"400", "413", "422"} <= errors.keys(), where
            for status, response in errors.items():
                assert list(response["content"]) == ["application/problem+json"], (where, status)
            if op.get("security"):
                assert "401" in errors, where
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    assert "ProblemDetail" in spec["components"]["schemas"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def _components_doc(spec):
    return {"components": {"schemas": spec["components"]["schemas"]}}


async def test_schema_names_are_unique_and_readable(client):
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for name, body in schemas.items():
        assert "__" not in name and not name.startswith(("Page_", "Body_")), name
        assert body.get("title", name) == name, (name, body.get("title"))
    titles = [body.get("title", name) for name, body in schemas.items()]
    assert len(titles) == len(set(titles))
    assert {"BrandInvitationPage", "BriefInvitationPage", "BidPage"} <= schemas.keys()


async def test_every_operation_has_a_description_and_examples(client):
    spec = (await client.get("/openapi.json")).json()
    missing = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if not op.get("description"):
                missing.append(where)
            contents = [op.get("requestBody", {}).get("content", {})]
            contents += [r.get("content", {}) for r in op["responses"].values()]
            for content in contents:
                for media_type, media in content.items():
                    assert "example" in media or "examples" in media, (where, media_type)
    assert not missing, missing
    for name, body in spec["components"]["schemas"].items():
        assert body.get("examples") or body.get("enum"), name


async def test_every_example_satisfies_its_schema(client):
    spec = (await client.get("/openapi.json")).json()
    doc = _components_doc(spec)
    for name, body in spec["components"]["schemas"].items():
        validator = jsonschema_rs.validator_for(doc | {"$ref": f"#/components/schemas/{name}"})
        for example in body.get("examples", []):
            errors = [str(e) for e in validator.iter_errors(example)]
            assert not errors, (name, errors[:3])
    for path, item in spec["paths"].items():
        for method, op in item.items():
            contents = [op.get("requestBody", {}).get("content", {})]
            contents += [r.get("content", {}) for r in op["responses"].values()]
            for content in contents:
                for media in content.values():
                    if "example" in media:
                        validator = jsonschema_rs.validator_for(doc | media["schema"])
                        errors = [str(e) for e in validator.iter_errors(media["example"])]
                        assert not errors, (method, path, errors[:3])


def _input_models():
    for module in pkgutil.iter_modules(schemas_package.__path__):
        importlib.import_module(f"app.schemas.{module.name}")
    seen, todo = set(), [Input]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return seen


async def test_request_examples_pass_the_servers_validation(client):
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    checked = 0
    for model in _input_models():
        if model.__name__ in schemas:
            model.model_validate(schemas[model.__name__]["examples"][0])
            checked += 1
    assert checked >= 40


async def test_limits_patterns_and_enums_the_server_enforces_are_stated(client, settings):
    spec = (await client.get("/openapi.json")).json()
    limits = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            names = {p["name"]: p for p in op.get("parameters", [])}
            if "limit" in names:
                schema = names["limit"]["schema"]
                schema = next((b for b in schema.get("anyOf", []) if "maximum" in b), schema)
                assert schema["maximum"] == settings.page_size_max, (method, path)
                assert schema["minimum"] == 1, (method, path)
                limits += 1
            if method == "post" and path.startswith("/v1/"):
                key = names["Idempotency-Key"]["schema"]
                assert key["pattern"] == "^[!-~]+$" and key["maxLength"] == 255, path
    assert limits >= 23
    currency = spec["components"]["schemas"]["Budget"]["properties"]["currency"]
    assert currency["enum"] == sorted(MINOR_UNIT_EXPONENTS)


async def test_limit_above_the_stated_maximum_is_refused(client, settings):
    from tests.factories import register

    owner = await register(client)
    over = {"limit": settings.page_size_max + 1}
    r = await client.get("/v1/brands", params=over, headers=owner.headers)
    assert r.status_code == 422
    r = await client.get(
        "/v1/brands", params={"limit": settings.page_size_max}, headers=owner.headers
    )
    assert r.status_code == 200
