"""Scheduler replicas: one leader runs each tick once; a dead leader is replaced in a lease."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.core.resources import Resources, open_resources
from app.workers.scheduler import JobSpec, JuliaScheduler, heartbeat
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


async def test_two_replicas_that_both_fire_run_each_slot_once_over_an_hour_of_fake_time(
    settings: Any,
) -> None:
    """The worst case of two scheduler replicas: both believe they lead (a lease lost in a
    long pause, say) and both fire every job, slightly out of step, for an hour of fake
    time. The (job, slot) claim in `job_runs` still runs each tick once."""
    runs: Counter[tuple[str, datetime]] = Counter()

    def job(name: str, spec_every: int) -> Any:
        async def run(res: Resources) -> None:
            runs[(name, JobSpec(name, run, spec_every).slot(clock[0]))] += 1

        return run

    clock = [datetime(2026, 12, 7, 13, 0, tzinfo=UTC)]
    specs = [JobSpec(n, job(n, every), every) for n, every in (("a", 30), ("b", 60), ("c", 300))]
    async with open_resources(settings) as one, open_resources(settings) as other:
        replicas = [JuliaScheduler(one, specs), JuliaScheduler(other, specs)]
        start = clock[0]
        for second in range(0, 3600, 5):
            for spec in specs:
                if second % spec.every_seconds:
                    continue
                for replica in replicas:  # both fire, the second a moment later
                    clock[0] = start + timedelta(seconds=second + replicas.index(replica))
                    await replica._tick(spec, spec.slot(clock[0]))
        recorded = await one.db.fetch("SELECT job_name, count(*) AS n FROM job_runs GROUP BY 1")
    per_job = Counter(name for name, _ in runs)
    assert per_job == {"a": 120, "b": 60, "c": 12}
    assert set(runs.values()) == {1}, "a slot ran twice"
    assert {r["job_name"]: r["n"] for r in recorded} == {"a": 120, "b": 60, "c": 12}
