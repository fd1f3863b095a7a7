"""SQL for the weekly briefing: versions read from Drive, the sync state, priority marks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app.core.db import Conn, Executor
from app.domain.briefings.parsing import Directives, Priority
from app.domain.shifts.repository import HOSPITAL_SIMILARITY


@dataclass(frozen=True, slots=True)
class SyncState:
    file_id: str
    version: int | None
    modified_time: datetime | None


@dataclass(frozen=True, slots=True)
class StoredBriefing:
    id: int
    file_id: str
    title: str | None
    modified_time: datetime
    content_hash: str | None
    directives: Directives
    activated_at: datetime | None


async def lock(conn: Conn) -> None:
    """Serialise syncs (the hourly job and an operator's command) until the transaction
    ends, so one Drive revision is applied and announced once."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('briefing_sync'))")


async def sync_state(conn: Executor, folder_id: str) -> SyncState | None:
    row = await conn.fetchrow(
        "SELECT file_id, version, modified_time FROM briefing_sync WHERE folder_id = $1",
        folder_id,
    )
    return SyncState(row["file_id"], row["version"], row["modified_time"]) if row else None


async def save_sync_state(
    conn: Executor,
    folder_id: str,
    *,
    file_id: str,
    version: int | None,
    modified_time: datetime | None,
    now: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO briefing_sync (folder_id, file_id, version, modified_time, checked_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (folder_id) DO UPDATE
              SET file_id = EXCLUDED.file_id, version = EXCLUDED.version,
                  modified_time = EXCLUDED.modified_time, checked_at = EXCLUDED.checked_at""",
        folder_id,
        file_id,
        version,
        modified_time,
        now,
    )


def _stored(row: asyncpg.Record) -> StoredBriefing:
    raw = row["directives"]
    data: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    return StoredBriefing(
        id=row["id"],
        file_id=row["file_id"],
        title=row["title"],
        modified_time=row["modified_time"],
        content_hash=row["content_hash"],
        directives=Directives.from_json(data),
        activated_at=row["activated_at"],
    )


_COLUMNS = "id, file_id, title, modified_time, content_hash, directives, activated_at"


async def active(conn: Executor) -> StoredBriefing | None:
    """The briefing in force: the most recently activated one that parsed."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM briefings
            WHERE error IS NULL AND activated_at IS NOT NULL
            ORDER BY activated_at DESC, id DESC LIMIT 1"""
    )
    return _stored(row) if row else None


async def store_version(
    conn: Executor,
    *,
    file_id: str,
    title: str,
    modified_time: datetime,
    version: int | None,
    content: str,
    content_hash: str,
    directives: Directives | None,
    error: str | None,
    now: datetime,
) -> int:
    """Record a version read from Drive; returns its id. One that parsed (`directives`)
    becomes the active briefing (the same Drive version read again, e.g. it is the newest
    document again, is re-activated); one that did not (`error`) never becomes active."""
    briefing_id: int = await conn.fetchval(
        """INSERT INTO briefings (file_id, modified_time, version, title, content, directives,
                                  content_hash, error, synced_at, activated_at, announced_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::text, $9::timestamptz,
                   CASE WHEN $8::text IS NULL THEN $9::timestamptz END, $9::timestamptz)
           ON CONFLICT (file_id, modified_time) DO UPDATE
              SET version = EXCLUDED.version, title = EXCLUDED.title,
                  content = EXCLUDED.content, directives = EXCLUDED.directives,
                  content_hash = EXCLUDED.content_hash, error = EXCLUDED.error,
                  synced_at = EXCLUDED.synced_at, activated_at = EXCLUDED.activated_at,
                  announced_at = EXCLUDED.announced_at
           RETURNING id""",
        file_id,
        modified_time,
        version,
        title,
        content,
        json.dumps(directives.to_json() if directives is not None else {}),
        content_hash,
        error,
        now,
    )
    return briefing_id


async def mark_priorities(
    conn: Executor, briefing_id: int, priorities: tuple[Priority, ...], *, tz: str
) -> dict[str, int]:
    """(Re)mark the open or reserved shifts each priority line names: the hospital that
    best matches the written name (accents and case aside, pg_trgm word similarity), on
    that local date, in that period when the line gives one. Returns, per line, how many
    shifts it marked."""
    await conn.execute("DELETE FROM briefing_priority_shifts WHERE briefing_id = $1", briefing_id)
    counts: dict[str, int] = {}
    for priority in priorities:
        marked = await conn.fetch(
            f"""
            WITH q AS (SELECT julia_normalize($2::text) AS key),
            best AS (
                SELECT h.id FROM hospitals h, q
                WHERE q.key IS NOT NULL
                  AND (h.name_normalized = q.key
                       OR strpos(h.name_normalized, q.key) > 0
                       OR word_similarity(q.key, h.name_normalized) >= {HOSPITAL_SIMILARITY})
                ORDER BY h.name_normalized = q.key DESC,
                         word_similarity(q.key, h.name_normalized) DESC,
                         similarity(q.key, h.name_normalized) DESC
                LIMIT 1
            )
            INSERT INTO briefing_priority_shifts (briefing_id, shift_id, line, pay_cap_cents)
            SELECT $1, s.id, $3, $4
              FROM shifts s JOIN best ON best.id = s.hospital_id
             WHERE s.status IN ('aberto', 'reservado')
               AND (s.starts_at AT TIME ZONE $5)::date = $6
               AND ($7::text IS NULL OR s.period = $7)
            ON CONFLICT (briefing_id, shift_id) DO NOTHING
            RETURNING shift_id
            """,
            briefing_id,
            priority.hospital,
            priority.line,
            priority.pay_cap_cents,
            tz,
            priority.day,
            priority.period,
        )
        counts[priority.line] = len(marked)
    return counts
