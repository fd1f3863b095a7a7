"""The media job: fetch, keep and read one doctor attachment (enqueued by the drainer)."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from app.core.logging import get_logger
from app.core.queue import enqueue_mirror
from app.core.resources import Resources
from app.domain.media import repository as media_repo
from app.domain.media import service as media

log = get_logger(__name__)


async def process_media(ctx: dict[str, Any], message_id: int) -> str:
    """Safe to run twice: only a `pending` attachment is processed. Once it is settled the
    Chatwoot mirror (when configured) gets it, with the file attached."""
    services: media.MediaServices = ctx["media"]
    state = await media.process(services, message_id)
    res: Resources | None = ctx.get("res")
    if state != "nothing" and res is not None and res.settings.chatwoot_configured:
        row = await media_repo.get(res.db, message_id)
        if row is not None and row.conversation_id is not None:
            try:
                await enqueue_mirror(res.redis, row.conversation_id, reason=f"media:{message_id}")
            except (RedisError, OSError) as exc:  # the mirror's own bound and the sweep remain
                log.warning("media.mirror_enqueue_failed", message_id=message_id, error=str(exc))
    return state
