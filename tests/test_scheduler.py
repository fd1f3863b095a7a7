"""Scheduler replicas: one leader runs each tick once; a dead leader is replaced in a lease."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from app.workers.scheduler import JobSpec, heartbeat
from tests.support.processes import Proc, base_env

LEASE = 3


def _executed_slots(proc: Proc) -> list[str]:
    return [
        m.group(1)
        for line in proc.matching(r"Job executed: heartbeat")
        if (m := re.search(r"slot=(\S+)", line))
    ]


def test_slots_are_aligned_ticks() -> None:
    spec = JobSpec("x", heartbeat, 5)
    assert spec.slot(datetime(2026, 11, 25, 10, 0, 7, 900000, tzinfo=UTC)) == datetime(
        2026, 11, 25, 10, 0, 5, tzinfo=UTC
    )
    assert spec.slot(datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC)).second == 5


@pytest.mark.slow
async def test_two_schedulers_run_each_tick_once_and_hand_over(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = base_env(
        RUN_MODE="scheduler",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        HEARTBEAT_SECONDS="1",
        SCHEDULER_LEASE_SECONDS=str(LEASE),
        JULIA_DATA_DIR=str(tmp_path),
    )
    first = Proc(["python", "-m", "app.workers.scheduler"], env)
    second: Proc | None = None
    try:
        first.wait_for("Scheduler started.*leader=True", timeout=60)
        second = Proc(["python", "-m", "app.workers.scheduler"], env)
        second.wait_for("Scheduler started.*leader=False", timeout=60)
        first.wait_for("Job executed: heartbeat", timeout=10)
        await asyncio.sleep(4)  # several ticks with both replicas up

        assert second.matching("Job executed") == [], "the standby must not run jobs"
        before_kill = _executed_slots(first)
        assert len(before_kill) >= 3

        first.kill()  # SIGKILL: no chance to release the lease
        killed_at = time.monotonic()
        second.wait_for("scheduler.leader.acquired", timeout=LEASE + 5)
        handover = time.monotonic() - killed_at
        second.wait_for("Job executed: heartbeat", timeout=5)
        await asyncio.sleep(2)
    finally:
        first.kill()
        if second is not None:
            assert second.stop(signal.SIGTERM) == 0, second.output

    # The lease expires LEASE s after its last renewal; the standby retries every LEASE/3 s.
    assert handover <= LEASE + LEASE / 3 + 1.5, f"handover took {handover:.1f}s"
    after_kill = _executed_slots(second)
    all_slots = before_kill + after_kill
    assert len(all_slots) == len(set(all_slots)), "a tick ran twice"

    conn = await asyncpg.connect(database_url)
    rows = await conn.fetch(
        "SELECT slot, status, host FROM job_runs WHERE job_name = 'heartbeat' ORDER BY slot"
    )
    await conn.close()
    assert {r["status"] for r in rows} == {"ok"}
    assert len({r["host"] for r in rows}) == 2  # both replicas led, one after the other
    recorded = {r["slot"].isoformat() for r in rows}
    assert set(all_slots) <= recorded
