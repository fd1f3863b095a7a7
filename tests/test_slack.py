"""Operators command Julia from Slack (`POST /slack/events` -> ARQ -> reply in the thread) and
from the terminal (`julia status|pause|resume`): through the real app, worker and Postgres;
Slack, Anthropic and Evolution are the local fake."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.signature import SignatureVerifier

from app.core.config import Settings
from app.domain.operations.commands import ASK_MOTIVO, HELP, REFUSED
from app.workers.slack_jobs import run_slack_command
from tests.support.fake_vendors import text_reply
from tests.support.julia import Julia, running_julia, vendor_settings
from tests.support.processes import Proc, base_env

SIGNING_SECRET = "slack-signing-secret-test-0123456789"
BOT = "U0JULIABOT"
OPERATOR = "U0OPERADOR"
CHANNEL = "C0JULIAGESTAO"
PHONE = "5511987003344"
_ids = itertools.count(1)


def slack_settings(
    make_settings: Any, database_url: str, redis_url: str, fake: Any, **kw: Any
) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        **vendor_settings(fake.url),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_BASE_URL": fake.url + "/slack/api/",
    }
    values.update(kw)
    settings: Settings = make_settings(**values)
    return settings


@pytest.fixture
def julia_settings(make_settings: Any, database_url: str, redis_url: str, fake: Any) -> Settings:
    return slack_settings(make_settings, database_url, redis_url, fake)


@pytest.fixture
async def julia(julia_settings: Settings) -> AsyncIterator[Julia]:
    async with running_julia(julia_settings) as j:
        yield j


def mention(
    text: str, *, event_id: str | None = None, user: str = OPERATOR, thread_ts: str | None = None
) -> dict[str, Any]:
    """An `event_callback` with an `app_mention`, as the Events API delivers it."""
    n = next(_ids)
    ts = f"{int(time.time())}.{n:06d}"
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT}> {text}",
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return {
        "token": "legacy-verification-token",
        "team_id": "T0REVOLUNA",
        "api_app_id": "A0JULIA",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev0TEST{n:06d}",
        "event_time": int(time.time()),
        "authorizations": [{"user_id": BOT, "is_bot": True}],
    }


def signed(
    body: bytes, *, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


async def post_event(julia: Julia, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    return await julia.client.post("/slack/events", content=body, headers=signed(body))


async def command(julia: Julia, fake: Any, text: str, **kw: Any) -> dict[str, Any]:
    """Mention the bot and wait for its answer in the thread."""
    payload = mention(text, **kw)
    before = len(fake.slack.posted_messages)
    started = time.monotonic()
    response = await post_event(julia, payload)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 3  # Slack's deadline
    await fake.await_until(lambda: len(fake.slack.posted_messages) > before)
    reply: dict[str, Any] = fake.slack.posted_messages[before]
    assert reply["channel"] == CHANNEL
    assert reply["thread_ts"] == payload["event"].get("thread_ts", payload["event"]["ts"])
    return reply


async def statuses(julia: Julia) -> list[tuple[Any, ...]]:
    rows = await julia.res.db.fetch(
        "SELECT status, motivo, alterado_via, alterado_por FROM julia_status ORDER BY id"
    )
    return [tuple(r) for r in rows]


async def test_pause_from_slack_keeps_doctors_waiting_until_retomar(
    julia: Julia, fake: Any
) -> None:
    reply = await command(julia, fake, "pausar julia motivo: teste")
    assert reply["text"].startswith("Julia pausada. Motivo: teste")
    assert await statuses(julia) == [("pausado", "teste", "slack", OPERATOR)]
    assert any(
        "PAUSADA" in p["text"] and f"<@{OPERATOR}>" in p["text"] for p in fake.slack.webhook_posts
    )
    assert await julia.count("SELECT count(*) FROM notifications WHERE kind = 'paused'") == 1
    assert (
        await julia.count(
            "SELECT count(*) FROM webhook_events WHERE source = 'slack' AND status = 'done'"
        )
        == 1
    )

    await julia.say(PHONE, "oi")
    await asyncio.sleep(2.0)
    assert fake.evolution.sends == [] and fake.anthropic.requests == []

    fake.anthropic.script(text_reply("oi! desculpa a demora, tudo bem?"))
    reply = await command(julia, fake, "retomar julia")
    assert reply["text"].startswith("Julia retomada.")
    assert "esperando resposta: 1" in reply["text"]
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE), timeout=15)
    assert fake.evolution.texts_to(PHONE) == ["oi! desculpa a demora, tudo bem?"]
    assert [s[0] for s in await statuses(julia)] == ["pausado", "ativo"]
    assert await julia.count("SELECT count(*) FROM notifications WHERE kind = 'resumed'") == 1


async def test_a_mention_inside_a_thread_is_answered_in_that_thread(
    julia: Julia, fake: Any
) -> None:
    reply = await command(julia, fake, "status", thread_ts="1773000000.000100")
    assert reply["thread_ts"] == "1773000000.000100"


async def test_the_inbox_keeps_the_mention_as_slack_sent_it_without_its_token(
    julia: Julia, fake: Any
) -> None:
    payload = mention("status", thread_ts="1773000000.000200")
    assert (await post_event(julia, payload)).status_code == 200
    await fake.await_until(lambda: fake.slack.posted_messages)
    row = await julia.res.db.fetchrow(
        """SELECT event, provider_id, payload, status, finished_at FROM webhook_events
           WHERE source = 'slack'"""
    )
    assert (row["event"], row["provider_id"], row["status"]) == (
        "app_mention",
        payload["event_id"],
        "done",
    )
    assert row["finished_at"] is not None
    assert json.loads(row["payload"]) == {k: v for k, v in payload.items() if k != "token"}


async def test_forged_stale_and_unsigned_requests_are_refused(julia: Julia, fake: Any) -> None:
    body = json.dumps(mention("pausar julia motivo: invasor")).encode()
    cases = [
        signed(body, secret="not-the-secret"),
        signed(body, timestamp=int(time.time()) - 310),  # older than 5 minutes
        signed(body, timestamp=int(time.time()) + 400),  # from the future
        {"Content-Type": "application/json"},
        {**signed(body), "X-Slack-Request-Timestamp": "agora"},
        {**signed(body), "X-Slack-Signature": "v0=" + "0" * 64},
    ]
    for headers in cases:
        response = await julia.client.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 401, headers
    # Signed for another body: the signature covers every byte.
    tampered = body.replace(b"invasor", b"invasao")
    response = await julia.client.post("/slack/events", content=tampered, headers=signed(body))
    assert response.status_code == 401
    await asyncio.sleep(0.5)
    assert await julia.count("SELECT count(*) FROM webhook_events WHERE source = 'slack'") == 0
    assert await statuses(julia) == [] and fake.slack.posted_messages == []


async def test_a_retried_event_is_acted_on_once(julia: Julia, fake: Any) -> None:
    payload = mention("pausar julia motivo: uma vez só", event_id="Ev0RETRY000001")
    body = json.dumps(payload).encode()
    first = await julia.client.post("/slack/events", content=body, headers=signed(body))
    assert first.json() == {"status": "stored"}
    # Slack re-signs each retry; some arrive while the first is still running.
    retries = [
        julia.client.post(
            "/slack/events",
            content=body,
            headers={
                **signed(body),
                "X-Slack-Retry-Num": str(n),
                "X-Slack-Retry-Reason": "http_timeout",
            },
        )
        for n in (1, 2, 3)
    ]
    responses = await asyncio.gather(*retries)
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["status"] for r in responses} == {"duplicate"}
    await fake.await_until(lambda: fake.slack.posted_messages)
    await asyncio.sleep(1.0)
    late = await julia.client.post(
        "/slack/events", content=body, headers={**signed(body), "X-Slack-Retry-Num": "3"}
    )
    assert late.json() == {"status": "duplicate"}
    await asyncio.sleep(0.5)
    assert await julia.count("SELECT count(*) FROM julia_status") == 1
    assert await julia.count("SELECT count(*) FROM webhook_events WHERE source = 'slack'") == 1
    assert len(fake.slack.posted_messages) == 1
    assert await julia.count("SELECT count(*) FROM notifications") == 1


async def test_the_job_run_twice_acts_once(julia_settings: Settings, fake: Any) -> None:
    async with running_julia(julia_settings, worker=False) as julia:
        payload = mention("pausar julia motivo: job repetido")
        assert (await post_event(julia, payload)).status_code == 200
        ctx = {"res": julia.res}
        event_id = payload["event_id"]
        outcomes = await asyncio.gather(
            run_slack_command(ctx, event_id), run_slack_command(ctx, event_id)
        )
        assert sorted(outcomes) == ["done", "skipped"]
        assert await run_slack_command(ctx, event_id) == "skipped"
        assert await julia.count("SELECT count(*) FROM julia_status") == 1
        assert len(fake.slack.posted_messages) == 1


async def test_url_verification_is_echoed(julia: Julia) -> None:
    payload = {
        "token": "x",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    response = await post_event(julia, payload)
    assert response.status_code == 200
    assert response.json() == {"challenge": payload["challenge"]}
    body = json.dumps(payload).encode()
    unsigned = await julia.client.post("/slack/events", content=body)
    assert unsigned.status_code == 401


async def test_bot_messages_and_other_events_are_ignored(julia: Julia, fake: Any) -> None:
    from_bot = mention("pausar julia motivo: eco")
    from_bot["event"]["bot_id"] = "B0OTHER"
    message = mention("pausar julia motivo: sem menção")
    message["event"]["type"] = "message"
    other = {"type": "app_rate_limited", "team_id": "T0", "minute_rate_limited": 1}
    for payload in (from_bot, message, other):
        response = await post_event(julia, payload)
        assert response.status_code == 200 and response.json() == {"status": "ignored"}
    bad = await julia.client.post(
        "/slack/events", content=b"{not json", headers=signed(b"{not json")
    )
    assert bad.status_code == 400
    await asyncio.sleep(0.5)
    assert await julia.count("SELECT count(*) FROM webhook_events WHERE source = 'slack'") == 0
    assert fake.slack.posted_messages == []


async def test_without_a_signing_secret_the_endpoint_is_closed(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = slack_settings(
        make_settings, database_url, redis_url, fake, SLACK_SIGNING_SECRET=None
    )
    async with running_julia(settings, worker=False) as julia:
        response = await post_event(julia, mention("pausar julia motivo: x"))
        assert response.status_code == 503
        assert response.json() == {"detail": "slack not configured"}
        assert await julia.count("SELECT count(*) FROM webhook_events WHERE source = 'slack'") == 0


async def test_only_allowed_users_pause_or_resume(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = slack_settings(
        make_settings, database_url, redis_url, fake, SLACK_ALLOWED_USER_IDS="U0CHEFE,U0GESTOR"
    )
    async with running_julia(settings) as julia:
        refused = await command(julia, fake, "pausar julia motivo: não posso")
        assert refused["text"] == REFUSED
        assert await statuses(julia) == []
        assert fake.slack.webhook_posts == []
        status = await command(julia, fake, "status")
        assert "ativa" in status["text"]
        allowed = await command(julia, fake, "pausar julia motivo: posso", user="U0GESTOR")
        assert allowed["text"].startswith("Julia pausada")
        assert await statuses(julia) == [("pausado", "posso", "slack", "U0GESTOR")]


async def test_status_handoffs_metricas_ajuda_and_unknown(julia: Julia, fake: Any) -> None:
    status = await command(julia, fake, "Status")
    assert status["text"] == "A Julia está ativa (nenhuma pausa registrada)."

    await command(julia, fake, "pausar julia motivo: revisão do prompt")
    status = await command(julia, fake, "STATUS")
    assert "A Julia está PAUSADA desde" in status["text"]
    assert "Motivo: revisão do prompt" in status["text"]
    assert "Alterado via: slack" in status["text"]

    assert (await command(julia, fake, "handoffs"))["text"] == (
        "Nenhuma conversa está com um humano agora."
    )
    doctor_id = await julia.res.db.fetchval(
        "INSERT INTO doctors (phone, name) VALUES ($1, 'Dr. Paulo') RETURNING id", PHONE
    )
    conversation_id = await julia.res.db.fetchval(
        "INSERT INTO conversations (doctor_id, control) VALUES ($1, 'humano') RETURNING id",
        doctor_id,
    )
    await julia.res.db.execute(
        """INSERT INTO handoffs (conversation_id, doctor_id, trigger, reason)
           VALUES ($1, $2, 'pedido', 'pediu para falar com uma pessoa')""",
        conversation_id,
        doctor_id,
    )
    handoffs = await command(julia, fake, "handoffs")
    assert handoffs["text"].splitlines() == [
        "Conversas com um humano agora: 1",
        f"• Dr. Paulo (+55 11 98700-3344): pediu para falar com uma pessoa, há 0 min "
        f"(conversa {conversation_id})",
    ]

    metrics = await command(julia, fake, "métricas")
    assert metrics["text"].startswith("Métricas de hoje (")
    assert "Handoffs abertos: 1" in metrics["text"]

    assert (await command(julia, fake, "ajuda"))["text"] == HELP
    unknown = await command(julia, fake, "bom dia, julia")
    assert unknown["text"] == "Não entendi esse comando.\n" + HELP
    incomplete = await command(julia, fake, "pausar julia")
    assert incomplete["text"] == ASK_MOTIVO
    assert len(await statuses(julia)) == 1


async def test_a_lost_reply_is_recorded_and_the_command_still_ran(julia: Julia, fake: Any) -> None:
    fake.slack.fail_post_next("channel_not_found")
    response = await post_event(julia, mention("pausar julia motivo: sem resposta"))
    assert response.status_code == 200
    await fake.await_until(lambda: fake.slack.webhook_posts)
    for _ in range(50):
        row = await julia.res.db.fetchrow(
            "SELECT status, error FROM webhook_events WHERE source = 'slack'"
        )
        if row["error"]:
            break
        await asyncio.sleep(0.1)
    assert row["status"] == "done"
    assert row["error"] == "resposta não entregue: chat.postMessage: channel_not_found"
    assert await statuses(julia) == [("pausado", "sem resposta", "slack", OPERATOR)]


# The same commands from the terminal --------------------------------------------------------


def julia_cli(database_url: str, redis_url: str, *args: str) -> tuple[int, str]:
    proc = Proc(
        ["python", "-m", "app", *args], base_env(DATABASE_URL=database_url, REDIS_URL=redis_url)
    )
    code = proc.wait(timeout=60)
    return code, proc.output


@pytest.mark.slow
async def test_cli_status_pause_and_resume(database_url: str, redis_url: str) -> None:
    import asyncpg

    run = lambda *a: asyncio.to_thread(julia_cli, database_url, redis_url, *a)  # noqa: E731
    code, out = await run("status")
    assert code == 0 and "A Julia está ativa (nenhuma pausa registrada)." in out, out

    code, out = await run("pause", "--motivo", "manutenção do Evolution")
    assert code == 0 and "Julia pausada. Motivo: manutenção do Evolution" in out
    code, out = await run("status")
    assert code == 0 and "A Julia está PAUSADA desde" in out
    assert "Motivo: manutenção do Evolution" in out and "Alterado via: cli" in out

    code, out = await run("resume")
    assert code == 0 and "Julia retomada." in out

    code, out = await run("pause")
    assert code == 2 and "--motivo" in out
    code, out = await run("pause", "--motivo", "   ")
    assert code == 1 and "ERROR: informe o motivo" in out

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT status, motivo, alterado_via FROM julia_status ORDER BY id")
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        ("pausado", "manutenção do Evolution", "cli"),
        ("ativo", "Retomando operação", "cli"),
    ]
