"""`julia dev` (what `make run` starts): the whole system on embedded defaults."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import Proc, base_env, free_port


def _deep_health(port: int, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health/deep", timeout=5)
            if response.status_code == 200 and response.json()["processes"]["worker"] == "ok":
                return response
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"/health/deep never became healthy: {last}")


@pytest.mark.slow
def test_dev_runs_everything_on_embedded_services_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / ".julia"
    port = free_port()
    env = base_env(
        ENVIRONMENT="development",
        JULIA_DATA_DIR=str(data),
        HEARTBEAT_SECONDS="1",
        GIT_SHA="0a1b2c3d4e5f",
    )
    proc = Proc(["python", "-m", "app", "dev", "--port", str(port)], env)
    try:
        body = _deep_health(port, timeout=90).json()
        assert body["status"] == "healthy" and body["git_sha"] == "0a1b2c3d4e5f"
        assert body["checks"]["redis"] == "ok" and body["checks"]["supabase"] == "ok"
        # The worker and the scheduler say which build they run (the deploy gate's evidence).
        deadline = time.monotonic() + 30
        while not all("0a1b2c3d4e5f" in body["versions"][p] for p in ("worker", "scheduler")):
            assert time.monotonic() < deadline, body["versions"]
            time.sleep(0.5)
            body = _deep_health(port, timeout=10).json()
        proc.wait_for("dev.demo_data.seeded", timeout=5)
        proc.wait_for("Worker started", timeout=5)
        proc.wait_for("Job executed: heartbeat", timeout=10)
        assert (data / "postgres" / "postmaster.pid").exists()
        assert (data / "valkey" / "server.json").exists()
    finally:
        code = proc.stop(signal.SIGINT, timeout=40)
    assert code == 0, proc.output
    # Ctrl-C stops the three processes and the embedded services with them.
    assert not (data / "postgres" / "postmaster.pid").exists()
    assert not (data / "valkey" / "server.json").exists()

    # Data survives: a second start reuses the database and does not seed again.
    again = Proc(["python", "-m", "app", "dev", "--port", str(port)], env)
    try:
        _deep_health(port, timeout=90)
    finally:
        assert again.stop(signal.SIGINT, timeout=40) == 0, again.output
    assert again.matching("dev.demo_data.seeded") == []
