"""What an attachment is, from its bytes and its declared mimetype: the kinds Claude reads,
a file extension for the store, and an image's size (for its token cost)."""

from __future__ import annotations

import math
import struct

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
PDF = "application/pdf"
# Anthropic scales an image down to fit 1568 px on its long edge and ~1.15 megapixels; its
# tokens are about width x height / 750, so ~1,600 at most.
MAX_EDGE = 1568
MAX_PIXELS = 1_150_000
MAX_IMAGE_TOKENS = 1600

_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/wav": ".wav",
    "video/mp4": ".mp4",
}


def base_type(mimetype: str | None) -> str | None:
    """ "audio/ogg; codecs=opus" -> "audio/ogg"."""
    if not mimetype:
        return None
    return mimetype.split(";", 1)[0].strip().lower() or None


def sniff(data: bytes) -> str | None:
    """The type the bytes say they are, for the kinds Claude reads."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def extension(mimetype: str | None) -> str:
    return _EXTENSIONS.get(base_type(mimetype) or "", ".bin")


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a JPEG, PNG, GIF or WebP header; None when unreadable."""
    try:
        kind = sniff(data)
        if kind == "image/png" and len(data) >= 24:
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if kind == "image/gif" and len(data) >= 10:
            width, height = struct.unpack("<HH", data[6:10])
            return width, height
        if kind == "image/webp":
            return _webp_size(data)
        if kind == "image/jpeg":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        # SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def image_tokens(size: tuple[int, int] | None) -> int:
    """Anthropic's estimate for one image (after its own downscaling); the maximum when the
    size is unknown."""
    if size is None or size[0] <= 0 or size[1] <= 0:
        return MAX_IMAGE_TOKENS
    width, height = size
    scale = min(1.0, MAX_EDGE / max(width, height), math.sqrt(MAX_PIXELS / (width * height)))
    return max(1, min(MAX_IMAGE_TOKENS, math.ceil(width * height * scale * scale / 750)))
