"""The one place where long-lived resources are built (DESIGN rule 10).

The API lifespan, the worker's start-up hook and the scheduler all call `open_resources`;
nothing is opened at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx
from arq.connections import ArqRedis

from app.core import db, redis
from app.core.config import Settings
from app.core.logging import get_logger

log = get_logger(__name__)


@dataclass
class Resources:
    settings: Settings
    db: asyncpg.Pool
    redis: ArqRedis
    http: httpx.AsyncClient


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Open the pool, Redis and the shared HTTP client; close them in reverse order.

    `settings` must already carry DATABASE_URL and REDIS_URL (see `embedded_defaults`).
    """
    async with AsyncExitStack() as stack:
        pool = await db.create_pool(settings.database_dsn)
        stack.push_async_callback(pool.close)
        client = await redis.connect(settings.redis_dsn)
        stack.push_async_callback(client.aclose)
        http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
        stack.push_async_callback(http.aclose)
        log.debug("resources.opened")
        yield Resources(settings=settings, db=pool, redis=client, http=http)
