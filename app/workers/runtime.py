"""What the worker and scheduler entry points share: settings or a one-line exit, and
riding out an outage of Redis or Postgres without exiting.

A process that exits when a dependency goes away leans on the platform's restart budget
(Railway gives up after a few restarts), so a long outage would leave it down after the
dependency is back. Instead the worker and the scheduler wait for their dependencies with a
growing backoff, log the outage once when it starts and once when it ends, and carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg
from redis.exceptions import RedisError

from app.core.config import ConfigError, RunMode, Settings, load_settings
from app.core.logging import get_logger
from app.core.resources import Resources, open_resources

log = get_logger(__name__)

# What "the dependency is unreachable" looks like from the redis and asyncpg clients.
DEPENDENCY_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)
FIRST_RETRY_SECONDS = 0.5


def settings_or_exit(mode: RunMode) -> Settings:
    """Load and check settings for `mode`; on error print one line and exit 1."""
    try:
        settings = load_settings()
        settings.require_for(mode)
    except ConfigError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    return settings


class Outage:
    """One dependency's reachability as a process sees it: `lost` and `restored` are logged
    once per episode, and `failed` answers how long to wait before the next try (doubling
    up to `max_delay`, forever)."""

    def __init__(self, what: str, *, service: str, max_delay: float) -> None:
        self.what = what
        self.service = service
        self.max_delay = max_delay
        self.since: float | None = None
        self.delay = 0.0
        self.attempts = 0

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> float:
        self.attempts += 1
        if self.since is None:
            self.since = time.monotonic()
            log.error(
                f"{self.service}.{self.what}_lost",
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
        self.delay = min(max(self.delay * 2, FIRST_RETRY_SECONDS), self.max_delay)
        log.debug(f"{self.service}.{self.what}_retry", attempt=self.attempts, retry_in=self.delay)
        return self.delay

    def ok(self) -> None:
        if self.since is None:
            return
        log.warning(
            f"{self.service}.{self.what}_restored",
            down_seconds=round(time.monotonic() - self.since, 1),
            attempts=self.attempts,
        )
        self.since, self.delay, self.attempts = None, 0.0, 0


class StoppedWaiting(Exception):
    """The process was asked to stop while it still waited for its dependencies."""


@asynccontextmanager
async def patient_resources(
    settings: Settings, *, service: str, stop: asyncio.Event | None = None
) -> AsyncIterator[Resources]:
    """`open_resources`, waiting (with backoff, for as long as it takes) until Postgres and
    Redis both answer, instead of failing the start-up. `stop` set meanwhile ends the wait
    with StoppedWaiting."""
    outage = Outage("dependencies", service=service, max_delay=settings.RECONNECT_MAX_SECONDS)
    halt = stop or asyncio.Event()
    async with AsyncExitStack() as stack:
        while True:
            try:
                res = await stack.enter_async_context(open_resources(settings))
            except DEPENDENCY_ERRORS as exc:
                delay = outage.failed(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(halt.wait(), delay)
                if halt.is_set():
                    raise StoppedWaiting(service) from None
                continue
            outage.ok()
            break
        yield res
