"""The weekly briefing from Google Drive: the real google-api-python-client against the local
Drive fake (service-account JWT grant, files.list with `version`, files.export as text), the
real Postgres (pg_trgm + unaccent matching), Slack's webhook fake, and Julia's prompt as the
Anthropic fake received it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from app.core.config import Settings
from app.core.resources import Resources, open_resources
from app.domain.agent import repository as agent_repo
from app.domain.briefings import service as briefings
from app.domain.briefings.parsing import BriefingError, parse
from app.domain.operations.commands import parse_command, run_command
from app.workers.briefing_jobs import SKIPPED, sync_briefings
from app.workers.scheduler import JobSpec, JuliaScheduler
from tests.support.fake_vendors import text_reply
from tests.support.julia import running_julia, vendor_settings
from tests.support.outreach import SP, seed_world

FOLDER = "1BriefingsFolder_Revoluna"
PHONE = "5511987001122"


def briefing_doc(day: date, *, focus: str = "Pediatria e clínica médica na Zona Sul.") -> str:
    """A briefing as a manager writes it (Google Docs' text export keeps one line per
    paragraph; bullets come out as "* ")."""
    return (
        "Briefing da semana\n"
        "\n"
        "Foco da Semana\n"
        f"{focus}\n"
        "\n"
        "Vagas Prioritárias\n"
        f"* Hospital Sao Luiz – {day:%d/%m} – até R$ 2.500\n"
        "\n"
        "Tom da Semana\n"
        "Mais leve e direto, os médicos estão sobrecarregados.\n"
        "\n"
        "Margem de Negociação\n"
        "até R$ 300\n"
        "\n"
        "Observações\n"
        "O PS do São Luiz mudou a entrada para a Rua Dr. Alceu.\n"
    )


@pytest.fixture
def credentials(fake: Any, tmp_path: Path) -> Path:
    path: Path = fake.drive.service_account_file(tmp_path / "google-sa.json")
    return path


@pytest.fixture
def drive_settings(
    make_settings: Any, database_url: str, redis_url: str, fake: Any, credentials: Path
) -> Settings:
    settings: Settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        GOOGLE_APPLICATION_CREDENTIALS=credentials,
        GOOGLE_BRIEFINGS_FOLDER_ID=FOLDER,
        GOOGLE_DRIVE_API_URL=f"{fake.url}/drive/v3/",
        **vendor_settings(fake.url),
    )
    return settings


@pytest.fixture
async def res(drive_settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(drive_settings) as resources:
        yield resources


async def run_job(res: Resources) -> asyncpg.Record:
    """One tick of `sync_briefings` as the scheduler runs it; its job_runs row."""
    spec = JobSpec("sync_briefings", sync_briefings, 3600)
    scheduler = JuliaScheduler(res, [spec])
    assert await scheduler.lease.refresh()
    try:
        await scheduler.run_job(spec)
    finally:
        await scheduler.lease.release()
    row: asyncpg.Record = await res.db.fetchrow(
        """SELECT status, error FROM job_runs WHERE job_name = 'sync_briefings'
           ORDER BY started_at DESC LIMIT 1"""
    )
    return row


def slack_texts(fake: Any) -> list[str]:
    return [json.dumps(post, ensure_ascii=False) for post in fake.slack.webhook_posts]


async def sync(res: Resources, now: datetime) -> briefings.SyncResult:
    result = await briefings.sync_configured(res, now=now)
    assert result is not None
    return result


# The prompt ---------------------------------------------------------------------------------


async def test_a_briefing_changes_the_next_prompt_and_keeps_the_cached_prefix(
    drive_settings: Settings, fake: Any
) -> None:
    async with running_julia(drive_settings) as julia:
        now = datetime.now(SP)
        await seed_world(julia.res.db, now=now)
        sao_luiz_day = (now + timedelta(days=3)).date()

        fake.anthropic.script(text_reply("oi, tudo bem? sou a Julia"))
        await julia.say(PHONE, "oi, tem plantão?")
        await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) == 1)

        fake.drive.add_doc(FOLDER, "Briefing 09/03", briefing_doc(sao_luiz_day))
        with capture_logs() as logs:
            row = await run_job(julia.res)
        assert row["status"] == "ok", row["error"]
        assert any(e["event"] == "Job executed: sync_briefings" for e in logs)
        await fake.await_until(lambda: len(fake.slack.webhook_posts) == 1)
        summary = slack_texts(fake)[0]
        assert "Briefing da semana atualizado" in summary
        assert "Foco: Pediatria e clínica médica na Zona Sul." in summary
        assert "1 plantão marcado como prioridade" in summary

        fake.anthropic.script(text_reply("tenho sim, um noturno no São Luiz"))
        await julia.say(PHONE, "e pra essa semana?")
        await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) == 2)

    before, after = fake.anthropic.requests[0], fake.anthropic.requests[1]
    # The cached prefix (tools + the persona block with the breakpoint) is byte-identical.
    assert json.dumps(before["tools"]) == json.dumps(after["tools"])
    assert json.dumps(before["system"][0]) == json.dumps(after["system"][0])
    assert after["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert len(before["system"]) == 1
    # The directives come after the breakpoint, in a block of their own.
    assert len(after["system"]) == 2 and "cache_control" not in after["system"][1]
    directives = after["system"][1]["text"]
    assert "Foco da semana: Pediatria e clínica médica na Zona Sul." in directives
    assert "Tom da semana: Mais leve e direto" in directives
    assert "Margem de negociação da semana: até R$ 300 acima do valor publicado" in directives
    assert "Observações do gestor: O PS do São Luiz mudou a entrada" in directives
    assert shift_line(sao_luiz_day) + ": pode negociar até R$ 2.500" in directives
    assert "Vera Cruz" not in directives
    # And the prefix was read from the cache on the second call.
    assert fake.anthropic.usages[1]["cache_read_input_tokens"] > 0


def shift_line(day: date) -> str:
    """How the directives name the seeded world's São Luiz shift of `day`."""
    where = "Hospital São Luiz, Clínica Médica, PS adulto"
    return f"- {where}, {_weekday(day)} {day:%d/%m}, 19:00 às 07:00 (noturno)"


def _weekday(day: date) -> str:
    return (
        "segunda-feira",
        "terça-feira",
        "quarta-feira",
        "quinta-feira",
        "sexta-feira",
        "sábado",
        "domingo",
    )[day.weekday()]


# Matching -----------------------------------------------------------------------------------


async def test_hospital_sao_luiz_marks_the_shifts_at_hospital_sao_luiz(
    res: Resources, fake: Any
) -> None:
    now = datetime.now(SP)
    world = await seed_world(res.db, now=now)
    day = (now + timedelta(days=5)).date()
    fake.drive.add_doc(FOLDER, "Briefing", briefing_doc(day))

    result = await sync(res, now)

    assert result.outcome == "applied"
    marked = await res.db.fetch(
        """SELECT h.name, (s.starts_at AT TIME ZONE 'America/Sao_Paulo')::date AS day,
                  bp.pay_cap_cents
             FROM briefing_priority_shifts bp
             JOIN shifts s ON s.id = bp.shift_id JOIN hospitals h ON h.id = s.hospital_id"""
    )
    assert [(r["name"], r["day"], r["pay_cap_cents"]) for r in marked] == [
        ("Hospital São Luiz", day, 250000)
    ]
    briefing = await agent_repo.active_briefing(res.db, now=now)
    assert briefing is not None
    assert [s.hospital for s in briefing.shifts] == ["Hospital São Luiz"]
    assert briefing.shifts[0].shift_id in world.shifts


async def test_a_priority_line_without_an_open_shift_is_reported_not_invented(
    res: Resources, fake: Any
) -> None:
    now = datetime.now(SP)
    await seed_world(res.db, now=now)
    day = (now + timedelta(days=4)).date()  # no shift that day
    fake.drive.add_doc(FOLDER, "Briefing", briefing_doc(day))

    result = await sync(res, now)

    assert result.outcome == "applied"
    assert "nenhum plantão aberto encontrado" in result.summary
    briefing = await agent_repo.active_briefing(res.db, now=now)
    assert briefing is not None and briefing.shifts == ()


# Change detection ---------------------------------------------------------------------------


async def test_an_unchanged_document_after_a_restart_announces_nothing(
    drive_settings: Settings, fake: Any
) -> None:
    now = datetime.now(SP)
    file_id = ""
    async with open_resources(drive_settings) as res:
        await seed_world(res.db, now=now)
        file_id = fake.drive.add_doc(FOLDER, "Briefing", briefing_doc(now.date()))
        assert (await sync(res, now)).outcome == "applied"
    await fake.await_until(lambda: len(fake.slack.webhook_posts) == 1)
    assert fake.drive.exports() == [file_id]

    # A new process (a deploy, a crash): the revision is in Postgres, not in memory.
    async with open_resources(drive_settings) as res:
        assert (await sync(res, now)).outcome == "unchanged"
        assert (await run_job(res))["status"] == "ok"
        # Drive bumps `version` for changes nobody sees: read again, still nothing new.
        fake.drive.touch(file_id)
        assert (await sync(res, now)).outcome == "unchanged"
        assert await res.db.fetchval("SELECT count(*) FROM briefings") == 1

    assert len(fake.slack.webhook_posts) == 1
    assert fake.drive.exports() == [file_id, file_id]  # only the touched version re-read


async def test_an_edit_is_announced_with_what_changed(res: Resources, fake: Any) -> None:
    now = datetime.now(SP)
    await seed_world(res.db, now=now)
    file_id = fake.drive.add_doc(FOLDER, "Briefing", briefing_doc(now.date()))
    await sync(res, now)

    fake.drive.edit(file_id, text=briefing_doc(now.date(), focus="Só noturnos em Campinas."))
    result = await sync(res, now)

    assert result.outcome == "applied"
    lines = result.summary.splitlines()
    assert "• Foco: Só noturnos em Campinas." in lines
    assert not any(line.startswith("• Tom") for line in lines)  # the tone did not change
    assert await res.db.fetchval("SELECT count(*) FROM briefings") == 2  # history kept
    await fake.await_until(lambda: len(fake.slack.webhook_posts) == 2)
    assert "Só noturnos em Campinas" in slack_texts(fake)[1]


async def test_a_document_that_does_not_parse_is_reported_and_the_previous_stays(
    res: Resources, fake: Any
) -> None:
    now = datetime.now(SP)
    await seed_world(res.db, now=now)
    file_id = fake.drive.add_doc(FOLDER, "Briefing", briefing_doc(now.date()))
    await sync(res, now)

    broken = "Foco da Semana\nPediatria\nVagas Prioritárias\nHospital São Luiz – sábado\n"
    fake.drive.edit(file_id, text=broken)
    result = await sync(res, now)

    assert result.outcome == "refused"
    assert (
        result.reason
        == "a vaga prioritária da linha 4 (“Hospital São Luiz – sábado”) não tem data (dd/mm)"
    )
    await fake.await_until(lambda: len(fake.slack.webhook_posts) == 2)
    notice = slack_texts(fake)[1]
    assert "Não apliquei o briefing" in notice and "não tem data" in notice
    assert "Continua valendo o briefing anterior" in notice
    active = await agent_repo.active_briefing(res.db, now=now)
    assert active is not None
    assert active.directives.focus == "Pediatria e clínica médica na Zona Sul."
    error = await res.db.fetchval("SELECT error FROM briefings WHERE error IS NOT NULL")
    assert error == result.reason
    # The refusal is announced once, not every hour.
    assert (await sync(res, now)).outcome == "unchanged"
    assert len(fake.slack.webhook_posts) == 2


async def test_the_newest_document_of_the_folder_wins(res: Resources, fake: Any) -> None:
    now = datetime.now(SP)
    fake.drive.add_doc(FOLDER, "Semana passada", "Foco da Semana\nCardiologia\n")
    fake.drive.add_doc(FOLDER, "Esta semana", "Foco da Semana\nPediatria\n")
    fake.drive.add_doc("1OutraPasta", "Outra", "Foco da Semana\nOrtopedia\n")

    assert (await sync(res, now)).title == "Esta semana"
    briefing = await agent_repo.active_briefing(res.db, now=now)
    assert briefing is not None and briefing.directives.focus == "Pediatria"


# The job and the command --------------------------------------------------------------------


async def test_the_job_is_skipped_without_the_folder(
    make_settings: Any, database_url: str, redis_url: str
) -> None:
    settings = make_settings(DATABASE_URL=database_url, REDIS_URL=redis_url)
    async with open_resources(settings) as res:
        assert await sync_briefings(res) == SKIPPED


async def test_drive_down_fails_the_run_and_keeps_the_briefing(res: Resources, fake: Any) -> None:
    now = datetime.now(SP)
    fake.drive.add_doc(FOLDER, "Briefing", "Foco da Semana\nPediatria\n")
    await sync(res, now)
    fake.drive.fail_next(503, times=5)

    row = await run_job(res)

    assert row["status"] == "failed" and "503" in row["error"]
    briefing = await agent_repo.active_briefing(res.db, now=now)
    assert briefing is not None and briefing.directives.focus == "Pediatria"


async def test_sincronizar_briefing_from_slack(res: Resources, fake: Any) -> None:
    command = parse_command("<@U0JULIA> sincronizar briefing")
    assert command.name == "sync_briefing"
    fake.drive.add_doc(FOLDER, "Briefing", "Tom da Semana\nLeve\n")

    reply = await run_command(res, command, user="U123", via="slack")
    assert reply.startswith("Briefing da semana atualizado: “Briefing”")
    again = await run_command(res, command, user="U123", via="slack")
    assert (
        again
        == "O briefing “Briefing” não mudou desde a última sincronização; ele continua valendo."
    )


# Parsing ------------------------------------------------------------------------------------


TODAY = date(2027, 3, 9)


def test_the_four_sections_and_the_margin_are_read() -> None:
    d = parse(briefing_doc(date(2027, 3, 12)), today=TODAY)
    assert d.focus == "Pediatria e clínica médica na Zona Sul."
    assert d.tone == "Mais leve e direto, os médicos estão sobrecarregados."
    assert d.notes == "O PS do São Luiz mudou a entrada para a Rua Dr. Alceu."
    assert d.margin is not None and d.margin.cents == 30000
    (priority,) = d.priorities
    assert (priority.hospital, priority.day, priority.pay_cap_cents) == (
        "Hospital Sao Luiz",
        date(2027, 3, 12),
        250000,
    )


def test_a_date_without_a_year_is_the_nearest_one() -> None:
    doc = "Vagas Prioritárias\nHospital X – 05/01 – noturno\n"
    (priority,) = parse(doc, today=date(2026, 12, 20)).priorities
    assert priority.day == date(2027, 1, 5) and priority.period == "noturno"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "nenhuma seção reconhecida"),
        ("Ata da reunião\nfalamos de tudo\n", "nenhuma seção reconhecida"),
        ("Foco da Semana\n\nTom da Semana\n", "todas as seções estão vazias"),
        ("Foco\na\nFoco da semana\nb\n", "aparece duas vezes (linha 3)"),
        ("Vagas Prioritárias\nHospital X – 31/02\n", "a data “31/02” da linha 2 não existe"),
        ("Margem de negociação\numas boas\n", "não entendi a margem “umas boas”"),
    ],
)
def test_what_does_not_parse_says_why(text: str, reason: str) -> None:
    with pytest.raises(BriefingError) as caught:
        parse(text, today=TODAY)
    assert reason in str(caught.value)


def test_round_trip_through_json() -> None:
    d = parse(briefing_doc(date(2027, 3, 12)), today=TODAY)
    assert type(d).from_json(json.loads(json.dumps(d.to_json()))) == d
