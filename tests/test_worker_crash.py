"""A worker SIGKILLed in the middle of a turn: the message is still answered, exactly once."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from app.workers.jobs import sweep
from tests.support.fake_vendors import hang, text_reply
from tests.support.julia import running_julia, vendor_settings
from tests.support.processes import Proc, base_env

PHONE = "5511987009900"
pytestmark = pytest.mark.slow


def worker(env: dict[str, str]) -> Proc:
    proc = Proc([sys.executable, "-m", "app.workers.fila_worker"], env)
    proc.wait_for("Worker started", timeout=60)
    return proc


async def test_a_turn_killed_mid_flight_is_answered_once(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    overrides = {
        **vendor_settings(fake.url),
        "TURN_LOCK_SECONDS": 2,
        "SWEEP_AFTER_SECONDS": 1,
    }
    settings = make_settings(DATABASE_URL=database_url, REDIS_URL=redis_url, **overrides)
    env = base_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        JULIA_DATA_DIR=str(settings.JULIA_DATA_DIR),
        **{k: str(v) for k, v in overrides.items()},
    )
    # The first model call never comes back in time: the worker dies while waiting for it.
    fake.anthropic.script(hang(30, then=text_reply("resposta que ninguém deve ver")))
    fake.anthropic.script(text_reply("oi! desculpa a demora, tenho plantão sim"))

    async with running_julia(settings, worker=False) as julia:
        first = worker(env)
        try:
            await julia.say(PHONE, "oi, tem plantão essa semana?")
            await fake.await_until(lambda: len(fake.anthropic.requests) == 1, timeout=20)
            first.kill()
        finally:
            first.kill()

        second = worker(env)
        try:
            # The lease of the dead turn expires; the sweep finds the unanswered message.
            await asyncio.sleep(2.5)
            await sweep(julia.res)
            await fake.await_until(lambda: fake.evolution.texts_to(PHONE), timeout=20)
            await asyncio.sleep(2.0)
            await sweep(julia.res)  # a second sweep finds nothing left to do
            await asyncio.sleep(1.0)
        finally:
            second.stop()

        assert fake.evolution.texts_to(PHONE) == ["oi! desculpa a demora, tenho plantão sim"]
        statuses = [
            r["status"] for r in await julia.res.db.fetch("SELECT status FROM turns ORDER BY id")
        ]
        assert statuses == ["failed", "ok"]
        assert await julia.count("SELECT count(*) FROM messages WHERE processed_at IS NULL") == 0
