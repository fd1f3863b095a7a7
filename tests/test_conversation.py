"""A doctor writes, Julia answers: through the real webhook, ARQ queue, worker, gateway and
Postgres; Anthropic, Evolution and Slack are the local fake speaking their wire formats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from app.core.config import Settings
from app.domain.demo import seed_if_empty
from app.workers.jobs import sweep
from tests.domain.evolution_payloads import upsert
from tests.support.fake_vendors import api_error, hang, text_reply, tool_call
from tests.support.julia import Julia, running_julia, text_message, vendor_settings

PHONE = "5511987001122"


@pytest.fixture
def julia_settings(make_settings: Any, database_url: str, redis_url: str, fake: Any) -> Settings:
    settings: Settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, **vendor_settings(fake.url)
    )
    return settings


@pytest.fixture
async def julia(julia_settings: Settings) -> AsyncIterator[Julia]:
    async with running_julia(julia_settings) as j:
        yield j


async def settle(seconds: float = 1.0) -> None:
    """Give the worker time to do something it must not do (a second send, a reply)."""
    await asyncio.sleep(seconds)


async def drained(julia: Julia, within: float = 10.0) -> None:
    """Wait until the worker's drainer has applied every stored delivery."""
    deadline = asyncio.get_running_loop().time() + within
    while await julia.count("SELECT count(*) FROM webhook_events WHERE status = 'received'"):
        assert asyncio.get_running_loop().time() < deadline, "the inbox was not drained"
        await asyncio.sleep(0.02)


async def test_a_new_doctor_gets_one_reply_and_is_registered(julia: Julia, fake: Any) -> None:
    fake.anthropic.script(text_reply("oi! aqui é a Julia da Revoluna, tudo bem?"))
    response = await julia.say(PHONE, "Oi, vi que vcs têm plantão, como funciona?")
    assert response.json() == {"status": "stored"}

    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    await settle(0.5)
    assert fake.evolution.texts_to(PHONE) == ["oi! aqui é a Julia da Revoluna, tudo bem?"]
    assert fake.evolution.sends[0].instance == "Revoluna"

    doctor = await julia.res.db.fetchrow("SELECT id, push_name, source FROM doctors")
    assert doctor["push_name"] == "Dra. Ana" and doctor["source"] == "inbound"
    assert await julia.count("SELECT count(*) FROM conversations WHERE status = 'ativa'") == 1
    turn = await julia.res.db.fetchrow("SELECT * FROM turns")
    assert turn["status"] == "ok" and turn["llm_calls"] == 1
    assert turn["model"] == "claude-haiku-4-5" and turn["input_tokens"] > 0
    assert turn["cost_usd"] > 0
    assert await julia.count("SELECT count(*) FROM outbound_sends WHERE status = 'sent'") == 1
    assert await julia.count("SELECT count(*) FROM messages WHERE processed_at IS NULL") == 0

    request = fake.anthropic.requests[0]
    assert request["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert {t["name"] for t in request["tools"]} >= {"search_shifts", "reserve_shift"}
    assert "Oi, vi que vcs têm plantão" in str(request["messages"][-1])


async def test_fifty_deliveries_of_one_message_give_one_reply(julia: Julia, fake: Any) -> None:
    payload = text_message(PHONE, "tem plantão sábado?", msg_id="3EB0DUPLICATE000001")
    for _ in range(25):
        assert (await julia.post(payload)).status_code == 200
    responses = await asyncio.gather(*(julia.post(payload) for _ in range(25)))
    assert {r.status_code for r in responses} == {200}

    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    await settle(1.0)
    assert len(fake.evolution.texts_to(PHONE)) == 1
    assert len(fake.anthropic.requests) == 1
    assert await julia.count("SELECT count(*) FROM messages WHERE direction = 'in'") == 1
    assert await julia.count("SELECT count(*) FROM webhook_events") == 1


async def test_a_burst_is_one_turn_and_a_message_during_it_is_answered_after(
    julia: Julia, fake: Any
) -> None:
    # The first answer takes a while, so the 6th message lands while the turn runs.
    fake.anthropic.script(hang(1.5, then=text_reply("blz, te mando as opções")))
    fake.anthropic.script(text_reply("sábado também tenho sim"))
    for text in ["oi", "tudo bem?", "sou pediatra", "procuro plantão", "noturno de preferência"]:
        await julia.say(PHONE, text)
    await fake.await_until(lambda: len(fake.anthropic.requests) == 1)
    await julia.say(PHONE, "e no sábado?")

    await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) == 2, timeout=15)
    await settle(0.5)
    assert fake.evolution.texts_to(PHONE) == ["blz, te mando as opções", "sábado também tenho sim"]
    first, second = fake.anthropic.requests
    burst = str(first["messages"][-1])
    assert all(t in burst for t in ["oi", "sou pediatra", "noturno de preferência"])
    assert "e no sábado?" not in burst
    assert "e no sábado?" in str(second["messages"][-1])
    assert await julia.count("SELECT count(*) FROM turns WHERE status = 'ok'") == 2


async def test_groups_status_newsletters_and_echoes_are_never_answered(
    julia: Julia, fake: Any
) -> None:
    group = upsert(
        {"conversation": "alguém tem plantão?"},
        message_type="conversation",
        remote_jid="120363025246125486@g.us",
        msg_id="3EB0GROUP0001",
        key_extra={"participant": f"{PHONE}@s.whatsapp.net"},
    )
    status = upsert(
        {"conversation": "status"},
        message_type="conversation",
        remote_jid="status@broadcast",
        msg_id="3EB0STATUS0001",
    )
    newsletter = upsert(
        {"conversation": "news"},
        message_type="conversation",
        remote_jid="120363144038483540@newsletter",
        msg_id="3EB0NEWS0001",
    )
    for payload in (group, status, newsletter):
        assert (await julia.post(payload)).status_code == 200

    # Julia's own message echoed back (send.message) is recorded, not a takeover.
    fake.anthropic.script(text_reply("oi dr, tudo certo?"))
    await julia.say(PHONE, "oi")
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    sent = fake.evolution.sends[0]
    echo = upsert(
        {"conversation": sent.text},
        message_type="conversation",
        remote_jid=f"{PHONE}@s.whatsapp.net",
        msg_id=sent.id,
        from_me=True,
        event="send.message",
    )
    assert (await julia.post(echo)).status_code == 200
    await settle(1.0)
    assert len(fake.evolution.sends) == 1 and len(fake.anthropic.requests) == 1
    assert await julia.count("SELECT count(*) FROM conversations WHERE control = 'humano'") == 0
    assert await julia.count("SELECT count(*) FROM messages WHERE conversation_id IS NULL") == 3


async def test_a_person_typing_on_the_company_phone_silences_julia(julia: Julia, fake: Any) -> None:
    human = upsert(
        {"conversation": "Oi Dr, aqui é a Paula da Revoluna"},
        message_type="conversation",
        remote_jid=f"{PHONE}@s.whatsapp.net",
        msg_id="3EB0HUMAN0001",
        from_me=True,
    )
    assert (await julia.post(human)).status_code == 200
    await drained(julia)
    assert await julia.count("SELECT count(*) FROM conversations WHERE control = 'humano'") == 1
    assert (
        await julia.count("SELECT count(*) FROM handoffs WHERE trigger = 'humano_no_telefone'") == 1
    )

    await julia.say(PHONE, "oi Paula, tudo bem?")
    await settle(1.5)
    assert fake.evolution.sends == [] and fake.anthropic.requests == []
    assert await julia.count("SELECT count(*) FROM messages WHERE processed_at IS NULL") == 0


async def test_opt_out_gets_one_confirmation_and_false_positives_are_answered(
    julia: Julia, fake: Any
) -> None:
    await julia.say(PHONE, "Por favor não me mande mais mensagens")
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    await julia.say(PHONE, "pare")
    await settle(1.5)
    assert len(fake.evolution.texts_to(PHONE)) == 1
    assert fake.anthropic.requests == []
    row = await julia.res.db.fetchrow("SELECT opted_out_at, opt_out_reason FROM doctors")
    assert row["opted_out_at"] is not None and row["opt_out_reason"]

    other = "5511987003344"
    fake.anthropic.script(text_reply("que bom! qual sua especialidade?"))
    await julia.say(other, "não paro de trabalhar, tem plantão pra mim?")
    await fake.await_until(lambda: fake.evolution.texts_to(other))
    assert fake.evolution.texts_to(other) == ["que bom! qual sua especialidade?"]


async def test_handoff_sends_one_transition_notifies_and_stays_silent(
    julia: Julia, fake: Any
) -> None:
    await julia.say(PHONE, "quero falar com um atendente humano")
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE) and fake.slack.webhook_posts)
    assert fake.anthropic.requests == []
    assert await julia.count("SELECT count(*) FROM conversations WHERE control = 'humano'") == 1
    assert await julia.count("SELECT count(*) FROM handoffs WHERE notified_at IS NOT NULL") == 1
    assert "Handoff" in fake.slack.webhook_posts[0]["text"]

    await julia.say(PHONE, "alô?")
    await settle(1.5)
    assert len(fake.evolution.texts_to(PHONE)) == 1 and fake.anthropic.requests == []


async def test_paused_by_sql_stays_silent_then_answers_after_retomar(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SWEEP_AFTER_SECONDS=1,
        **vendor_settings(fake.url),
    )
    async with running_julia(settings) as julia:
        # The runbook's SQL, verbatim.
        await julia.res.db.execute(
            "INSERT INTO julia_status (status, motivo, alterado_via) "
            "VALUES ('pausado', 'teste', 'manual')"
        )
        await julia.say(PHONE, "oi, tem plantão?")
        await settle(2.0)
        await sweep(julia.res)
        await settle(1.0)
        assert fake.evolution.sends == [] and fake.anthropic.requests == []

        fake.anthropic.script(text_reply("oi! tenho sim"))
        await julia.res.db.execute(
            "INSERT INTO julia_status (status, motivo, alterado_via) "
            "VALUES ('ativo', 'ok', 'manual')"
        )
        await settle(2.1)  # the per-process status cache is at most 2 s old
        await sweep(julia.res)
        await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
        assert fake.evolution.texts_to(PHONE) == ["oi! tenho sim"]


async def test_anthropic_down_retries_then_one_holding_message_and_handoff(
    julia: Julia, fake: Any
) -> None:
    fake.anthropic.default = lambda body: api_error(529, "overloaded_error")
    await julia.say(PHONE, "oi, tem plantão amanhã?")
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE), timeout=30)
    await settle(1.0)
    assert len(fake.anthropic.requests) == 3  # three attempts, then the circuit opened
    assert len(fake.evolution.texts_to(PHONE)) == 1
    assert (
        await julia.count("SELECT count(*) FROM handoffs WHERE trigger = 'llm_indisponivel'") == 1
    )
    texts = [p["text"] for p in fake.slack.webhook_posts]
    assert any("Circuit aberto" in t for t in texts) and any("Handoff" in t for t in texts)

    # While the circuit is open a second doctor gets the holding message without a call.
    other = "5511987005566"
    await julia.say(other, "bom dia")
    await fake.await_until(lambda: fake.evolution.texts_to(other))
    assert len(fake.anthropic.requests) == 3
    assert sum("Circuit aberto" in p["text"] for p in fake.slack.webhook_posts) == 1


async def test_an_ai_disclosure_is_never_sent(julia: Julia, fake: Any) -> None:
    fake.anthropic.script(
        text_reply("Na verdade sou uma IA criada pela Revoluna pra te ajudar"),
        text_reply("Como assistente virtual, posso te ajudar com plantões"),
    )
    await julia.say(PHONE, "me conta mais sobre a empresa")
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    await settle(0.5)
    assert len(fake.anthropic.requests) == 2  # the draft, then one rewrite
    sent = " ".join(fake.evolution.texts_to(PHONE)).lower()
    assert "ia" not in sent.split() and "assistente" not in sent
    # Both drafts failed: a safe message went out and a person takes over.
    assert await julia.count("SELECT count(*) FROM handoffs WHERE trigger = 'modelo'") == 1


async def test_a_list_is_rewritten_as_short_messages(julia: Julia, fake: Any) -> None:
    fake.anthropic.script(
        text_reply("Tenho essas opções:\n\n- **São Luiz** sábado\n- Santa Paula domingo")
    )
    await julia.say(PHONE, "quais plantões vc tem?")
    await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) >= 2)
    await settle(0.5)
    texts = fake.evolution.texts_to(PHONE)
    assert all(not t.lstrip().startswith("-") and "**" not in t for t in texts)
    assert any("São Luiz" in t for t in texts) and any("Santa Paula" in t for t in texts)


async def test_shift_values_come_from_the_tools_and_invented_ones_are_replaced(
    julia: Julia, fake: Any
) -> None:
    async with julia.res.db.acquire() as conn:
        await seed_if_empty(conn, tz=julia.res.settings.tz, today=datetime.now(UTC))
    fake.anthropic.script(
        tool_call("search_shifts", {"specialty": "clinica medica"}),
        text_reply("tenho um no São Luiz Itaim, diurno, R$ 1.800"),
    )
    await julia.say(PHONE, "tem plantão de clínica médica?")
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    assert fake.evolution.texts_to(PHONE) == ["tenho um no São Luiz Itaim, diurno, R$ 1.800"]
    tool_result = fake.anthropic.requests[1]["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and "1.800" in tool_result["content"]

    other = "5511987007788"
    fake.anthropic.script(text_reply("esse plantão paga R$ 9.999"), text_reply("paga R$ 9.999 sim"))
    await julia.say(other, "quanto paga o plantão?")
    await fake.await_until(lambda: fake.evolution.texts_to(other))
    assert "9.999" not in " ".join(fake.evolution.texts_to(other))
