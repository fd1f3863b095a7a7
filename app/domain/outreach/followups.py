"""Follow-ups after an unanswered opener, reminders doctors asked for, reactivation.

Cadence (DOMAIN.md): counted from the opener, step 1 at ~48 h (a nudge), step 2 at ~5 days
(with a concrete shift), step 3 at ~15 days (the last); then silence, and after 60 days
of it the doctor may be invited back by the monthly reactivation campaign. A reply, an
opt-out or a handoff cancels what is scheduled (`repository.stop_for_doctor`).
"""

from __future__ import annotations

import random
import zlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from app.core.config import Settings
from app.core.db import Conn, transaction
from app.core.logging import get_logger
from app.domain.outbound import chips_repository as chips_repo
from app.domain.outbound import repository as sends
from app.domain.outbound.chips import chip_for_doctor
from app.domain.outbound.repository import OutboundSend
from app.domain.outreach import campaigns, writing
from app.domain.outreach import repository as repo
from app.domain.outreach.repository import DueFollowup

log = get_logger(__name__)

# Step -> delay after the opener. Step n+1 is also never sooner than the doctor's
# minimum interval after step n (the gateway enforces that too).
CADENCE = {1: timedelta(hours=48), 2: timedelta(days=5), 3: timedelta(days=15)}
LAST_STEP = max(CADENCE)
BATCH = 200

_REMINDERS = (
    "oi {n}, tudo bem? vc pediu pra eu te chamar hoje, lembra?\nainda tá procurando plantão?",
    "oi {n}! como combinado, tô passando aqui de novo\nconseguiu ver sua agenda?",
    "oi {n}, td bem? voltando aqui como vc pediu\nposso te mandar as vagas que tenho?",
    "oi {n}! vc tinha pedido pra eu te chamar agora\nainda faz sentido conversar sobre plantão?",
)


def reminder_text(name: str | None, variant: int) -> str:
    """A reminder the doctor asked for: light, and it says why Julia is writing."""
    text = _REMINDERS[variant % len(_REMINDERS)]
    called = writing.first_name(name)
    return text.replace(" {n}", f" {called}" if called else "")


async def process(
    db: asyncpg.Pool, settings: Settings, *, now: datetime, rng: random.Random
) -> list[int]:
    """One `processar_followups` tick: write the due follow-ups and reminders into the
    ledger; returns the sends to hand to the workers. Under PILOT_MODE the cadence of
    autonomous campaigns waits; reminders and operators' campaigns go on."""
    written: list[int] = []
    async with transaction(db) as conn:
        due = await repo.claim_due_followups(
            conn, now, include_autonomous=not settings.PILOT_MODE, limit=BATCH
        )
        for followup in due:
            send = await _write(conn, settings, followup, now)
            if send is not None:
                written.append(send.id)
    if written:
        log.info("followups.written", count=len(written))
    return written


async def _write(
    conn: Conn, settings: Settings, followup: DueFollowup, now: datetime
) -> OutboundSend | None:
    chip_id = followup.chip_id
    instance = None
    if chip_id is None:
        chip = await chip_for_doctor(conn, settings, doctor_id=followup.doctor_id, now=now)
        if chip is None:
            return None  # stays due; the next tick tries again
        chip_id, instance = chip.id, chip.instance
    else:
        chip = await chips_repo.get_chip(conn, chip_id)
        instance = chip.instance if chip else None
    body, quoted = await _text(conn, settings, followup, now)
    send = await sends.create(
        conn,
        key=f"followup:{followup.id}",
        kind="followup",
        proactive=True,
        autonomous=followup.autonomous,
        doctor_id=followup.doctor_id,
        to_phone=followup.phone,
        body=body,
        conversation_id=followup.conversation_id,
        chip_id=chip_id,
        instance=instance,
        campaign_id=followup.campaign_id,
        not_before=now,
        shift_id=quoted,
    )
    await repo.attach_followup_send(conn, followup.id, send.id)
    return send


async def _text(
    conn: Conn, settings: Settings, followup: DueFollowup, now: datetime
) -> tuple[str, int | None]:
    """The follow-up's text and the shift it quotes (only the second step names one)."""
    variant = zlib.crc32(f"followup:{followup.id}".encode())
    if followup.kind == "lembrete" or followup.step is None:
        return reminder_text(followup.name, variant), None
    recipient = writing.Recipient(
        name=followup.name, specialty=followup.specialty, city=followup.city
    )
    step = min(max(followup.step, 1), LAST_STEP)
    if step == 2:
        offered = await repo.open_shift_for_doctor(
            conn, followup.doctor_id, now=now, campaign_id=followup.campaign_id
        )
        shift = campaigns.brief(offered) if offered else None
        return second_step_text(settings, recipient, shift, variant=variant), (
            offered.id if offered else None
        )
    body = writing.followup(
        recipient,
        step=step,  # type: ignore[arg-type]
        shift=None,
        company=settings.NOME_EMPRESA,
        tz=settings.tz,
        variant=variant,
    )
    return body, None


def second_step_text(
    settings: Settings,
    recipient: writing.Recipient,
    shift: writing.ShiftBrief | None,
    *,
    variant: int,
) -> str:
    """The cadence's second message: a concrete shift when there is one."""
    return writing.followup(
        recipient,
        step=2,
        shift=shift,
        company=settings.NOME_EMPRESA,
        tz=settings.tz,
        variant=variant,
    )


async def after_opener(
    conn: Conn, *, doctor_id: int, conversation_id: int, campaign_id: int | None, at: datetime
) -> None:
    """An opener went out: the first follow-up is due 48 h later unless the doctor answers."""
    await repo.schedule_step(
        conn,
        doctor_id=doctor_id,
        conversation_id=conversation_id,
        campaign_id=campaign_id,
        step=1,
        due_at=at + CADENCE[1],
    )


async def after_step(
    conn: Conn, followup: repo.FollowupOfSend, *, at: datetime, doctor_gap: timedelta
) -> None:
    """A cadence step went out: schedule the next one, counted from the opener."""
    if followup.kind != "cadencia" or followup.step is None or followup.step >= LAST_STEP:
        return
    step = followup.step + 1
    opened = await repo.opener_sent_at(conn, followup.conversation_id, followup.campaign_id) or at
    await repo.schedule_step(
        conn,
        doctor_id=followup.doctor_id,
        conversation_id=followup.conversation_id,
        campaign_id=followup.campaign_id,
        step=step,
        due_at=max(opened + CADENCE[step], at + doctor_gap),
    )


async def reactivation(conn: Conn, settings: Settings, *, now: datetime) -> int:
    """The `reativacao` job: this month's autonomous reactivation campaign exists, runs, and
    holds the doctors silent for 60+ days. Returns how many doctors were added."""
    tz: ZoneInfo = settings.tz
    name = f"Reativação {now.astimezone(tz):%Y-%m}"
    campaign = await repo.campaign_by_name(conn, name)
    if campaign is None:
        campaign = await repo.create_campaign(
            conn,
            name=name,
            kind="reativacao",
            filters={},
            instructions=(
                "médicos que conversaram com a Julia e estão em silêncio há mais de 60 dias"
            ),
            template=None,
            autonomous=True,
            created_by="julia",
        )
        await repo.set_campaign_status(conn, campaign.id, "ativa", now, allowed_from=("rascunho",))
        campaign = await repo.get_campaign(conn, campaign.id)
        assert campaign is not None
    if campaign.status in ("pausada", "cancelada"):
        return 0  # an operator stopped this month's reactivation
    added = await campaigns.refresh_targets(conn, campaign, now=now)
    if added and campaign.status == "concluida":
        await repo.set_campaign_status(conn, campaign.id, "ativa", now, allowed_from=("concluida",))
    return added
