"""Correlation ids: a request's id on the API's lines, a conversation's id on every line of
the API, the worker and the gateway that handled it; a job's ids on its own lines only."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
import structlog

from app.core.config import Settings
from app.core.logging import configure_logging
from app.core.resources import Resources
from app.workers import boundary
from app.workers.scheduler import JobSpec, JuliaScheduler
from tests.support.fake_vendors import text_reply
from tests.support.julia import api_client, running_julia, vendor_settings

PHONE = "5511987003344"


class _Records(logging.Handler):
    """The event dicts structlog hands to the standard library, after every processor of
    the shared chain (contextvars merged, secrets masked) and before rendering."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict):
            self.events.append({**record.msg, "logger": record.name})

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]


@pytest.fixture
def records() -> Iterator[_Records]:
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        structlog.contextvars.clear_contextvars()


async def test_one_message_is_one_conversation_id_across_api_worker_and_gateway(
    make_settings: Any, database_url: str, redis_url: str, fake: Any, records: _Records
) -> None:
    settings: Settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, **vendor_settings(fake.url)
    )
    fake.anthropic.script(text_reply("oi! aqui é a Julia, tudo bem?"))
    async with running_julia(settings) as julia:
        # The lifespan configured logging (root handlers replaced): listen from here on.
        logging.getLogger().addHandler(records)
        response = await julia.say(PHONE, "oi, tem plantão?")
        await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
        await fake.await_until(lambda: records.named("turn.done"))
        conversation_id = await julia.res.db.fetchval("SELECT id FROM conversations")
        doctor_id = await julia.res.db.fetchval("SELECT id FROM doctors")
        send_id = await julia.res.db.fetchval("SELECT id FROM outbound_sends")
        webhook_event_id = await julia.res.db.fetchval(
            "SELECT id FROM webhook_events WHERE status = 'done'"
        )

    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)

    # The api stores the delivery (its line names the inbox row); the worker's drainer
    # applies that row and enqueues the conversation's turn.
    (stored,) = records.named("webhook.stored")
    assert stored["logger"] == "app.api.evolution"
    assert stored["request_id"] == request_id
    assert stored["webhook_event_id"] == webhook_event_id
    (enqueued,) = records.named("inbox.turn_enqueued")
    assert enqueued["conversation_id"] == conversation_id
    assert "request_id" not in enqueued

    # Every line the turn's job wrote carries the job's ids and the conversation's, also
    # the lines that do not name it themselves; none carries the API's request id.
    worker = [e for e in records.events if e.get("job") == "run_turn"]
    assert {e["event"] for e in worker} >= {"Processing message", "turn.answered", "turn.done"}
    assert all(e["conversation_id"] == conversation_id for e in worker)
    assert all(e["job_id"] for e in worker)
    assert not any("request_id" in e for e in worker)
    (answered,) = [e for e in worker if e["event"] == "turn.answered"]
    assert answered["doctor_id"] == doctor_id

    (sent,) = records.named("outbound.sent")
    assert sent["logger"] == "app.domain.outbound.gateway"
    assert sent["job"] == "run_turn"
    assert (sent["conversation_id"], sent["send_id"]) == (conversation_id, send_id)
    # The gateway's binding ends with the send: the turn's last line has no send_id.
    (done,) = records.named("turn.done")
    assert "send_id" not in done


async def test_a_sane_request_id_is_kept_and_any_other_replaced(settings: Settings) -> None:
    async with api_client(settings) as client:
        kept = await client.get("/health", headers={"X-Request-ID": "evo-2026.11_abc"})
        assert kept.headers["X-Request-ID"] == "evo-2026.11_abc"
        for bad in [b"a b", b"x" * 129, b"id\xe9", b"<script>", b"a\\nb", b""]:
            response = await client.get("/health", headers={"X-Request-ID": bad})
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), bad
        first = await client.get("/health")
        second = await client.get("/health")
        assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
        assert first.headers.get_list("X-Request-ID") == [first.headers["X-Request-ID"]]


async def test_an_arq_job_binds_its_ids_logs_a_failure_once_and_raises(
    records: _Records,
) -> None:
    structlog.contextvars.bind_contextvars(conversation_id=999)  # left by someone else

    async def good(ctx: dict[str, Any], conversation_id: int) -> str:
        structlog.contextvars.bind_contextvars(conversation_id=conversation_id)
        structlog.get_logger("t").info("good.ran")
        return "ok"

    async def bad(ctx: dict[str, Any]) -> None:
        structlog.get_logger("t").info("bad.ran")
        raise RuntimeError("boom")

    wrapped_good, wrapped_bad = boundary.arq_job(good), boundary.arq_job(bad)
    assert wrapped_good.__qualname__.endswith("good")  # ARQ registers jobs by this name
    assert await wrapped_good({"job_id": "j1", "job_try": 1}, 7) == "ok"
    with pytest.raises(RuntimeError, match="boom"):
        await wrapped_bad({"job_id": "j2", "job_try": 3})

    (ran,) = records.named("good.ran")
    assert (ran["job"], ran["job_id"], ran["conversation_id"]) == ("good", "j1", 7)
    (bad_ran,) = records.named("bad.ran")
    assert (bad_ran["job"], bad_ran["job_id"]) == ("bad", "j2")
    assert "conversation_id" not in bad_ran  # neither the caller's nor the last job's
    (failed,) = records.named("job.failed")
    assert (failed["job"], failed["job_id"], failed["job_try"]) == ("bad", "j2", 3)
    assert failed["error"] == "RuntimeError: boom" and failed["exc_info"]
    assert structlog.contextvars.get_contextvars() == {}


async def test_a_failed_tick_keeps_the_runbook_line_and_records_the_run(
    resources: Resources, records: _Records
) -> None:
    configure_logging(resources.settings, service="scheduler")
    logging.getLogger().addHandler(records)

    async def broken(res: Resources) -> None:
        structlog.get_logger("t").info("broken.ran")
        raise ValueError("sem conexão")

    spec = JobSpec("quebrado", broken, 60)
    scheduler = JuliaScheduler(resources, [spec])
    await scheduler.lease.refresh()
    await scheduler.run_job(spec)
    row = await resources.db.fetchrow(
        "SELECT status, error, slot FROM job_runs WHERE job_name = 'quebrado'"
    )
    assert (row["status"], row["error"]) == ("failed", "ValueError: sem conexão")
    slot = row["slot"].astimezone(UTC).isoformat()

    (ran,) = records.named("broken.ran")
    assert (ran["job"], ran["slot"]) == ("quebrado", slot)
    (failed,) = [e for e in records.events if e["event"].startswith("Job failed")]
    assert failed["event"] == "Job failed: quebrado: ValueError: sem conexão"
    assert failed["logger"] == "app.workers.scheduler"
    assert (failed["job"], failed["slot"]) == ("quebrado", slot)
    assert failed["exc_info"]
    assert not records.named("job.failed")  # one line per failure
    await scheduler.lease.release()
