"""SQL only the agent reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.db import Executor
from app.domain.briefings.parsing import Directives


@dataclass(frozen=True, slots=True)
class PriorityShift:
    """A real shift the active briefing marked as priority, as the prompt shows it."""

    shift_id: int
    hospital: str
    specialty: str
    sector: str | None
    starts_at: datetime
    ends_at: datetime
    period: str
    pay_cap_cents: int | None


@dataclass(frozen=True, slots=True)
class ActiveBriefing:
    """The briefing in force: its directives and the open shifts it marked."""

    title: str | None
    directives: Directives
    shifts: tuple[PriorityShift, ...]


async def active_briefing(conn: Executor, *, now: datetime) -> ActiveBriefing | None:
    """The active briefing (the latest applied one), with the priority shifts still open
    and in the future, soonest first."""
    row = await conn.fetchrow(
        """SELECT id, title, directives FROM briefings
           WHERE error IS NULL AND activated_at IS NOT NULL
           ORDER BY activated_at DESC, id DESC LIMIT 1"""
    )
    if row is None:
        return None
    shifts = await conn.fetch(
        """SELECT s.id AS shift_id, h.name AS hospital, sp.name AS specialty, s.sector,
                  s.starts_at, s.ends_at, s.period, bp.pay_cap_cents
             FROM briefing_priority_shifts bp
             JOIN shifts s ON s.id = bp.shift_id
             JOIN hospitals h ON h.id = s.hospital_id
             JOIN specialties sp ON sp.id = s.specialty_id
            WHERE bp.briefing_id = $1 AND s.status = 'aberto' AND s.starts_at > $2
            ORDER BY s.starts_at, s.id""",
        row["id"],
        now,
    )
    raw = row["directives"]
    data: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    return ActiveBriefing(
        title=row["title"],
        directives=Directives.from_json(data),
        shifts=tuple(PriorityShift(**dict(r.items())) for r in shifts),
    )
