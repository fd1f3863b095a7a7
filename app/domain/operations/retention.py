"""Retention: the inbox and the scheduler's history do not grow without bound.

Finished inbox rows (`webhook_events` done, ignored or failed) older than
WEBHOOK_RETENTION_DAYS and `job_runs` older than JOB_RUNS_RETENTION_DAYS are deleted in
batches (short transactions, no long lock on the tables the webhook writes). A `received`
row is never deleted: it has not been applied yet. Stored media files follow their messages:
a file whose message was deleted is removed from the media store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from app.core.config import Settings
from app.domain.inbox import repository as inbox
from app.domain.media import service as media
from app.domain.operations import retention_repository as repo
from app.integrations.protocols import MediaStore

BATCH = 5000
MAX_BATCHES = 200  # a run deletes at most 1M rows of each; the next run goes on


@dataclass(frozen=True, slots=True)
class Pruned:
    webhook_events: int
    job_runs: int
    media_files: int = 0


async def prune(
    db: asyncpg.Pool, settings: Settings, now: datetime, store: MediaStore | None = None
) -> Pruned:
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
    # Media follow the messages: a file whose message was deleted goes with it.
    files = await media.prune_orphans(db, store) if store is not None else 0
    return Pruned(webhook_events=webhooks, job_runs=runs, media_files=files)


async def _in_batches(step: Callable[[], Awaitable[int]]) -> int:
    total = 0
    for _ in range(MAX_BATCHES):
        deleted = await step()
        total += deleted
        if deleted < BATCH:
            break
    return total
