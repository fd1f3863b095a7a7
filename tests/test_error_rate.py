"""The error-rate alert counts all work: webhooks answered 5xx, failed sends and failed
scheduled jobs, not only turns; a campaign that fails is a failed job, never an ok one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from app.core.redis import WORKER_HEARTBEAT_KEY
from app.core.resources import Resources, open_resources
from app.workers.alert_jobs import alertas
from app.workers.outreach_jobs import processar_campanhas
from app.workers.scheduler import JobSpec, JuliaScheduler
from tests.support.julia import running_julia, text_message, vendor_settings
from tests.support.outreach import seed_world


@pytest.fixture
async def res(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> AsyncIterator[Resources]:
    settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SLACK_WEBHOOK_URL=fake.url + "/slack/webhook",
    )
    async with open_resources(settings) as resources:
        await resources.redis.set(WORKER_HEARTBEAT_KEY, "alive", ex=600)
        yield resources


def posts(fake: Any) -> list[str]:
    return [str(p["text"]) for p in fake.slack.webhook_posts]


async def test_webhooks_answered_503_count_as_failed_work(
    res: Resources, make_settings: Any, database_url: str, fake: Any
) -> None:
    settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=res.settings.redis_dsn, **vendor_settings(fake.url)
    )
    name = database_url.split("?")[0].rsplit("/", 1)[-1]
    admin = await asyncpg.connect(database_url.replace(f"/{name}?", "/postgres?"))
    try:
        async with running_julia(settings, worker=False) as julia:
            # The database refuses connections: Evolution gets 503 and will retry.
            await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            for i in range(3):
                response = await julia.post(text_message(f"551198701{i:04d}", "oi"))
                assert response.status_code == 503
            await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
            for i in range(7):
                response = await julia.post(text_message(f"551198700{i:04d}", "oi"))
                assert response.status_code == 200
    finally:
        await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        await admin.close()
    await res.db.expire_connections()

    await alertas(res)
    assert len(posts(fake)) == 1, posts(fake)
    assert "webhooks 3 de 10 falharam (30%)" in posts(fake)[0]
    assert "whats-agents-api" in posts(fake)[0]


async def test_failed_sends_count_as_failed_work(res: Resources, fake: Any) -> None:
    now = datetime.now(UTC)
    world = await seed_world(res.db, now=now, doctors=12)
    for i, doctor in enumerate(world.doctors):
        failed = i < 3
        await res.db.execute(
            """INSERT INTO outbound_sends (idempotency_key, kind, proactive, doctor_id, to_phone,
                                           body, status, reason, error, decided_at, sent_at)
               VALUES ($1, 'reply', false, $2, $3, 'oi', $4, $5, $6, $7, $8)""",
            f"test:{i}",
            doctor,
            f"55119{i + 1:08d}",
            "failed" if failed else "sent",
            "erro_envio" if failed else "enviado",
            "Evolution answered 500" if failed else None,
            now - timedelta(minutes=5),
            None if failed else now - timedelta(minutes=5),
        )
    await alertas(res)
    assert len(posts(fake)) == 1, posts(fake)
    assert "envios 3 de 12 falharam (25%)" in posts(fake)[0]
    assert "Evolution answered 500" in posts(fake)[0]


async def test_a_failing_campaign_is_a_failed_job_and_counts(res: Resources, fake: Any) -> None:
    now = datetime.now(UTC)
    world = await seed_world(res.db, now=now, doctors=2)
    # A campaign written by hand with a specialty name where its id belongs: it cannot run.
    campaign = await res.db.fetchval(
        """INSERT INTO campaigns (name, kind, status, created_by, filters)
           VALUES ('Pediatria fim de semana', 'oferta', 'ativa', 'ana', $1) RETURNING id""",
        json.dumps({"specialty_ids": ["Pediatria"]}),
    )
    await res.db.execute(
        "INSERT INTO campaign_shifts (campaign_id, shift_id) VALUES ($1, $2)",
        campaign,
        world.shifts[0],
    )
    spec = JobSpec("processar_campanhas", processar_campanhas, 60)
    scheduler = JuliaScheduler(res, [spec])
    for minute in range(10):  # ten ticks of the job, each in its own slot
        await scheduler._tick(spec, now - timedelta(minutes=20 - minute))
    runs = await res.db.fetch("SELECT status, error FROM job_runs ORDER BY id")
    assert [r["status"] for r in runs] == ["failed"] * 10
    assert f"campanha {campaign}" in runs[0]["error"]

    await alertas(res)
    assert len(posts(fake)) == 1, posts(fake)
    assert "jobs 10 de 10 falharam (100%)" in posts(fake)[0]
    assert "processar_campanhas" in posts(fake)[0]
