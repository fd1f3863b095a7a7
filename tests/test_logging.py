"""The runbook's log lines appear verbatim in both renderings; secrets are masked. The
scheduler's `Job executed: sync_briefings` comes from the real job run by the real scheduler
wrapper, against the Drive fake."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from app.core.logging import _redact, configure_logging, get_logger
from app.core.resources import open_resources
from app.workers.briefing_jobs import sync_briefings
from app.workers.scheduler import JobSpec, JuliaScheduler
from tests.support.julia import vendor_settings

LINES = [
    "Worker started",
    "Processing message",
    "Scheduler started",
]


def test_console_rendering_keeps_the_lines(
    make_settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(make_settings(ENVIRONMENT="development"), service="worker")
    log = get_logger("t")
    for line in LINES:
        log.info(line)
    out = capsys.readouterr().out
    for line in LINES:
        assert line in out
    assert "{" not in out


def test_json_rendering_in_production(
    make_settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(make_settings(ENVIRONMENT="production"), service="scheduler")
    log = get_logger("t")
    for line in LINES:
        log.info(line, apikey="super-secret", job="heartbeat")
    logging.getLogger("apscheduler.scheduler").info("from the standard library")
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["event"] for r in records[: len(LINES)]] == LINES
    assert all(r["service"] == "scheduler" and r["apikey"] == "***" for r in records[: len(LINES)])
    assert records[-1]["event"] == "from the standard library"
    assert records[-1]["logger"] == "apscheduler.scheduler"


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "bot_token",
        "access_token",
        "SLACK_BOT_TOKEN",
        "accessToken",
        "apikey",
        "api_key",
        "EVOLUTION_API_KEY",
        "x-api-key",
        "password",
        "db_password",
        "secret",
        "webhook_secret",
        "client_secret",
        "authorization",
        "Authorization",
        "jwt",
        "cookie",
        "private_key",
    ],
)
def test_secrets_are_masked(key: str) -> None:
    assert _redact(None, "info", {"event": "e", key: "s3cr3t-value"})[key] == "***"


@pytest.mark.parametrize(
    "key",
    [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "max_tokens",
        "idempotency_key",
        "send_id",
        "request_id",
        "event",
    ],
)
def test_counts_and_ids_are_not_masked(key: str) -> None:
    assert _redact(None, "info", {key: 123})[key] == 123


def test_a_connection_string_keeps_all_but_its_password() -> None:
    redacted = _redact(
        None,
        "info",
        {
            "database_url": "postgresql://julia:s3cr%40t@db.example:5432/julia?sslmode=require",
            "redis_url": "redis://:hunter2@cache:6379/0",
            "dsn": None,
            "url": "https://api.example/v1/messages",
        },
    )
    assert (
        redacted["database_url"] == "postgresql://julia:***@db.example:5432/julia?sslmode=require"
    )
    assert redacted["redis_url"] == "redis://:***@cache:6379/0"
    assert redacted["dsn"] is None
    assert redacted["url"] == "https://api.example/v1/messages"


def test_a_rendered_line_masks_the_secret_and_keeps_the_usage(
    make_settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(make_settings(ENVIRONMENT="production"), service="worker")
    get_logger("t").info(
        "llm.call", input_tokens=1234, output_tokens=56, bot_token="xoxb-1-2-3", max_tokens=800
    )
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert record["bot_token"] == "***"
    assert (record["input_tokens"], record["output_tokens"], record["max_tokens"]) == (
        1234,
        56,
        800,
    )
    assert "xoxb" not in json.dumps(record)


async def test_the_scheduler_logs_job_executed_sync_briefings_from_the_real_job(
    make_settings: Any,
    database_url: str,
    redis_url: str,
    fake: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = "1BriefingsFolder"
    settings = make_settings(
        ENVIRONMENT="production",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        GOOGLE_APPLICATION_CREDENTIALS=fake.drive.service_account_file(tmp_path / "sa.json"),
        GOOGLE_BRIEFINGS_FOLDER_ID=folder,
        GOOGLE_DRIVE_API_URL=f"{fake.url}/drive/v3/",
        **vendor_settings(fake.url),
    )
    fake.drive.add_doc(folder, "Briefing", "Foco da Semana\nPediatria\n")
    configure_logging(settings, service="scheduler")
    spec = JobSpec("sync_briefings", sync_briefings, 3600)
    async with open_resources(settings) as res:
        scheduler = JuliaScheduler(res, [spec])
        assert await scheduler.lease.refresh()
        await scheduler.run_job(spec)
        fake.drive.fail_next(503, times=5)
        await res.db.execute("DELETE FROM job_runs")  # the next tick of the same slot
        await scheduler.run_job(spec)
        await scheduler.lease.release()

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    executed = [r for r in records if r["event"] == "Job executed: sync_briefings"]
    # `service` is left out: loggers cached by earlier tests of this process keep the service
    # they were configured with (the real scheduler process is covered in test_scheduler).
    assert len(executed) == 1
    assert executed[0]["job"] == "sync_briefings" and executed[0]["skipped"] is False
    failed = [r for r in records if r["event"].startswith("Job failed: sync_briefings: ")]
    assert len(failed) == 1 and "503" in failed[0]["event"]
    assert fake.drive.exports()  # the document was really read
