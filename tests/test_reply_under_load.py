"""Many doctors writing at once, real pacing (scaled down), a model that takes its time and an
Evolution whose sendPresence holds its answer for the delay: every doctor gets the whole
reply, in order, "digitando…" before each part, and no worker slot sleeps through a typing.

The full-size version (200 doctors, HUMAN_DELAY_SCALE=1, a 1 s model) is
benchmarks/turns.py --load.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from arq.worker import Worker

from app.core.config import Settings
from app.workers.fila_worker import build_worker
from tests.support.fake_vendors import text_reply
from tests.support.julia import Julia, running_julia, vendor_settings

DOCTORS = 30
FIRST = "oi doutor, aqui é a Julia! tenho plantões essa semana sim"
SECOND = "me conta sua especialidade que eu já te mando as opções certinhas"


@dataclass
class Slots:
    """What the worker's job slots held, sampled every few milliseconds."""

    max_jobs: int
    peak_running: int = 0
    peak_reply_jobs: int = 0
    samples: list[int] = field(default_factory=list)


async def _watch(worker: Worker, slots: Slots) -> None:
    while True:
        running = [job_id for job_id, task in worker.tasks.items() if not task.done()]
        replies = sum(job_id.startswith("reply:") for job_id in running)
        slots.peak_running = max(slots.peak_running, len(running))
        slots.peak_reply_jobs = max(slots.peak_reply_jobs, replies)
        slots.samples.append(replies)
        await asyncio.sleep(0.005)


@pytest.fixture
def load_settings(make_settings: Any, database_url: str, redis_url: str, fake: Any) -> Settings:
    settings: Settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        **{**vendor_settings(fake.url), "HUMAN_DELAY_SCALE": 0.5},
    )
    return settings


@pytest.fixture
async def julia_and_worker(load_settings: Settings) -> AsyncIterator[tuple[Julia, Worker]]:
    async with running_julia(load_settings, worker=False) as julia:
        worker = build_worker(load_settings)  # WorkerSettings as deployed: max_jobs, poll
        task = asyncio.create_task(worker.async_run())
        try:
            yield julia, worker
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await worker.close()


def _overlap(windows: list[tuple[float, float]]) -> int:
    """The most windows open at one moment."""
    edges = sorted([(start, 1) for start, _ in windows] + [(end, -1) for _, end in windows])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


async def test_thirty_doctors_at_once_each_get_the_whole_reply_typed_in_order(
    julia_and_worker: tuple[Julia, Worker], fake: Any
) -> None:
    julia, worker = julia_and_worker
    fake.anthropic.latency = 0.3
    fake.anthropic.default = lambda body: text_reply(f"{FIRST}\n\n{SECOND}")
    phones = [f"55119870{n:05d}" for n in range(DOCTORS)]
    slots = Slots(max_jobs=worker.max_jobs)
    watcher = asyncio.create_task(_watch(worker, slots))
    try:
        asks = [julia.say(phone, "oi, tem plantão essa semana?") for phone in phones]
        await asyncio.gather(*asks)
        await fake.await_until(
            lambda: all(len(fake.evolution.texts_to(p)) == 2 for p in phones), timeout=60
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    sends = list(fake.evolution.sends)
    presences = list(fake.evolution.presences)
    for phone in phones:
        assert fake.evolution.texts_to(phone) == [FIRST, SECOND]
        mine = [p for p in presences if p.number == phone]
        for sent in (s for s in sends if s.number == phone):
            # "digitando…" was on right up to this part: a presence that began before it and
            # whose delay reached the moment it went out (within the queue's wake-up).
            assert any(
                p.at <= sent.at and p.at + (p.delay or 0) / 1000 >= sent.at - 0.25 for p in mine
            ), (phone, sent.text, mine)
    assert len(sends) == 2 * DOCTORS  # nothing sent twice

    # A sleeping send would hold its slot for its whole typing time, so as many reply jobs
    # would run as doctors see "digitando…". Here every reply job is far shorter than the
    # shortest typing, and far fewer ran at once than doctors were typing.
    windows = [(p.at, p.at + (p.delay or 0) / 1000) for p in presences]
    shortest_typing = min(end - start for start, end in windows)
    results = [r for r in await julia.res.redis.all_job_results() if r.function == "deliver_reply"]
    assert len(results) >= 2 * DOCTORS
    longest_job = max((r.finish_time - r.start_time).total_seconds() for r in results)
    assert longest_job < shortest_typing / 2, (longest_job, shortest_typing)
    assert slots.samples and slots.peak_reply_jobs < min(_overlap(windows) / 2, slots.max_jobs)
    assert await julia.count("SELECT count(*) FROM outbound_sends WHERE status <> 'sent'") == 0
