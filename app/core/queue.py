"""The job queue: every job name and the helpers that enqueue them.

Light enough for the API to import (ARQ's client only). The worker registers its functions
under these names (`app.workers.fila_worker`); jobs already queued carry them, so a name
never changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from arq.connections import ArqRedis

from app.core.config import Settings

PING = "ping"
RUN_TURN = "run_turn"
RUN_SLACK_COMMAND = "run_slack_command"
SEND_OUTBOUND = "send_outbound"
DELIVER_REPLY = "deliver_reply"
MIRROR_CHATWOOT = "mirror_chatwoot"
RUN_CHATWOOT_EVENT = "run_chatwoot_event"
PROCESS_MEDIA = "process_media"


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
        RUN_TURN,
        conversation_id,
        message_id,
        _job_id=job_id or f"turn:{conversation_id}:{message_id}",
        _defer_by=timedelta(seconds=max(defer, 0)),
    )


async def enqueue_slack_command(redis: ArqRedis, event_id: str) -> None:
    """Run a stored Slack mention. The job id makes a second enqueue of a queued job a no-op."""
    await redis.enqueue_job(RUN_SLACK_COMMAND, event_id, _job_id=f"slack:{event_id}")


async def enqueue_send(redis: ArqRedis, send_id: int, job_id: str) -> None:
    """Deliver one proactive message; `job_id` names the attempt, so it is queued once."""
    await redis.enqueue_job(SEND_OUTBOUND, send_id, _job_id=job_id)


async def enqueue_reply_part(redis: ArqRedis, send_id: int, at: datetime) -> None:
    """Wake the reply part `send_id` at `at` (its typing starts, or it goes out). The job id
    names the moment, so planning the same moment twice queues one job."""
    await redis.enqueue_job(
        DELIVER_REPLY,
        send_id,
        _job_id=f"reply:{send_id}:{int(at.timestamp() * 1000)}",
        _defer_until=at,
    )


async def enqueue_mirror(
    redis: ArqRedis, conversation_id: int, *, reason: str, delay: float = 0.0
) -> None:
    """Mirror what the conversation has that Chatwoot does not show yet. The job id names
    the trigger (`reason`, e.g. "sent:<send id>"), so one trigger queues one job; the job
    itself mirrors everything missing, so any trigger is enough."""
    await redis.enqueue_job(
        MIRROR_CHATWOOT,
        conversation_id,
        _job_id=f"chatwoot-mirror:{conversation_id}:{reason}",
        _defer_by=timedelta(seconds=max(delay, 0)),
    )


async def enqueue_chatwoot_event(redis: ArqRedis, event_id: int) -> None:
    """Apply one stored Chatwoot webhook delivery (`webhook_events.id`)."""
    await redis.enqueue_job(RUN_CHATWOOT_EVENT, event_id, _job_id=f"chatwoot-event:{event_id}")


async def enqueue_media(redis: ArqRedis, message_id: int) -> None:
    """Fetch, keep and read a doctor's attachment (once per message: the job id)."""
    await redis.enqueue_job(PROCESS_MEDIA, message_id, _job_id=f"media:{message_id}")
