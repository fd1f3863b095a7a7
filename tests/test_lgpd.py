"""LGPD end to end, as a doctor and an operator would notice it: an opt-out holds on every
path (under human control, recorded by an operator, after a campaign queued work), export
then erasure leaves nothing of the doctor but the suppression record (searched in every
table), and "quem te deu meu número?" is answered from where the contact came from.

The real app, ARQ worker, Postgres and Valkey; Anthropic, Evolution and Slack are the local
fake; campaigns run on a fake clock through the real gateway, as in tests/test_outreach.py.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import jwt
import pytest

from app.core.config import Settings
from app.core.resources import Resources, open_resources
from app.domain.imports.service import import_csv
from app.domain.inbox.detection import asks_number_source
from app.domain.operations.commands import parse_command, run_command
from app.domain.outbound import repository as sends
from app.domain.outreach import campaigns
from app.domain.privacy.repository import Provenance
from app.domain.privacy.service import record_opt_out, source_for_doctor, source_for_operator
from app.domain.voice.guardrails import check_reply
from tests.support.fake_vendors import text_reply, tool_call
from tests.support.julia import Julia, running_julia, vendor_settings
from tests.support.outreach import SP, WEDNESDAY_10H, FakeClock, gateway, phone, seed_world
from tests.support.processes import Proc, base_env
from tests.test_outreach import run_for, start_campaign
from tests.test_slack import SIGNING_SECRET, command

JWT_SECRET = "lgpd-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
PHONE = "5511987004455"
NAME = "Dra. Helena Quitéria Bastos"


def auth(role: str = "operator", sub: str = "ana@revoluna.com.br") -> dict[str, str]:
    claims = {"sub": sub, "role": role, "exp": int(time.time()) + 600}
    return {"Authorization": f"Bearer {jwt.encode(claims, JWT_SECRET, algorithm='HS256')}"}


@pytest.fixture
def lgpd_settings(make_settings: Any, database_url: str, redis_url: str, fake: Any) -> Settings:
    settings: Settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        **vendor_settings(fake.url),
        JWT_SECRET_KEY=JWT_SECRET,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_API_BASE_URL=fake.url + "/slack/api/",
        MULTI_CHIP_ENABLED=True,
    )
    return settings


@pytest.fixture
async def julia(lgpd_settings: Settings) -> AsyncIterator[Julia]:
    async with running_julia(lgpd_settings) as j:
        yield j


async def until(julia: Julia, sql: str, *args: Any, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not await julia.res.db.fetchval(sql, *args):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {sql}")
        await asyncio.sleep(0.05)


# Opt-out on every path -------------------------------------------------------------------


async def test_an_opt_out_written_while_a_person_holds_the_conversation_is_honoured(
    julia: Julia, fake: Any
) -> None:
    await julia.say(PHONE, "oi, tudo bem?")
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    row = await julia.res.db.fetchrow("SELECT id, doctor_id FROM conversations")
    conversation, doctor = row["id"], row["doctor_id"]
    taken = await julia.client.post(
        f"/api/v1/conversations/{conversation}/takeover", headers=auth()
    )
    assert taken.status_code == 200, taken.text
    # Work queued for the doctor after the takeover: a reminder they asked for, and a
    # proactive message already written.
    await julia.res.db.execute(
        """INSERT INTO followups (doctor_id, conversation_id, kind, due_at, note)
           VALUES ($1, $2, 'lembrete', now() + interval '1 day', 'me chama segunda')""",
        doctor,
        conversation,
    )
    queued = await sends.create(
        julia.res.db,
        key="teste:lembrete",
        kind="followup",
        proactive=True,
        doctor_id=doctor,
        to_phone=PHONE,
        body="oi! lembrei de vc, segue de pé o plantão de segunda?",
        conversation_id=conversation,
    )
    before = len(fake.evolution.sends)

    await julia.say(PHONE, "me tira da lista de vcs por favor")
    await until(julia, "SELECT opted_out_at IS NOT NULL FROM doctors WHERE id = $1", doctor)
    await fake.await_until(
        lambda: any("Opt-out registrado" in p["text"] for p in fake.slack.webhook_posts)
    )
    followup = await julia.res.db.fetchrow(
        "SELECT status, cancel_reason FROM followups WHERE doctor_id = $1", doctor
    )
    assert tuple(followup) == ("cancelado", "opt_out")
    # (The doctor's reply itself already stopped the queued proactive message.)
    send = await sends.get(julia.res.db, queued.id)
    assert send is not None and send.status == "cancelled"

    # Handed back to Julia, the doctor stays opted out: the gateway refuses anything
    # proactive, and a person, not Julia, answered the request.
    handed = await julia.client.post(
        f"/api/v1/conversations/{conversation}/handback", headers=auth()
    )
    assert handed.status_code == 200
    again = await sends.create(
        julia.res.db,
        key="teste:campanha",
        kind="campaign",
        proactive=True,
        doctor_id=doctor,
        to_phone=PHONE,
        body="oi! tenho um plantão noturno no São Luiz, topa?",
    )
    outcome = await gateway(julia.res, FakeClock()).deliver(again.id)
    assert (outcome.status, outcome.reason) == ("cancelled", "opt_out")
    assert len(fake.evolution.sends) == before


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(WEDNESDAY_10H)


@pytest.fixture
async def res(lgpd_settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(lgpd_settings) as resources:
        yield resources


async def test_opt_outs_recorded_by_operators_stop_queued_campaign_work_and_later_imports(
    res: Resources, clock: FakeClock, fake: Any
) -> None:
    world = await seed_world(res.db, now=clock(), doctors=4, chips=("chip-a", "chip-b"))
    campaign = await start_campaign(res, clock)
    written = await campaigns.process(res.db, res.settings, now=clock(), rng=random.Random(3))
    queued = {
        row.doctor_id: row.id
        for row in [await sends.get(res.db, i) for i in written.written]
        if row is not None
    }
    assert set(queued) == set(world.doctors)
    a, b, _, _ = world.doctors

    # By Slack (a doctor asked by phone), by the terminal's code path, by the dashboard's:
    # the same domain function, each with how the operator typed the number.
    reply = await run_command(
        res, parse_command("<@U0JULIA> optout +55 (11) 90000-0001"), user="U0ANA", via="slack"
    )
    assert reply.startswith("Opt-out registrado para Dr. Médico 1 (+55 11 90000-0001)")
    reply = await run_command(res, parse_command("optout 11 900000002"), user="ana", via="cli")
    assert "Opt-out registrado" in reply
    again = await run_command(res, parse_command("opt-out 5511900000002"), user="ana", via="cli")
    assert again.endswith("já estava com opt-out; nada mudou.")
    bad = await run_command(res, parse_command("optout 1234"), user="ana", via="slack")
    assert bad.startswith("Não reconheci um telefone")
    assert (await run_command(res, parse_command("optout"), user="ana", via="slack")).startswith(
        "Informe o telefone"
    )
    # A number not in the base yet: suppressed before any import brings it.
    outsider = await run_command(
        res, parse_command("optout +55 11 97777-0001"), user="U0ANA", via="slack"
    )
    assert "não está na base" in outsider

    cancelled = dict(
        await res.db.fetch(
            "SELECT doctor_id, status FROM outbound_sends WHERE campaign_id = $1", campaign
        )
    )
    assert cancelled[a] == cancelled[b] == "cancelled"

    # A later import adds the suppressed number and re-imports an opted-out doctor.
    async with res.db.acquire() as conn, conn.transaction():
        report = await import_csv(
            conn,
            "doctors",
            "telefone;nome;especialidade;cidade;uf;regiao\n"
            "+55 11 97777-0001;Dr. Novo;Clínica Médica;São Paulo;SP;Zona Sul\n"
            "5511900000001;Dr. Médico 1;Clínica Médica;São Paulo;SP;Zona Sul\n",
            source="lista-nova.csv",
            tz=SP,
        )
    assert report.rejected == [] and report.inserted == 1
    assert await res.db.fetchval(
        "SELECT opted_out_at IS NOT NULL FROM doctors WHERE phone = '5511977770001'"
    )

    # Days of campaigns and follow-ups: only c and d ever hear from Julia.
    gw = gateway(res, clock)
    await run_for(res, gw, clock, 30)
    clock.advance(timedelta(days=3))
    await start_campaign(res, clock, name="Segunda onda")
    await run_for(res, gw, clock, 30)
    sent_to = Counter(s.number for s in fake.evolution.sends)
    assert set(sent_to) == {phone(3), phone(4)}
    assert (
        await res.db.fetchval(
            "SELECT count(*) FROM lgpd_audit WHERE action = 'optout' AND operator IS NOT NULL"
        )
        == 4
    )


async def test_the_dashboard_records_an_opt_out(julia: Julia, fake: Any) -> None:
    await julia.say(PHONE, "oi")
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    viewer = await julia.client.post(
        "/api/v1/lgpd/optout", json={"phone": PHONE}, headers=auth("viewer")
    )
    assert viewer.status_code == 403
    bad = await julia.client.post("/api/v1/lgpd/optout", json={"phone": "12345678"}, headers=auth())
    assert bad.status_code == 400 and "telefone inválido" in bad.json()["detail"]
    done = await julia.client.post(
        "/api/v1/lgpd/optout", json={"phone": "+55 11 98700-4455"}, headers=auth()
    )
    assert done.status_code == 200
    assert done.json() == {"phone": PHONE, "found": True, "newly": True}
    row = await julia.res.db.fetchrow(
        "SELECT via, operator FROM lgpd_audit WHERE action = 'optout'"
    )
    assert tuple(row) == ("api", "ana@revoluna.com.br")


# "Quem te deu meu número?" -----------------------------------------------------------------


async def test_quem_te_deu_meu_numero_is_answered_from_the_import_and_handed_to_a_person(
    julia: Julia, fake: Any
) -> None:
    async with julia.res.db.acquire() as conn, conn.transaction():
        await import_csv(
            conn,
            "doctors",
            f"telefone;nome\n{PHONE};{NAME}\n",
            source="medicos-sao-luiz.csv",
            tz=SP,
        )
    await julia.say(PHONE, "quem te deu meu número??")
    await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) == 2)
    answer, transition = fake.evolution.texts_to(PHONE)
    assert "base de médicos" in answer and "importou" in answer
    assert check_reply(answer, allowed_cents=set()) == []
    assert fake.anthropic.requests == []  # fixed answers: the model never saw it
    assert await julia.count("SELECT count(*) FROM conversations WHERE control = 'humano'") == 1
    await fake.await_until(lambda: any("Handoff" in p["text"] for p in fake.slack.webhook_posts))
    notice = next(p["text"] for p in fake.slack.webhook_posts if "Handoff" in p["text"])
    assert "importado do arquivo medicos-sao-luiz.csv" in notice
    assert transition  # the usual handoff line follows


# Export, then erasure ----------------------------------------------------------------------


async def personal_data_left(julia: Julia, doctor_id: int, needles: list[str]) -> list[str]:
    """Every place in the public schema that still holds one of `needles` (in any text,
    json or array column) or the doctor's id (in any column naming a doctor)."""
    columns = await julia.res.db.fetch(
        """SELECT c.table_name, c.column_name, c.data_type
           FROM information_schema.columns c
           JOIN information_schema.tables t
             ON t.table_schema = c.table_schema AND t.table_name = c.table_name
           WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"""
    )
    found = []
    for table, column, data_type in columns:
        if data_type in ("text", "character varying", "character", "jsonb", "json", "ARRAY"):
            hits = await julia.res.db.fetchval(
                f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE ANY($1::text[])',
                [f"%{n}%" for n in needles],
            )
        elif "doctor_id" in column and data_type == "bigint":
            hits = await julia.res.db.fetchval(
                f'SELECT count(*) FROM "{table}" WHERE "{column}" = $1', doctor_id
            )
        elif table == "doctors" and column == "id":
            hits = await julia.res.db.fetchval(
                "SELECT count(*) FROM doctors WHERE id = $1", doctor_id
            )
        else:
            continue
        if hits:
            found.append(f"{table}.{column}: {hits}")
    return found


async def test_export_then_erase_leaves_nothing_of_the_doctor_but_the_suppression_record(
    julia: Julia, fake: Any
) -> None:
    # A doctor with a history: imported, talked to Julia (who saved a fact and got their
    # name), asked where the number came from (a handoff, a Slack notice naming them), and
    # an operator recorded their opt-out from Slack.
    async with julia.res.db.acquire() as conn, conn.transaction():
        await import_csv(
            conn, "doctors", f"telefone;nome\n{PHONE};{NAME}\n", source="lista.csv", tz=SP
        )
    fake.anthropic.script(
        tool_call("save_memory", {"kind": "preferencia", "content": "prefere plantão noturno"}),
        text_reply("anotado! prefere noturno então"),
    )
    await julia.say(PHONE, "oi, só faço plantão noturno", pushName="Helena B.")
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    await julia.say(PHONE, "aliás, quem te deu meu número?")
    await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) == 3)
    reply = await command(julia, fake, "optout +55 11 98700-4455")
    assert "Opt-out registrado" in reply["text"]
    doctor_id = await julia.res.db.fetchval("SELECT id FROM doctors WHERE phone = $1", PHONE)
    assert await julia.count("SELECT count(*) FROM memories WHERE doctor_id = $1", doctor_id) == 1
    # A shift Julia reserved for them, waiting for an operator's confirmation.
    world = await seed_world(julia.res.db, now=WEDNESDAY_10H)
    reserved = world.shifts[0]
    await julia.res.db.execute(
        """UPDATE shifts SET status = 'reservado', reserved_doctor_id = $2, reserved_at = now()
           WHERE id = $1""",
        reserved,
        doctor_id,
    )
    # Both spellings of the number, as an operator typed it in Slack, the names.
    needles = [PHONE, "551187004455", "98700-4455", NAME, "Helena B."]
    assert await personal_data_left(julia, doctor_id, needles)  # the search finds them

    exported = await julia.client.post("/api/v1/lgpd/export", json={"phone": PHONE}, headers=auth())
    assert exported.status_code == 200
    data = exported.json()
    assert data["medico"]["name"] == NAME and data["medico"]["opted_out_at"]
    assert [m["content"] for m in data["memorias"]] == ["prefere plantão noturno"]
    bodies = [m["body"] for m in data["mensagens"]]
    assert "oi, só faço plantão noturno" in bodies and "anotado! prefere noturno então" in bodies
    assert data["handoffs"] and data["entregas_brutas"] and data["supressao"]["reason"] == "optout"
    assert [s["shift_id"] for s in data["plantoes_reservados"]] == [reserved]
    assert all("embedding" not in m for m in data["memorias"])  # the vector is not "about" them

    refused = await julia.client.post("/api/v1/lgpd/erase", json={"phone": PHONE}, headers=auth())
    assert refused.status_code == 422  # `confirm: true` is required
    erased = await julia.client.post(
        "/api/v1/lgpd/erase", json={"phone": "+55 11 98700-4455", "confirm": True}, headers=auth()
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["found"] is True and erased.json()["erased"]["doctors"] == 1

    assert await personal_data_left(julia, doctor_id, needles) == []
    # The reservation is offered to other doctors again.
    assert await julia.res.db.fetchval("SELECT status FROM shifts WHERE id = $1", reserved) == (
        "aberto"
    )
    suppressed = await julia.res.db.fetch("SELECT reason FROM opt_out_suppressions")
    assert [r["reason"] for r in suppressed] == ["apagamento"]
    actions = await julia.res.db.fetch("SELECT action, via FROM lgpd_audit ORDER BY id")
    assert [tuple(r) for r in actions] == [
        ("optout", "slack"),
        ("exportar", "api"),
        ("apagar", "api"),
    ]

    # The number writes again: a new, opted-out contact; no campaign ever reaches it.
    await julia.say(PHONE, "oi de novo")
    await until(julia, "SELECT opted_out_at IS NOT NULL FROM doctors WHERE phone = $1", PHONE)
    again = await julia.client.post(
        "/api/v1/lgpd/erase", json={"phone": PHONE, "confirm": True}, headers=auth()
    )
    assert again.status_code == 200


# The same from the terminal ----------------------------------------------------------------


def julia_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    proc = Proc(
        ["python", "-m", "app", *args],
        base_env(
            DATABASE_URL=settings.database_dsn,
            REDIS_URL=settings.redis_dsn,
            JWT_SECRET_KEY=JWT_SECRET,
        ),
    )
    code = proc.wait(timeout=60)
    return code, proc.output, ""


@pytest.mark.slow
async def test_the_terminal_records_exports_erases_and_mints_tokens(
    lgpd_settings: Settings, res: Resources
) -> None:
    await res.db.execute(
        "INSERT INTO doctors (phone, name, source) VALUES ($1, $2, 'csv:lista.csv')", PHONE, NAME
    )
    run = lambda *a: asyncio.to_thread(julia_cli, lgpd_settings, *a)  # noqa: E731
    code, out, _ = await run("optout", "+55 11 98700-4455")
    assert (code, out.strip()) == (
        0,
        "Opt-out registrado para +55 11 98700-4455; a fila desse médico foi cancelada.",
    )
    code, out, _ = await run("titular", "exportar", "11987004455")
    assert code == 0
    assert json.loads(out)["medico"]["name"] == NAME  # the output is the JSON alone
    code, out, _ = await run("titular", "apagar", PHONE)
    assert code == 1 and "--confirmar" in out
    code, out, _ = await run("titular", "apagar", PHONE, "--confirmar")
    assert code == 0 and out.startswith("Dados de +55 11 98700-4455 apagados")
    assert await res.db.fetchval("SELECT count(*) FROM doctors") == 0

    code, out, _ = await run("token", "--operador", "ana", "--papel", "viewer", "--dias", "2")
    assert code == 0
    token = out.splitlines()[0]
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["role"]) == ("ana", "viewer")
    assert 0 < claims["exp"] - time.time() <= 2 * 86400
    code, out, _ = await run("token", "--operador", "ana", "--papel", "chefe")
    assert code == 2


# Small pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("quem te deu meu número?", True),
        ("Quem passou meu contato pra vc?", True),
        ("onde vc conseguiu meu telefone", True),
        ("como vcs pegaram meus dados??", True),
        ("qual o número do hospital?", False),
        ("me passa seu número que eu te ligo", False),
        ("quem vai me pagar?", False),
    ],
)
def test_asking_where_the_number_came_from_is_recognised(text: str, asks: bool) -> None:
    assert asks_number_source(text) is asks


async def test_a_suppressed_number_is_opted_out_in_either_spelling(resources: Resources) -> None:
    db = resources.db
    async with db.acquire() as conn, conn.transaction():
        result = await record_opt_out(
            conn, "(31) 8888-7777", via="cli", operator="ana", now=WEDNESDAY_10H
        )
    assert (result.phone, result.found) == ("5531988887777", False)
    # The legacy spelling (no ninth digit) and the canonical one are the same number.
    for number in ("553188887777", "5531988887777"):
        await db.execute("DELETE FROM doctors")
        await db.execute("INSERT INTO doctors (phone) VALUES ($1)", number)
        assert await db.fetchval("SELECT opt_out_reason FROM doctors") == "supressao"
    await db.execute("DELETE FROM doctors")
    await db.execute("INSERT INTO doctors (phone) VALUES ('5531988887778')")
    assert await db.fetchval("SELECT opted_out_at FROM doctors") is None
    assert await db.fetchval("SELECT count(*) FROM opt_out_suppressions") == 1


def test_the_number_source_answers_pass_the_guardrails_and_name_the_origin() -> None:
    added = WEDNESDAY_10H - timedelta(days=30)
    inbound = Provenance("inbound", added, added, None, None)
    imported = Provenance("csv:medicos.csv", added, None, "Noturnos SP", WEDNESDAY_10H)
    by_panel = Provenance("csv:dashboard:ana@revoluna", added, None, None, None)
    unknown = Provenance(None, added, None, None, None)
    answers = {
        p: source_for_doctor(p, SP, "Revoluna") for p in (inbound, imported, by_panel, unknown)
    }
    for text in answers.values():
        assert check_reply(text, allowed_cents=set()) == [], text
    assert answers[inbound].startswith("vc mesmo me chamou aqui no whats em 02/11/2026")
    assert "importou" in answers[imported] and "02/11/2026" in answers[imported]
    assert source_for_operator(imported, SP) == (
        "Origem do contato: importado do arquivo medicos.csv em 02/11/2026; primeira conversa "
        "aberta pela campanha 'Noturnos SP' em 02/12/2026."
    )
    assert "importado pelo painel por ana@revoluna" in source_for_operator(by_panel, SP)
