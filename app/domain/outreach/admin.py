"""What operators see of and change in outreach, shared by the CLI and the dashboard API:
chips (add, enable, disable, warm-up) and campaign progress."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from app.core.config import Settings
from app.core.db import Executor
from app.core.errors import BadRequest
from app.core.logging import get_logger
from app.domain.outbound import chips_repository as chips_repo
from app.domain.outbound.chips import caps_for
from app.domain.outbound.chips_repository import Chip
from app.domain.outbound.pacing import local_day_bounds
from app.domain.outreach.repository import Progress

log = get_logger(__name__)

# Evolution instance names end up in URL paths: keep them to a safe alphabet.
_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class ChipError(BadRequest, ValueError):
    """A chip request that cannot be done; the message is for the operator (pt-BR)."""


@dataclass(frozen=True, slots=True)
class ChipView:
    instance: str
    state: str
    enabled: bool
    usable: bool
    why_not: str | None  # chip_desativado, chip_desconectado, chip_em_pausa
    hourly_cap: int
    daily_cap: int
    sent_today: int
    warming_up: bool
    warmup_started_at: datetime | None
    benched_until: datetime | None
    doctors: int  # doctors who hear from this number


def check_instance(instance: str) -> str:
    name = instance.strip()
    if not _INSTANCE.fullmatch(name):
        raise ChipError(
            f"nome de instância inválido: {instance!r} (letras, números, '-', '_' ou '.')"
        )
    return name


async def chip_views(conn: Executor, settings: Settings, *, now: datetime) -> list[ChipView]:
    day_start, _ = local_day_bounds(now, settings.tz)
    sent = await chips_repo.sent_since(conn, day_start)
    doctors = await chips_repo.doctors_per_chip(conn)
    views = []
    for chip in await chips_repo.list_chips(conn):
        caps = caps_for(settings, chip, now)
        mature = caps_for(settings, replace(chip, warmup_started_at=None), now)
        why_not = chip.unusable(now)
        views.append(
            ChipView(
                instance=chip.instance,
                state=chip.state if chip.state_changed_at is not None else "desconhecido",
                enabled=chip.enabled,
                usable=why_not is None,
                why_not=why_not,
                hourly_cap=caps.hourly,
                daily_cap=caps.daily,
                sent_today=sent.get(chip.id, 0),
                warming_up=caps != mature,
                warmup_started_at=chip.warmup_started_at,
                benched_until=chip.benched_until
                if chip.benched_until and chip.benched_until > now
                else None,
                doctors=doctors.get(chip.id, 0),
            )
        )
    return views


async def add_chip(
    conn: Executor,
    instance: str,
    *,
    warmup_from: datetime | None,
    daily_limit: int | None = None,
    hourly_limit: int | None = None,
) -> tuple[Chip, bool]:
    """Register an Evolution instance as a chip; a new number warms up from `warmup_from`
    (None: an established number). A chip already registered keeps its warm-up; only the
    limits given change. Returns the chip and whether it is new."""
    name = check_instance(instance)
    for label, value in (("limite diário", daily_limit), ("limite por hora", hourly_limit)):
        if value is not None and value < 1:
            raise ChipError(f"{label} precisa ser 1 ou mais")
    existing = await chips_repo.chip_by_instance(conn, name)
    fields: dict[str, object] = {}
    if existing is None:
        await chips_repo.ensure_chip(conn, name)
        fields["warmup_started_at"] = warmup_from
    if daily_limit is not None:
        fields["daily_limit"] = daily_limit
    if hourly_limit is not None:
        fields["hourly_limit"] = hourly_limit
    chip = await chips_repo.update_chip(conn, name, **fields) if fields else existing
    assert chip is not None
    log.info("chip.added" if existing is None else "chip.updated", instance=name)
    return chip, existing is None


async def set_enabled(conn: Executor, instance: str, enabled: bool) -> tuple[Chip, int]:
    """Enable (also lifting a bench) or disable a chip. Disabling retires the number for
    outreach: its doctors move to another chip with their next message. Returns the chip
    and how many doctors moved."""
    name = check_instance(instance)
    fields: dict[str, object] = {"enabled": enabled}
    if enabled:
        fields["benched_until"] = None
    chip = await chips_repo.update_chip(conn, name, **fields)
    if chip is None:
        raise ChipError(f"não conheço o chip {name}; cadastre com `julia chips add {name}`")
    moved = 0 if enabled else await chips_repo.release_doctors_of_chip(conn, chip.id)
    log.info("chip.enabled" if enabled else "chip.disabled", instance=name, doctors_moved=moved)
    return chip, moved


async def set_warmup(conn: Executor, instance: str, since: datetime | None) -> Chip:
    name = check_instance(instance)
    chip = await chips_repo.update_chip(conn, name, warmup_started_at=since)
    if chip is None:
        raise ChipError(f"não conheço o chip {name}; cadastre com `julia chips add {name}`")
    return chip


def chips_text(views: list[ChipView], tz: ZoneInfo) -> str:
    if not views:
        return (
            "Nenhum chip cadastrado: a prospecção sai de EVOLUTION_INSTANCE "
            "(cadastre outros com `julia chips add`)."
        )
    lines = [
        f"{'instância':<20} {'estado':<12} {'hoje':>9} {'por hora':>8} {'médicos':>7}  situação"
    ]
    for v in views:
        situation = "ok" if v.usable else v.why_not or "?"
        if v.benched_until:
            situation += f" até {v.benched_until.astimezone(tz):%d/%m %H:%M}"
        if v.warming_up:
            situation += " (aquecendo)"
        lines.append(
            f"{v.instance:<20} {v.state:<12} {f'{v.sent_today}/{v.daily_cap}':>9} "
            f"{v.hourly_cap:>8} {v.doctors:>7}  {situation}"
        )
    return "\n".join(lines)


def progress_text(p: Progress) -> str:
    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{k} {n}" for k, n in sorted(values.items())) or "nenhum"

    kind = "autônoma" if p.autonomous else "manual"
    return "\n".join(
        [
            f"Campanha {p.campaign_id} — {p.name} ({p.status}, {kind})",
            f"  plantões abertos: {p.shifts_open}",
            f"  médicos-alvo: {p.targets} ({counts(p.by_status)})",
            f"  mensagens: {counts(p.sends_by_status)}",
            f"  adiadas por: {counts(p.deferred_by_reason)}",
        ]
    )
