"""A doctor's photo, voice note or document in Chatwoot: the stored file attached to the
mirrored message, through the real webhook, drainer, media job, mirror job and httpx client;
Chatwoot, Evolution, Anthropic, Supabase Storage and the transcription endpoint are local
servers speaking their formats (tests/support/fake_chatwoot.py, fake_media.py,
fake_vendors.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from app.core.config import Settings
from app.domain.handoff.chatwoot import mirror_conversation
from app.workers.chatwoot_jobs import espelhar_chatwoot
from tests.domain import evolution_media_payloads as media
from tests.support.fake_chatwoot import FakeChatwoot, Message
from tests.support.fake_media import FakeMedia
from tests.support.fake_vendors import text_reply
from tests.support.julia import Julia, running_julia, vendor_settings
from tests.test_chatwoot import chatwoot_settings, settle, until

PHONE = "5511987004455"
BUCKET = "julia-media"


@pytest.fixture(scope="module")
def chatwoot_server() -> Iterator[FakeChatwoot]:
    with FakeChatwoot() as server:
        yield server


@pytest.fixture
def chatwoot(chatwoot_server: FakeChatwoot) -> FakeChatwoot:
    chatwoot_server.reset()
    return chatwoot_server


@pytest.fixture(scope="module")
def fake_media_server() -> Iterator[FakeMedia]:
    with FakeMedia() as server:
        yield server


@pytest.fixture
def fake_media(fake_media_server: FakeMedia) -> FakeMedia:
    fake_media_server.reset()
    return fake_media_server


@pytest.fixture
async def julia(
    make_settings: Any,
    database_url: str,
    redis_url: str,
    fake: Any,
    chatwoot: FakeChatwoot,
    fake_media: FakeMedia,
) -> AsyncIterator[Julia]:
    settings: Settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        **vendor_settings(fake.url),
        **chatwoot_settings(chatwoot.url),
        TRANSCRIPTION_API_URL=f"{fake_media.url}/v1",
        TRANSCRIPTION_API_KEY=fake_media.api_key,
        TRANSCRIPTION_MODEL="whisper-large-v3",
        SUPABASE_URL=fake_media.url,
        SUPABASE_SERVICE_KEY=fake_media.service_key,
        MEDIA_MAX_IMAGE_BYTES=50_000,
    )
    async with running_julia(settings) as j:
        yield j


async def _posted(julia: Julia, payload: dict[str, Any]) -> None:
    response = await julia.post(payload)
    assert response.status_code == 200, response.text


async def _mirrored(chatwoot: FakeChatwoot, count: int) -> list[Message]:
    """The Chatwoot conversation's messages once it has `count` of them."""
    await until(
        lambda: (
            (c := chatwoot.conversation_of(PHONE)) is not None
            and len(chatwoot.messages_in(c.id)) >= count
        ),
        within=15,
    )
    conversation = chatwoot.conversation_of(PHONE)
    assert conversation is not None
    return chatwoot.messages_in(conversation.id)


async def test_a_doctors_photo_appears_in_chatwoot_once_with_the_image_and_its_caption(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot, fake_media: FakeMedia
) -> None:
    photo = media.png(960, 1280)
    fake.anthropic.script(text_reply("recebi, vou conferir seu CRM"))
    await _posted(
        julia, media.image(PHONE, "3EB0CWPHOTO00000001", caption="segue meu CRM", data=photo)
    )
    await until(lambda: fake.evolution.texts_to(PHONE))

    incoming, reply = await _mirrored(chatwoot, 2)
    assert (incoming.message_type, incoming.private, incoming.content) == (
        "incoming",
        False,
        "segue meu CRM",
    )
    [attached] = incoming.attachments
    assert attached.data == photo and attached.content_type == "image/png"
    assert attached.file_type == "image" and attached.file_name.endswith(".png")
    assert (reply.message_type, reply.content) == ("outgoing", "recebi, vou conferir seu CRM")
    # What is attached is what Julia kept.
    key = await julia.res.db.fetchval("SELECT storage_key FROM media_files")
    assert fake_media.objects[(BUCKET, key)] == (photo, "image/png")


async def test_a_voice_note_appears_with_its_transcript_and_the_audio_once_it_is_transcribed(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot, fake_media: FakeMedia
) -> None:
    # The transcription takes a while: the mirror triggered by the arrival finds the voice
    # note still pending and must not put a placeholder in Chatwoot.
    fake_media.transcription_delay = 1.0
    fake_media.transcripts.append("oi Julia, tenho interesse no plantão de sábado à noite")
    fake.anthropic.script(text_reply("sábado à noite tenho sim, te mando as opções"))
    await _posted(
        julia, media.voice_note(PHONE, "3EB0CWVOICE0000001", seconds=42, audio=media.OGG_OPUS)
    )
    await until(lambda: fake.evolution.texts_to(PHONE), within=15)

    incoming, reply = await _mirrored(chatwoot, 2)
    await settle()
    cw = chatwoot.conversation_of(PHONE)
    assert cw is not None and len(chatwoot.messages_in(cw.id)) == 2
    assert incoming.message_type == "incoming"
    assert incoming.content == "[áudio 0:42] oi Julia, tenho interesse no plantão de sábado à noite"
    [attached] = incoming.attachments
    assert attached.data == media.OGG_OPUS and attached.content_type == "audio/ogg"
    assert attached.file_type == "audio"
    assert reply.content == "sábado à noite tenho sim, te mando as opções"
    assert len(fake_media.transcriptions) == 1


async def test_running_the_mirror_again_or_after_a_lost_answer_attaches_the_file_once(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot, fake_media: FakeMedia
) -> None:
    photo = media.png(640, 480)
    # Chatwoot keeps the first create but its answer is lost: the retry finds it.
    chatwoot.lose_answers(1)
    fake.anthropic.script(text_reply("oi! recebi a escala"))
    await _posted(
        julia, media.image(PHONE, "3EB0CWPHOTO00000002", caption="minha escala", data=photo)
    )
    await until(lambda: fake.evolution.texts_to(PHONE))
    await _mirrored(chatwoot, 2)

    res = julia.res
    assert res.chatwoot is not None
    conversation_id = await res.db.fetchval("SELECT id FROM conversations")
    for _ in range(2):
        await mirror_conversation(
            res.db,
            res.chatwoot,
            res.settings,
            conversation_id,
            datetime.now(UTC),
            media_store=res.media_store,
        )
    await espelhar_chatwoot(res)
    await settle()
    cw = chatwoot.conversation_of(PHONE)
    assert cw is not None
    messages = chatwoot.messages_in(cw.id)
    assert [(m.content, len(m.attachments)) for m in messages] == [
        ("minha escala", 1),
        ("oi! recebi a escala", 0),
    ]
    assert messages[0].attachments[0].data == photo


async def test_a_refused_photo_is_mirrored_as_text_saying_so(
    julia: Julia, fake: Any, chatwoot: FakeChatwoot, fake_media: FakeMedia
) -> None:
    fake.anthropic.script(text_reply("a foto veio pesada demais, consegue mandar menor?"))
    await _posted(
        julia,
        media.image(PHONE, "3EB0CWPHOTO00000003", caption="meu plantão", file_length=6_200_000),
    )
    await until(lambda: fake.evolution.texts_to(PHONE))

    incoming, _reply = await _mirrored(chatwoot, 2)
    refused = "[imagem] (arquivo grande demais, 6,2 MB: não foi guardado) meu plantão"
    assert incoming.content == refused
    assert incoming.attachments == []
    assert fake_media.objects == {}
