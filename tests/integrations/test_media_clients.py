"""The media clients against their vendors' wire (local fakes): Supabase Storage through
storage3, the OpenAI-compatible transcription endpoint, Evolution's getBase64FromMediaMessage,
and the local folder store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.integrations.evolution import EvolutionMediaSource
from app.integrations.media_store import LocalMediaStore, SupabaseMediaStore
from app.integrations.protocols import MediaUnavailable, TranscriptionError
from app.integrations.transcription import OpenAICompatibleTranscriber
from tests.domain import evolution_media_payloads as media
from tests.support.fake_media import FakeMedia


@pytest.fixture(scope="module")
def server() -> Iterator[FakeMedia]:
    with FakeMedia() as fake:
        yield fake


@pytest.fixture
def fake_media(server: FakeMedia) -> FakeMedia:
    server.reset()
    return server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_supabase_store_creates_a_private_bucket_once_even_when_two_race(
    fake_media: FakeMedia,
) -> None:
    stores = [
        SupabaseMediaStore(fake_media.url, fake_media.service_key, "julia-media") for _ in range(2)
    ]
    try:
        await asyncio.gather(
            stores[0].put("1/1.png", b"one", "image/png"),
            stores[1].put("1/2.png", b"two", "image/png"),
        )
        assert fake_media.buckets == {"julia-media": {"id": "julia-media", "public": False}}
        assert await stores[1].get("1/1.png") == b"one"
        await stores[0].put("1/1.png", b"again", "image/png")  # a re-run replaces it
        assert await stores[0].get("1/1.png") == b"again"

        url = await stores[0].signed_url("1/2.png", 600)
        assert url is not None
        assert url.startswith(f"{fake_media.url}/storage/v1/object/sign/julia-media/1/2.png?token=")

        await stores[0].remove(["1/1.png", "1/gone.png"])
        with pytest.raises(MediaUnavailable):
            await stores[0].get("1/1.png")
    finally:
        for store in stores:
            await store.aclose()


async def test_supabase_store_with_a_wrong_key_fails_as_unavailable(fake_media: FakeMedia) -> None:
    store = SupabaseMediaStore(fake_media.url, "not-the-key", "julia-media")
    try:
        with pytest.raises(MediaUnavailable):
            await store.put("1/1.ogg", b"x", "audio/ogg")
    finally:
        await store.aclose()


async def test_local_store_keeps_files_under_its_folder(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    await store.put("7/42.jpg", b"jpeg", "image/jpeg")
    assert (tmp_path / "media" / "7" / "42.jpg").read_bytes() == b"jpeg"
    assert await store.get("7/42.jpg") == b"jpeg"
    assert await store.signed_url("7/42.jpg", 60) is None
    await store.remove(["7/42.jpg", "7/none.jpg"])
    assert not (tmp_path / "media" / "7" / "42.jpg").exists()
    for bad in ("../escape.jpg", "/etc/passwd", "7/../../x"):
        with pytest.raises(MediaUnavailable):
            await store.put(bad, b"x", "image/jpeg")


async def test_transcriber_speaks_openais_multipart_and_fails_cleanly(
    fake_media: FakeMedia, http: httpx.AsyncClient
) -> None:
    def transcriber(key: str) -> OpenAICompatibleTranscriber:
        return OpenAICompatibleTranscriber(
            http,
            f"{fake_media.url}/v1/",
            api_key=key,
            model="whisper-1",
            language="pt",
            timeout_s=5,
        )

    fake_media.transcripts.append("  tô de plantão amanhã  ")
    result = await transcriber(fake_media.api_key).transcribe(
        media.OGG_OPUS, file_name="audio.ogg", mimetype="audio/ogg"
    )
    assert result.text == "tô de plantão amanhã"
    (call,) = fake_media.transcriptions
    assert call.file_name == "audio.ogg" and call.content_type == "audio/ogg"
    assert call.fields == {"model": "whisper-1", "response_format": "json", "language": "pt"}

    with pytest.raises(TranscriptionError):
        await transcriber("wrong").transcribe(b"x", file_name="a.ogg", mimetype="audio/ogg")
    fake_media.fail_transcriptions(503)
    with pytest.raises(TranscriptionError):
        await transcriber(fake_media.api_key).transcribe(
            b"x", file_name="a.ogg", mimetype="audio/ogg"
        )


async def test_evolution_media_source_decodes_the_answer_and_names_a_refusal(
    fake: Any, http: httpx.AsyncClient
) -> None:
    pdf = b"%PDF-1.4\n%%EOF\n"
    fake.evolution.add_media(
        "3EB0DOC1",
        media.get_base64_answer(
            pdf, mimetype="application/pdf", media_type="documentMessage", file_name="escala.pdf"
        ),
    )
    source = EvolutionMediaSource(http, fake.url, "evo-key")
    got = await source.fetch_media("Revoluna", "3EB0DOC1")
    assert (got.data, got.mimetype, got.file_name) == (pdf, "application/pdf", "escala.pdf")
    assert fake.evolution.media_requests == [{"message": {"key": {"id": "3EB0DOC1"}}}]
    with pytest.raises(MediaUnavailable, match="400"):
        await source.fetch_media("Revoluna", "3EB0UNKNOWN")
    with pytest.raises(MediaUnavailable, match="401"):
        await EvolutionMediaSource(http, fake.url, "wrong").fetch_media("Revoluna", "3EB0DOC1")
