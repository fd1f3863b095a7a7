"""SQL for operations: scheduler job runs."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from app.core.db import Conn


async def claim_job_slot(
    conn: Conn | asyncpg.Pool, job_name: str, slot: datetime, host: str
) -> int | None:
    """Claim (job, slot) for this process; None if another run already has it.

    A slot whose earlier run failed may be claimed again, so a retry is not lost.
    """
    run_id: int | None = await conn.fetchval(
        """
        INSERT INTO job_runs (job_name, slot, status, host)
        VALUES ($1, $2, 'running', $3)
        ON CONFLICT (job_name, slot) DO UPDATE
            SET status = 'running', started_at = now(), finished_at = NULL,
                duration_ms = NULL, error = NULL, host = EXCLUDED.host
            WHERE job_runs.status = 'failed'
        RETURNING id
        """,
        job_name,
        slot,
        host,
    )
    return run_id


async def finish_job_run(
    conn: Conn | asyncpg.Pool,
    run_id: int,
    *,
    status: str,
    duration_ms: int,
    error: str | None = None,
) -> None:
    await conn.execute(
        """
        UPDATE job_runs
           SET status = $2, finished_at = now(), duration_ms = $3, error = $4
         WHERE id = $1
        """,
        run_id,
        status,
        duration_ms,
        error,
    )
