"""The Evolution webhook edge: who may post, what is refused, what is kept, and that
nothing is lost. The edge only stores; tests of what a delivery does run the worker, whose
drainer applies the stored rows."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import jwt
import pytest
from arq.connections import ArqRedis

from app.core.config import Settings
from tests.domain.evolution_payloads import envelope, upsert
from tests.support.fake_vendors import text_reply
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


@pytest.fixture
async def julia_worker(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> AsyncIterator[Julia]:
    settings: Settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, **vendor_settings(fake.url)
    )
    async with running_julia(settings) as j:
        yield j


async def drained(julia: Julia, within: float = 10.0) -> None:
    """Wait until the worker's drainer has applied every stored delivery."""
    deadline = asyncio.get_running_loop().time() + within
    while await julia.count("SELECT count(*) FROM webhook_events WHERE status = 'received'"):
        assert asyncio.get_running_loop().time() < deadline, "the inbox was not drained"
        await asyncio.sleep(0.02)


async def stored(julia: Julia) -> tuple[int, int]:
    return (
        await julia.count("SELECT count(*) FROM webhook_events"),
        await julia.count("SELECT count(*) FROM messages"),
    )


def token(secret: str = WEBHOOK_SECRET, *, expires_in: int = 600) -> str:
    now = int(time.time())
    return jwt.encode({"iat": now, "exp": now + expires_in}, secret, algorithm="HS256")


async def test_a_static_bearer_and_evolutions_jwt_are_accepted(julia_worker: Julia) -> None:
    julia = julia_worker
    assert (await julia.post(text_message(PHONE, "oi"))).status_code == 200
    response = await julia.post(text_message(PHONE, "tudo bem?"), token=token())
    assert response.status_code == 200
    await drained(julia)
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
    assert await stored(julia) == (0, 0)

    assert (await julia.post(text_message(PHONE, "ainda estou aqui"))).status_code == 200
    assert await stored(julia) == (1, 0)  # kept; the worker applies it


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


async def test_connection_update_sets_the_chip_state(julia_worker: Julia) -> None:
    julia = julia_worker
    for state in ("connecting", "open"):
        body = envelope("connection.update", {"instance": "Revoluna", "state": state})
        assert (await julia.post(body)).status_code == 200
    await drained(julia)
    row = await julia.res.db.fetchrow("SELECT state, connected_at FROM chips")
    assert row["state"] == "open" and row["connected_at"] is not None


async def test_lid_senders_and_the_ninth_digit_reach_the_same_doctor(julia_worker: Julia) -> None:
    julia = julia_worker
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
    await drained(julia)
    assert await julia.count("SELECT count(*) FROM doctors") == 1
    assert await julia.count("SELECT count(DISTINCT doctor_id) FROM messages") == 1
    assert await julia.count("SELECT count(*) FROM messages WHERE doctor_id IS NULL") == 0


@asynccontextmanager
async def refusing_connections(database_url: str) -> AsyncIterator[None]:
    """Inside, the test database refuses new connections and its open ones are gone."""
    name = database_url.split("?")[0].rsplit("/", 1)[-1]
    admin = await asyncpg.connect(database_url.replace(f"/{name}?", "/postgres?"))
    try:
        await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        yield
    finally:
        await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        await admin.close()


async def test_a_store_failure_answers_503_so_evolution_retries(
    julia: Julia, database_url: str
) -> None:
    async with refusing_connections(database_url):
        response = await julia.post(text_message(PHONE, "oi"))
        assert response.status_code == 503
    # Evolution's retry of the same delivery is stored once the database is back.
    response = await julia.post(text_message(PHONE, "oi", msg_id="3EB0RETRY0001"))
    assert response.status_code == 200


# What the edge does per delivery, and what it keeps --------------------------------------


@asynccontextmanager
async def statements(pool: asyncpg.Pool) -> AsyncIterator[list[str]]:
    """Every statement sent through `pool` while inside, transaction control included;
    not asyncpg's own reset of a released connection (`pg_advisory_unlock_all(); ...`)."""
    seen: list[str] = []
    reset = "SELECT pg_advisory_unlock_all();"

    def record(entry: Any) -> None:
        if not entry.query.lstrip().startswith(reset):
            seen.append(entry.query)

    # Every connection the pool can hand out gets the logger (it survives a release).
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    raw = [conn._con for conn in held]  # the underlying Connection, not the pool's proxy
    for conn in raw:
        conn.add_query_logger(record)
    for conn in held:
        await pool.release(conn)
    try:
        yield seen
    finally:
        for conn in raw:
            conn.remove_query_logger(record)


async def test_each_delivery_costs_the_edge_one_statement(julia: Julia) -> None:
    await julia.say(PHONE, "a primeira aquece a lista de instâncias")
    async with statements(julia.res.db) as seen:
        for n in range(20):
            await julia.say(f"55319888{n:05d}", "oi")
        redelivery = text_message(PHONE, "de novo", msg_id="3EB0DUPLICATE00042")
        for _ in range(2):
            assert (await julia.post(redelivery)).status_code == 200
    assert len(seen) == 22, seen
    assert all(q.lstrip().startswith("INSERT INTO webhook_events") for q in seen), seen
    assert await julia.count("SELECT count(*) FROM webhook_events") == 22


async def test_concurrent_deliveries_share_statements_and_each_gets_its_own_answer(
    julia: Julia,
) -> None:
    """Deliveries that arrive together are stored together (group commit): fewer
    statements than deliveries, and every sender still learns whether its own delivery was
    new or a redelivery, copies of one delivery inside the same batch included."""
    await julia.say(PHONE, "a primeira aquece a lista de instâncias")
    fresh = [text_message(f"55319777{n:05d}", f"oi {n}") for n in range(40)]
    copies = [fresh[n] for n in range(0, 40, 4)]  # 10 redeliveries, sent alongside
    async with statements(julia.res.db) as seen:
        answers = await asyncio.gather(*(julia.post(body) for body in fresh + copies))
    assert {a.status_code for a in answers} == {200}
    statuses = [a.json()["status"] for a in answers]
    assert statuses.count("stored") == 40 and statuses.count("duplicate") == 10
    assert 1 <= len(seen) < 40, seen
    assert await julia.count("SELECT count(*) FROM webhook_events") == 41
    texts = await julia.res.db.fetch(
        "SELECT payload->'data'->'message'->>'conversation' AS t FROM webhook_events"
        " ORDER BY id OFFSET 1"
    )
    assert sorted(r["t"] for r in texts) == sorted(f"oi {n}" for n in range(40))


async def test_a_batch_the_database_refuses_answers_503_for_each_of_its_deliveries(
    julia: Julia, database_url: str
) -> None:
    async with refusing_connections(database_url):
        answers = await asyncio.gather(
            *(julia.post(text_message(f"55319666{n:05d}", "oi")) for n in range(12))
        )
        assert [a.status_code for a in answers] == [503] * 12
    # Evolution retries each of them; now they are kept.
    answers = await asyncio.gather(
        *(julia.post(text_message(f"55319666{n:05d}", "oi")) for n in range(12))
    )
    assert [a.status_code for a in answers] == [200] * 12
    assert await julia.count("SELECT count(*) FROM webhook_events") == 12


async def test_the_apikey_is_never_stored_nor_logged(
    julia: Julia, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # webhook.controller.ts:93-101 (2.3.6): the envelope carries `apikey: apiKey`, the
    # instance token when AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES is on.
    instance_token = "B6D711FCDE4D4FD5936544120E713976"
    payload = text_message(PHONE, "oi")
    payload["apikey"] = instance_token
    assert (await julia.post(payload)).status_code == 200
    row = await julia.res.db.fetchval("SELECT payload::text FROM webhook_events")
    assert instance_token not in row and "apikey" not in row
    assert '"oi"' in row  # the delivery itself is kept
    out = capsys.readouterr()
    assert instance_token not in caplog.text + out.out + out.err


def image_with_base64(phone: str, media: bytes) -> dict[str, Any]:
    # With webhookBase64 on, Evolution adds the media to the message it posts:
    # whatsapp.baileys.service.ts:1318-1329 (2.3.6), `messageRaw.message.base64 =
    # buffer.toString('base64')`, beside the imageMessage of prepareMessage.
    payload = upsert(
        {
            "imageMessage": {
                "url": "https://mmg.whatsapp.net/o1/v/t62.7118-24/abc.enc",
                "mimetype": "image/jpeg",
                "caption": "Segue meu CRM",
                "fileLength": str(len(media)),
            },
            "base64": base64.b64encode(media).decode(),
        },
        message_type="imageMessage",
        remote_jid=f"{phone}@s.whatsapp.net",
        msg_id="3EB0IMAGE0000000001",
    )
    return payload


async def test_a_photo_with_its_base64_is_accepted_and_the_media_is_not_kept(
    julia_worker: Julia,
) -> None:
    julia = julia_worker
    photo = os.urandom(1_100_000)  # 1.5 MB once in base64
    payload = image_with_base64(PHONE, photo)
    assert len(json.dumps(payload)) > 1_400_000
    assert (await julia.post(payload)).status_code == 200
    await drained(julia)

    kept = json.loads(await julia.res.db.fetchval("SELECT payload::text FROM webhook_events"))
    message = kept["data"]["message"]
    assert "base64" not in message
    assert message["base64_omitted"] == {
        "base64_chars": len(base64.b64encode(photo)),
        "bytes": len(photo),
        "mimetype": "image/jpeg",
    }
    assert await julia.res.db.fetchval("SELECT pg_column_size(payload) FROM webhook_events") < 5000
    row = await julia.res.db.fetchrow("SELECT body, media FROM messages")
    assert row["body"] == "Segue meu CRM" and json.loads(row["media"])["kind"] == "image"


async def test_a_body_over_the_limit_gets_a_status_evolution_does_not_retry(
    julia: Julia, caplog: pytest.LogCaptureFixture
) -> None:
    # Evolution retries everything but 400/401/403/404/422 (webhook.controller.ts:216 at
    # 2.3.6), a 413 ten times: the edge answers 422.
    limit = julia.res.settings.EVOLUTION_WEBHOOK_MAX_BYTES
    payload = image_with_base64(PHONE, b"\0" * (limit // 4 * 3 + 10))
    response = await julia.post(payload)
    assert response.status_code == 422
    assert str(limit) in response.json()["detail"]
    assert "webhook.too_large" in caplog.text
    assert await stored(julia) == (0, 0)


async def test_with_redis_down_the_edge_still_acknowledges_and_the_doctor_is_answered(
    julia_worker: Julia, fake: Any
) -> None:
    julia = julia_worker
    fake.anthropic.script(text_reply("oi! tudo bem sim"))
    working = julia.res.redis
    # The edge's Redis refuses connections (nothing listens on port 1); the worker's is up.
    julia.res.redis = ArqRedis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    try:
        response = await julia.post(text_message(PHONE, "oi, tudo bem?"))
    finally:
        broken, julia.res.redis = julia.res.redis, working
        await broken.aclose()
    assert response.status_code == 200
    # No signal reached the drainer: its poll (INBOX_POLL_SECONDS) finds the row.
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE), timeout=15)
    await asyncio.sleep(1.0)
    assert fake.evolution.texts_to(PHONE) == ["oi! tudo bem sim"]
