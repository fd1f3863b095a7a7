"""Queue jobs and how they are enqueued. Jobs take ids and are safe to run twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from arq.connections import ArqRedis

from app.core.config import Settings
from app.core.logging import get_logger
from app.core.queue import enqueue_reply_part, enqueue_turn
from app.core.resources import Resources
from app.domain.agent import turn
from app.domain.agent.waiting import enqueue_waiting

log = get_logger(__name__)


async def run_turn(ctx: dict[str, Any], conversation_id: int, message_id: int | None) -> str:
    services: turn.TurnServices = ctx["turns"]
    structlog.contextvars.bind_contextvars(conversation_id=conversation_id)
    outcome = await turn.handle(services, conversation_id, message_id, job_id=ctx.get("job_id"))
    log.info("turn.done", conversation_id=conversation_id, outcome=outcome)
    return outcome


async def deliver_reply(ctx: dict[str, Any], send_id: int) -> str:
    """A scheduled reply part's moment came: start its typing, or send it (and plan the
    next part). Safe to run twice: the gateway's ledger decides each message once."""
    services: turn.TurnServices = ctx["turns"]
    return await turn.advance(services, send_id)


def scheduler(redis: ArqRedis) -> turn.ScheduleSend:
    """The turn's way to wake a reply part at a moment, from a queue job (no sleeping)."""

    async def schedule(send_id: int, at: datetime) -> None:
        await enqueue_reply_part(redis, send_id, at)

    return schedule


def requeue(redis: ArqRedis, settings: Settings) -> turn.Enqueue:
    """The turn's way back into the queue: a fresh job id, so it never collides with the
    job that is running now."""

    async def enqueue(conversation_id: int, message_id: int | None, delay: float) -> None:
        await enqueue_turn(
            redis,
            conversation_id,
            message_id,
            settings,
            delay=delay,
            job_id=f"turn:{conversation_id}:{message_id}:{uuid.uuid4().hex[:8]}",
        )

    return enqueue


async def sweep(res: Resources) -> None:
    """Re-enqueue what nobody is answering: messages left by a killed worker or a lost
    job, and replies whose send is due for a retry. Oldest waiting conversation first."""
    every = res.settings.SWEEP_AFTER_SECONDS
    now = datetime.now(UTC)
    enqueued = await enqueue_waiting(
        res,
        older_than=now - timedelta(seconds=every),
        delay=0,
        job_prefix="sweep",
        batch=str(int(now.timestamp()) // every),
    )
    if enqueued.turns:
        log.info("sweep.enqueued", waiting=enqueued.unanswered, resumed=enqueued.due)
