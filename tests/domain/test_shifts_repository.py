"""Shift search, hospital lookup and reservation against a real Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from app.core.db import connect, create_pool
from app.domain.shifts import repository as shifts

TZ = ZoneInfo("America/Sao_Paulo")
# Monday, 9 March 2026, noon in São Paulo
NOW = datetime(2026, 3, 9, 12, 0, tzinfo=TZ)


@dataclass
class Seed:
    specialties: dict[str, int] = field(default_factory=dict)
    hospitals: dict[str, int] = field(default_factory=dict)
    shifts: dict[str, int] = field(default_factory=dict)
    doctors: list[int] = field(default_factory=list)


SPECIALTIES: dict[str, list[str]] = {
    "Clínica Médica": ["clinico geral", "cm"],
    "Pediatria": [],
    "Ortopedia": [],
    "Ginecologia e Obstetrícia": ["go"],
    "Cardiologia": [],
}

HOSPITALS = {
    "sao_luiz": ("Hospital São Luiz Itaim", "São Paulo", "SP", "Zona Sul", "Rua Dr. Alceu, 95"),
    "norte": ("Hospital Vila Nova", "São Paulo", "SP", "Zona Norte", None),
    "vera_cruz": ("Hospital Vera Cruz", "Campinas", "SP", "Campinas", "Av. Andrade Neves, 402"),
    "abc": ("Hospital Municipal", "São Bernardo do Campo", "SP", "ABC", None),
}


async def insert_shift(
    conn: Any,
    seed: Seed,
    key: str,
    *,
    hospital: str,
    specialty: str,
    day: date,
    hour: int,
    hours: int = 12,
    period: str = "diurno",
    minute: int = 0,
    **extra: Any,
) -> int:
    starts = datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)
    columns = {
        "hospital_id": seed.hospitals[hospital],
        "specialty_id": seed.specialties[specialty],
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=hours),
        "period": period,
        **extra,
    }
    names = ", ".join(columns)
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    shift_id: int = await conn.fetchval(
        f"INSERT INTO shifts ({names}) VALUES ({params}) RETURNING id", *columns.values()
    )
    seed.shifts[key] = shift_id
    return shift_id


async def seed_data(conn: Any) -> Seed:
    """A small world: five specialties, four hospitals, shifts covering every filter."""
    seed = Seed()
    for name, aliases in SPECIALTIES.items():
        seed.specialties[name] = await conn.fetchval(
            "INSERT INTO specialties (name, aliases) VALUES ($1, $2) RETURNING id", name, aliases
        )
    for key, (name, city, state, region, address) in HOSPITALS.items():
        seed.hospitals[key] = await conn.fetchval(
            """INSERT INTO hospitals (name, city, state, region, address, notes)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
            name,
            city,
            state,
            region,
            address,
            "Estacionamento conveniado na rua de trás" if key == "sao_luiz" else None,
        )
    d = NOW.date()
    add = insert_shift
    await add(
        conn,
        seed,
        "cm_day",
        hospital="sao_luiz",
        specialty="Clínica Médica",
        day=d + timedelta(days=3),
        hour=7,
        pay_cents=180000,
    )
    await add(
        conn,
        seed,
        "cm_night",
        hospital="sao_luiz",
        specialty="Clínica Médica",
        day=d + timedelta(days=3),
        hour=19,
        period="noturno",
        pay_cents=210000,
        negotiation_margin_cents=20000,
    )
    await add(
        conn,
        seed,
        "ped",
        hospital="norte",
        specialty="Pediatria",
        day=d + timedelta(days=5),
        hour=7,
        pay_min_cents=150000,
        pay_max_cents=200000,
    )
    await add(
        conn,
        seed,
        "orto_late",
        hospital="vera_cruz",
        specialty="Ortopedia",
        day=d + timedelta(days=5),
        hour=23,
        minute=30,
        hours=8,
        period="noturno",
        pay_note="a combinar",
    )
    await add(
        conn,
        seed,
        "cm_24h",
        hospital="vera_cruz",
        specialty="Clínica Médica",
        day=d + timedelta(days=10),
        hour=7,
        hours=24,
        period="integral",
        pay_cents=360000,
        priority=5,
    )
    await add(
        conn,
        seed,
        "go",
        hospital="abc",
        specialty="Ginecologia e Obstetrícia",
        day=d + timedelta(days=12),
        hour=19,
        period="noturno",
        pay_cents=170000,
        negotiation_margin_cents=20000,
    )
    # never offered: already started, reserved, cancelled
    await add(
        conn,
        seed,
        "past",
        hospital="sao_luiz",
        specialty="Clínica Médica",
        day=d,
        hour=7,
        pay_cents=180000,
    )
    await add(
        conn,
        seed,
        "reserved",
        hospital="sao_luiz",
        specialty="Clínica Médica",
        day=d + timedelta(days=4),
        hour=7,
        pay_cents=180000,
        status="reservado",
    )
    await add(
        conn,
        seed,
        "cancelled",
        hospital="norte",
        specialty="Pediatria",
        day=d + timedelta(days=4),
        hour=7,
        pay_cents=180000,
        status="cancelado",
    )
    for phone in ("5511900000001", "5511900000002", "5511900000003"):
        seed.doctors.append(
            await conn.fetchval("INSERT INTO doctors (phone) VALUES ($1) RETURNING id", phone)
        )
    return seed


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def seed(pool: asyncpg.Pool) -> Seed:
    async with pool.acquire() as conn:
        return await seed_data(conn)


async def search(pool: asyncpg.Pool, seed: Seed, **filters: Any) -> list[str]:
    """Keys of the shifts found, in order."""
    by_id = {v: k for k, v in seed.shifts.items()}
    async with pool.acquire() as conn:
        found = await shifts.search_open(conn, now=NOW, tz=TZ, limit=20, **filters)
    return [by_id[s.id] for s in found]


OPEN = ["cm_24h", "cm_day", "cm_night", "ped", "orto_late", "go"]


async def test_no_filters_lists_open_future_shifts_by_priority_then_start(
    pool: asyncpg.Pool, seed: Seed
) -> None:
    assert await search(pool, seed) == OPEN


async def test_limit(pool: asyncpg.Pool, seed: Seed) -> None:
    async with pool.acquire() as conn:
        found = await shifts.search_open(conn, now=NOW, tz=TZ, limit=2)
    assert [s.id for s in found] == [seed.shifts["cm_24h"], seed.shifts["cm_day"]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pediatria", ["ped"]),
        ("PEDIATRÍA", ["ped"]),
        ("pediatra", ["ped"]),
        ("clinico", ["cm_24h", "cm_day", "cm_night"]),
        ("Clínica médica", ["cm_24h", "cm_day", "cm_night"]),
        ("clinico geral", ["cm_24h", "cm_day", "cm_night"]),
        ("GO", ["go"]),
        ("ginecologista", ["go"]),
        ("ortopedista", ["orto_late"]),
        ("cardio", []),
        ("dermatologia", []),
        ("   ", []),
    ],
)
async def test_specialty_is_accent_insensitive_and_partial(
    pool: asyncpg.Pool, seed: Seed, text: str, expected: list[str]
) -> None:
    assert await search(pool, seed, specialty=text) == expected


async def test_find_specialties_ranks_best_first(pool: asyncpg.Pool, seed: Seed) -> None:
    async with pool.acquire() as conn:
        assert [m.name for m in await shifts.find_specialties(conn, "pediatra")] == ["Pediatria"]
        exact = await shifts.find_specialties(conn, "cm")
        assert [(m.name, m.score) for m in exact] == [("Clínica Médica", 1.0)]
        assert await shifts.find_specialties(conn, "neurocirurgia") == []
        assert await shifts.list_specialties(conn) == sorted(SPECIALTIES)


@pytest.mark.parametrize(
    ("place", "expected"),
    [
        ("São Paulo", ["cm_day", "cm_night", "ped"]),
        ("sao paulo", ["cm_day", "cm_night", "ped"]),
        ("zona sul", ["cm_day", "cm_night"]),
        ("Zona Norte", ["ped"]),
        ("campinas", ["cm_24h", "orto_late"]),
        ("Hospital Sao Luis", ["cm_day", "cm_night"]),
        ("zona leste", []),
        ("abc", ["go"]),
        ("São Bernardo", ["go"]),
        ("vera cruz", ["cm_24h", "orto_late"]),
        ("Hospital São Luiz", ["cm_day", "cm_night"]),
        ("Recife", []),
    ],
)
async def test_place_matches_city_region_or_hospital(
    pool: asyncpg.Pool, seed: Seed, place: str, expected: list[str]
) -> None:
    assert await search(pool, seed, place=place) == expected


async def test_dates_are_local_dates(pool: asyncpg.Pool, seed: Seed) -> None:
    # orto_late starts at 23:30 in São Paulo on day +5, which is already day +6 in UTC
    day5 = NOW.date() + timedelta(days=5)
    assert await search(pool, seed, date_from=day5, date_to=day5) == ["ped", "orto_late"]
    assert await search(pool, seed, date_from=day5 + timedelta(days=1)) == ["cm_24h", "go"]
    assert await search(pool, seed, date_to=NOW.date() + timedelta(days=3)) == [
        "cm_day",
        "cm_night",
    ]
    # a window entirely in the past finds nothing (and never the shift that started today)
    assert await search(pool, seed, date_from=NOW.date(), date_to=NOW.date()) == []


async def test_period(pool: asyncpg.Pool, seed: Seed) -> None:
    assert await search(pool, seed, period="noturno") == ["cm_night", "orto_late", "go"]
    assert await search(pool, seed, period="integral") == ["cm_24h"]


async def test_min_pay_counts_fixed_pay_range_top_and_margin(
    pool: asyncpg.Pool, seed: Seed
) -> None:
    # cm_day 1800; cm_night 2100 (+200); ped 1500–2000; go 1700 (+200); cm_24h 3600;
    # orto_late a combinar (never matches a minimum)
    assert await search(pool, seed, min_pay_cents=190000) == ["cm_24h", "cm_night", "ped", "go"]
    assert await search(pool, seed, min_pay_cents=220000) == ["cm_24h", "cm_night"]
    assert await search(pool, seed, min_pay_cents=500000) == []


async def test_filters_combine(pool: asyncpg.Pool, seed: Seed) -> None:
    assert await search(pool, seed, specialty="clinica", place="sao paulo", period="diurno") == [
        "cm_day"
    ]


async def test_past_and_non_open_shifts_are_never_found(pool: asyncpg.Pool, seed: Seed) -> None:
    everything = await search(pool, seed, date_from=NOW.date() - timedelta(days=1))
    assert not {"past", "reserved", "cancelled"} & set(everything)


async def test_get_shift_and_view_fields(pool: asyncpg.Pool, seed: Seed) -> None:
    async with pool.acquire() as conn:
        shift = await shifts.get_shift(conn, seed.shifts["ped"])
        assert await shifts.get_shift(conn, 999_999) is None
    assert shift is not None
    assert (shift.hospital, shift.city, shift.state, shift.region) == (
        "Hospital Vila Nova",
        "São Paulo",
        "SP",
        "Zona Norte",
    )
    assert (shift.specialty, shift.pay_cents, shift.pay_min_cents, shift.pay_max_cents) == (
        "Pediatria",
        None,
        150000,
        200000,
    )
    assert shift.starts_at == datetime(2026, 3, 14, 7, tzinfo=TZ)
    assert shift.status == "aberto"


async def test_get_hospital_by_id_and_by_name(pool: asyncpg.Pool, seed: Seed) -> None:
    async with pool.acquire() as conn:
        by_id = await shifts.get_hospital(conn, hospital_id=seed.hospitals["vera_cruz"])
        assert by_id is not None and by_id.address == "Av. Andrade Neves, 402"
        for name in ("sao luiz", "Hospital São Luis Itaim", "SÃO LUIZ"):
            found = await shifts.get_hospital(conn, name=name)
            assert found is not None and found.id == seed.hospitals["sao_luiz"], name
        assert found.notes == "Estacionamento conveniado na rua de trás"
        assert await shifts.get_hospital(conn, name="Albert Einstein") is None
        assert await shifts.get_hospital(conn, hospital_id=999_999) is None
        assert await shifts.get_hospital(conn) is None


async def test_reserve_then_idempotent_then_unavailable_to_others(
    pool: asyncpg.Pool, seed: Seed
) -> None:
    ana, bruno, _ = seed.doctors
    shift_id = seed.shifts["cm_day"]
    async with pool.acquire() as conn:
        first = await shifts.reserve(conn, shift_id=shift_id, doctor_id=ana, now=NOW)
        assert (first.ok, first.reason) == (True, "reservado")
        assert first.shift is not None and first.shift.status == "reservado"
        again = await shifts.reserve(conn, shift_id=shift_id, doctor_id=ana, now=NOW)
        assert (again.ok, again.reason) == (True, "ja_reservado_por_voce")
        other = await shifts.reserve(conn, shift_id=shift_id, doctor_id=bruno, now=NOW)
        assert (other.ok, other.reason) == (False, "indisponivel")
        row = await conn.fetchrow(
            "SELECT status, reserved_doctor_id, reserved_at FROM shifts WHERE id = $1", shift_id
        )
        assert dict(row) == {"status": "reservado", "reserved_doctor_id": ana, "reserved_at": NOW}
        missing = await shifts.reserve(conn, shift_id=999_999, doctor_id=ana, now=NOW)
        assert (missing.ok, missing.reason, missing.shift) == (False, "nao_encontrado", None)
        # a shift that already started, or was cancelled, cannot be reserved
        for key in ("past", "cancelled"):
            late = await shifts.reserve(conn, shift_id=seed.shifts[key], doctor_id=ana, now=NOW)
            assert (late.ok, late.reason) == (False, "indisponivel")
    assert "cm_day" not in await search(pool, seed)


async def test_two_doctors_racing_for_one_shift_exactly_one_wins(
    database_url: str, pool: asyncpg.Pool, seed: Seed
) -> None:
    ana, bruno, _ = seed.doctors
    shift_id = seed.shifts["cm_night"]
    first, second = await connect(database_url), await connect(database_url)
    try:
        tx1, tx2 = first.transaction(), second.transaction()
        await tx1.start()
        await tx2.start()
        won = await shifts.reserve(first, shift_id=shift_id, doctor_id=ana, now=NOW)
        # Bruno's UPDATE waits on Ana's row lock...
        racing = asyncio.create_task(
            shifts.reserve(second, shift_id=shift_id, doctor_id=bruno, now=NOW)
        )
        await asyncio.sleep(0.2)
        assert not racing.done()
        await tx1.commit()
        # ...and once she commits, finds the shift taken.
        lost = await racing
        await tx2.commit()
    finally:
        await first.close()
        await second.close()
    assert (won.ok, won.reason) == (True, "reservado")
    assert (lost.ok, lost.reason) == (False, "indisponivel")
    holder = await pool.fetchval("SELECT reserved_doctor_id FROM shifts WHERE id = $1", shift_id)
    assert holder == ana


async def test_concurrent_reservations_have_a_single_winner(
    database_url: str, pool: asyncpg.Pool, seed: Seed
) -> None:
    shift_id = seed.shifts["go"]
    conns = [await connect(database_url) for _ in seed.doctors]
    try:
        results = await asyncio.gather(
            *(
                shifts.reserve(conn, shift_id=shift_id, doctor_id=doctor_id, now=NOW)
                for conn, doctor_id in zip(conns, seed.doctors, strict=True)
            )
        )
    finally:
        for conn in conns:
            await conn.close()
    assert sorted(r.reason for r in results) == ["indisponivel", "indisponivel", "reservado"]
    winner = next(d for d, r in zip(seed.doctors, results, strict=True) if r.ok)
    holder = await pool.fetchval("SELECT reserved_doctor_id FROM shifts WHERE id = $1", shift_id)
    assert holder == winner
