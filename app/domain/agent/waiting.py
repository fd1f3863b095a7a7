"""The conversations nobody is answering: messages no turn took, and replies whose send is
due for a retry or whose scheduled job was lost (a killed worker: the parts are in Postgres,
their jobs were in its Redis queue). The scheduler's sweep and the resume after a pause both
queue a turn for each of them, through `enqueue_waiting`; the turn sends what is due first.
Before that the sweep applies deliveries still waiting in the inbox (`drain_stale_inbox`): no
worker drained them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

from app.core.queue import enqueue_turn
from app.core.resources import Resources
from app.domain.conversations import repository as conversations
from app.domain.inbox import drain
from app.domain.inbox import repository as inbox
from app.domain.outbound import repository as sends
from app.domain.outbound.gateway import IN_FLIGHT

# A resume (a julia_status 'ativo' row) whose waiting doctors were queued already; kept a
# week, far longer than any process takes to notice a row.
_RESUMED = "julia:resume-answered:{}"
_RESUMED_TTL_S = 7 * 24 * 3600


async def mark_resume_answered(redis: Redis, status_id: int) -> bool:
    """Record that the waiting doctors of resume `status_id` are being answered; False when
    some process did it already (the Slack job, the dashboard, another worker)."""
    return bool(await redis.set(_RESUMED.format(status_id), "1", nx=True, ex=_RESUMED_TTL_S))


@dataclass(frozen=True, slots=True)
class Enqueued:
    unanswered: int  # conversations with a message older than the cutoff
    due: int  # conversations with a reply due for a retry
    turns: int  # turns queued: one per conversation, whether it is in one list or both


async def enqueue_waiting(
    res: Resources,
    *,
    older_than: datetime,
    delay: float,
    job_prefix: str,
    batch: str,
    limit: int = 200,
) -> Enqueued:
    """Queue one turn, `delay` seconds from now, for every conversation (up to `limit` of
    each kind) with an unanswered message from before `older_than` or a reply due (deferred
    and due, planned for before `older_than` and never tried, or claimed by a worker that
    died); the oldest waiting conversation first.

    The job id is `{job_prefix}:{conversation}:{message or "resume"}:{batch}`: a second call
    with the same batch queues nothing twice.
    """
    unanswered = await conversations.unprocessed_older_than(res.db, older_than, limit=limit)
    due = await sends.conversations_with_due_replies(
        res.db,
        limit=limit,
        lost_before=older_than,
        in_flight_before=datetime.now(UTC) - IN_FLIGHT,
    )
    # A conversation in both lists needs one turn: the one for its newest message, which
    # also finishes the interrupted reply.
    jobs: dict[int, int | None] = dict(unanswered)
    for conversation_id in due:
        jobs.setdefault(conversation_id, None)
    for conversation_id, message_id in jobs.items():
        which = "resume" if message_id is None else message_id
        await enqueue_turn(
            res.redis,
            conversation_id,
            message_id,
            res.settings,
            delay=delay,
            job_id=f"{job_prefix}:{conversation_id}:{which}:{batch}",
        )
    return Enqueued(unanswered=len(unanswered), due=len(due), turns=len(jobs))


async def drain_stale_inbox(res: Resources, *, older_than: datetime, max_batches: int = 20) -> int:
    """Apply the stored deliveries if one from before `older_than` is still `received`
    (the worker is down or lost its signal); their turns are queued. Returns how many rows
    were applied or failed."""
    if not await inbox.received_before(res.db, older_than):
        return 0
    drained = await drain.drain(res, max_batches=max_batches)
    return drained.applied + drained.failed
