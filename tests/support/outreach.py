"""A fake clock and a small world of hospitals, shifts, doctors and chips for outreach."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from app.core.config import Settings
from app.core.resources import Resources
from app.domain.outbound.gateway import Gateway
from app.domain.outbound.limiter import Limiter
from app.domain.outbound.status import StatusReader
from app.domain.outreach.freshness import Freshener

SP = ZoneInfo("America/Sao_Paulo")
# A Wednesday, 10:00 in São Paulo.
WEDNESDAY_10H = datetime(2026, 12, 2, 10, 0, tzinfo=SP)


class FakeClock:
    def __init__(self, start: datetime = WEDNESDAY_10H) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return self.now


def gateway(
    res: Resources, clock: FakeClock, *, seed: int = 7, settings: Settings | None = None
) -> Gateway:
    """The production gateway on a fake clock, reading julia_status on every decision
    (with `settings` instead of the resources', e.g. under PILOT_MODE)."""
    return Gateway(
        db=res.db,
        sender=res.sender,
        status=StatusReader(res.db, max_age=0),
        settings=settings or res.settings,
        limiter=Limiter(res.redis, res.db),
        clock=clock,
        rng=random.Random(seed),
        freshen=Freshener(res.db, settings or res.settings),
    )


@dataclass
class World:
    specialties: dict[str, int]
    hospitals: dict[str, int]
    shifts: list[int]
    doctors: list[int] = field(default_factory=list)
    chips: dict[str, int] = field(default_factory=dict)


SPECIALTIES = ("Clínica Médica", "Pediatria")
HOSPITALS = (
    ("Hospital São Luiz", "São Paulo", "SP", "Zona Sul"),
    ("Hospital Vera Cruz", "Campinas", "SP", "Campinas"),
)


async def seed_world(
    db: asyncpg.Pool | asyncpg.Connection,
    *,
    now: datetime,
    doctors: int = 0,
    chips: tuple[str, ...] = (),
    specialty: str = "Clínica Médica",
    region: str = "Zona Sul",
) -> World:
    """Two specialties, two hospitals, open shifts over the next weeks, `doctors` doctors of
    `specialty` in `region` (phones 5511 9 0000 0001, ...), and the `chips` (Evolution
    instances, never reported on: presumed connected)."""
    spec_ids = {}
    for name in SPECIALTIES:
        spec_ids[name] = await db.fetchval(
            "INSERT INTO specialties (name) VALUES ($1) RETURNING id", name
        )
    hospital_ids = {}
    for name, city, state, hospital_region in HOSPITALS:
        hospital_ids[name] = await db.fetchval(
            """INSERT INTO hospitals (name, city, state, region) VALUES ($1, $2, $3, $4)
               RETURNING id""",
            name,
            city,
            state,
            hospital_region,
        )
    shift_ids = []
    for day in (3, 5, 9, 12):
        for (name, *_), spec in zip(HOSPITALS, SPECIALTIES, strict=True):
            start = (now + timedelta(days=day)).replace(hour=19, minute=0, second=0, microsecond=0)
            shift_ids.append(
                await db.fetchval(
                    """INSERT INTO shifts (hospital_id, specialty_id, sector, starts_at, ends_at,
                                           period, pay_cents)
                       VALUES ($1, $2, 'PS adulto', $3, $4, 'noturno', $5) RETURNING id""",
                    hospital_ids[name],
                    spec_ids[spec],
                    start,
                    start + timedelta(hours=12),
                    180000 + day * 1000,
                )
            )
    world = World(spec_ids, hospital_ids, shift_ids)
    for instance in chips:
        world.chips[instance] = await db.fetchval(
            "INSERT INTO chips (instance) VALUES ($1) RETURNING id", instance
        )
    if doctors:
        world.doctors = await add_doctors(
            db, doctors, specialty_id=spec_ids[specialty], region=region
        )
    return world


def phone(n: int) -> str:
    return f"55119{n:08d}"


async def add_doctors(
    db: Any, count: int, *, specialty_id: int, region: str, start: int = 1, **extra: Any
) -> list[int]:
    rows = await db.fetch(
        """INSERT INTO doctors (phone, name, specialty_id, city, state, region)
           SELECT '55119' || lpad(n::text, 8, '0'), 'Dr. Médico ' || n, $1, 'São Paulo', 'SP', $2
           FROM generate_series($3::int, $4::int) AS n
           RETURNING id""",
        specialty_id,
        region,
        start,
        start + count - 1,
    )
    return [r["id"] for r in rows]
