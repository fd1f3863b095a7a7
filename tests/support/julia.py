"""Julia running in the test process: the real app (webhook), the real ARQ worker on the
session's Valkey, the real Postgres; vendors answered by `FakeVendors` over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from app.core.config import Settings
from app.core.resources import Resources
from app.main import create_app
from app.workers.fila_worker import build_worker
from tests.domain.evolution_payloads import upsert

WEBHOOK_SECRET = "whsec-test-0123456789-abcdefghijklmn"
_ids = itertools.count(1)


def vendor_settings(fake_url: str) -> dict[str, Any]:
    """Settings that point every vendor client at the local fake."""
    return {
        "EVOLUTION_API_URL": fake_url,
        "EVOLUTION_API_KEY": "evo-key",
        "EVOLUTION_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": fake_url,
        "SLACK_WEBHOOK_URL": f"{fake_url}/slack/webhook",
        "INBOUND_DEBOUNCE_SECONDS": 0.3,
        "HUMAN_DELAY_SCALE": 0,
        "LLM_MAX_RETRIES": 0,
    }


def text_message(phone: str, text: str, *, msg_id: str | None = None, **kw: Any) -> dict[str, Any]:
    """A `messages.upsert` of a plain text from `phone`, as Evolution posts it."""
    return upsert(
        {"conversation": text},
        message_type="conversation",
        remote_jid=f"{phone}@s.whatsapp.net",
        msg_id=msg_id or f"3EB0TEST{next(_ids):012d}",
        **kw,
    )


@dataclass
class Julia:
    client: httpx.AsyncClient
    res: Resources

    async def post(
        self, payload: Any, *, token: str | None = WEBHOOK_SECRET, **kw: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post("/webhook/evolution", json=payload, headers=headers, **kw)

    async def say(self, phone: str, text: str, **kw: Any) -> httpx.Response:
        response = await self.post(text_message(phone, text, **kw))
        assert response.status_code == 200, response.text
        return response

    async def count(self, sql: str, *args: Any) -> int:
        return int(await self.res.db.fetchval(sql, *args))


@asynccontextmanager
async def _served(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://julia") as client:
            yield app, client


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, started (lifespan) and served in-process to an httpx client."""
    async with _served(settings) as (_, client):
        yield client


@asynccontextmanager
async def running_julia(settings: Settings, *, worker: bool = True) -> AsyncIterator[Julia]:
    async with _served(settings) as (app, client):
        if not worker:
            yield Julia(client, app.state.resources)
            return
        arq_worker = build_worker(settings)
        arq_worker.poll_delay_s = 0.05
        task = asyncio.create_task(arq_worker.async_run())
        try:
            yield Julia(client, app.state.resources)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await arq_worker.close()
