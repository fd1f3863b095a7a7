"""Retention: the inbox and the scheduler's history do not grow without bound.

Finished inbox rows (`webhook_events` done, ignored or failed) older than
WEBHOOK_RETENTION_DAYS and `job_runs` older than JOB_RUNS_RETENTION_DAYS are deleted in
batches (short transactions, no long lock on the tables the webhook writes). A `received`
row is never deleted: it has not been applied yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from app.core.config import Settings
from app.domain.inbox import repository as inbox
from app.domain.operations import retention_repository as repo

BATCH = 5000
MAX_BATCHES = 200  # a run deletes at most 1M rows of each; the next run goes on


@dataclass(frozen=True, slots=True)
class Pruned:
    webhook_events: int
    job_runs: int


async def prune(db: asyncpg.Pool, settings: Settings, now: datetime) -> Pruned:
    webhooks = await _in_batches(
        lambda: inbox.prune_finished(
            db, now - timedelta(days=settings.WEBHOOK_RETENTION_DAYS), batch=BATCH
        )
    )
    runs = await _in_batches(
        lambda: repo.prune_job_runs(
            db, now - timedelta(days=settings.JOB_RUNS_RETENTION_DAYS), batch=BATCH
        )
    )
    return Pruned(webhook_events=webhooks, job_runs=runs)


async def _in_batches(step: Callable[[], Awaitable[int]]) -> int:
    total = 0
    for _ in range(MAX_BATCHES):
        deleted = await step()
        total += deleted
        if deleted < BATCH:
            break
    return total
