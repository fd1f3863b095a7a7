"""Evolution API v2 media deliveries, written from Evolution's source (tag 2.3.6).

`messages.upsert` data is `prepareMessage(received)` (src/api/integrations/channel/whatsapp/
whatsapp.baileys.service.ts:4486): `key`, `pushName`, `status`, `message` (Baileys' message run
through `deserializeMessageBuffers`, so byte fields such as `mediaKey` and `fileSha256` are
index-keyed objects and Longs such as `fileLength` are `{"low", "high", "unsigned"}`),
`contextInfo`, `messageType` (the content type; `documentWithCaptionMessage` is flattened to
`documentMessage`), `messageTimestamp`, `instanceId`, `source`. With `webhookBase64` on, the file
is added as `message.base64` (whatsapp.baileys.service.ts:1319-1341); with Evolution's OpenAI
integration set to transcribe, a voice note gets `message.speechToText = "[audio] <text>"`
(:1225-1233). `getBase64FromMediaMessage` (:3672-3812) answers `{mediaType, fileName, caption,
size: {fileLength, height, width}, mimetype, base64}`.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

from tests.domain.evolution_payloads import upsert


def _bytes_field(seed: int, length: int = 32) -> dict[str, int]:
    # A Uint8Array through JSON.stringify: {"0": 12, "1": 200, ...}
    return {str(i): (seed * 31 + i * 7) % 256 for i in range(length)}


def _long(value: int) -> dict[str, Any]:
    return {"low": value & 0xFFFFFFFF, "high": value >> 32, "unsigned": True}


def png(width: int, height: int) -> bytes:
    """A real PNG of that size (one grey colour), small however large it is."""
    row = b"\x00" + b"\x80" * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


# Opus in Ogg starts with "OggS"; the rest of the bytes do not matter to anyone but Whisper.
OGG_OPUS = b"OggS\x00\x02" + bytes(range(256)) * 8


def voice_note(
    phone: str,
    msg_id: str,
    *,
    seconds: int = 42,
    audio: bytes | None = None,
    speech_to_text: str | None = None,
) -> dict[str, Any]:
    """A push-to-talk voice note; `audio` inline as `message.base64`, Evolution's own
    transcript as `message.speechToText`."""
    message: dict[str, Any] = {
        "audioMessage": {
            "url": "https://mmg.whatsapp.net/v/t62.7117-24/19834715_1177/n.enc?ccb=11-4",
            "mimetype": "audio/ogg; codecs=opus",
            "fileSha256": _bytes_field(1),
            "fileLength": _long(len(audio) if audio else 18211),
            "seconds": seconds,
            "ptt": True,
            "mediaKey": _bytes_field(2),
            "fileEncSha256": _bytes_field(3),
            "directPath": "/v/t62.7117-24/19834715_1177/n.enc?ccb=11-4",
            "mediaKeyTimestamp": _long(1773027300),
            "waveform": _bytes_field(4, 64),
        },
        "messageContextInfo": {"deviceListMetadataVersion": 2},
    }
    if audio is not None:
        message["base64"] = base64.b64encode(audio).decode()
    if speech_to_text is not None:
        message["speechToText"] = f"[audio] {speech_to_text}"
    return upsert(
        message,
        message_type="audioMessage",
        remote_jid=f"{phone}@s.whatsapp.net",
        msg_id=msg_id,
    )


def image(
    phone: str,
    msg_id: str,
    *,
    caption: str | None = None,
    data: bytes | None = None,
    file_length: int | None = None,
    width: int = 960,
    height: int = 1280,
) -> dict[str, Any]:
    """A photo (with a caption when given); `data` inline as `message.base64`."""
    body: dict[str, Any] = {
        "url": "https://mmg.whatsapp.net/o1/v/t62.7118-24/f2/m231/AQN.enc?ccb=9-4",
        "mimetype": "image/jpeg",
        "fileSha256": _bytes_field(5),
        "fileLength": _long(file_length if file_length is not None else len(data or b"") or 84211),
        "height": height,
        "width": width,
        "mediaKey": _bytes_field(6),
        "fileEncSha256": _bytes_field(7),
        "directPath": "/o1/v/t62.7118-24/f2/m231/AQN.enc?ccb=9-4",
        "mediaKeyTimestamp": _long(1773027300),
        "jpegThumbnail": base64.b64encode(b"\xff\xd8\xff\xe0thumb").decode(),
    }
    if caption is not None:
        body["caption"] = caption
    message: dict[str, Any] = {"imageMessage": body}
    if data is not None:
        message["base64"] = base64.b64encode(data).decode()
    return upsert(
        message,
        message_type="imageMessage",
        remote_jid=f"{phone}@s.whatsapp.net",
        msg_id=msg_id,
    )


def document(
    phone: str, msg_id: str, *, file_name: str, mimetype: str, file_length: int, caption: str
) -> dict[str, Any]:
    """A document sent with a caption: Baileys wraps it in `documentWithCaptionMessage`,
    which `prepareMessage` flattens to `documentMessage`."""
    return upsert(
        {
            "documentMessage": {
                "url": "https://mmg.whatsapp.net/v/t62.7119-24/30965/d.enc?ccb=11-4",
                "mimetype": mimetype,
                "title": file_name,
                "fileSha256": _bytes_field(8),
                "fileLength": _long(file_length),
                "pageCount": 1,
                "mediaKey": _bytes_field(9),
                "fileName": file_name,
                "fileEncSha256": _bytes_field(10),
                "directPath": "/v/t62.7119-24/30965/d.enc?ccb=11-4",
                "mediaKeyTimestamp": _long(1773027300),
                "caption": caption,
            }
        },
        message_type="documentMessage",
        remote_jid=f"{phone}@s.whatsapp.net",
        msg_id=msg_id,
    )


def sticker(phone: str, msg_id: str) -> dict[str, Any]:
    return upsert(
        {
            "stickerMessage": {
                "url": "https://mmg.whatsapp.net/v/t62.15575-24/s.enc?ccb=11-4",
                "mimetype": "image/webp",
                "fileLength": _long(21804),
                "mediaKey": _bytes_field(11),
                "isAnimated": False,
                "height": 64,
                "width": 64,
            }
        },
        message_type="stickerMessage",
        remote_jid=f"{phone}@s.whatsapp.net",
        msg_id=msg_id,
    )


def get_base64_answer(
    data: bytes, *, mimetype: str, media_type: str, file_name: str, caption: str | None = None
) -> dict[str, Any]:
    """`getBase64FromMediaMessage`'s answer (whatsapp.baileys.service.ts:3800-3808);
    `buffer` is null when called through the API."""
    return {
        "mediaType": media_type,
        "fileName": file_name,
        "caption": caption,
        "size": {"fileLength": _long(len(data)), "height": None, "width": None},
        "mimetype": mimetype,
        "base64": base64.b64encode(data).decode(),
        "buffer": None,
    }
