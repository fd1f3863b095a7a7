"""The resume watcher: a task of the worker process that notices a resume written straight
into julia_status (the runbook's SQL) within JULIA_STATUS_POLL_SECONDS, instead of waiting
for the scheduler's sweep. Started by the worker's on_startup, stopped by on_shutdown; a
Redis or database error is logged and waited out with a growing backoff."""

from __future__ import annotations

import asyncio
import contextlib

from app.core.logging import get_logger
from app.core.resources import Resources
from app.domain.operations.status_watch import answer_new_resume

log = get_logger(__name__)

MAX_BACKOFF_SECONDS = 30.0


class ResumeWatcher:
    def __init__(self, res: Resources) -> None:
        self._res = res
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="resume-watcher")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        poll = self._res.settings.JULIA_STATUS_POLL_SECONDS
        wait = poll
        while not self._stopping.is_set():
            try:
                await answer_new_resume(self._res)
                wait = poll
            except Exception as exc:  # the task's boundary: logged, and the watcher goes on
                wait = min(max(wait * 2, poll), MAX_BACKOFF_SECONDS)
                log.warning("julia.resume_watch_failed", error=type(exc).__name__, retry_in=wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)
