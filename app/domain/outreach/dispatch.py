"""From the ledger to the workers, and the gateway's decisions back to campaigns and
follow-ups.

Proactive messages are written by the scheduler jobs and delivered by the workers, one job
per message. A deferred message stays in the ledger with the moment it may be tried again
(`not_before`); the `despachar_envios` job hands the due ones back to the workers. After
each decision, `settle` moves the campaign target or the follow-up along.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.core.db import Conn, Executor
from app.core.logging import get_logger
from app.domain.outbound import repository as sends
from app.domain.outreach import followups
from app.domain.outreach import repository as repo

log = get_logger(__name__)

BATCH = 500

# ledger status -> campaign target status
_TARGET_STATUS = {
    "sent": "enviado",
    "deferred": "adiado",
    "cancelled": "cancelado",
    "blocked": "bloqueado",
    "failed": "bloqueado",
}


async def due(conn: Executor, now: datetime, limit: int = BATCH) -> list[tuple[int, str]]:
    """Proactive messages whose moment has come, as (send id, queue job id). The job id
    names the attempt, so handing the same message over twice runs it once."""
    rows = await repo.due_sends(conn, now, limit)
    return [(r.id, job_id(r.id, r.attempts, r.not_before)) for r in rows]


def job_id(send_id: int, attempts: int, not_before: datetime) -> str:
    return f"send:{send_id}:{attempts}:{int(not_before.timestamp())}"


async def settle(conn: Conn, send_id: int, *, doctor_gap: timedelta) -> None:
    """Carry the gateway's decision on `send_id` over to its campaign target or follow-up.
    Safe to run twice."""
    send = await sends.get(conn, send_id)
    if send is None or not send.proactive:
        return
    if send.status == "pending":
        return  # not decided yet (or its outcome is unknown)
    at = send.sent_at or send.decided_at or datetime.now(UTC)
    target_id = await repo.target_of_send(conn, send_id)
    if target_id is not None:
        await repo.set_target(
            conn,
            target_id,
            _TARGET_STATUS[send.status],
            send.reason,
            next_attempt_at=send.not_before if send.status == "deferred" else None,
            contacted_at=at if send.status == "sent" else None,
        )
        if send.status == "sent" and send.conversation_id is not None and send.doctor_id:
            await followups.after_opener(
                conn,
                doctor_id=send.doctor_id,
                conversation_id=send.conversation_id,
                campaign_id=send.campaign_id,
                at=at,
            )
    followup = await repo.followup_of_send(conn, send_id)
    if followup is not None:
        if send.status == "sent":
            await repo.mark_followup_sent(conn, followup.id, at)
            await followups.after_step(conn, followup, at=at, doctor_gap=doctor_gap)
        elif send.status in ("cancelled", "blocked", "failed"):
            await repo.cancel_followup(conn, followup.id, send.reason or send.status)
