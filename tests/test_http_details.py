"""HTTP details a generic client relies on: `ETag` on negotiable reads, usable as `If-Match`."""

from __future__ import annotations

from tests.factories import (
    assert_problem,
    brief_body,
    create_brand,
    create_listing,
    make_offer,
    open_deal,
    register,
)


async def test_reading_an_offer_gives_the_etag_to_answer_it(client):
    deal = await open_deal(client)
    offer = await make_offer(client, deal.brand_owner, deal.bid["id"])
    creator = deal.influencer.headers
    r = await client.get(f"/v1/offers/{offer['id']}", headers=creator)
    assert r.status_code == 200, r.text
    etag = r.headers["etag"]
    bid = await client.get(f"/v1/bids/{deal.bid['id']}", headers=creator)
    assert etag == bid.headers["etag"]
    # The read's ETag is what the answer needs.
    r = await client.post(f"/v1/offers/{offer['id']}/accept", headers=creator | {"If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] != etag


async def test_every_negotiation_read_documents_its_etag(client):
    spec = (await client.get("/openapi.json")).json()
    for path in ("/v1/bids/{bid_id}", "/v1/bids/{bid_id}/offers", "/v1/offers/{offer_id}"):
        assert "ETag" in spec["paths"][path]["get"]["responses"]["200"]["headers"], path


async def test_integral_json_numbers_are_integers(client):
    # JSON Schema's `integer` (and so the OpenAPI document) includes 2.0; so does the server.
    # Fractions, booleans and strings are still refused.
    owner = await register(client)
    brand = await create_brand(client, owner)
    body = brief_body(brand["id"])
    body["budget"] |= {"total": 1_000_000.0, "per_influencer_min": 5e4}
    body["deliverables"] = [{"type": "instagram_reel", "count": 2.0}]
    r = await client.post("/v1/briefs", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    assert r.json()["budget"]["total"] == 1_000_000 and r.json()["deliverables"][0]["count"] == 2
    for bad in (2.5, True, "2"):
        body["deliverables"] = [{"type": "instagram_reel", "count": bad}]
        r = await client.post("/v1/briefs", json=body, headers=owner.headers)
        assert_problem(r, 422, "validation-error")


async def test_currencies_are_the_documented_upper_case_codes(client):
    spec = (await client.get("/openapi.json")).json()
    enum = spec["components"]["schemas"]["Budget"]["properties"]["currency"]["enum"]
    assert "EUR" in enum and all(code.isupper() for code in enum)
    owner = await register(client)
    brand = await create_brand(client, owner)
    body = brief_body(brand["id"])
    body["budget"]["currency"] = "eur"  # not in the enum: refused, not silently normalised
    r = await client.post("/v1/briefs", json=body, headers=owner.headers)
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["rule"] == "unsupported_currency"


async def test_patch_bodies_accept_null_exactly_where_documented(client):
    spec = (await client.get("/openapi.json")).json()
    owner = await register(client)
    brand = await create_brand(client, owner)
    props = spec["components"]["schemas"]["BrandPatch"]["properties"]
    for field, schema in props.items():
        nullable = any(b.get("type") == "null" for b in schema.get("anyOf", []))
        r = await client.patch(
            f"/v1/brands/{brand['id']}", json={field: None}, headers=owner.headers
        )
        assert (r.status_code == 200) is nullable, (field, r.text)


async def test_optional_bodies_are_an_object_or_nothing(client):
    deal = await open_deal(client)
    offer = await make_offer(client, deal.brand_owner, deal.bid["id"])
    creator = deal.influencer.headers
    url = f"/v1/offers/{offer['id']}/reject"
    json_type = {"content-type": "application/json"}
    # `null` is not the documented object: refused, and nothing changes.
    r = await client.post(url, content=b"null", headers=creator | json_type)
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["rule"] == "null_body"
    # No body at all is what the document calls optional.
    r = await client.post(url, headers=creator)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "rejected"
    spec = (await client.get("/openapi.json")).json()
    request_body = spec["paths"]["/v1/offers/{offer_id}/reject"]["post"]["requestBody"]
    assert not request_body.get("required")
    schema = request_body["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ReasonIn"}


# --- what schemathesis found: the document and the server now agree ------------------------


async def test_dates_are_strings_not_unix_times(client):
    owner = await register(client)
    r = await client.get("/v1/briefs", params={"deadline_before": "0"}, headers=owner.headers)
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["rule"] == "date_type"
    await create_listing(client, owner)
    post = {"brand": "Oatly", "category": "food", "date": 1_700_000_000, "platform": "instagram"}
    r = await client.patch(
        "/v1/influencers/me", json={"sponsored_posts": [post]}, headers=owner.headers
    )
    assert_problem(r, 422, "validation-error")


async def test_query_parameters_are_never_documented_as_null(client):
    spec = (await client.get("/openapi.json")).json()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for parameter in op.get("parameters", []):
                if parameter["in"] == "query":
                    branches = parameter["schema"].get("anyOf", [])
                    assert {"type": "null"} not in branches, (method, path, parameter["name"])


async def test_the_document_states_what_the_server_refuses(client):
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    owner = await register(client)
    brand = await create_brand(client, owner)
    # Blank names: "not blank" is a pattern, and the server refuses "  ".
    assert schemas["BrandIn"]["properties"]["name"]["pattern"] == r"\S"
    r = await client.patch(
        f"/v1/brands/{brand['id']}", json={"competitor_brands": [" "]}, headers=owner.headers
    )
    assert_problem(r, 422, "validation-error")
    # Repeated items: uniqueItems, and the server refuses repeats.
    assert schemas["BrandPatch"]["properties"]["values"]["uniqueItems"] is True
    # A country share keyed by something else than a country code: refused, and stated.
    countries = schemas["Audience"]["properties"]["countries"]
    assert countries["propertyNames"]["pattern"] == "^[A-Z]{2}$"
    assert "patternProperties" not in countries
    # Match weights: only the known components.
    weights = schemas["BriefIn"]["properties"]["match_weights"]["anyOf"][0]
    assert "topic_relevance" in weights["propertyNames"]["enum"]
    # An empty form field is a missing one: minLength 1.
    assert schemas["IssueTokenForm"]["properties"]["username"]["minLength"] == 1
    # Rate estimates: the known deliverable types and the currencies with a rate.
    params = {
        p["name"]: p["schema"] for p in spec["paths"]["/v1/rates/estimate"]["get"]["parameters"]
    }
    assert "instagram_reel" in params["deliverable_type"]["enum"]
    assert "EUR" in params["currency"]["enum"]


async def test_nul_characters_are_refused_before_the_database(client):
    # PostgreSQL text cannot hold NUL: it was a 500 there (found by schemathesis).
    owner = await register(client)
    r = await client.get("/v1/contracts", params={"brand_id": "a\x00b"}, headers=owner.headers)
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["rule"] == "nul_character"
    assert r.headers["x-request-id"]
    r = await client.get("/v1/briefs/brf_%00", headers=owner.headers)
    assert_problem(r, 422, "validation-error")
    r = await client.post("/v1/brands", json={"name": "Oat\x00ly"}, headers=owner.headers)
    assert_problem(r, 422, "validation-error")
    form = {"username": "mia\x00@example.com", "password": "x"}
    body = assert_problem(await client.post("/v1/auth/token", data=form), 422)
    assert body["errors"][0] == {
        "field": "username",
        "message": "text must not contain a NUL character",
        "rule": "nul_character",
    }
    assert (await client.get("/v1/brands", headers=owner.headers)).json()["data"] == []


async def test_contract_states_are_an_enum(client):
    owner = await register(client)
    r = await client.get("/v1/contracts", params={"state": "bogus"}, headers=owner.headers)
    assert_problem(r, 422, "validation-error")
    r = await client.get("/v1/contracts", params={"state": "active"}, headers=owner.headers)
    assert r.status_code == 200


async def test_every_route_that_takes_a_body_refuses_null_and_no_other_solves_the_check(
    client, app
):
    # `refuse_null_body` sits on each POST, PUT and PATCH route (app/main.py), not app-wide:
    # every such route refuses a `null` JSON body before anything else runs, whoever calls.
    from fastapi.routing import APIRoute

    from app.deps import refuse_null_body
    from app.main import ROUTERS

    spec = (await client.get("/openapi.json")).json()
    json_type = {"content-type": "application/json"}
    refused = []
    for path, item in spec["paths"].items():
        for method in ("post", "put", "patch"):
            if method in item:
                url = path.replace("{", "").replace("}", "")  # any id: the check runs first
                r = await client.request(method, url, content=b"null", headers=json_type)
                body = r.json() if r.status_code == 422 else {}
                refused.append((method, path, [e.get("rule") for e in body.get("errors", [])]))
    assert refused and all(rules == ["null_body"] for _, _, rules in refused), [
        r for r in refused if r[2] != ["null_body"]
    ]
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) > len(refused)
    for route in routes:
        checks = [d for d in route.dependencies if d.dependency is refuse_null_body]
        assert len(checks) == bool(route.methods & {"POST", "PUT", "PATCH"}), route.path
