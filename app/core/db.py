"""The store: an asyncpg pool with the pgvector codec, and a transaction helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pgvector.asyncpg import register_vector

from app.core import catalog_repository

# A connection from `connect` or one borrowed from the pool; repositories accept either.
Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy
# A connection or the pool itself: what a repository function that runs one statement takes.
Executor: TypeAlias = Conn | asyncpg.Pool


def uses_transaction_pooler(dsn: str) -> bool:
    """Supabase's transaction pooler (port 6543, PgBouncer) cannot keep prepared statements."""
    parts = urlsplit(dsn)
    return parts.port == 6543 or "pgbouncer=true" in parts.query


def connect_kwargs(dsn: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"command_timeout": 30}
    if uses_transaction_pooler(dsn):
        kwargs["statement_cache_size"] = 0
    return kwargs


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Before the first migration the vector type does not exist yet; the codec is added
    # on the connections opened after it.
    if await catalog_repository.vector_type_exists(conn):
        await register_vector(conn)


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """What a released connection needs besides asyncpg's own cleanup (it rolls back an
    open transaction and drops listeners): nothing. Julia keeps no session state on a
    pooled connection: locks are transaction-level (`pg_advisory_xact_lock`), no session
    setting is changed, no cursor outlives its transaction and nobody LISTENs on one (Supabase's
    transaction pooler would not keep any of it either). asyncpg's default reset
    (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) is a round trip
    on every release: about a tenth of the worker's time in a turn."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_nothing_to_reset,
        max_inactive_connection_lifetime=300,
        **connect_kwargs(dsn),
    )
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection outside the pool (migrations, CLI)."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn, **connect_kwargs(dsn))
    await _init_connection(conn)
    return conn


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[Conn]:
    """A pooled connection inside a transaction: committed on exit, rolled back on error."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn
