"""The webhook edge benchmark (benchmarks/webhook_edge.py) kept from rotting: its bodies are
what Julia parses and stores, its naive store stores, and its wrk script counts what it
sends. Timings are the benchmark's business, never asserted here."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn

from app.domain.inbox.evolution import MessageEvent, parse_webhook
from benchmarks import webhook_edge as bench
from tests.support.julia import api_client
from tests.support.processes import free_port

JID = "5511970004242"
MSG_ID = "0AB1" + "0000" + "00000000002A" + "00000000"  # as the Lua script builds it: 32 hex


def body(n: int = 42, msg_id: str = MSG_ID) -> bytes:
    return bench.fill(bench.body_template(), jid=JID, msg_id=msg_id, ts=1773027345, n=n)


def test_bench_body_is_a_doctors_text_message() -> None:
    events = parse_webhook(json.loads(body()))

    assert len(events) == 1
    event = events[0]
    assert isinstance(event, MessageEvent)
    assert event.answerable
    assert (event.phone, event.message_id) == (JID, MSG_ID)
    assert event.text == "oi, vi a mensagem de vcs. tem plantão essa semana? (42)"


async def test_julia_stores_the_bench_body_with_the_bench_secret(
    make_settings: Any, database_url: str, redis_url: str
) -> None:
    settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, EVOLUTION_WEBHOOK_SECRET=bench.SECRET
    )
    headers = {"Authorization": f"Bearer {bench.SECRET}", "Content-Type": "application/json"}
    async with api_client(settings) as client:
        first = await client.post("/webhook/evolution", content=body(), headers=headers)
        again = await client.post("/webhook/evolution", content=body(), headers=headers)

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    # What the benchmark counts as stored: one row per distinct delivery.
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval(bench.JULIA_STORED_SQL) == 1
    finally:
        await conn.close()


@pytest.fixture
async def naive_db(database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(bench.NAIVE_SCHEMA)
    finally:
        await conn.close()
    monkeypatch.setenv("NAIVE_DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("NAIVE_SECRET", bench.SECRET)
    return database_url


async def naive_rows(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            f"SELECT count(*) AS n, count(DISTINCT provider_id) AS ids FROM {bench.NAIVE_TABLE}"
        )
        return int(row["n"]), int(row["ids"])
    finally:
        await conn.close()


async def test_naive_store_inserts_once_and_pushes(naive_db: str, redis_url: str) -> None:
    app = bench.naive_app()
    headers = {"Authorization": f"Bearer {bench.SECRET}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://naive") as client:
            ok = await client.post("/webhook/evolution", content=body(), headers=headers)
            dup = await client.post("/webhook/evolution", content=body(), headers=headers)
            wrong = await client.post(
                "/webhook/evolution", content=body(), headers={"Authorization": "Bearer x"}
            )

    assert (ok.status_code, dup.status_code, wrong.status_code) == (200, 200, 401)
    assert await naive_rows(naive_db) == (1, 1)
    valkey = aioredis.from_url(redis_url)
    try:
        assert await valkey.llen(bench.NAIVE_LIST) == 2
    finally:
        await valkey.aclose()


@pytest.fixture
def naive_server(naive_db: str) -> Iterator[str]:
    """The naive store served by uvicorn on loopback, in a thread of this process."""
    port = free_port()
    config = uvicorn.Config(bench.naive_app(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}/webhook/evolution"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.skipif(shutil.which("wrk") is None, reason=f"wrk missing: {bench.WRK_INSTALL}")
async def test_wrk_script_sends_unique_deliveries_and_counts_answers(
    naive_server: str, naive_db: str, tmp_path: Path
) -> None:
    wrk = bench.Wrk(bench.ensure_wrk(), tmp_path, threads=2)

    run = await asyncio.to_thread(
        wrk.run, naive_server, seconds=30, doctors=bench.DOCTORS, max_per_thread=150
    )

    # Each thread stops sending at 150, waits for every answer, and the run ends then, not
    # after 30 s: nothing is left in flight, so the store holds exactly what was acked.
    assert (run["sent"], run["answered"], run["ok_2xx"], run["non_2xx"]) == (300, 300, 300, 0)
    assert run["duration_us"] < 20e6
    rows, ids = await naive_rows(naive_db)
    assert rows == ids == 300  # every acked delivery stored, no message id sent twice
