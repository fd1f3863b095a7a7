"""The reservation loop closed by the team, through the real app, worker, gateway, Postgres and
Valkey: the Slack mention (signed as Slack signs it) -> queue -> command -> the doctor's
WhatsApp. Anthropic, Evolution and Slack are the local fake of tests/support/fake_vendors.py;
the scheduler's side runs the domain's `tick` with a fake clock.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from app.core.config import Settings
from app.core.db import transaction
from app.domain.operations import alerts
from app.domain.operations.health import HealthReport
from app.domain.reservations import service as reservations
from app.domain.shifts import repository as shifts
from app.domain.voice.guardrails import check_reply
from tests.support.fake_vendors import text_reply, tool_call
from tests.support.julia import Julia, running_julia
from tests.test_slack import OPERATOR, command, slack_settings

ANA = "5511987005501"  # the doctor who reserves
BRUNO = "5511987005502"  # another doctor, offered the same shift
GESTOR = "5511999990001"


@dataclass
class World:
    pediatria: int
    sao_luiz: int
    santa_paula: int
    saturday: int  # the shift Ana reserves
    sunday: int  # the nearest alternative: same specialty, the next day
    far: int  # same specialty, weeks later


async def seed(julia: Julia, now: datetime, *, days: int = 6) -> World:
    db = julia.res.db
    tz = julia.res.settings.tz
    pediatria = await db.fetchval(
        "INSERT INTO specialties (name) VALUES ('Pediatria') RETURNING id"
    )
    await db.fetchval("INSERT INTO specialties (name) VALUES ('Clínica Médica') RETURNING id")
    hospitals = []
    for name in ("Hospital São Luiz", "Hospital Santa Paula"):
        hospitals.append(
            await db.fetchval(
                """INSERT INTO hospitals (name, city, state, region)
                   VALUES ($1, 'São Paulo', 'SP', 'Zona Sul') RETURNING id""",
                name,
            )
        )
    day = now.astimezone(tz).date() + timedelta(days=days)

    async def shift(hospital: int, offset: int, pay: int) -> int:
        start = datetime.combine(day + timedelta(days=offset), time(19), tzinfo=tz)
        shift_id: int = await db.fetchval(
            """INSERT INTO shifts (hospital_id, specialty_id, sector, starts_at, ends_at, period,
                                   pay_cents)
               VALUES ($1, $2, 'PS infantil', $3, $4, 'noturno', $5) RETURNING id""",
            hospital,
            pediatria,
            start,
            start + timedelta(hours=12),
            pay,
        )
        return shift_id

    saturday = await shift(hospitals[0], 0, 210000)
    sunday = await shift(hospitals[1], 1, 190000)
    far = await shift(hospitals[0], 20, 200000)
    return World(pediatria, hospitals[0], hospitals[1], saturday, sunday, far)


async def doctor_with_conversation(julia: Julia, phone: str, name: str) -> tuple[int, int]:
    doctor_id = await julia.res.db.fetchval(
        "INSERT INTO doctors (phone, name) VALUES ($1, $2) RETURNING id", phone, name
    )
    conversation_id = await julia.res.db.fetchval(
        "INSERT INTO conversations (doctor_id) VALUES ($1) RETURNING id", doctor_id
    )
    return doctor_id, conversation_id


async def reserve(julia: Julia, phone: str, name: str, shift_id: int, at: datetime) -> str:
    """What the reserve_shift tool does, at `at`: the shift held and its reservation opened."""
    doctor_id, conversation_id = await doctor_with_conversation(julia, phone, name)
    async with transaction(julia.res.db) as conn:
        result = await shifts.reserve(conn, shift_id=shift_id, doctor_id=doctor_id, now=at)
        assert result.ok
        reservation = await reservations.open_reservation(
            conn, shift_id=shift_id, doctor_id=doctor_id, conversation_id=conversation_id, now=at
        )
    return reservation.code


@pytest.fixture
def julia_settings(make_settings: Any, database_url: str, redis_url: str, fake: Any) -> Settings:
    return slack_settings(
        make_settings,
        database_url,
        redis_url,
        fake,
        GESTOR_WHATSAPP=GESTOR,
        # The scheduler's messages wait for waking hours; the tests' clock is any hour.
        HORARIO_INICIO="00:00",
        HORARIO_FIM="23:59",
    )


@pytest.fixture
async def julia(julia_settings: Settings) -> AsyncIterator[Julia]:
    async with running_julia(julia_settings) as j:
        yield j


async def settle(seconds: float = 1.0) -> None:
    """Time for the worker to do something it must not do (a second message)."""
    await asyncio.sleep(seconds)


def slack_posts(fake: Any) -> list[str]:
    return [str(p.get("text")) for p in fake.slack.webhook_posts]


async def test_a_reservation_confirmed_from_slack_reaches_the_doctor_once(
    julia: Julia, fake: Any
) -> None:
    world = await seed(julia, datetime.now(UTC))
    fake.anthropic.script(
        tool_call("reserve_shift", {"shift_id": world.saturday}),
        text_reply("fechado! reservei no seu nome, a equipe confirma rapidinho"),
    )
    await julia.say(ANA, "quero o de sábado no São Luiz, pode reservar")
    await fake.await_until(lambda: any("Código da reserva" in t for t in slack_posts(fake)))
    code = await julia.res.db.fetchval("SELECT code FROM reservations")
    notice = next(t for t in slack_posts(fake) if "Código da reserva" in t)
    assert f"Código da reserva: {code}" in notice
    assert f"`@julia confirmar {code}`" in notice
    assert f"`@julia liberar {code} motivo: <texto>`" in notice
    assert "Hospital São Luiz" in notice and f"+{ANA}" in notice
    assert fake.evolution.texts_to(ANA) == [
        "fechado! reservei no seu nome, a equipe confirma rapidinho"
    ]

    reply = await command(julia, fake, f"confirmar {code.lower()}")
    assert reply["text"].startswith(f"Reserva {code} confirmada")
    await fake.await_until(lambda: len(fake.evolution.texts_to(ANA)) == 2)
    told = fake.evolution.texts_to(ANA)[1]
    assert "confirmou" in told and "Hospital São Luiz" in told and "é seu" in told
    assert check_reply(told, allowed_cents=set()) == []

    again = await command(julia, fake, f"confirmar {code}")
    assert again["text"] == f"A reserva {code} já estava confirmada; nada mudou."
    await settle()
    assert len(fake.evolution.texts_to(ANA)) == 2
    shift = await julia.res.db.fetchrow(
        "SELECT status, confirmed_by FROM shifts WHERE id = $1", world.saturday
    )
    assert (shift["status"], shift["confirmed_by"]) == ("confirmado", OPERATOR)
    row = await julia.res.db.fetchrow("SELECT status, decided_via FROM reservations")
    assert (row["status"], row["decided_via"]) == ("confirmada", "slack")


async def test_a_released_reservation_reaches_the_doctor_with_an_alternative(
    julia: Julia, fake: Any
) -> None:
    world = await seed(julia, datetime.now(UTC))
    code = await reserve(julia, ANA, "Dra. Ana Lima", world.saturday, datetime.now(UTC))

    missing = await command(julia, fake, f"liberar {code}")
    assert "preciso do motivo" in missing["text"]
    reply = await command(julia, fake, f"liberar {code} motivo: hospital fechou a escala")
    assert reply["text"].startswith(f"Reserva {code} liberada (motivo: hospital fechou a escala)")
    await fake.await_until(lambda: fake.evolution.texts_to(ANA))
    await settle(0.5)
    [told] = fake.evolution.texts_to(ANA)
    assert told.startswith("oi Dra. Ana! ")
    assert "Hospital São Luiz" in told and "desculpa" in told
    # The nearest open pediatrics shift: Sunday at Santa Paula, with its published pay.
    assert "Hospital Santa Paula" in told and "R$ 1.900" in told and "reserve" in told
    assert check_reply(told, allowed_cents={190000}) == []

    shift = await julia.res.db.fetchrow(
        "SELECT status, reserved_doctor_id FROM shifts WHERE id = $1", world.saturday
    )
    assert (shift["status"], shift["reserved_doctor_id"]) == ("aberto", None)
    row = await julia.res.db.fetchrow("SELECT status, motivo, decided_by FROM reservations")
    assert tuple(row) == ("liberada", "hospital fechou a escala", OPERATOR)
    offered = await julia.res.db.fetchval("SELECT array_agg(shift_id) FROM shift_offers")
    assert offered == [world.sunday]
    late = await command(julia, fake, f"confirmar {code}")
    assert late["text"].startswith(f"A reserva {code} já foi liberada")
    unknown = await command(julia, fake, "confirmar ZZZZZ")
    assert unknown["text"].startswith("Não encontrei a reserva ZZZZZ")


async def test_an_unanswered_reservation_is_reannounced_then_released_and_the_doctor_told(
    julia: Julia, fake: Any
) -> None:
    now = datetime.now(UTC)
    world = await seed(julia, now)
    reserved_at = now - timedelta(hours=13)
    code = await reserve(julia, ANA, "Ana", world.saturday, reserved_at)
    res = julia.res

    early = await reservations.tick(res, now=reserved_at + timedelta(hours=1))
    assert early == reservations.TickResult()
    later = await reservations.tick(res, now=reserved_at + timedelta(hours=2, minutes=5))
    assert later.reannounced == [code] and later.expired == []
    await fake.await_until(lambda: any("ainda sem resposta" in t for t in slack_posts(fake)))
    again = await reservations.tick(res, now=reserved_at + timedelta(hours=3))
    assert again.reannounced == []
    assert sum("ainda sem resposta" in t for t in slack_posts(fake)) == 1
    assert fake.evolution.texts_to(ANA) == []

    # 12 h (RESERVA_JANELA_HORAS) after the reservation, nobody having answered.
    expired = await reservations.tick(res, now=now)
    assert expired.expired == [code]
    await fake.await_until(lambda: fake.evolution.texts_to(ANA) and fake.evolution.texts_to(GESTOR))
    [told] = fake.evolution.texts_to(ANA)
    assert "a tempo" in told and "Hospital São Luiz" in told and "Hospital Santa Paula" in told
    [manager] = fake.evolution.texts_to(GESTOR)
    assert code in manager and "liberada" in manager
    assert any(f"Reserva {code} liberada" in t for t in slack_posts(fake))
    assert await res.db.fetchval("SELECT status FROM reservations") == "expirada"
    assert await res.db.fetchval("SELECT status FROM shifts WHERE id = $1", world.saturday) == (
        "aberto"
    )
    # The next tick finds nothing to do; the manager is no doctor and no conversation.
    assert await reservations.tick(res, now=now + timedelta(minutes=5)) == (
        reservations.TickResult()
    )
    await settle()
    assert len(fake.evolution.texts_to(ANA)) == 1 and len(fake.evolution.texts_to(GESTOR)) == 1
    assert await res.db.fetchval("SELECT count(*) FROM doctors WHERE phone = $1", GESTOR) == 0


async def test_a_filled_shift_is_withdrawn_from_another_doctors_conversation(
    julia: Julia, fake: Any
) -> None:
    world = await seed(julia, datetime.now(UTC))
    fake.anthropic.script(
        tool_call("search_shifts", {"specialty": "pediatria"}),
        text_reply("tenho um sábado no São Luiz, noturno, R$ 2.100"),
    )
    await julia.say(BRUNO, "oi, tem plantão de pediatria?")
    await fake.await_until(lambda: fake.evolution.texts_to(BRUNO))
    bruno_conversation = await julia.res.db.fetchval(
        "SELECT c.id FROM conversations c JOIN doctors d ON d.id = c.doctor_id WHERE d.phone = $1",
        BRUNO,
    )
    offered = await julia.res.db.fetch(
        "SELECT shift_id FROM shift_offers WHERE conversation_id = $1", bruno_conversation
    )
    assert world.saturday in {r["shift_id"] for r in offered}

    # Meanwhile Ana takes the Saturday and the team confirms it.
    code = await reserve(julia, ANA, "Ana", world.saturday, datetime.now(UTC))
    await command(julia, fake, f"confirmar {code}")
    await fake.await_until(lambda: fake.evolution.texts_to(ANA))
    withdrawn = await julia.res.db.fetchrow(
        "SELECT withdrawn_at, withdrawn_why FROM shift_offers WHERE conversation_id = $1 "
        "AND shift_id = $2",
        bruno_conversation,
        world.saturday,
    )
    assert withdrawn["withdrawn_at"] is not None and withdrawn["withdrawn_why"] == "preenchido"

    before = len(fake.anthropic.requests)
    fake.anthropic.script(
        tool_call("reserve_shift", {"shift_id": world.saturday}),
        text_reply("poxa, esse do sábado acabou de sair. tenho domingo no Santa Paula, quer?"),
    )
    await julia.say(BRUNO, "quero o de sábado!")
    await fake.await_until(lambda: len(fake.evolution.texts_to(BRUNO)) == 2)
    turn_request, tool_request = fake.anthropic.requests[before : before + 2]
    context = json.dumps(turn_request["messages"][-1], ensure_ascii=False)
    assert "NÃO estão mais disponíveis" in context and f"plantão {world.saturday}" in context
    result = tool_request["messages"][-1]["content"][0]
    assert result["type"] == "tool_result"
    payload = json.loads(result["content"])
    assert payload["ok"] is False and payload["status"] == "indisponivel"
    assert payload["alternative"]["id"] == world.sunday
    assert payload["alternative"]["hospital"] == "Hospital Santa Paula"
    assert fake.evolution.texts_to(BRUNO)[1].startswith("poxa, esse do sábado acabou de sair")
    # Ana keeps the shift; Bruno holds nothing.
    holder = await julia.res.db.fetchval(
        "SELECT d.phone FROM shifts s JOIN doctors d ON d.id = s.reserved_doctor_id "
        "WHERE s.id = $1",
        world.saturday,
    )
    assert holder == ANA
    assert await julia.count("SELECT count(*) FROM reservations") == 1


async def test_the_day_before_reminder_and_the_question_after_the_shift(
    julia: Julia, fake: Any
) -> None:
    res = julia.res
    tz = res.settings.tz
    now = datetime.now(UTC)
    world = await seed(julia, now, days=1)  # Saturday's shift starts tomorrow at 19h
    code = await reserve(julia, ANA, "Dra. Ana Lima", world.saturday, now - timedelta(hours=1))
    await reservations.confirm(res, code, by="U0OPERADOR", via="slack", now=now)
    await fake.await_until(lambda: fake.evolution.texts_to(ANA))

    result = await reservations.tick(res, now=now)
    assert result.reminded == [code]
    await fake.await_until(lambda: len(fake.evolution.texts_to(ANA)) == 2)
    reminder = fake.evolution.texts_to(ANA)[1]
    assert "amanhã" in reminder and "Hospital São Luiz" in reminder
    assert (
        reservations.when_text(
            datetime.combine(now.astimezone(tz).date() + timedelta(days=1), time(19), tzinfo=tz),
            datetime.combine(now.astimezone(tz).date() + timedelta(days=2), time(7), tzinfo=tz),
            tz,
        )
        in reminder
    )
    assert (await reservations.tick(res, now=now + timedelta(minutes=5))).reminded == []
    await settle(0.5)
    assert len(fake.evolution.texts_to(ANA)) == 2

    # A shift that already ended (confirmed): the team is asked once whether it happened.
    bruno_code = await reserve(julia, BRUNO, "Bruno", world.far, now - timedelta(days=2))
    await res.db.execute(
        "UPDATE shifts SET starts_at = $2, ends_at = $3 WHERE id = $1",
        world.far,
        now - timedelta(hours=14),
        now - timedelta(hours=2),
    )
    await reservations.confirm(res, bruno_code, by="U0OPERADOR", via="slack", now=now)
    asked = await reservations.tick(res, now=now)
    assert asked.asked == [bruno_code]
    await fake.await_until(lambda: any("terminou" in t for t in slack_posts(fake)))
    question = next(t for t in slack_posts(fake) if "terminou" in t)
    assert f"`@julia realizado {bruno_code}`" in question
    assert f"`@julia nao ocorreu {bruno_code}`" in question
    assert (await reservations.tick(res, now=now)).asked == []

    reply = await command(julia, fake, f"não ocorreu {bruno_code}")
    assert reply["text"] == f"Registrado: o plantão da reserva {bruno_code} não ocorreu."
    row = await res.db.fetchrow("SELECT outcome, outcome_by FROM shifts WHERE id = $1", world.far)
    assert tuple(row) == ("nao_ocorreu", OPERATOR)
    reply = await command(julia, fake, f"realizado {bruno_code}")
    assert reply["text"] == f"Registrado: o plantão da reserva {bruno_code} foi realizado."
    row = await res.db.fetchrow("SELECT outcome, status FROM shifts WHERE id = $1", world.far)
    assert tuple(row) == ("realizado", "preenchido")


async def test_the_manager_gets_a_whatsapp_notice_of_a_handoff(julia: Julia, fake: Any) -> None:
    await julia.say(ANA, "quero falar com uma pessoa de verdade")
    await fake.await_until(lambda: fake.evolution.texts_to(ANA) and fake.evolution.texts_to(GESTOR))
    await settle()
    [notice] = fake.evolution.texts_to(GESTOR)
    assert "handoff" in notice and ANA in notice and "pediu para falar com uma pessoa" in notice
    assert len(fake.evolution.texts_to(ANA)) == 1  # the doctor's one transition message
    assert fake.anthropic.requests == []
    assert await julia.count("SELECT count(*) FROM doctors WHERE phone = $1", GESTOR) == 0
    assert await julia.count("SELECT count(*) FROM outbound_sends WHERE kind = 'gestor'") == 1

    # The manager answering the notice is kept, and not taken for a doctor to talk to.
    await julia.say(GESTOR, "ok, já vou ver")
    await settle(1.5)
    assert fake.anthropic.requests == [] and len(fake.evolution.texts_to(GESTOR)) == 1
    assert await julia.count("SELECT count(*) FROM doctors WHERE phone = $1", GESTOR) == 0
    assert await julia.count("SELECT count(*) FROM messages WHERE body = 'ok, já vou ver'") == 1


async def test_a_manager_number_that_is_a_doctors_gets_no_notice(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = slack_settings(make_settings, database_url, redis_url, fake, GESTOR_WHATSAPP=BRUNO)
    async with running_julia(settings) as julia:
        await doctor_with_conversation(julia, BRUNO, "Bruno")
        await julia.say(ANA, "quero falar com um humano")
        await fake.await_until(lambda: fake.evolution.texts_to(ANA))
        await fake.await_until(lambda: slack_posts(fake))
        await settle()
        assert fake.evolution.texts_to(BRUNO) == []


async def test_without_a_webhook_url_notices_go_to_slack_channel_and_a_recovery_to_its_thread(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = slack_settings(
        make_settings,
        database_url,
        redis_url,
        fake,
        SLACK_WEBHOOK_URL=None,
        SLACK_CHANNEL="#julia-gestao",
    )
    async with running_julia(settings) as julia:
        await julia.say(ANA, "quero falar com uma pessoa")
        await fake.await_until(lambda: fake.slack.posted_messages)
        [handoff] = fake.slack.posted_messages
        assert handoff["channel"] == "#julia-gestao" and handoff["thread_ts"] is None
        assert "Handoff" in handoff["text"] and ANA in handoff["text"]
        assert fake.slack.webhook_posts == []

        ctx = alerts.Alerting(settings, julia.res.db, julia.res.redis, julia.res.notifier)
        failing = HealthReport(checks={"redis": "ok", "supabase": "error: connection refused"})
        start = datetime.now(UTC)
        for minute in range(3):
            await alerts.on_health(ctx, failing, start + timedelta(minutes=minute))
        healthy = HealthReport(checks={"redis": "ok", "supabase": "ok"})
        assert await alerts.on_health(ctx, healthy, start + timedelta(minutes=4)) == "recover"
        alert, recovery = fake.slack.posted_messages[1:]
        assert alert["channel"] == recovery["channel"] == "#julia-gestao"
        assert "Health check falhou" in alert["text"] and alert["thread_ts"] is None
        assert "Health check OK" in recovery["text"] and recovery["thread_ts"] == alert["ts"]


def test_commands_read_codes_accents_and_case() -> None:
    from app.domain.operations.commands import parse_command

    assert parse_command("<@U0BOT> Confirmar a reserva k7m3q").code == "K7M3Q"
    released = parse_command("liberar K7M3Q motivo: médico desistiu")
    assert (released.name, released.code, released.motivo) == (
        "release_reservation",
        "K7M3Q",
        "médico desistiu",
    )
    assert parse_command("NÃO OCORREU k7m3q").name == "shift_missed"
    assert parse_command("realizado K7M3Q").name == "shift_happened"
    assert parse_command("confirmar").name == "invalid"
    assert re.fullmatch(r"[A-Z2-9]{5}", reservations.new_code())


async def test_the_dashboard_confirms_and_releases_with_the_operator_role(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    from tests.test_dashboard import SECRET, auth

    settings = slack_settings(make_settings, database_url, redis_url, fake, JWT_SECRET_KEY=SECRET)
    async with running_julia(settings) as julia:
        world = await seed(julia, datetime.now(UTC))
        code = await reserve(julia, ANA, "Ana", world.saturday, datetime.now(UTC))
        other = await reserve(julia, BRUNO, "Bruno", world.sunday, datetime.now(UTC))

        listed = await julia.client.get("/api/v1/reservations", headers=auth("viewer"))
        assert listed.status_code == 200
        assert {r["code"]: r["status"] for r in listed.json()} == {
            code: "pendente",
            other: "pendente",
        }
        refused = await julia.client.post(
            f"/api/v1/reservations/{code}/confirm", headers=auth("viewer")
        )
        assert refused.status_code == 403
        confirmed = await julia.client.post(
            f"/api/v1/reservations/{code.lower()}/confirm", headers=auth("operator")
        )
        assert confirmed.status_code == 200, confirmed.text
        body = confirmed.json()
        assert body["changed"] is True and body["reservation"]["status"] == "confirmada"
        assert body["reservation"]["decided_via"] == "api"
        assert body["reservation"]["decided_by"] == "ana@revoluna.com.br"
        await fake.await_until(lambda: fake.evolution.texts_to(ANA))

        no_reason = await julia.client.post(
            f"/api/v1/reservations/{other}/release", headers=auth("operator"), json={}
        )
        assert no_reason.status_code == 422
        released = await julia.client.post(
            f"/api/v1/reservations/{other}/release",
            headers=auth("operator"),
            json={"motivo": "médico pediu para cancelar"},
        )
        assert released.status_code == 200 and released.json()["changed"] is True
        await fake.await_until(lambda: fake.evolution.texts_to(BRUNO))
        conflict = await julia.client.post(
            f"/api/v1/reservations/{other}/confirm", headers=auth("operator")
        )
        assert conflict.status_code == 409
        assert conflict.json()["code"] == "reservation_conflict"
        missing = await julia.client.post(
            "/api/v1/reservations/ZZZZZ/confirm", headers=auth("operator")
        )
        assert missing.status_code == 404
        too_early = await julia.client.post(
            f"/api/v1/reservations/{code}/outcome",
            headers=auth("operator"),
            json={"outcome": "realizado"},
        )
        assert too_early.status_code == 409
        await settle(0.5)
        assert len(fake.evolution.texts_to(ANA)) == 1 and len(fake.evolution.texts_to(BRUNO)) == 1


@pytest.mark.slow
async def test_cli_lists_confirms_and_releases(
    julia_settings: Settings, database_url: str, redis_url: str, fake: Any
) -> None:
    from tests.test_slack import julia_cli

    async with running_julia(julia_settings, worker=False) as julia:
        world = await seed(julia, datetime.now(UTC))
        code = await reserve(julia, ANA, "Ana", world.saturday, datetime.now(UTC))
        other = await reserve(julia, BRUNO, "Bruno", world.sunday, datetime.now(UTC))
        run = lambda *a: asyncio.to_thread(julia_cli, database_url, redis_url, *a)  # noqa: E731

        exit_code, out = await run("reserva", "listar")
        assert exit_code == 0 and code in out and other in out, out
        exit_code, out = await run("reserva", "confirmar", code.lower())
        assert exit_code == 0 and f"Reserva {code} confirmada" in out, out
        exit_code, out = await run("reserva", "liberar", other)
        assert exit_code == 2 and "--motivo" in out
        exit_code, out = await run("reserva", "liberar", other, "--motivo", "escala refeita")
        assert exit_code == 0 and f"Reserva {other} liberada (motivo: escala refeita)" in out

        rows = await julia.res.db.fetch(
            "SELECT code, status, decided_via FROM reservations ORDER BY id"
        )
        assert [tuple(r) for r in rows] == [
            (code, "confirmada", "cli"),
            (other, "liberada", "cli"),
        ]
        # What Julia tells each doctor is in the ledger, for the workers to deliver.
        kinds = await julia.res.db.fetch(
            "SELECT to_phone, status FROM outbound_sends WHERE kind = 'reserva' ORDER BY id"
        )
        assert [tuple(r) for r in kinds] == [(ANA, "pending"), (BRUNO, "pending")]


async def test_a_person_in_the_conversation_or_an_opt_out_keeps_julia_quiet(
    julia: Julia, fake: Any
) -> None:
    world = await seed(julia, datetime.now(UTC))
    code = await reserve(julia, ANA, "Ana", world.saturday, datetime.now(UTC))
    other = await reserve(julia, BRUNO, "Bruno", world.sunday, datetime.now(UTC))
    await julia.res.db.execute(
        """UPDATE conversations SET control = 'humano'
           WHERE doctor_id = (SELECT id FROM doctors WHERE phone = $1)""",
        ANA,
    )
    await julia.res.db.execute(
        "UPDATE doctors SET opted_out_at = now(), opt_out_reason = 'pedido' WHERE phone = $1",
        BRUNO,
    )
    reply = await command(julia, fake, f"confirmar {code}")
    assert "está com uma pessoa da equipe" in reply["text"]
    await command(julia, fake, f"liberar {other} motivo: médico saiu da lista")
    for _ in range(50):
        decided = await julia.res.db.fetch(
            "SELECT to_phone, status, reason FROM outbound_sends WHERE kind = 'reserva' "
            "AND status <> 'pending' ORDER BY to_phone"
        )
        if len(decided) == 2:
            break
        await asyncio.sleep(0.1)
    assert [tuple(r) for r in decided] == [
        (ANA, "cancelled", "humano"),
        (BRUNO, "cancelled", "opt_out"),
    ]
    assert fake.evolution.texts_to(ANA) == [] and fake.evolution.texts_to(BRUNO) == []


async def test_the_scheduler_runs_the_reservas_job(julia: Julia, fake: Any) -> None:
    from app.workers.scheduler import JuliaScheduler, job_table

    world = await seed(julia, datetime.now(UTC))
    code = await reserve(julia, ANA, "Ana", world.saturday, datetime.now(UTC) - timedelta(hours=13))
    [spec] = [s for s in job_table(julia.res.settings) if s.name == "reservas"]
    scheduler = JuliaScheduler(julia.res, [spec])
    assert await scheduler.lease.refresh()
    try:
        await scheduler.run_job(spec)
    finally:
        await scheduler.lease.release()
    run = await julia.res.db.fetchrow(
        "SELECT status, error FROM job_runs WHERE job_name = 'reservas'"
    )
    assert (run["status"], run["error"]) == ("ok", None)
    await fake.await_until(lambda: fake.evolution.texts_to(ANA))
    assert await julia.res.db.fetchval("SELECT status FROM reservations WHERE code = $1", code) == (
        "expirada"
    )
