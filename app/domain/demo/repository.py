"""SQL for the demo data set: plain inserts into the catalogue and the doctors."""

from __future__ import annotations

from datetime import datetime

from app.core.db import Executor


async def has_hospitals(conn: Executor) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM hospitals)"))


async def insert_specialty(conn: Executor, name: str) -> int:
    specialty_id: int = await conn.fetchval(
        "INSERT INTO specialties (name) VALUES ($1) RETURNING id", name
    )
    return specialty_id


async def insert_hospital(
    conn: Executor, *, name: str, city: str, state: str, region: str, address: str
) -> int:
    hospital_id: int = await conn.fetchval(
        """INSERT INTO hospitals (name, city, state, region, address)
           VALUES ($1, $2, $3, $4, $5) RETURNING id""",
        name,
        city,
        state,
        region,
        address,
    )
    return hospital_id


async def insert_shift(
    conn: Executor,
    *,
    hospital_id: int,
    specialty_id: int,
    sector: str,
    starts_at: datetime,
    ends_at: datetime,
    period: str,
    pay_cents: int,
    external_ref: str,
) -> None:
    await conn.execute(
        """INSERT INTO shifts (hospital_id, specialty_id, sector, starts_at, ends_at,
                               period, pay_cents, external_ref)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        hospital_id,
        specialty_id,
        sector,
        starts_at,
        ends_at,
        period,
        pay_cents,
        external_ref,
    )


async def insert_doctor(
    conn: Executor,
    *,
    phone: str,
    name: str,
    crm: str,
    crm_uf: str,
    specialty_id: int,
    city: str,
    region: str,
) -> None:
    await conn.execute(
        """INSERT INTO doctors (phone, name, crm, crm_uf, specialty_id, city, state,
                                region, source)
           VALUES ($1, $2, $3, $4, $5, $6, 'SP', $7, 'demo')""",
        phone,
        name,
        crm,
        crm_uf,
        specialty_id,
        city,
        region,
    )
