"""The one boundary every job passes through: ARQ job functions and scheduler ticks.

Inside it, every log line carries the job's name (`job`) and its id (`job_id` for a queue
job, `slot` for a scheduler tick), and whatever the job binds itself (`conversation_id`,
`doctor_id`, `send_id`). The contextvars are cleared on the way in and out: ARQ and
APScheduler run each job in a task of its own, which already gets a copy of the context,
but one job's ids must never reach another's lines however it is run.

A failure is logged here, once, with its traceback, and raised again: ARQ's retries and
the scheduler's job_runs record stay as they are.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

import structlog
from arq.worker import Retry

from app.core.logging import get_logger

log = get_logger("app.workers.boundary")

P = ParamSpec("P")
R = TypeVar("R")
Ctx = dict[str, Any]


@contextmanager
def job_scope(job: str, **ids: Any) -> Iterator[None]:
    """Bind `job` and `ids` for the log lines of one run, and nothing bound before it."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(job=job, **ids)
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()


def log_failure(
    exc: BaseException, event: str = "job.failed", *, logger: Any = None, **fields: Any
) -> None:
    """The one line a failed run leaves: the error and its traceback, with the bound ids."""
    (logger or log).error(event, error=f"{type(exc).__name__}: {exc}", exc_info=exc, **fields)


def arq_job(
    func: Callable[Concatenate[Ctx, P], Awaitable[R]],
) -> Callable[Concatenate[Ctx, P], Coroutine[Any, Any, R]]:
    """Wrap an ARQ job function in the boundary; ARQ still sees its name and signature."""
    name = func.__name__

    @functools.wraps(func)
    async def run(ctx: Ctx, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with job_scope(name, job_id=ctx.get("job_id")):
            try:
                return await func(ctx, *args, **kwargs)
            except Retry:
                raise  # the job asked to run again later: not a failure
            except asyncio.CancelledError:
                # ARQ's job_timeout or a worker shutting down; ARQ re-queues or fails it.
                log.warning("job.cancelled", job_try=ctx.get("job_try"))
                raise
            except Exception as exc:
                log_failure(exc, job_try=ctx.get("job_try"))
                raise

    return run
