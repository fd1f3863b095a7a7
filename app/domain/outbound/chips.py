"""Which WhatsApp number (chip) a proactive message leaves from, and what it may send.

A doctor always hears from the same chip (doctors.assigned_chip_id). A doctor without one
gets a connected, healthy chip under its limits, least used today first. With
MULTI_CHIP_ENABLED off there is one chip: EVOLUTION_INSTANCE.
"""

from __future__ import annotations

from datetime import datetime

from app.core.config import Settings
from app.core.db import Executor
from app.domain.outbound import chips_repository as repo
from app.domain.outbound.chips_repository import Chip
from app.domain.outbound.pacing import Caps, chip_caps, local_day_bounds


def caps_for(settings: Settings, chip: Chip, now: datetime) -> Caps:
    """The chip's caps now: its own limits (never above the global ones), warmed up."""
    hourly = settings.MAX_MSGS_POR_HORA
    daily = settings.MAX_MSGS_POR_DIA
    if chip.hourly_limit is not None:
        hourly = min(hourly, chip.hourly_limit)
    if chip.daily_limit is not None:
        daily = min(daily, chip.daily_limit)
    return chip_caps(
        max_hourly=hourly,
        max_daily=daily,
        warmup_started_at=chip.warmup_started_at,
        warmup_days=settings.CHIP_AQUECIMENTO_DIAS,
        now=now,
    )


async def chip_for_doctor(
    conn: Executor, settings: Settings, *, doctor_id: int, now: datetime
) -> Chip | None:
    """The doctor's chip, assigning one when they have none: a usable chip under its daily
    cap, least loaded first. None when no chip can take a new doctor now (all
    disconnected, benched or disabled): the message waits."""
    if not settings.MULTI_CHIP_ENABLED:
        chip_id = await repo.ensure_chip(conn, settings.EVOLUTION_INSTANCE)
        await repo.assign_chip(conn, doctor_id, chip_id)
        return await repo.get_chip(conn, chip_id)
    assigned = await repo.assigned_chip_id(conn, doctor_id)
    if assigned is not None:
        chip = await repo.get_chip(conn, assigned)
        if chip is not None and chip.enabled:
            return chip  # sticky, even while disconnected: the doctor waits for it
        await repo.unassign_chip(conn, doctor_id, assigned)
    chips = await repo.list_chips(conn)
    if not chips:  # none registered yet: EVOLUTION_INSTANCE is the first
        await repo.ensure_chip(conn, settings.EVOLUTION_INSTANCE)
        chips = await repo.list_chips(conn)
    candidates = [c for c in chips if c.unusable(now) is None]
    if not candidates:
        return None
    day_start, _ = local_day_bounds(now, settings.tz)
    # Sent today plus written and waiting: a tick that assigns many doctors at once
    # spreads them instead of handing them all to the chip that sent least.
    used = await repo.load_since(conn, day_start)

    def load(chip: Chip) -> tuple[float, int]:
        return used.get(chip.id, 0) / max(1, caps_for(settings, chip, now).daily), chip.id

    under = [c for c in candidates if used.get(c.id, 0) < caps_for(settings, c, now).daily]
    best = min(under or candidates, key=load)
    chip_id = await repo.assign_chip(conn, doctor_id, best.id)
    return best if chip_id == best.id else await repo.get_chip(conn, chip_id)
