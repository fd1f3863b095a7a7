"""SQL for attachments: what a message's `media` says, the stored files, and the
once-per-conversation "send me a text" mark."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.db import Executor


@dataclass(frozen=True, slots=True)
class MediaMessage:
    id: int
    conversation_id: int | None
    instance: str | None
    provider_message_id: str | None
    media: dict[str, Any]
    created_at: datetime


async def get(conn: Executor, message_id: int) -> MediaMessage | None:
    row = await conn.fetchrow(
        """SELECT id, conversation_id, instance, provider_message_id, media, created_at
           FROM messages WHERE id = $1 AND media IS NOT NULL""",
        message_id,
    )
    if row is None:
        return None
    values = dict(row.items())
    media = values["media"]
    values["media"] = json.loads(media) if isinstance(media, str) else dict(media)
    return MediaMessage(**values)


async def update_media(
    conn: Executor, message_id: int, patch: dict[str, Any], *, only_state: str | None = None
) -> bool:
    """Merge `patch` into the message's media; with `only_state`, only while the media is in
    that state (a second run of the job changes nothing). False when nothing changed."""
    status: str = await conn.execute(
        """UPDATE messages SET media = coalesce(media, '{}'::jsonb) || $2::jsonb
           WHERE id = $1 AND ($3::text IS NULL OR media->>'state' = $3)""",
        message_id,
        json.dumps(patch),
        only_state,
    )
    return status.endswith(" 1")


async def record_file(
    conn: Executor,
    *,
    message_id: int,
    store: str,
    storage_key: str,
    mimetype: str | None,
    size: int,
) -> None:
    await conn.execute(
        """INSERT INTO media_files (message_id, store, storage_key, mimetype, bytes)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (store, storage_key) DO UPDATE
           SET message_id = EXCLUDED.message_id, mimetype = EXCLUDED.mimetype,
               bytes = EXCLUDED.bytes""",
        message_id,
        store,
        storage_key,
        mimetype,
        size,
    )


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: int
    store: str
    storage_key: str


async def orphan_files(conn: Executor, store: str, *, limit: int) -> list[StoredFile]:
    """Files of `store` whose message no longer exists, oldest first."""
    rows = await conn.fetch(
        """SELECT id, store, storage_key FROM media_files
           WHERE message_id IS NULL AND store = $1 ORDER BY id LIMIT $2""",
        store,
        limit,
    )
    return [StoredFile(r["id"], r["store"], r["storage_key"]) for r in rows]


async def delete_files(conn: Executor, file_ids: list[int]) -> int:
    status: str = await conn.execute(
        "DELETE FROM media_files WHERE id = ANY($1::bigint[]) AND message_id IS NULL", file_ids
    )
    return int(status.rsplit(" ", 1)[-1])


async def ask_for_text_once(conn: Executor, conversation_id: int) -> bool:
    """Mark that Julia asked this conversation for a text instead of audio; False when she
    already had."""
    status: str = await conn.execute(
        """UPDATE conversations SET asked_for_text_at = now()
           WHERE id = $1 AND asked_for_text_at IS NULL""",
        conversation_id,
    )
    return status.endswith(" 1")


async def asked_for_text(conn: Executor, conversation_id: int) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT asked_for_text_at IS NOT NULL FROM conversations WHERE id = $1",
            conversation_id,
        )
    )
