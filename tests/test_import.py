"""CSV import of hospitals, doctors and shifts, end to end: `julia import` and
POST /api/v1/import/{kind} on the real Postgres, as an operator would use them."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from app.core.config import Settings
from tests.support.julia import api_client
from tests.support.processes import ROOT, base_env

SECRET = "import-test-secret-long-enough-for-hs512-0123456789abcdef0123456789"
OPERATOR = "ana@revoluna.com.br"
CSV = {"Content-Type": "text/csv"}

HOSPITALS = """\
nome,cidade,uf,regiao,endereco,observacoes
Hospital São Luiz Itaim,São Paulo,SP,Zona Sul,"Rua Dr. Alceu de Campos Rodrigues, 95",Estacionamento
Hospital Vera Cruz,Campinas,São Paulo,Campinas,"Av. Andrade Neves, 402",
Hospital Santa Paula,São Paulo,sp,Zona Sul,,
"""

DOCTORS = """\
telefone,nome,crm,crm_uf,especialidade,cidade,uf,regiao,observacoes
(11) 98765-4321,Dra. Ana Souza,CRM 123.456,SP,clinica medica,São Paulo,SP,Zona Sul,
+55 19 98765-0003,Dra. Carla Mendes,345678,SP,Pediatria,Campinas,SP,Campinas,prefere noturno
011 98765-0002,Dr. Bruno Lima,,,clínico geral,,,,
"""

SHIFTS = """\
id,hospital,cidade,especialidade,setor,data,inicio,fim,valor,prioridade
P-1,hospital sao luiz itaim,São Paulo,Clínica Médica,PS adulto,15/03/2031,07:00,19:00,R$ 1.800,1
P-2,Hospital São Luiz Itaim,,clinica medica,PS adulto,15/03/2031,19:00,07:00,2100,
P-3,Hospital Vera Cruz,Campinas,Pediatria,Enfermaria,2031-03-16,7h,7h,a combinar,
"""


def bearer(role: str | None = "operator", *, key: str = SECRET) -> dict[str, str]:
    claims: dict[str, Any] = {"sub": OPERATOR, "exp": int(time.time()) + 600}
    if role is not None:
        claims["role"] = role
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm='HS256')}"}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The test's database, with the specialties an operator would have registered."""
    conn = await asyncpg.connect(database_url)
    await conn.execute(
        """INSERT INTO specialties (name, aliases) VALUES
           ('Clínica Médica', '{clinico geral}'), ('Pediatria', '{}'), ('Ortopedia', '{}')"""
    )
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def client(
    make_settings: Any, database_url: str, redis_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, in-process, with dashboard auth on."""
    api_settings: Settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, JWT_SECRET_KEY=SECRET
    )
    async with api_client(api_settings) as c:
        yield c


async def post(
    client: httpx.AsyncClient, kind: str, text: str, *, dry_run: bool = False
) -> dict[str, Any]:
    params = {"dry_run": "true"} if dry_run else {}
    response = await client.post(
        f"/api/v1/import/{kind}", content=text.encode(), headers=CSV | bearer(), params=params
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def counts(report: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """(total, inserted, updated, unchanged, rejected)."""
    return (
        report["total"],
        report["inserted"],
        report["updated"],
        report["unchanged"],
        len(report["rejected"]),
    )


def rejected(report: dict[str, Any]) -> list[tuple[int, str]]:
    return [(r["line"], r["reason"]) for r in report["rejected"]]


async def snapshot(db: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    """Every column of every imported table, ids and updated_at included."""
    return {
        table: [dict(r) for r in await db.fetch(f"SELECT * FROM {table} ORDER BY id")]
        for table in ("hospitals", "doctors", "shifts")
    }


async def import_all(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return [
        await post(client, "hospitals", HOSPITALS),
        await post(client, "doctors", DOCTORS),
        await post(client, "shifts", SHIFTS),
    ]


def utc(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# ---------------------------------------------------------------------------------------
# What the files become
# ---------------------------------------------------------------------------------------


async def test_hospitals_then_doctors_then_shifts(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    hospitals, doctors, shifts = await import_all(client)
    for report, kind in ((hospitals, "hospitals"), (doctors, "doctors"), (shifts, "shifts")):
        assert report["kind"] == kind and report["error"] is None
        assert counts(report) == (3, 3, 0, 0, 0)
        assert report["dry_run"] is False and report["ignored_columns"] == []

    assert [
        tuple(r)
        for r in await db.fetch(
            "SELECT name, city, state, region, address, notes FROM hospitals ORDER BY id"
        )
    ] == [
        (
            "Hospital São Luiz Itaim",
            "São Paulo",
            "SP",
            "Zona Sul",
            "Rua Dr. Alceu de Campos Rodrigues, 95",
            "Estacionamento",
        ),
        ("Hospital Vera Cruz", "Campinas", "SP", "Campinas", "Av. Andrade Neves, 402", None),
        ("Hospital Santa Paula", "São Paulo", "SP", "Zona Sul", None, None),
    ]

    # Phones as WhatsApp knows them (E.164 digits); specialties found by name or alias,
    # whatever the accents and case.
    assert [
        tuple(r)
        for r in await db.fetch(
            """SELECT d.phone, d.name, d.crm, d.crm_uf, sp.name, d.city, d.state, d.notes,
                      d.source
               FROM doctors d LEFT JOIN specialties sp ON sp.id = d.specialty_id
               ORDER BY d.id"""
        )
    ] == [
        (
            "5511987654321",
            "Dra. Ana Souza",
            "123456",
            "SP",
            "Clínica Médica",
            "São Paulo",
            "SP",
            None,
            f"csv:dashboard:{OPERATOR}",
        ),
        (
            "5519987650003",
            "Dra. Carla Mendes",
            "345678",
            "SP",
            "Pediatria",
            "Campinas",
            "SP",
            "prefere noturno",
            f"csv:dashboard:{OPERATOR}",
        ),
        (
            "5511987650002",
            "Dr. Bruno Lima",
            None,
            None,
            "Clínica Médica",
            None,
            None,
            None,
            f"csv:dashboard:{OPERATOR}",
        ),
    ]

    # Local times (America/Sao_Paulo, UTC-3) stored as instants; a night shift ends the next
    # morning, equal times are 24 h; the period follows from the times when not given.
    rows = await db.fetch(
        """SELECT s.external_ref, h.name AS hospital, sp.name AS specialty, s.sector,
                  s.starts_at, s.ends_at, s.period, s.pay_cents, s.pay_note, s.priority,
                  s.status
           FROM shifts s JOIN hospitals h ON h.id = s.hospital_id
                JOIN specialties sp ON sp.id = s.specialty_id
           ORDER BY s.id"""
    )
    assert [tuple(r) for r in rows] == [
        (
            "P-1",
            "Hospital São Luiz Itaim",
            "Clínica Médica",
            "PS adulto",
            utc(2031, 3, 15, 10),
            utc(2031, 3, 15, 22),
            "diurno",
            180000,
            None,
            1,
            "aberto",
        ),
        (
            "P-2",
            "Hospital São Luiz Itaim",
            "Clínica Médica",
            "PS adulto",
            utc(2031, 3, 15, 22),
            utc(2031, 3, 16, 10),
            "noturno",
            210000,
            None,
            0,
            "aberto",
        ),
        (
            "P-3",
            "Hospital Vera Cruz",
            "Pediatria",
            "Enfermaria",
            utc(2031, 3, 16, 10),
            utc(2031, 3, 17, 10),
            "integral",
            None,
            "a combinar",
            0,
            "aberto",
        ),
    ]


async def test_excel_export_with_semicolons_bom_and_portuguese_headers(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """What "Salvar como CSV UTF-8" in a Brazilian Excel produces."""
    await post(client, "hospitals", HOSPITALS)
    text = (
        "\ufeffHospital;Especialidade;Setor;Data;Início;Término;Valor;Margem Negociação;"
        "Observações;Responsável\r\n"
        "Hospital Santa Paula;Ortopedia;PS ortopedia;20/03/2031;19h;7h;R$ 2.300,00;"
        'R$ 200,00;"RQE obrigatório;\r\nlevar carimbo";Marta\r\n'
    )
    report = await post(client, "shifts", text)
    assert counts(report) == (1, 1, 0, 0, 0)
    assert report["ignored_columns"] == ["Responsável"]
    row = await db.fetchrow(
        """SELECT s.sector, s.starts_at, s.ends_at, s.period, s.pay_cents,
                  s.negotiation_margin_cents, s.notes
           FROM shifts s JOIN hospitals h ON h.id = s.hospital_id
           WHERE h.name = 'Hospital Santa Paula'"""
    )
    assert row is not None
    assert tuple(row) == (
        "PS ortopedia",
        utc(2031, 3, 20, 22),
        utc(2031, 3, 21, 10),
        "noturno",
        230000,
        20000,
        "RQE obrigatório;\r\nlevar carimbo",
    )


# ---------------------------------------------------------------------------------------
# Bad rows
# ---------------------------------------------------------------------------------------


async def test_bad_hospitals_and_doctors_are_refused_by_line_and_column(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    hospitals = await post(
        client,
        "hospitals",
        "nome,cidade,uf\n"
        "Hospital Santa Paula,São Paulo,SP\n"
        "Hospital Sírio-Libanês,,SP\n"
        "Hospital Vera Cruz,Campinas,XX\n"
        "HOSPITAL SANTA PAULA,sao paulo,SP\n"
        "Hospital Sírio-Libanês,São Paulo,SP\n",
    )
    assert counts(hospitals) == (5, 2, 0, 0, 3)
    assert rejected(hospitals) == [
        (3, "cidade em branco"),
        (4, "uf inválida: 'XX'"),
        (5, "duplicado da linha 2"),
    ]
    assert await db.fetchval("SELECT count(*) FROM hospitals") == 2

    doctors = await post(
        client,
        "doctors",
        "telefone,nome,especialidade,uf\n"
        "11 98765-4321,Ana,Clínica Médica,SP\n"
        "12345,Bruno,Pediatria,SP\n"
        "11 98765-0002,Carla,Cardiologia,SP\n"
        "5511987654321,Ana de novo,,SP\n"
        "11 98765-0005,Davi,,XX\n"
        "11 98765-0006,Eva,Pediatria,Rio de Janeiro,\n"
        "11 98765-0007,Fábio,Pediatria,SP,,extra\n",
    )
    assert counts(doctors) == (7, 2, 0, 0, 5)
    assert rejected(doctors) == [
        (3, "telefone inválido: '12345'"),
        (4, "especialidade desconhecida: 'Cardiologia'"),
        (5, "duplicado da linha 2"),
        (6, "uf inválida: 'XX'"),
        (8, "a linha tem 6 colunas e o cabeçalho 4 (vírgula ou ponto e vírgula fora de aspas?)"),
    ]
    assert [tuple(r) for r in await db.fetch("SELECT phone, name, state FROM doctors")] == [
        ("5511987654321", "Ana", "SP"),
        ("5511987650006", "Eva", "RJ"),
    ]


async def test_bad_shifts_are_refused_by_line_and_column(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await post(client, "hospitals", HOSPITALS)
    report = await post(
        client,
        "shifts",
        "hospital,especialidade,data,inicio,fim,valor\n"
        "Hospital São Luiz Itaim,Clínica Médica,15/03/2031,07:00,19:00,1800\n"
        "Hospital Inexistente,Clínica Médica,15/03/2031,07:00,19:00,1800\n"
        "Hospital São Luiz Itaim,Clínica Médica,31/02/2031,07:00,19:00,1800\n"
        "Hospital São Luiz Itaim,Clínica Médica,16/03/2031,25:00,19:00,1800\n"
        "Hospital São Luiz Itaim,Clínica Médica,16/03/2031,07:00,19:00,mil reais\n"
        "hospital sao luiz itaim,clinica medica,15/03/2031,07:00,13:00,900\n"
        "Hospital São Luiz Itaim,Neurocirurgia,17/03/2031,07:00,19:00,1800\n"
        "Hospital São Luiz Itaim,Clínica Médica,17/03/2031,07:00,19:00,1.800,00\n"
        "Hospital Vera Cruz,Pediatria,17/03/2031,19:00,07:00,2000\n",
    )
    assert counts(report) == (9, 2, 0, 0, 7)
    assert rejected(report) == [
        (3, "hospital não encontrado: 'Hospital Inexistente'"),
        (4, "data inválida: '31/02/2031'"),
        (5, "início inválido: '25:00'"),
        (6, "valor inválido: 'mil reais'"),
        (7, "duplicado da linha 2"),
        (8, "especialidade desconhecida: 'Neurocirurgia'"),
        (9, "a linha tem 7 colunas e o cabeçalho 6 (vírgula ou ponto e vírgula fora de aspas?)"),
    ]
    assert [
        tuple(r)
        for r in await db.fetch(
            """SELECT h.name, s.starts_at, s.pay_cents FROM shifts s
               JOIN hospitals h ON h.id = s.hospital_id ORDER BY s.starts_at"""
        )
    ] == [
        ("Hospital São Luiz Itaim", utc(2031, 3, 15, 10), 180000),
        ("Hospital Vera Cruz", utc(2031, 3, 17, 22), 200000),
    ]


async def test_a_missing_required_column_imports_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    report = await post(client, "doctors", "nome,celular_errado\nDra. Ana,11987654321\n")
    assert report["error"] == (
        "faltam colunas obrigatórias no cabeçalho: telefone "
        "(nomes aceitos: telefone: telefone / phone / celular / whatsapp)"
    )
    assert counts(report) == (0, 0, 0, 0, 0)

    report = await post(client, "shifts", "hospital,especialidade,data\nX,Y,15/03/2031\n")
    assert report["error"] is not None
    assert report["error"].startswith("faltam colunas obrigatórias no cabeçalho: inicio, fim")
    assert await snapshot(db) == {"hospitals": [], "doctors": [], "shifts": []}


# ---------------------------------------------------------------------------------------
# Importing again
# ---------------------------------------------------------------------------------------


async def test_importing_the_same_files_again_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await import_all(client)
    before = await snapshot(db)
    assert [len(rows) for rows in before.values()] == [3, 3, 3]

    for report in await import_all(client):
        assert counts(report) == (3, 0, 0, 3, 0)
    assert await snapshot(db) == before  # same rows, same ids, same updated_at


async def test_an_edited_row_updates_that_row_only(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await import_all(client)
    before = await snapshot(db)
    # Julia reserved P-1 for Ana meanwhile: a re-import must not undo that.
    await db.execute(
        """UPDATE shifts SET status = 'reservado', reserved_at = now(),
               reserved_doctor_id = (SELECT id FROM doctors WHERE phone = '5511987654321')
           WHERE external_ref = 'P-1'"""
    )

    hospitals = await post(
        client, "hospitals", HOSPITALS.replace("Av. Andrade Neves, 402", "Av. Andrade Neves, 410")
    )
    assert counts(hospitals) == (3, 0, 1, 2, 0)
    # A blank cell in a doctors file keeps what is known (Julia learns it in conversation too).
    doctors = await post(
        client,
        "doctors",
        DOCTORS.replace("Dr. Bruno Lima", "Dr. Bruno Lima Neto").replace(
            "Dra. Carla Mendes,345678", ",345678"
        ),
    )
    assert counts(doctors) == (3, 0, 1, 2, 0)
    # With an id, the id is the shift: its time and pay may change.
    shifts = await post(
        client,
        "shifts",
        SHIFTS.replace("R$ 1.800", "1900").replace(",19:00,07:00,2100", ",20:00,08:00,2100"),
    )
    assert counts(shifts) == (3, 0, 2, 1, 0)

    after = await snapshot(db)
    assert [len(rows) for rows in after.values()] == [3, 3, 3]
    assert [r["id"] for r in after["shifts"]] == [r["id"] for r in before["shifts"]]
    assert [r["address"] for r in after["hospitals"]] == [
        "Rua Dr. Alceu de Campos Rodrigues, 95",
        "Av. Andrade Neves, 410",
        None,
    ]
    assert [r["name"] for r in after["doctors"]] == [
        "Dra. Ana Souza",
        "Dra. Carla Mendes",
        "Dr. Bruno Lima Neto",
    ]
    p1, p2, p3 = after["shifts"]
    assert (p1["pay_cents"], p1["status"], p1["reserved_doctor_id"]) == (
        190000,
        "reservado",
        after["doctors"][0]["id"],
    )
    assert (p2["starts_at"], p2["ends_at"]) == (utc(2031, 3, 15, 23), utc(2031, 3, 16, 11))
    assert p3 == before["shifts"][2]


async def test_shifts_without_an_id_are_known_by_place_specialty_sector_and_start(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await post(client, "hospitals", HOSPITALS)
    file = (
        "hospital;especialidade;setor;data;inicio;fim;valor\n"
        "Hospital Santa Paula;Pediatria;PS infantil;20/03/2031;07:00;19:00;1900\n"
    )
    assert counts(await post(client, "shifts", file)) == (1, 1, 0, 0, 0)
    assert counts(await post(client, "shifts", file)) == (1, 0, 0, 1, 0)
    assert counts(await post(client, "shifts", file.replace("1900", "2000"))) == (1, 0, 1, 0, 0)
    assert [tuple(r) for r in await db.fetch("SELECT pay_cents FROM shifts")] == [(200000,)]


async def test_a_doctor_known_by_the_old_eight_digit_number_is_updated_not_duplicated(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    # WhatsApp reported this doctor without the ninth digit when she first wrote.
    await db.execute(
        "INSERT INTO doctors (phone, push_name, source) VALUES ('551187654321', 'Ana', 'inbound')"
    )
    report = await post(client, "doctors", "telefone,nome\n(11) 98765-4321,Dra. Ana Souza\n")
    assert counts(report) == (1, 0, 1, 0, 0)
    assert [tuple(r) for r in await db.fetch("SELECT phone, name, source FROM doctors")] == [
        ("551187654321", "Dra. Ana Souza", "inbound")
    ]


async def test_dry_run_reports_and_writes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    preview = await post(client, "hospitals", HOSPITALS, dry_run=True)
    assert preview["dry_run"] is True
    assert counts(preview) == (3, 3, 0, 0, 0)
    assert await snapshot(db) == {"hospitals": [], "doctors": [], "shifts": []}

    real = await post(client, "hospitals", HOSPITALS)
    assert counts(real) == counts(preview)
    before = await snapshot(db)
    edited = HOSPITALS.replace("Zona Sul,,", "Zona Oeste,,")
    assert counts(await post(client, "hospitals", edited, dry_run=True)) == (3, 0, 1, 2, 0)
    assert await snapshot(db) == before


# ---------------------------------------------------------------------------------------
# The API's door
# ---------------------------------------------------------------------------------------


async def test_api_refuses_what_is_not_a_utf8_csv_under_5_mb(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    url = "/api/v1/import/hospitals"
    response = await client.post(
        url, json={"nome": "Hospital"}, headers={"Content-Type": "application/json"} | bearer()
    )
    assert response.status_code == 415
    assert response.json()["detail"] == "send the CSV as text/csv or text/plain"

    big = HOSPITALS.encode() + b"x" * (5 * 1024 * 1024)
    response = await client.post(url, content=big, headers=CSV | bearer())
    assert response.status_code == 413
    assert response.json()["detail"] == "arquivo maior que 5 MB; divida-o em partes"

    latin1 = HOSPITALS.encode("latin-1")  # "São Paulo" as an old Excel saves it
    response = await client.post(url, content=latin1, headers=CSV | bearer())
    assert response.status_code == 400
    assert "não está em UTF-8" in response.json()["detail"]
    assert "CSV UTF-8" in response.json()["detail"]

    plain = {"Content-Type": "text/plain; charset=utf-8"}
    response = await client.post(url, content=HOSPITALS.encode(), headers=plain | bearer())
    assert response.status_code == 200 and response.json()["inserted"] == 3
    assert await db.fetchval("SELECT count(*) FROM hospitals") == 3


async def test_api_import_needs_an_operator(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    url = "/api/v1/import/hospitals"
    body = HOSPITALS.encode()
    assert (await client.post(url, content=body, headers=CSV)).status_code == 401
    forged = CSV | bearer(key="not-the-secret-" * 5)
    assert (await client.post(url, content=body, headers=forged)).status_code == 401
    for role in ("viewer", None):
        response = await client.post(url, content=body, headers=CSV | bearer(role))
        assert response.status_code == 403
    assert await db.fetchval("SELECT count(*) FROM hospitals") == 0


# ---------------------------------------------------------------------------------------
# `julia import`
# ---------------------------------------------------------------------------------------


async def julia_import(
    database_url: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`python -m app import ARGS` in a child process, as an operator runs it."""
    env = base_env(DATABASE_URL=database_url, JULIA_DATA_DIR=str(tmp_path / ".julia"))
    return await asyncio.to_thread(
        subprocess.run,
        ["python", "-m", "app", "import", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def printed_report(stdout: str) -> list[str]:
    """The report: the last lines of stdout, from its title on (log lines come before)."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Importação de ")]
    assert starts, stdout
    return lines[starts[-1] :]


async def test_cli_imports_and_prints_the_report(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    (tmp_path / "hospitais.csv").write_text(HOSPITALS, encoding="utf-8")
    medicos = tmp_path / "medicos.csv"
    medicos.write_text(DOCTORS + "12345,Dr. Sem Número,,,,,,,\n", encoding="utf-8")

    done = await julia_import(database_url, tmp_path, "hospitals", str(tmp_path / "hospitais.csv"))
    assert done.returncode == 0, done.stderr
    assert printed_report(done.stdout) == [
        "Importação de hospitais (hospitais.csv): 3 linha(s) lida(s)",
        "  inseridas:   3",
        "  atualizadas: 0",
        "  sem mudança: 0",
        "  recusadas:   0",
    ]

    done = await julia_import(database_url, tmp_path, "doctors", str(medicos))
    assert done.returncode == 0, done.stderr  # refused rows do not fail the command
    assert printed_report(done.stdout) == [
        "Importação de médicos (medicos.csv): 4 linha(s) lida(s)",
        "  inseridas:   3",
        "  atualizadas: 0",
        "  sem mudança: 0",
        "  recusadas:   1",
        "Linhas recusadas:",
        "  linha 5: telefone inválido: '12345'",
    ]
    assert {r["source"] for r in await db.fetch("SELECT source FROM doctors")} == {
        "csv:medicos.csv"
    }

    done = await julia_import(database_url, tmp_path, "doctors", str(medicos))
    assert done.returncode == 0
    assert printed_report(done.stdout)[1:5] == [
        "  inseridas:   0",
        "  atualizadas: 0",
        "  sem mudança: 3",
        "  recusadas:   1",
    ]


async def test_cli_dry_run_and_files_it_cannot_use(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    good = tmp_path / "hospitais.csv"
    good.write_text(HOSPITALS, encoding="utf-8")
    done = await julia_import(database_url, tmp_path, "hospitals", str(good), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert printed_report(done.stdout) == [
        "Importação de hospitais (hospitais.csv): 3 linha(s) lida(s)",
        "  inseridas:   3",
        "  atualizadas: 0",
        "  sem mudança: 0",
        "  recusadas:   0",
        "Simulação (--dry-run): nada foi gravado.",
    ]
    assert await db.fetchval("SELECT count(*) FROM hospitals") == 0

    no_city = tmp_path / "sem_cidade.csv"
    no_city.write_text("nome,uf\nHospital Santa Paula,SP\n", encoding="utf-8")
    done = await julia_import(database_url, tmp_path, "hospitals", str(no_city))
    assert done.returncode == 1
    assert "Importação" not in done.stdout
    assert done.stderr.strip() == (
        "ERROR: sem_cidade.csv: faltam colunas obrigatórias no cabeçalho: cidade "
        "(nomes aceitos: cidade: cidade / city / municipio); nada foi importado"
    )

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(HOSPITALS.encode("latin-1"))
    done = await julia_import(database_url, tmp_path, "hospitals", str(latin1))
    assert done.returncode == 1
    assert "ERROR: latin1.csv não está em UTF-8" in done.stderr

    done = await julia_import(database_url, tmp_path, "hospitals", str(tmp_path / "nao_existe.csv"))
    assert done.returncode == 1
    assert "ERROR: não consegui ler" in done.stderr
    assert await db.fetchval("SELECT count(*) FROM hospitals") == 0
