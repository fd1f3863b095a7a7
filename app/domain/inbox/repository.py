"""SQL for the inbox: `webhook_events`, one row per vendor delivery (Evolution, Slack, and
Chatwoot next).

Every vendor follows one lifecycle: the edge stores the delivery as `received`, deduplicated
by (source, provider id) with ON CONFLICT DO NOTHING; whoever acts on it finishes it as
`done`, `ignored` or `failed` (with the error), stamping `finished_at`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from app.core.db import Conn, Executor

Source = Literal["evolution", "chatwoot", "slack"]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    new: bool  # False: a redelivery of a row already kept
    status: str  # the row's status: a redelivery of an unfinished event is still 'received'


def _json_safe(payload: object) -> str:
    # Postgres jsonb rejects NUL characters; WhatsApp text can carry them.
    return json.dumps(payload, ensure_ascii=False).replace("\\u0000", "")


async def store_event(
    conn: Executor,
    *,
    source: Source,
    provider_id: str | None,
    payload: object,
    event: str | None = None,
    instance: str | None = None,
) -> StoredEvent:
    """Keep a delivery as `received`. A redelivery (same source and provider id) changes
    nothing and gets the existing row back; a None provider id is never a duplicate."""
    row = await conn.fetchrow(
        """INSERT INTO webhook_events (source, event, instance, provider_id, payload)
           VALUES ($1, $2, $3, $4, $5::jsonb)
           ON CONFLICT (source, provider_id) DO NOTHING RETURNING id, status""",
        source,
        event,
        instance,
        provider_id,
        _json_safe(payload),
    )
    if row is not None:
        return StoredEvent(row["id"], True, row["status"])
    row = await conn.fetchrow(
        "SELECT id, status FROM webhook_events WHERE source = $1 AND provider_id = $2",
        source,
        provider_id,
    )
    assert row is not None  # the conflicting row is committed: DO NOTHING waited for it
    return StoredEvent(row["id"], False, row["status"])


async def finish_event(
    conn: Executor, event_id: int, status: str, error: str | None = None
) -> None:
    """Close a delivery as 'done', 'ignored' or 'failed' (with why)."""
    await conn.execute(
        """UPDATE webhook_events SET status = $2, error = $3, finished_at = now()
           WHERE id = $1""",
        event_id,
        status,
        error,
    )


# Slack: the edge stores a mention, the job claims and finishes it by Slack's event_id ----


@dataclass(frozen=True, slots=True)
class SlackEvent:
    event_id: str
    command: str | None  # the mention's text, as Slack sent it
    user_id: str | None
    channel: str | None
    ts: str | None  # the thread to answer in (the mention's thread, or the mention itself)
    status: str


async def store_slack_event(
    conn: Executor, *, event_id: str, payload: dict[str, Any]
) -> tuple[bool, str]:
    """Keep an `event_callback` body. Returns (new, status): a Slack retry finds the row
    already there, and its status says whether the command still has to run."""
    # The legacy verification token is a credential; the signature already vouched for it.
    body = {key: value for key, value in payload.items() if key != "token"}
    event = payload.get("event")
    stored = await store_event(
        conn,
        source="slack",
        provider_id=event_id,
        payload=body,
        event=event.get("type") if isinstance(event, dict) else None,
    )
    return stored.new, stored.status


async def claim_slack_event(conn: Conn, event_id: str) -> SlackEvent | None:
    """Lock a not-yet-run event for the caller's transaction; None if done or being run."""
    row = await conn.fetchrow(
        """SELECT provider_id AS event_id,
                  payload->'event'->>'text' AS command,
                  payload->'event'->>'user' AS user_id,
                  payload->'event'->>'channel' AS channel,
                  coalesce(nullif(payload->'event'->>'thread_ts', ''),
                           payload->'event'->>'ts') AS ts,
                  status
           FROM webhook_events
           WHERE source = 'slack' AND provider_id = $1 AND status = 'received'
           FOR UPDATE SKIP LOCKED""",
        event_id,
    )
    return SlackEvent(**dict(row.items())) if row else None


async def finish_slack_event(
    conn: Executor, event_id: str, status: str, error: str | None = None
) -> None:
    await conn.execute(
        """UPDATE webhook_events SET status = $2, error = $3, finished_at = now()
           WHERE source = 'slack' AND provider_id = $1""",
        event_id,
        status,
        error,
    )
