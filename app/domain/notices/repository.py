"""SQL for manager notices (`notifications`)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from app.core.db import Conn, Executor


async def lock_key(conn: Conn, key: str) -> None:
    """Serialise notices of one key until the transaction ends, so two processes do not
    both pass the cool-down check."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('notify:' || $1))", key)


async def sent_within(conn: Executor, key: str, cooldown: timedelta) -> bool:
    """Whether a notice with `key` was recorded within the last `cooldown`."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM notifications
               WHERE key = $1 AND sent_at > now() - $2::interval)""",
            key,
            cooldown,
        )
    )


async def record(
    conn: Executor, *, key: str, kind: str, severity: str, payload: dict[str, Any]
) -> int:
    notification_id: int = await conn.fetchval(
        """INSERT INTO notifications (key, kind, severity, payload)
           VALUES ($1, $2, $3, $4::jsonb) RETURNING id""",
        key,
        kind,
        severity,
        json.dumps(payload),
    )
    return notification_id


async def set_error(conn: Executor, notification_id: int, error: str) -> None:
    await conn.execute("UPDATE notifications SET error = $2 WHERE id = $1", notification_id, error)


async def set_slack_ts(conn: Executor, notification_id: int, ts: str) -> None:
    await conn.execute("UPDATE notifications SET slack_ts = $2 WHERE id = $1", notification_id, ts)


async def latest_slack_ts(conn: Executor, key: str) -> str | None:
    """The Slack ts of the newest delivered notice with `key` (a thread to answer in)."""
    ts: str | None = await conn.fetchval(
        """SELECT slack_ts FROM notifications
           WHERE key = $1 AND slack_ts IS NOT NULL AND kind <> 'recovery'
           ORDER BY sent_at DESC, id DESC LIMIT 1""",
        key,
    )
    return ts
