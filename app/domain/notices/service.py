"""Notices to the manager: recorded in `notifications`, delivered through the Notifier.

A `key` with a cool-down makes a repeated alert (the same outage seen by many turns) one
message instead of a flood.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import asyncpg

from app.core.db import transaction
from app.core.logging import get_logger
from app.integrations.protocols import Notifier, Severity

log = get_logger(__name__)


async def notify(
    db: asyncpg.Pool,
    notifier: Notifier | None,
    *,
    key: str,
    kind: str,
    text: str,
    severity: Severity = "info",
    cooldown: timedelta | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Record and send a notice. Returns False when the cool-down suppressed it."""
    async with transaction(db) as conn:
        # Serialise notices of one key so two processes do not both pass the cool-down check.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('notify:' || $1))", key)
        if cooldown is not None:
            recent = await conn.fetchval(
                """SELECT EXISTS (SELECT 1 FROM notifications
                   WHERE key = $1 AND sent_at > now() - $2::interval)""",
                key,
                cooldown,
            )
            if recent:
                return False
        notification_id = await conn.fetchval(
            """INSERT INTO notifications (key, kind, severity, payload)
               VALUES ($1, $2, $3, $4::jsonb) RETURNING id""",
            key,
            kind,
            severity,
            json.dumps(payload or {}),
        )
    error: str | None = None
    if notifier is None:
        error = "slack not configured"
    else:
        try:
            await notifier.notify(text, kind=kind, severity=severity)
        except Exception as exc:  # a notice must never break the turn that raised it
            error = str(exc)[:500]
    if error:
        log.warning("notification.not_delivered", key=key, kind=kind, error=error)
        await db.execute(
            "UPDATE notifications SET error = $2 WHERE id = $1", notification_id, error
        )
    else:
        log.info("notification.sent", key=key, kind=kind)
    return True
