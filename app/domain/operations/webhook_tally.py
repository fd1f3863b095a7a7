"""How many webhook deliveries the API answered, and how many with a 5xx.

The edge answers thousands of requests a second, so the count is kept in process and
added to Redis in one round trip every few seconds (per-minute buckets, kept two days).
A 5xx is a delivery the vendor must send again (the store was down, a bug): the error-rate
alert counts it next to failed turns, sends and jobs. What a process counted but could not
flush (Redis down) is kept and added on the next flush.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.logging import get_logger

log = get_logger(__name__)

KEY = "julia:metrics:webhooks:"  # + minute (unix seconds // 60): a hash total / failed
KEEP = timedelta(days=2)
FLUSH_SECONDS = 5.0
WEBHOOK_PATHS = ("/webhook/", "/slack/events")


class WebhookTally:
    def __init__(self) -> None:
        self.counts: Counter[tuple[int, str]] = Counter()

    def record(self, status: int, at: float) -> None:
        minute = int(at // 60)
        self.counts[(minute, "total")] += 1
        if status >= 500:
            self.counts[(minute, "failed")] += 1

    async def flush(self, redis: Redis) -> None:
        if not self.counts:
            return
        pending, self.counts = self.counts, Counter()
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for (minute, field), count in pending.items():
                    pipe.hincrby(f"{KEY}{minute}", field, count)
                    pipe.expire(f"{KEY}{minute}", int(KEEP.total_seconds()))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self.counts.update(pending)  # kept for the next flush
            log.warning("webhook_tally.unflushed", error=type(exc).__name__)


# The API process's tally: the middleware records, the lifespan flushes.
TALLY = WebhookTally()


@asynccontextmanager
async def flushing(redis: Redis, tally: WebhookTally = TALLY) -> AsyncIterator[None]:
    """Flush `tally` to Redis every FLUSH_SECONDS while the API runs, and once at the end."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await tally.flush(redis)

    task = asyncio.create_task(loop(), name="webhook-tally")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await tally.flush(redis)


async def webhook_counts(redis: Redis, since: datetime, until: datetime) -> tuple[int, int]:
    """(answered, answered with a 5xx) from `since` to `until`, to the minute."""
    first, last = int(since.timestamp() // 60), int(until.timestamp() // 60)
    async with redis.pipeline(transaction=False) as pipe:
        for minute in range(first, last + 1):
            pipe.hmget(f"{KEY}{minute}", ["total", "failed"])
        rows = cast(list[Any], await cast(Awaitable[Any], pipe.execute()))
    total = sum(int(row[0] or 0) for row in rows)
    failed = sum(int(row[1] or 0) for row in rows)
    return total, failed
