"""Campaigns: which open shifts, which doctors, and the paced writing of their openers.

A campaign is created as a draft (`rascunho`) with its filters; the open shifts it offers
are linked at creation. Starting it selects the eligible doctors into `campaign_targets`
(refreshed hourly while it runs, so newly imported doctors join). Every minute the
`processar_campanhas` job writes openers for as many targets as the chips can take soon,
records each in the outbound ledger and hands it to the workers; the gateway decides when
each may leave. A reply turns into a normal conversation that knows the campaign.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import asyncpg

from app.core.config import Settings
from app.core.db import Conn, Executor, transaction
from app.core.errors import BadRequest, Conflict, NotFound
from app.core.logging import get_logger
from app.domain.conversations import repository as conversations
from app.domain.outbound import chips_repository as chips_repo
from app.domain.outbound import repository as sends
from app.domain.outbound.chips import caps_for, chip_for_doctor
from app.domain.outbound.pacing import BusinessHours, local_day_bounds
from app.domain.outreach import repository as repo
from app.domain.outreach import writing
from app.domain.outreach.repository import Campaign, OfferedShift
from app.domain.shifts import repository as shifts_repo

log = get_logger(__name__)

KINDS = ("descoberta", "oferta", "reativacao", "manual")
# How often a running campaign looks for newly eligible doctors, and how many it adds.
REFRESH_EVERY = timedelta(hours=1)
REFRESH_LIMIT = 5000
# Openers written ahead per usable chip: enough to keep each chip busy between two ticks
# without filling the ledger with messages that will only wait.
AHEAD_PER_CHIP = 2
WAITING_HORIZON = timedelta(minutes=10)
# Reactivation: doctors silent this long are invited back.
SILENCE = timedelta(days=60)
# How far ahead a campaign's dates may reach.
MAX_HORIZON = timedelta(days=366)


class CampaignError(BadRequest, ValueError):
    """A campaign request that cannot be done; the message is for the operator (pt-BR)."""


class CampaignNotFound(NotFound, CampaignError):
    """No campaign has that id."""


class CampaignConflict(Conflict, CampaignError):
    """The campaign's status does not allow that (e.g. starting a cancelled one)."""


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    kind: str = "oferta"
    specialties: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    instructions: str | None = None
    template: str | None = None
    autonomous: bool = False
    created_by: str | None = None


async def create(conn: Conn, spec: CampaignSpec, *, now: datetime, tz: ZoneInfo) -> Campaign:
    """A draft campaign with its open shifts linked. Raises CampaignError for bad input."""
    name = " ".join(spec.name.split())
    if not name:
        raise CampaignError("dê um nome à campanha")
    if spec.kind not in KINDS:
        raise CampaignError(f"tipo de campanha desconhecido: {spec.kind} (use {', '.join(KINDS)})")
    if spec.template:
        try:
            writing.check_template(spec.template)
        except writing.TemplateError as exc:
            raise CampaignError(f"modelo inválido: {exc}") from exc
    if spec.date_from and spec.date_to and spec.date_to < spec.date_from:
        raise CampaignError("a data final vem antes da inicial")
    horizon = now.astimezone(tz).date() + MAX_HORIZON
    if any(d and d > horizon for d in (spec.date_from, spec.date_to)):
        raise CampaignError(f"datas só até {horizon:%d/%m/%Y} (um ano à frente)")
    specialty_ids = await _specialty_ids(conn, spec.specialties)
    if spec.kind != "reativacao" and not specialty_ids:
        raise CampaignError("informe ao menos uma especialidade")
    states = sorted({s.strip().upper() for s in spec.states if s.strip()})
    regions = sorted({" ".join(r.split()) for r in spec.regions if r.strip()})
    starts_from = max(now, _local_start(spec.date_from, tz)) if spec.date_from else now
    starts_before = _local_start(spec.date_to + timedelta(days=1), tz) if spec.date_to else None
    shift_ids: list[int] = []
    if spec.kind != "reativacao":
        shift_ids = await repo.matching_open_shifts(
            conn,
            specialty_ids=specialty_ids,
            regions=regions,
            states=states,
            starts_from=starts_from,
            starts_before=starts_before,
        )
        if spec.kind == "oferta" and not shift_ids:
            raise CampaignError("nenhum plantão aberto combina com esses filtros")
    filters: dict[str, Any] = {
        "specialty_ids": specialty_ids,
        "regions": regions,
        "states": states,
        "date_from": spec.date_from.isoformat() if spec.date_from else None,
        "date_to": spec.date_to.isoformat() if spec.date_to else None,
    }
    campaign = await repo.create_campaign(
        conn,
        name=name,
        kind=spec.kind,
        filters=filters,
        instructions=spec.instructions,
        template=spec.template,
        autonomous=spec.autonomous,
        created_by=spec.created_by,
    )
    await repo.link_shifts(conn, campaign.id, shift_ids)
    log.info("campaign.created", campaign_id=campaign.id, kind=spec.kind, shifts=len(shift_ids))
    return campaign


async def start(conn: Conn, campaign_id: int, *, now: datetime) -> Campaign:
    """rascunho/pausada -> ativa; the target list is filled right away."""
    campaign = await _get(conn, campaign_id)
    if campaign.status == "ativa":
        return campaign
    if not await repo.set_campaign_status(
        conn, campaign_id, "ativa", now, allowed_from=("rascunho", "pausada")
    ):
        raise CampaignConflict(
            f"a campanha {campaign_id} está {campaign.status}; não dá para iniciar"
        )
    campaign = await _get(conn, campaign_id)
    await refresh_targets(conn, campaign, now=now)
    log.info("campaign.started", campaign_id=campaign_id)
    return await _get(conn, campaign_id)


async def pause(conn: Conn, campaign_id: int, *, now: datetime) -> Campaign:
    """ativa -> pausada. Messages already written wait (the gateway defers them)."""
    campaign = await _get(conn, campaign_id)
    if campaign.status != "pausada" and not await repo.set_campaign_status(
        conn, campaign_id, "pausada", now, allowed_from=("ativa",)
    ):
        raise CampaignConflict(
            f"a campanha {campaign_id} está {campaign.status}; não dá para pausar"
        )
    log.info("campaign.paused", campaign_id=campaign_id)
    return await _get(conn, campaign_id)


async def resume(conn: Conn, campaign_id: int, *, now: datetime) -> Campaign:
    campaign = await _get(conn, campaign_id)
    if campaign.status != "pausada":
        raise CampaignConflict(
            f"a campanha {campaign_id} está {campaign.status}; só retomo pausadas"
        )
    return await start(conn, campaign_id, now=now)


async def cancel(conn: Conn, campaign_id: int, *, now: datetime) -> Campaign:
    """Stop for good: messages not yet sent are cancelled by the gateway."""
    campaign = await _get(conn, campaign_id)
    if not await repo.set_campaign_status(
        conn, campaign_id, "cancelada", now, allowed_from=("rascunho", "ativa", "pausada")
    ):
        raise CampaignConflict(f"a campanha {campaign_id} está {campaign.status}")
    await repo.cancel_open_targets(conn, campaign_id)
    return await _get(conn, campaign_id)


Action = Literal["start", "pause", "resume", "cancel"]
ACTIONS: Final = ("start", "pause", "resume", "cancel")


async def change(conn: Conn, campaign_id: int, action: Action, *, now: datetime) -> Campaign:
    """An operator's `start`, `pause`, `resume` or `cancel` (the CLI and the API)."""
    steps = {"start": start, "pause": pause, "resume": resume, "cancel": cancel}
    return await steps[action](conn, campaign_id, now=now)


async def refresh_targets(conn: Executor, campaign: Campaign, *, now: datetime) -> int:
    """Add the doctors who are eligible now; returns how many were added."""
    if campaign.kind == "reativacao":
        added = await repo.add_reactivation_targets(
            conn, campaign.id, silent_since=now - SILENCE, now=now, limit=REFRESH_LIMIT
        )
    else:
        filters = campaign.filters
        regions = list(filters.get("regions") or [])
        states = list(filters.get("states") or [])
        if not regions and not states:
            # No place given: where the offered shifts are.
            shifts = await repo.campaign_shifts(conn, campaign.id, now=now, only_open=False)
            regions = sorted({s.region for s in shifts if s.region})
            states = sorted({s.state for s in shifts})
        added = await repo.add_targets(
            conn,
            campaign.id,
            specialty_ids=list(filters.get("specialty_ids") or []),
            regions=regions,
            states=states,
            now=now,
            limit=REFRESH_LIMIT,
        )
    await repo.mark_targets_refreshed(conn, campaign.id, now)
    if added:
        log.info("campaign.targets_added", campaign_id=campaign.id, added=added)
    return added


@dataclass
class TickResult:
    written: list[int] = field(default_factory=list)  # outbound send ids to deliver
    concluded: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # campaign id -> error

    def raise_failures(self) -> None:
        """After the healthy campaigns' work is handed on: a broken campaign fails the job
        (recorded `failed` in job_runs, counted by the error-rate alert), never `ok`."""
        if self.failed:
            detail = "; ".join(f"campanha {cid}: {err}" for cid, err in self.failed.items())
            raise CampaignTickFailed(f"{len(self.failed)} campanha(s) falharam: {detail}"[:1000])


class CampaignTickFailed(Exception):
    """Some campaigns could not be processed in a tick (the others were)."""


async def process(
    db: asyncpg.Pool, settings: Settings, *, now: datetime, rng: random.Random
) -> TickResult:
    """One `processar_campanhas` tick: refresh targets, write openers within the budget,
    conclude campaigns with nothing left to do. Returns the sends to hand to workers."""
    result = TickResult()
    hours = BusinessHours.of(settings)
    for campaign in await repo.active_campaigns(db):
        if campaign.autonomous and settings.PILOT_MODE:
            continue
        try:
            async with transaction(db) as conn:
                written, concluded = await _tick(conn, settings, campaign, hours, now, rng)
        except Exception as exc:  # one broken campaign must not stop the others
            error = f"{type(exc).__name__}: {exc}"
            log.error("campaign.tick_failed", campaign_id=campaign.id, error=error)
            result.failed[campaign.id] = error
            continue
        # Only what the committed transaction wrote is handed to the workers.
        result.written.extend(written)
        if concluded:
            result.concluded.append(campaign.id)
    return result


async def _tick(
    conn: Conn,
    settings: Settings,
    campaign: Campaign,
    hours: BusinessHours,
    now: datetime,
    rng: random.Random,
) -> tuple[list[int], bool]:
    """One campaign's turn in the tick: (openers written, whether it concluded)."""
    if campaign.kind == "oferta" and not await repo.campaign_shifts(conn, campaign.id, now=now):
        await _conclude(conn, campaign, now, reason="sem_plantao_aberto")
        return [], True
    added = None
    stale = campaign.targets_refreshed_at is None or (
        now - campaign.targets_refreshed_at >= REFRESH_EVERY
    )
    if stale:
        added = await refresh_targets(conn, campaign, now=now)
    budget = await _budget(conn, settings, now) if hours.is_open(now) else 0
    written = await _write(conn, settings, campaign, budget, now, rng) if budget > 0 else []
    if not added and not written and not await repo.campaign_has_open_work(conn, campaign.id):
        await _conclude(conn, campaign, now, reason="todos_contatados")
        return written, True
    return written, False


async def _conclude(conn: Conn, campaign: Campaign, now: datetime, *, reason: str) -> None:
    """Done: every target was written to, or (an offer) its shifts are all taken; doctors
    not yet written to are left alone."""
    await repo.set_campaign_status(conn, campaign.id, "concluida", now, allowed_from=("ativa",))
    await repo.cancel_unwritten_targets(conn, campaign.id, reason)
    log.info("campaign.concluded", campaign_id=campaign.id, reason=reason)


async def _budget(conn: Conn, settings: Settings, now: datetime) -> int:
    """How many new openers to write now: what the usable chips can still send today,
    at most a couple each ahead, minus what is already waiting to go soon."""
    if settings.MULTI_CHIP_ENABLED:
        chips = await chips_repo.list_chips(conn)
        if not chips:
            return AHEAD_PER_CHIP  # the first message registers EVOLUTION_INSTANCE
    else:
        chip = await chips_repo.chip_by_instance(conn, settings.EVOLUTION_INSTANCE)
        chips = [chip] if chip is not None else []
        if chip is None:
            return AHEAD_PER_CHIP  # the first message creates the chip
    usable = [c for c in chips if c.unusable(now) is None]
    if not usable:
        return 0
    day_start, _ = local_day_bounds(now, settings.tz)
    sent_today = await chips_repo.sent_since(conn, day_start)
    left_today = sum(
        max(0, caps_for(settings, c, now).daily - sent_today.get(c.id, 0)) for c in usable
    )
    # The ledger holds about what the chips can send in their next window: everything
    # already written and not yet sent (due now or waiting for a chip's gap or the opening)
    # takes from today's room, and what is due soon from the few written ahead per chip.
    # So a daily cap of 4 never has 6 openers waiting, deferred by hours, growing stale.
    waiting_soon = await repo.open_proactive_due(conn, now + WAITING_HORIZON)
    waiting_all = await repo.open_proactive_due(conn, None)
    return max(0, min(left_today - waiting_all, AHEAD_PER_CHIP * len(usable) - waiting_soon))


async def _write(
    conn: Conn,
    settings: Settings,
    campaign: Campaign,
    budget: int,
    now: datetime,
    rng: random.Random,
) -> list[int]:
    offered = await repo.campaign_shifts(conn, campaign.id, now=now)
    shifts = [brief(s) for s in offered]
    # The campaign's own template; else the Drive template of its kind; else Julia's words.
    template = campaign.template or await repo.template_for(conn, campaign.kind)
    if template and not shifts and writing.needs_shift(template):
        template = None  # its shifts are gone: Julia's own words, rather than no opener
    written: list[int] = []
    for target in await repo.claim_targets(conn, campaign.id, budget):
        if await _in_live_conversation(conn, target.doctor_id, now):
            await repo.set_target(conn, target.id, "cancelado", "em_conversa")
            continue
        chip = await chip_for_doctor(conn, settings, doctor_id=target.doctor_id, now=now)
        if chip is None:
            break  # no chip can take a new doctor now; the rest waits for the next tick
        conversation = await conversations.get_or_open(conn, target.doctor_id, chip.id)
        # The conversation follows the campaign, and its replies leave from the opener's chip.
        await conversations.follow_campaign(conn, conversation.id, campaign.id, chip.id)
        recipient = writing.Recipient(
            name=target.name, specialty=target.specialty, city=target.city
        )
        body = await unique_opener(
            conn, settings, campaign, recipient, target.doctor_id, shifts, template
        )
        quoted = offered[0].id if quotes_shift(template, shifts) else None
        send = await sends.create(
            conn,
            key=f"campaign:{campaign.id}:{target.doctor_id}",
            kind="reactivation" if campaign.kind == "reativacao" else "campaign",
            proactive=True,
            autonomous=campaign.autonomous,
            doctor_id=target.doctor_id,
            to_phone=target.phone,
            body=body,
            conversation_id=conversation.id,
            chip_id=chip.id,
            instance=chip.instance,
            campaign_id=campaign.id,
            not_before=now,
            shift_id=quoted,
        )
        await repo.attach_send(conn, target.id, send.id)
        written.append(send.id)
    if written:
        log.info("campaign.openers_written", campaign_id=campaign.id, written=len(written))
    return written


async def unique_opener(
    conn: Executor,
    settings: Settings,
    campaign: Campaign,
    recipient: writing.Recipient,
    doctor_id: int,
    shifts: list[writing.ShiftBrief],
    template: str | None,
    *,
    salt: str = "",
) -> str:
    """Julia's opener for this doctor, never the same text another doctor of the campaign
    got: the variant starts from a hash of (campaign, doctor[, salt]) and moves on when
    taken. A rewrite passes a salt, so it does not repeat the text it replaces."""
    seed = zlib.crc32(f"{campaign.id}:{doctor_id}{salt}".encode())
    body = ""
    for attempt in range(20):
        variant = seed + attempt * 7919
        body = opener_text(settings, campaign, recipient, shifts, template, seed=variant)
        if not await repo.opener_taken(conn, campaign.id, body):
            break
    return body


def opener_text(
    settings: Settings,
    campaign: Campaign,
    recipient: writing.Recipient,
    shifts: list[writing.ShiftBrief],
    template: str | None,
    *,
    seed: int,
) -> str:
    """One opener of the campaign: from its template, else in Julia's words."""
    if template:
        return writing.from_template(
            template,
            recipient,
            shifts=shifts,
            company=settings.NOME_EMPRESA,
            tz=settings.tz,
            variant=seed,
        )
    kind = campaign.kind if campaign.kind in KINDS else "manual"
    return writing.opener(
        recipient,
        kind=kind,  # type: ignore[arg-type]
        shifts=shifts,
        company=settings.NOME_EMPRESA,
        tz=settings.tz,
        variant=seed,
    )


def quotes_shift(template: str | None, shifts: list[writing.ShiftBrief]) -> bool:
    """Whether an opener written from `shifts` names the first of them (Julia's own words
    always do; a template only through its shift placeholders)."""
    return bool(shifts) and (template is None or writing.needs_shift(template))


async def _in_live_conversation(conn: Conn, doctor_id: int, now: datetime) -> bool:
    return await conversations.in_live_conversation(
        conn, doctor_id, active_since=now - repo.LIVE_CONVERSATION
    )


async def note_for(conn: Executor, campaign_id: int, *, now: datetime, tz: ZoneInfo) -> str | None:
    """What a conversation's turn should know about the campaign that opened it."""
    campaign = await repo.get_campaign(conn, campaign_id)
    if campaign is None:
        return None
    parts = [f"esta conversa começou pela campanha '{campaign.name}' ({campaign.kind})."]
    shifts = await repo.campaign_shifts(conn, campaign_id, now=now)
    if shifts:
        lines = "; ".join(writing.shift_line(brief(s), tz) for s in shifts[:3])
        parts.append(
            f"Plantões oferecidos (ids {', '.join(str(s.id) for s in shifts[:3])}): {lines}."
        )
    if campaign.instructions:
        parts.append(f"Orientação do gestor: {' '.join(campaign.instructions.split())}")
    return " ".join(parts)


def brief(s: OfferedShift) -> writing.ShiftBrief:
    return writing.ShiftBrief(
        hospital=s.hospital,
        city=s.city,
        specialty=s.specialty,
        sector=s.sector,
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        period=s.period,
        pay_cents=s.pay_cents,
        pay_min_cents=s.pay_min_cents,
        pay_max_cents=s.pay_max_cents,
        pay_note=s.pay_note,
    )


async def _specialty_ids(conn: Executor, names: list[str]) -> list[int]:
    ids: list[int] = []
    for name in names:
        if not name.strip():
            continue
        found = await shifts_repo.specialty_named(conn, name)
        if found is None:
            raise CampaignError(f"especialidade desconhecida: {name}")
        ids.append(found)
    return sorted(set(ids))


def _local_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


async def _get(conn: Executor, campaign_id: int) -> Campaign:
    campaign = await repo.get_campaign(conn, campaign_id)
    if campaign is None:
        raise CampaignNotFound(f"campanha {campaign_id} não existe")
    return campaign
