"""julia_status: the operators' switch. The newest row wins; no rows means `ativo`.

Every send path asks `StatusReader.paused()` right before sending. The answer is cached for
at most `max_age` seconds per process, so a pause (Slack, CLI or the runbook's SQL insert)
stops every process within seconds without a query per message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from app.core.db import Executor


@dataclass(frozen=True, slots=True)
class JuliaStatus:
    status: str
    motivo: str | None
    alterado_via: str | None
    created_at: datetime | None

    @property
    def paused(self) -> bool:
        # Unknown future values are treated as "not ativo": stopping is the safe side.
        return self.status != "ativo"


ATIVO = JuliaStatus("ativo", None, None, None)


async def current(conn: Executor) -> JuliaStatus:
    row = await conn.fetchrow(
        """SELECT status, motivo, alterado_via, created_at FROM julia_status
           ORDER BY created_at DESC, id DESC LIMIT 1"""
    )
    if row is None:
        return ATIVO
    return JuliaStatus(row["status"], row["motivo"], row["alterado_via"], row["created_at"])


async def record(
    conn: Executor,
    status: str,
    *,
    motivo: str | None,
    via: str,
    by: str | None = None,
) -> JuliaStatus:
    """Insert a new status row (the audit trail is the row history)."""
    row = await conn.fetchrow(
        """INSERT INTO julia_status (status, motivo, alterado_via, alterado_por)
           VALUES ($1, $2, $3, $4) RETURNING status, motivo, alterado_via, created_at""",
        status,
        motivo,
        via,
        by,
    )
    assert row is not None
    return JuliaStatus(row["status"], row["motivo"], row["alterado_via"], row["created_at"])


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
