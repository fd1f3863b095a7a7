"""`julia chat`: a person talks to Julia as a doctor through the real webhook, queue and
worker, with replies read from the sandbox outbox (no Evolution configured)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.support.fake_vendors import text_reply
from tests.support.processes import Proc, base_env, free_port

pytestmark = pytest.mark.slow


def test_chat_round_trip_through_the_running_system(
    database_url: str, redis_url: str, fake: Any, tmp_path: Any
) -> None:
    port = free_port()
    env = base_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        JULIA_DATA_DIR=str(tmp_path / ".julia"),
        ANTHROPIC_API_KEY="test-key",
        ANTHROPIC_BASE_URL=fake.url,
        INBOUND_DEBOUNCE_SECONDS="0.2",
        HUMAN_DELAY_SCALE="0",
        PORT=str(port),
    )
    fake.anthropic.script(
        text_reply("oi Dr! sou a Julia da Revoluna\n\nvc é de qual especialidade?")
    )
    api = Proc([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)], env)
    worker = Proc([sys.executable, "-m", "app.workers.fila_worker"], env)
    chat = None
    try:
        api.wait_for("Uvicorn running on", timeout=60)  # listening: logged after the bind
        worker.wait_for("Worker started", timeout=60)
        chat = Proc(
            [
                sys.executable,
                "-m",
                "app",
                "chat",
                "--phone",
                "5511912345678",
                "--url",
                f"http://127.0.0.1:{port}",
            ],
            env,
            stdin=True,
        )
        chat.wait_for("Escreva e tecle Enter", timeout=30)
        chat.type_line("oi, tudo bem? vi o anúncio de plantão")
        chat.wait_for("Julia: vc é de qual especialidade", timeout=30)
        assert chat.matching("Julia: oi Dr! sou a Julia da Revoluna")
        chat.type_line("/sair")
        assert chat.wait(timeout=20) == 0
        assert "oi, tudo bem? vi o anúncio" in str(fake.anthropic.requests[0]["messages"])
    finally:
        for proc in (chat, worker, api):
            if proc is not None:
                proc.kill()
