"""The emergency stop, tried as an operator would: a Slack `pausar` while replies are being
"typed" (scheduled sends with the human delays on), the same pause while the worker is down,
and a pause and resume written straight into julia_status, as the runbook's SQL does.
The real app, ARQ worker, Postgres and Valkey; Anthropic, Evolution and Slack are the local
fake. No scheduler runs here, so the scheduler's sweep never answers anybody."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.workers.fila_worker import build_worker
from tests.support.julia import Julia
from tests.test_slack import OPERATOR, command, mention, post_event, slack_settings

# The reading and typing pauses on, doubled: a reply to "oi" is due 9-15 s after its turn,
# so every reply planned below is still being "typed" when the pause arrives.
DELAY_SCALE = 2.0
DOCTORS = [f"55119870{n:05d}" for n in range(1, 13)]


@pytest.fixture
def stop_settings(make_settings: Any, database_url: str, redis_url: str, fake: Any) -> Settings:
    return slack_settings(
        make_settings,
        database_url,
        redis_url,
        fake,
        HUMAN_DELAY_SCALE=DELAY_SCALE,
        JULIA_STATUS_POLL_SECONDS=0.5,
    )


class Worker:
    """The real ARQ worker, started and stopped at will (a crash or a deploy)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._task: asyncio.Task[None] | None = None
        self._worker: Any = None

    def start(self) -> None:
        self._worker = build_worker(self.settings)
        self._worker.poll_delay_s = 0.05
        self._task = asyncio.create_task(self._worker.async_run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._worker.close()
        self._task = None


@asynccontextmanager
async def julia_with_worker(settings: Settings) -> AsyncIterator[tuple[Julia, Worker]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://julia") as client:
            worker = Worker(settings)
            worker.start()
            try:
                yield Julia(client, app.state.resources), worker
            finally:
                if worker._task is not None:
                    await worker.stop()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {check.__name__}")
        await asyncio.sleep(0.1)


async def replies_planned(julia: Julia, n: int) -> None:
    async def planned() -> bool:
        return await julia.count("SELECT count(*) FROM outbound_sends WHERE kind = 'reply'") >= n

    await until(planned)


async def nothing_left_to_send(julia: Julia) -> None:
    """Every planned reply reached its moment and was decided (the gateway said no)."""

    async def decided() -> bool:
        return (
            await julia.count(
                "SELECT count(*) FROM outbound_sends WHERE status IN ('pending', 'deferred')"
            )
            == 0
        )

    await until(decided, timeout=60)


async def everyone_answered_once(julia: Julia, fake: Any, phones: list[str]) -> None:
    await fake.await_until(lambda: all(fake.evolution.texts_to(p) for p in phones), timeout=60)
    # The rest of what was planned has gone out too; nothing is sent twice.
    await nothing_left_to_send(julia)
    assert {p: len(fake.evolution.texts_to(p)) for p in phones} == {p: 1 for p in phones}


async def test_a_slack_pause_stops_every_reply_being_typed_and_resume_answers_each_once(
    stop_settings: Settings, fake: Any
) -> None:
    async with julia_with_worker(stop_settings) as (julia, _):
        for phone in DOCTORS[:8]:
            await julia.say(phone, "oi")
        await replies_planned(julia, 8)
        assert fake.evolution.sends == []  # all eight are still being "typed"

        response = await post_event(julia, mention("pausar julia motivo: mensagens estranhas"))
        assert response.status_code == 200
        # Written by the request itself: the pause holds from the acknowledgement on.
        row = await julia.res.db.fetchrow(
            "SELECT status, alterado_via, alterado_por FROM julia_status ORDER BY id DESC LIMIT 1"
        )
        assert tuple(row) == ("pausado", "slack", OPERATOR)

        # Doctors keep writing during the pause; nobody is answered.
        for phone in DOCTORS[8:]:
            await julia.say(phone, "oi")
        await nothing_left_to_send(julia)
        await fake.await_until(lambda: fake.slack.posted_messages)
        assert fake.evolution.sends == []
        reasons = await julia.res.db.fetch(
            "SELECT DISTINCT reason FROM outbound_sends WHERE status = 'blocked'"
        )
        assert {r["reason"] for r in reasons} == {"pausado"}
        answer = fake.slack.posted_messages[0]["text"]
        assert answer.startswith("Julia pausada. Motivo: mensagens estranhas")
        assert "Valendo desde" in answer
        assert await julia.count("SELECT count(*) FROM julia_status") == 1  # written once

        reply = await command(julia, fake, "retomar julia")
        assert "esperando resposta: 12" in reply["text"]
        await everyone_answered_once(julia, fake, DOCTORS)


async def test_a_pause_sent_while_the_worker_is_down_holds_when_it_comes_back(
    stop_settings: Settings, fake: Any
) -> None:
    async with julia_with_worker(stop_settings) as (julia, worker):
        for phone in DOCTORS[:5]:
            await julia.say(phone, "oi")
        await replies_planned(julia, 5)
        assert fake.evolution.sends == []
        await worker.stop()

        # While the worker is down: more doctors write, and an operator pauses.
        for phone in DOCTORS[5:8]:
            await julia.say(phone, "oi")
        assert (await post_event(julia, mention("pausar julia motivo: worker caiu"))).status_code
        assert await julia.count("SELECT count(*) FROM julia_status WHERE status = 'pausado'") == 1

        worker.start()
        await fake.await_until(lambda: fake.slack.posted_messages, timeout=20)

        async def inbox_applied() -> bool:
            return (
                await julia.count(
                    "SELECT count(*) FROM webhook_events "
                    "WHERE source = 'evolution' AND status = 'received'"
                )
                == 0
            )

        await until(inbox_applied)
        await nothing_left_to_send(julia)
        assert fake.evolution.sends == []

        # The runbook's SQL resume: the worker notices it, no sweep needed.
        await julia.res.db.execute(
            """INSERT INTO julia_status (status, motivo, alterado_via)
               VALUES ('ativo', 'Retomando operacao', 'manual')"""
        )
        await everyone_answered_once(julia, fake, DOCTORS[:8])


async def test_the_runbook_sql_pauses_replies_being_typed_and_its_resume_answers_them(
    stop_settings: Settings, fake: Any
) -> None:
    async with julia_with_worker(stop_settings) as (julia, _):
        for phone in DOCTORS[:4]:
            await julia.say(phone, "oi")
        await replies_planned(julia, 4)
        assert fake.evolution.sends == []
        await julia.res.db.execute(
            """INSERT INTO julia_status (status, motivo, alterado_via)
               VALUES ('pausado', 'Emergencia - pausado manualmente', 'manual')"""
        )
        await nothing_left_to_send(julia)
        assert fake.evolution.sends == []

        await julia.res.db.execute(
            """INSERT INTO julia_status (status, motivo, alterado_via)
               VALUES ('ativo', 'Retomando operacao', 'manual')"""
        )
        await everyone_answered_once(julia, fake, DOCTORS[:4])
