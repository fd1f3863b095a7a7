"""The media job: fetch, keep and read one doctor attachment (enqueued by the drainer)."""

from __future__ import annotations

from typing import Any

from app.core.logging import get_logger
from app.domain.media import service as media

log = get_logger(__name__)


async def process_media(ctx: dict[str, Any], message_id: int) -> str:
    """Safe to run twice: only a `pending` attachment is processed."""
    services: media.MediaServices = ctx["media"]
    return await media.process(services, message_id)
