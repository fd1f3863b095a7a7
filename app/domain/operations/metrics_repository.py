"""SQL for the operators' daily numbers: counts over one [start, end) window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.core.db import Executor


@dataclass(frozen=True, slots=True)
class DayCounts:
    conversations_active: int
    inbound: int
    replies_sent: int
    outreach_sent: int
    handoffs_opened: int


@dataclass(frozen=True, slots=True)
class DecisionCount:
    status: str  # deferred or blocked
    reason: str
    n: int


@dataclass(frozen=True, slots=True)
class TurnTotals:
    ok: int
    failed: int
    cost: float
    input_tokens: int
    cache_read: int
    cache_write: int
    transcription_seconds: int = 0
    image_tokens: int = 0


async def day_counts(conn: Executor, start: datetime, end: datetime) -> DayCounts:
    row = await conn.fetchrow(
        """SELECT
             (SELECT count(DISTINCT conversation_id) FROM messages
               WHERE created_at >= $1 AND created_at < $2
                 AND conversation_id IS NOT NULL) AS conversations_active,
             (SELECT count(*) FROM messages
               WHERE direction = 'in' AND created_at >= $1 AND created_at < $2) AS inbound,
             (SELECT count(*) FROM outbound_sends
               WHERE NOT proactive AND kind NOT IN ('relay', 'gestor') AND status = 'sent'
                 AND sent_at >= $1 AND sent_at < $2) AS replies_sent,
             (SELECT count(*) FROM outbound_sends
               WHERE proactive AND status = 'sent'
                 AND sent_at >= $1 AND sent_at < $2) AS outreach_sent,
             (SELECT count(*) FROM handoffs
               WHERE requested_at >= $1 AND requested_at < $2) AS handoffs_opened""",
        start,
        end,
    )
    assert row is not None
    return DayCounts(**dict(row.items()))


async def proactive_decisions(
    conn: Executor, start: datetime, end: datetime
) -> list[DecisionCount]:
    """Proactive sends deferred or blocked in the window, by status and reason, most first."""
    rows = await conn.fetch(
        """SELECT status, coalesce(reason, 'sem_motivo') AS reason, count(*) AS n
           FROM outbound_sends
           WHERE proactive AND status IN ('deferred', 'blocked')
             AND decided_at >= $1 AND decided_at < $2
           GROUP BY 1, 2 ORDER BY 3 DESC, 2""",
        start,
        end,
    )
    return [DecisionCount(**dict(r.items())) for r in rows]


async def turn_totals(conn: Executor, start: datetime, end: datetime) -> TurnTotals:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status = 'ok') AS ok,
                  count(*) FILTER (WHERE status = 'failed') AS failed,
                  coalesce(sum(cost_usd), 0)::float8 AS cost,
                  coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
                  coalesce(sum(cache_read_tokens), 0)::bigint AS cache_read,
                  coalesce(sum(cache_write_tokens), 0)::bigint AS cache_write,
                  coalesce(sum(transcription_seconds), 0)::bigint AS transcription_seconds,
                  coalesce(sum(image_tokens), 0)::bigint AS image_tokens
           FROM turns WHERE started_at >= $1 AND started_at < $2""",
        start,
        end,
    )
    assert row is not None
    return TurnTotals(**dict(row.items()))
