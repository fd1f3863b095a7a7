"""The agent's tools: definitions, happy paths and the model's bad inputs."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from app.core.db import create_pool
from app.domain.agent import tools
from app.domain.agent.tools import (
    TOOL_DEFINITIONS,
    ToolContext,
    ToolOutcome,
    pay_text,
    run_tool,
)
from app.domain.doctors import repository as doctors
from app.domain.shifts import repository as shifts
from app.domain.voice.formatting import format_brl
from tests.domain.test_memory import FailingEmbedder, FakeEmbedder
from tests.domain.test_shifts_repository import NOW, TZ, Seed, seed_data

NAMES = [
    "search_shifts",
    "hospital_info",
    "reserve_shift",
    "save_memory",
    "update_profile",
    "request_human",
    "schedule_reminder",
]


@dataclasses.dataclass
class World:
    pool: asyncpg.Pool
    seed: Seed
    conversation_id: int

    def ctx(self, doctor: int = 0, **overrides: Any) -> ToolContext:
        values: dict[str, Any] = {
            "db": self.pool,
            "doctor_id": self.seed.doctors[doctor],
            "conversation_id": self.conversation_id,
            "now": NOW,
            "tz": TZ,
            "embedder": FakeEmbedder(),
        }
        values.update(overrides)
        return ToolContext(**values)


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    pool = await create_pool(database_url, max_size=4)
    async with pool.acquire() as conn:
        seed = await seed_data(conn)
        conversation_id = await conn.fetchval(
            "INSERT INTO conversations (doctor_id) VALUES ($1) RETURNING id", seed.doctors[0]
        )
    yield World(pool=pool, seed=seed, conversation_id=conversation_id)
    await pool.close()


async def call(ctx: ToolContext, name: str, tool_input: Any) -> tuple[ToolOutcome, Any]:
    outcome = await run_tool(ctx, name, tool_input)
    return outcome, json.loads(outcome.content)


async def rejected(ctx: ToolContext, name: str, tool_input: Any) -> str:
    outcome, body = await call(ctx, name, tool_input)
    assert outcome.is_error, body
    assert (outcome.handoff_reason, outcome.reserved_shift_id) == (None, None)
    message: str = body["error"]
    return message


# --- definitions -------------------------------------------------------------------------


def test_definitions_are_well_formed() -> None:
    assert [t["name"] for t in TOOL_DEFINITIONS] == NAMES
    for tool in TOOL_DEFINITIONS:
        assert set(tool) == {"name", "description", "input_schema"}
        assert len(tool["description"]) > 80
        schema = tool["input_schema"]
        assert schema["type"] == "object"
        assert set(schema.get("required", [])) <= set(schema["properties"])
    by_name = {t["name"]: t["input_schema"] for t in TOOL_DEFINITIONS}
    assert by_name["search_shifts"]["properties"]["period"]["enum"] == [
        "diurno",
        "noturno",
        "integral",
    ]
    assert by_name["save_memory"]["properties"]["kind"]["enum"] == [
        "preferencia",
        "disponibilidade",
        "restricao",
        "localizacao",
        "qualificacao",
        "outro",
    ]
    assert by_name["reserve_shift"]["required"] == ["shift_id"]


async def test_definitions_are_byte_stable(world: World) -> None:
    before = json.dumps(TOOL_DEFINITIONS, ensure_ascii=False)
    snapshot = copy.deepcopy(TOOL_DEFINITIONS)
    ctx = world.ctx()
    await run_tool(ctx, "search_shifts", {"specialty": "clinico"})
    await run_tool(ctx, "update_profile", {"preferences": {"periodos": ["noturno"]}})
    assert json.dumps(TOOL_DEFINITIONS, ensure_ascii=False) == before
    assert snapshot == TOOL_DEFINITIONS
    assert tools.TOOL_DEFINITIONS is TOOL_DEFINITIONS


async def test_unknown_tool_and_non_object_input(world: World) -> None:
    message = await rejected(world.ctx(), "book_flight", {})
    assert "unknown tool" in message and "search_shifts" in message
    assert "JSON object" in await rejected(world.ctx(), "search_shifts", ["pediatria"])


# --- money and dates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "R$ 0"),
        (99, "R$ 0,99"),
        (180000, "R$ 1.800"),
        (180050, "R$ 1.800,50"),
        (12345678, "R$ 123.456,78"),
        (100000000, "R$ 1.000.000"),
    ],
)
def test_format_brl(cents: int, text: str) -> None:
    assert format_brl(cents) == text


async def test_pay_text_variants(world: World) -> None:
    async with world.pool.acquire() as conn:
        shift = await shifts.get_shift(conn, world.seed.shifts["cm_day"])
    assert shift is not None
    blank = dataclasses.replace(
        shift, pay_cents=None, pay_min_cents=None, pay_max_cents=None, pay_note=None
    )
    assert pay_text(dataclasses.replace(blank, pay_cents=180000)) == "R$ 1.800"
    assert pay_text(dataclasses.replace(blank, pay_min_cents=150000, pay_max_cents=200000)) == (
        "R$ 1.500 a R$ 2.000"
    )
    assert pay_text(dataclasses.replace(blank, pay_min_cents=150000, pay_max_cents=150000)) == (
        "R$ 1.500"
    )
    assert pay_text(dataclasses.replace(blank, pay_min_cents=150000)) == "a partir de R$ 1.500"
    assert pay_text(dataclasses.replace(blank, pay_max_cents=200000)) == "até R$ 2.000"
    assert pay_text(blank) == "a combinar"
    assert pay_text(dataclasses.replace(blank, pay_note="a combinar")) == "a combinar"
    with_margin = dataclasses.replace(
        blank, pay_min_cents=150000, pay_max_cents=200000, negotiation_margin_cents=25050
    )
    assert tools.negotiation_ceiling_cents(with_margin) == 225050
    assert tools.quotable_cents(with_margin) == {150000, 200000, 225050}
    assert tools.negotiation_ceiling_cents(blank) is None
    assert tools.quotable_cents(blank) == set()


# --- search_shifts -----------------------------------------------------------------------


async def test_search_shifts_formats_for_the_doctor(world: World) -> None:
    outcome, body = await call(world.ctx(), "search_shifts", {"specialty": "pediatra"})
    assert not outcome.is_error
    assert body["specialty_matched"] == ["Pediatria"]
    assert body["shifts"] == [
        {
            "id": world.seed.shifts["ped"],
            "hospital_id": world.seed.hospitals["norte"],
            "hospital": "Hospital Vila Nova",
            "city": "São Paulo/SP",
            "region": "Zona Norte",
            "specialty": "Pediatria",
            "date": "14/03 (sábado)",
            "time": "07h–19h",
            "duration": "12h",
            "period": "diurno",
            "pay": "R$ 1.500 a R$ 2.000",
        }
    ]
    assert outcome.quotable_cents == {150000, 200000}
    assert "hint" not in body


async def test_search_shifts_margin_night_and_a_combinar(world: World) -> None:
    outcome, body = await call(
        world.ctx(), "search_shifts", {"period": "Noturno", "min_pay_reais": "1800"}
    )
    assert [s["id"] for s in body["shifts"]] == [
        world.seed.shifts["cm_night"],
        world.seed.shifts["go"],
    ]
    night, go = body["shifts"]
    assert (night["pay"], night["negotiation"]) == ("R$ 2.100", "pode subir até R$ 2.300")
    assert (night["time"], night["date"]) == ("19h–07h", "12/03 (quinta)")
    assert (go["pay"], go["negotiation"]) == ("R$ 1.700", "pode subir até R$ 1.900")
    assert outcome.quotable_cents == {210000, 230000, 170000, 190000}

    outcome, body = await call(world.ctx(), "search_shifts", {"place": "Campinas"})
    late = next(s for s in body["shifts"] if s["id"] == world.seed.shifts["orto_late"])
    assert (late["time"], late["duration"], late["pay"]) == ("23h30–07h30", "8h", "a combinar")
    assert "negotiation" not in late
    full = next(s for s in body["shifts"] if s["id"] == world.seed.shifts["cm_24h"])
    assert (full["time"], full["duration"], full["pay"]) == ("07h–07h", "24h", "R$ 3.600")
    assert outcome.quotable_cents == {360000}


async def test_search_shifts_dates_and_empty_result(world: World) -> None:
    _, body = await call(
        world.ctx(), "search_shifts", {"date_from": "2026-03-14", "date_to": "2026-03-14"}
    )
    assert [s["id"] for s in body["shifts"]] == [
        world.seed.shifts["ped"],
        world.seed.shifts["orto_late"],
    ]
    outcome, body = await call(
        world.ctx(), "search_shifts", {"specialty": "ortopedia", "place": "Zona Sul"}
    )
    assert not outcome.is_error
    assert body["shifts"] == [] and "invent" in body["hint"]
    assert outcome.quotable_cents == set()


@pytest.mark.parametrize(
    ("tool_input", "fragment"),
    [
        ({"specialty": 123}, "'specialty' must be a string"),
        ({"specialty": "dermatologia"}, "unknown specialty"),
        ({"date_from": "14/03/2026"}, "YYYY-MM-DD"),
        ({"date_to": "2026-02-30"}, "YYYY-MM-DD"),
        ({"date_from": "2026-03-20", "date_to": "2026-03-10"}, "before"),
        ({"period": "madrugada"}, "diurno, noturno, integral"),
        ({"min_pay_reais": "muito"}, "number of reais"),
        ({"min_pay_reais": -5}, "negative"),
        ({"min_pay_reais": True}, "number of reais"),
    ],
)
async def test_search_shifts_bad_input(
    world: World, tool_input: dict[str, Any], fragment: str
) -> None:
    message = await rejected(world.ctx(), "search_shifts", tool_input)
    assert fragment in message
    if fragment == "unknown specialty":
        assert "Pediatria" in message  # the model can pick a real one


# --- hospital_info -----------------------------------------------------------------------


async def test_hospital_info(world: World) -> None:
    outcome, body = await call(
        world.ctx(), "hospital_info", {"hospital_id": world.seed.hospitals["sao_luiz"]}
    )
    assert not outcome.is_error
    assert body == {
        "id": world.seed.hospitals["sao_luiz"],
        "name": "Hospital São Luiz Itaim",
        "city": "São Paulo/SP",
        "region": "Zona Sul",
        "address": "Rua Dr. Alceu, 95",
        "notes": "Estacionamento conveniado na rua de trás",
    }
    _, body = await call(world.ctx(), "hospital_info", {"name": "vera cruz"})
    assert body["address"] == "Av. Andrade Neves, 402"
    # no address on file: the key is absent, nothing made up
    _, body = await call(world.ctx(), "hospital_info", {"name": "Vila Nova"})
    assert body["name"] == "Hospital Vila Nova" and "address" not in body
    # a stale id with a good name still finds it
    _, body = await call(
        world.ctx(), "hospital_info", {"hospital_id": 999_999, "name": "Municipal"}
    )
    assert body["id"] == world.seed.hospitals["abc"]


@pytest.mark.parametrize(
    ("tool_input", "fragment"),
    [
        ({}, "hospital_id"),
        ({"hospital_id": "abc"}, "integer"),
        ({"hospital_id": 999_999}, "not found"),
        ({"name": "Albert Einstein"}, "not found"),
    ],
)
async def test_hospital_info_bad_input(
    world: World, tool_input: dict[str, Any], fragment: str
) -> None:
    assert fragment in await rejected(world.ctx(), "hospital_info", tool_input)


# --- reserve_shift -----------------------------------------------------------------------


async def test_reserve_shift(world: World) -> None:
    shift_id = world.seed.shifts["cm_night"]
    outcome, body = await call(world.ctx(), "reserve_shift", {"shift_id": shift_id})
    assert not outcome.is_error
    assert outcome.reserved_shift_id == shift_id
    assert (body["ok"], body["status"]) == (True, "reservado")
    assert "confirm" in body["message"] and body["shift"]["pay"] == "R$ 2.100"
    assert outcome.quotable_cents == {210000, 230000}
    reservation = await world.pool.fetchrow(
        "SELECT code, status, conversation_id FROM reservations WHERE shift_id = $1", shift_id
    )
    assert reservation["status"] == "pendente" and len(reservation["code"]) == 5
    assert reservation["conversation_id"] == world.conversation_id

    outcome, body = await call(world.ctx(), "reserve_shift", {"shift_id": str(shift_id)})
    assert (body["ok"], body["status"], outcome.reserved_shift_id) == (
        True,
        "ja_reservado_por_voce",
        shift_id,
    )

    outcome, body = await call(world.ctx(doctor=1), "reserve_shift", {"shift_id": shift_id})
    assert not outcome.is_error
    assert (body["ok"], body["status"], outcome.reserved_shift_id) == (
        False,
        "indisponivel",
        None,
    )
    assert "search_shifts" in body["message"] and "no longer available" in body["message"]
    assert body["gone_shift"]["id"] == shift_id
    assert await world.pool.fetchval("SELECT count(*) FROM reservations") == 1
    holder = await world.pool.fetchval(
        "SELECT reserved_doctor_id FROM shifts WHERE id = $1", shift_id
    )
    assert holder == world.seed.doctors[0]


@pytest.mark.parametrize(
    ("tool_input", "fragment"),
    [
        ({}, "required"),
        ({"shift_id": "o do sábado"}, "integer"),
        ({"shift_id": True}, "integer"),
        ({"shift_id": 1.5}, "integer"),
        ({"shift_id": 999_999}, "no shift with id 999999"),
    ],
)
async def test_reserve_shift_bad_input(
    world: World, tool_input: dict[str, Any], fragment: str
) -> None:
    assert fragment in await rejected(world.ctx(), "reserve_shift", tool_input)


# --- save_memory -------------------------------------------------------------------------


async def test_save_memory(world: World) -> None:
    ctx = world.ctx()
    fact = {"kind": "preferencia", "content": "Prefere plantões noturnos"}
    outcome, body = await call(ctx, "save_memory", fact)
    assert (outcome.is_error, body) == (False, {"saved": True})
    outcome, body = await call(ctx, "save_memory", fact)
    assert (outcome.is_error, body["saved"]) == (False, False)
    row = await world.pool.fetchrow(
        "SELECT doctor_id, kind, content, embedding IS NOT NULL AS embedded FROM memories"
    )
    assert dict(row) == {
        "doctor_id": world.seed.doctors[0],
        "kind": "preferencia",
        "content": "Prefere plantões noturnos",
        "embedded": True,
    }
    # a broken embedder never costs the memory
    broken = world.ctx(embedder=FailingEmbedder())
    outcome, body = await call(broken, "save_memory", {"kind": "localizacao", "content": "Santos"})
    assert (outcome.is_error, body) == (False, {"saved": True})


@pytest.mark.parametrize(
    ("tool_input", "fragment"),
    [
        ({"content": "Prefere noite"}, "'kind' is required"),
        ({"kind": "hobby", "content": "Surfa"}, "must be one of"),
        ({"kind": "outro"}, "'content' is required"),
        ({"kind": "outro", "content": "   "}, "'content' is required"),
        ({"kind": "outro", "content": ["a", "b"]}, "must be a string"),
        ({"kind": "outro", "content": "x" * 501}, "too long"),
    ],
)
async def test_save_memory_bad_input(
    world: World, tool_input: dict[str, Any], fragment: str
) -> None:
    assert fragment in await rejected(world.ctx(), "save_memory", tool_input)


# --- update_profile ----------------------------------------------------------------------


async def test_update_profile(world: World) -> None:
    ctx = world.ctx()
    outcome, body = await call(
        ctx,
        "update_profile",
        {
            "name": "Dra. Ana Souza",
            "crm": "123.456",
            "crm_uf": "sp",
            "specialty": "pediatra",
            "city": "Campinas",
            "state": "SP",
            "region": "Campinas",
            "preferences": {"periodos": ["noturno"]},
        },
    )
    assert not outcome.is_error, body
    assert body["specialty"] == "Pediatria"
    assert set(body["updated"]) == {
        "name",
        "crm",
        "crm_uf",
        "specialty",
        "city",
        "state",
        "region",
        "preferences",
    }
    outcome, _ = await call(ctx, "update_profile", {"preferences": {"dias": ["sabado"]}})
    assert not outcome.is_error
    async with world.pool.acquire() as conn:
        doctor = await doctors.get(conn, world.seed.doctors[0])
    assert doctor is not None
    assert (doctor.name, doctor.crm, doctor.crm_uf, doctor.specialty) == (
        "Dra. Ana Souza",
        "123456",
        "SP",
        "Pediatria",
    )
    assert (doctor.city, doctor.state, doctor.region) == ("Campinas", "SP", "Campinas")
    assert doctor.preferences == {"periodos": ["noturno"], "dias": ["sabado"]}


@pytest.mark.parametrize(
    ("tool_input", "fragment"),
    [
        ({}, "nothing to update"),
        ({"nickname": "Aninha"}, "nothing to update"),
        ({"specialty": "dermatologia"}, "unknown specialty"),
        ({"state": "São Paulo"}, "too long"),
        ({"state": "XX"}, "UF"),
        ({"crm_uf": 35}, "must be a string"),
        ({"crm": "não sei"}, "CRM number"),
        ({"crm": ["1"]}, "digits"),
        ({"preferences": "noturno"}, "JSON object"),
        ({"preferences": {"x": "y" * 3000}}, "too large"),
        ({"name": 42}, "must be a string"),
    ],
)
async def test_update_profile_bad_input(
    world: World, tool_input: dict[str, Any], fragment: str
) -> None:
    assert fragment in await rejected(world.ctx(), "update_profile", tool_input)


async def test_update_profile_rejects_all_on_a_bad_specialty(world: World) -> None:
    await world.pool.execute("INSERT INTO specialties (name) VALUES ('Clínica Cirúrgica')")
    message = await rejected(
        world.ctx(), "update_profile", {"name": "Dr. Bruno", "specialty": "clinica"}
    )
    assert "ambiguous" in message and "Clínica Cirúrgica" in message
    assert "Clínica Médica" in message
    async with world.pool.acquire() as conn:
        doctor = await doctors.get(conn, world.seed.doctors[0])
    assert doctor is not None and doctor.name is None
    # the alias settles it
    outcome, body = await call(world.ctx(), "update_profile", {"specialty": "clinico geral"})
    assert (outcome.is_error, body["specialty"]) == (False, "Clínica Médica")


# --- request_human -----------------------------------------------------------------------


async def test_request_human(world: World) -> None:
    outcome, body = await call(
        world.ctx(), "request_human", {"reason": "perguntou se está falando com um robô"}
    )
    assert not outcome.is_error
    assert outcome.handoff_reason == "perguntou se está falando com um robô"
    assert body["ok"] is True and "colleague" in body["message"]
    assert "'reason' is required" in await rejected(world.ctx(), "request_human", {})
    assert "'reason' is required" in await rejected(world.ctx(), "request_human", {"reason": ""})


# --- schedule_reminder -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "due_at", "text"),
    [
        ("2026-03-16", datetime(2026, 3, 16, 9, 0, tzinfo=TZ), "16/03 (segunda) 09h"),
        ("2026-03-10T14:30", datetime(2026, 3, 10, 14, 30, tzinfo=TZ), "10/03 (terça) 14h30"),
        (
            "2026-03-10T17:30:00+00:00",
            datetime(2026, 3, 10, 14, 30, tzinfo=TZ),
            "10/03 (terça) 14h30",
        ),
        ("2026-03-09T12:05", datetime(2026, 3, 9, 12, 5, tzinfo=TZ), "09/03 (segunda) 12h05"),
    ],
)
async def test_schedule_reminder(world: World, when: str, due_at: datetime, text: str) -> None:
    outcome, body = await call(
        world.ctx(), "schedule_reminder", {"when": when, "note": "falar do plantão de sábado"}
    )
    assert not outcome.is_error, body
    assert (body["scheduled"], body["when"]) == (True, text)
    row = await world.pool.fetchrow("SELECT * FROM followups WHERE id = $1", body["id"])
    assert (row["kind"], row["status"], row["step"]) == ("lembrete", "agendado", None)
    assert (row["doctor_id"], row["conversation_id"]) == (
        world.seed.doctors[0],
        world.conversation_id,
    )
    assert row["due_at"] == due_at and row["note"] == "falar do plantão de sábado"


@pytest.mark.parametrize(
    ("tool_input", "fragment"),
    [
        ({"when": "2026-03-09T08:00", "note": "x"}, "in the past"),
        ({"when": "2026-03-09", "note": "x"}, "in the past"),  # 09:00 today is gone at noon
        ({"when": "2025-12-01", "note": "x"}, "in the past"),
        ({"when": "segunda que vem", "note": "x"}, "YYYY-MM-DD"),
        ({"when": "2026-13-01", "note": "x"}, "YYYY-MM-DD"),
        ({"when": "2028-01-01", "note": "x"}, "more than a year"),
        ({"when": "2026-03-16"}, "'note' is required"),
        ({"note": "x"}, "'when' is required"),
        ({"when": 20260316, "note": "x"}, "must be a string"),
    ],
)
async def test_schedule_reminder_bad_input(
    world: World, tool_input: dict[str, Any], fragment: str
) -> None:
    message = await rejected(world.ctx(), "schedule_reminder", tool_input)
    assert fragment in message
    if fragment == "in the past":
        assert "2026-03-09T12:00" in message  # tells the model what time it is
    assert await world.pool.fetchval("SELECT count(*) FROM followups") == 0
