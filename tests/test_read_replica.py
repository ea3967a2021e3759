"""A read replica (docs/deployment.md#read-replicas, app/replica.py): catalogue reads from a
streaming standby, writes and everything else on the primary, read-your-writes, fallback.

The replica here is real: a scratch primary cluster and a hot standby of it made by
`pg_basebackup -R`, streaming its WAL (rapport_dev/pgcluster.py; about 3 s to start), rather
than a second database made to look stale. Staleness is made deterministic by pausing the
standby's replay (`pg_wal_replay_pause()`): what is written on the primary meanwhile is
invisible on the replica until replay resumes, so a test can tell which server answered. The
shared server at 5432 cannot be the primary: its pg_hba allows no replication connections.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from app.clock import Clock
from app.db import _READS_ONLY
from app.main import create_app
from app.migrations_state import upgrade
from app.models import Base
from app.replica import catalogue_source
from app.settings import Settings
from rapport_dev.pgcluster import ScratchPair, free_port
from tests.conftest import BACKEND, IN_CI, make_settings
from tests.factories import T0, add_member, create_brand, create_brief, register

postgresql_only = pytest.mark.skipif(
    BACKEND != "postgresql", reason="a streaming standby is a PostgreSQL server"
)

READ_FROM = "rapport-read-from"


# --- which routes may read from a replica (any backend) -------------------------------------


def test_only_the_catalogue_reads_from_a_replica(app: Any) -> None:
    """Money, contracts, negotiation, identity: never a `@reads_only` route (they would read
    from the replica). A new replica-read route must be added here on purpose."""
    routes = [
        ctx
        for route in app.routes
        for ctx in (
            route.effective_route_contexts()
            if hasattr(route, "effective_route_contexts")  # FastAPI 0.165's included routers
            else [route]
        )
    ]
    marked = {
        (method, route.path)
        for route in routes
        if getattr(getattr(route, "endpoint", None), _READS_ONLY, False)
        for method in route.methods
    }
    assert marked == {
        ("GET", "/v1/briefs"),
        ("GET", "/v1/briefs/{brief_id}"),
        ("GET", "/v1/influencers"),
        ("GET", "/v1/influencers/{influencer_id}"),
    }


def test_replica_settings_are_checked() -> None:
    pg = "postgresql+asyncpg://app:hunter2pw@db:5432/rapport"
    with pytest.raises(ValueError, match="RAPPORT_DATABASE_REPLICA_URL"):
        Settings(database_replica_url=pg)  # the primary is SQLite
    with pytest.raises(ValueError, match="RAPPORT_READ_YOUR_WRITES_SECONDS"):
        Settings(
            database_url=pg,
            database_replica_url=pg.replace("db:", "replica:"),
            database_replica_max_lag_seconds=5,
            read_your_writes_seconds=5,
        )
    settings = Settings(database_url=pg, database_replica_url=pg.replace("db:", "replica:"))
    assert "hunter2pw" not in repr(settings)
    assert Settings(database_url=pg, database_replica_url="").database_replica_url is None


# --- a real standby ---------------------------------------------------------------------------


class Standby:
    def __init__(self, pair: ScratchPair, primary_url: str, replica_url: str) -> None:
        self.pair, self.primary_url, self.replica_url = pair, primary_url, replica_url

    @staticmethod
    def _plain(url: str) -> str:
        return url.replace("postgresql+asyncpg://", "postgresql://")

    async def on_primary(self, sql: str) -> Any:
        conn = await asyncpg.connect(self._plain(self.primary_url))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def on_replica(self, sql: str) -> Any:
        conn = await asyncpg.connect(self._plain(self.replica_url))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def caught_up(self) -> None:
        lsn = await self.on_primary("SELECT pg_current_wal_lsn()::text")
        for _ in range(200):
            if await self.on_replica(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the standby did not replay the primary's WAL within 10 s")

    async def pause(self) -> None:
        await self.caught_up()
        await self.on_replica("SELECT pg_wal_replay_pause()")
        for _ in range(100):
            if await self.on_replica("SELECT pg_get_wal_replay_pause_state() = 'paused'"):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the standby's replay did not pause")

    async def resume(self) -> None:
        await self.on_replica("SELECT pg_wal_replay_resume()")
        await self.caught_up()


@pytest.fixture(scope="module")
def standby() -> Iterator[Standby]:
    if BACKEND != "postgresql":
        pytest.skip("a streaming standby is a PostgreSQL server")
    try:
        pair = ScratchPair.create()
    except FileNotFoundError as exc:
        if IN_CI:
            pytest.fail(f"{exc} (CI=true: this is a failure)")
        pytest.skip(str(exc))
    try:
        # Durability is not under test: no fsync keeps the scratch primary quick.
        primary = pair.start_primary({"fsync": "off"})
        asyncio.run(_create_database(primary.url(driver="postgresql")))
        upgrade(primary.url("rapport"))
        # The standby is a copy of the migrated primary, then streams what follows.
        replica = pair.add_standby({"fsync": "off"})
        yield Standby(pair, primary.url("rapport"), replica.url("rapport"))
    finally:
        pair.stop()


async def _create_database(admin_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute("CREATE DATABASE rapport")
    finally:
        await conn.close()


def _settings(standby: Standby, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_replica_url": standby.replica_url,
        # Generous: replay is paused on purpose below; the lag test lowers it on its own.
        "database_replica_max_lag_seconds": 30.0,
        "read_your_writes_seconds": 31.0,
    }
    return make_settings(standby.primary_url, **(values | overrides))


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://rapport.test")


@pytest.fixture
async def node(standby: Standby) -> AsyncIterator[Any]:
    """An API node with the replica, its lag checked once (the replica usable) before use."""
    app = create_app(_settings(standby), clock=Clock(frozen_at=T0))
    replica = app.state.resources.database.replica
    await replica.check()
    assert replica.usable, replica.reason
    yield app
    await app.state.resources.database.dispose()
    await standby.on_replica("SELECT pg_wal_replay_resume()")
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    await standby.on_primary(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def _ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()["data"]}


@postgresql_only
async def test_catalogue_reads_come_from_the_replica_and_writers_read_their_writes(
    node: Any, standby: Standby
) -> None:
    async with _client(node) as client:
        owner = await register(client)
        brand = await create_brand(client, owner)
        seen = await create_brief(client, owner, brand["id"], state="open")
        reader = await register(client)  # signing up and in: no credential wrote
        await standby.pause()

        # Written on the primary while the replica stands still.
        fresh = await create_brief(client, owner, brand["id"], state="open")

        listed = await client.get("/v1/briefs", headers=reader.headers)
        assert listed.headers[READ_FROM] == "replica"
        assert _ids(listed) == {seen["id"]}  # the replica's view: the new brief is not there

        # The owner wrote a moment ago: its reads come from the primary.
        own = await client.get("/v1/briefs", headers=owner.headers)
        assert own.headers[READ_FROM] == "primary"
        assert _ids(own) == {seen["id"], fresh["id"]}

        # Anyone may ask for the primary (e.g. after a webhook told them of a change).
        asked = await client.get(
            "/v1/briefs", headers={**reader.headers, "Rapport-Read-From": "primary"}
        )
        assert asked.headers[READ_FROM] == "primary"
        assert _ids(asked) == {seen["id"], fresh["id"]}
        wrong = await client.get(
            "/v1/briefs", headers={**reader.headers, "Rapport-Read-From": "sideways"}
        )
        assert wrong.status_code == 422, wrong.text

        # One object the replica does not have yet is looked for on the primary: never a 404
        # for something that exists.
        one = await client.get(f"/v1/briefs/{fresh['id']}", headers=reader.headers)
        assert one.status_code == 200, one.text
        assert one.json()["id"] == fresh["id"]
        assert one.headers[READ_FROM] == "primary"
        missing = await client.get("/v1/briefs/brf_nothing", headers=reader.headers)
        assert missing.status_code == 404

        # A route that is not a catalogue read never reads the replica.
        brands = await client.get("/v1/brands", headers=owner.headers)
        assert READ_FROM not in brands.headers
        assert [b["id"] for b in brands.json()["data"]] == [brand["id"]]

        # Replay resumed: the replica shows it too.
        await standby.resume()
        listed = await client.get("/v1/briefs", headers=reader.headers)
        assert listed.headers[READ_FROM] == "replica"
        assert _ids(listed) == {seen["id"], fresh["id"]}


@postgresql_only
async def test_an_account_or_key_the_replica_lacks_is_authenticated_on_the_primary(
    node: Any, standby: Standby
) -> None:
    async with _client(node) as client:
        owner = await register(client)
        made = await client.post(
            "/v1/api-keys", json={"name": "feed", "scopes": ["briefs:read"]}, headers=owner.headers
        )
        assert made.status_code == 201, made.text
        key = made.json()
        await standby.pause()

        # Signed up while replay stands still: the replica has no such account.
        newcomer = await register(client)
        read = await client.get("/v1/briefs", headers=newcomer.headers)
        assert read.status_code == 200, read.text
        assert read.headers[READ_FROM] == "primary"

        # The key the replica knows reads from it; its use is recorded on the primary.
        by_key = await client.get(
            "/v1/briefs", headers={"Authorization": f"Bearer {key['secret']}"}
        )
        assert by_key.status_code == 200, by_key.text
        assert by_key.headers[READ_FROM] == "replica"
        used = await standby.on_primary(
            f"SELECT last_used_at IS NOT NULL FROM api_keys WHERE id = '{key['id']}'"
        )
        assert used is True


@postgresql_only
async def test_read_your_writes_holds_across_api_nodes_through_redis(
    standby: Standby, node: Any
) -> None:
    prefix = f"rapport-test-{secrets.token_hex(4)}"
    shared = {"redis_url": "redis://127.0.0.1:6379/0", "redis_key_prefix": prefix}
    a = create_app(_settings(standby, **shared), clock=Clock(frozen_at=T0))
    b = create_app(_settings(standby, **shared), clock=Clock(frozen_at=T0))
    alone = create_app(_settings(standby), clock=Clock(frozen_at=T0))
    try:
        for other in (a, b, alone):
            await other.state.resources.database.replica.check()
        async with _client(node) as client, _client(a) as via_a, _client(b) as via_b:
            owner = await register(client)
            brand = await create_brand(client, owner)
            writer = await register(client)
            await add_member(client, brand["id"], owner, writer)  # through another node
            await standby.pause()

            written = await create_brief(via_a, writer, brand["id"], state="open")
            # Node B learns of the write through Redis: the writer reads it back.
            back = await via_b.get("/v1/briefs", headers=writer.headers)
            assert back.headers[READ_FROM] == "primary"
            assert written["id"] in _ids(back)
            # A node that shares nothing would have read the replica, without it.
            async with _client(alone) as via_alone:
                stale = await via_alone.get("/v1/briefs", headers=writer.headers)
            assert stale.headers[READ_FROM] == "replica"
            assert written["id"] not in _ids(stale)
    finally:
        for other in (a, b, alone):
            await other.state.resources.database.dispose()


@postgresql_only
async def test_a_replica_too_far_behind_is_not_read_until_it_catches_up(
    node: Any, standby: Standby, caplog: pytest.LogCaptureFixture
) -> None:
    replica = node.state.resources.database.replica
    async with _client(node) as client:
        owner = await register(client)
        brand = await create_brand(client, owner)
        reader = await register(client)
        await standby.pause()
        fresh = await create_brief(client, owner, brand["id"], state="open")
        replica.max_lag = 0.2
        await asyncio.sleep(0.5)
        with caplog.at_level(logging.WARNING, logger="rapport.replica"):
            await replica.check()
        assert not replica.usable
        assert "behind the primary" in replica.reason
        assert "read replica not used" in caplog.text

        listed = await client.get("/v1/briefs", headers=reader.headers)
        assert listed.headers[READ_FROM] == "primary"
        assert fresh["id"] in _ids(listed)

        await standby.resume()
        await replica.check()
        assert replica.usable, replica.reason
        assert (await client.get("/v1/briefs", headers=reader.headers)).headers[
            READ_FROM
        ] == "replica"


@postgresql_only
async def test_a_replica_that_goes_away_is_never_an_error(
    node: Any, standby: Standby, caplog: pytest.LogCaptureFixture
) -> None:
    replica = node.state.resources.database.replica
    async with _client(node) as client:
        owner = await register(client)
        brand = await create_brand(client, owner)
        brief = await create_brief(client, owner, brand["id"], state="open")
        reader = await register(client)
        await standby.caught_up()
        first = await client.get(f"/v1/briefs/{brief['id']}", headers=reader.headers)
        assert first.headers[READ_FROM] == "replica"

        # The standby ends every connection of the app's pool, as a restart would.
        ended = await standby.on_replica(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        assert ended >= 1
        with caplog.at_level(logging.WARNING, logger="rapport.replica"):
            again = await client.get(f"/v1/briefs/{brief['id']}", headers=reader.headers)
        assert again.status_code == 200, again.text
        assert again.headers[READ_FROM] == "primary"
        assert not replica.usable
        assert "read replica not used" in caplog.text
        # Set aside until a check finds it fit again.
        assert (await client.get("/v1/briefs", headers=reader.headers)).headers[
            READ_FROM
        ] == "primary"
        await replica.check()
        assert replica.usable, replica.reason

    # A replica nobody answers at: every read from the primary, logged, never a 5xx.
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/rapport"
    unreachable = create_app(
        _settings(standby, database_replica_url=nowhere), clock=Clock(frozen_at=T0)
    )
    try:
        with caplog.at_level(logging.WARNING, logger="rapport.replica"):
            await unreachable.state.resources.database.replica.check()
        assert "unreachable" in unreachable.state.resources.database.replica.reason
        async with _client(unreachable) as client:
            listed = await client.get("/v1/briefs", headers=reader.headers)
        assert listed.headers[READ_FROM] == "primary"
        assert _ids(listed) == {brief["id"]}
    finally:
        await unreachable.state.resources.database.dispose()


@postgresql_only
async def test_bulk_catalogue_reads_use_the_replica_when_fit(node: Any, standby: Standby) -> None:
    """The matching index's build reads from the replica, unless it is unfit."""
    database = node.state.resources.database
    async with database.catalogue_reads() as session:
        assert await session.scalar(text("SELECT pg_is_in_recovery()")) is True
    database.replica.usable = False
    async with database.catalogue_reads() as session:
        assert await session.scalar(text("SELECT pg_is_in_recovery()")) is False

    settings = node.state.resources.settings
    assert await catalogue_source(settings) == standby.replica_url
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/rapport"
    unreachable = settings.model_copy(update={"database_replica_url": nowhere})
    assert await catalogue_source(unreachable) == standby.primary_url
    await standby.pause()
    async with _client(node) as client:
        await register(client)  # WAL the paused standby does not replay
    await asyncio.sleep(0.3)
    behind = settings.model_copy(update={"database_replica_max_lag_seconds": 0.1})
    assert await catalogue_source(behind) == standby.primary_url
