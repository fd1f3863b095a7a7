"""SQL for operations: scheduler job runs, operator commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.core.db import Executor


async def claim_job_slot(conn: Executor, job_name: str, slot: datetime, host: str) -> int | None:
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
    conn: Executor,
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


# Operator commands ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenHandoff:
    conversation_id: int
    doctor_name: str | None
    phone: str
    reason: str | None
    since: datetime | None


async def open_handoffs(conn: Executor, limit: int) -> tuple[list[OpenHandoff], int]:
    """Live conversations under human control, longest waiting first, and how many there are."""
    rows = await conn.fetch(
        """SELECT c.id AS conversation_id, coalesce(d.name, d.push_name) AS doctor_name,
                  d.phone, coalesce(h.reason, h.trigger, c.control_reason) AS reason,
                  coalesce(h.requested_at, c.control_changed_at) AS since,
                  count(*) OVER () AS total
           FROM conversations c
           JOIN doctors d ON d.id = c.doctor_id
           LEFT JOIN handoffs h ON h.conversation_id = c.id AND h.status = 'aberto'
           WHERE c.control = 'humano' AND c.status = 'ativa'
           ORDER BY since NULLS LAST, c.id
           LIMIT $1""",
        limit,
    )
    items = [
        OpenHandoff(r["conversation_id"], r["doctor_name"], r["phone"], r["reason"], r["since"])
        for r in rows
    ]
    return items, (rows[0]["total"] if rows else 0)


async def waiting_conversations(conn: Executor) -> int:
    value = await conn.fetchval(
        """SELECT count(DISTINCT conversation_id) FROM messages
           WHERE direction = 'in' AND processed_at IS NULL AND conversation_id IS NOT NULL"""
    )
    return int(value or 0)
