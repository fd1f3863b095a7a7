"""Operator commands: parsing, pause/resume with their audit rows and notices, the replies,
and the day's metrics against a real Postgres."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.redis import QUEUE_NAME
from app.core.resources import Resources
from app.domain.operations import commands
from app.domain.operations.commands import (
    ASK_MOTIVO,
    HELP,
    REFUSED,
    Command,
    format_phone,
    parse_command,
    run_command,
)
from app.domain.operations.metrics import DailyMetrics, daily_metrics, format_metrics
from app.domain.outbound.status_repository import JuliaStatus

TZ = ZoneInfo("America/Sao_Paulo")
# Monday, 9 March 2026, noon in São Paulo (15:00 UTC)
NOW = datetime(2026, 3, 9, 12, 0, tzinfo=TZ)
_keys = itertools.count(1)


# Parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U0BOT> pausar julia motivo: teste", Command("pause", motivo="teste")),
        ("<@U0BOT|julia> PAUSAR JÚLIA Motivo: Revisão", Command("pause", motivo="Revisão")),
        ("pausar a julia motivo - chuva forte", Command("pause", motivo="chuva forte")),
        (
            "<@U0BOT>   Pausar julia   motivo:   dois   espaços ",
            Command("pause", motivo="dois espaços"),
        ),
        # Without the keyword, what follows the command is the motivo: an emergency pause
        # should not bounce on syntax.
        (
            "<@U0BOT> pausar julia emergência no hospital",
            Command("pause", motivo="emergência no hospital"),
        ),
        ("pausar julia motivo: a &amp; b &lt;x&gt;", Command("pause", motivo="a & b <x>")),
        ("<@U0BOT> retomar julia", Command("resume")),
        ("RETOMAR JÚLIA", Command("resume")),
        ("<@U0BOT> retomar julia motivo: tudo certo", Command("resume", motivo="tudo certo")),
        ("<@U0BOT> status", Command("status")),
        ("<@U0BOT> Status da julia?", Command("status")),
        ("<@U0BOT> situação", Command("status")),
        ("<@U0BOT> ajuda", Command("help")),
        ("<@U0BOT> AJUDA!", Command("help")),
        ("<@U0BOT> handoffs", Command("handoffs")),
        ("<@U0BOT> handoff", Command("handoffs")),
        ("<@U0BOT> métricas", Command("metrics")),
        ("<@U0BOT> METRICAS de hoje", Command("metrics")),
        ("<@U0BOT>", Command("unknown")),
        ("<@U0BOT> oi julia, tudo bem?", Command("unknown")),
        ("<@U0BOT> quando retomar julia?", Command("unknown")),
        ("<@U0BOT> pausarjulia", Command("unknown")),
        ("", Command("unknown")),
    ],
)
def test_parse_command(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "<@U0BOT> pausar julia",
        "pausar julia motivo:",
        "Pausar Júlia ?",
        "pausar",
        "pausar julia <@U9>",
    ],
)
def test_pausing_without_a_motivo_asks_for_it(text: str) -> None:
    cmd = parse_command(text)
    assert cmd.name == "invalid" and cmd.error == ASK_MOTIVO


def test_the_motivo_is_capped() -> None:
    cmd = parse_command("pausar julia motivo: " + "x" * 2000)
    assert cmd.motivo is not None and len(cmd.motivo) == commands.MAX_MOTIVO


def test_format_phone() -> None:
    assert format_phone("5511987001122") == "+55 11 98700-1122"
    assert format_phone("553187001122") == "+55 31 8700-1122"
    assert format_phone("14155550100") == "+14155550100"


def test_describe_status() -> None:
    assert "ativa" in commands.describe_status(JuliaStatus("ativo", None, None, None), TZ)
    since = datetime(2026, 3, 9, 17, 5, tzinfo=UTC)
    text = commands.describe_status(
        JuliaStatus("pausado", "revisão", "slack", since), TZ, waiting=3
    )
    assert "PAUSADA desde 09/03/2026 14:05" in text
    assert "Motivo: revisão" in text and "Alterado via: slack" in text
    assert "esperando resposta: 3" in text and "retomar julia" in text


# Actions against the database ----------------------------------------------------------------


async def statuses(res: Resources) -> list[tuple[str, str | None, str, str | None]]:
    rows = await res.db.fetch(
        "SELECT status, motivo, alterado_via, alterado_por FROM julia_status ORDER BY id"
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_pause_and_resume_record_rows_and_notices(resources: Resources) -> None:
    res = resources
    reply = await run_command(
        res, parse_command("pausar julia motivo: teste"), user="U1", via="slack"
    )
    assert reply.startswith("Julia pausada. Motivo: teste")
    again = await run_command(res, Command("pause", motivo="outro"), user="U2", via="slack")
    assert "já estava pausada" in again and "Registrei o novo motivo: outro" in again
    status_reply = await run_command(res, Command("status"), user="U1", via="slack")
    assert "PAUSADA" in status_reply and "Motivo: outro" in status_reply

    resumed = await run_command(res, Command("resume"), user="U1", via="slack")
    assert resumed.startswith("Julia retomada.")
    assert "já estava ativa" in await run_command(res, Command("resume"), user="U1", via="cli")

    assert await statuses(res) == [
        ("pausado", "teste", "slack", "U1"),
        ("pausado", "outro", "slack", "U2"),
        ("ativo", "Retomando operação", "slack", "U1"),
        ("ativo", "Retomando operação", "cli", "U1"),
    ]
    notices = await res.db.fetch("SELECT kind, severity, error FROM notifications ORDER BY id")
    assert [(n["kind"], n["severity"]) for n in notices] == [
        ("paused", "warning"),
        ("paused", "warning"),
        ("resumed", "info"),
        ("resumed", "info"),
    ]
    # No SLACK_WEBHOOK_URL in these settings: recorded, marked as not delivered.
    assert {n["error"] for n in notices} == {"slack not configured"}


async def seed_conversation(res: Resources, phone: str, *, waiting: int) -> tuple[int, int]:
    doctor_id = await res.db.fetchval(
        "INSERT INTO doctors (phone, name) VALUES ($1, 'Dra. Ana') RETURNING id", phone
    )
    conversation_id = await res.db.fetchval(
        "INSERT INTO conversations (doctor_id) VALUES ($1) RETURNING id", doctor_id
    )
    for i in range(waiting):
        await res.db.execute(
            """INSERT INTO messages (conversation_id, doctor_id, direction, author, body,
                                     created_at)
               VALUES ($1, $2, 'in', 'doctor', 'oi', now() - $3::interval)""",
            conversation_id,
            doctor_id,
            timedelta(minutes=10 - i),
        )
    return doctor_id, conversation_id


async def test_resume_enqueues_every_waiting_conversation_at_once(
    resources: Resources,
) -> None:
    res = resources
    _, waiting_id = await seed_conversation(res, "5511987000001", waiting=2)
    _, answered_id = await seed_conversation(res, "5511987000002", waiting=0)
    await run_command(res, Command("pause", motivo="teste"), user=None, via="cli")
    reply = await run_command(res, Command("resume"), user=None, via="cli")
    assert "esperando resposta: 1" in reply

    jobs = await res.redis.queued_jobs(queue_name=QUEUE_NAME)
    turns = [job for job in jobs if job.function == "run_turn"]
    assert [job.args[0] for job in turns] == [waiting_id]
    newest = await res.db.fetchval(
        "SELECT max(id) FROM messages WHERE conversation_id = $1", waiting_id
    )
    assert turns[0].args[1] == newest
    # No process caches "pausado": the turn is not held back.
    delay = turns[0].score / 1000 - turns[0].enqueue_time.timestamp()
    assert delay < 1.0
    assert answered_id not in [job.args[0] for job in turns]


async def test_the_allowlist_refuses_state_changes_from_others(
    make_settings: Any, database_url: str, redis_url: str
) -> None:
    from app.core.resources import open_resources

    settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, SLACK_ALLOWED_USER_IDS="U1, U2"
    )
    assert settings.SLACK_ALLOWED_USER_IDS == ["U1", "U2"]
    async with open_resources(settings) as res:
        pause = Command("pause", motivo="x")
        assert await run_command(res, pause, user="U9", via="slack") == REFUSED
        assert await run_command(res, Command("resume"), user=None, via="slack") == REFUSED
        assert await statuses(res) == []
        # Reading is for everyone; the CLI is not a Slack user.
        assert "ativa" in await run_command(res, Command("status"), user="U9", via="slack")
        assert (await run_command(res, pause, user="root", via="cli")).startswith("Julia pausada")
        assert (await run_command(res, Command("resume"), user="U2", via="slack")).startswith(
            "Julia retomada"
        )
        assert [s[0] for s in await statuses(res)] == ["pausado", "ativo"]


async def test_unknown_and_help_replies(resources: Resources) -> None:
    unknown = await run_command(resources, Command("unknown"), user="U1", via="slack")
    assert unknown.startswith("Não entendi") and HELP in unknown
    assert await run_command(resources, Command("help"), user="U1", via="slack") == HELP
    invalid = parse_command("pausar julia")
    assert await run_command(resources, invalid, user="U1", via="slack") == ASK_MOTIVO
    assert await statuses(resources) == []


async def test_handoffs_lists_open_human_conversations(resources: Resources) -> None:
    res = resources
    assert "Nenhuma conversa" in await run_command(res, Command("handoffs"), user=None, via="cli")
    for i in range(17):
        doctor_id, conversation_id = await seed_conversation(res, f"55119870010{i:02d}", waiting=0)
        await res.db.execute(
            """UPDATE conversations SET control = 'humano', control_changed_at = $2
               WHERE id = $1""",
            conversation_id,
            datetime.now(UTC) - timedelta(hours=20 - i),
        )
        await res.db.execute(
            """INSERT INTO handoffs (conversation_id, doctor_id, trigger, reason, requested_at)
               VALUES ($1, $2, 'juridico', $3, now() - $4::interval)""",
            conversation_id,
            doctor_id,
            f"motivo {i}",
            timedelta(hours=20 - i),
        )
    # Handed back: not listed.
    doctor_id, back_id = await seed_conversation(res, "5511987009999", waiting=0)
    await res.db.execute(
        """INSERT INTO handoffs (conversation_id, doctor_id, trigger, status)
           VALUES ($1, $2, 'pedido', 'devolvido')""",
        back_id,
        doctor_id,
    )

    reply = await run_command(res, Command("handoffs"), user=None, via="slack")
    lines = reply.splitlines()
    assert lines[0] == "Conversas com um humano agora: 17"
    assert len([line for line in lines if line.startswith("• ")]) == 15
    assert lines[1].startswith("• Dra. Ana (+55 11 98700-1000): motivo 0, há 20 h")
    assert lines[-1] == "… e mais 2."
    assert "9999" not in reply


# Metrics ------------------------------------------------------------------------------------


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=TZ)


async def insert_send(
    res: Resources,
    *,
    doctor_id: int,
    kind: str,
    proactive: bool,
    status: str,
    at: datetime,
    reason: str | None = None,
) -> None:
    await res.db.execute(
        """INSERT INTO outbound_sends (idempotency_key, kind, proactive, doctor_id, to_phone,
                                       body, status, reason, decided_at, sent_at, created_at)
           VALUES ($1, $2, $3, $4, '5511987000001', 'oi', $5, $6, $7::timestamptz,
                   CASE WHEN $5 = 'sent' THEN $7 END, $7)""",
        f"test:{next(_keys)}",
        kind,
        proactive,
        doctor_id,
        status,
        reason,
        at,
    )


async def test_daily_metrics_count_the_local_day(resources: Resources) -> None:
    res = resources
    d1, c1 = await seed_conversation(res, "5511987000001", waiting=0)
    d2, c2 = await seed_conversation(res, "5511987000002", waiting=0)

    async def message(conversation_id: int, doctor_id: int, direction: str, at: datetime) -> None:
        await res.db.execute(
            """INSERT INTO messages (conversation_id, doctor_id, direction, author, body,
                                     created_at)
               VALUES ($1, $2, $3, $4, 'x', $5)""",
            conversation_id,
            doctor_id,
            direction,
            "doctor" if direction == "in" else "julia",
            at,
        )

    await message(c1, d1, "in", local(9, 10))
    await message(c1, d1, "out", local(9, 10, 1))
    # 22:00 in São Paulo is already the 10th in UTC: still today.
    await message(c1, d1, "in", local(9, 22))
    # 23:30 on the 8th in São Paulo is the 9th in UTC: yesterday.
    await message(c2, d2, "in", local(8, 23, 30))

    today = local(9, 11)
    await insert_send(res, doctor_id=d1, kind="reply", proactive=False, status="sent", at=today)
    await insert_send(res, doctor_id=d1, kind="system", proactive=False, status="sent", at=today)
    await insert_send(res, doctor_id=d1, kind="relay", proactive=False, status="sent", at=today)
    await insert_send(
        res, doctor_id=d1, kind="reply", proactive=False, status="sent", at=local(8, 23)
    )
    for _ in range(2):
        await insert_send(
            res, doctor_id=d2, kind="campaign", proactive=True, status="sent", at=today
        )
        await insert_send(
            res,
            doctor_id=d2,
            kind="campaign",
            proactive=True,
            status="deferred",
            reason="horario",
            at=today,
        )
    await insert_send(
        res,
        doctor_id=d2,
        kind="followup",
        proactive=True,
        status="deferred",
        reason="cap_hora_chip",
        at=today,
    )
    await insert_send(
        res,
        doctor_id=d2,
        kind="campaign",
        proactive=True,
        status="blocked",
        reason="pausado",
        at=today,
    )
    await insert_send(
        res,
        doctor_id=d2,
        kind="campaign",
        proactive=True,
        status="blocked",
        reason="pausado",
        at=local(8, 12),
    )
    await insert_send(
        res,
        doctor_id=d2,
        kind="campaign",
        proactive=True,
        status="cancelled",
        reason="opt_out",
        at=today,
    )

    await res.db.execute(
        """INSERT INTO handoffs (conversation_id, doctor_id, trigger, requested_at)
           VALUES ($1, $2, 'pedido', $3)""",
        c1,
        d1,
        today,
    )
    await res.db.execute(
        """INSERT INTO handoffs (conversation_id, doctor_id, trigger, status, requested_at)
           VALUES ($1, $2, 'pedido', 'devolvido', $3)""",
        c2,
        d2,
        local(8, 12),
    )

    async def turn(status: str, at: datetime, cost: float, tokens: tuple[int, int, int]) -> None:
        await res.db.execute(
            """INSERT INTO turns (conversation_id, status, cost_usd, input_tokens,
                                  cache_read_tokens, cache_write_tokens, started_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            c1,
            status,
            cost,
            *tokens,
            at,
        )

    await turn("ok", today, 0.0125, (100, 300, 100))
    await turn("ok", today, 0.02, (0, 0, 0))
    await turn("failed", today, 0, (0, 0, 0))
    await turn("skipped", today, 0, (0, 0, 0))
    await turn("ok", local(8, 12), 5.0, (1000, 0, 0))

    m = await daily_metrics(res.db, tz=TZ, now=NOW)
    assert m.day.isoformat() == "2026-03-09" and m.tz == "America/Sao_Paulo"
    assert m.conversations_active == 1
    assert m.inbound_messages == 2
    assert m.replies_sent == 2
    assert m.outreach_sent == 2
    assert m.outreach_deferred == {"horario": 2, "cap_hora_chip": 1}
    assert m.outreach_blocked == {"pausado": 1}
    assert m.handoffs_opened == 1
    assert (m.turns_ok, m.turns_failed) == (2, 1)
    assert m.llm_cost_usd == pytest.approx(0.0325)
    assert m.cache_read_share == pytest.approx(0.6)

    # The same instant seen from UTC is another calendar day.
    utc_day = await daily_metrics(res.db, tz=ZoneInfo("UTC"), now=local(9, 22))
    assert utc_day.day.isoformat() == "2026-03-10" and utc_day.inbound_messages == 1

    text = format_metrics(m)
    assert text.startswith("Métricas de hoje (09/03/2026, America/Sao_Paulo):")
    assert "Prospecção adiada: 3 (horario: 2, cap_hora_chip: 1)" in text
    assert "Prospecção bloqueada: 1 (pausado: 1)" in text
    assert "Turnos: 2 ok, 1 com falha" in text
    assert "US$ 0,03" in text and "cache de prompt: 60%" in text


def test_format_metrics_of_an_empty_day() -> None:
    m = DailyMetrics(
        day=NOW.date(),
        tz="America/Sao_Paulo",
        conversations_active=0,
        inbound_messages=0,
        replies_sent=0,
        outreach_sent=0,
    )
    text = format_metrics(m)
    assert "Prospecção adiada: 0\n" in text and "sem chamadas" in text
    assert m.cache_read_share is None


async def test_a_resume_that_cannot_enqueue_still_resumes(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(res: Resources) -> int:
        raise ConnectionError("redis down")

    monkeypatch.setattr(commands, "answer_waiting", broken)
    await run_command(resources, Command("pause", motivo="x"), user=None, via="cli")
    reply = await run_command(resources, Command("resume"), user=None, via="cli")
    assert reply.startswith("Julia retomada.") and "varredura automática" in reply
    assert [s[0] for s in await statuses(resources)] == ["pausado", "ativo"]
