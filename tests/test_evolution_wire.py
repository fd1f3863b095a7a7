"""What Evolution 2.3.6 really sends and answers, through the real route, queue, worker and
sender: reactions, edits, deletes, fromMe names, refused chips, the global webhook's token
path, jwt_key retries, `send.message.update` and classified send failures. Bodies are built
in tests/domain/evolution_payloads.py from Evolution's source (file:line cited there)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import HTTPException

from app.api.evolution import authenticate
from app.core.config import Settings
from app.integrations.evolution import EvolutionSender
from app.integrations.protocols import SendError
from tests.domain import evolution_payloads as p
from tests.support.fake_vendors import text_reply
from tests.support.julia import WEBHOOK_SECRET, Julia, running_julia, vendor_settings
from tests.support.processes import Proc, base_env, free_port

PHONE = "5511987654321"  # the number evolution_payloads' bodies come from
JID = f"{PHONE}@s.whatsapp.net"


@pytest.fixture
def wire_settings(make_settings: Any, database_url: str, redis_url: str, fake: Any) -> Settings:
    settings: Settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        **(vendor_settings(fake.url) | {"INBOUND_DEBOUNCE_SECONDS": 1.0}),
    )
    return settings


@pytest.fixture
async def julia(wire_settings: Settings) -> AsyncIterator[Julia]:
    async with running_julia(wire_settings) as j:
        yield j


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait for an effect of a delivery: with the inbox applied by the worker it is not
    there when the route answers."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out waiting for the delivery's effect"
        await asyncio.sleep(0.05)


async def has_row(julia: Julia, sql: str, *args: Any) -> None:
    await until(lambda: _exists(julia, sql, *args))


async def _exists(julia: Julia, sql: str, *args: Any) -> bool:
    return await julia.count(sql, *args) > 0


def say(text: str, msg_id: str) -> dict[str, Any]:
    return p.upsert({"conversation": text}, message_type="conversation", msg_id=msg_id)


async def post_ok(julia: Julia, body: dict[str, Any]) -> None:
    response = await julia.post(body)
    assert response.status_code == 200, response.text


async def first_exchange(julia: Julia, fake: Any, *, text: str = "oi, tem plantão sábado?") -> str:
    """The doctor writes, Julia answers; returns the provider id of Julia's reply."""
    fake.anthropic.script(text_reply("tenho sim! UTI adulto, 19h às 7h"))
    await post_ok(julia, say(text, "3EB0DOCTOR0000000001"))
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    await has_row(julia, "SELECT count(*) FROM outbound_sends WHERE status = 'sent'")
    return str(fake.evolution.sends[0].id)


async def second_turn_prompt(julia: Julia, fake: Any, text: str = "e o valor?") -> str:
    fake.anthropic.script(text_reply("vou ver pra vc"))
    await post_ok(julia, say(text, "3EB0DOCTOR0000000009"))
    await fake.await_until(lambda: "vou ver pra vc" in fake.evolution.texts_to(PHONE))
    asked = [str(r["messages"]) for r in fake.anthropic.requests if text in str(r["messages"])]
    assert asked, "the second turn never asked the model"
    return asked[0]


async def test_a_reaction_never_starts_a_turn_and_the_next_turn_sees_it(
    julia: Julia, fake: Any
) -> None:
    julias_message = await first_exchange(julia, fake)
    asked = len(fake.anthropic.requests)
    await post_ok(julia, p.reaction(julias_message, "👍", msg_id="3EB0REACT01"))
    await post_ok(julia, p.reaction("3EB0DOCTOR0000000001", "", msg_id="3EB0REACT02"))
    await has_row(julia, "SELECT count(*) FROM messages WHERE provider_message_id = '3EB0REACT02'")
    await asyncio.sleep(1.5)  # past the debounce: a turn would have run by now
    assert len(fake.anthropic.requests) == asked
    assert fake.evolution.texts_to(PHONE) == ["tenho sim! UTI adulto, 19h às 7h"]

    prompt = await second_turn_prompt(julia, fake)
    assert '[reagiu 👍 à sua mensagem "tenho sim! UTI adulto, 19h às 7h"]' in prompt
    assert '[tirou a reação à mensagem "oi, tem plantão sábado?"]' in prompt


async def test_an_edit_before_the_reply_is_what_julia_answers(julia: Julia, fake: Any) -> None:
    fake.anthropic.script(text_reply("domingo tenho sim"))
    await post_ok(julia, say("tem plantão sábado?", "3EB0EDITME0000000001"))
    await has_row(
        julia,
        "SELECT count(*) FROM messages WHERE provider_message_id = $1",
        "3EB0EDITME0000000001",
    )
    await post_ok(
        julia, p.protocol_message("3EB0EDITME0000000001", "MESSAGE_EDIT", "tem plantão domingo?")
    )
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    asked = str(fake.anthropic.requests[0]["messages"])
    assert "tem plantão domingo?" in asked and "sábado" not in asked
    assert fake.evolution.texts_to(PHONE) == ["domingo tenho sim"]


async def test_an_edit_or_delete_after_the_reply_is_recorded_for_the_history(
    julia: Julia, fake: Any
) -> None:
    await first_exchange(julia, fake, text="sou pediatra")
    asked = len(fake.anthropic.requests)
    edit = p.protocol_message("3EB0DOCTOR0000000001", "MESSAGE_EDIT", "sou pediatra e clínico")
    await post_ok(julia, edit)
    await post_ok(julia, edit)  # a redelivery records nothing twice
    await post_ok(julia, p.protocol_message("3EB0DOCTOR0000000001", "REVOKE"))
    await has_row(julia, "SELECT count(*) FROM messages WHERE message_type = 'messageRevoke'")
    await asyncio.sleep(1.5)
    assert len(fake.anthropic.requests) == asked  # neither starts a turn
    assert (
        await julia.count("SELECT count(*) FROM messages WHERE message_type = 'messageEdit'") == 1
    )

    prompt = await second_turn_prompt(julia, fake)
    assert "[editou a mensagem" in prompt and "sou pediatra e clínico" in prompt
    assert "[apagou a mensagem" in prompt


async def test_a_message_deleted_before_the_reply_is_not_answered(julia: Julia, fake: Any) -> None:
    fake.anthropic.script(text_reply("oi!"))
    await post_ok(julia, say("mensagem errada", "3EB0OOPS00000000001"))
    await has_row(
        julia, "SELECT count(*) FROM messages WHERE provider_message_id = $1", "3EB0OOPS00000000001"
    )
    await post_ok(julia, p.deleted("3EB0OOPS00000000001"))
    await asyncio.sleep(2.0)
    assert fake.anthropic.requests == [] and fake.evolution.texts_to(PHONE) == []


async def test_from_me_deliveries_never_rename_the_doctor(julia: Julia, fake: Any) -> None:
    fake.anthropic.script(text_reply("oi Dra. Ana!"))
    await post_ok(julia, say("oi", "3EB0NAME000000000001"))
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    # A reply sent through the API (Chatwoot) carries "Você"; one typed on the company phone
    # carries the company's profile name.
    await post_ok(julia, p.SEND_MESSAGE_VOCE)
    await post_ok(julia, p.FROM_PHONE_WITH_PROFILE_NAME)
    await has_row(julia, "SELECT count(*) FROM messages WHERE author = 'human'")
    await has_row(julia, "SELECT count(*) FROM conversations WHERE control = 'humano'")
    assert await julia.res.db.fetchval("SELECT push_name FROM doctors") == "Dra. Ana"


async def test_a_first_contact_from_the_company_phone_names_nobody(julia: Julia) -> None:
    await post_ok(julia, p.SEND_MESSAGE_VOCE)
    await has_row(julia, "SELECT count(*) FROM doctors")
    assert await julia.res.db.fetchval("SELECT push_name FROM doctors") is None


async def test_a_refused_connection_puts_the_chip_down(julia: Julia) -> None:
    await post_ok(julia, p.CONNECTION_UPDATE)
    await has_row(
        julia, "SELECT count(*) FROM chips WHERE instance = $1 AND state = 'open'", p.INSTANCE
    )
    await post_ok(julia, p.CONNECTION_REFUSED)
    await has_row(
        julia, "SELECT count(*) FROM chips WHERE instance = $1 AND state = 'close'", p.INSTANCE
    )


async def test_send_message_update_is_stored_and_acknowledged(julia: Julia) -> None:
    body = p.protocol_message("3EB0X", "MESSAGE_EDIT", "corrigido", event="send.message.update")
    response = await julia.post(body)
    assert response.status_code == 200
    assert (
        await julia.count("SELECT count(*) FROM webhook_events WHERE event = 'send.message.update'")
        == 1
    )


# Authentication ------------------------------------------------------------------------------


async def test_the_global_webhook_authenticates_by_the_token_path(julia: Julia, fake: Any) -> None:
    fake.anthropic.script(text_reply("oi! tudo bem?"))
    # No headers at all, as Evolution's global webhook posts (webhook.controller.ts:168-172).
    ok = await julia.client.post(
        f"/webhook/evolution/token/{WEBHOOK_SECRET}/messages-upsert", json=say("oi", "3EB0G1")
    )
    assert ok.status_code == 200, ok.text
    plain = await julia.client.post(
        f"/webhook/evolution/token/{WEBHOOK_SECRET}", json=p.CONNECTION_UPDATE
    )
    assert plain.status_code == 200
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE) == ["oi! tudo bem?"])

    before = await julia.count("SELECT count(*) FROM webhook_events")
    wrong = await julia.client.post(
        "/webhook/evolution/token/not-the-secret/messages-upsert", json=say("oi", "3EB0G2")
    )
    assert wrong.status_code == 401
    assert await julia.count("SELECT count(*) FROM webhook_events") == before


def jwt_token(iat: float, *, secret: str = WEBHOOK_SECRET, **claims: Any) -> str:
    # webhook.controller.ts:285-291: {iat, exp: iat + 600, app, action}, HS256.
    payload = {"iat": int(iat), "exp": int(iat) + 600, "app": "evolution", "action": "webhook"}
    return jwt.encode(payload | claims, secret, algorithm="HS256")


async def test_a_jwt_key_retry_fifteen_minutes_later_is_accepted(julia: Julia) -> None:
    # Evolution reuses the delivery's token for every retry (webhook.controller.ts:79-85);
    # 15 minutes in, it is 5 minutes past its exp.
    retry = jwt_token(time.time() - 15 * 60)
    assert (await julia.post(say("oi", "3EB0JWT1"), token=retry)).status_code == 200
    stale = jwt_token(time.time() - 2 * 3600)
    assert (await julia.post(say("oi", "3EB0JWT2"), token=stale)).status_code == 401


@pytest.mark.parametrize(
    ("token", "accepted"),
    [
        (jwt_token(1_000_000 - 3500), True),  # within the hour
        (jwt_token(1_000_000 + 30), True),  # Evolution's clock slightly ahead
        (jwt_token(1_000_000 + 600), False),  # from the future
        (jwt_token(1_000_000 - 3800), False),  # older than the window
        (jwt_token(1_000_000, secret="another-secret-of-32-bytes-or-more!"), False),
        (jwt.encode({"exp": 1_000_600}, WEBHOOK_SECRET, algorithm="HS256"), False),  # no iat
        (jwt.encode({"iat": 1_000_000}, WEBHOOK_SECRET, algorithm="HS256"), False),  # no exp
    ],
)
def test_jwt_window(make_settings: Any, token: str, accepted: bool) -> None:
    settings = make_settings(EVOLUTION_WEBHOOK_SECRET=WEBHOOK_SECRET)
    if accepted:
        authenticate(f"Bearer {token}", settings, now=1_000_000)
    else:
        with pytest.raises(HTTPException) as refused:
            authenticate(f"Bearer {token}", settings, now=1_000_000)
        assert refused.value.status_code == 401


@pytest.mark.slow
def test_the_path_secret_never_reaches_a_log_line(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Real uvicorn, real access log: the secret in the path is masked, right or wrong."""
    port = free_port()
    secret = "pathsecret-0123456789abcdefghij"
    env = base_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        JULIA_DATA_DIR=str(tmp_path / ".julia"),
        EVOLUTION_WEBHOOK_SECRET=secret,
        PORT=str(port),
    )
    api = Proc([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)], env)
    try:
        api.wait_for("Uvicorn running on", timeout=60)  # listening: logged after the bind
        base = f"http://127.0.0.1:{port}/webhook/evolution/token"
        good = httpx.post(f"{base}/{secret}/connection-update", json=p.CONNECTION_UPDATE)
        assert good.status_code == 200, good.text
        bad = httpx.post(f"{base}/wrong-{secret}", json=p.CONNECTION_UPDATE)
        assert bad.status_code == 401
        api.wait_for(r"POST /webhook/evolution/token/\*\*\* HTTP/1.1\\?\" 401", timeout=10)
        # An accepted delivery is one line, the route's own (uvicorn's access line for a
        # 2xx on this path is left out), with the path masked too.
        api.wait_for(r"webhook.stored.*/token/\*\*\*/connection-update", timeout=10)
    finally:
        api.stop()
    assert not [line for line in api.lines if secret in line]


# Send failures -------------------------------------------------------------------------------


async def test_a_send_that_may_have_gone_is_never_repeated(julia: Julia, fake: Any) -> None:
    fake.anthropic.script(text_reply("oi!"))
    fake.evolution.answer_next(400, p.SEND_TIMED_OUT)
    await post_ok(julia, say("oi", "3EB0TIMEDOUT0001"))
    await has_row(
        julia,
        "SELECT count(*) FROM outbound_sends WHERE status = 'failed'"
        " AND reason = 'resultado_incerto'",
    )
    await asyncio.sleep(1.0)
    assert fake.evolution.sends == []


async def test_connection_closed_is_deferred_for_a_retry(julia: Julia, fake: Any) -> None:
    fake.anthropic.script(text_reply("oi!"))
    fake.evolution.answer_next(400, p.SEND_CONNECTION_CLOSED)
    await post_ok(julia, say("oi", "3EB0CLOSED00001"))
    await has_row(
        julia,
        "SELECT count(*) FROM outbound_sends WHERE status = 'deferred' AND reason = 'envio_falhou'",
    )


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (400, p.SEND_CONNECTION_CLOSED, "not_sent"),
        (400, p.SEND_TIMED_OUT, "unknown"),
        (400, p.SEND_NO_WHATSAPP, "rejected"),
        (400, p.SEND_VALIDATION, "rejected"),
        (400, p.evolution_error(["TypeError: Cannot read properties of undefined"]), "unknown"),
        (503, {"error": "no healthy upstream"}, "not_sent"),
        (500, p.evolution_error("Internal Server Error") | {"status": 500}, "not_sent"),
        (401, {"status": 401, "error": "Unauthorized", "response": {"message": "x"}}, "rejected"),
    ],
)
async def test_send_failures_are_classified_at_the_wire(
    fake: Any, status: int, body: Any, outcome: str
) -> None:
    fake.evolution.answer_next(status, body)
    async with httpx.AsyncClient() as http:
        sender = EvolutionSender(http, fake.url, "evo-key")
        with pytest.raises(SendError) as failed:
            await sender.send_text("Revoluna", PHONE, "oi")
    assert failed.value.outcome == outcome
    assert failed.value.retryable is (outcome == "not_sent")
    assert fake.evolution.texts_to(PHONE) == []


async def test_a_timeout_after_the_request_left_is_unknown_and_refused_is_not_sent(
    fake: Any,
) -> None:
    fake.evolution.answer_next(201, {"key": {"id": "late"}}, after=1.0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as http:
        with pytest.raises(SendError) as timed_out:
            await EvolutionSender(http, fake.url, "evo-key").send_text("Revoluna", PHONE, "oi")
        with pytest.raises(SendError) as refused:
            await EvolutionSender(http, f"http://127.0.0.1:{free_port()}", "k").send_text(
                "Revoluna", PHONE, "oi"
            )
    assert timed_out.value.outcome == "unknown"
    assert refused.value.outcome == "not_sent"
