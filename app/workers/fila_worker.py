"""The ARQ worker (RUN_MODE=worker): `python -m app.workers.fila_worker`.

Jobs take ids, re-read fresh state and are safe to run twice (DESIGN rule 6).
"""

from __future__ import annotations

import contextlib
import json
import time
from contextlib import AsyncExitStack
from typing import Any, ClassVar, cast

from arq.worker import Worker, create_worker

from app.core.config import Settings
from app.core.embedded import embedded_defaults
from app.core.logging import configure_logging, get_logger
from app.core.redis import QUEUE_NAME, WORKER_HEARTBEAT_KEY, redis_settings
from app.core.resources import Resources, open_resources
from app.workers.boundary import arq_job
from app.workers.jobs import run_turn
from app.workers.outreach_jobs import send_outbound
from app.workers.runtime import settings_or_exit
from app.workers.slack_jobs import run_slack_command
from app.workers.wiring import turn_services

log = get_logger("app.workers.fila_worker")


async def ping(ctx: dict[str, Any], token: str) -> str:
    """A no-op job: proves the queue and the worker end to end (health, benchmarks)."""
    res: Resources = ctx["res"]
    await res.redis.set(f"julia:ping:{token}", json.dumps({"ts": time.time()}), ex=60)
    return token


async def startup(ctx: dict[str, Any]) -> None:
    stack = AsyncExitStack()
    ctx["stack"] = stack
    ctx["res"] = await stack.enter_async_context(open_resources(ctx["settings"]))
    ctx["turns"] = turn_services(ctx["res"])
    log.info("Worker started", queue=QUEUE_NAME)


async def shutdown(ctx: dict[str, Any]) -> None:
    stack: AsyncExitStack | None = ctx.get("stack")
    if stack is not None:
        await stack.aclose()
    log.info("Worker stopped")


class WorkerSettings:
    """ARQ settings. Redis and the settings object are supplied by `build_worker`."""

    # Every job runs inside the boundary: its ids on each log line, a failure logged once.
    functions: ClassVar[list[Any]] = [
        arq_job(job) for job in (ping, run_turn, run_slack_command, send_outbound)
    ]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = QUEUE_NAME
    health_check_key = WORKER_HEARTBEAT_KEY
    max_jobs = 10
    # A turn is a few model calls plus paced sends; a killed job is re-run after this + 10 s,
    # and the sweep usually re-enqueues its messages sooner.
    job_timeout = 180
    keep_result = 60
    max_tries = 5
    poll_delay = 0.2


def build_worker(settings: Settings) -> Worker:
    return create_worker(
        cast(Any, WorkerSettings),
        redis_settings=redis_settings(settings.redis_dsn),
        health_check_interval=settings.HEARTBEAT_SECONDS,
        ctx={"settings": settings},
    )


def main() -> None:
    settings = settings_or_exit("worker")
    configure_logging(settings, service="worker")
    with embedded_defaults(settings) as resolved:
        worker = build_worker(resolved)
        with contextlib.suppress(KeyboardInterrupt):
            worker.run()


if __name__ == "__main__":
    main()
