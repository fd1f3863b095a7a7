"""SQL for the inbox: `webhook_events`, one row per vendor delivery (Evolution, Slack, and
Chatwoot).

Every vendor follows one lifecycle: the edge stores the delivery as `received`, deduplicated
by (source, provider id) with ON CONFLICT DO NOTHING; whoever acts on it finishes it as
`done`, `ignored` or `failed` (with the error), stamping `finished_at`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
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


async def insert_event(
    conn: Executor,
    *,
    source: Source,
    provider_id: str | None,
    payload: object,
    event: str | None = None,
    instance: str | None = None,
) -> int | None:
    """Keep a delivery as `received` in one statement: its id, or None for a redelivery
    (same source and provider id). The edge runs it without a transaction of its own."""
    row_id: int | None = await conn.fetchval(
        """INSERT INTO webhook_events (source, event, instance, provider_id, payload)
           VALUES ($1, $2, $3, $4, $5::jsonb)
           ON CONFLICT (source, provider_id) DO NOTHING RETURNING id""",
        source,
        event,
        instance,
        provider_id,
        _json_safe(payload),
    )
    return row_id


async def insert_events(
    conn: Executor, rows: list[tuple[Source, str | None, str, str, object]]
) -> dict[str, int]:
    """`insert_event` for many deliveries in one statement (the edge's group commit): rows
    are (source, event, instance, provider_id, payload), every provider id set. Returns the
    ids of the new rows by provider id; a redelivery (also a second copy within `rows`) is
    absent."""
    records = await conn.fetch(
        """INSERT INTO webhook_events (source, event, instance, provider_id, payload)
           SELECT s, e, i, p, j::jsonb
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                  AS t(s, e, i, p, j)
           ON CONFLICT (source, provider_id) DO NOTHING RETURNING id, provider_id""",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [_json_safe(r[4]) for r in rows],
    )
    return {str(record["provider_id"]): int(record["id"]) for record in records}


async def store_event(
    conn: Executor,
    *,
    source: Source,
    provider_id: str | None,
    payload: object,
    event: str | None = None,
    instance: str | None = None,
) -> StoredEvent:
    """`insert_event`, and for a redelivery the existing row back (its status says whether
    the work is still to do); a None provider id is never a duplicate."""
    row_id = await insert_event(
        conn,
        source=source,
        provider_id=provider_id,
        payload=payload,
        event=event,
        instance=instance,
    )
    if row_id is not None:
        return StoredEvent(row_id, True, "received")
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


# Evolution: the worker drains what the edge stored ------------------------------------

# The one drainer at a time (pg_try_advisory_xact_lock: released with the batch's
# transaction, so it works behind Supabase's transaction pooler).
DRAIN_LOCK_KEY = 0x4A756C6961_0001


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    event: str | None  # the event name, or the webhook-by-events URL suffix
    payload: dict[str, Any]


async def try_drain_lock(conn: Conn) -> bool:
    """Take the drainer's lock for the caller's transaction; False if another holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", DRAIN_LOCK_KEY))


async def claim_received(conn: Conn, limit: int) -> list[Delivery]:
    """Lock the oldest Evolution deliveries still `received`, in the order they came."""
    rows = await conn.fetch(
        """SELECT id, event, payload FROM webhook_events
           WHERE status = 'received' AND source = 'evolution'
           ORDER BY id LIMIT $1
           FOR UPDATE SKIP LOCKED""",
        limit,
    )
    return [Delivery(r["id"], r["event"], json.loads(r["payload"])) for r in rows]


async def received_before(conn: Executor, cutoff: datetime) -> int:
    """How many Evolution deliveries stored before `cutoff` nobody has applied yet."""
    count: int = await conn.fetchval(
        """SELECT count(*) FROM webhook_events
           WHERE status = 'received' AND source = 'evolution' AND received_at < $1""",
        cutoff,
    )
    return count


async def prune_finished(conn: Executor, before: datetime, *, batch: int = 5000) -> int:
    """Delete up to `batch` finished deliveries (done, ignored, failed) received before
    `before`; `received` rows are kept whatever their age. Returns how many went."""
    result: str = await conn.execute(
        """DELETE FROM webhook_events WHERE id IN (
               SELECT id FROM webhook_events
               WHERE received_at < $1 AND status <> 'received'
               ORDER BY received_at LIMIT $2)""",
        before,
        batch,
    )
    return int(result.split()[-1])


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


# Chatwoot: the edge stores a delivery, a job claims and finishes it by its row id --------


@dataclass(frozen=True, slots=True)
class ChatwootDelivery:
    id: int
    payload: dict[str, Any]


async def claim_chatwoot_event(conn: Conn, event_id: int) -> ChatwootDelivery | None:
    """Lock a Chatwoot delivery not yet applied, for the caller's transaction; None if it
    is done or another job holds it."""
    row = await conn.fetchrow(
        """SELECT id, payload FROM webhook_events
           WHERE id = $1 AND source = 'chatwoot' AND status = 'received'
           FOR UPDATE SKIP LOCKED""",
        event_id,
    )
    return ChatwootDelivery(row["id"], json.loads(row["payload"])) if row else None


async def received_chatwoot_before(conn: Executor, cutoff: datetime, limit: int) -> list[int]:
    """Chatwoot deliveries stored before `cutoff` that no job applied (a lost enqueue)."""
    rows = await conn.fetch(
        """SELECT id FROM webhook_events
           WHERE source = 'chatwoot' AND status = 'received' AND received_at < $1
           ORDER BY id LIMIT $2""",
        cutoff,
        limit,
    )
    return [row["id"] for row in rows]
