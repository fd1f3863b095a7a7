"""Human takeover and return. Callers own the transaction; notices are sent after commit."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.db import Conn
from app.domain.conversations import repository as conversations
from app.domain.outreach import repository as outreach


async def hand_to_human(
    conn: Conn, *, conversation_id: int, doctor_id: int, trigger: str, reason: str | None
) -> bool:
    """Put the conversation under human control. True when this opened a new handoff.

    Queued proactive messages and scheduled follow-ups for the doctor are cancelled: a
    person is now talking to them.
    """
    await conversations.set_control(conn, conversation_id, "humano", trigger)
    handoff_id = await conn.fetchval(
        """INSERT INTO handoffs (conversation_id, doctor_id, trigger, reason)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (conversation_id) WHERE status = 'aberto' DO NOTHING
           RETURNING id""",
        conversation_id,
        doctor_id,
        trigger,
        reason,
    )
    await outreach.stop_for_doctor(conn, doctor_id, "handoff", at=datetime.now(UTC))
    return handoff_id is not None


async def mark_notified(conn: Conn, conversation_id: int) -> None:
    await conn.execute(
        """UPDATE handoffs SET notified_at = now()
           WHERE conversation_id = $1 AND status = 'aberto'""",
        conversation_id,
    )


async def hand_back(conn: Conn, *, conversation_id: int, by: str) -> bool:
    """Return the conversation to Julia; True if it was under human control."""
    changed = await conversations.set_control(conn, conversation_id, "julia", f"devolvido:{by}")
    await conn.execute(
        """UPDATE handoffs SET status = 'devolvido', resolved_at = now(), resolved_by = $2
           WHERE conversation_id = $1 AND status = 'aberto'""",
        conversation_id,
        by,
    )
    # Messages the doctor sent while a human was talking were the human's to answer.
    await conn.execute(
        """UPDATE messages SET processed_at = now()
           WHERE conversation_id = $1 AND direction = 'in' AND processed_at IS NULL""",
        conversation_id,
    )
    return changed
