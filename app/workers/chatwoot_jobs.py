"""Chatwoot's jobs: the mirror of one conversation, a stored webhook delivery, and the
scheduler's sweep, reconciliation and check of Evolution's own integration.

None of them touches a doctor's reply: the reply is sent first and mirrored after, so
Chatwoot being slow or down only delays what operators see. Without Chatwoot configured
each is a no-op.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.worker import Retry

from app.core.db import transaction
from app.core.lease import Lease
from app.core.logging import get_logger
from app.core.queue import enqueue_chatwoot_event, enqueue_mirror, enqueue_send
from app.core.resources import Resources
from app.domain.handoff import chatwoot as mirror
from app.domain.handoff import chatwoot_repository as chatwoot_repo
from app.domain.inbox import repository as inbox
from app.domain.inbox.chatwoot import (
    AgentMessage,
    Applied,
    ConversationChange,
    apply_event,
    parse_event,
)
from app.domain.inbox.drain import TRANSIENT
from app.domain.operations.chatwoot_check import check_evolution_integration
from app.domain.outbound.gateway import Gateway
from app.integrations.protocols import ChatwootError

log = get_logger(__name__)

MIRROR_LOCK_SECONDS = 60
SWEEP_WINDOW = timedelta(days=1)
SWEEP_BATCH = 200


async def mirror_chatwoot(ctx: dict[str, Any], conversation_id: int) -> str:
    """Bring one conversation's Chatwoot copy up to date. Chatwoot down: tried again with a
    growing delay (ARQ's retries), then the scheduler's sweep takes over."""
    res: Resources = ctx["res"]
    chatwoot = res.chatwoot
    if chatwoot is None:
        return "not_configured"
    lease = Lease(
        res.redis,
        f"julia:chatwoot-mirror:{conversation_id}",
        MIRROR_LOCK_SECONDS,
        str(ctx.get("job_id") or "mirror"),
    )
    if not await lease.refresh():
        # Another run is at it; come back once it is done, for what it may have missed.
        await enqueue_mirror(
            res.redis, conversation_id, reason=f"busy:{uuid.uuid4().hex[:8]}", delay=1.0
        )
        return "busy"
    try:
        await mirror.mirror_conversation(
            res.db,
            chatwoot,
            res.settings,
            conversation_id,
            datetime.now(UTC),
            still_held=lease.refresh,
        )
    except ChatwootError as exc:
        tries = int(ctx.get("job_try") or 1)
        log.warning(
            "chatwoot.mirror_failed",
            conversation_id=conversation_id,
            error=str(exc),
            job_try=tries,
        )
        raise Retry(defer=res.settings.CHATWOOT_RETRY_SECONDS * tries) from exc
    finally:
        await lease.release()
    return "mirrored"


async def run_chatwoot_event(ctx: dict[str, Any], event_id: int) -> str:
    """Apply a stored Chatwoot delivery once: the row is locked while it is applied and
    finished in the same transaction; a relay it records goes out after the commit."""
    res: Resources = ctx["res"]
    gateway: Gateway = ctx["turns"].gateway
    async with transaction(res.db) as conn:
        delivery = await inbox.claim_chatwoot_event(conn, event_id)
        if delivery is None:
            return "skipped"
        event = parse_event(delivery.payload)
        own_user_id = None
        if isinstance(event, AgentMessage) or (
            isinstance(event, ConversationChange) and event.assigned_to is not None
        ):
            own_user_id = await _own_user_id(res)
        error = None
        try:
            async with conn.transaction():  # a savepoint: a failure leaves only the mark
                applied = await apply_event(conn, event, res.settings, own_user_id=own_user_id)
            status = "ignored" if applied.outcome in ("ignored", "own_mirror") else "done"
        except TRANSIENT:
            raise  # the database, not the delivery: ARQ runs it again
        except Exception as exc:  # the delivery cannot be applied: kept as failed, with why
            log.exception("chatwoot.event_failed", webhook_event_id=event_id)
            applied, status = Applied("failed"), "failed"
            error = f"{type(exc).__name__}: {exc}"[:500]
        await inbox.finish_event(conn, event_id, status, error)
    log.info(
        "chatwoot.event_applied",
        webhook_event_id=event_id,
        outcome=applied.outcome,
        conversation_id=applied.conversation_id,
    )
    for send_id in applied.send_ids:
        outcome = await gateway.deliver(send_id)
        log.info("chatwoot.relayed", send_id=send_id, status=outcome.status)
    if applied.conversation_id is not None and res.chatwoot is not None:
        await enqueue_mirror(res.redis, applied.conversation_id, reason=f"event:{event_id}")
    return applied.outcome


async def _own_user_id(res: Resources) -> int | None:
    if res.chatwoot is None:
        return None
    try:
        return await res.chatwoot.own_user_id()
    except ChatwootError:
        return None


# Scheduler jobs ---------------------------------------------------------------------------


async def espelhar_chatwoot(res: Resources) -> str | None:
    """What the triggers missed: conversations Chatwoot is behind on (Chatwoot was down
    longer than the retries, a lost job), and deliveries no job applied."""
    if res.chatwoot is None:
        return "skipped"
    now = datetime.now(UTC)
    slot = int(now.timestamp())
    behind = await chatwoot_repo.conversations_behind(res.db, now - SWEEP_WINDOW, SWEEP_BATCH)
    for conversation_id in behind:
        await enqueue_mirror(res.redis, conversation_id, reason=f"sweep:{slot}")
    stale = await inbox.received_chatwoot_before(res.db, now - timedelta(seconds=30), SWEEP_BATCH)
    for event_id in stale:
        await enqueue_chatwoot_event(res.redis, event_id)
    if behind or stale:
        log.info("chatwoot.sweep", conversations=len(behind), deliveries=len(stale))
    return None


async def reconciliar_chatwoot(res: Resources) -> str | None:
    """Relay the agent replies whose webhook never came (Chatwoot does not retry)."""
    chatwoot = res.chatwoot
    if chatwoot is None:
        return "skipped"
    planned = await mirror.reconcile(res.db, chatwoot, res.settings, datetime.now(UTC))
    for conversation_id, send_id in planned:
        await enqueue_send(res.redis, send_id, f"relay:{send_id}")
        await enqueue_mirror(res.redis, conversation_id, reason=f"relay:{send_id}")
    if planned:
        log.info("chatwoot.reconciled", relays=len(planned))
    return None


async def verificar_chatwoot_evolution(res: Resources) -> str | None:
    """Warn when Evolution's own Chatwoot integration is on for an instance Julia mirrors:
    both would post every message (see docs/operations.md, Chatwoot)."""
    if res.chatwoot is None or res.evolution_chatwoot is None:
        return "skipped"
    await check_evolution_integration(res)
    return None
