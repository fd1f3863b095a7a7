"""LGPD for operators and for Julia.

* `record_opt_out`: an opt-out a doctor asked for by phone, e-mail or in person, recorded by
  an operator (Slack `@julia optout <telefone>`, `julia optout`, the dashboard). Everything
  queued for the doctor is cancelled; an unknown number goes straight to the suppression
  list, so a later import or campaign never reaches it.
* `export_subject` / `erase_subject`: the data subject's rights (LGPD art. 18): everything
  held about a doctor as JSON, and its erasure. Erasure keeps only the suppression record
  (a hash of the number), so the number is never contacted again.
* `number_source_reply`: "quem te deu meu número?" answered from the contact's recorded
  provenance (the import, the campaign, or the doctor's own first message).

Every operator action is written to `lgpd_audit` in the caller's transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.core.db import Conn, Executor
from app.core.errors import BadRequest
from app.core.logging import get_logger
from app.domain.doctors import repository as doctors
from app.domain.doctors.phones import brazil_variants, canonical_brazil, normalize_phone
from app.domain.outreach import repository as outreach
from app.domain.privacy import repository as repo

log = get_logger(__name__)

EXPORT_FORMAT = "julia-titular-v1"


class InvalidPhone(BadRequest):
    """The text given as a phone number is not one."""


def parse_phone(raw: str) -> str:
    """An operator's typing of a number ("+55 (11) 98700-1122", "11987001122") as E.164
    digits, canonical; InvalidPhone otherwise."""
    phone = normalize_phone(raw)
    if phone is None:
        raise InvalidPhone(f"telefone inválido: {raw.strip()[:40]!r}")
    return canonical_brazil(phone)


@dataclass(frozen=True, slots=True)
class OptOut:
    phone: str
    found: bool  # a doctor with this number exists
    newly: bool  # the doctor was not opted out before
    doctor_name: str | None = None


async def record_opt_out(
    conn: Conn, raw_phone: str, *, via: str, operator: str | None, now: datetime
) -> OptOut:
    """Opt the number out for good: the doctor (if known) is marked with the time and who
    recorded it, every queued proactive message and follow-up is cancelled, and the number
    is on the suppression list either way."""
    phone = parse_phone(raw_phone)
    doctor = await doctors.find_by_phone(conn, phone)
    newly = False
    if doctor is not None:
        newly = await doctors.mark_opted_out(
            conn, doctor.id, f"registrado por operador ({via})", now
        )
        await outreach.stop_for_doctor(conn, doctor.id, "opt_out", at=now)
    await repo.suppress(conn, phone, "optout")
    await repo.audit(
        conn,
        action="optout",
        phone=phone,
        found=doctor is not None,
        via=via,
        operator=operator,
        detail={"newly": newly},
    )
    log.info("lgpd.opt_out_recorded", via=via, found=doctor is not None, newly=newly)
    name = (doctor.name or doctor.push_name) if doctor else None
    return OptOut(phone=phone, found=doctor is not None, newly=newly, doctor_name=name)


async def _subject(conn: Executor, phone: str) -> tuple[repo.Subject, Any]:
    doctor = await doctors.find_by_phone(conn, phone)
    phones = list(brazil_variants(phone))
    if doctor is None:
        return repo.Subject(None, phones, None, []), None
    phones = sorted(set(phones) | set(brazil_variants(doctor.phone)))
    names = [n for n in (doctor.name, doctor.push_name) if n]
    return repo.Subject(doctor.id, phones, doctor.lid, names), doctor


async def export_subject(
    conn: Conn, raw_phone: str, *, via: str, operator: str | None, now: datetime
) -> dict[str, Any]:
    """Everything held about the number, as a JSON-ready dict (audited)."""
    phone = parse_phone(raw_phone)
    subject, doctor = await _subject(conn, phone)
    patterns = repo.number_patterns(subject.phones, subject.lid)
    data: dict[str, Any] = {
        "formato": EXPORT_FORMAT,
        "gerado_em": now.isoformat(),
        "telefone": phone,
        "medico": None,
        "supressao": await repo.suppression(conn, phone),
    }
    if subject.doctor_id is not None:
        data["medico"] = await repo.doctor_row(conn, subject.doctor_id)
        data.update(await repo.export_sections(conn, subject.doctor_id, subject.phones, patterns))
    data["registro_lgpd"] = await repo.audit_trail(conn, phone)
    counts = {k: len(v) for k, v in data.items() if isinstance(v, list)}
    await repo.audit(
        conn,
        action="exportar",
        phone=phone,
        found=doctor is not None,
        via=via,
        operator=operator,
        detail=counts,
    )
    log.info("lgpd.exported", via=via, found=doctor is not None)
    # Dates, decimals and the like as JSON text, once, the same way for every caller.
    exported: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return exported


@dataclass(frozen=True, slots=True)
class Erasure:
    phone: str
    found: bool
    erased: dict[str, int]


async def erase_subject(
    conn: Conn, raw_phone: str, *, via: str, operator: str | None, now: datetime
) -> Erasure:
    """Erase everything held about the number (messages, memories, media, profile, raw
    deliveries, notices) and keep only its suppression record; audited. Idempotent: a
    second erasure finds nothing and says so."""
    phone = parse_phone(raw_phone)
    subject, doctor = await _subject(conn, phone)
    if doctor is not None:
        # Nothing still queued may go out while the rows are being removed.
        await outreach.stop_for_doctor(conn, doctor.id, "opt_out", at=now)
    await repo.suppress(conn, phone, "apagamento")
    erased = await repo.erase(conn, subject, repo.number_patterns(subject.phones, subject.lid))
    await repo.audit(
        conn,
        action="apagar",
        phone=phone,
        found=doctor is not None,
        via=via,
        operator=operator,
        detail=erased,
    )
    log.info("lgpd.erased", via=via, found=doctor is not None)
    return Erasure(phone=phone, found=doctor is not None, erased=erased)


# "Quem te deu meu número?" -----------------------------------------------------------------


def _day(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d/%m/%Y")


def source_for_operator(prov: repo.Provenance | None, tz: ZoneInfo) -> str:
    """Where the contact came from, for the person taking the conversation over."""
    if prov is None:
        return "origem do contato desconhecida"
    source = prov.source or "não registrada"
    if source.startswith("csv:dashboard:"):
        origin = f"importado pelo painel por {source[14:]} em {_day(prov.added_at, tz)}"
    elif source.startswith("csv:"):
        origin = f"importado do arquivo {source[4:]} em {_day(prov.added_at, tz)}"
    elif source == "inbound":
        origin = f"o médico escreveu primeiro, em {_day(prov.added_at, tz)}"
    else:
        origin = f"origem '{source}', cadastrado em {_day(prov.added_at, tz)}"
    if prov.first_campaign and prov.first_campaign_at:
        origin += (
            f"; primeira conversa aberta pela campanha '{prov.first_campaign}' "
            f"em {_day(prov.first_campaign_at, tz)}"
        )
    return f"Origem do contato: {origin}."


def source_for_doctor(prov: repo.Provenance | None, tz: ZoneInfo, company: str) -> str:
    """Julia's short, honest answer (pt-BR, WhatsApp register) from the recorded origin."""
    if prov is not None and prov.source == "inbound" and prov.first_campaign is None:
        when = _day(prov.first_inbound_at or prov.added_at, tz)
        return f"vc mesmo me chamou aqui no whats em {when}, foi assim que seu número ficou aqui"
    if prov is not None and (prov.source or "").startswith("csv:"):
        return (
            f"seu contato tá na base de médicos da {company} desde {_day(prov.added_at, tz)}, "
            "veio de uma lista de cadastro que a nossa equipe importou"
        )
    if prov is not None:
        return f"seu contato tá na base de médicos da {company} desde {_day(prov.added_at, tz)}"
    return f"seu contato tá na base de médicos da {company}"


async def number_source(
    conn: Executor, doctor_id: int, tz: ZoneInfo, company: str
) -> tuple[str, str]:
    """(the answer to the doctor, the note for the operator) from the recorded provenance."""
    prov = await repo.provenance(conn, doctor_id)
    return source_for_doctor(prov, tz, company), source_for_operator(prov, tz)
