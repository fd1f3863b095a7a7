"""Enqueueing turn jobs: light enough for the API to import."""

from __future__ import annotations

from datetime import timedelta

from arq.connections import ArqRedis

from app.core.config import Settings


async def enqueue_turn(
    redis: ArqRedis,
    conversation_id: int,
    message_id: int | None,
    settings: Settings,
    *,
    delay: float | None = None,
    job_id: str | None = None,
) -> None:
    """Ask for a turn after the debounce window (or `delay`)."""
    defer = settings.INBOUND_DEBOUNCE_SECONDS if delay is None else delay
    await redis.enqueue_job(
        "run_turn",
        conversation_id,
        message_id,
        _job_id=job_id or f"turn:{conversation_id}:{message_id}",
        _defer_by=timedelta(seconds=max(defer, 0)),
    )
