"""Attachments: fetched in the worker, kept in the media store, read for the model.

The edge never fetches anything. When Evolution sends the file inline (`message.base64`,
its `webhookBase64` option) the edge keeps that base64 in Redis for the worker under
`inline_key` (MEDIA_INLINE_TTL_SECONDS) and stores the delivery without it; otherwise the
worker asks Evolution (`getBase64FromMediaMessage`). Redis is the hand-over because the
file must not land in `webhook_events` (a 1.5 MB photo per row, kept for days) and the
request must stay a single insert: a Redis SET costs the edge one round trip, and when it
fails nothing is lost, the worker falls back to Evolution.

`process` runs once per inbound attachment (a queue job enqueued by the drainer): size caps
(MEDIA_MAX_*_BYTES, declared size first so a big file is not even downloaded), the store, and
for a voice note its transcript (Evolution's own `speechToText` when present, else the
configured transcriber). What it learned is merged into `messages.media`, whose `state` goes
from `pending` to `ready`, `refused`, `failed` or `unsupported`; the turn waits for `pending`
(at most MEDIA_WAIT_SECONDS).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import Settings
from app.core.logging import get_logger
from app.domain.media import files
from app.domain.media import repository as repo
from app.integrations.protocols import (
    MediaFile,
    MediaSource,
    MediaStore,
    MediaUnavailable,
    Transcriber,
    TranscriptionError,
)

log = get_logger(__name__)

# The kinds fetched and kept; video is only named to the model, stickers are ignored.
PROCESSED_KINDS = frozenset({"audio", "image", "document"})
PRUNE_BATCH = 200


def inline_key(instance: str, message_id: str) -> str:
    return f"julia:media:inline:{instance}:{message_id}"


async def stash_inline(
    redis: Redis, instance: str, message_id: str, encoded: str, ttl_s: int
) -> None:
    """Keep a delivery's inline base64 for the worker (the edge's side)."""
    await redis.set(inline_key(instance, message_id), encoded, ex=ttl_s)


def is_pending(media: dict[str, Any] | None) -> bool:
    return bool(media) and media.get("state") == "pending"  # type: ignore[union-attr]


def max_bytes(settings: Settings, kind: str | None) -> int:
    if kind == "audio":
        return settings.MEDIA_MAX_AUDIO_BYTES
    if kind == "image":
        return settings.MEDIA_MAX_IMAGE_BYTES
    return settings.MEDIA_MAX_DOCUMENT_BYTES


def evolution_transcript(value: object) -> str | None:
    """Evolution writes `[audio] <text>` (whatsapp.baileys.service.ts:1232 at 2.3.6), and
    `[audio] null` when its OpenAI call returned nothing."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.lower().startswith("[audio]"):
        text = text[len("[audio]") :].strip()
    if not text or text in ("null", "undefined"):
        return None
    return text


@dataclass
class MediaServices:
    settings: Settings
    db: asyncpg.Pool
    redis: Redis
    source: MediaSource | None
    store: MediaStore
    transcriber: Transcriber | None


async def process(svc: MediaServices, message_id: int) -> str:
    """Fetch, keep and read one attachment; returns the state it ended in ("nothing" when
    it was not pending: a second run of the job)."""
    row = await repo.get(svc.db, message_id)
    if row is None or not is_pending(row.media):
        return "nothing"
    media = row.media
    kind = media.get("kind")
    limit = max_bytes(svc.settings, kind)
    declared = media.get("bytes")
    log_ids = {"message_id": row.id, "conversation_id": row.conversation_id}

    patch: dict[str, Any] = {}
    file: MediaFile | None = None
    too_big: int | None = declared if isinstance(declared, int) and declared > limit else None
    if too_big is None:
        file = await _fetch(svc, row)
        if file is not None and len(file.data) > limit:
            too_big, file = len(file.data), None
    if too_big is not None:
        log.warning("media.refused", kind=kind, bytes=too_big, limit=limit, **log_ids)
        patch |= {"state": "refused", "reason": "grande_demais", "size": too_big}
    elif file is None:
        patch |= {"state": "failed", "reason": "download"}

    stored = False
    mimetype = files.base_type(media.get("mimetype"))
    if file is not None:
        mimetype = files.sniff(file.data) or files.base_type(file.mimetype) or mimetype
        stored = await _keep(svc, row, file, mimetype or "application/octet-stream", patch)

    if kind == "audio":
        await _transcribe(svc, media, file, patch, log_ids)
    elif file is not None and not stored:
        patch |= {"state": "failed", "reason": "armazenamento"}
    elif file is not None and kind == "image" and mimetype in files.IMAGE_TYPES:
        size = files.image_size(file.data)
        patch |= {"state": "ready", "mimetype": mimetype, "image_tokens": files.image_tokens(size)}
        if size:
            patch |= {"width": size[0], "height": size[1]}
    elif file is not None and kind == "document" and mimetype == files.PDF:
        patch |= {"state": "ready", "mimetype": mimetype}
    elif file is not None:
        patch |= {"state": "unsupported", "mimetype": mimetype}

    await repo.update_media(svc.db, row.id, patch, only_state="pending")
    if row.instance and row.provider_message_id:
        with contextlib.suppress(RedisError, OSError):  # it expires anyway
            await svc.redis.delete(inline_key(row.instance, row.provider_message_id))
    log.info("media.processed", kind=kind, state=patch.get("state"), **log_ids)
    return str(patch.get("state"))


async def _fetch(svc: MediaServices, row: repo.MediaMessage) -> MediaFile | None:
    media = row.media
    if row.instance and row.provider_message_id:
        try:
            encoded = await svc.redis.get(inline_key(row.instance, row.provider_message_id))
        except (RedisError, OSError) as exc:
            log.warning("media.inline_unreadable", message_id=row.id, error=type(exc).__name__)
            encoded = None
        if encoded:
            try:
                return MediaFile(
                    data=base64.b64decode(encoded),
                    mimetype=media.get("mimetype"),
                    file_name=media.get("file_name"),
                )
            except (binascii.Error, ValueError):
                log.warning("media.inline_invalid", message_id=row.id)
    if svc.source is None or not row.instance or not row.provider_message_id:
        log.warning("media.unavailable", message_id=row.id, reason="no Evolution to ask")
        return None
    try:
        return await svc.source.fetch_media(row.instance, row.provider_message_id)
    except MediaUnavailable as exc:
        log.warning("media.fetch_failed", message_id=row.id, error=str(exc))
        return None


async def _keep(
    svc: MediaServices,
    row: repo.MediaMessage,
    file: MediaFile,
    mimetype: str,
    patch: dict[str, Any],
) -> bool:
    key = f"{row.conversation_id or 0}/{row.id}{files.extension(mimetype)}"
    try:
        await svc.store.put(key, file.data, mimetype)
    except MediaUnavailable as exc:
        log.error("media.store_failed", message_id=row.id, store=svc.store.name, error=str(exc))
        return False
    await repo.record_file(
        svc.db,
        message_id=row.id,
        store=svc.store.name,
        storage_key=key,
        mimetype=mimetype,
        size=len(file.data),
    )
    patch |= {"store": svc.store.name, "storage_key": key, "size": len(file.data)}
    return True


async def _transcribe(
    svc: MediaServices,
    media: dict[str, Any],
    file: MediaFile | None,
    patch: dict[str, Any],
    log_ids: dict[str, Any],
) -> None:
    own = evolution_transcript(media.get("speech_to_text"))
    if own is not None:
        patch |= {"state": "ready", "transcript": own, "transcript_source": "evolution"}
        return
    if file is None:
        return  # refused or not downloaded: the state says so
    if svc.transcriber is None:
        patch |= {"state": "failed", "reason": "sem_transcricao"}
        log.info("media.no_transcriber", **log_ids)
        return
    mimetype = files.base_type(file.mimetype) or files.base_type(media.get("mimetype"))
    mimetype = mimetype or "audio/ogg"
    try:
        transcript = await svc.transcriber.transcribe(
            file.data, file_name=f"audio{files.extension(mimetype)}", mimetype=mimetype
        )
    except TranscriptionError as exc:
        log.warning("media.transcription_failed", error=str(exc), **log_ids)
        patch |= {"state": "failed", "reason": "transcricao_falhou"}
        return
    seconds = media.get("seconds")
    patch |= {
        "state": "ready",
        "transcript": transcript.text,
        "transcript_source": "transcriber",
        "transcribed_seconds": seconds if isinstance(seconds, int) and seconds > 0 else 0,
    }


async def load(store: MediaStore, media: dict[str, Any]) -> bytes | None:
    """A stored attachment's bytes, for the model; None when the store cannot give them."""
    key = media.get("storage_key")
    if not isinstance(key, str):
        return None
    try:
        return await store.get(key)
    except MediaUnavailable as exc:
        log.warning("media.load_failed", error=str(exc))
        return None


async def signed_url(store: MediaStore, media: dict[str, Any], expires_s: int) -> str | None:
    key = media.get("storage_key")
    if not isinstance(key, str) or media.get("store") != store.name:
        return None
    try:
        return await store.signed_url(key, expires_s)
    except MediaUnavailable as exc:
        log.warning("media.sign_failed", error=str(exc))
        return None


async def prune_orphans(db: asyncpg.Pool, store: MediaStore, *, max_batches: int = 50) -> int:
    """Delete the files whose message was deleted (retention follows the messages'), then
    their rows. A file another store holds (the store was switched) stays listed."""
    deleted = 0
    for _ in range(max_batches):
        orphans = await repo.orphan_files(db, store.name, limit=PRUNE_BATCH)
        if not orphans:
            break
        try:
            await store.remove([f.storage_key for f in orphans])
        except MediaUnavailable as exc:
            log.warning("media.prune_failed", store=store.name, error=str(exc))
            break
        deleted += await repo.delete_files(db, [f.id for f in orphans])
        if len(orphans) < PRUNE_BATCH:
            break
    return deleted
