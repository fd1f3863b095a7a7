"""SQL for the alerts and the daily report: what the store says about the last minutes or day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.core.db import Executor


@dataclass(frozen=True, slots=True)
class TurnStats:
    """Finished turns (ok or failed) in a window. Skipped turns (a gate stopped them before
    the model: pausado, humano, opt-out) are neither successes nor errors."""

    total: int
    failed: int
    top_error: str | None = None

    @property
    def rate(self) -> float:
        return self.failed / self.total if self.total else 0.0


# The kinds of work the error-rate alert counts, as the managers read them.
WORK_KINDS = ("turnos", "envios", "webhooks", "jobs")


@dataclass(frozen=True, slots=True)
class WorkStats:
    """Finished work of each kind in a window (`TurnStats` per kind: total and failed)."""

    kinds: dict[str, TurnStats]

    @property
    def total(self) -> int:
        return sum(k.total for k in self.kinds.values())

    @property
    def failed(self) -> int:
        return sum(k.failed for k in self.kinds.values())


@dataclass(frozen=True, slots=True)
class DailyNumbers:
    active_conversations: int
    new_conversations: int
    inbound_messages: int
    replies_sent: int
    proactive_sent: int
    handoffs: int
    turns: int
    failed_turns: int
    llm_cost_usd: Decimal


async def turn_stats(conn: Executor, since: datetime, until: datetime) -> TurnStats:
    row = await conn.fetchrow(
        """
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               mode() WITHIN GROUP (ORDER BY left(error, 200))
                   FILTER (WHERE status = 'failed' AND error IS NOT NULL) AS top_error
          FROM turns
         WHERE started_at >= $1 AND started_at < $2 AND status IN ('ok', 'failed')
        """,
        since,
        until,
    )
    assert row is not None
    return TurnStats(total=row["total"], failed=row["failed"], top_error=row["top_error"])


async def oldest_waiting_inbound(conn: Executor) -> datetime | None:
    """When the oldest doctor message Julia should be answering arrived (None: none waits).

    Messages under human control or while Julia is paused wait on purpose and do not count.
    An unknown julia_status value counts as paused, like everywhere else.
    """
    oldest: datetime | None = await conn.fetchval(
        """
        SELECT min(m.created_at)
          FROM messages m
          JOIN conversations c ON c.id = m.conversation_id
         WHERE m.direction = 'in' AND m.processed_at IS NULL AND c.control = 'julia'
           AND coalesce((SELECT status FROM julia_status
                          ORDER BY created_at DESC, id DESC LIMIT 1), 'ativo') = 'ativo'
        """
    )
    return oldest


async def last_notification_at(conn: Executor, key: str) -> datetime | None:
    sent_at: datetime | None = await conn.fetchval(
        "SELECT max(sent_at) FROM notifications WHERE key = $1", key
    )
    return sent_at


async def daily_numbers(conn: Executor, start: datetime, end: datetime) -> DailyNumbers:
    """The day's activity in [start, end)."""
    row = await conn.fetchrow(
        """
        SELECT
          (SELECT count(DISTINCT conversation_id) FROM messages
            WHERE created_at >= $1 AND created_at < $2
              AND conversation_id IS NOT NULL) AS active_conversations,
          (SELECT count(*) FROM conversations
            WHERE created_at >= $1 AND created_at < $2) AS new_conversations,
          (SELECT count(*) FROM messages
            WHERE created_at >= $1 AND created_at < $2 AND direction = 'in') AS inbound_messages,
          (SELECT count(*) FROM outbound_sends
            WHERE sent_at >= $1 AND sent_at < $2 AND status = 'sent'
              AND kind = 'reply') AS replies_sent,
          (SELECT count(*) FROM outbound_sends
            WHERE sent_at >= $1 AND sent_at < $2 AND status = 'sent'
              AND proactive) AS proactive_sent,
          (SELECT count(*) FROM handoffs
            WHERE requested_at >= $1 AND requested_at < $2) AS handoffs,
          (SELECT count(*) FROM turns
            WHERE started_at >= $1 AND started_at < $2 AND status IN ('ok', 'failed')) AS turns,
          (SELECT count(*) FROM turns
            WHERE started_at >= $1 AND started_at < $2 AND status = 'failed') AS failed_turns,
          (SELECT coalesce(sum(cost_usd), 0) FROM turns
            WHERE started_at >= $1 AND started_at < $2) AS llm_cost_usd
        """,
        start,
        end,
    )
    assert row is not None
    return DailyNumbers(**dict(row))


async def send_stats(conn: Executor, since: datetime, until: datetime) -> TurnStats:
    """WhatsApp sends decided in the window: sent, or failed (blocked, deferred and cancelled
    ones are rules at work, not errors)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               mode() WITHIN GROUP (ORDER BY left(coalesce(reason, '') || ': ' || error, 200))
                   FILTER (WHERE status = 'failed' AND error IS NOT NULL) AS top_error
          FROM outbound_sends
         WHERE status IN ('sent', 'failed')
           AND coalesce(sent_at, decided_at) >= $1 AND coalesce(sent_at, decided_at) < $2
        """,
        since,
        until,
    )
    assert row is not None
    return TurnStats(total=row["total"], failed=row["failed"], top_error=row["top_error"])


async def job_stats(conn: Executor, since: datetime, until: datetime) -> TurnStats:
    """Scheduled job runs finished in the window, ok or failed (skipped ones are neither)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               mode() WITHIN GROUP (ORDER BY left(job_name || ': ' || error, 200))
                   FILTER (WHERE status = 'failed' AND error IS NOT NULL) AS top_error
          FROM job_runs
         WHERE started_at >= $1 AND started_at < $2 AND status IN ('ok', 'failed')
        """,
        since,
        until,
    )
    assert row is not None
    return TurnStats(total=row["total"], failed=row["failed"], top_error=row["top_error"])
