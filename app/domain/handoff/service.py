"""Human takeover and return. Callers own the transaction; notices are sent after commit."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.db import Conn
from app.domain.conversations import repository as conversations
from app.domain.handoff import repository
from app.domain.outreach import repository as outreach


async def hand_to_human(
    conn: Conn, *, conversation_id: int, doctor_id: int, trigger: str, reason: str | None
) -> bool:
    """Put the conversation under human control. True when this opened a new handoff.

    Queued proactive messages and scheduled follow-ups for the doctor are cancelled: a
    person is now talking to them.
    """
    await conversations.set_control(conn, conversation_id, "humano", trigger)
    handoff_id = await repository.open_handoff(
        conn, conversation_id=conversation_id, doctor_id=doctor_id, trigger=trigger, reason=reason
    )
    await outreach.stop_for_doctor(conn, doctor_id, "handoff", at=datetime.now(UTC))
    return handoff_id is not None


async def hand_back(conn: Conn, *, conversation_id: int, by: str) -> bool:
    """Return the conversation to Julia; True if it was under human control."""
    changed = await conversations.set_control(conn, conversation_id, "julia", f"devolvido:{by}")
    await repository.resolve(conn, conversation_id, by=by)
    # Messages the doctor sent while a human was talking were the human's to answer.
    await conversations.mark_inbound_processed(conn, conversation_id)
    return changed
