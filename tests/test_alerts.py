"""Alerts: one alert and one recovery per episode, never a flood.

The decisions are tested as pure functions over sequences of observations on a fake clock;
the jobs against the real Postgres/Valkey and the fake Slack webhook.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from app.core.migrations import migrate
from app.core.redis import QUEUE_NAME, WORKER_HEARTBEAT_KEY
from app.core.resources import Resources, open_resources
from app.domain.notices.service import notify
from app.domain.operations import alerts
from app.domain.operations.alerts import (
    ALERT,
    RECOVER,
    Action,
    Episode,
    QueueStats,
    Step,
    circuit_alert_cooldown,
    circuit_step,
    error_rate_step,
    health_step,
    queue_step,
    report_day,
    step,
    worker_beating,
    worker_step,
)
from app.domain.operations.alerts_repository import DailyNumbers, TurnStats, WorkStats
from app.domain.operations.health import HealthReport
from app.workers import alert_jobs
from app.workers.alert_jobs import alertas, alerting, verificar_saude
from app.workers.scheduler import job_table
from tests.conftest import Services, create_database

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
SP = ZoneInfo("America/Sao_Paulo")
MINUTE = timedelta(minutes=1)


def run(
    observations: Sequence[Any], decide: Any, start: Episode | None = None
) -> list[Action | None]:
    """Feed one observation per minute from T0; the actions taken, in order."""
    episode = start or Episode()
    actions: list[Action | None] = []
    for i, observation in enumerate(observations):
        result: Step = decide(episode, observation, T0 + i * MINUTE)
        episode = result.episode
        actions.append(result.action)
    return actions


# Episodes ------------------------------------------------------------------------------------


def test_step_alerts_once_and_recovers_once() -> None:
    actions = run([True, True, True, False, False], lambda ep, bad, now: step(ep, bad=bad, now=now))
    assert actions == [ALERT, None, None, RECOVER, None]


def test_episode_state_round_trips_through_json() -> None:
    ep = Episode(failing=2, since=T0, alerted_at=T0 + MINUTE, recovered_at=T0 - MINUTE)
    assert Episode.loads(ep.dumps()) == ep
    assert Episode.loads(None) == Episode() == Episode.loads("")


def _health(ok: bool) -> dict[str, str]:
    return {"redis": "ok", "supabase": "ok" if ok else "error: ConnectionRefusedError"}


def test_health_alerts_after_three_failures_in_a_row_then_recovers_once() -> None:
    seq = [False, False, False, False, False, True, True]
    actions = run([_health(ok) for ok in seq], health_step)
    assert actions == [None, None, ALERT, None, None, RECOVER, None]


def test_health_failures_must_be_consecutive() -> None:
    seq = [False, False, True, False, False, True, False, False, False]
    actions = run([_health(ok) for ok in seq], health_step)
    assert actions.count(ALERT) == 1 and actions[-1] == ALERT
    assert RECOVER not in actions  # nothing was alerted before, so nothing to recover


def _rate(ep: Episode, stats: TurnStats | WorkStats, now: datetime) -> Step:
    work = stats if isinstance(stats, WorkStats) else WorkStats({"turnos": stats})
    return error_rate_step(ep, work, now, threshold=0.05, min_volume=20)


def _rate10(ep: Episode, stats: WorkStats, now: datetime) -> Step:
    return error_rate_step(ep, stats, now, threshold=0.05, min_volume=10)


def test_error_rate_at_julias_volumes_half_of_ten_turns_failing_alerts() -> None:
    assert run([WorkStats({"turnos": TurnStats(total=10, failed=5)})], _rate10) == [ALERT]
    # one failure among ten is a glitch, not an episode; two among thirty are over 5%
    assert run([WorkStats({"turnos": TurnStats(total=10, failed=1)})], _rate10) == [None]
    assert run([WorkStats({"turnos": TurnStats(total=30, failed=2)})], _rate10) == [ALERT]
    assert run([WorkStats({"turnos": TurnStats(total=9, failed=9)})], _rate10) == [None]


def test_error_rate_counts_sends_webhooks_and_jobs_each_with_its_own_volume() -> None:
    healthy_turns = TurnStats(total=40, failed=0)
    for kind in ("envios", "webhooks", "jobs"):
        failing = WorkStats({"turnos": healthy_turns, kind: TurnStats(total=12, failed=3)})
        assert run([failing], _rate10) == [ALERT], kind
    # many healthy jobs do not hide failing sends (each kind is judged on its own)
    mixed = WorkStats(
        {"envios": TurnStats(total=20, failed=4), "jobs": TurnStats(total=900, failed=0)}
    )
    assert run([mixed], _rate10) == [ALERT]


def test_error_rate_needs_volume() -> None:
    assert run([TurnStats(total=19, failed=19)] * 5, _rate) == [None] * 5
    assert run([TurnStats(total=20, failed=1)] * 3, _rate) == [None] * 3  # exactly 5%: not over


def test_error_rate_one_alert_per_episode_with_hysteresis() -> None:
    seq = [
        TurnStats(total=40, failed=1),  # 2.5%
        TurnStats(total=40, failed=4),  # 10% -> alert
        TurnStats(total=60, failed=9),  # 15%, still bad: quiet
        TurnStats(total=50, failed=2),  # 4%: below threshold but not clearly recovered
        TurnStats(total=50, failed=3),  # 6%: bad again, same episode
        TurnStats(total=50, failed=1),  # 2% -> recovery
        TurnStats(total=50, failed=0),
        TurnStats(total=30, failed=3),  # 10% -> a new episode
    ]
    assert run(seq, _rate) == [None, ALERT, None, None, None, RECOVER, None, ALERT]


def test_error_rate_recovers_when_traffic_stops_without_failures() -> None:
    seq = [TurnStats(total=25, failed=10), TurnStats(total=3, failed=1), TurnStats(0, 0)]
    assert run(seq, _rate) == [ALERT, None, RECOVER]


def _circuit(
    last_alert_at: datetime | None = None, last_recovery_at: datetime | None = None
) -> Any:
    def decide(ep: Episode, down: bool, now: datetime) -> Step:
        return circuit_step(
            ep, down=down, last_alert_at=last_alert_at, last_recovery_at=last_recovery_at, now=now
        )

    return decide


def test_circuit_open_alerts_once_and_recovers_once() -> None:
    assert run([False, True, True, True, False, False], _circuit()) == [
        None,
        ALERT,
        None,
        None,
        RECOVER,
        None,
    ]


def test_circuit_adopts_the_turns_alert_for_this_outage() -> None:
    # A turn met the open circuit and alerted a minute before our first tick: no second alert.
    decide = _circuit(last_alert_at=T0 - MINUTE, last_recovery_at=T0 - timedelta(hours=3))
    assert run([True, True, False], decide) == [None, None, RECOVER]


def test_circuit_recovers_an_outage_that_ended_between_two_ticks() -> None:
    decide = _circuit(last_alert_at=T0 - timedelta(seconds=20))
    assert run([False, False], decide) == [RECOVER, None]


def test_circuit_ignores_alerts_already_recovered_or_old() -> None:
    recovered = _circuit(last_alert_at=T0 - 10 * MINUTE, last_recovery_at=T0 - 5 * MINUTE)
    assert run([False, True], recovered) == [None, ALERT]
    stale = _circuit(last_alert_at=T0 - timedelta(hours=2))
    assert run([False], stale) == [None]


def test_circuit_cooldown_never_reaches_back_past_the_last_recovery() -> None:
    assert circuit_alert_cooldown(T0, None) == timedelta(minutes=30)
    assert circuit_alert_cooldown(T0, T0 - 4 * MINUTE) == 4 * MINUTE
    assert circuit_alert_cooldown(T0, T0 - timedelta(hours=5)) == timedelta(minutes=30)


def _queue(ep: Episode, stats: QueueStats, now: datetime) -> Step:
    return queue_step(ep, stats, now, max_due=50, max_wait=timedelta(minutes=5))


def test_queue_backlog_alerts_once_with_hysteresis() -> None:
    seq = [QueueStats(10, None), QueueStats(60, None), QueueStats(80, None)]
    seq += [QueueStats(30, None), QueueStats(55, None), QueueStats(20, None), QueueStats(0, None)]
    assert run(seq, _queue) == [None, ALERT, None, None, None, RECOVER, None]


def test_queue_alerts_on_a_doctor_message_waiting_too_long() -> None:
    arrived = T0 - 3 * MINUTE  # 3, 4, 5, 6, 7 minutes old on the ticks
    seq = [QueueStats(0, arrived)] * 5 + [QueueStats(0, None)]
    assert run(seq, _queue) == [None, None, None, ALERT, None, RECOVER]


def test_worker_heartbeat_missing_for_three_beats_alerts_once() -> None:
    def decide(ep: Episode, beating: bool, now: datetime) -> Step:
        return worker_step(ep, beating=beating, now=now, silence=timedelta(seconds=30))

    # The first tick that misses the beat starts the count; 60 s later it is > 30 s.
    assert run([True, False, False, False, True, True], decide) == [
        None,
        None,
        ALERT,
        None,
        RECOVER,
        None,
    ]


def test_worker_beating_reads_arq_and_json_heartbeats() -> None:
    stale = timedelta(seconds=30)
    assert not worker_beating(None, T0, stale)
    assert worker_beating(b"Nov-25 13:00:00 j_complete=3 j_failed=0 queued=0", T0, stale)
    fresh = json.dumps({"ts": (T0 - timedelta(seconds=5)).timestamp()})
    old = json.dumps({"ts": (T0 - timedelta(seconds=90)).timestamp()})
    assert worker_beating(fresh, T0, stale)
    assert not worker_beating(old, T0, stale)


def test_daily_report_day_is_yesterday_from_eight_local() -> None:
    assert report_day(datetime(2026, 11, 25, 10, 59, tzinfo=UTC), SP) is None  # 07:59 local
    assert report_day(datetime(2026, 11, 25, 11, 0, tzinfo=UTC), SP) == date(2026, 11, 24)
    assert report_day(datetime(2026, 11, 26, 2, 30, tzinfo=UTC), SP) == date(2026, 11, 24)
    start, end = alerts.day_bounds(date(2026, 11, 24), SP)
    assert (start, end) == (
        datetime(2026, 11, 24, 3, tzinfo=UTC),
        datetime(2026, 11, 25, 3, tzinfo=UTC),
    )


def test_texts_say_what_is_wrong_and_where_to_look() -> None:
    text = alerts.health_alert_text({"supabase": "error: no answer within 3s"}, T0, SP)
    assert "3x" in text and "supabase: error: no answer within 3s" in text
    assert "10:00" in text and "/health/deep" in text and "DATABASE_URL" in text
    work = WorkStats({"turnos": TurnStats(40, 4, "LLMUnavailable"), "jobs": TurnStats(300, 0)})
    rate = alerts.error_rate_alert_text(work, 30, 0.05, 10)
    assert "turnos 4 de 40 falharam (10%)" in rate and "limite 5%" in rate
    assert "LLMUnavailable" in rate and "FROM turns" in rate and "job_runs" not in rate
    queue = alerts.queue_alert_text(
        QueueStats(70, T0 - 12 * MINUTE), T0, max_due=50, max_wait=5 * MINUTE
    )
    assert "worker não está consumindo" in queue and "70 jobs" in queue and "12 min" in queue
    report = alerts.daily_report_text(
        date(2026, 11, 24),
        DailyNumbers(12, 3, 40, 35, 10, 2, 30, 1, Decimal("1234.5")),
    )
    assert "24/11/2026" in report and "US$ 1.234,50" in report and "(1 com falha)" in report


# Against the real store and the fake Slack ----------------------------------------------------


@pytest.fixture
async def res(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> AsyncIterator[Resources]:
    settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SLACK_WEBHOOK_URL=fake.url + "/slack/webhook",
        LLM_CIRCUIT_COOLDOWN_SECONDS=1,
    )
    async with open_resources(settings) as resources:
        # a live worker, so the heartbeat check stays quiet unless a test says otherwise
        await resources.redis.set(WORKER_HEARTBEAT_KEY, "alive", ex=600)
        yield resources


def posts(fake: Any) -> list[str]:
    return [str(p["text"]) for p in fake.slack.webhook_posts]


def test_alert_jobs_are_scheduled(make_settings: Any) -> None:
    table = {spec.name: spec.every_seconds for spec in job_table(make_settings())}
    assert table["verificar_saude"] == 60 and table["alertas"] == 60
    assert table["relatorio_diario"] == 3600


async def test_anthropic_outage_gives_one_alert_and_one_recovery(res: Resources, fake: Any) -> None:
    breaker = res.breaker
    for _ in range(res.settings.LLM_CIRCUIT_THRESHOLD):
        await breaker.record_failure()
    assert await breaker.is_open()
    for _ in range(4):
        await alertas(res)
    assert len(posts(fake)) == 1
    assert "circuit aberto" in posts(fake)[0] and "Anthropic" in posts(fake)[0]

    # A turn meeting the open circuit during the outage is absorbed by the shared key.
    await notify(
        res.db,
        res.notifier,
        key=alerts.CIRCUIT_ALERT_KEY,
        kind="alert",
        text="circuit aberto (turno)",
        severity="critical",
        cooldown=timedelta(minutes=30),
    )
    await asyncio.sleep(res.settings.LLM_CIRCUIT_COOLDOWN_SECONDS + 0.2)
    await alertas(res)  # half-open: no call has succeeded yet, still an outage
    assert len(posts(fake)) == 1

    assert await breaker.record_success()
    for _ in range(3):
        await alertas(res)
    assert len(posts(fake)) == 2
    assert "Circuit fechado" in posts(fake)[1]

    # The next outage is a new episode: it alerts again despite the 30-min cool-down.
    for _ in range(res.settings.LLM_CIRCUIT_THRESHOLD):
        await breaker.record_failure()
    await alertas(res)
    await alertas(res)
    assert len(posts(fake)) == 3 and "circuit aberto" in posts(fake)[2]


async def test_turn_alerted_outage_that_ended_between_ticks_gets_its_recovery(
    res: Resources, fake: Any
) -> None:
    breaker = res.breaker
    for _ in range(res.settings.LLM_CIRCUIT_THRESHOLD):
        await breaker.record_failure()
    await notify(
        res.db,
        res.notifier,
        key=alerts.CIRCUIT_ALERT_KEY,
        kind="alert",
        text="Circuit aberto: o Claude (Anthropic) está falhando.",
        severity="critical",
        cooldown=timedelta(minutes=30),
    )
    await asyncio.sleep(res.settings.LLM_CIRCUIT_COOLDOWN_SECONDS + 0.2)
    assert await breaker.record_success()
    for _ in range(3):
        await alertas(res)
    assert len(posts(fake)) == 2  # the turn's alert, then our recovery
    assert "Circuit fechado" in posts(fake)[1]


async def test_two_schedulers_at_once_send_one_alert(
    res: Resources, fake: Any, make_settings: Any
) -> None:
    breaker = res.breaker
    for _ in range(res.settings.LLM_CIRCUIT_THRESHOLD):
        await breaker.record_failure()
    async with open_resources(res.settings) as other:
        for _ in range(3):
            await asyncio.gather(alertas(res), alertas(other))
    assert len(posts(fake)) == 1


async def _conversation(db: asyncpg.Pool) -> int:
    doctor = await db.fetchval(
        "INSERT INTO doctors (phone, name) VALUES ('5511988887777', 'Dra. Alerta') RETURNING id"
    )
    conversation: int = await db.fetchval(
        "INSERT INTO conversations (doctor_id) VALUES ($1) RETURNING id", doctor
    )
    return conversation


async def _turns(db: asyncpg.Pool, conversation_id: int, *, ok: int, failed: int) -> None:
    await db.executemany(
        """INSERT INTO turns (conversation_id, status, error, started_at, finished_at)
           VALUES ($1, $2, $3, now() - interval '2 minutes', now())""",
        [(conversation_id, "ok", None)] * ok
        + [(conversation_id, "failed", "LLMUnavailable: APIStatusError (529)")] * failed,
    )


async def test_burst_of_failed_turns_alerts_once_then_recovers(res: Resources, fake: Any) -> None:
    conversation = await _conversation(res.db)
    await _turns(res.db, conversation, ok=25, failed=5)  # 5 of 30: 16.7%
    for _ in range(3):
        await alertas(res)
    assert len(posts(fake)) == 1
    text = posts(fake)[0]
    assert "Taxa de erro alta nos últimos 30 min" in text
    assert "turnos 5 de 30 falharam (16,7%)" in text
    assert "APIStatusError (529)" in text

    await res.db.execute("UPDATE turns SET status = 'ok', error = NULL")
    await alertas(res)
    await alertas(res)
    assert len(posts(fake)) == 2 and "Taxa de erro normal" in posts(fake)[1]
    kinds = await res.db.fetch("SELECT key, kind, severity FROM notifications ORDER BY id")
    assert [tuple(r) for r in kinds] == [
        ("error_rate", "alert", "warning"),
        ("error_rate", "recovery", "info"),
    ]


async def test_half_of_ten_turns_failing_alerts(res: Resources, fake: Any) -> None:
    conversation = await _conversation(res.db)
    await _turns(res.db, conversation, ok=5, failed=5)
    await alertas(res)
    assert len(posts(fake)) == 1 and "turnos 5 de 10 falharam (50%)" in posts(fake)[0]


async def test_one_failed_turn_in_a_quiet_half_hour_does_not_alert(
    res: Resources, fake: Any
) -> None:
    conversation = await _conversation(res.db)
    await _turns(res.db, conversation, ok=9, failed=1)
    await alertas(res)
    assert posts(fake) == []


async def test_deep_health_failing_three_times_alerts_once_then_recovers(
    res: Resources, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = HealthReport(checks={"redis": "ok", "supabase": "error: no answer within 3s"})

    async def failing(_: Resources) -> HealthReport:
        return report

    monkeypatch.setattr(alert_jobs, "deep_health", failing)
    await verificar_saude(res)
    await verificar_saude(res)
    assert posts(fake) == []
    for _ in range(3):
        await verificar_saude(res)
    assert len(posts(fake)) == 1
    assert "Health check falhou 3x" in posts(fake)[0]
    assert "supabase: error: no answer within 3s" in posts(fake)[0]

    monkeypatch.undo()  # the real checks pass
    await verificar_saude(res)
    await verificar_saude(res)
    assert len(posts(fake)) == 2 and "Health check OK de novo" in posts(fake)[1]


async def test_pending_migrations_alert_even_without_the_notifications_table(
    services: Services, make_settings: Any, redis_url: str, fake: Any
) -> None:
    blank = await create_database(services, template=None)
    settings = make_settings(
        DATABASE_URL=blank, REDIS_URL=redis_url, SLACK_WEBHOOK_URL=fake.url + "/slack/webhook"
    )
    async with open_resources(settings) as res:
        for _ in range(4):
            await verificar_saude(res)
        assert len(posts(fake)) == 1
        assert "migrations: pending: 0001_extensions.sql" in posts(fake)[0]
        assert "python -m app migrate" in posts(fake)[0]

        async with res.db.acquire() as conn:
            await migrate(conn)
        await verificar_saude(res)
        assert len(posts(fake)) == 2 and "OK de novo" in posts(fake)[1]


async def test_queue_not_consumed_alerts_once_then_recovers(res: Resources, fake: Any) -> None:
    ctx = alerting(res)
    conversation = await _conversation(res.db)
    message = await res.db.fetchval(
        """INSERT INTO messages (conversation_id, direction, author, body, created_at)
           VALUES ($1, 'in', 'doctor', 'oi', now() - interval '7 minutes') RETURNING id""",
        conversation,
    )
    now = datetime.now(UTC)
    assert await alerts.check_queue(ctx, now) == ALERT
    assert await alerts.check_queue(ctx, now + MINUTE) is None
    assert "mensagem de médico sem resposta há 7 min" in posts(fake)[0]

    await res.db.execute("UPDATE messages SET processed_at = now() WHERE id = $1", message)
    due = {f"job-{i}": (now - timedelta(seconds=30)).timestamp() * 1000 for i in range(60)}
    due["later"] = (now + timedelta(hours=1)).timestamp() * 1000  # deferred: not due
    await res.redis.zadd(QUEUE_NAME, due)
    assert await alerts.check_queue(ctx, now + 2 * MINUTE) is None  # same episode, quiet
    await res.redis.delete(QUEUE_NAME)
    assert await alerts.check_queue(ctx, now + 3 * MINUTE) == RECOVER
    assert len(posts(fake)) == 2 and "Fila normal de novo" in posts(fake)[1]

    await res.redis.zadd(QUEUE_NAME, due)
    assert await alerts.check_queue(ctx, now + 4 * MINUTE) == ALERT
    assert "60 jobs vencidos na fila (limite 50)" in posts(fake)[2]


async def test_waiting_messages_do_not_count_when_paused_or_under_human_control(
    res: Resources, fake: Any
) -> None:
    ctx = alerting(res)
    conversation = await _conversation(res.db)
    await res.db.execute(
        """INSERT INTO messages (conversation_id, direction, author, body, created_at)
           VALUES ($1, 'in', 'doctor', 'oi', now() - interval '30 minutes')""",
        conversation,
    )
    await res.db.execute("UPDATE conversations SET control = 'humano' WHERE id = $1", conversation)
    assert await alerts.check_queue(ctx, datetime.now(UTC)) is None
    await res.db.execute("UPDATE conversations SET control = 'julia' WHERE id = $1", conversation)
    await res.db.execute(
        "INSERT INTO julia_status (status, motivo, alterado_via) "
        "VALUES ('pausado', 'teste', 'manual')"
    )
    assert await alerts.check_queue(ctx, datetime.now(UTC)) is None
    assert posts(fake) == []


async def test_worker_heartbeat_missing_alerts_once_then_recovers(
    res: Resources, fake: Any
) -> None:
    ctx = alerting(res)
    silence = 3 * res.settings.HEARTBEAT_SECONDS
    now = datetime.now(UTC)
    await res.redis.delete(WORKER_HEARTBEAT_KEY)
    assert await alerts.check_worker(ctx, now) is None
    assert await alerts.check_worker(ctx, now + timedelta(seconds=silence + 1)) == ALERT
    assert await alerts.check_worker(ctx, now + timedelta(seconds=silence + 61)) is None
    await res.redis.set(WORKER_HEARTBEAT_KEY, "Nov-25 13:00:00 j_complete=0", ex=11)
    assert await alerts.check_worker(ctx, now + timedelta(seconds=silence + 121)) == RECOVER
    assert len(posts(fake)) == 2
    assert "Worker sem heartbeat" in posts(fake)[0] and "Worker de volta" in posts(fake)[1]


async def test_daily_report_once_in_the_morning_with_yesterdays_numbers(
    res: Resources, fake: Any
) -> None:
    ctx = alerting(res)
    today = datetime.now(SP).date()
    yesterday_noon = datetime.combine(today - timedelta(days=1), datetime.min.time(), SP)
    yesterday_noon += timedelta(hours=12)
    conversation = await _conversation(res.db)
    await res.db.execute(
        "UPDATE conversations SET created_at = $2 WHERE id = $1", conversation, yesterday_noon
    )
    await res.db.executemany(
        """INSERT INTO messages (conversation_id, direction, author, body, created_at,
                                 processed_at)
           VALUES ($1, $2, $3, 'x', $4, $4)""",
        [
            (conversation, "in", "doctor", yesterday_noon),
            (conversation, "in", "doctor", yesterday_noon),
            (conversation, "in", "doctor", datetime.now(UTC)),  # today: not in the report
        ],
    )
    await res.db.executemany(
        """INSERT INTO turns (conversation_id, status, cost_usd, started_at)
           VALUES ($1, $2, $3, $4)""",
        [
            (conversation, "ok", Decimal("0.75"), yesterday_noon),
            (conversation, "failed", Decimal("0.5"), yesterday_noon),
        ],
    )

    early = datetime.combine(today, datetime.min.time(), SP) + timedelta(hours=7, minutes=30)
    morning = early + timedelta(minutes=30)
    assert not await alerts.daily_report(ctx, early)
    assert await alerts.daily_report(ctx, morning)
    assert not await alerts.daily_report(ctx, morning + timedelta(hours=1))
    assert len(posts(fake)) == 1
    text = posts(fake)[0]
    yesterday = (today - timedelta(days=1)).strftime("%d/%m/%Y")
    assert f"Relatório diário da Julia: {yesterday}" in text
    assert "Conversas: 1 com mensagens, 1 novas" in text
    assert "Mensagens recebidas: 2" in text
    assert "Turnos da IA: 2 (1 com falha)" in text and "US$ 1,25" in text
