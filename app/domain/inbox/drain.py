"""The worker's side of the Evolution inbox: apply the deliveries the edge stored.

A batch is one transaction: take the drainer's lock (one drainer at a time keeps each
conversation's messages in the order they came, with any number of worker processes),
claim up to `limit` `received` rows in id order, apply each inside a savepoint and mark it
done, or `failed` with the error when it cannot be applied (the rest of the batch goes on).
A crash before the commit leaves every row `received` for the next drain, and a row that was
applied is never claimed again. Turns are enqueued only after the commit, one per
conversation per batch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
from redis.exceptions import RedisError

from app.core.db import Conn, transaction
from app.core.logging import get_logger
from app.core.queue import enqueue_media as enqueue_media_job
from app.core.queue import enqueue_mirror, enqueue_turn
from app.core.resources import Resources
from app.domain.inbox import intake
from app.domain.inbox import repository as inbox
from app.domain.inbox.evolution import parse_webhook

log = get_logger(__name__)

# Errors of the database or the connection, not of the row: the whole batch is rolled back
# and tried again, nothing is marked failed.
TRANSIENT = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.QueryCanceledError,
    OSError,
    TimeoutError,
)
DEADLOCK_RETRIES = 5
LOCK_WAIT_SECONDS = 0.1


@dataclass
class Batch:
    locked: bool  # False: another drainer holds the lock, nothing was claimed
    claimed: int = 0
    failed: int = 0
    # conversation id -> newest new doctor message id: one turn each
    turns: dict[int, int] = field(default_factory=dict)
    # conversations a person took over from the company phone (mirrored like new messages)
    takeovers: set[int] = field(default_factory=set)
    media: list[int] = field(default_factory=list)  # messages whose attachment is fetched


@dataclass
class Drained:
    applied: int = 0
    failed: int = 0
    turns: int = 0


async def drain_batch(pool: asyncpg.Pool, limit: int) -> Batch:
    """Apply up to `limit` stored deliveries in one transaction (see the module docstring)."""
    async with transaction(pool) as conn:
        if not await inbox.try_drain_lock(conn):
            return Batch(locked=False)
        rows = await inbox.claim_received(conn, limit)
        batch = Batch(locked=True, claimed=len(rows))
        for row in rows:
            if not await _apply(conn, row, batch):
                batch.failed += 1
        return batch


async def _apply(conn: Conn, row: inbox.Delivery, batch: Batch) -> bool:
    try:
        async with conn.transaction():  # a savepoint: a bad row is undone alone
            events = parse_webhook(row.payload, event_hint=row.event)
            result = await intake.apply_delivery(conn, row.id, events)
    except TRANSIENT:
        raise
    except Exception as exc:  # a boundary: one row's failure must not block the inbox
        error = f"{type(exc).__name__}: {exc}"[:500]
        await inbox.finish_event(conn, row.id, "failed", error)
        log.error("inbox.delivery_failed", webhook_event_id=row.id, error=type(exc).__name__)
        return False
    for conversation_id, message_id in result.turns.items():
        batch.turns[conversation_id] = max(message_id, batch.turns.get(conversation_id, 0))
    batch.takeovers.update(result.takeovers)
    batch.media.extend(result.media)
    return True


async def drain(res: Resources, *, max_batches: int | None = None) -> Drained:
    """Apply every stored delivery (until a batch comes back short), enqueueing the turns
    after each batch's commit. If another drainer holds the lock, wait briefly and look
    again: it may have finished just before our row was committed."""
    total = Drained()
    limit = res.settings.INBOX_BATCH_SIZE
    deadlocks = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        try:
            batch = await drain_batch(res.db, limit)
        except asyncpg.DeadlockDetectedError:
            # Against the gateway's transactions: the batch was rolled back, run it again.
            deadlocks += 1
            log.warning("inbox.deadlock", attempt=deadlocks)
            if deadlocks > DEADLOCK_RETRIES:
                raise
            await asyncio.sleep(LOCK_WAIT_SECONDS * deadlocks)
            continue
        if not batch.locked:
            await asyncio.sleep(LOCK_WAIT_SECONDS)
            batches += 1
            continue
        batches += 1
        total.applied += batch.claimed - batch.failed
        total.failed += batch.failed
        await enqueue_media(res, batch.media)
        await enqueue_turns(res, batch.turns)
        total.turns += len(batch.turns)
        if res.settings.chatwoot_configured:
            await enqueue_mirrors(res, batch)
        if batch.claimed < limit:
            break
    if total.applied or total.failed:
        log.info("inbox.drained", applied=total.applied, failed=total.failed, turns=total.turns)
    return total


async def enqueue_mirrors(res: Resources, batch: Batch) -> None:
    """The doctors' new messages (and phone takeovers) go to Chatwoot after the commit; the
    scheduler's `espelhar_chatwoot` finds whatever is not enqueued here."""
    for conversation_id in set(batch.turns) | batch.takeovers:
        reason = f"in:{batch.turns.get(conversation_id, 'takeover')}"
        try:
            await enqueue_mirror(res.redis, conversation_id, reason=reason)
        except (RedisError, OSError) as exc:
            log.warning(
                "inbox.mirror_enqueue_failed", conversation_id=conversation_id, error=str(exc)
            )


async def enqueue_media(res: Resources, message_ids: list[int]) -> None:
    for message_id in message_ids:
        try:
            await enqueue_media_job(res.redis, message_id)
        except (RedisError, OSError) as exc:  # the turn waits MEDIA_WAIT_SECONDS, then goes on
            log.error("inbox.enqueue_failed", message_id=message_id, error=str(exc))


async def enqueue_turns(res: Resources, turns: dict[int, int]) -> None:
    for conversation_id, message_id in turns.items():
        try:
            await enqueue_turn(res.redis, conversation_id, message_id, res.settings)
        except (RedisError, OSError) as exc:  # the message is stored: the sweep enqueues it
            log.error("inbox.enqueue_failed", conversation_id=conversation_id, error=str(exc))
            continue
        log.info("inbox.turn_enqueued", conversation_id=conversation_id)
