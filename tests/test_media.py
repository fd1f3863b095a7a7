"""Julia hears voice notes and sees photos: through the real webhook, drainer, media job, turn
and gateway, with Evolution, Anthropic, the transcription endpoint and Supabase Storage
answered at the wire by local fakes (the real httpx, anthropic and storage3 clients run)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from app.core.config import Settings
from app.domain.agent import prompts
from app.domain.media.service import inline_key
from app.domain.operations import retention
from app.domain.operations.metrics import daily_metrics, format_metrics
from tests.domain import evolution_media_payloads as media
from tests.support.fake_media import FakeMedia
from tests.support.fake_vendors import text_reply, tool_call
from tests.support.julia import Julia, running_julia, vendor_settings

PHONE = "5511987004455"
BUCKET = "julia-media"
JWT_SECRET = "media-dashboard-secret-long-enough-0123456789abcdef"


@pytest.fixture(scope="module")
def fake_media_server() -> Iterator[FakeMedia]:
    with FakeMedia() as server:
        yield server


@pytest.fixture
def fake_media(fake_media_server: FakeMedia) -> FakeMedia:
    fake_media_server.reset()
    return fake_media_server


def _settings(
    make_settings: Any, database_url: str, redis_url: str, fake: Any, **extra: Any
) -> Any:
    return make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        **vendor_settings(fake.url),
        **extra,
    )


@pytest.fixture
def media_settings(
    make_settings: Any, database_url: str, redis_url: str, fake: Any, fake_media: FakeMedia
) -> Settings:
    settings: Settings = _settings(
        make_settings,
        database_url,
        redis_url,
        fake,
        TRANSCRIPTION_API_URL=f"{fake_media.url}/v1",
        TRANSCRIPTION_API_KEY=fake_media.api_key,
        TRANSCRIPTION_MODEL="whisper-large-v3",
        SUPABASE_URL=fake_media.url,
        SUPABASE_SERVICE_KEY=fake_media.service_key,
        JWT_SECRET_KEY=JWT_SECRET,
        MEDIA_MAX_IMAGE_BYTES=50_000,
    )
    return settings


@pytest.fixture
async def julia(media_settings: Settings) -> AsyncIterator[Julia]:
    async with running_julia(media_settings) as j:
        yield j


async def _posted(julia: Julia, payload: dict[str, Any]) -> None:
    response = await julia.post(payload)
    assert response.status_code == 200, response.text


async def _message(julia: Julia, provider_id: str) -> dict[str, Any]:
    row = await julia.res.db.fetchrow(
        "SELECT body, media, processed_at FROM messages WHERE provider_message_id = $1",
        provider_id,
    )
    assert row is not None, "the message was not kept"
    return {
        "body": row["body"],
        "media": json.loads(row["media"]),
        "processed": row["processed_at"],
    }


def _event(record: logging.LogRecord) -> str | None:
    return record.msg.get("event") if isinstance(record.msg, dict) else None


def _blocks(request: dict[str, Any]) -> list[dict[str, Any]]:
    """System and message content blocks in prompt order (the order the cache reads)."""
    blocks = list(request["system"])
    for message in request["messages"]:
        blocks.extend(message["content"])
    return blocks


async def test_a_voice_note_with_evolutions_transcript_needs_no_transcription_call(
    julia: Julia, fake: Any, fake_media: FakeMedia
) -> None:
    fake.anthropic.script(text_reply("sábado à noite tenho sim, te mando as opções"))
    payload = media.voice_note(
        PHONE,
        "3EB0VOICE0000000001",
        seconds=42,
        audio=media.OGG_OPUS,
        speech_to_text="oi Julia, tenho interesse no plantão de sábado à noite",
    )
    await _posted(julia, payload)

    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    assert fake.evolution.texts_to(PHONE) == ["sábado à noite tenho sim, te mando as opções"]
    assert fake_media.transcriptions == []
    burst = str(fake.anthropic.requests[0]["messages"][-1])
    assert "[áudio 0:42] oi Julia, tenho interesse no plantão de sábado à noite" in burst

    stored = await _message(julia, "3EB0VOICE0000000001")
    assert stored["media"]["transcript"] == "oi Julia, tenho interesse no plantão de sábado à noite"
    # The file came inline: kept in storage, never in the stored delivery, never refetched.
    assert fake_media.objects[(BUCKET, stored["media"]["storage_key"])][0] == media.OGG_OPUS
    assert fake.evolution.media_requests == []
    kept = await julia.res.db.fetchval("SELECT payload::text FROM webhook_events")
    assert base64.b64encode(media.OGG_OPUS).decode() not in kept


async def test_a_voice_note_without_a_transcript_is_transcribed_once(
    julia: Julia, fake: Any, fake_media: FakeMedia
) -> None:
    fake_media.transcripts.append("tô livre dia 14, tem alguma coisa?")
    fake.evolution.add_media(
        "3EB0VOICE0000000002",
        media.get_base64_answer(
            media.OGG_OPUS,
            mimetype="audio/ogg; codecs=opus",
            media_type="audioMessage",
            file_name="3EB0VOICE0000000002.oga",
        ),
    )
    fake.anthropic.script(text_reply("dia 14 tenho um noturno, quer saber mais?"))
    await _posted(julia, media.voice_note(PHONE, "3EB0VOICE0000000002", seconds=9))

    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    assert len(fake_media.transcriptions) == 1
    call = fake_media.transcriptions[0]
    assert call.data == media.OGG_OPUS and call.fields["model"] == "whisper-large-v3"
    assert call.authorization == f"Bearer {fake_media.api_key}"
    assert fake.evolution.media_requests == [{"message": {"key": {"id": "3EB0VOICE0000000002"}}}]
    assert "[áudio 0:09] tô livre dia 14, tem alguma coisa?" in str(
        fake.anthropic.requests[0]["messages"][-1]
    )

    stored = await _message(julia, "3EB0VOICE0000000002")
    assert stored["media"]["transcript"] == "tô livre dia 14, tem alguma coisa?"
    turn = await julia.res.db.fetchrow("SELECT transcription_seconds, cost_usd FROM turns")
    assert turn["transcription_seconds"] == 9 and turn["cost_usd"] > 0
    day = await daily_metrics(julia.res.db, tz=julia.res.settings.tz, now=datetime.now(UTC))
    assert day.transcription_seconds == 9
    assert "Áudio transcrito: 0min09s" in format_metrics(day)


async def test_a_voice_note_and_the_text_after_it_are_one_turn(
    julia: Julia, fake: Any, fake_media: FakeMedia
) -> None:
    fake_media.transcripts.append("queria saber do plantão de pediatria")
    # The transcript comes well after the debounce: the turn waits for it.
    fake_media.transcription_delay = 1.5
    fake.anthropic.script(text_reply("tenho sim! é no São Luiz, sábado"))
    await _posted(
        julia, media.voice_note(PHONE, "3EB0VOICE0000000003", seconds=75, audio=media.OGG_OPUS)
    )
    await julia.say(PHONE, "e aí?")

    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    await asyncio.sleep(1.0)  # a second turn, if any, would have asked the model by now
    assert len(fake.anthropic.requests) == 1
    burst = str(fake.anthropic.requests[0]["messages"][-1])
    assert "[áudio 1:15] queria saber do plantão de pediatria" in burst and "e aí?" in burst
    assert await julia.count("SELECT count(*) FROM turns") == 1
    assert fake.evolution.texts_to(PHONE) == ["tenho sim! é no São Luiz, sábado"]


async def test_when_transcription_is_down_julia_asks_for_a_text_once(
    julia: Julia, fake: Any, fake_media: FakeMedia
) -> None:
    fake_media.fail_transcriptions(503)
    await _posted(
        julia, media.voice_note(PHONE, "3EB0VOICE0000000004", seconds=20, audio=media.OGG_OPUS)
    )

    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    (reply,) = fake.evolution.texts_to(PHONE)
    assert reply in prompts.CANT_LISTEN_MESSAGES
    assert fake.anthropic.requests == []
    stored = await _message(julia, "3EB0VOICE0000000004")
    assert stored["processed"] is not None and stored["media"]["state"] == "failed"
    assert stored["media"]["storage_key"]  # the audio is kept for an operator

    # A second voice note: no second "can't listen", the model answers what it has.
    fake.anthropic.script(text_reply("me conta por escrito que eu te ajudo"))
    await _posted(
        julia, media.voice_note(PHONE, "3EB0VOICE0000000005", seconds=5, audio=media.OGG_OPUS)
    )
    await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) == 2)
    assert fake.evolution.texts_to(PHONE)[1] == "me conta por escrito que eu te ajudo"
    assert "[áudio 0:05 que vc não conseguiu ouvir]" in str(fake.anthropic.requests[0]["messages"])


async def test_a_voice_note_she_cannot_hear_beside_a_text_is_mentioned_by_the_model(
    julia: Julia, fake: Any, fake_media: FakeMedia
) -> None:
    fake_media.fail_transcriptions(500)
    fake.anthropic.script(text_reply("não consigo ouvir áudio agora, mas sábado tenho sim"))
    await _posted(
        julia, media.voice_note(PHONE, "3EB0VOICE0000000007", seconds=30, audio=media.OGG_OPUS)
    )
    await julia.say(PHONE, "tem plantão sábado?")

    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    assert fake.evolution.texts_to(PHONE) == ["não consigo ouvir áudio agora, mas sábado tenho sim"]
    (request,) = fake.anthropic.requests
    assert prompts.CANT_LISTEN_NOTE in str(request["messages"][-1])
    assert "[áudio 0:30 que vc não conseguiu ouvir]" in str(request["messages"][-1])


async def test_without_a_transcription_provider_julia_asks_for_a_text(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = _settings(make_settings, database_url, redis_url, fake)
    async with running_julia(settings) as j:
        await _posted(
            j, media.voice_note(PHONE, "3EB0VOICE0000000006", seconds=12, audio=media.OGG_OPUS)
        )
        await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
        assert fake.evolution.texts_to(PHONE)[0] in prompts.CANT_LISTEN_MESSAGES
        stored = await _message(j, "3EB0VOICE0000000006")
        # Kept in the embedded default's folder.
        path = settings.JULIA_DATA_DIR.resolve() / "media" / stored["media"]["storage_key"]
        assert path.read_bytes() == media.OGG_OPUS


async def test_a_photo_goes_to_the_model_after_the_cache_breakpoint_and_into_storage(
    julia: Julia, fake: Any, fake_media: FakeMedia
) -> None:
    fake.anthropic.script(text_reply("oi! tudo bem?"))
    await julia.say(PHONE, "oi")
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))

    photo = media.png(960, 1280)
    # A CRM card read from the photo feeds the profile.
    fake.anthropic.script(
        tool_call("update_profile", {"crm": "123456", "crm_uf": "SP"}),
        text_reply("recebi seu CRM, obrigada!"),
    )
    await _posted(
        julia, media.image(PHONE, "3EB0PHOTO0000000001", caption="segue meu CRM", data=photo)
    )
    await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) == 2)
    assert fake.evolution.texts_to(PHONE)[1] == "recebi seu CRM, obrigada!"
    doctor = await julia.res.db.fetchrow("SELECT crm, crm_uf FROM doctors")
    assert (doctor["crm"], doctor["crm_uf"]) == ("123456", "SP")

    blocks = _blocks(fake.anthropic.requests[1])
    breakpoint_at = max(i for i, b in enumerate(blocks) if "cache_control" in b)
    images = [i for i, b in enumerate(blocks) if b["type"] == "image"]
    assert len(images) == 1 and images[0] > breakpoint_at
    source = blocks[images[0]]["source"]
    assert source["media_type"] == "image/png"
    assert base64.b64decode(source["data"]) == photo
    assert "segue meu CRM" in str(fake.anthropic.requests[1]["messages"][-1])

    stored = await _message(julia, "3EB0PHOTO0000000001")
    assert fake_media.objects[(BUCKET, stored["media"]["storage_key"])] == (photo, "image/png")
    assert fake_media.buckets[BUCKET]["public"] is False
    tokens = await julia.count("SELECT image_tokens FROM turns ORDER BY id DESC LIMIT 1")
    assert 1000 < tokens <= 1600

    # The next turn describes the photo instead of sending it again.
    fake.anthropic.script(text_reply("combinado"))
    await julia.say(PHONE, "valeu")
    await fake.await_until(lambda: len(fake.evolution.texts_to(PHONE)) == 3)
    later = fake.anthropic.requests[-1]
    assert all(b["type"] != "image" for b in _blocks(later))
    assert "[foto que vc já viu] segue meu CRM" in str(later["messages"])

    # The operator's conversation view links the file with a signed URL.
    conversation_id = await julia.count("SELECT id FROM conversations")
    claims = {"sub": "ana@revoluna.com.br", "role": "viewer", "exp": int(time.time()) + 60}
    response = await julia.client.get(
        f"/api/v1/conversations/{conversation_id}/messages",
        headers={"Authorization": f"Bearer {jwt.encode(claims, JWT_SECRET)}"},
    )
    assert response.status_code == 200, response.text
    (item,) = [i for i in response.json()["items"] if i["message_type"] == "imageMessage"]
    assert item["media_url"].startswith(f"{fake_media.url}/storage/v1/object/sign/{BUCKET}/")


async def test_a_pdf_is_fetched_from_evolution_and_read_as_a_document(
    julia: Julia, fake: Any, fake_media: FakeMedia
) -> None:
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    fake.evolution.add_media(
        "3EB0DOC00000000001",
        media.get_base64_answer(
            pdf, mimetype="application/pdf", media_type="documentMessage", file_name="escala.pdf"
        ),
    )
    # A value seen only in the file is not one Julia may quote: the guardrails ask again.
    fake.anthropic.script(
        text_reply("vi que o plantão de dezembro paga R$ 3.000"),
        text_reply("vi sua escala, obrigada"),
    )
    await _posted(
        julia,
        media.document(
            PHONE,
            "3EB0DOC00000000001",
            file_name="escala.pdf",
            mimetype="application/pdf",
            file_length=len(pdf),
            caption="minha escala de dezembro",
        ),
    )
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    documents = [b for b in _blocks(fake.anthropic.requests[0]) if b["type"] == "document"]
    assert len(documents) == 1
    assert base64.b64decode(documents[0]["source"]["data"]) == pdf
    assert fake.evolution.texts_to(PHONE) == ["vi sua escala, obrigada"]
    assert "R$ 3.000" in str(fake.anthropic.requests[1]["messages"][-2])


async def test_an_oversized_file_is_refused_with_a_log_line_and_a_natural_reply(
    julia: Julia, fake: Any, fake_media: FakeMedia, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.domain.media.service")
    await _posted(julia, media.image(PHONE, "3EB0PHOTO0000000002", file_length=3_500_000))
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))

    refused = [r.msg for r in caplog.records if _event(r) == "media.refused"]
    assert len(refused) == 1
    assert refused[0]["bytes"] == 3_500_000 and refused[0]["limit"] == 50_000
    assert fake.evolution.texts_to(PHONE)[0] in prompts.CANT_OPEN_MESSAGES
    assert fake.evolution.media_requests == []  # never downloaded
    assert fake_media.objects == {}
    stored = await _message(julia, "3EB0PHOTO0000000002")
    assert stored["media"]["state"] == "refused" and stored["processed"] is not None


async def test_a_sticker_is_kept_and_not_answered(
    julia: Julia, fake: Any, fake_media: FakeMedia
) -> None:
    await _posted(julia, media.sticker(PHONE, "3EB0STICKER00000001"))
    deadline = asyncio.get_running_loop().time() + 5
    while await julia.count("SELECT count(*) FROM messages") == 0:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # a turn, if any, would have answered by now
    assert fake.evolution.texts_to(PHONE) == []
    assert fake.anthropic.requests == []
    assert await julia.count("SELECT count(*) FROM turns") == 0


async def test_a_stored_file_goes_when_its_message_is_deleted(
    julia: Julia, fake: Any, fake_media: FakeMedia
) -> None:
    fake.anthropic.script(text_reply("recebi, obrigada"))
    photo = media.png(200, 100)
    await _posted(julia, media.image(PHONE, "3EB0PHOTO0000000003", data=photo))
    await fake.await_until(lambda: fake.evolution.texts_to(PHONE))
    stored = await _message(julia, "3EB0PHOTO0000000003")
    key = (BUCKET, stored["media"]["storage_key"])
    assert key in fake_media.objects

    await retention.prune(
        julia.res.db, julia.res.settings, datetime.now(UTC), julia.res.media_store
    )
    assert key in fake_media.objects  # its message is still there

    await julia.res.db.execute(
        "DELETE FROM messages WHERE provider_message_id = '3EB0PHOTO0000000003'"
    )
    pruned = await retention.prune(
        julia.res.db, julia.res.settings, datetime.now(UTC), julia.res.media_store
    )
    assert pruned.media_files == 1
    assert key not in fake_media.objects
    assert await julia.count("SELECT count(*) FROM media_files") == 0


async def test_the_edge_hands_over_only_doctors_files(
    media_settings: Settings, fake_media: FakeMedia
) -> None:
    photo = media.png(20, 20)
    doctor = media.image(PHONE, "3EB0PHOTO0000000004", data=photo)
    group = media.image(PHONE, "3EB0PHOTO0000000005", data=photo)
    group["data"]["key"]["remoteJid"] = "120363025246125486@g.us"
    async with running_julia(media_settings, worker=False) as j:
        await _posted(j, doctor)
        await _posted(j, group)
        instance = doctor["instance"]
        kept = await j.res.redis.get(inline_key(instance, "3EB0PHOTO0000000004"))
        assert base64.b64decode(kept) == photo
        assert await j.res.redis.get(inline_key(instance, "3EB0PHOTO0000000005")) is None
        stored = await j.res.db.fetchval("SELECT string_agg(payload::text, '') FROM webhook_events")
        assert base64.b64encode(photo).decode() not in stored


async def test_the_turn_waits_for_a_transcript_only_so_long(
    media_settings: Settings, fake: Any, fake_media: FakeMedia
) -> None:
    fake_media.transcription_delay = 3.0
    fake.anthropic.script(text_reply("oi! me fala por escrito?"))
    settings = media_settings.model_copy(update={"MEDIA_WAIT_SECONDS": 1.0})
    async with running_julia(settings) as j:
        await _posted(
            j, media.voice_note(PHONE, "3EB0VOICE0000000008", seconds=50, audio=media.OGG_OPUS)
        )
        await j.say(PHONE, "oi")
        await fake.await_until(lambda: fake.evolution.texts_to(PHONE), timeout=6)
        assert fake.evolution.texts_to(PHONE) == ["oi! me fala por escrito?"]
        assert "[áudio 0:50 que vc não conseguiu ouvir]" in str(fake.anthropic.requests[0])
