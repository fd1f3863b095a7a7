"""The inbox drainer: a task of the worker process that applies what the edge stored.

Started by the worker's on_startup, it drains at once (a worker that was down loses
nothing), then waits for the edge's Redis signal, or INBOX_POLL_SECONDS at most (a lost
signal, Redis down), and drains again. A Redis or database error is logged and waited out
with a growing backoff. Stopped by on_shutdown: the batch in flight finishes (or, past the
grace, is rolled back and its rows stay `received`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
from redis.exceptions import RedisError

from app.core.logging import get_logger
from app.core.resources import Resources
from app.domain.inbox import drain
from app.domain.inbox.edge import wait_for_wake

log = get_logger(__name__)

MAX_BACKOFF_SECONDS = 30.0
STOP_GRACE_SECONDS = 10.0


class InboxDrainer:
    def __init__(self, res: Resources, wake_in: Callable[[float], None] | None = None) -> None:
        self._res = res
        # The queue loop of this process: told when the turns just enqueued are due.
        self._wake_in = wake_in
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._waiting: asyncio.Task[bool] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="inbox-drainer")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        if self._waiting is not None:
            self._waiting.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_SECONDS)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        poll = self._res.settings.INBOX_POLL_SECONDS
        # Back soon after an outage: no longer than the worker's own reconnect backoff.
        most = max(poll, min(MAX_BACKOFF_SECONDS, self._res.settings.RECONNECT_MAX_SECONDS))
        backoff = 0.0
        while not self._stopping.is_set():
            try:
                drained = await drain.drain(self._res)
                if drained.turns and self._wake_in is not None:
                    self._wake_in(self._res.settings.INBOUND_DEBOUNCE_SECONDS)
                if self._stopping.is_set():
                    return
                self._waiting = asyncio.create_task(wait_for_wake(self._res.redis, poll))
                try:
                    await self._waiting
                except asyncio.CancelledError:
                    if self._stopping.is_set():
                        return
                    raise
                finally:
                    self._waiting = None
                backoff = 0.0
            except (RedisError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                backoff = min(max(backoff * 2, poll), most)
                log.warning("inbox.drainer_error", error=type(exc).__name__, retry_in=backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
            except Exception:  # the task's boundary: logged, and the drainer goes on
                backoff = min(max(backoff * 2, poll), most)
                log.exception("inbox.drainer_crashed", retry_in=backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
