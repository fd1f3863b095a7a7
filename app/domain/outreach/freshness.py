"""Nothing stale goes out: a proactive text that quotes a shift is checked again right
before it is sent (the gateway calls `Freshener` for every such send, whatever path
delivers it: the dispatcher, a deferred retry, the sweep).

A campaign opener or a second follow-up may wait hours for business hours or a chip's gap;
meanwhile its shift can start, be filled or be cancelled. Then the text is rewritten with
what is offered now (the campaign's first open shift; for the follow-up, the doctor's next
matching shift, or the follow-up's words without a shift), or, for an opener whose campaign
has nothing open any more, dropped: the gateway cancels it as `plantao_indisponivel`.
"""

from __future__ import annotations

import zlib
from datetime import datetime

import asyncpg

from app.core.config import Settings
from app.core.logging import get_logger
from app.domain.doctors import repository as doctors
from app.domain.outbound import repository as sends
from app.domain.outbound.repository import OutboundSend
from app.domain.outreach import campaigns, followups, writing
from app.domain.outreach import repository as repo

log = get_logger(__name__)


class Freshener:
    """`await freshener(row, now)`: the row to send (itself, or rewritten and saved), or
    None when there is nothing true left to say (the gateway drops it)."""

    def __init__(self, db: asyncpg.Pool, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    async def __call__(self, row: OutboundSend, now: datetime) -> OutboundSend | None:
        if row.shift_id is None or await repo.shift_offered(self._db, row.shift_id, now=now):
            return row
        doctor = await doctors.get(self._db, row.doctor_id) if row.doctor_id else None
        if doctor is None:
            return None
        recipient = writing.Recipient(
            name=doctor.name, specialty=doctor.specialty, city=doctor.city
        )
        if row.kind == "followup":
            body, shift_id = await self._followup(row, recipient, now)
        elif row.campaign_id is not None:
            rewritten = await self._opener(row, recipient, now)
            if rewritten is None:
                log.info("outreach.stale_dropped", send_id=row.id, shift_id=row.shift_id)
                return None
            body, shift_id = rewritten
        else:
            return None
        fresh = await sends.rewrite(
            self._db, row.id, body=body, shift_id=shift_id, attempts=row.attempts
        )
        log.info(
            "outreach.stale_rewritten", send_id=row.id, was_shift=row.shift_id, shift_id=shift_id
        )
        # Claimed or decided by another process meanwhile: its own run decides it.
        return fresh or await sends.get(self._db, row.id)

    async def _opener(
        self, row: OutboundSend, recipient: writing.Recipient, now: datetime
    ) -> tuple[str, int | None] | None:
        assert row.campaign_id is not None
        campaign = await repo.get_campaign(self._db, row.campaign_id)
        offered = await repo.campaign_shifts(self._db, row.campaign_id, now=now)
        if campaign is None or not offered:
            return None
        shifts = [campaigns.brief(s) for s in offered]
        template = campaign.template or await repo.template_for(self._db, campaign.kind)
        assert row.doctor_id is not None
        body = await campaigns.unique_opener(
            self._db,
            self._settings,
            campaign,
            recipient,
            row.doctor_id,
            shifts,
            template,
            salt=f":{row.shift_id}",
        )
        return body, offered[0].id if campaigns.quotes_shift(template, shifts) else None

    async def _followup(
        self, row: OutboundSend, recipient: writing.Recipient, now: datetime
    ) -> tuple[str, int | None]:
        assert row.doctor_id is not None
        offered = await repo.open_shift_for_doctor(
            self._db, row.doctor_id, now=now, campaign_id=row.campaign_id
        )
        shift = campaigns.brief(offered) if offered else None
        body = followups.second_step_text(
            self._settings, recipient, shift, variant=zlib.crc32(row.idempotency_key.encode())
        )
        return body, offered.id if offered else None
