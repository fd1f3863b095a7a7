"""The runbook's log lines appear verbatim in both renderings; secrets are masked."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from app.core.logging import configure_logging, get_logger

LINES = [
    "Worker started",
    "Processing message",
    "Scheduler started",
    "Job executed: sync_briefings",
    "Job failed: sync_briefings: boom",
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
        log.info(line, apikey="super-secret", job="sync_briefings")
    logging.getLogger("apscheduler.scheduler").info("from the standard library")
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["event"] for r in records[: len(LINES)]] == LINES
    assert all(r["service"] == "scheduler" and r["apikey"] == "***" for r in records[: len(LINES)])
    assert records[-1]["event"] == "from the standard library"
    assert records[-1]["logger"] == "apscheduler.scheduler"
