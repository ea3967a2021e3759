"""The bulk loader and `rapport seed`: generated documents load with every derived row, read back
through the API in the documented shape, and the ground truth stays out of the database."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from app.models import (
    Brand,
    Brief,
    BriefTopic,
    Influencer,
    ListingCountry,
    ListingRate,
    ListingTopic,
    SocialAccount,
)
from app.schemas.brands import BrandIn
from app.schemas.briefs import BriefIn
from app.schemas.influencers import InfluencerIn
from rapport_dev import seed as generator
from rapport_dev.catalogue_load import catalogue_loader, seed_catalogue
from tests.factories import T0, assert_problem, register

LISTINGS, BRANDS, BRIEFS, SEED = 300, 12, 40, 7


@pytest.fixture(scope="module")
def marketplace():
    return generator.generate_marketplace(LISTINGS, BRANDS, BRIEFS, SEED, now=T0.date())


def test_generated_documents_pass_the_api_validation(marketplace):
    """The loader skips the API, so the generator's output must be what the API accepts."""
    problems = []
    for doc in marketplace.listings:
        body = {k: v for k, v in doc.items() if k != "id"}
        body["accounts"] = [{k: v for k, v in a.items() if k != "id"} for a in doc["accounts"]]
        try:
            InfluencerIn.model_validate(body)
        except ValidationError as exc:
            problems.append((doc["id"], exc.errors()[:2]))
    for doc in marketplace.brands:
        try:
            BrandIn.model_validate({k: v for k, v in doc.items() if k != "id"})
        except ValidationError as exc:
            problems.append((doc["id"], exc.errors()[:2]))
    for doc in marketplace.briefs:
        try:
            BriefIn.model_validate({k: v for k, v in doc.items() if k not in ("id", "state")})
        except ValidationError as exc:
            problems.append((doc["id"], exc.errors()[:2]))
    assert problems == []


async def _count(database, model) -> int:
    async with database.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(model))


def _public(listing: dict) -> dict:
    return {k: v for k, v in listing.items() if k not in ("created_at", "updated_at")}


async def test_seed_loads_everything_and_reads_back_in_the_documented_shape(
    client, database, marketplace, tmp_path
):
    truth_path = tmp_path / "truth.json"
    result = await seed_catalogue(
        database.engine,
        listings=LISTINGS,
        brands=BRANDS,
        briefs=BRIEFS,
        seed=SEED,
        truth_path=str(truth_path),
        today=T0.date(),
    )
    m = marketplace
    counts = result.counts
    assert (counts.listings, counts.brands, counts.briefs) == (LISTINGS, BRANDS, BRIEFS)
    expected_rows = {
        Influencer: LISTINGS,
        SocialAccount: sum(len(x["accounts"]) for x in m.listings),
        ListingTopic: sum(len(x["topics"]) for x in m.listings),
        ListingCountry: sum(len(x["audience"]["countries"]) for x in m.listings),
        ListingRate: sum(len(x["rate_card"]) for x in m.listings),
        Brand: BRANDS,
        Brief: BRIEFS,
        BriefTopic: sum(len(x["topics"]) for x in m.briefs),
    }
    for model, n in expected_rows.items():
        assert await _count(database, model) == n, model.__tablename__
        assert counts.rows[model.__tablename__] == n

    reader = await register(client)
    for doc in (m.listings[0], m.listings[-1]):
        r = await client.get(f"/v1/influencers/{doc['id']}", headers=reader.headers)
        assert r.status_code == 200
        # The generator lists no per-post data: the API shows none (empty lists).
        none = {"recent_posts": [], "comment_samples": []}
        expected = doc | {"accounts": [none | a for a in doc["accounts"]]}
        assert _public(r.json()) == expected
    listed = await client.get(
        "/v1/influencers",
        params={"topic": m.listings[0]["topics"][0], "limit": 100},
        headers=reader.headers,
    )
    assert m.listings[0]["id"] in {x["id"] for x in listed.json()["data"]}

    public = next(b for b in m.briefs if b["state"] == "open" and b["visibility"] == "public")
    r = await client.get(f"/v1/briefs/{public['id']}", headers=reader.headers)
    assert r.status_code == 200
    got = r.json()
    assert {k: got[k] for k in public} == public
    for hidden in (b for b in m.briefs if b["state"] == "draft" or b["visibility"] != "public"):
        r = await client.get(f"/v1/briefs/{hidden['id']}", headers=reader.headers)
        if hidden["state"] == "draft" or hidden["visibility"] == "invite_only":
            assert_problem(r, 404, "brief-not-found")

    # The ground truth is in its file only.
    truth = json.loads(truth_path.read_text())
    assert truth["seed"] == SEED and set(truth["briefs"]) == {b["id"] for b in m.briefs}
    assert set(truth["fake_listings"]) <= {x["id"] for x in m.listings}

    def columns(sync_conn):
        inspector = inspect(sync_conn)
        return {
            table: {c["name"] for c in inspector.get_columns(table)}
            for table in inspector.get_table_names()
        }

    async with database.engine.connect() as conn:
        schema = await conn.run_sync(columns)
    assert not any("truth" in t or "grade" in t or "fake" in t for t in schema)
    assert not any("fake" in c or "latent" in c for cols in schema.values() for c in cols)


async def test_a_failed_load_writes_nothing(database, marketplace):
    duplicate = json.loads(json.dumps(marketplace.listings[:3]))
    duplicate[2]["accounts"][0]["handle"] = duplicate[0]["accounts"][0]["handle"].upper()
    duplicate[2]["accounts"][0]["platform"] = duplicate[0]["accounts"][0]["platform"]
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with catalogue_loader(database.engine, bulk=True) as loader:
            await loader.add_brands(marketplace.brands[:2])
            await loader.add_listings(duplicate)
    assert await _count(database, Influencer) == 0
    assert await _count(database, Brand) == 0


async def test_bulk_mode_restores_indexes_and_constraints(database, marketplace):
    def schema(sync_conn):
        inspector = inspect(sync_conn)
        return {
            t: (
                sorted(i["name"] for i in inspector.get_indexes(t)),
                sorted(str(f["name"]) for f in inspector.get_foreign_keys(t)),
                sorted(str(u["name"]) for u in inspector.get_unique_constraints(t)),
            )
            for t in ("influencers", "social_accounts", "listing_countries", "listing_rates")
        }

    async with database.engine.connect() as conn:
        before = await conn.run_sync(schema)
    async with catalogue_loader(database.engine, bulk=True) as loader:
        await loader.stream_listings([marketplace.listings[:50], marketplace.listings[50:80]])
    async with database.engine.connect() as conn:
        assert await conn.run_sync(schema) == before
    assert await _count(database, Influencer) == 80


async def test_the_generator_process_path(database, tmp_path):
    truth_path = tmp_path / "truth.json"
    result = await seed_catalogue(
        database.engine,
        listings=120,
        brands=3,
        briefs=5,
        seed=3,
        truth_path=str(truth_path),
        today=T0.date(),
        parallel=True,
    )
    assert result.counts.listings == 120 and truth_path.exists()
    assert not (tmp_path / "truth.json.partial").exists()
    assert await _count(database, Influencer) == 120


def test_rapport_seed_command(database, database_url, monkeypatch, tmp_path):
    from app.cli import cli
    from app.settings import get_settings

    monkeypatch.setenv("RAPPORT_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        truth_path = tmp_path / "truth.json"
        result = CliRunner().invoke(
            cli,
            ["seed", "--listings", "40", "--brands", "3", "--briefs", "6", "--seed", "11",
             "--truth", str(truth_path), "--no-migrate"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "loaded 40 listings" in result.output
        assert json.loads(truth_path.read_text())["seed"] == 11
        # The same seed again clashes with the rows it made: refused, nothing added.
        again = CliRunner().invoke(
            cli,
            ["seed", "--listings", "40", "--brands", "3", "--briefs", "0", "--seed", "11",
             "--no-migrate"],
        )  # fmt: skip
        assert again.exit_code == 1 and "nothing loaded" in again.output
    finally:
        get_settings.cache_clear()


async def test_demo_seed_is_idempotent(client, database, settings):
    from rapport_dev.demo import DEMO_ACCOUNTS, DEMO_CATALOGUE, DEMO_PASSWORD, seed_demo

    assert await seed_demo(database, settings, today=T0.date()) is True
    assert await seed_demo(database, settings, today=T0.date()) is False
    assert await _count(database, Influencer) == DEMO_CATALOGUE["listings"] + 1
    assert await _count(database, Brief) == DEMO_CATALOGUE["briefs"] + 1  # + the demo brand's
    r = await client.post(
        "/v1/auth/token", data={"username": DEMO_ACCOUNTS["brand"], "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    mine = await client.get("/v1/brands", headers=headers)
    assert len(mine.json()["data"]) == 2  # the demo brand and the first generated one
    briefs = await client.get("/v1/briefs", params={"state": "draft"}, headers=headers)
    assert briefs.status_code == 200
