"""SQL for doctors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app.core.db import Conn, Executor
from app.domain.doctors.phones import brazil_variants, canonical_brazil


@dataclass(frozen=True, slots=True)
class Doctor:
    id: int
    phone: str
    name: str | None
    push_name: str | None
    crm: str | None
    crm_uf: str | None
    specialty_id: int | None
    specialty: str | None
    city: str | None
    state: str | None
    region: str | None
    preferences: dict[str, Any]
    opted_out_at: datetime | None
    lid: str | None
    assigned_chip_id: int | None
    created_at: datetime

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None


_SELECT = """
    SELECT d.id, d.phone, d.name, d.push_name, d.crm, d.crm_uf, d.specialty_id,
           s.name AS specialty, d.city, d.state, d.region, d.preferences, d.opted_out_at,
           d.lid, d.assigned_chip_id, d.created_at
    FROM doctors d LEFT JOIN specialties s ON s.id = d.specialty_id
"""


def _doctor(row: asyncpg.Record) -> Doctor:
    prefs = row["preferences"]
    return Doctor(
        **{k: v for k, v in row.items() if k != "preferences"},
        preferences=json.loads(prefs) if isinstance(prefs, str) else dict(prefs or {}),
    )


async def get(conn: Executor, doctor_id: int) -> Doctor | None:
    row = await conn.fetchrow(_SELECT + " WHERE d.id = $1", doctor_id)
    return _doctor(row) if row else None


async def find_by_phone(conn: Executor, phone: str) -> Doctor | None:
    """Match a phone in either Brazilian spelling (with or without the ninth digit)."""
    row = await conn.fetchrow(
        _SELECT + " WHERE d.phone = ANY($1::text[]) ORDER BY d.id LIMIT 1",
        list(brazil_variants(phone)),
    )
    return _doctor(row) if row else None


async def find_by_lid(conn: Executor, lid: str) -> Doctor | None:
    row = await conn.fetchrow(_SELECT + " WHERE d.lid = $1", lid)
    return _doctor(row) if row else None


async def get_or_create(
    conn: Conn, phone: str, *, push_name: str | None = None, source: str = "inbound"
) -> tuple[Doctor, bool]:
    """The doctor with this phone, created if new. Safe under concurrent webhooks."""
    existing = await find_by_phone(conn, phone)
    if existing is None:
        inserted = await conn.fetchval(
            """INSERT INTO doctors (phone, push_name, source) VALUES ($1, $2, $3)
               ON CONFLICT (phone) DO NOTHING RETURNING id""",
            canonical_brazil(phone),
            push_name,
            source,
        )
        doctor = await find_by_phone(conn, phone)
        assert doctor is not None
        return doctor, inserted is not None
    if push_name and push_name != existing.push_name:
        await conn.execute(
            "UPDATE doctors SET push_name = $2 WHERE id = $1", existing.id, push_name
        )
    return existing, False


async def set_lid(conn: Conn, doctor_id: int, lid: str) -> None:
    """Remember a WhatsApp lid for the doctor (a lid belongs to one account)."""
    await conn.execute(
        """UPDATE doctors SET lid = $2 WHERE id = $1 AND lid IS DISTINCT FROM $2
             AND NOT EXISTS (SELECT 1 FROM doctors WHERE lid = $2)""",
        doctor_id,
        lid,
    )


async def touch_inbound(conn: Conn, doctor_id: int, at: datetime) -> None:
    await conn.execute(
        """UPDATE doctors SET last_inbound_at = GREATEST(coalesce(last_inbound_at, $2), $2)
           WHERE id = $1""",
        doctor_id,
        at,
    )


async def is_opted_out(conn: Executor, doctor_id: int) -> bool:
    return bool(
        await conn.fetchval("SELECT opted_out_at IS NOT NULL FROM doctors WHERE id = $1", doctor_id)
    )


async def touch_outbound(conn: Executor, doctor_id: int, at: datetime, *, proactive: bool) -> None:
    """A message went out to the doctor; a proactive one also restarts the contact clock."""
    await conn.execute(
        """UPDATE doctors SET last_outbound_at = $3,
                  last_proactive_at = CASE WHEN $2 THEN $3 ELSE last_proactive_at END
           WHERE id = $1""",
        doctor_id,
        proactive,
        at,
    )


async def mark_opted_out(conn: Conn, doctor_id: int, reason: str, at: datetime) -> bool:
    """Opt the doctor out (LGPD). Returns False if they already were."""
    status: str = await conn.execute(
        """UPDATE doctors SET opted_out_at = $3, opt_out_reason = $2
           WHERE id = $1 AND opted_out_at IS NULL""",
        doctor_id,
        reason,
        at,
    )
    return status.endswith(" 1")


# Columns the agent may change through its update_profile tool.
PROFILE_FIELDS = ("name", "crm", "crm_uf", "specialty_id", "city", "state", "region")


async def update_profile(
    conn: Conn,
    doctor_id: int,
    fields: dict[str, Any],
    preferences: dict[str, Any] | None = None,
) -> None:
    """Set profile columns (only PROFILE_FIELDS) and merge `preferences` into the jsonb."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    sets = [f"{name} = ${i}" for i, name in enumerate(fields, start=2)]
    args: list[Any] = [doctor_id, *fields.values()]
    if preferences:
        args.append(json.dumps(preferences))
        sets.append(f"preferences = preferences || ${len(args)}::jsonb")
    if sets:
        await conn.execute(f"UPDATE doctors SET {', '.join(sets)} WHERE id = $1", *args)
