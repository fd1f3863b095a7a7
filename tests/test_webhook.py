"""The Evolution webhook edge: who may post, what is refused, and that nothing is lost."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import jwt
import pytest

from app.core.config import Settings
from tests.domain.evolution_payloads import envelope
from tests.support.julia import WEBHOOK_SECRET, Julia, running_julia, text_message, vendor_settings

PHONE = "5531988887777"


@pytest.fixture
async def julia(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> AsyncIterator[Julia]:
    settings: Settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, **vendor_settings(fake.url)
    )
    # No worker: these tests are about what the edge stores and answers.
    async with running_julia(settings, worker=False) as j:
        yield j


async def stored(julia: Julia) -> tuple[int, int]:
    return (
        await julia.count("SELECT count(*) FROM webhook_events"),
        await julia.count("SELECT count(*) FROM messages"),
    )


def token(secret: str = WEBHOOK_SECRET, *, expires_in: int = 600) -> str:
    now = int(time.time())
    return jwt.encode({"iat": now, "exp": now + expires_in}, secret, algorithm="HS256")


async def test_a_static_bearer_and_evolutions_jwt_are_accepted(julia: Julia) -> None:
    assert (await julia.post(text_message(PHONE, "oi"))).status_code == 200
    response = await julia.post(text_message(PHONE, "tudo bem?"), token=token())
    assert response.status_code == 200
    assert await stored(julia) == (2, 2)
    done = "SELECT count(*) FROM webhook_events WHERE status = 'done' AND finished_at IS NOT NULL"
    assert await julia.count(done) == 2


@pytest.mark.parametrize(
    "credential",
    [None, "wrong-secret", "expired", "signed-with-another-key", "no-expiry"],
)
async def test_bad_credentials_get_401_and_nothing_is_stored(
    julia: Julia, credential: str | None
) -> None:
    tokens = {
        "expired": token(expires_in=-60),
        "signed-with-another-key": token("another-key-entirely-32-bytes-xx"),
        "no-expiry": jwt.encode({"iat": int(time.time())}, WEBHOOK_SECRET, algorithm="HS256"),
    }
    response = await julia.post(
        text_message(PHONE, "oi"), token=tokens.get(credential or "", credential)
    )
    assert response.status_code == 401
    assert await stored(julia) == (0, 0)


async def test_malformed_bodies_get_4xx_nothing_stored_and_the_edge_keeps_serving(
    julia: Julia,
) -> None:
    headers = {"Authorization": f"Bearer {WEBHOOK_SECRET}", "Content-Type": "application/json"}
    cases = [
        (b"{not json", 400),
        (b"[1, 2, 3]", 422),
        (b'{"instance": "Revoluna", "data": {}}', 422),  # no event
        (b'{"event": "messages.upsert", "instance": "Revoluna", "data": {"message": {}}}', 422),
        (b'{"event": "foo.bar", "instance": "Revoluna", "data": {}}', 422),
        (b"\xff\xfe\x00garbage", 400),
    ]
    for body, status in cases:
        response = await julia.client.post("/webhook/evolution", content=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert "detail" in response.json()
    big = b'{"event": "messages.upsert", "data": "' + b"x" * 1_100_000 + b'"}'
    response = await julia.client.post("/webhook/evolution", content=big, headers=headers)
    assert response.status_code == 413
    assert await stored(julia) == (0, 0)

    assert (await julia.post(text_message(PHONE, "ainda estou aqui"))).status_code == 200
    assert await stored(julia) == (1, 1)


async def test_an_unknown_instance_is_refused(julia: Julia) -> None:
    payload = text_message(PHONE, "oi")
    payload["instance"] = "SomeoneElse"
    assert (await julia.post(payload)).status_code == 403
    assert await stored(julia) == (0, 0)


async def test_webhook_by_events_url_and_unused_events_are_acknowledged(julia: Julia) -> None:
    body = envelope("presence.update", {"id": f"{PHONE}@s.whatsapp.net", "presences": {}})
    del body["event"]
    headers = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
    response = await julia.client.post(
        "/webhook/evolution/presence-update", json=body, headers=headers
    )
    assert response.status_code == 200
    assert await stored(julia) == (1, 0)


async def test_connection_update_sets_the_chip_state(julia: Julia) -> None:
    for state in ("connecting", "open"):
        body = envelope("connection.update", {"instance": "Revoluna", "state": state})
        assert (await julia.post(body)).status_code == 200
    row = await julia.res.db.fetchrow("SELECT state, connected_at FROM chips")
    assert row["state"] == "open" and row["connected_at"] is not None


async def test_lid_senders_and_the_ninth_digit_reach_the_same_doctor(julia: Julia) -> None:
    legacy = "553188887777"  # the same mobile without the ninth digit
    await julia.post(text_message(PHONE, "oi"))
    await julia.post(text_message(legacy, "sou eu de novo"))
    lid_message = text_message(PHONE, "e agora?")
    lid_message["data"]["key"]["remoteJid"] = "123456789012345@lid"
    lid_message["data"]["key"]["remoteJidAlt"] = f"{PHONE}@s.whatsapp.net"
    await julia.post(lid_message)
    only_lid = text_message(PHONE, "só lid")
    only_lid["data"]["key"]["remoteJid"] = "123456789012345@lid"
    await julia.post(only_lid)
    assert await julia.count("SELECT count(*) FROM doctors") == 1
    assert await julia.count("SELECT count(DISTINCT doctor_id) FROM messages") == 1
    assert await julia.count("SELECT count(*) FROM messages WHERE doctor_id IS NULL") == 0


async def test_a_store_failure_answers_503_so_evolution_retries(
    julia: Julia, database_url: str
) -> None:
    name = database_url.split("?")[0].rsplit("/", 1)[-1]
    admin = await asyncpg.connect(database_url.replace(f"/{name}?", "/postgres?"))
    try:
        await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        response = await julia.post(text_message(PHONE, "oi"))
        assert response.status_code == 503
    finally:
        await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        await admin.close()
    # Evolution's retry of the same delivery is stored once the database is back.
    response = await julia.post(text_message(PHONE, "oi", msg_id="3EB0RETRY0001"))
    assert response.status_code == 200
