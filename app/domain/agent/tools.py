"""The agent's tools: Anthropic Messages API definitions and their execution.

`TOOL_DEFINITIONS` is part of the cached prompt prefix, so it is a constant: the same bytes
on every call. `run_tool` turns the model's input into a `ToolOutcome` whose `content` is
the JSON text returned as the tool_result. Bad input from the model (unknown tool, wrong
types, unknown specialty, a date in the past) never raises: it comes back with
`is_error=True` and a short message the model can act on.

Everything a tool returns about shifts and hospitals comes from the database; money is
formatted in Brazilian reais, and every value the reply may quote is collected in
`ToolOutcome.quotable_cents` so a guardrail can check the reply against it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from app.core.db import transaction
from app.core.logging import get_logger
from app.domain.doctors import repository as doctors
from app.domain.memory import service as memory
from app.domain.outreach import repository as outreach
from app.domain.reservations import service as reservations
from app.domain.shifts import repository as shifts
from app.domain.shifts.repository import ShiftView
from app.domain.voice.formatting import format_brl
from app.domain.voice.formatting import pay_text as voice_pay_text
from app.integrations.protocols import Embedder

log = get_logger(__name__)

PERIODS = ("diurno", "noturno", "integral")
MEMORY_KINDS = (
    "preferencia",
    "disponibilidade",
    "restricao",
    "localizacao",
    "qualificacao",
    "outro",
)
# fmt: off
UFS = frozenset((
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA",
    "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
))
# fmt: on
SEARCH_LIMIT = 5
REMINDER_DEFAULT_TIME = time(9, 0)
REMINDER_MAX_AHEAD = timedelta(days=366)
MAX_PREFERENCES_CHARS = 2000

WEEKDAYS = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")

TOOL_DEFINITIONS: list[dict[str, Any]] = [
    {
        "name": "search_shifts",
        "description": (
            "Search the open shifts (plantões) Revoluna can offer right now. Call it before "
            "offering or discussing any shift: never mention a shift, hospital, date or value "
            "that did not come from this tool. Every filter is optional and they combine with "
            "AND; only pass what the doctor said or what their profile says. Returns up to 5 "
            "shifts, most urgent first, each with an id (for reserve_shift), local date and "
            "time, and the pay text to quote as written. 'negotiation' is the most you may go "
            "up to if the doctor negotiates; without it the pay is not negotiable. An empty "
            "list means there is nothing matching: say so, never make one up."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "specialty": {
                    "type": "string",
                    "description": "Specialty in free text, e.g. 'pediatria', 'clínico'.",
                },
                "place": {
                    "type": "string",
                    "description": (
                        "City, region (e.g. 'Zona Sul', 'ABC'), state (UF) or hospital name."
                    ),
                },
                "date_from": {
                    "type": "string",
                    "description": "First day, local date YYYY-MM-DD.",
                },
                "date_to": {
                    "type": "string",
                    "description": "Last day (inclusive), local date YYYY-MM-DD.",
                },
                "period": {"type": "string", "enum": list(PERIODS)},
                "min_pay_reais": {
                    "type": "number",
                    "description": "Lowest pay the doctor accepts, in reais (e.g. 1800).",
                },
            },
        },
    },
    {
        "name": "hospital_info",
        "description": (
            "Details of one hospital: name, city, address and notes (parking, entrance, "
            "requirements). Use when the doctor asks where a hospital is or about it. Prefer "
            "hospital_id from search_shifts; otherwise give the name. Only these details are "
            "known: never guess an address or anything else that is missing."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "hospital_id": {"type": "integer"},
                "name": {"type": "string", "description": "Hospital name, partial is fine."},
            },
        },
    },
    {
        "name": "reserve_shift",
        "description": (
            "Reserve a shift for this doctor. Only when the doctor has clearly accepted that "
            "specific shift (e.g. 'pode reservar', 'quero esse do dia 14'), never for interest, "
            "questions or a 'maybe'. shift_id must come from search_shifts. The reservation "
            "still has to be confirmed by the Revoluna team: say it is reserved and the team "
            "will confirm, never that it is confirmed."
        ),
        "input_schema": {
            "type": "object",
            "properties": {"shift_id": {"type": "integer"}},
            "required": ["shift_id"],
        },
    },
    {
        "name": "save_memory",
        "description": (
            "Remember a lasting fact the doctor revealed about themselves that will matter in "
            "later conversations: preferences (prefers nights), availability (only weekends), "
            "restrictions (won't work at hospital X), location (lives in Campinas), "
            "qualifications (RQE in pediatrics). One short fact per call, in Portuguese, in "
            "the third person ('Prefere plantões noturnos'). Not for small talk, one-off "
            "remarks or profile fields (use update_profile for those)."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": list(MEMORY_KINDS)},
                "content": {"type": "string"},
            },
            "required": ["kind", "content"],
        },
    },
    {
        "name": "update_profile",
        "description": (
            "Update the doctor's registration with data they stated explicitly: name, CRM "
            "number and its UF, main specialty, city, state (UF, two letters), region, and "
            'structured preferences merged into the existing ones (e.g. {"periodos": '
            '["noturno"], "dias": ["sabado", "domingo"], "valor_minimo_reais": 1800, '
            '"hospitais_evitar": ["Hospital X"]}). Send only the fields that changed.'
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "crm": {"type": "string", "description": "CRM number, digits only."},
                "crm_uf": {"type": "string", "description": "UF of the CRM, e.g. 'SP'."},
                "specialty": {"type": "string"},
                "city": {"type": "string"},
                "state": {"type": "string", "description": "UF, e.g. 'SP'."},
                "region": {"type": "string"},
                "preferences": {"type": "object"},
            },
        },
    },
    {
        "name": "request_human",
        "description": (
            "Hand this conversation to a human colleague. Use when the doctor asks for a "
            "person or asks whether you are a bot, robot or AI; mentions lawyers, lawsuits, "
            "complaints or spam; is clearly upset; or needs something you cannot do "
            "(contracts, payments, documents, pay beyond the published terms). After calling "
            "it, send at most one short, natural transition message."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "reason": {
                    "type": "string",
                    "description": "Why, in a few words, for the operator.",
                }
            },
            "required": ["reason"],
        },
    },
    {
        "name": "schedule_reminder",
        "description": (
            "Schedule a message to this doctor at a time they asked for ('me chama segunda', "
            "'fala comigo semana que vem'). 'when' is a local date and time "
            "(YYYY-MM-DDTHH:MM) or just a date (YYYY-MM-DD, meaning 09:00); it must be in the "
            "future. 'note' says what to bring up then."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "when": {"type": "string"},
                "note": {"type": "string"},
            },
            "required": ["when", "note"],
        },
    },
]


@dataclass
class ToolContext:
    db: asyncpg.Pool
    doctor_id: int
    conversation_id: int
    now: datetime
    tz: ZoneInfo
    embedder: Embedder | None
    source_message_id: int | None = None


@dataclass
class ToolOutcome:
    content: str  # JSON text returned to the model as the tool_result
    is_error: bool = False
    handoff_reason: str | None = None  # set by request_human
    reserved_shift_id: int | None = None
    # money values (cents) from shift data that the reply may quote
    quotable_cents: set[int] = field(default_factory=set)


async def run_tool(ctx: ToolContext, name: str, tool_input: dict[str, Any]) -> ToolOutcome:
    """Execute one tool call from the model.

    Bad input comes back as `is_error=True` with a message the model can act on; only
    unexpected failures (e.g. the database) raise.
    """
    handler = _HANDLERS.get(name)
    try:
        if handler is None:
            raise _BadInput(f"unknown tool '{name}'; available: {', '.join(_HANDLERS)}")
        if not isinstance(tool_input, dict):
            raise _BadInput("the tool input must be a JSON object")
        return await handler(ctx, tool_input)
    except _BadInput as exc:
        log.info("tool.rejected", tool=name, doctor_id=ctx.doctor_id)
        return _error(str(exc))


# --- formatting (pt-BR, what the doctor will read) ---------------------------------------


def pay_text(shift: ShiftView) -> str:
    """The published pay of a shift (the note stays out: the model reads it separately)."""
    return voice_pay_text(shift.pay_cents, shift.pay_min_cents, shift.pay_max_cents)


def negotiation_ceiling_cents(shift: ShiftView) -> int | None:
    """The most Julia may offer when the doctor negotiates; None when there is no room."""
    if shift.negotiation_margin_cents <= 0:
        return None
    top = next(
        (v for v in (shift.pay_cents, shift.pay_max_cents, shift.pay_min_cents) if v is not None),
        None,
    )
    return None if top is None else top + shift.negotiation_margin_cents


def quotable_cents(shift: ShiftView) -> set[int]:
    values = {
        v for v in (shift.pay_cents, shift.pay_min_cents, shift.pay_max_cents) if v is not None
    }
    ceiling = negotiation_ceiling_cents(shift)
    if ceiling is not None:
        values.add(ceiling)
    return values


def _clock(moment: datetime) -> str:
    return f"{moment:%H}h{moment:%M}" if moment.minute else f"{moment:%H}h"


def local_date_text(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%d/%m} ({WEEKDAYS[local.weekday()]})"


def shift_summary(shift: ShiftView, tz: ZoneInfo) -> dict[str, Any]:
    """A shift as the model should present it (None fields left out)."""
    start, end = shift.starts_at.astimezone(tz), shift.ends_at.astimezone(tz)
    minutes = int((shift.ends_at - shift.starts_at).total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    ceiling = negotiation_ceiling_cents(shift)
    pay_note = shift.pay_note if shift.pay_note and shift.pay_note != "a combinar" else None
    summary: dict[str, Any] = {
        "id": shift.id,
        "hospital_id": shift.hospital_id,
        "hospital": shift.hospital,
        "city": f"{shift.city}/{shift.state}",
        "region": shift.region,
        "specialty": shift.specialty,
        "sector": shift.sector,
        "date": local_date_text(start, tz),
        "time": f"{_clock(start)}–{_clock(end)}",
        "duration": f"{hours}h{rest:02d}" if rest else f"{hours}h",
        "period": shift.period,
        "pay": pay_text(shift),
        "pay_note": pay_note,
        "negotiation": f"pode subir até {format_brl(ceiling)}" if ceiling else None,
        "notes": shift.notes,
    }
    return {k: v for k, v in summary.items() if v is not None}


# --- input validation ------------------------------------------------------------------


class _BadInput(Exception):
    """The model's input cannot be used; the message tells it what to fix."""


def _text(
    data: dict[str, Any], key: str, *, required: bool = False, max_len: int = 120
) -> str | None:
    value = data.get(key)
    if isinstance(value, str):
        value = value.strip() or None
    elif value is not None:
        raise _BadInput(f"'{key}' must be a string")
    if value is None:
        if required:
            raise _BadInput(f"'{key}' is required")
        return None
    if len(value) > max_len:
        raise _BadInput(f"'{key}' is too long (max {max_len} characters)")
    return value


def _integer(data: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise _BadInput(f"'{key}' is required")
        return None
    if isinstance(value, bool):
        raise _BadInput(f"'{key}' must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise _BadInput(f"'{key}' must be an integer")


def _reais_to_cents(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d{1,2})?", value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadInput(f"'{key}' must be a number of reais, e.g. 1800")
    if value < 0:
        raise _BadInput(f"'{key}' cannot be negative")
    return round(value * 100)


def _choice(
    data: dict[str, Any], key: str, options: tuple[str, ...], *, required: bool = False
) -> str | None:
    value = _text(data, key, required=required)
    if value is None:
        return None
    value = value.lower()
    if value not in options:
        raise _BadInput(f"'{key}' must be one of: {', '.join(options)}")
    return value


def _local_date(data: dict[str, Any], key: str) -> date | None:
    value = _text(data, key, max_len=10)
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise _BadInput(f"'{key}' must be a date as YYYY-MM-DD") from None


def _uf(data: dict[str, Any], key: str) -> str | None:
    value = _text(data, key, max_len=2)
    if value is None:
        return None
    value = value.upper()
    if value not in UFS:
        raise _BadInput(f"'{key}' must be a Brazilian state code (UF) like 'SP'")
    return value


def _when(value: str, tz: ZoneInfo) -> datetime:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.combine(date.fromisoformat(value), REMINDER_DEFAULT_TIME, tzinfo=tz)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _BadInput("'when' must be YYYY-MM-DDTHH:MM (local time) or YYYY-MM-DD") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def _error(message: str) -> ToolOutcome:
    return ToolOutcome(content=_json({"error": message}), is_error=True)


# --- tools -----------------------------------------------------------------------------


async def _search_shifts(ctx: ToolContext, data: dict[str, Any]) -> ToolOutcome:
    specialty = _text(data, "specialty", max_len=80)
    place = _text(data, "place", max_len=80)
    date_from = _local_date(data, "date_from")
    date_to = _local_date(data, "date_to")
    period = _choice(data, "period", PERIODS)
    min_pay_cents = _reais_to_cents(data, "min_pay_reais")
    if date_from and date_to and date_to < date_from:
        raise _BadInput("'date_to' is before 'date_from'")
    result: dict[str, Any] = {}
    async with ctx.db.acquire() as conn:
        if specialty is not None:
            matches = await shifts.find_specialties(conn, specialty)
            if not matches:
                known = await shifts.list_specialties(conn)
                raise _BadInput(
                    f"unknown specialty '{specialty}'; known specialties: {', '.join(known)}"
                )
            result["specialty_matched"] = [m.name for m in matches]
        found = await shifts.search_open(
            conn,
            now=ctx.now,
            specialty=specialty,
            place=place,
            date_from=date_from,
            date_to=date_to,
            period=period,
            min_pay_cents=min_pay_cents,
            tz=ctx.tz,
            limit=SEARCH_LIMIT,
        )
    result["shifts"] = [shift_summary(s, ctx.tz) for s in found]
    if found:
        # Remembered so the offer can be withdrawn here if another doctor takes the shift.
        await reservations.record_offers(
            ctx.db, ctx.conversation_id, [s.id for s in found], now=ctx.now
        )
    if not found:
        result["hint"] = (
            "No open shift matches these filters. Tell the doctor honestly; you may search "
            "again with fewer filters (other dates, region or period). Never invent a shift."
        )
    quotable: set[int] = set()
    for shift in found:
        quotable |= quotable_cents(shift)
    return ToolOutcome(content=_json(result), quotable_cents=quotable)


async def _hospital_info(ctx: ToolContext, data: dict[str, Any]) -> ToolOutcome:
    hospital_id = _integer(data, "hospital_id")
    name = _text(data, "name", max_len=120)
    if hospital_id is None and name is None:
        raise _BadInput("give 'hospital_id' (from search_shifts) or 'name'")
    async with ctx.db.acquire() as conn:
        hospital = None
        if hospital_id is not None:
            hospital = await shifts.get_hospital(conn, hospital_id=hospital_id)
        if hospital is None and name is not None:
            hospital = await shifts.get_hospital(conn, name=name)
    if hospital is None:
        raise _BadInput(
            "hospital not found; use a hospital_id from search_shifts. Do not describe a "
            "hospital you have no data about."
        )
    info = {
        "id": hospital.id,
        "name": hospital.name,
        "city": f"{hospital.city}/{hospital.state}",
        "region": hospital.region,
        "address": hospital.address,
        "notes": hospital.notes,
    }
    return ToolOutcome(content=_json({k: v for k, v in info.items() if v is not None}))


async def _reserve_shift(ctx: ToolContext, data: dict[str, Any]) -> ToolOutcome:
    shift_id = _integer(data, "shift_id", required=True)
    assert shift_id is not None
    async with transaction(ctx.db) as conn:
        result = await shifts.reserve(conn, shift_id=shift_id, doctor_id=ctx.doctor_id, now=ctx.now)
        if result.ok and result.shift is not None:
            # The code the team answers in Slack; the doctor never needs it.
            await reservations.open_reservation(
                conn,
                shift_id=shift_id,
                doctor_id=ctx.doctor_id,
                conversation_id=ctx.conversation_id,
                now=ctx.now,
            )
    if result.reason == "nao_encontrado" or result.shift is None:
        raise _BadInput(f"there is no shift with id {shift_id}; use an id from search_shifts")
    summary = shift_summary(result.shift, ctx.tz)
    if not result.ok:
        return await _gone(ctx, result.shift)
    payload = {
        "ok": True,
        "status": result.reason,
        "shift": summary,
        "message": (
            "Reserved for the doctor, pending confirmation by the Revoluna team. Say it is "
            "reserved and the team will confirm; do not say it is confirmed."
        ),
    }
    return ToolOutcome(
        content=_json(payload),
        reserved_shift_id=result.shift.id,
        quotable_cents=quotable_cents(result.shift),
    )


async def _gone(ctx: ToolContext, shift: ShiftView) -> ToolOutcome:
    """The shift went to someone else (or was cancelled): say so, with the nearest open
    shift like it when there is one."""
    async with ctx.db.acquire() as conn:
        alternative = await reservations.alternative_to(conn, shift.id, now=ctx.now)
        if alternative is not None:
            await reservations.record_offers(
                conn, ctx.conversation_id, [alternative.id], now=ctx.now
            )
    refusal: dict[str, Any] = {
        "ok": False,
        "status": "indisponivel",
        "gone_shift": shift_summary(shift, ctx.tz),
    }
    if alternative is None:
        refusal["message"] = (
            "This shift is gone: another doctor took it or it was cancelled. Tell the doctor "
            "kindly that it is no longer available; there is no similar open shift right now, "
            "you may search_shifts with other filters. Never say it is reserved for them."
        )
        return ToolOutcome(content=_json(refusal))
    refusal["alternative"] = shift_summary(alternative, ctx.tz)
    refusal["message"] = (
        "This shift is gone: another doctor took it or it was cancelled. Tell the doctor "
        "kindly that it is no longer available and offer the alternative (the closest open "
        "shift like it; search_shifts for others if it does not suit them); reserve it only "
        "if they accept it."
    )
    return ToolOutcome(content=_json(refusal), quotable_cents=quotable_cents(alternative))


async def _save_memory(ctx: ToolContext, data: dict[str, Any]) -> ToolOutcome:
    kind = _choice(data, "kind", MEMORY_KINDS, required=True)
    content = _text(data, "content", required=True, max_len=500)
    assert kind is not None and content is not None
    saved = await memory.save(
        ctx.db,
        ctx.embedder,
        doctor_id=ctx.doctor_id,
        kind=kind,
        content=content,
        source_message_id=ctx.source_message_id,
    )
    payload: dict[str, Any] = {"saved": saved}
    if not saved:
        payload["note"] = "already remembered"
    return ToolOutcome(content=_json(payload))


_PROFILE_KEYS = ("name", "crm", "crm_uf", "specialty", "city", "state", "region", "preferences")


async def _update_profile(ctx: ToolContext, data: dict[str, Any]) -> ToolOutcome:
    fields: dict[str, Any] = {}
    if (name := _text(data, "name", max_len=120)) is not None:
        fields["name"] = name
    crm = data.get("crm")
    if isinstance(crm, int) and not isinstance(crm, bool):
        crm = str(crm)
    if isinstance(crm, str) and crm.strip():
        digits = re.sub(r"\D", "", crm)
        if not 1 <= len(digits) <= 10:
            raise _BadInput("'crm' must be the CRM number (digits)")
        fields["crm"] = digits
    elif crm is not None and crm != "":
        raise _BadInput("'crm' must be a string of digits")
    if (crm_uf := _uf(data, "crm_uf")) is not None:
        fields["crm_uf"] = crm_uf
    if (state := _uf(data, "state")) is not None:
        fields["state"] = state
    for key in ("city", "region"):
        if (value := _text(data, key, max_len=80)) is not None:
            fields[key] = value
    specialty = _text(data, "specialty", max_len=80)
    preferences = data.get("preferences")
    if preferences is not None:
        if not isinstance(preferences, dict):
            raise _BadInput("'preferences' must be a JSON object")
        if len(_json(preferences)) > MAX_PREFERENCES_CHARS:
            raise _BadInput("'preferences' is too large; keep only the essentials")
        preferences = preferences or None
    if not fields and specialty is None and not preferences:
        raise _BadInput(f"nothing to update; fields: {', '.join(_PROFILE_KEYS)}")

    result: dict[str, Any] = {}
    async with transaction(ctx.db) as conn:
        if specialty is not None:
            matches = await shifts.find_specialties(conn, specialty)
            if not matches:
                known = await shifts.list_specialties(conn)
                raise _BadInput(
                    f"unknown specialty '{specialty}'; known specialties: {', '.join(known)}"
                )
            if len(matches) > 1 and matches[1].score == matches[0].score < 1.0:
                names = ", ".join(m.name for m in matches if m.score == matches[0].score)
                raise _BadInput(f"'{specialty}' is ambiguous: {names}; ask the doctor which")
            fields["specialty_id"] = matches[0].id
            result["specialty"] = matches[0].name
        await doctors.update_profile(conn, ctx.doctor_id, fields, preferences)
    updated = [k for k in fields if k != "specialty_id"]
    if specialty is not None:
        updated.append("specialty")
    if preferences:
        updated.append("preferences")
    result["updated"] = updated
    return ToolOutcome(content=_json(result))


async def _request_human(ctx: ToolContext, data: dict[str, Any]) -> ToolOutcome:
    reason = _text(data, "reason", required=True, max_len=300)
    assert reason is not None
    payload = {
        "ok": True,
        "message": (
            "A human colleague will take over this conversation. Send at most one short, "
            "natural message (e.g. that you will check with the team) and promise nothing else."
        ),
    }
    return ToolOutcome(content=_json(payload), handoff_reason=reason)


async def _schedule_reminder(ctx: ToolContext, data: dict[str, Any]) -> ToolOutcome:
    when = _text(data, "when", required=True, max_len=40)
    note = _text(data, "note", required=True, max_len=300)
    assert when is not None and note is not None
    due_at = _when(when, ctx.tz)
    local_now = ctx.now.astimezone(ctx.tz)
    if due_at <= ctx.now:
        raise _BadInput(f"'when' is in the past; it is now {local_now:%Y-%m-%dT%H:%M} local time")
    if due_at > ctx.now + REMINDER_MAX_AHEAD:
        raise _BadInput("'when' is more than a year ahead")
    followup_id = await outreach.schedule_reminder(
        ctx.db,
        doctor_id=ctx.doctor_id,
        conversation_id=ctx.conversation_id,
        due_at=due_at,
        note=note,
    )
    local = due_at.astimezone(ctx.tz)
    payload = {
        "scheduled": True,
        "id": followup_id,
        "when": f"{local_date_text(local, ctx.tz)} {_clock(local)}",
    }
    return ToolOutcome(content=_json(payload))


_HANDLERS: dict[str, Callable[[ToolContext, dict[str, Any]], Awaitable[ToolOutcome]]] = {
    "search_shifts": _search_shifts,
    "hospital_info": _hospital_info,
    "reserve_shift": _reserve_shift,
    "save_memory": _save_memory,
    "update_profile": _update_profile,
    "request_human": _request_human,
    "schedule_reminder": _schedule_reminder,
}
