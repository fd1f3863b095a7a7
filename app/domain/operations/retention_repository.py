"""SQL for the retention job: the scheduler's history (`job_runs`)."""

from __future__ import annotations

from datetime import datetime

from app.core.db import Executor


async def prune_job_runs(conn: Executor, before: datetime, *, batch: int = 5000) -> int:
    """Delete up to `batch` job runs started before `before`. Returns how many went."""
    result: str = await conn.execute(
        """DELETE FROM job_runs WHERE id IN (
               SELECT id FROM job_runs WHERE started_at < $1 ORDER BY started_at LIMIT $2)""",
        before,
        batch,
    )
    return int(result.split()[-1])
