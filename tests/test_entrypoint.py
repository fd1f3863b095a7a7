"""scripts/entrypoint.sh: one image, three modes, and clear errors when misconfigured."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
import pytest
from arq.connections import RedisSettings, create_pool

from app.core.redis import QUEUE_NAME
from tests.support.processes import ROOT, Proc, base_env, free_port

ENTRYPOINT = str(ROOT / "scripts" / "entrypoint.sh")
SECRET = "sk-ant-api03-do-not-print-me"


def test_unset_run_mode_is_an_error() -> None:
    proc = Proc([ENTRYPOINT], base_env())
    assert proc.wait() == 1
    assert proc.output == "ERROR: RUN_MODE environment variable is required!"


def test_invalid_run_mode_is_an_error() -> None:
    proc = Proc([ENTRYPOINT], base_env(RUN_MODE="web"))
    assert proc.wait() == 1
    assert proc.output == "ERROR: Invalid RUN_MODE: web"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "start_line"),
    [("api", "API started"), ("worker", "Worker started"), ("scheduler", "Scheduler started")],
)
def test_each_mode_starts_and_logs_its_start_line(
    mode: str, start_line: str, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = base_env(
        RUN_MODE=mode,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PORT=str(port),
        JULIA_DATA_DIR=str(tmp_path),
        HEARTBEAT_SECONDS="1",
    )
    proc = Proc([ENTRYPOINT], env)
    try:
        proc.wait_for(start_line, timeout=60)
        if mode == "api":
            # "API started" is the lifespan's line, logged before uvicorn binds the socket.
            proc.wait_for("Uvicorn running on", timeout=30)
            # exec'd uvicorn honours PORT and serves.
            assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        if mode == "scheduler":
            proc.wait_for("Job executed: heartbeat", timeout=30)
    finally:
        code = proc.stop()
    # A clean stop on SIGTERM; recent uvicorn re-raises the signal once it has shut down.
    assert code in (0, -signal.SIGTERM), proc.output
    assert "Traceback" not in proc.output


@pytest.mark.slow
async def test_worker_consumes_the_queue_and_beats(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = base_env(
        RUN_MODE="worker",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        JULIA_DATA_DIR=str(tmp_path),
        HEARTBEAT_SECONDS="1",
    )
    proc = Proc([ENTRYPOINT], env)
    pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=QUEUE_NAME)
    try:
        proc.wait_for("Worker started", timeout=60)
        job = await pool.enqueue_job("ping", "t-1")
        assert job is not None
        assert await job.result(timeout=30) == "t-1"
        assert await pool.get("julia:ping:t-1") is not None
        deadline = time.monotonic() + 10
        while await pool.get("julia:heartbeat:worker") is None:
            assert time.monotonic() < deadline, "worker never wrote its heartbeat"
            await asyncio.sleep(0.2)
    finally:
        await pool.aclose()
        assert proc.stop() == 0, proc.output


@pytest.mark.parametrize("mode", ["worker", "scheduler"])
def test_bad_setting_stops_start_up_with_one_line(mode: str) -> None:
    env = base_env(
        RUN_MODE=mode,
        MAX_MSGS_POR_HORA="-1",
        ANTHROPIC_API_KEY=SECRET,
        DATABASE_URL=f"postgresql://u:{SECRET}@localhost/x",
    )
    proc = Proc([ENTRYPOINT], env)
    assert proc.wait(60) == 1
    assert proc.output.startswith("ERROR: Invalid configuration: MAX_MSGS_POR_HORA")
    assert len(proc.output.splitlines()) == 1
    assert SECRET not in proc.output


def test_bad_setting_stops_the_api_naming_the_variable() -> None:
    env = base_env(
        RUN_MODE="api",
        HORARIO_INICIO="25:00",
        PORT=str(free_port()),
        REDIS_URL=f"redis://:{SECRET}@localhost:1/0",
    )
    proc = Proc([ENTRYPOINT], env)
    assert proc.wait(60) != 0
    assert proc.matching(r"Invalid configuration: HORARIO_INICIO: must be a time of day")
    assert "Traceback" not in proc.output
    assert SECRET not in proc.output


def test_production_refuses_to_start_without_its_services() -> None:
    proc = Proc([ENTRYPOINT], base_env(RUN_MODE="scheduler", ENVIRONMENT="production"))
    assert proc.wait(60) == 1
    assert proc.output == (
        "ERROR: Missing required setting(s) for RUN_MODE=scheduler in production: "
        "DATABASE_URL, REDIS_URL"
    )


@pytest.mark.slow
def test_production_logs_are_json_including_uvicorn(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = base_env(
        RUN_MODE="api",
        ENVIRONMENT="production",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        EVOLUTION_WEBHOOK_SECRET="s",
        JWT_SECRET_KEY="k",
        SUPABASE_PROJECT_REF="ref",
        SLACK_WEBHOOK_URL="http://127.0.0.1:9/slack",
        WATCHDOG_ENABLED="false",
        PORT=str(port),
    )
    proc = Proc([ENTRYPOINT], env)
    try:
        proc.wait_for("Uvicorn running on", timeout=60)  # listening: logged after the bind
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        proc.wait_for(r'GET /health HTTP/1.1\\?" 200', timeout=10)
    finally:
        proc.stop()
    records = [json.loads(line) for line in proc.lines if line.startswith("{")]
    events = {r["event"] for r in records}
    assert "API started" in events and "Application startup complete." in events
    assert all(r["service"] == "api" and "timestamp" in r and "level" in r for r in records)
    # Only uvicorn's own first lines, printed before the app configures logging, are plain.
    plain = [line for line in proc.lines if not line.startswith("{")]
    assert all(
        "Started server process" in p or "Waiting for application startup" in p for p in plain
    ), plain


def test_an_explicit_command_runs_as_given(database_url: str, tmp_path: Path) -> None:
    env = base_env(DATABASE_URL=database_url, JULIA_DATA_DIR=str(tmp_path))
    proc = Proc([ENTRYPOINT, "python", "-m", "app", "migrate"], env)
    assert proc.wait(60) == 0
    assert "Database is up to date." in proc.output
