"""SQL about the database server itself rather than the service's tables.

Apart from `db` so the pool module holds no SQL; typed with asyncpg's own classes because
`db` imports this module.
"""

from __future__ import annotations

import asyncpg


async def vector_type_exists(conn: asyncpg.Connection) -> bool:
    """Whether pgvector's `vector` type exists yet (it is created by the first migration)."""
    return bool(await conn.fetchval("SELECT 1 FROM pg_type WHERE typname = 'vector'"))


async def ping(pool: asyncpg.Pool) -> None:
    """One round trip to the database; raises when it cannot be reached."""
    await pool.fetchval("SELECT 1")
