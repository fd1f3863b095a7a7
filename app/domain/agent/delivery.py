"""How a reply reaches WhatsApp: split into short messages, paced like a person typing.

Only the pure part lives here: what the parts are and how long to wait before each. The
sending itself (typing indicator, sendText, idempotency) belongs to the outbound gateway.

Splitting: the model separates messages with a blank line, and each blank-line part is one
WhatsApp message. A single newline inside a part is kept as a line break, because that is
what a person does on WhatsApp when two short lines belong together ("sábado, 19h às 7h"
over "R$ 1.800"); joining them with a space would run two thoughts into one sentence.
"""

from __future__ import annotations

import math
import random
import re
from typing import Final

READING_MIN: Final = 1.0
READING_MAX: Final = 4.0
TYPING_MIN: Final = 1.2
TYPING_MAX: Final = 9.0
# Added on top of the clamped typing time, so two equal parts are not sent at equal gaps.
TYPING_JITTER: Final = 0.5

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# After ". ", "! ", "? ", "…" (and runs like "?!"), but not after "Dr." and similar.
_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*(\s+)")
_ABBREVIATIONS: Final = frozenset(
    {"dr", "dra", "drs", "dras", "sr", "sra", "srta", "av", "prof", "profa", "sto", "sta", "n"}
)


def split_reply(text: str, *, max_parts: int = 4, max_chars: int = 220) -> list[str]:
    """The WhatsApp messages for one reply, in order.

    Parts are separated by blank lines; a part longer than `max_chars` is cut at sentence
    ends (then at commas, then between words; a single word longer than `max_chars` stays
    whole). Single newlines inside a part stay as line breaks. Parts are stripped and empty
    ones dropped. When there are more than `max_parts`, the trailing ones are joined into
    the last allowed part with line breaks: nothing is ever dropped, so that part may exceed
    `max_chars`.
    """
    if max_parts < 1 or max_chars < 1:
        raise ValueError("max_parts and max_chars must be positive")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        lines = [" ".join(line.split()) for line in paragraph.split("\n")]
        part = "\n".join(line for line in lines if line)
        if part:
            parts.extend(_fit(part, max_chars))
    if len(parts) > max_parts:
        parts[max_parts - 1 :] = ["\n".join(parts[max_parts - 1 :])]
    return parts


def _fit(part: str, max_chars: int) -> list[str]:
    if len(part) <= max_chars:
        return [part]
    # Line breaks first, then sentences, then clauses, then words: each piece is the
    # largest unit that still fits.
    pieces: list[tuple[str, str]] = []  # (text, separator that followed it)
    lines = part.split("\n")
    for index, line in enumerate(lines):
        after_line = "\n" if index < len(lines) - 1 else ""
        sentences = _sentences(line)
        for s_index, sentence in enumerate(sentences):
            after = " " if s_index < len(sentences) - 1 else after_line
            if len(sentence) <= max_chars:
                pieces.append((sentence, after))
                continue
            chunks = _wrap(sentence, max_chars)
            pieces.extend((chunk, " ") for chunk in chunks[:-1])
            pieces.append((chunks[-1], after))
    return _pack(pieces, max_chars)


def _sentences(line: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(line):
        sentence = line[start : match.start(1)]
        if sentence.rsplit(" ", 1)[-1].rstrip(".").lower() in _ABBREVIATIONS:
            continue
        sentences.append(sentence.strip())
        start = match.end(1)
    sentences.append(line[start:].strip())
    return [s for s in sentences if s]


def _wrap(sentence: str, max_chars: int) -> list[str]:
    """A sentence too long for one message: cut after commas/semicolons, else between words."""
    clauses = [c for c in re.split(r"(?<=[,;:])\s+", sentence) if c]
    words: list[str] = []
    for clause in clauses:
        if len(clause) <= max_chars:
            words.append(clause)
        else:
            words.extend(clause.split(" "))
    chunks: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= max_chars or not current:
            current = candidate
        else:
            chunks.append(current)
            current = word
    if current:
        chunks.append(current)
    return chunks


def _pack(pieces: list[tuple[str, str]], max_chars: int) -> list[str]:
    """Greedily join consecutive pieces while they fit, keeping their separators."""
    chunks: list[str] = []
    current = ""
    pending = ""
    for text, after in pieces:
        candidate = f"{current}{pending}{text}" if current else text
        if len(candidate) <= max_chars or not current:
            current = candidate
        else:
            chunks.append(current)
            current = text
        pending = after
    if current:
        chunks.append(current)
    return chunks


def reading_delay(inbound_chars: int, *, scale: float, rng: random.Random) -> float:
    """Seconds to "read" the doctor's message before the typing indicator starts.

    Between 1 and 4 seconds: about 1 s for "ok", growing slowly and levelling off for long
    messages, with a little jitter. Multiplied by `scale`; 0 when `scale` is 0 or less.
    """
    if scale <= 0:
        return 0.0
    growth = 1.0 - math.exp(-max(inbound_chars, 0) / 300.0)
    base = READING_MIN + (READING_MAX - READING_MIN - 0.5) * growth
    return min(READING_MAX, base + rng.uniform(0.0, 0.5)) * scale


def typing_delay(text: str, *, scale: float, rng: random.Random) -> float:
    """Seconds of "typing" before sending `text` (also the gap between parts of a reply).

    Length divided by a typing speed drawn from 5 to 8 characters a second, clamped to
    [1.2, 9] s, plus up to 0.5 s of jitter. Multiplied by `scale`; 0 when `scale` is 0 or
    less.
    """
    if scale <= 0:
        return 0.0
    speed = rng.uniform(5.0, 8.0)
    seconds = min(TYPING_MAX, max(TYPING_MIN, len(text.strip()) / speed))
    return (seconds + rng.uniform(0.0, TYPING_JITTER)) * scale
