"""Alerts to the managers' Slack (spec: Monitoramento → Alertas) and the daily report.

Every watched condition is an *episode*: a streak of bad observations raises one alert, the
condition clearing raises one recovery message, and nothing is sent in between. What the
alerting remembers between ticks (the streak, whether it alerted) lives in Redis, so a new
scheduler leader carries on where the old one stopped; a compare-and-set on that state lets
only one runner act on a transition.

The decisions are pure functions of `now` and the observations (tests drive them with a fake
clock); the `check_*` functions observe, decide, store the new state, then send.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import Settings
from app.core.logging import get_logger
from app.core.redis import QUEUE_NAME, WORKER_HEARTBEAT_KEY
from app.domain.notices.service import notify
from app.domain.operations import alerts_repository as repo
from app.domain.operations.alerts_repository import WORK_KINDS, DailyNumbers, TurnStats, WorkStats
from app.domain.operations.health import OK, HealthReport
from app.domain.operations.webhook_tally import webhook_counts
from app.integrations.protocols import Notifier, Severity

log = get_logger(__name__)

Action = Literal["alert", "recover"]
ALERT: Action = "alert"
RECOVER: Action = "recover"

HEALTH_FAILURES = 3  # spec: "Health check fail 3x"
# The error rate alerts on a kind of work only with at least this many failures in the
# window: at Julia's volumes one failed turn among ten is a glitch, two are a pattern.
MIN_FAILURES = 2
# An episode is over when the error rate falls below this fraction of the threshold, so a
# rate hovering around 5% does not alert and recover every minute.
RECOVERY_FRACTION = 0.5
DAILY_REPORT_HOUR = 8
STATE_TTL = timedelta(days=7)
STATE_PREFIX = "julia:alerts:"

# The Anthropic circuit (app/core/circuit.py). `open` lasts the cool-down; `tripped` stays
# until a call succeeds again, so it also covers the half-open wait.
CIRCUIT_OPEN_KEY = "julia:circuit:anthropic:open"
CIRCUIT_TRIPPED_KEY = "julia:circuit:anthropic:tripped"
# The turn raises the same alert when it meets the open circuit, with this key and cool-down.
CIRCUIT_ALERT_KEY = "circuit_open:anthropic"
CIRCUIT_RECOVERY_KEY = "circuit_closed:anthropic"
CIRCUIT_ALERT_COOLDOWN = timedelta(minutes=30)


# Episodes (pure) ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Episode:
    """What the alerting remembers about one condition between ticks."""

    failing: int = 0  # consecutive bad observations
    since: datetime | None = None  # first bad observation of the streak (or episode)
    alerted_at: datetime | None = None  # alert sent, recovery not yet
    recovered_at: datetime | None = None  # the last recovery message

    def dumps(self) -> str:
        return json.dumps(
            {
                "failing": self.failing,
                "since": _iso(self.since),
                "alerted_at": _iso(self.alerted_at),
                "recovered_at": _iso(self.recovered_at),
            }
        )

    @classmethod
    def loads(cls, raw: str | bytes | None) -> Episode:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            failing=int(data.get("failing") or 0),
            since=_parse_time(data.get("since")),
            alerted_at=_parse_time(data.get("alerted_at")),
            recovered_at=_parse_time(data.get("recovered_at")),
        )


@dataclass(frozen=True, slots=True)
class Step:
    episode: Episode  # the state to keep
    action: Action | None
    previous: Episode  # the state before this observation (the recovery message reads it)


def step(
    ep: Episode,
    *,
    bad: bool,
    now: datetime,
    cleared: bool | None = None,
    after: int = 1,
    hold: timedelta = timedelta(0),
) -> Step:
    """Advance an episode by one observation.

    Alert once the condition has been bad for `after` observations in a row and for at
    least `hold`; recover once an alerted condition is `cleared` (default: not bad). Between
    bad and cleared (hysteresis) an alerted episode stays open and quiet.
    """
    if bad:
        since = ep.since or now
        streak = replace(ep, failing=ep.failing + 1, since=since)
        if ep.alerted_at is None and streak.failing >= after and now - since >= hold:
            return Step(replace(streak, alerted_at=now), ALERT, ep)
        return Step(streak, None, ep)
    if ep.alerted_at is None:
        return Step(Episode(recovered_at=ep.recovered_at), None, ep)
    if cleared is None or cleared:
        return Step(Episode(recovered_at=now), RECOVER, ep)
    return Step(replace(ep, failing=0), None, ep)


def health_step(ep: Episode, checks: dict[str, str], now: datetime) -> Step:
    return step(ep, bad=bool(failing_checks(checks)), now=now, after=HEALTH_FAILURES)


def failing_checks(checks: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in checks.items() if value != OK}


def kind_over(stats: TurnStats, *, threshold: float, min_volume: int) -> bool:
    """One kind of work failing too often: over `threshold`, with at least `min_volume`
    finished in the window and MIN_FAILURES of them failed (one glitch is not an episode)."""
    return stats.total >= min_volume and stats.failed >= MIN_FAILURES and stats.rate > threshold


def error_rate_step(
    ep: Episode, stats: WorkStats, now: datetime, *, threshold: float, min_volume: int
) -> Step:
    """Too much failed work: any kind (turns, sends, webhooks, jobs) over the threshold with
    enough volume; cleared when no kind keeps failing at half the threshold."""
    kinds = stats.kinds.values()
    bad = any(kind_over(k, threshold=threshold, min_volume=min_volume) for k in kinds)
    cleared = all(k.rate < threshold * RECOVERY_FRACTION for k in kinds)
    return step(ep, bad=bad, now=now, cleared=cleared)


def circuit_step(
    ep: Episode,
    *,
    down: bool,
    last_alert_at: datetime | None,
    last_recovery_at: datetime | None,
    now: datetime,
) -> Step:
    """The Anthropic circuit: alert while open (or tripped), recover when it closed.

    A turn that met the open circuit may have alerted first (same notification key). Such an
    alert, newer than the last recovery, is adopted as this episode's alert, so the outage
    gets no second alert but does get its recovery, even if it ended between two ticks.
    The recovery is known twice (its notification row, on the store's clock, and the
    episode, on ours) so that a recovery the store missed is not sent again.
    """
    turn_alerted = (
        last_alert_at is not None
        and (last_recovery_at is None or last_alert_at > last_recovery_at)
        and (ep.recovered_at is None or last_alert_at > ep.recovered_at)
        and now - last_alert_at <= CIRCUIT_ALERT_COOLDOWN
    )
    if ep.alerted_at is None and turn_alerted and last_alert_at is not None:
        ep = replace(
            ep,
            failing=max(ep.failing, 1),
            since=ep.since or last_alert_at,
            alerted_at=last_alert_at,
        )
    return step(ep, bad=down, now=now)


def circuit_alert_cooldown(now: datetime, last_recovery_at: datetime | None) -> timedelta:
    """The cool-down that suppresses our alert only if a turn already sent this outage's."""
    if last_recovery_at is None:
        return CIRCUIT_ALERT_COOLDOWN
    return max(timedelta(seconds=1), min(CIRCUIT_ALERT_COOLDOWN, now - last_recovery_at))


@dataclass(frozen=True, slots=True)
class QueueStats:
    due_jobs: int  # jobs in the ARQ queue whose time has come and nobody finished
    oldest_waiting: datetime | None  # oldest doctor message Julia should be answering


def waiting_for(stats: QueueStats, now: datetime) -> timedelta:
    if stats.oldest_waiting is None:
        return timedelta(0)
    return max(timedelta(0), now - stats.oldest_waiting)


def queue_step(
    ep: Episode, stats: QueueStats, now: datetime, *, max_due: int, max_wait: timedelta
) -> Step:
    waited = waiting_for(stats, now)
    bad = stats.due_jobs > max_due or waited > max_wait
    cleared = stats.due_jobs <= max_due // 2 and waited <= max_wait / 2
    return step(ep, bad=bad, now=now, cleared=cleared)


def worker_beating(raw: str | bytes | None, now: datetime, stale_after: timedelta) -> bool:
    """Is the worker's heartbeat there and fresh? arq writes a plain string that expires a
    second after its interval, so presence is freshness; a JSON beat carries its own `ts`."""
    if raw is None:
        return False
    try:
        beat = json.loads(raw)
    except ValueError:
        return True
    if isinstance(beat, dict) and "ts" in beat:
        return now.timestamp() - float(beat["ts"]) <= stale_after.total_seconds()
    return True


def worker_step(ep: Episode, *, beating: bool, now: datetime, silence: timedelta) -> Step:
    """Alert when no heartbeat has been seen for at least `silence` (from the first tick
    that missed it)."""
    return step(ep, bad=not beating, now=now, hold=silence)


def report_day(now: datetime, tz: ZoneInfo) -> date | None:
    """The day the morning report is about (yesterday), from DAILY_REPORT_HOUR on; before
    that, None. A report missed at 08:00 (scheduler down) goes out later that day."""
    local = now.astimezone(tz)
    if local.hour < DAILY_REPORT_HOUR:
        return None
    return local.date() - timedelta(days=1)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


# Texts (Portuguese: the managers read them) -------------------------------------------------

WORKER_LOGS = "`railway logs --service whats-agents-worker`"
API_LOGS = "`railway logs --service whats-agents-api`"

_HEALTH_HINTS = {
    "redis": "Redis: veja o serviço Redis no Railway e a REDIS_URL",
    "supabase": "Postgres (Supabase): veja status.supabase.com, o projeto e a DATABASE_URL",
    "migrations": "migrations pendentes: rode `python -m app migrate`",
    "environment": "a DATABASE_URL não é do projeto SUPABASE_PROJECT_REF: confira as variáveis",
}


def _pct(value: float) -> str:
    text = f"{value * 100:.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") + "%"


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "menos de 1 min"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60}h{minutes % 60:02d}"


def _clock(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M") if moment else "?"


def _lasted(previous: Episode, now: datetime) -> str:
    return _duration(now - previous.since) if previous.since else "?"


def health_alert_text(failing: dict[str, str], since: datetime | None, tz: ZoneInfo) -> str:
    checks = "; ".join(f"{name}: {value[:200]}" for name, value in failing.items())
    hints = "; ".join(_HEALTH_HINTS[name] for name in failing if name in _HEALTH_HINTS)
    return (
        f"Health check falhou {HEALTH_FAILURES}x seguidas (desde {_clock(since, tz)}). "
        f"Falhando: {checks}. O que olhar: {hints + '; ' if hints else ''}"
        f"GET /health/deep e {API_LOGS}."
    )


def health_recovery_text(previous: Episode, now: datetime) -> str:
    return f"Health check OK de novo: todos os checks passam (falhou por {_lasted(previous, now)})."


_WHERE_TO_LOOK = {
    "turnos": "`SELECT id, conversation_id, error FROM turns WHERE status = 'failed' "
    f"ORDER BY id DESC LIMIT 20;` e {WORKER_LOGS}",
    "envios": "`SELECT id, to_phone, reason, error FROM outbound_sends WHERE status = 'failed' "
    "ORDER BY id DESC LIMIT 20;` e o Evolution (chips conectados?)",
    "webhooks": f"{API_LOGS} (respostas 5xx: o banco caiu? o Evolution reenvia)",
    "jobs": "`SELECT job_name, slot, error FROM job_runs WHERE status = 'failed' "
    "ORDER BY id DESC LIMIT 20;` e `railway logs --service whats-agents-scheduler`",
}


def _kind_line(name: str, stats: TurnStats) -> str:
    return f"{name} {stats.failed} de {stats.total} falharam ({_pct(stats.rate)})"


def error_rate_alert_text(
    stats: WorkStats, window_minutes: int, threshold: float, min_volume: int
) -> str:
    over = {
        name: k
        for name, k in stats.kinds.items()
        if kind_over(k, threshold=threshold, min_volume=min_volume)
    }
    lines = "; ".join(_kind_line(name, k) for name, k in over.items())
    top = "".join(
        f" Erro mais comum ({name}): {k.top_error[:200]}."
        for name, k in over.items()
        if k.top_error
    )
    look = "; ".join(_WHERE_TO_LOOK[name] for name in over if name in _WHERE_TO_LOOK)
    return (
        f"Taxa de erro alta nos últimos {window_minutes} min (limite {_pct(threshold)}): "
        f"{lines}.{top} O que olhar: {look}."
    )


def error_rate_recovery_text(
    stats: WorkStats, window_minutes: int, previous: Episode, now: datetime
) -> str:
    lines = "; ".join(_kind_line(name, k) for name, k in stats.kinds.items() if k.total)
    return (
        f"Taxa de erro normal de novo nos últimos {window_minutes} min"
        f"{': ' + lines if lines else ''}. Episódio durou {_lasted(previous, now)}."
    )


def circuit_alert_text() -> str:
    return (
        "URGENTE: circuit aberto, o Claude (Anthropic) está falhando. A Julia não responde "
        "com IA: conversas novas vão para humanos com uma mensagem de espera. O que olhar: "
        f"status.anthropic.com, a ANTHROPIC_API_KEY (créditos, limites) e {WORKER_LOGS}."
    )


def circuit_recovery_text(previous: Episode, now: datetime) -> str:
    return (
        "Circuit fechado: o Claude (Anthropic) voltou a responder (fora por cerca de "
        f"{_lasted(previous, now)}). As conversas passadas para humanos durante a queda "
        "continuam com humanos: veja os handoffs com motivo 'IA indisponível'."
    )


def queue_alert_text(stats: QueueStats, now: datetime, *, max_due: int, max_wait: timedelta) -> str:
    problems = []
    if stats.due_jobs > max_due:
        problems.append(f"{stats.due_jobs} jobs vencidos na fila (limite {max_due})")
    waited = waiting_for(stats, now)
    if waited > max_wait:
        problems.append(
            f"mensagem de médico sem resposta há {_duration(waited)} (limite {_duration(max_wait)})"
        )
    return (
        "Fila parada: o worker não está consumindo. "
        + "; ".join(problems)
        + f". O que olhar: {WORKER_LOGS}, o Restart Count do worker no Railway; "
        "reinicie o worker se estiver travado."
    )


def queue_recovery_text(stats: QueueStats, previous: Episode, now: datetime) -> str:
    return (
        f"Fila normal de novo: o worker voltou a consumir ({stats.due_jobs} jobs vencidos na "
        f"fila). Episódio durou {_lasted(previous, now)}."
    )


def worker_alert_text(previous_since: datetime | None, now: datetime, tz: ZoneInfo) -> str:
    silent = _duration(now - previous_since) if previous_since else "?"
    return (
        f"Worker sem heartbeat há pelo menos {silent} (desde {_clock(previous_since, tz)}): "
        "o processo da fila (whats-agents-worker) parece parado e mensagens não serão "
        f"respondidas. O que olhar: {WORKER_LOGS} e o Restart Count no Railway."
    )


def worker_recovery_text(previous: Episode, now: datetime) -> str:
    return f"Worker de volta: heartbeat normal (ficou sem por cerca de {_lasted(previous, now)})."


def _money(value: float) -> str:
    return f"US$ {value:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")


def daily_report_text(day: date, numbers: DailyNumbers) -> str:
    n = numbers
    failed = f" ({n.failed_turns} com falha)" if n.failed_turns else ""
    return "\n".join(
        [
            f"Relatório diário da Julia: {day.strftime('%d/%m/%Y')} (ontem)",
            f"• Conversas: {n.active_conversations} com mensagens, {n.new_conversations} novas",
            f"• Mensagens recebidas: {n.inbound_messages}",
            f"• Respostas enviadas: {n.replies_sent}; envios proativos: {n.proactive_sent}",
            f"• Handoffs para humanos: {n.handoffs}",
            f"• Turnos da IA: {n.turns}{failed}",
            f"• Custo do LLM: {_money(float(n.llm_cost_usd))}",
        ]
    )


# State in Redis -----------------------------------------------------------------------------

# Write the new state only if nobody changed it since we read it ('' = no state).
_COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


async def load_episode(redis: Redis, name: str) -> tuple[str, Episode]:
    raw = await redis.get(STATE_PREFIX + name)
    text = raw.decode() if isinstance(raw, bytes) else (raw or "")
    return text, Episode.loads(text)


async def save_episode(redis: Redis, name: str, expected: str, episode: Episode) -> bool:
    saved = await redis.eval(  # type: ignore[misc]
        _COMPARE_AND_SET,
        1,
        STATE_PREFIX + name,
        expected,
        episode.dumps(),
        str(int(STATE_TTL.total_seconds())),
    )
    return bool(saved)


# Observe, decide, send ----------------------------------------------------------------------


@dataclass(frozen=True)
class Alerting:
    settings: Settings
    db: asyncpg.Pool
    redis: Redis
    notifier: Notifier | None


async def _advance(ctx: Alerting, name: str, decide: Callable[[Episode], Step]) -> Step | None:
    """Apply one observation to the stored episode; None when another runner got there first
    (it acts on the transition, we do not)."""
    raw, episode = await load_episode(ctx.redis, name)
    result = decide(episode)
    if not await save_episode(ctx.redis, name, raw, result.episode):
        log.warning("alert.state_changed_concurrently", alert=name)
        return None
    if result.action == ALERT:
        log.warning("alert.raised", alert=name)
    elif result.action == RECOVER:
        log.info("alert.recovered", alert=name)
    return result


async def _send(
    ctx: Alerting,
    *,
    key: str,
    action: Action,
    text: str,
    severity: Severity,
    cooldown: timedelta | None = None,
    alert_key: str | None = None,
) -> bool:
    """Record and send an alert or a recovery; a recovery answers in the thread of its
    alert (`alert_key`, default `key`) when the channel has threads."""
    kind = "alert" if action == ALERT else "recovery"
    if action == RECOVER:
        severity = "info"
    try:
        return await notify(
            ctx.db,
            ctx.notifier,
            key=key,
            kind=kind,
            text=text,
            severity=severity,
            cooldown=cooldown,
            thread_of=(alert_key or key) if action == RECOVER else None,
        )
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        # The store may be the very outage being reported: tell Slack anyway, unrecorded.
        log.warning("alert.unrecorded", key=key, error=type(exc).__name__)
        if ctx.notifier is None:
            return False
        await ctx.notifier.notify(text, kind=kind, severity=severity)
        return True


async def on_health(ctx: Alerting, report: HealthReport, now: datetime) -> Action | None:
    """Feed one deep-health result (the `verificar_saude` job, every minute)."""
    failing = failing_checks(report.checks)
    result = await _advance(ctx, "saude", lambda ep: health_step(ep, report.checks, now))
    if result is None or result.action is None:
        return None
    if result.action == ALERT:
        text = health_alert_text(failing, result.episode.since, ctx.settings.tz)
    else:
        text = health_recovery_text(result.previous, now)
    await _send(ctx, key="health:deep", action=result.action, text=text, severity="critical")
    return result.action


async def work_stats(ctx: Alerting, since: datetime, until: datetime) -> WorkStats:
    """Turns, sends, webhooks answered and scheduled jobs in the window. Webhooks are
    counted in Redis (the API cannot record a 503 in the database that caused it); without
    Redis that kind is left out this tick."""
    kinds = {
        "turnos": await repo.turn_stats(ctx.db, since, until),
        "envios": await repo.send_stats(ctx.db, since, until),
    }
    try:
        total, failed = await webhook_counts(ctx.redis, since, until)
        kinds["webhooks"] = TurnStats(total=total, failed=failed)
    except (RedisError, OSError) as exc:
        log.warning("alert.webhook_counts_unavailable", error=type(exc).__name__)
    kinds["jobs"] = await repo.job_stats(ctx.db, since, until)
    return WorkStats(kinds={name: kinds[name] for name in WORK_KINDS if name in kinds})


async def check_error_rate(ctx: Alerting, now: datetime) -> Action | None:
    s = ctx.settings
    stats = await work_stats(ctx, now - timedelta(minutes=s.ALERT_WINDOW_MINUTES), now)
    result = await _advance(
        ctx,
        "taxa_erro",
        lambda ep: error_rate_step(
            ep, stats, now, threshold=s.ALERT_ERROR_RATE, min_volume=s.ALERT_MIN_VOLUME
        ),
    )
    if result is None or result.action is None:
        return None
    if result.action == ALERT:
        text = error_rate_alert_text(
            stats, s.ALERT_WINDOW_MINUTES, s.ALERT_ERROR_RATE, s.ALERT_MIN_VOLUME
        )
    else:
        text = error_rate_recovery_text(stats, s.ALERT_WINDOW_MINUTES, result.previous, now)
    await _send(ctx, key="error_rate", action=result.action, text=text, severity="warning")
    return result.action


async def check_circuit(ctx: Alerting, now: datetime) -> Action | None:
    down = bool(await ctx.redis.exists(CIRCUIT_OPEN_KEY, CIRCUIT_TRIPPED_KEY))
    last_alert = await repo.last_notification_at(ctx.db, CIRCUIT_ALERT_KEY)
    last_recovery = await repo.last_notification_at(ctx.db, CIRCUIT_RECOVERY_KEY)
    result = await _advance(
        ctx,
        "circuito",
        lambda ep: circuit_step(
            ep, down=down, last_alert_at=last_alert, last_recovery_at=last_recovery, now=now
        ),
    )
    if result is None or result.action is None:
        return None
    if result.action == ALERT:
        # Same key as the turn's alert: if a turn sent it a moment ago, this one is dropped.
        await _send(
            ctx,
            key=CIRCUIT_ALERT_KEY,
            action=ALERT,
            text=circuit_alert_text(),
            severity="critical",
            cooldown=circuit_alert_cooldown(now, last_recovery),
        )
    else:
        await _send(
            ctx,
            key=CIRCUIT_RECOVERY_KEY,
            alert_key=CIRCUIT_ALERT_KEY,
            action=RECOVER,
            text=circuit_recovery_text(result.previous, now),
            severity="info",
        )
    return result.action


async def check_queue(ctx: Alerting, now: datetime) -> Action | None:
    s = ctx.settings
    due = await ctx.redis.zcount(QUEUE_NAME, "-inf", int(now.timestamp() * 1000))
    stats = QueueStats(due_jobs=int(due), oldest_waiting=await repo.oldest_waiting_inbound(ctx.db))
    max_wait = timedelta(minutes=s.ALERT_WAITING_MINUTES)
    result = await _advance(
        ctx,
        "fila",
        lambda ep: queue_step(ep, stats, now, max_due=s.ALERT_QUEUE_BACKLOG, max_wait=max_wait),
    )
    if result is None or result.action is None:
        return None
    if result.action == ALERT:
        text = queue_alert_text(stats, now, max_due=s.ALERT_QUEUE_BACKLOG, max_wait=max_wait)
    else:
        text = queue_recovery_text(stats, result.previous, now)
    await _send(ctx, key="queue", action=result.action, text=text, severity="critical")
    return result.action


async def check_worker(ctx: Alerting, now: datetime) -> Action | None:
    silence = timedelta(seconds=3 * ctx.settings.HEARTBEAT_SECONDS)
    beating = worker_beating(await ctx.redis.get(WORKER_HEARTBEAT_KEY), now, silence)
    result = await _advance(
        ctx, "worker", lambda ep: worker_step(ep, beating=beating, now=now, silence=silence)
    )
    if result is None or result.action is None:
        return None
    if result.action == ALERT:
        text = worker_alert_text(result.episode.since, now, ctx.settings.tz)
    else:
        text = worker_recovery_text(result.previous, now)
    await _send(ctx, key="worker:heartbeat", action=result.action, text=text, severity="critical")
    return result.action


CHECKS = (check_error_rate, check_circuit, check_queue, check_worker)
# With the watchdog on, every process watches the queue and the worker (watchdog.py), also
# while the scheduler or a store is down; these two would post the same outage twice.
WATCHED_ELSEWHERE = (check_queue, check_worker)


async def check_all(ctx: Alerting, now: datetime) -> dict[str, Action | None]:
    """Every periodic check (the `alertas` job). One failing check does not stop the others;
    the first error is raised at the end so the job run is recorded as failed."""
    outcome: dict[str, Action | None] = {}
    errors: list[Exception] = []
    checks = [c for c in CHECKS if not (ctx.settings.watchdog_on and c in WATCHED_ELSEWHERE)]
    for check in checks:
        try:
            outcome[check.__name__] = await check(ctx, now)
        except Exception as exc:  # boundary of one check: the others still run
            log.error("alert.check_failed", check=check.__name__, error=f"{exc!r}"[:300])
            errors.append(exc)
    if errors:
        raise errors[0]
    return outcome


async def daily_report(ctx: Alerting, now: datetime) -> bool:
    """Send yesterday's numbers once, in the morning (the `relatorio_diario` job, hourly)."""
    tz = ctx.settings.tz
    day = report_day(now, tz)
    if day is None:
        return False
    key = f"daily_report:{day.isoformat()}"
    if await repo.last_notification_at(ctx.db, key) is not None:
        return False
    start, end = day_bounds(day, tz)
    numbers = await repo.daily_numbers(ctx.db, start, end)
    # The cool-down only guards a race between two runners; the key is the day's.
    return await notify(
        ctx.db,
        ctx.notifier,
        key=key,
        kind="daily_report",
        text=daily_report_text(day, numbers),
        severity="info",
        cooldown=timedelta(days=7),
        payload={"day": day.isoformat()},
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
