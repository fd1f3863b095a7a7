"""Attachments as the parser, the edge and the media service see them: Evolution's media
fields, the inline base64 handed over (never stored), file types and image token estimates."""

from __future__ import annotations

import base64
import struct

from app.domain.inbox.edge import inline_media, storable
from app.domain.inbox.evolution import MessageEvent, parse_webhook
from app.domain.media import files
from app.domain.media.service import evolution_transcript
from tests.domain import evolution_media_payloads as media

PHONE = "5511987004455"


def _event(payload: dict[str, object]) -> MessageEvent:
    (event,) = parse_webhook(payload)
    assert isinstance(event, MessageEvent)
    return event


def test_a_voice_note_carries_its_length_type_size_and_evolutions_transcript() -> None:
    payload = media.voice_note(
        PHONE, "3EB0V1", seconds=42, audio=media.OGG_OPUS, speech_to_text="oi Julia"
    )
    event = _event(payload)
    assert event.media_kind == "audio" and event.is_voice_note and event.audio_seconds == 42
    assert event.mimetype == "audio/ogg; codecs=opus"
    assert event.file_length == len(media.OGG_OPUS)  # a protobuf Long
    assert event.inline_media
    assert evolution_transcript(event.speech_to_text) == "oi Julia"


def test_the_inline_file_goes_to_the_worker_and_never_into_the_stored_delivery() -> None:
    photo = media.png(10, 10)
    payload = media.image(PHONE, "3EB0P1", caption="meu CRM", data=photo)
    assert inline_media(payload) == [("3EB0P1", base64.b64encode(photo).decode())]
    kept = storable(payload)
    assert "base64" not in kept["data"]["message"]
    assert kept["data"]["message"]["base64_omitted"]["bytes"] == len(photo)
    # Parsed again by the drainer from what was kept: it knows the file came inline.
    event = _event(kept)
    assert event.inline_media and event.text == "meu CRM" and event.media_kind == "image"


def test_a_document_and_a_sticker() -> None:
    doc = _event(
        media.document(
            PHONE,
            "3EB0D1",
            file_name="escala.pdf",
            mimetype="application/pdf",
            file_length=53_211,
            caption="escala",
        )
    )
    assert doc.media_kind == "document" and doc.file_name == "escala.pdf"
    assert doc.mimetype == "application/pdf" and doc.file_length == 53_211
    assert not doc.inline_media
    assert _event(media.sticker(PHONE, "3EB0S1")).media_kind == "sticker"


def test_evolutions_empty_transcript_is_no_transcript() -> None:
    # `[audio] ${await speechToText(...)}` with a null answer (openai.service.ts at 2.3.6)
    assert evolution_transcript("[audio] null") is None
    assert evolution_transcript("[audio] ") is None
    assert evolution_transcript("[audio] tô indo") == "tô indo"
    assert evolution_transcript(None) is None


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def test_image_types_and_sizes_are_read_from_the_bytes() -> None:
    assert files.sniff(media.png(3, 2)) == "image/png"
    assert files.image_size(media.png(960, 1280)) == (960, 1280)
    assert files.sniff(_jpeg(1600, 1200)) == "image/jpeg"
    assert files.image_size(_jpeg(1600, 1200)) == (1600, 1200)
    gif = b"GIF89a" + struct.pack("<HH", 320, 240) + b"\x00" * 8
    assert files.sniff(gif) == "image/gif" and files.image_size(gif) == (320, 240)
    vp8x = b"RIFF" + b"\x00" * 4 + b"WEBPVP8X" + b"\x00" * 8
    vp8x += (799).to_bytes(3, "little") + (599).to_bytes(3, "little")
    assert files.sniff(vp8x) == "image/webp" and files.image_size(vp8x) == (800, 600)
    assert files.sniff(b"%PDF-1.7\n") == files.PDF
    assert files.sniff(media.OGG_OPUS) is None and files.image_size(b"nothing") is None
    assert files.base_type("audio/ogg; codecs=opus") == "audio/ogg"
    assert files.extension("image/jpeg") == ".jpg" and files.extension(None) == ".bin"


def test_image_tokens_follow_anthropics_estimate() -> None:
    assert files.image_tokens((200, 200)) == 54  # 40,000 px / 750
    assert files.image_tokens((1092, 1092)) <= files.MAX_IMAGE_TOKENS
    assert files.image_tokens((4000, 3000)) <= files.MAX_IMAGE_TOKENS  # downscaled first
    assert files.image_tokens(None) == files.MAX_IMAGE_TOKENS
