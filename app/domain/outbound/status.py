"""julia_status: the operators' switch. The newest row wins; no rows means `ativo`.

Every send path asks right before sending, and the send's claim (`repository.claim_attempt`)
checks the newest row again in the same statement that starts the send: a pause committed
by Slack, the dashboard, the CLI or the runbook's SQL stops every send that has not started,
in every process, at once. The read is one index lookup (`julia_status_created_idx`), so it
is not cached by default; `max_age` allows a cache where a stale answer is harmless.
"""

from __future__ import annotations

import time

import asyncpg

from app.domain.outbound.status_repository import JuliaStatus, current


class StatusReader:
    def __init__(self, db: asyncpg.Pool, *, max_age: float = 0.0) -> None:
        self._db = db
        self._max_age = max_age
        self._cached: JuliaStatus | None = None
        self._read_at = 0.0

    async def get(self) -> JuliaStatus:
        now = time.monotonic()
        if self._cached is None or now - self._read_at >= self._max_age:
            self._cached = await current(self._db)
            self._read_at = now
        return self._cached

    async def paused(self) -> bool:
        return (await self.get()).paused
