"""No reply is lost to an Evolution hiccup: a send that surely did not leave is retried
until Evolution is back; one whose outcome is unknown is never resent but listed to a
person, and its late echo is recognised as Julia's own; a reply Evolution keeps refusing
past its freshness goes to a person. Every doctor is answered exactly once, or listed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.domain.evolution_payloads import upsert
from tests.support.fake_vendors import text_reply
from tests.support.julia import Julia, running_julia, vendor_settings

pytestmark = pytest.mark.slow

ANA, BRUNO, CARLA = "5511987002001", "5511987002002", "5511987002003"


async def until(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def slack(fake: Any) -> list[str]:
    return [str(p.get("text", "")) for p in fake.slack.webhook_posts]


def send_message_echo(phone: str, text: str, message_id: str) -> dict[str, Any]:
    """The `send.message` webhook Evolution posts once Baileys sent a message through the
    API: the sent WAMessage (key.fromMe true, its key.id) as prepareMessage renders it
    (EvolutionAPI/evolution-api whatsapp.baileys.service.ts sendMessageWithTyping, which
    calls `sendDataWebhook(Events.SEND_MESSAGE, messageRaw)`, 2.3.6)."""
    return upsert(
        {"conversation": text},
        message_type="conversation",
        remote_jid=f"{phone}@s.whatsapp.net",
        msg_id=message_id,
        from_me=True,
        event="send.message",
        status="PENDING",
        pushName="Você",
    )


async def control(julia: Julia, phone: str) -> str:
    return str(
        await julia.res.db.fetchval(
            """SELECT c.control FROM conversations c JOIN doctors d ON d.id = c.doctor_id
               WHERE d.phone = $1""",
            phone,
        )
    )


async def test_evolution_failing_then_timing_out_then_down_for_long(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        **vendor_settings(fake.url),
        EVOLUTION_TIMEOUT_SECONDS=1,
        SEND_RETRY_FIRST_SECONDS=0.3,
        SEND_RETRY_MAX_SECONDS=1,
        REPLY_FRESH_SECONDS=4,
    )
    async with running_julia(settings) as julia:
        # Evolution answers 500 three times, then works: Ana is answered once.
        fake.anthropic.script(text_reply("oi Ana! tenho sim, sábado no São Luiz"))
        fake.evolution.fail_next(500, times=3)
        await julia.say(ANA, "oi, tem plantão?")
        await fake.await_until(lambda: fake.evolution.texts_to(ANA), timeout=20)

        # Evolution delivers Bruno's reply but answers after the client gave up: unknown,
        # never resent, listed in Slack; its late echo is Julia's own, not a person typing.
        fake.anthropic.script(text_reply("oi Bruno! tenho um noturno na quinta"))
        fake.evolution.send_late_next(2.5)
        await julia.say(BRUNO, "boa noite, alguma vaga?")
        await fake.await_until(lambda: any("+" + BRUNO in t for t in slack(fake)), timeout=20)
        (late,) = [s for s in fake.evolution.sends if s.number == BRUNO]
        echo = await julia.post(send_message_echo(BRUNO, late.text, late.id))
        assert echo.status_code == 200

        async def confirmed() -> bool:
            return bool(
                await julia.count(
                    "SELECT count(*) FROM outbound_sends WHERE reason = 'confirmado_pelo_eco'"
                )
            )

        await until(confirmed)
        assert await control(julia, BRUNO) == "julia"
        # Bruno writes again and Julia, not silenced, answers.
        fake.anthropic.script(text_reply("é das 19h às 7h, no pronto-socorro"))
        await julia.say(BRUNO, "qual o horário?")
        await fake.await_until(lambda: len(fake.evolution.texts_to(BRUNO)) == 2, timeout=20)

        # Evolution down longer than a reply stays fresh: Carla goes to a person.
        fake.anthropic.script(text_reply("oi Carla! deixa eu ver aqui"))
        fake.evolution.fail_next(500, times=1000)
        await julia.say(CARLA, "oi, sou pediatra")
        await fake.await_until(
            lambda: any("Handoff: +" + CARLA in t for t in slack(fake)), timeout=30
        )
        await asyncio.sleep(1.5)  # nothing else goes out for anyone

        assert fake.evolution.texts_to(ANA) == ["oi Ana! tenho sim, sábado no São Luiz"]
        assert fake.evolution.texts_to(BRUNO) == [
            "oi Bruno! tenho um noturno na quinta",
            "é das 19h às 7h, no pronto-socorro",
        ]
        assert fake.evolution.texts_to(CARLA) == []
        assert await control(julia, CARLA) == "humano"
        posts = slack(fake)
        assert [t for t in posts if "+" + ANA in t] == []
        (uncertain,) = [t for t in posts if "+" + BRUNO in t]
        assert "Envio incerto para +" + BRUNO in uncertain
        assert "oi Bruno! tenho um noturno na quinta" in uncertain
        (handed,) = [t for t in posts if "+" + CARLA in t]
        assert "recusou o envio" in handed and "oi Carla! deixa eu ver aqui" in handed
        # Bruno's first reply is recorded once, as Julia's.
        authors = await julia.res.db.fetch(
            """SELECT m.author FROM messages m JOIN doctors d ON d.id = m.doctor_id
               WHERE d.phone = $1 AND m.direction = 'out' ORDER BY m.id""",
            BRUNO,
        )
        assert [r["author"] for r in authors] == ["julia", "julia"]


async def test_a_500_whose_message_did_go_is_not_sent_twice(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        **vendor_settings(fake.url),
        SEND_RETRY_FIRST_SECONDS=3,
    )
    async with running_julia(settings) as julia:
        fake.anthropic.script(text_reply("oi Ana! tenho sim"))
        # Evolution sent it, then failed around it and answered 500 (the fake records
        # nothing): Julia plans a retry, and the message's echo arrives first.
        fake.evolution.answer_next(500, {"status": 500, "error": "Internal Server Error"})
        await julia.say(ANA, "oi, tem plantão?")

        async def deferred() -> bool:
            return bool(
                await julia.count("SELECT count(*) FROM outbound_sends WHERE status = 'deferred'")
            )

        await until(deferred)
        body = await julia.res.db.fetchval("SELECT body FROM outbound_sends")
        echo = await julia.post(send_message_echo(ANA, body, "3EB0ECHOAFTER500001"))
        assert echo.status_code == 200
        await asyncio.sleep(5)  # past the retry's moment
        assert fake.evolution.texts_to(ANA) == []  # never sent a second time
        row = await julia.res.db.fetchrow("SELECT status, reason FROM outbound_sends")
        assert (row["status"], row["reason"]) == ("sent", "confirmado_pelo_eco")
        assert await control(julia, ANA) == "julia"
        assert slack(fake) == []
