"""The fake vendors speak the real wire formats: the real SDKs run against them unmodified."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator

import anthropic
import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from app.integrations.voyage import EmbeddingError, VoyageEmbedder
from tests.support.fake_vendors import (
    FakeVendors,
    PromptCache,
    api_error,
    hang,
    text_reply,
    tool_call,
)

HAIKU = "claude-haiku-4-5-20251001"


@pytest.fixture(scope="module")
def vendors() -> Iterator[FakeVendors]:
    with FakeVendors() as fake:
        yield fake


@pytest.fixture
def fake(vendors: FakeVendors) -> FakeVendors:
    vendors.reset()
    return vendors


def claude(fake: FakeVendors, timeout: float = 10.0) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key="test-key", base_url=fake.url, max_retries=0, timeout=timeout
    )


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


# -- Anthropic --------------------------------------------------------------------------------


async def test_anthropic_scripted_text_and_default(fake: FakeVendors) -> None:
    fake.anthropic.script(text_reply("olá, doutora"))
    async with claude(fake) as client:
        first = await client.messages.create(
            model=HAIKU, max_tokens=100, messages=[{"role": "user", "content": "oi"}]
        )
        second = await client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=100,
            messages=[{"role": "user", "content": "e aí"}],
        )
    assert isinstance(first.content[0], anthropic.types.TextBlock)
    assert first.content[0].text == "olá, doutora"
    assert first.stop_reason == "end_turn"
    assert first.model == HAIKU
    assert first.id.startswith("msg_")
    assert first.usage.input_tokens > 0
    assert first.usage.output_tokens > 0
    assert second.content[0].type == "text"
    assert second.content[0].text == "oi! tudo bem? aqui é a Julia"
    assert [r["messages"][0]["content"] for r in fake.anthropic.requests] == ["oi", "e aí"]
    assert fake.anthropic.calls_by_model() == {HAIKU: 1, "claude-sonnet-4-6": 1}


async def test_anthropic_default_can_be_replaced(fake: FakeVendors) -> None:
    fake.anthropic.default = lambda body: text_reply(f"eco: {body['messages'][-1]['content']}")
    async with claude(fake) as client:
        reply = await client.messages.create(
            model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "plantão"}]
        )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "eco: plantão"


async def test_anthropic_tool_call_and_tool_result_round_trip(fake: FakeVendors) -> None:
    fake.anthropic.script(
        tool_call("buscar_plantoes", {"dia": "sábado"}, text="vou ver"), text_reply("achei 2")
    )
    tools: list[anthropic.types.ToolParam] = [
        {
            "name": "buscar_plantoes",
            "description": "busca plantões",
            "input_schema": {"type": "object", "properties": {"dia": {"type": "string"}}},
        }
    ]
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": "tem sábado?"}]
    async with claude(fake) as client:
        reply = await client.messages.create(
            model=HAIKU, max_tokens=100, tools=tools, messages=messages
        )
        assert reply.stop_reason == "tool_use"
        assert isinstance(reply.content[0], anthropic.types.TextBlock)
        use = reply.content[1]
        assert isinstance(use, anthropic.types.ToolUseBlock)
        assert use.name == "buscar_plantoes"
        assert use.input == {"dia": "sábado"}
        assert use.id.startswith("toolu_")

        messages.append({"role": "assistant", "content": reply.content})
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "2"}],
            }
        )
        final = await client.messages.create(
            model=HAIKU, max_tokens=100, tools=tools, messages=messages
        )
        assert final.content[0].type == "text"
        assert final.content[0].text == "achei 2"

        # Like the real API, a tool_use left unanswered is a 400.
        with pytest.raises(anthropic.BadRequestError, match="tool_result"):
            await client.messages.create(
                model=HAIKU,
                max_tokens=100,
                messages=[*messages[:2], {"role": "user", "content": "e aí?"}],
            )


async def test_anthropic_streaming(fake: FakeVendors) -> None:
    fake.anthropic.script(tool_call("anotar", {"nota": "ok"}, text="certo"))
    async with (
        claude(fake) as client,
        client.messages.stream(
            model=HAIKU, max_tokens=100, messages=[{"role": "user", "content": "oi"}]
        ) as stream,
    ):
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "text"
    assert final.content[0].text == "certo"
    assert isinstance(final.content[1], anthropic.types.ToolUseBlock)
    assert final.content[1].input == {"nota": "ok"}


async def test_anthropic_errors(fake: FakeVendors) -> None:
    fake.anthropic.script(api_error(529, "overloaded_error"), api_error(500, "api_error"))
    async with claude(fake) as client:
        with pytest.raises(anthropic.OverloadedError) as overloaded:
            await client.messages.create(
                model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "oi"}]
            )
        with pytest.raises(anthropic.InternalServerError) as internal:
            await client.messages.create(
                model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "oi"}]
            )
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert overloaded.value.response.headers["x-should-retry"] == "true"
    assert internal.value.status_code == 500
    assert not isinstance(internal.value, anthropic.OverloadedError)

    async with httpx.AsyncClient(base_url=fake.url) as http:
        no_key = await http.post(
            "/v1/messages",
            headers={"anthropic-version": "2023-06-01"},
            json={"model": HAIKU, "max_tokens": 1, "messages": []},
        )
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    assert len(fake.anthropic.requests) == 2


async def test_anthropic_retries_on_overload_then_succeeds(fake: FakeVendors) -> None:
    fake.anthropic.script(api_error(529, "overloaded_error"), text_reply("voltei"))
    async with anthropic.AsyncAnthropic(
        api_key="test-key", base_url=fake.url, max_retries=1
    ) as client:
        reply = await client.messages.create(
            model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "oi"}]
        )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "voltei"
    assert len(fake.anthropic.requests) == 2


async def test_anthropic_hang_times_out_and_server_keeps_serving(fake: FakeVendors) -> None:
    fake.anthropic.script(hang(3.0))
    async with claude(fake, timeout=0.5) as client:
        with pytest.raises(anthropic.APITimeoutError):
            await client.messages.create(
                model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "oi"}]
            )
        # The hanging handler is still sleeping; others are answered meanwhile.
        reply = await client.messages.create(
            model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "oi"}]
        )
    assert reply.content[0].type == "text"


async def test_anthropic_hang_then_answers(fake: FakeVendors) -> None:
    fake.anthropic.script(hang(0.2, then=text_reply("demorei")))
    async with claude(fake) as client:
        reply = await client.messages.create(
            model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "oi"}]
        )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "demorei"


# -- Anthropic prompt caching -----------------------------------------------------------------


def long_system(tokens: int) -> list[anthropic.types.TextBlockParam]:
    text = ("Você é a Julia, recrutadora de plantões médicos. " * 1000)[: tokens * 4]
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


async def test_prompt_caching_reads_what_the_previous_request_wrote(fake: FakeVendors) -> None:
    system = long_system(5000)
    async with claude(fake) as client:
        first = await client.messages.create(
            model=HAIKU, max_tokens=10, system=system, messages=[{"role": "user", "content": "oi"}]
        )
        second = await client.messages.create(
            model=HAIKU,
            max_tokens=10,
            system=system,
            messages=[{"role": "user", "content": "tem plantão no sábado?"}],
        )
    assert first.usage.cache_creation_input_tokens is not None
    assert first.usage.cache_creation_input_tokens > 4096
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens > 0  # the uncached user message
    assert fake.anthropic.total_usage()["cache_read_input_tokens"] == (
        second.usage.cache_read_input_tokens
    )


async def test_prompt_below_the_minimum_is_never_cached(fake: FakeVendors) -> None:
    system = long_system(3000)  # >= 1024 (Sonnet) but < 4096 (Haiku 4.5)
    async with claude(fake) as client:
        for _ in range(2):
            reply = await client.messages.create(
                model=HAIKU,
                max_tokens=10,
                system=system,
                messages=[{"role": "user", "content": "oi"}],
            )
            assert reply.usage.cache_creation_input_tokens == 0
            assert reply.usage.cache_read_input_tokens == 0
            assert reply.usage.input_tokens > 3000
        sonnet = await client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=10,
            system=system,
            messages=[{"role": "user", "content": "oi"}],
        )
    assert sonnet.usage.cache_creation_input_tokens is not None
    assert sonnet.usage.cache_creation_input_tokens > 0


def test_prompt_cache_multi_turn_reads_the_growing_history() -> None:
    cache = PromptCache()
    system = [{"type": "text", "text": "s" * 20000, "cache_control": {"type": "ephemeral"}}]
    messages: list[dict[str, object]] = []
    reads = []
    for turn in range(4):
        history = [
            *messages,
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": f"pergunta {turn} " * 40,
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            },
        ]
        usage = cache.apply({"model": HAIKU, "system": system, "messages": history})
        reads.append(usage.cache_read_input_tokens)
        # next turn: the previous user message (without its breakpoint) plus an answer
        messages = [
            *messages,
            {"role": "user", "content": [{"type": "text", "text": f"pergunta {turn} " * 40}]},
            {"role": "assistant", "content": f"resposta {turn}"},
        ]
    assert reads[0] == 0
    assert all(later > earlier for earlier, later in itertools.pairwise(reads))


# -- Voyage -----------------------------------------------------------------------------------


async def test_voyage_embedder_against_the_fake(fake: FakeVendors) -> None:
    embedder = VoyageEmbedder(api_key="pa-test", base_url=fake.url + "/v1", max_retries=0)
    texts = [
        "plantão de pediatria no sábado à noite",
        "Plantao pediatria sabado",
        "contrato de aluguel de imóvel comercial",
    ]
    vectors = await embedder.embed(texts, input_type="document")
    assert [len(v) for v in vectors] == [1024, 1024, 1024]
    assert all(isinstance(x, float) for x in vectors[0])
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    assert await embedder.embed(texts[:1], input_type="query") == [
        pytest.approx(vectors[0], abs=1e-6)
    ]
    request = fake.voyage.requests[0]
    assert request["input"] == texts
    assert request["model"] == "voyage-3.5-lite"
    assert request["input_type"] == "document"
    assert fake.voyage.requests[1]["input_type"] == "query"


async def test_voyage_failure_is_an_embedding_error_without_the_key(fake: FakeVendors) -> None:
    embedder = VoyageEmbedder(api_key="pa-secret", base_url=fake.url + "/v1/", max_retries=0)
    fake.voyage.fail_next(500)
    with pytest.raises(EmbeddingError) as failed:
        await embedder.embed(["oi"], input_type="query")
    assert failed.value.status == 500
    assert "pa-secret" not in str(failed.value)
    fake.voyage.fail_next(429)
    with pytest.raises(EmbeddingError) as limited:
        await embedder.embed(["oi"], input_type="query")
    assert limited.value.status == 429
    assert len((await embedder.embed(["oi"], input_type="query"))[0]) == 1024


# -- Evolution --------------------------------------------------------------------------------


async def test_evolution_send_text(fake: FakeVendors) -> None:
    async with httpx.AsyncClient(base_url=fake.url) as http:
        ok = await http.post(
            "/message/sendText/Revoluna",
            headers={"apikey": "evo-key"},
            json={"number": "5511999990000", "text": "oi, doutora"},
        )
        denied = await http.post(
            "/message/sendText/Revoluna",
            headers={"apikey": "wrong"},
            json={"number": "5511999990000", "text": "não"},
        )
        bad = await http.post(
            "/message/sendText/Revoluna", headers={"apikey": "evo-key"}, json={"number": "55"}
        )
        started = time.monotonic()
        presence = await http.post(
            "/chat/sendPresence/Revoluna",
            headers={"apikey": "evo-key"},
            json={"number": "5511999990000", "presence": "composing", "delay": 1200},
        )
        presence_took = time.monotonic() - started
    assert ok.status_code == 201
    body = ok.json()
    assert body["key"]["remoteJid"] == "5511999990000@s.whatsapp.net"
    assert body["key"]["fromMe"] is True
    assert body["key"]["id"].startswith("3EB0")
    assert len(body["key"]["id"]) == 24
    assert body["message"] == {"conversation": "oi, doutora"}
    assert body["status"] == "PENDING"
    assert denied.status_code == 401
    assert denied.json()["error"] == "Unauthorized"
    assert bad.status_code == 400
    assert presence.status_code == 201
    assert presence.json() == {"presence": "composing"}
    assert presence_took >= 1.2  # held for its delay, like Evolution's
    assert [(s.instance, s.number, s.text, s.id) for s in fake.evolution.sends] == [
        ("Revoluna", "5511999990000", "oi, doutora", body["key"]["id"])
    ]
    assert fake.evolution.texts_to("5511999990000") == ["oi, doutora"]
    assert fake.evolution.presences[0].presence == "composing"
    assert fake.evolution.presences[0].delay == 1200


async def test_evolution_fail_next(fake: FakeVendors) -> None:
    fake.evolution.fail_next(500, times=2)
    async with httpx.AsyncClient(base_url=fake.url, headers={"apikey": "evo-key"}) as http:
        statuses = [
            (
                await http.post(
                    "/message/sendText/Revoluna", json={"number": "5511", "text": f"t{i}"}
                )
            ).status_code
            for i in range(3)
        ]
    assert statuses == [500, 500, 201]
    assert fake.evolution.texts_to("5511") == ["t2"]
    await fake.await_until(lambda: len(fake.evolution.sends) == 1, timeout=1)
    with pytest.raises(AssertionError, match="evolution sends=1"):
        fake.wait_until(lambda: len(fake.evolution.sends) == 2, timeout=0.1)


# -- Slack ------------------------------------------------------------------------------------


async def test_slack_webhook(fake: FakeVendors) -> None:
    webhook = AsyncWebhookClient(url=fake.url + "/slack/webhook")
    response = await webhook.send(text="plantão confirmado")
    assert response.status_code == 200
    assert response.body == "ok"
    assert fake.slack.webhook_posts == [{"text": "plantão confirmado"}]
    fake.slack.fail_webhook_next(500)
    failed = await webhook.send(text="falhou")
    assert failed.status_code == 500
    assert len(fake.slack.webhook_posts) == 1


async def test_slack_web_api_post_message(fake: FakeVendors) -> None:
    from slack_sdk.errors import SlackApiError

    client = AsyncWebClient(token="xoxb-test", base_url=fake.url + "/slack/api/")
    response = await client.chat_postMessage(channel="C1", text="x", thread_ts="1.2")
    assert response["ok"] is True
    assert response["channel"] == "C1"
    assert fake.slack.posted_messages[0]["channel"] == "C1"
    assert fake.slack.posted_messages[0]["text"] == "x"
    assert fake.slack.posted_messages[0]["thread_ts"] == "1.2"
    assert fake.slack.posted_messages[0]["ts"] == response["ts"]

    unauthenticated = AsyncWebClient(base_url=fake.url + "/slack/api/")
    with pytest.raises(SlackApiError) as denied:
        await unauthenticated.chat_postMessage(channel="C1", text="x")
    assert denied.value.response["error"] == "not_authed"
    assert len(fake.slack.posted_messages) == 1
