"""A small demo data set for `julia dev` on an empty database: hospitals, shifts, doctors."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

SPECIALTIES = ["Clínica Médica", "Pediatria", "Ortopedia", "Ginecologia e Obstetrícia"]

HOSPITALS = [
    (
        "Hospital São Luiz Itaim",
        "São Paulo",
        "SP",
        "Zona Sul",
        "Rua Dr. Alceu de Campos Rodrigues, 95",
    ),
    ("Hospital Santa Paula", "São Paulo", "SP", "Zona Sul", "Av. Santo Amaro, 2468"),
    ("Hospital Vera Cruz", "Campinas", "SP", "Campinas", "Av. Andrade Neves, 402"),
]

# (hospital index, specialty, sector, days from today, start hour, hours, period, pay in R$)
SHIFTS = [
    (0, "Clínica Médica", "PS adulto", 3, 7, 12, "diurno", 1800),
    (0, "Clínica Médica", "PS adulto", 3, 19, 12, "noturno", 2100),
    (1, "Pediatria", "PS infantil", 5, 7, 12, "diurno", 1900),
    (1, "Ortopedia", "PS ortopedia", 8, 19, 12, "noturno", 2300),
    (2, "Clínica Médica", "Enfermaria", 10, 7, 24, "integral", 3600),
    (2, "Ginecologia e Obstetrícia", "Centro obstétrico", 12, 19, 12, "noturno", 2500),
]

DOCTORS = [
    ("5511987650001", "Dra. Ana Souza", "123456", "SP", "Clínica Médica", "São Paulo", "Zona Sul"),
    ("5511987650002", "Dr. Bruno Lima", "234567", "SP", "Pediatria", "São Paulo", "Zona Sul"),
    (
        "5519987650003",
        "Dra. Carla Mendes",
        "345678",
        "SP",
        "Clínica Médica",
        "Campinas",
        "Campinas",
    ),
]


async def seed_if_empty(conn: asyncpg.Connection, *, tz: ZoneInfo, today: datetime) -> bool:
    """Insert the demo set unless the database already has hospitals. Returns whether it did."""
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM hospitals)"):
        return False
    async with conn.transaction():
        specialty_ids = {}
        for name in SPECIALTIES:
            specialty_ids[name] = await conn.fetchval(
                "INSERT INTO specialties (name) VALUES ($1) RETURNING id", name
            )
        hospital_ids = []
        for name, city, state, region, address in HOSPITALS:
            hospital_ids.append(
                await conn.fetchval(
                    """INSERT INTO hospitals (name, city, state, region, address)
                       VALUES ($1, $2, $3, $4, $5) RETURNING id""",
                    name,
                    city,
                    state,
                    region,
                    address,
                )
            )
        base = today.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        for h, specialty, sector, days, hour, hours, period, pay in SHIFTS:
            starts = base + timedelta(days=days, hours=hour)
            await conn.execute(
                """INSERT INTO shifts (hospital_id, specialty_id, sector, starts_at, ends_at,
                                       period, pay_cents, external_ref)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                hospital_ids[h],
                specialty_ids[specialty],
                sector,
                starts,
                starts + timedelta(hours=hours),
                period,
                pay * 100,
                f"demo-{h}-{days}-{hour}",
            )
        for phone, name, crm, uf, specialty, city, region in DOCTORS:
            await conn.execute(
                """INSERT INTO doctors (phone, name, crm, crm_uf, specialty_id, city, state,
                                        region, source)
                   VALUES ($1, $2, $3, $4, $5, $6, 'SP', $7, 'demo')""",
                phone,
                name,
                crm,
                uf,
                specialty_ids[specialty],
                city,
                region,
            )
    return True
