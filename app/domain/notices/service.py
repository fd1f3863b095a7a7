"""Notices to the manager: recorded in `notifications`, delivered through the Notifier.

A `key` with a cool-down makes a repeated alert (the same outage seen by many turns) one
message instead of a flood. `thread_of` names the key of an earlier notice this one answers
(an alert's recovery): when the channel has threads (the bot posting to SLACK_CHANNEL), it
is posted in that notice's thread.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from app.core.db import transaction
from app.core.logging import get_logger
from app.domain.notices import repository
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
    thread_of: str | None = None,
) -> bool:
    """Record and send a notice. Returns False when the cool-down suppressed it."""
    async with transaction(db) as conn:
        await repository.lock_key(conn, key)
        if cooldown is not None and await repository.sent_within(conn, key, cooldown):
            return False
        notification_id = await repository.record(
            conn, key=key, kind=kind, severity=severity, payload=payload or {}
        )
        thread = await repository.latest_slack_ts(conn, thread_of) if thread_of else None
    error: str | None = None
    if notifier is None:
        error = "slack not configured"
    else:
        try:
            ts = await notifier.notify(text, kind=kind, severity=severity, thread=thread)
            if ts:
                await repository.set_slack_ts(db, notification_id, ts)
        except Exception as exc:  # a notice must never break the turn that raised it
            error = str(exc)[:500]
    if error:
        log.warning("notification.not_delivered", key=key, kind=kind, error=error)
        await repository.set_error(db, notification_id, error)
    else:
        log.info("notification.sent", key=key, kind=kind)
    return True
