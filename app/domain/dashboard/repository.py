"""SQL for the dashboard's lists and detail views.

Items are pydantic models so the API can answer with them as they are. Every list returns
one page and the total of rows matching the filters (for the dashboard's pager).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import asyncpg
from pydantic import BaseModel, ConfigDict

from app.core.db import Executor

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    items: list[T]
    total: int


class _ReadModel(BaseModel):
    model_config = ConfigDict(frozen=True)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _page(
    conn: Executor,
    select: str,
    count: str,
    where: list[str],
    args: list[Any],
    order: str,
    *,
    limit: int,
    offset: int,
) -> tuple[list[asyncpg.Record], int]:
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    n = len(args)
    rows = await conn.fetch(
        f"{select}{clause} ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}", *args, limit, offset
    )
    total = await conn.fetchval(f"{count}{clause}", *args)
    return list(rows), int(total or 0)


# ---------------------------------------------------------------------------------------
# Conversations and messages
# ---------------------------------------------------------------------------------------


class ConversationItem(_ReadModel):
    id: int
    doctor_id: int
    doctor_name: str | None
    doctor_phone: str
    status: str
    control: str
    control_reason: str | None
    control_changed_at: datetime | None
    campaign_id: int | None
    last_message_at: datetime | None
    last_inbound_at: datetime | None
    created_at: datetime


_CONVERSATIONS = """
    SELECT c.id, c.doctor_id, coalesce(d.name, d.push_name) AS doctor_name,
           d.phone AS doctor_phone, c.status, c.control, c.control_reason,
           c.control_changed_at, c.campaign_id, c.last_message_at, c.last_inbound_at,
           c.created_at
    FROM conversations c JOIN doctors d ON d.id = c.doctor_id"""
_CONVERSATIONS_COUNT = "SELECT count(*) FROM conversations c"


async def list_conversations(
    conn: Executor,
    *,
    control: str | None = None,
    status: str | None = None,
    limit: int,
    offset: int,
) -> Listing[ConversationItem]:
    """Newest activity first."""
    where: list[str] = []
    args: list[Any] = []
    if control is not None:
        args.append(control)
        where.append(f"c.control = ${len(args)}")
    if status is not None:
        args.append(status)
        where.append(f"c.status = ${len(args)}")
    rows, total = await _page(
        conn,
        _CONVERSATIONS,
        _CONVERSATIONS_COUNT,
        where,
        args,
        "coalesce(c.last_message_at, c.created_at) DESC, c.id DESC",
        limit=limit,
        offset=offset,
    )
    return Listing([ConversationItem(**dict(r)) for r in rows], total)


async def get_conversation(conn: Executor, conversation_id: int) -> ConversationItem | None:
    row = await conn.fetchrow(_CONVERSATIONS + " WHERE c.id = $1", conversation_id)
    return ConversationItem(**dict(row)) if row else None


class MessageItem(_ReadModel):
    id: int
    direction: str
    author: str
    message_type: str
    body: str | None
    media: dict[str, Any] | None
    delivery_status: str | None
    sent_at: datetime | None
    created_at: datetime
    # a link to the stored attachment (Supabase: a signed URL; local: this API's own route)
    media_url: str | None = None


async def list_messages(
    conn: Executor, conversation_id: int, *, limit: int, offset: int
) -> Listing[MessageItem]:
    """Oldest first, as a chat reads."""
    rows, total = await _page(
        conn,
        """SELECT id, direction, author, message_type, body, media, delivery_status, sent_at,
                  created_at FROM messages""",
        "SELECT count(*) FROM messages",
        ["conversation_id = $1"],
        [conversation_id],
        "created_at, id",
        limit=limit,
        offset=offset,
    )
    items = []
    for row in rows:
        values = dict(row)
        media = _json(values["media"])
        values["media"] = media if isinstance(media, dict) else None
        items.append(MessageItem(**values))
    return Listing(items, total)


async def message_media(
    conn: Executor, conversation_id: int, message_id: int
) -> dict[str, Any] | None:
    """The `media` of one message of the conversation (None: no such message or no media)."""
    value = await conn.fetchval(
        "SELECT media FROM messages WHERE id = $1 AND conversation_id = $2",
        message_id,
        conversation_id,
    )
    media = _json(value)
    return media if isinstance(media, dict) else None


# ---------------------------------------------------------------------------------------
# Doctors
# ---------------------------------------------------------------------------------------


class DoctorItem(_ReadModel):
    id: int
    phone: str
    name: str | None
    push_name: str | None
    crm: str | None
    crm_uf: str | None
    specialty: str | None
    city: str | None
    state: str | None
    region: str | None
    opted_out_at: datetime | None
    last_inbound_at: datetime | None
    last_outbound_at: datetime | None
    created_at: datetime


class DoctorDetail(DoctorItem):
    preferences: dict[str, Any]
    opt_out_reason: str | None
    last_proactive_at: datetime | None
    source: str | None
    notes: str | None
    active_conversation_id: int | None
    active_conversation_control: str | None


_DOCTOR_COLUMNS = """
    d.id, d.phone, d.name, d.push_name, d.crm, d.crm_uf, s.name AS specialty, d.city,
    d.state, d.region, d.opted_out_at, d.last_inbound_at, d.last_outbound_at, d.created_at"""
_DOCTORS_FROM = " FROM doctors d LEFT JOIN specialties s ON s.id = d.specialty_id"


async def list_doctors(
    conn: Executor,
    *,
    q: str | None = None,
    opted_out: bool | None = None,
    limit: int,
    offset: int,
) -> Listing[DoctorItem]:
    """Search by name (accent- and case-insensitive) or by phone digits; newest first."""
    where: list[str] = []
    args: list[Any] = []
    if q is not None:
        args.append(q)
        name_match = (
            f"strpos(julia_normalize(concat_ws(' ', d.name, d.push_name)), "
            f"julia_normalize(${len(args)})) > 0"
        )
        digits = re.sub(r"[^0-9]", "", q)
        if digits:
            args.append(digits)
            where.append(f"({name_match} OR strpos(d.phone, ${len(args)}) > 0)")
        else:
            where.append(name_match)
    if opted_out is not None:
        where.append("d.opted_out_at IS NOT NULL" if opted_out else "d.opted_out_at IS NULL")
    rows, total = await _page(
        conn,
        "SELECT" + _DOCTOR_COLUMNS + _DOCTORS_FROM,
        "SELECT count(*) FROM doctors d",
        where,
        args,
        "d.created_at DESC, d.id DESC",
        limit=limit,
        offset=offset,
    )
    return Listing([DoctorItem(**dict(r)) for r in rows], total)


async def get_doctor(conn: Executor, doctor_id: int) -> DoctorDetail | None:
    row = await conn.fetchrow(
        "SELECT"
        + _DOCTOR_COLUMNS
        + """, d.preferences, d.opt_out_reason, d.last_proactive_at, d.source, d.notes,
             c.id AS active_conversation_id, c.control AS active_conversation_control"""
        + _DOCTORS_FROM
        + """ LEFT JOIN conversations c ON c.doctor_id = d.id AND c.status = 'ativa'
             WHERE d.id = $1""",
        doctor_id,
    )
    if row is None:
        return None
    values = dict(row)
    prefs = _json(values["preferences"])
    values["preferences"] = prefs if isinstance(prefs, dict) else {}
    return DoctorDetail(**values)


# ---------------------------------------------------------------------------------------
# Shifts
# ---------------------------------------------------------------------------------------


class ShiftItem(_ReadModel):
    id: int
    hospital_id: int
    hospital: str
    city: str
    state: str
    region: str | None
    specialty_id: int
    specialty: str
    sector: str | None
    starts_at: datetime
    ends_at: datetime
    period: str
    pay_cents: int | None
    pay_min_cents: int | None
    pay_max_cents: int | None
    pay_note: str | None
    priority: int
    status: str
    reserved_doctor_id: int | None
    reserved_at: datetime | None
    confirmed_at: datetime | None


_SHIFTS_FROM = """
    FROM shifts sh
    JOIN hospitals h ON h.id = sh.hospital_id
    JOIN specialties sp ON sp.id = sh.specialty_id"""


async def list_shifts(
    conn: Executor,
    *,
    tz_name: str,
    status: str | None = None,
    specialty: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int,
    offset: int,
) -> Listing[ShiftItem]:
    """Soonest first. Dates are local days in `tz_name`, both ends inclusive."""
    where: list[str] = []
    args: list[Any] = []
    if status is not None:
        args.append(status)
        where.append(f"sh.status = ${len(args)}")
    if specialty is not None:
        args.append(specialty)
        n = len(args)
        where.append(
            f"(sp.name_normalized = julia_normalize(${n})"
            f" OR julia_normalize(${n}) = ANY(sp.aliases))"
        )
    # Day arithmetic in SQL: Postgres dates reach far beyond Python's (9999-12-31 + 1 day).
    if date_from is not None:
        args += [date_from, tz_name]
        where.append(
            f"sh.starts_at >= (${len(args) - 1}::date)::timestamp AT TIME ZONE ${len(args)}"
        )
    if date_to is not None:
        args += [date_to, tz_name]
        where.append(
            f"sh.starts_at < (${len(args) - 1}::date + 1)::timestamp AT TIME ZONE ${len(args)}"
        )
    rows, total = await _page(
        conn,
        """SELECT sh.id, sh.hospital_id, h.name AS hospital, h.city, h.state, h.region,
                  sh.specialty_id, sp.name AS specialty, sh.sector, sh.starts_at, sh.ends_at,
                  sh.period, sh.pay_cents, sh.pay_min_cents, sh.pay_max_cents, sh.pay_note,
                  sh.priority, sh.status, sh.reserved_doctor_id, sh.reserved_at,
                  sh.confirmed_at"""
        + _SHIFTS_FROM,
        "SELECT count(*)" + _SHIFTS_FROM,
        where,
        args,
        "sh.starts_at, sh.id",
        limit=limit,
        offset=offset,
    )
    return Listing([ShiftItem(**dict(r)) for r in rows], total)


# ---------------------------------------------------------------------------------------
# Campaigns
# ---------------------------------------------------------------------------------------


class CampaignItem(_ReadModel):
    id: int
    name: str
    kind: str
    status: str
    autonomous: bool
    filters: dict[str, Any]
    created_by: str | None
    started_at: datetime | None
    paused_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    targets: int
    contacted: int
    responded: int


async def list_campaigns(
    conn: Executor, *, status: str | None = None, limit: int, offset: int
) -> Listing[CampaignItem]:
    """Newest first, with how many doctors each targets, reached and heard from."""
    where: list[str] = []
    args: list[Any] = []
    if status is not None:
        args.append(status)
        where.append(f"ca.status = ${len(args)}")
    rows, total = await _page(
        conn,
        """SELECT ca.id, ca.name, ca.kind, ca.status, ca.autonomous, ca.filters, ca.created_by,
                  ca.started_at, ca.paused_at, ca.finished_at, ca.created_at,
                  coalesce(t.targets, 0) AS targets, coalesce(t.contacted, 0) AS contacted,
                  coalesce(t.responded, 0) AS responded
           FROM campaigns ca
           LEFT JOIN LATERAL (
               SELECT count(*) AS targets,
                      count(*) FILTER (WHERE contacted_at IS NOT NULL) AS contacted,
                      count(*) FILTER (WHERE responded_at IS NOT NULL) AS responded
               FROM campaign_targets WHERE campaign_id = ca.id
           ) t ON true""",
        "SELECT count(*) FROM campaigns ca",
        where,
        args,
        "ca.created_at DESC, ca.id DESC",
        limit=limit,
        offset=offset,
    )
    items = []
    for row in rows:
        values = dict(row)
        filters = _json(values["filters"])
        values["filters"] = filters if isinstance(filters, dict) else {}
        items.append(CampaignItem(**values))
    return Listing(items, total)
