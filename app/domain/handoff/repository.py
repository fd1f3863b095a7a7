"""SQL for handoffs: a conversation's periods under human control."""

from __future__ import annotations

from app.core.db import Executor


async def open_handoff(
    conn: Executor, *, conversation_id: int, doctor_id: int, trigger: str, reason: str | None
) -> int | None:
    """Open a handoff for the conversation; None when one is open already."""
    handoff_id: int | None = await conn.fetchval(
        """INSERT INTO handoffs (conversation_id, doctor_id, trigger, reason)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (conversation_id) WHERE status = 'aberto' DO NOTHING
           RETURNING id""",
        conversation_id,
        doctor_id,
        trigger,
        reason,
    )
    return handoff_id


async def mark_notified(conn: Executor, conversation_id: int) -> None:
    await conn.execute(
        """UPDATE handoffs SET notified_at = now()
           WHERE conversation_id = $1 AND status = 'aberto'""",
        conversation_id,
    )


async def resolve(conn: Executor, conversation_id: int, *, by: str) -> None:
    """Close the conversation's open handoff: it was handed back to Julia."""
    await conn.execute(
        """UPDATE handoffs SET status = 'devolvido', resolved_at = now(), resolved_by = $2
           WHERE conversation_id = $1 AND status = 'aberto'""",
        conversation_id,
        by,
    )
