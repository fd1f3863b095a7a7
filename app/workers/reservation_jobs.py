"""The scheduler's `reservas` job: the reservation loop's clock."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.logging import get_logger
from app.core.resources import Resources
from app.domain.reservations import service as reservations

log = get_logger(__name__)


async def reservas(res: Resources) -> str | None:
    """Every 5 minutes: re-announce reservations nobody answered, release those past
    RESERVA_JANELA_HORAS (the doctor is told), remind doctors of tomorrow's confirmed shifts
    and ask the team whether the shifts that ended happened."""
    result = await reservations.tick(res, now=datetime.now(UTC))
    if result.reannounced or result.expired or result.reminded or result.asked:
        log.info(
            "reservations.tick",
            reannounced=result.reannounced,
            expired=result.expired,
            reminded=result.reminded,
            asked=result.asked,
        )
    return None
