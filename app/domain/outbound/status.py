"""julia_status: the operators' switch. The newest row wins; no rows means `ativo`.

Every send path asks `StatusReader.paused()` right before sending. The answer is cached for
at most `max_age` seconds per process, so a pause (Slack, CLI or the runbook's SQL insert)
stops every process within seconds without a query per message.
"""

from __future__ import annotations

import time

import asyncpg

from app.domain.outbound.status_repository import JuliaStatus, current


class StatusReader:
    def __init__(self, db: asyncpg.Pool, *, max_age: float = 2.0) -> None:
        self._db = db
        self._max_age = max_age
        self._cached: JuliaStatus | None = None
        self._read_at = 0.0

    async def get(self) -> JuliaStatus:
        now = time.monotonic()
        if self._cached is None or now - self._read_at > self._max_age:
            self._cached = await current(self._db)
            self._read_at = now
        return self._cached

    async def paused(self) -> bool:
        return (await self.get()).paused
