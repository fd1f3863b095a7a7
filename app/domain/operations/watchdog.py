"""The watchdog: alarms that do not depend on what failed.

Every process (api, worker, scheduler) runs one. Each tick it probes Postgres and Redis on
connections of its own, writes its heartbeat to both stores, reads its peers' heartbeats from
whichever store answers, measures the backlog, and posts straight to Slack: the alarm path
needs neither Postgres nor Redis, nor the scheduler's lease.

Alarms, each raised once per episode and recovered once:

- `postgres` / `redis`: this process cannot reach it;
- `worker`: the worker is not consuming: a due job or a stored delivery waiting longer than
  ALARM_BACKLOG_SECONDS, or no worker heartbeat for PROCESS_GONE_SECONDS;
- `scheduler`: no scheduler heartbeat for PROCESS_GONE_SECONDS;
- `api`: API_HEALTH_URL does not answer 200 (probed by the worker and the scheduler), or,
  without it, no api heartbeat for PROCESS_GONE_SECONDS.

A condition must hold for ALARM_AFTER_SECONDS before it alarms. Several processes see the
same outage, so the episode is claimed in a shared store first and only its claimer posts:
Redis for the Postgres alarm, Postgres for the Redis alarm, Postgres (else Redis) for the
others. When no store answers, each process decides alone (its own memory de-duplicates
its posts). Time is passed in (`tick(now)`); tests drive it with a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis

from app.core import db
from app.core.config import Settings
from app.core.logging import get_logger
from app.core.redis import QUEUE_NAME, lazy_client
from app.domain.operations import watchdog_repository as repo
from app.integrations.protocols import Notifier

log = get_logger(__name__)

Service = Literal["api", "worker", "scheduler"]
AlarmName = Literal["postgres", "redis", "worker", "scheduler", "api"]
ALARMS: tuple[AlarmName, ...] = ("postgres", "redis", "worker", "scheduler", "api")

PROBE_TIMEOUT_SECONDS = 3.0
BEATS_KEY = "julia:watchdog:beats:"  # + service: a hash host -> unix time
EPISODE_KEY = "julia:alarm:"  # + alarm: the open episode, set by its claimer
# An episode nobody closed (every process restarted meanwhile) is forgotten after this.
EPISODE_TTL = timedelta(days=1)
QUEUE_SAMPLE = 20

T = TypeVar("T")


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Observation:
    """One tick's findings: per alarm, the problem (a short pt-BR description), "" when
    fine, or None when it cannot be told this tick."""

    problems: dict[AlarmName, str | None] = field(default_factory=dict)


@dataclass
class LocalEpisode:
    bad_since: datetime | None = None
    open: bool = False  # raised (by this process or a peer) and not yet recovered


# Alarms whose condition carries its own duration (a heartbeat missing for
# PROCESS_GONE_SECONDS, a backlog older than ALARM_BACKLOG_SECONDS), so ALARM_AFTER_SECONDS,
# the debounce of a failed probe, is not added to them.
SELF_TIMED: frozenset[str] = frozenset({"scheduler", "worker"})


class Watchdog:
    def __init__(
        self,
        service: Service,
        settings: Settings,
        notifier: Notifier | None,
        *,
        redis: Redis | None = None,
        http: httpx.AsyncClient | None = None,
        started_at: datetime | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.notifier = notifier
        self.host = process_name()
        self.redis: Redis = redis if redis is not None else lazy_client(settings.redis_dsn)
        self.http = http if http is not None else httpx.AsyncClient(timeout=5.0)
        self.conn: asyncpg.Connection | None = None
        self.started_at = started_at
        self.episodes: dict[AlarmName, LocalEpisode] = {name: LocalEpisode() for name in ALARMS}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    # Stores, probed on connections of our own ------------------------------------------------

    async def _pg(self) -> asyncpg.Connection:
        if self.conn is None or self.conn.is_closed():
            self.conn = await db.connect(self.settings.database_dsn)
        return self.conn

    async def _on_pg(self, action: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async def run() -> T:
            return await action(await self._pg())

        try:
            # The connection too: an unreachable host must not hold the tick for a minute.
            return await asyncio.wait_for(run(), PROBE_TIMEOUT_SECONDS)
        except BaseException:
            await self._drop_pg()
            raise

    async def _drop_pg(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.terminate()

    async def _on_redis(self, action: Awaitable[T]) -> T:
        return await asyncio.wait_for(action, PROBE_TIMEOUT_SECONDS)

    # Observe -----------------------------------------------------------------------------------

    async def observe(self, now: datetime) -> Observation:
        s = self.settings
        pg_ok = await _succeeds(self._on_pg(repo.ping))
        redis_ok = await _succeeds(self._on_redis(cast(Awaitable[Any], self.redis.ping())))
        problems: dict[AlarmName, str | None] = {
            "postgres": "" if pg_ok else "sem conexão com o Postgres",
            "redis": "" if redis_ok else "sem conexão com o Redis",
        }
        await self._beat(now, pg_ok, redis_ok)
        beats = await self._last_beats(pg_ok, redis_ok)
        gone = timedelta(seconds=s.PROCESS_GONE_SECONDS)
        started = self.started_at or now

        def silence(service: Service) -> str | None:
            if beats is None:
                return None
            last = beats.get(service)
            if last is None:
                return "" if now - started < gone else f"nenhum sinal do {service}"
            quiet = now - last
            return f"sem sinal do {service} há {_duration(quiet)}" if quiet > gone else ""

        if self.service != "scheduler":
            problems["scheduler"] = silence("scheduler")
        if self.service != "api":
            problems["api"] = await self._api_problem(silence)
        backlog = await self._backlog(now, pg_ok, redis_ok)
        worker = [backlog] if self.service == "worker" else [silence("worker"), backlog]
        known = [p for p in worker if p is not None]
        # A store being down explains a stalled queue: the store's own alarm says so.
        if not (pg_ok and redis_ok) or not known:
            problems["worker"] = None
        else:
            problems["worker"] = "; ".join(p for p in known if p)
        return Observation(problems)

    async def _beat(self, now: datetime, pg_ok: bool, redis_ok: bool) -> None:
        if pg_ok:
            with _noted("beat postgres"):
                await self._on_pg(lambda c: repo.beat(c, self.service, self.host, now))
        if redis_ok:
            key = BEATS_KEY + self.service
            with _noted("beat redis"):
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.hset(key, self.host, str(now.timestamp()))
                    pipe.expire(key, int(EPISODE_TTL.total_seconds()))
                    await self._on_redis(pipe.execute())

    async def _last_beats(self, pg_ok: bool, redis_ok: bool) -> dict[str, datetime] | None:
        """The newest beat of each service in either store; None when neither answers."""
        found: dict[str, datetime] = {}
        read = False
        if pg_ok:
            with _noted("read beats postgres"):
                found.update(await self._on_pg(repo.last_beats))
                read = True
        if redis_ok:
            for service in ("api", "worker", "scheduler"):
                try:
                    raw = await self._on_redis(
                        cast(Awaitable[list[Any]], self.redis.hvals(BEATS_KEY + service))
                    )
                except Exception:
                    break
                read = True
                if raw:
                    latest = datetime.fromtimestamp(max(float(v) for v in raw), UTC)
                    if service not in found or latest > found[service]:
                        found[service] = latest
        return found if read else None

    async def _api_problem(self, silence: Callable[[Service], str | None]) -> str | None:
        url = self.settings.API_HEALTH_URL
        if url is None:
            return silence("api")
        try:
            response = await self.http.get(str(url), timeout=PROBE_TIMEOUT_SECONDS + 2)
        except httpx.HTTPError as exc:
            return f"{url} não responde ({type(exc).__name__})"
        if response.status_code != 200:
            return f"{url} respondeu {response.status_code}"
        return ""

    async def _backlog(self, now: datetime, pg_ok: bool, redis_ok: bool) -> str | None:
        limit = timedelta(seconds=self.settings.ALARM_BACKLOG_SECONDS)
        found: list[str] = []
        known = False
        if redis_ok:
            with _noted("backlog redis"):
                oldest = await self._oldest_due_job(now)
                known = True
                if oldest is not None and now - oldest > limit:
                    found.append(f"job vencido na fila há {_duration(now - oldest)}")
        if pg_ok:
            with _noted("backlog postgres"):
                received = await self._on_pg(repo.oldest_unapplied_delivery)
                known = True
                if received is not None and now - received > limit:
                    found.append(
                        f"mensagem recebida e não processada há {_duration(now - received)}"
                    )
        return "; ".join(found) if known else None

    async def _oldest_due_job(self, now: datetime) -> datetime | None:
        """The due time of the oldest due job no worker is running (arq keeps a running job
        in the queue, with an in-progress key, until it finishes)."""
        due = await self._on_redis(
            self.redis.zrangebyscore(
                QUEUE_NAME,
                "-inf",
                int(now.timestamp() * 1000),
                start=0,
                num=QUEUE_SAMPLE,
                withscores=True,
            )
        )
        if not due:
            return None
        ids = [job_id.decode() if isinstance(job_id, bytes) else str(job_id) for job_id, _ in due]
        running = await self._on_redis(
            cast(Awaitable[list[Any]], self.redis.mget([in_progress_key_prefix + i for i in ids]))
        )
        for (_, score), in_progress in zip(due, running, strict=True):
            if in_progress is None:
                return datetime.fromtimestamp(float(score) / 1000, UTC)
        return None

    # Decide and post ---------------------------------------------------------------------------

    async def tick(self, now: datetime) -> list[tuple[AlarmName, str]]:
        """Observe once and act; returns what was posted this tick (alarm, "alert"/"recovery")."""
        if self.started_at is None:
            self.started_at = now
        seen = await self.observe(now)
        pg_ok = seen.problems.get("postgres") == ""
        redis_ok = seen.problems.get("redis") == ""
        after = timedelta(seconds=self.settings.ALARM_AFTER_SECONDS)
        posted: list[tuple[AlarmName, str]] = []
        for name in ALARMS:
            problem = seen.problems.get(name)
            if problem is None:
                continue
            ep = self.episodes[name]
            if problem:
                ep.bad_since = ep.bad_since or now
                # A silent scheduler or a stalled worker is only reported once it has lasted
                # PROCESS_GONE_SECONDS / ALARM_BACKLOG_SECONDS: no second wait on top.
                wait = timedelta(0) if name in SELF_TIMED else after
                if not ep.open and now - ep.bad_since >= wait:
                    ep.open = True
                    if await self._claim(name, now, pg_ok, redis_ok):
                        if await self._post(name, alarm_text(name, problem, ep.bad_since, self)):
                            posted.append((name, "alert"))
                        else:  # not delivered: give the episode back, try again next tick
                            ep.open = False
                            await self._release(name, pg_ok, redis_ok)
                continue
            was_open, since = ep.open, ep.bad_since
            ep.bad_since, ep.open = None, False
            if was_open and await self._release(name, pg_ok, redis_ok):
                lasted = now - since if since else None
                if await self._post(name, recovery_text(name, lasted)):
                    posted.append((name, "recovery"))
        return posted

    def _stores(self, name: AlarmName, pg_ok: bool, redis_ok: bool) -> list[str]:
        order = {"postgres": ["redis"], "redis": ["postgres"]}.get(name, ["postgres", "redis"])
        up = {"postgres": pg_ok, "redis": redis_ok}
        return [store for store in order if up[store]]

    async def _claim(self, name: AlarmName, now: datetime, pg_ok: bool, redis_ok: bool) -> bool:
        """Open the shared episode; True when this process should post it."""
        by = f"{self.service}/{self.host}"
        for store in self._stores(name, pg_ok, redis_ok):
            try:
                if store == "postgres":
                    return await self._on_pg(
                        lambda c: repo.open_episode(c, name, by, now, now - EPISODE_TTL)
                    )
                claimed = await self._on_redis(
                    self.redis.set(EPISODE_KEY + name, by, nx=True, ex=EPISODE_TTL)
                )
                return bool(claimed)
            except Exception as exc:
                log.warning("watchdog.store_unreachable", store=store, error=type(exc).__name__)
        return True  # no shared store answers: this process decides alone

    async def _release(self, name: AlarmName, pg_ok: bool, redis_ok: bool) -> bool:
        """Close the shared episode; True when this process should post the recovery."""
        stores = self._stores(name, pg_ok, redis_ok)
        answered = False
        for store in stores:
            try:
                if store == "postgres":
                    closed = await self._on_pg(lambda c: repo.close_episode(c, name))
                else:
                    closed = bool(await self._on_redis(self.redis.delete(EPISODE_KEY + name)))
            except Exception as exc:
                log.warning("watchdog.store_unreachable", store=store, error=type(exc).__name__)
                continue
            answered = True
            if closed:
                return True
        return not answered

    async def _post(self, name: AlarmName, text: str) -> bool:
        recovery = text.startswith(RECOVERED_PREFIX)
        kind = "recovery" if recovery else "alert"
        if recovery:
            log.info("alarm.recovered", alarm=name, reporter=self.service)
        else:
            log.error("alarm.raised", alarm=name, reporter=self.service)
        if self.notifier is None:
            log.warning("alarm.not_delivered", alarm=name, error="slack not configured")
            return True
        try:
            await self.notifier.notify(
                text, kind=f"alarm:{kind}", severity="info" if recovery else "critical"
            )
        except Exception as exc:  # Slack down too: logged, retried next tick
            log.warning("alarm.not_delivered", alarm=name, error=str(exc)[:300])
            return False
        return True

    # Running -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"watchdog-{self.service}")

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.tick(datetime.now(UTC))
            except Exception:  # the task's boundary: a bad tick must not end the watch
                log.exception("watchdog.tick_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.WATCHDOG_SECONDS)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop_pg()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        await self.http.aclose()


@asynccontextmanager
async def watching(
    service: Service, settings: Settings, notifier: Notifier | None
) -> AsyncIterator[Watchdog | None]:
    """Run `service`'s watchdog for the duration (when WATCHDOG_ENABLED / outside tests)."""
    if not settings.watchdog_on:
        yield None
        return
    dog = Watchdog(service, settings, notifier)
    dog.start()
    log.info("watchdog.started", service=service, every_s=settings.WATCHDOG_SECONDS)
    try:
        yield dog
    finally:
        await dog.stop()


@contextlib.contextmanager
def _noted(step: str) -> Iterator[None]:
    """A step of the tick that may fail (a store went away mid-tick): logged, and the tick
    goes on with what it has."""
    try:
        yield
    except Exception as exc:  # the tick's own boundary for one step
        log.warning("watchdog.step_failed", step=step, error=f"{type(exc).__name__}: {exc}"[:200])


async def _succeeds(action: Awaitable[Any]) -> bool:
    try:
        await action
    except Exception:  # a probe reports every failure as "down", it never raises
        return False
    return True


# Texts (Portuguese: the managers read them) ------------------------------------------------

RECOVERED_PREFIX = "Resolvido:"
_LOGS = "`railway logs --service whats-agents-{}`"

_ALARM = {
    "postgres": (
        "URGENTE: Postgres (Supabase) fora do ar desde {since}: {problem}. Mensagens de médicos "
        "recebidas agora ganham 503 e o Evolution reenvia; nada é respondido até o banco "
        "voltar. O que olhar: status.supabase.com, o projeto no Supabase e a DATABASE_URL."
    ),
    "redis": (
        "URGENTE: Redis fora do ar desde {since}: {problem}. A fila parou; as mensagens "
        "recebidas ficam guardadas no banco e são respondidas quando o Redis voltar. O que "
        "olhar: o serviço Redis no Railway e a REDIS_URL."
    ),
    "worker": (
        "URGENTE: o worker não está consumindo (desde {since}): {problem}. Médicos ficam sem "
        "resposta. O que olhar: " + _LOGS.format("worker") + " e o Restart Count no Railway; "
        "reinicie o worker se estiver travado."
    ),
    "scheduler": (
        "URGENTE: scheduler parado (desde {since}): {problem}. Sem ele não rodam campanhas, "
        "follow-ups, a varredura de mensagens esquecidas nem o relatório diário. O que olhar: "
        + _LOGS.format("scheduler")
        + " e o Restart Count no Railway."
    ),
    "api": (
        "URGENTE: a API não responde (desde {since}): {problem}. O Evolution não consegue "
        "entregar as mensagens dos médicos (ele reenvia por um tempo). O que olhar: "
        + _LOGS.format("api")
        + " e GET /health/deep."
    ),
}
_RECOVERY = {
    "postgres": "Postgres (Supabase) de volta",
    "redis": "Redis de volta",
    "worker": "o worker voltou a consumir a fila",
    "scheduler": "o scheduler voltou a dar sinal",
    "api": "a API voltou a responder",
}


def alarm_text(name: AlarmName, problem: str, since: datetime | None, dog: Watchdog) -> str:
    text = _ALARM[name].format(problem=problem, since=_clock(since, dog.settings.tz))
    return f"{text} (visto pelo {dog.service})"


def recovery_text(name: AlarmName, lasted: timedelta | None) -> str:
    how_long = f" (fora por cerca de {_duration(lasted)})" if lasted is not None else ""
    return f"{RECOVERED_PREFIX} {_RECOVERY[name]}{how_long}."


def _clock(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M") if moment else "?"


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60}h{minutes % 60:02d}"
