"""The checked-in OpenAPI document is exactly what the app serves, and every operation is
documented: operationId, summary, tags and its problem responses."""

from __future__ import annotations

import json
from pathlib import Path

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
