"""Redis (Valkey locally): the queue and the home of short-lived shared state."""

from __future__ import annotations

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio import Redis

QUEUE_NAME = "julia:queue"

# Keys other processes read; one place so the writer and the reader agree.
WORKER_HEARTBEAT_KEY = "julia:heartbeat:worker"
SCHEDULER_HEARTBEAT_KEY = "julia:heartbeat:scheduler"
SCHEDULER_LEADER_KEY = "julia:scheduler:leader"
# The Evolution instances reporting their own Chatwoot integration on (a JSON list), written
# by the scheduler's check and shown by /health/deep.
CHATWOOT_CONFLICT_KEY = "julia:chatwoot:evolution_integration"


def redis_settings(dsn: str, *, retries: int = 5) -> RedisSettings:
    settings = RedisSettings.from_dsn(dsn)
    settings.conn_retries = retries
    settings.conn_timeout = 2
    return settings


async def connect(dsn: str, *, retries: int = 5) -> ArqRedis:
    """An ArqRedis client: a plain redis.asyncio client that can also enqueue jobs."""
    return await create_pool(redis_settings(dsn, retries=retries), default_queue_name=QUEUE_NAME)


def lazy_client(dsn: str, *, timeout: float = 3.0) -> Redis:
    """A client that connects on its first command (and again after a lost connection):
    building it never fails, so a process can hold one while Redis is down."""
    client: Redis = Redis.from_url(dsn, socket_timeout=timeout, socket_connect_timeout=timeout)
    return client
