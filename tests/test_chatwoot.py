"""Chatwoot supervision end to end: the real webhook routes, ARQ worker, gateway, Postgres and
httpx client; Chatwoot, Evolution and Anthropic are local servers speaking their formats
(tests/support/fake_chatwoot.py, tests/support/fake_vendors.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from app.core.config import Settings
from app.domain.handoff.chatwoot import mirror_conversation
from app.workers.chatwoot_jobs import (
    espelhar_chatwoot,
    reconciliar_chatwoot,
    verificar_chatwoot_evolution,
)
from tests.support.fake_chatwoot import ACCOUNT_ID, AGENT, API_KEY, INBOX_ID, FakeChatwoot
from tests.support.fake_vendors import text_reply, tool_call
from tests.support.julia import Julia, running_julia, vendor_settings

PHONE = "5511987004455"
SECRET = "cw-webhook-secret-0123456789"


@pytest.fixture(scope="module")
def chatwoot_server() -> Iterator[FakeChatwoot]:
    with FakeChatwoot() as server:
        yield server


@pytest.fixture
def chatwoot(chatwoot_server: FakeChatwoot) -> FakeChatwoot:
    chatwoot_server.reset()
    return chatwoot_server


def chatwoot_settings(url: str) -> dict[str, Any]:
    return {
        "CHATWOOT_URL": url,
        "CHATWOOT_API_KEY": API_KEY,
        "CHATWOOT_ACCOUNT_ID": ACCOUNT_ID,
        "CHATWOOT_INBOX_ID": INBOX_ID,
        "CHATWOOT_WEBHOOK_SECRET": SECRET,
        "CHATWOOT_RETRY_SECONDS": 0.2,
        "DASHBOARD_URL": "https://painel.revoluna.test",
    }


@pytest.fixture
async def julia(
    make_settings: Any, database_url: str, redis_url: str, fake: Any, chatwoot: FakeChatwoot
) -> AsyncIterator[Julia]:
    settings: Settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        **vendor_settings(fake.url),
        **chatwoot_settings(chatwoot.url),
    )
    async with running_julia(settings) as j:
        yield j


async def until(predicate: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def settle(seconds: float = 0.8) -> None:
    """Time for the worker to do something it must not do (a second send or mirror)."""
    await asyncio.sleep(seconds)


async def post_webhook(
    julia: Julia, payload: dict[str, Any], *, secret: str = SECRET, at: float | None = None
) -> Any:
    body, headers = FakeChatwoot.signed(payload, secret, at=at)
    return await julia.client.post("/webhook/chatwoot", content=body, headers=headers)


async def deliver_outbox(julia: Julia, chatwoot: FakeChatwoot) -> None:
    """Post every webhook Chatwoot would have sent so far, as Chatwoot signs them."""
    for payload in chatwoot.take_outbox():
        assert (await post_webhook(julia, payload)).status_code == 200


def texts(chatwoot: FakeChatwoot, conversation_id: int) -> list[tuple[str, bool, str]]:
    return [(m.message_type, m.private, m.content) for m in chatwoot.messages_in(conversation_id)]


async def a_mirrored_exchange(julia: Julia, fake: Any, chatwoot: FakeChatwoot) -> int:
    """A doctor writes, Julia answers; both appear in Chatwoot. Returns its conversation."""
    fake.anthropic.script(text_reply("oi! tudo bem? aqui é a Julia da Revoluna"))
    await julia.say(PHONE, "oi, vcs tem plantão de pediatria?")
    await until(lambda: fake.evolution.texts_to(PHONE))
    await until(
        lambda: (c := chatwoot.conversation_of(PHONE)) and len(chatwoot.messages_in(c.id)) == 2
    )
    conversation = chatwoot.conversation_of(PHONE)
    assert conversation is not None
    return conversation.id


async def test_a_doctor_message_and_julias_reply_appear_in_chatwoot_once_each(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot
) -> None:
    cw = await a_mirrored_exchange(julia, fake, chatwoot)
    await settle()
    assert texts(chatwoot, cw) == [
        ("incoming", False, "oi, vcs tem plantão de pediatria?"),
        ("outgoing", False, "oi! tudo bem? aqui é a Julia da Revoluna"),
    ]
    contact = next(iter(chatwoot.contacts.values()))
    assert contact.phone_number == f"+{PHONE}" and contact.name == "Dra. Ana"
    doctor_id = await julia.res.db.fetchval("SELECT id FROM doctors")
    assert contact.identifier == f"julia-medico-{doctor_id}"
    link = f"https://painel.revoluna.test/medicos/{doctor_id}"
    assert contact.additional_attributes["julia_dashboard_url"] == link
    assert chatwoot.conversations[cw].status == "pending"  # Julia is handling it

    # The mirror runs again (a second trigger, a retried job, the sweep): nothing new.
    conversation_id = await julia.res.db.fetchval("SELECT id FROM conversations")
    res = julia.res
    assert res.chatwoot is not None
    for _ in range(2):
        await mirror_conversation(
            res.db, res.chatwoot, res.settings, conversation_id, datetime.now(UTC)
        )
    await espelhar_chatwoot(res)
    await settle()
    assert len(chatwoot.messages_in(cw)) == 2
    assert len(chatwoot.conversations) == 1 and len(chatwoot.contacts) == 1


async def test_chatwoot_down_never_delays_the_reply_and_everything_appears_once_after(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot
) -> None:
    chatwoot.down(503)
    fake.anthropic.script(text_reply("tenho sim, sábado diurno"))
    await julia.say(PHONE, "tem plantão sábado?")
    await until(lambda: fake.evolution.texts_to(PHONE) == ["tenho sim, sábado diurno"])
    assert chatwoot.messages == []

    # Back, but the first create's answer is lost (made, then 503): looked up, not redone.
    chatwoot.lose_answers(1)
    chatwoot.up()
    await espelhar_chatwoot(julia.res)  # the sweep, in case the jobs' retries ran out
    await until(lambda: len(chatwoot.messages) == 2, within=15)
    await espelhar_chatwoot(julia.res)
    await settle(1.0)
    cw = chatwoot.conversation_of(PHONE)
    assert cw is not None
    assert texts(chatwoot, cw.id) == [
        ("incoming", False, "tem plantão sábado?"),
        ("outgoing", False, "tenho sim, sábado diurno"),
    ]
    assert len(chatwoot.conversations) == 1
    assert fake.evolution.texts_to(PHONE) == ["tenho sim, sábado diurno"]


async def test_julias_handoff_shows_in_chatwoot_as_a_note_the_label_and_open(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot
) -> None:
    cw = await a_mirrored_exchange(julia, fake, chatwoot)
    await julia.say(PHONE, "quero falar com uma pessoa de verdade")
    await until(lambda: len(fake.evolution.texts_to(PHONE)) == 2)  # the transition message
    await until(lambda: "humano" in chatwoot.conversations[cw].labels)
    await until(lambda: chatwoot.conversations[cw].status == "open")
    await until(lambda: any(m.private for m in chatwoot.messages_in(cw)))
    [note] = [m.content for m in chatwoot.messages_in(cw) if m.private]
    assert "Motivo: pediu para falar com uma pessoa" in note
    public = [m.content for m in chatwoot.messages_in(cw) if not m.private]
    assert public[-2:] == [
        "quero falar com uma pessoa de verdade",
        fake.evolution.texts_to(PHONE)[-1],
    ]
    # Julia's own label and status changes come back: nothing changes.
    await deliver_outbox(julia, chatwoot)
    await settle()
    assert await julia.res.db.fetchval("SELECT control FROM conversations") == "humano"
    assert len(fake.evolution.texts_to(PHONE)) == 2


async def test_an_agents_reply_reaches_the_doctor_once_and_silences_julia(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot
) -> None:
    cw = await a_mirrored_exchange(julia, fake, chatwoot)
    chatwoot.take_outbox()
    chatwoot.agent_writes(cw, "Oi Dra. Ana, aqui é a Carla da escala, te ligo já já")
    [payload] = chatwoot.take_outbox()
    # Chatwoot posts the same message to the account and to the inbox webhook.
    assert (await post_webhook(julia, payload)).json() == {"status": "stored"}
    assert (await post_webhook(julia, payload)).json() == {"status": "duplicate"}

    carla = "Oi Dra. Ana, aqui é a Carla da escala, te ligo já já"
    await until(lambda: carla in fake.evolution.texts_to(PHONE))
    conversation = await julia.res.db.fetchrow("SELECT id, control FROM conversations")
    assert conversation["control"] == "humano"
    assert await julia.count("SELECT count(*) FROM handoffs WHERE trigger = 'chatwoot'") == 1
    # Chatwoot shows a person in control: label and status open, and a private note.
    await until(lambda: "humano" in chatwoot.conversations[cw].labels)
    await until(lambda: chatwoot.conversations[cw].status == "open")
    await until(lambda: any(m.private for m in chatwoot.messages_in(cw)))

    # The doctor answers: a person is talking to them, Julia stays silent.
    requests_before = len(fake.anthropic.requests)
    await julia.say(PHONE, "ok, obrigada")
    await until(lambda: len(chatwoot.messages_in(cw)) == 5)
    await deliver_outbox(julia, chatwoot)  # Julia's own mirrors and label changes echo back
    await settle(1.5)
    assert fake.evolution.texts_to(PHONE) == ["oi! tudo bem? aqui é a Julia da Revoluna", carla]
    assert len(fake.anthropic.requests) == requests_before
    # The agent's words are not mirrored back as a second copy.
    assert [m.content for m in chatwoot.messages_in(cw)].count(carla) == 1
    assert [t for t in texts(chatwoot, cw) if not t[1]][-1] == ("incoming", False, "ok, obrigada")


async def test_an_agents_reply_whose_webhook_was_lost_is_relayed_once_by_reconciliation(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot
) -> None:
    cw = await a_mirrored_exchange(julia, fake, chatwoot)
    chatwoot.agent_writes(cw, "Dra., consegui o plantão pra senhora")
    lost = chatwoot.take_outbox()[-1]  # Chatwoot posted it once; nobody received it

    await reconciliar_chatwoot(julia.res)
    await reconciliar_chatwoot(julia.res)
    text = "Dra., consegui o plantão pra senhora"
    await until(lambda: text in fake.evolution.texts_to(PHONE))
    assert await julia.res.db.fetchval("SELECT control FROM conversations") == "humano"

    # The webhook arrives late after all, and the reconciliation runs again: still once.
    assert (await post_webhook(julia, lost)).status_code == 200
    await reconciliar_chatwoot(julia.res)
    await settle(1.5)
    assert fake.evolution.texts_to(PHONE).count(text) == 1


async def test_resolving_in_chatwoot_hands_the_conversation_back_to_julia(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot
) -> None:
    cw = await a_mirrored_exchange(julia, fake, chatwoot)
    chatwoot.agent_writes(cw, "Oi, aqui é a Carla")
    await deliver_outbox(julia, chatwoot)
    await until(lambda: "humano" in chatwoot.conversations[cw].labels)
    await deliver_outbox(julia, chatwoot)  # the label Julia put comes back: still a person's
    await settle(0.5)
    assert await julia.res.db.fetchval("SELECT control FROM conversations") == "humano"

    chatwoot.resolve(cw)
    await deliver_outbox(julia, chatwoot)
    await until(lambda: "humano" not in chatwoot.conversations[cw].labels)
    assert await julia.res.db.fetchval("SELECT control FROM conversations") == "julia"
    assert await julia.count("SELECT count(*) FROM handoffs WHERE status = 'devolvido'") == 1
    assert chatwoot.conversations[cw].status == "resolved"
    await deliver_outbox(julia, chatwoot)  # Julia removing the label echoes back

    # The doctor writes again: Julia answers.
    fake.anthropic.script(text_reply("oi de novo! posso te ajudar com mais algum plantão?"))
    await julia.say(PHONE, "oi, de novo eu")
    await until(
        lambda: (
            "oi de novo! posso te ajudar com mais algum plantão?" in fake.evolution.texts_to(PHONE)
        )
    )
    assert await julia.res.db.fetchval("SELECT control FROM conversations") == "julia"


async def test_removing_the_label_hands_back_and_adding_it_takes_over(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot
) -> None:
    cw = await a_mirrored_exchange(julia, fake, chatwoot)
    await deliver_outbox(julia, chatwoot)
    # An operator puts the label on: a person takes the conversation.
    chatwoot.add_label(cw, "humano")
    await deliver_outbox(julia, chatwoot)
    await until(lambda: chatwoot.conversations[cw].status == "open")
    assert await julia.res.db.fetchval("SELECT control FROM conversations") == "humano"
    await deliver_outbox(julia, chatwoot)

    chatwoot.remove_label(cw, "humano")
    await deliver_outbox(julia, chatwoot)
    await until(lambda: chatwoot.conversations[cw].status == "pending")
    assert await julia.res.db.fetchval("SELECT control FROM conversations") == "julia"
    await deliver_outbox(julia, chatwoot)
    await settle(0.5)
    assert await julia.res.db.fetchval("SELECT control FROM conversations") == "julia"

    # Assigned to an agent: a person takes it again, and Chatwoot shows it.
    chatwoot.assign(cw, AGENT)
    await deliver_outbox(julia, chatwoot)
    await until(lambda: "humano" in chatwoot.conversations[cw].labels)
    assert await julia.res.db.fetchval("SELECT control FROM conversations") == "humano"


async def test_a_reservation_and_an_opt_out_become_private_notes(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot
) -> None:
    db = julia.res.db
    specialty = await db.fetchval(
        "INSERT INTO specialties (name) VALUES ('Pediatria') RETURNING id"
    )
    hospital = await db.fetchval(
        """INSERT INTO hospitals (name, city, state) VALUES ('Hospital São Luiz', 'São Paulo', 'SP')
           RETURNING id"""
    )
    shift = await db.fetchval(
        """INSERT INTO shifts (hospital_id, specialty_id, starts_at, ends_at, period, pay_cents)
           VALUES ($1, $2, now() + interval '3 days', now() + interval '3 days 12 hours',
                   'diurno', 200000) RETURNING id""",
        hospital,
        specialty,
    )
    fake.anthropic.script(
        tool_call("reserve_shift", {"shift_id": shift}), text_reply("fechado, reservei pra vc!")
    )
    await julia.say(PHONE, "quero esse plantão do são luiz")
    await until(lambda: fake.evolution.texts_to(PHONE) == ["fechado, reservei pra vc!"])
    await until(lambda: any(m.private for m in chatwoot.messages))
    [note] = [m for m in chatwoot.messages if m.private]
    assert f"plantão {shift}" in note.content and "Hospital São Luiz" in note.content
    assert "confirmação de um operador" in note.content

    await julia.say(PHONE, "pare de me mandar mensagem")
    await until(lambda: len([m for m in chatwoot.messages if m.private]) == 2)
    await settle()
    notes = [m.content for m in chatwoot.messages if m.private]
    assert "opt-out" in notes[1]
    cw = chatwoot.conversation_of(PHONE)
    assert cw is not None
    contents = [m.content for m in chatwoot.messages_in(cw.id) if not m.private]
    assert contents[-1] == fake.evolution.texts_to(PHONE)[-1]  # the confirmation, mirrored
    assert len(contents) == 4


async def test_julias_own_mirrored_messages_never_come_back_as_sends(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot
) -> None:
    cw = await a_mirrored_exchange(julia, fake, chatwoot)
    outbox = chatwoot.take_outbox()
    assert any(p.get("message_type") == "outgoing" for p in outbox)
    for payload in outbox:
        assert (await post_webhook(julia, payload)).status_code == 200
    await settle(1.5)
    assert fake.evolution.texts_to(PHONE) == ["oi! tudo bem? aqui é a Julia da Revoluna"]
    assert await julia.res.db.fetchval("SELECT control FROM conversations") == "julia"
    assert await julia.count("SELECT count(*) FROM outbound_sends WHERE kind = 'relay'") == 0
    assert len(chatwoot.messages_in(cw)) == 2


async def test_a_forged_or_stale_signature_gets_401_and_changes_nothing(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot
) -> None:
    cw = await a_mirrored_exchange(julia, fake, chatwoot)
    chatwoot.take_outbox()
    chatwoot.agent_writes(cw, "mensagem que não deve sair")
    [payload] = chatwoot.take_outbox()
    events_before = await julia.count("SELECT count(*) FROM webhook_events")

    forged = await post_webhook(julia, payload, secret="not-the-secret")
    stale = await post_webhook(julia, payload, at=time.time() - 400)
    body, headers = FakeChatwoot.signed(payload, SECRET)
    unsigned = await julia.client.post(
        "/webhook/chatwoot", content=body, headers={"Content-Type": "application/json"}
    )
    tampered = await julia.client.post(
        "/webhook/chatwoot", content=body.replace(b"deve", b"pode"), headers=headers
    )
    wrong_path = await julia.client.post("/webhook/chatwoot/token/guess", content=body)
    assert [r.status_code for r in (forged, stale, unsigned, tampered, wrong_path)] == [401] * 5

    await settle(1.0)
    assert await julia.count("SELECT count(*) FROM webhook_events") == events_before
    assert "mensagem que não deve sair" not in fake.evolution.texts_to(PHONE)
    assert await julia.res.db.fetchval("SELECT control FROM conversations") == "julia"

    # A Chatwoot that signs nothing, with the secret in the path: accepted.
    by_path = await julia.client.post(f"/webhook/chatwoot/token/{SECRET}", content=body)
    assert by_path.json() == {"status": "stored"}
    await until(lambda: "mensagem que não deve sair" in fake.evolution.texts_to(PHONE))


async def test_evolutions_own_chatwoot_integration_is_reported_in_deep_health(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot
) -> None:
    await verificar_chatwoot_evolution(julia.res)
    assert "warnings" not in (await julia.client.get("/health/deep")).json()

    fake.evolution.chatwoot_enabled.add("Revoluna")
    await verificar_chatwoot_evolution(julia.res)
    body = (await julia.client.get("/health/deep")).json()
    warning = body["warnings"]["chatwoot_evolution_integration"]
    assert warning["instances"] == ["Revoluna"]
    assert "twice" in warning["detail"]
    assert "cw-secret-token" not in str(body)


async def test_without_chatwoot_everything_else_works(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings: Settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, **vendor_settings(fake.url)
    )
    async with running_julia(settings) as julia:
        fake.anthropic.script(text_reply("oi! tudo bem?"))
        await julia.say(PHONE, "oi")
        await until(lambda: fake.evolution.texts_to(PHONE) == ["oi! tudo bem?"])
        assert julia.res.chatwoot is None
        assert await espelhar_chatwoot(julia.res) == "skipped"
        assert await reconciliar_chatwoot(julia.res) == "skipped"
        assert await verificar_chatwoot_evolution(julia.res) == "skipped"
        response = await julia.client.post("/webhook/chatwoot", json={"event": "message_created"})
        assert response.status_code == 503
        assert (
            await julia.count("SELECT count(*) FROM webhook_events WHERE source = 'chatwoot'") == 0
        )
        assert await julia.count("SELECT count(*) FROM chatwoot_items") == 0
