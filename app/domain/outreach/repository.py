"""SQL for outreach: follow-ups and reminders."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from app.core.db import Conn


async def schedule_reminder(
    conn: Conn | asyncpg.Pool,
    *,
    doctor_id: int,
    conversation_id: int,
    due_at: datetime,
    note: str,
) -> int:
    """A reminder the doctor asked for ("me chama segunda"); returns the followup id."""
    followup_id: int = await conn.fetchval(
        """
        INSERT INTO followups (doctor_id, conversation_id, kind, due_at, note, status)
        VALUES ($1, $2, 'lembrete', $3, $4, 'agendado')
        RETURNING id
        """,
        doctor_id,
        conversation_id,
        due_at,
        note,
    )
    return followup_id
