"""What the `julia` subcommands share: the error they show and one database transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.core import db
from app.core.config import Settings
from app.core.db import Conn
from app.core.embedded import embedded_defaults
from app.core.errors import JuliaError

T = TypeVar("T")


class CommandError(JuliaError):
    """Shown to the person at the terminal as `ERROR: <message>`, exit code 1."""


def run_in_transaction(settings: Settings, work: Callable[[Conn, Settings], Awaitable[T]]) -> T:
    """Run `work` in one transaction; database trouble becomes a CommandError."""
    import asyncpg

    async def run(resolved: Settings) -> T:
        conn = await db.connect(resolved.database_dsn)
        try:
            async with conn.transaction():
                return await work(conn, resolved)
        finally:
            await conn.close()

    with embedded_defaults(settings, redis=False) as resolved:
        try:
            return asyncio.run(run(resolved))
        except asyncpg.UndefinedTableError as exc:
            raise CommandError("o banco não tem as tabelas da Julia; rode `julia migrate`") from exc
        except (OSError, asyncpg.PostgresError) as exc:
            raise CommandError(
                f"não consegui falar com o Postgres ({type(exc).__name__}); confira DATABASE_URL"
            ) from exc
