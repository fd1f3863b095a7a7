"""The demo data set: hospitals, shifts and doctors, inserted once into an empty database."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from app.domain.demo import repository

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
    if await repository.has_hospitals(conn):
        return False
    async with conn.transaction():
        specialty_ids = {}
        for name in SPECIALTIES:
            specialty_ids[name] = await repository.insert_specialty(conn, name)
        hospital_ids = []
        for name, city, state, region, address in HOSPITALS:
            hospital_ids.append(
                await repository.insert_hospital(
                    conn, name=name, city=city, state=state, region=region, address=address
                )
            )
        base = today.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        for h, specialty, sector, days, hour, hours, period, pay in SHIFTS:
            starts = base + timedelta(days=days, hours=hour)
            await repository.insert_shift(
                conn,
                hospital_id=hospital_ids[h],
                specialty_id=specialty_ids[specialty],
                sector=sector,
                starts_at=starts,
                ends_at=starts + timedelta(hours=hours),
                period=period,
                pay_cents=pay * 100,
                external_ref=f"demo-{h}-{days}-{hour}",
            )
        for phone, name, crm, uf, specialty, city, region in DOCTORS:
            await repository.insert_doctor(
                conn,
                phone=phone,
                name=name,
                crm=crm,
                crm_uf=uf,
                specialty_id=specialty_ids[specialty],
                city=city,
                region=region,
            )
    return True
