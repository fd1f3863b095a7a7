"""SQL of the watchdog: heartbeats, the shared alarm episodes, the inbox's oldest row."""

from __future__ import annotations

from datetime import datetime

from app.core.db import Executor


async def ping(conn: Executor) -> None:
    """One round trip; raises when the database cannot be reached."""
    await conn.fetchval("SELECT 1")


async def beat(conn: Executor, service: str, host: str, at: datetime) -> None:
    """Record a sign of life; rows of processes silent for a day (restarted: a new pid) go."""
    await conn.execute(
        """
        WITH gone AS (
            DELETE FROM process_heartbeats WHERE beat_at < $3::timestamptz - interval '1 day'
        )
        INSERT INTO process_heartbeats (service, host, beat_at) VALUES ($1, $2, $3)
        ON CONFLICT (service, host) DO UPDATE SET beat_at = greatest(
            process_heartbeats.beat_at, EXCLUDED.beat_at)
        """,
        service,
        host,
        at,
    )


async def last_beats(conn: Executor) -> dict[str, datetime]:
    """The newest heartbeat of each service (any of its processes)."""
    rows = await conn.fetch(
        "SELECT service, max(beat_at) AS beat_at FROM process_heartbeats GROUP BY service"
    )
    return {row["service"]: row["beat_at"] for row in rows}


async def open_episode(
    conn: Executor, alarm: str, by: str, now: datetime, reopen_before: datetime
) -> bool:
    """Open `alarm`'s episode; True if this caller opened it (and so posts the alarm). An
    episode opened before `reopen_before` counts as forgotten and is opened again."""
    opened = await conn.fetchval(
        """
        INSERT INTO alarm_episodes (alarm, opened_at, opened_by) VALUES ($1, $2, $3)
        ON CONFLICT (alarm) DO UPDATE SET opened_at = EXCLUDED.opened_at,
                                          opened_by = EXCLUDED.opened_by
            WHERE alarm_episodes.opened_at < $4
        RETURNING 1
        """,
        alarm,
        now,
        by,
        reopen_before,
    )
    return opened is not None


async def close_episode(conn: Executor, alarm: str) -> bool:
    """Close `alarm`'s episode; True if this caller closed it (and so posts the recovery)."""
    closed = await conn.fetchval("DELETE FROM alarm_episodes WHERE alarm = $1 RETURNING 1", alarm)
    return closed is not None


async def oldest_unapplied_delivery(conn: Executor) -> datetime | None:
    """When the oldest webhook delivery no worker has applied yet arrived."""
    oldest: datetime | None = await conn.fetchval(
        """
        SELECT min(received_at) FROM webhook_events
         WHERE source = 'evolution' AND status = 'received'
        """
    )
    return oldest
