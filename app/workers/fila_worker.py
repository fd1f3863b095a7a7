"""The ARQ worker (RUN_MODE=worker): `python -m app.workers.fila_worker`.

Jobs take ids, re-read fresh state and are safe to run twice (DESIGN rule 6).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, ClassVar, cast

import uvloop
from arq.connections import create_pool
from arq.worker import Function, Worker, func, get_kwargs

from app.core import queue, versions
from app.core.config import Settings
from app.core.embedded import embedded_defaults
from app.core.logging import configure_logging, get_logger
from app.core.redis import QUEUE_NAME, WORKER_HEARTBEAT_KEY, redis_settings
from app.core.resources import Resources, build_notifier
from app.domain.operations.watchdog import watching
from app.workers.boundary import arq_job
from app.workers.chatwoot_jobs import mirror_chatwoot, run_chatwoot_event
from app.workers.inbox_jobs import InboxDrainer
from app.workers.jobs import deliver_reply, run_turn
from app.workers.media_jobs import process_media
from app.workers.outreach_jobs import send_outbound
from app.workers.runtime import DEPENDENCY_ERRORS, Outage, patient_resources, settings_or_exit
from app.workers.slack_jobs import run_slack_command
from app.workers.status_jobs import ResumeWatcher
from app.workers.wiring import media_services, turn_services

log = get_logger("app.workers.fila_worker")


async def ping(ctx: dict[str, Any], token: str) -> str:
    """A no-op job: proves the queue and the worker end to end (health, benchmarks)."""
    res: Resources = ctx["res"]
    await res.redis.set(f"julia:ping:{token}", json.dumps({"ts": time.time()}), ex=60)
    return token


async def startup(ctx: dict[str, Any]) -> None:
    stack = AsyncExitStack()
    ctx["stack"] = stack
    # Postgres or Redis down at start: wait for them here rather than exit.
    ctx["res"] = await stack.enter_async_context(
        patient_resources(ctx["settings"], service="worker")
    )
    ctx["turns"] = turn_services(ctx["res"])
    ctx["media"] = media_services(ctx["res"])
    # Applies what the webhook edge stored; drains at once, then on the edge's signal.
    drainer = InboxDrainer(ctx["res"], ctx.get("wake_in"))
    drainer.start()
    ctx["inbox_drainer"] = drainer
    # Notices a resume written straight into julia_status (the runbook's SQL).
    watcher = ResumeWatcher(ctx["res"])
    watcher.start()
    ctx["resume_watcher"] = watcher
    log.info("Worker started", queue=QUEUE_NAME)


async def shutdown(ctx: dict[str, Any]) -> None:
    watcher: ResumeWatcher | None = ctx.get("resume_watcher")
    if watcher is not None:
        await watcher.stop()
    drainer: InboxDrainer | None = ctx.get("inbox_drainer")
    if drainer is not None:
        await drainer.stop()
    stack: AsyncExitStack | None = ctx.get("stack")
    if stack is not None:
        await stack.aclose()
    log.info("Worker stopped")


def _registered(job: Callable[..., Awaitable[Any]], name: str) -> Function:
    # arq's WorkerCoroutine protocol is narrower than the boundary's ParamSpec wrapper.
    return func(cast(Any, arq_job(job)), name=name)


class WorkerSettings:
    """ARQ settings. Redis and the settings object are supplied by `build_worker`."""

    # Every job runs inside the boundary (its ids on each log line, a failure logged once),
    # registered under its name in app.core.queue.
    functions: ClassVar[list[Any]] = [
        _registered(ping, queue.PING),
        _registered(run_turn, queue.RUN_TURN),
        _registered(run_slack_command, queue.RUN_SLACK_COMMAND),
        _registered(send_outbound, queue.SEND_OUTBOUND),
        _registered(deliver_reply, queue.DELIVER_REPLY),
        _registered(mirror_chatwoot, queue.MIRROR_CHATWOOT),
        _registered(run_chatwoot_event, queue.RUN_CHATWOOT_EVENT),
        _registered(process_media, queue.PROCESS_MEDIA),
    ]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = QUEUE_NAME
    health_check_key = WORKER_HEARTBEAT_KEY
    # No job sleeps through a reply's delays (they are scheduled sends), so the slots are
    # turns waiting on the model: 200 doctors in 10 s with a 1 s model need ~20-30.
    max_jobs = 50
    # A turn is a few model calls plus paced sends; a killed job is re-run after this + 10 s,
    # and the sweep usually re-enqueues its messages sooner.
    job_timeout = 180
    keep_result = 60
    max_tries = 5
    # arq's loop only yields between polls; JuliaWorker waits IDLE_POLL_S there instead,
    # woken early by the drainer (`wake_in`).
    poll_delay = 0.001


# The queue's idle wake-up: a job enqueued by another process starts within 20 ms (10 ms on
# average). One ZRANGEBYSCORE per poll: ~48 commands/s and ~0.6% of a Valkey core while idle
# (docs/benchmarks.md, benchmarks/turns.py --poll). Turns the drainer enqueues start at once.
IDLE_POLL_S = 0.02
# A job woken for is looked for this long after it is due (clocks agree to the ms).
WAKE_MARGIN_S = 0.005


class JuliaWorker(Worker):
    """arq's worker, kept alive through a Redis outage of any length.

    arq gives up on Redis after `conn_retries` at start and lets any Redis error of its poll
    loop end `main()`, so the process exits. Here the first connection is retried for as
    long as it takes, and a poll that fails on Redis waits (doubling up to
    RECONNECT_MAX_SECONDS) and polls again: redis-py opens a fresh connection on the next
    command. Jobs whose Redis bookkeeping was lost run again (they are safe to run twice);
    messages stored meanwhile are applied by the inbox drainer and the scheduler's sweep.
    """

    def __init__(self, *args: Any, reconnect_max_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redis_outage = Outage("redis", service="worker", max_delay=reconnect_max_seconds)
        self.watch = contextlib.AsyncExitStack()
        self._wake: asyncio.Event | None = None
        # The inbox drainer runs in this process: it tells the queue loop when the turns it
        # just enqueued are due, so they start then rather than at the next idle poll.
        self.ctx["wake_in"] = self.wake_in

    def wake_in(self, seconds: float) -> None:
        """Look at the queue in `seconds` (when a job this process enqueued is due)."""
        if self._wake is None:
            return
        if seconds <= 0:
            self._wake.set()
        else:
            asyncio.get_running_loop().call_later(seconds + WAKE_MARGIN_S, self._wake.set)

    async def main(self) -> None:
        # The watchdog first: it alarms even while Redis or Postgres keeps us from starting.
        settings: Settings = self.ctx["settings"]
        await self.watch.enter_async_context(watching("worker", settings, build_notifier(settings)))
        assert self.redis_settings is not None  # build_worker always passes them
        once = dataclasses.replace(self.redis_settings, conn_retries=0)
        while self._pool is None:
            try:
                self._pool = await create_pool(
                    once,
                    job_deserializer=self.job_deserializer,
                    job_serializer=self.job_serializer,
                    default_queue_name=self.queue_name,
                    expires_extra_ms=self.expires_extra_ms,
                )
            except DEPENDENCY_ERRORS as exc:
                await asyncio.sleep(self.redis_outage.failed(exc))
        self.redis_outage.ok()
        self._wake = asyncio.Event()
        await super().main()

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except DEPENDENCY_ERRORS as exc:
            await asyncio.sleep(self.redis_outage.failed(exc))
            return
        self.redis_outage.ok()
        # arq's own loop barely sleeps (poll_delay is tiny): the idle wait is here, cut
        # short by `wake_in`. Idle, one ZRANGEBYSCORE every IDLE_POLL_S, as before.
        if self._wake is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)
            self._wake.clear()

    async def record_health(self) -> None:
        due = time.time() - self._last_health_check >= self.health_check_interval
        await super().record_health()
        if due:  # with arq's heartbeat: this process's build, for the deploy gate
            settings: Settings = self.ctx["settings"]
            await versions.announce(self.pool, "worker", settings.git_sha, time.time())

    async def close(self) -> None:
        try:
            await super().close()
        except DEPENDENCY_ERRORS as exc:  # stopping while Redis is down: nothing to tidy
            log.warning("worker.close_unclean", error=type(exc).__name__)
        finally:
            await self.watch.aclose()


def build_worker(settings: Settings) -> JuliaWorker:
    return JuliaWorker(
        **{
            **get_kwargs(cast(Any, WorkerSettings)),
            "redis_settings": redis_settings(settings.redis_dsn),
            "health_check_interval": settings.HEARTBEAT_SECONDS,
            "ctx": {"settings": settings},
        },
        reconnect_max_seconds=settings.RECONNECT_MAX_SECONDS,
    )


def main() -> None:
    settings = settings_or_exit("worker")
    configure_logging(settings, service="worker")
    # uvloop, as uvicorn uses for the API: a turn is mostly round trips to Postgres, Redis
    # and HTTP, and uvloop's transports cost the worker about a tenth less CPU per turn
    # (docs/benchmarks.md, turn latency).
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with embedded_defaults(settings) as resolved:
        worker = build_worker(resolved)
        with contextlib.suppress(KeyboardInterrupt):
            worker.run()


if __name__ == "__main__":
    main()
