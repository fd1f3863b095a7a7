"""Short WhatsApp notices to the manager (GESTOR_WHATSAPP).

They are written to the outbound ledger like every other message (kind `gestor`, not
proactive: no chip or doctor cap counts them) and delivered by the one gateway, which
refuses one addressed to a doctor's number. Without GESTOR_WHATSAPP nothing is written.
"""

from __future__ import annotations

from datetime import datetime

from app.core.config import Settings
from app.core.db import Executor
from app.core.logging import get_logger
from app.domain.doctors import repository as doctors
from app.domain.outbound import repository as sends

log = get_logger(__name__)

MAX_CHARS = 600


async def plan_notice(
    conn: Executor, settings: Settings, *, key: str, text: str, now: datetime | None = None
) -> int | None:
    """Record a notice to the manager under the idempotency key `gestor:<key>`; the send's
    id, or None when there is no manager number (or it is a doctor's)."""
    phone = settings.GESTOR_WHATSAPP
    if not phone:
        return None
    if await doctors.find_by_phone(conn, phone) is not None:
        log.warning("manager_notice.refused", reason="GESTOR_WHATSAPP is a doctor's number")
        return None
    row = await sends.create(
        conn,
        key=f"gestor:{key}",
        kind="gestor",
        proactive=False,
        doctor_id=None,
        to_phone=phone,
        body=" ".join(text.split())[:MAX_CHARS],
        instance=settings.EVOLUTION_INSTANCE,
        not_before=now,
    )
    return row.id
