from __future__ import annotations

import random

import pytest

from app.domain.agent.delivery import (
    READING_MAX,
    READING_MIN,
    TYPING_JITTER,
    TYPING_MAX,
    TYPING_MIN,
    reading_delay,
    split_reply,
    typing_delay,
)

# split_reply -------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return text.split()


def test_blank_lines_separate_messages() -> None:
    text = "oi, tudo bem?\n\ntenho um noturno sábado\n\n\n  \nvc topa?"
    assert split_reply(text) == ["oi, tudo bem?", "tenho um noturno sábado", "vc topa?"]


def test_single_newlines_stay_as_line_breaks() -> None:
    text = "Hospital Vida Nova\nsábado, 19h às 7h\n\nquer?"
    assert split_reply(text) == ["Hospital Vida Nova\nsábado, 19h às 7h", "quer?"]


def test_parts_are_stripped_and_spaces_tidied() -> None:
    assert split_reply("  oi   tudo  bem?  \r\n\r\n  blz \t ") == ["oi tudo bem?", "blz"]


@pytest.mark.parametrize("text", ["", "   ", "\n\n\n", " \t\n \n"])
def test_nothing_to_send(text: str) -> None:
    assert split_reply(text) == []


def test_long_part_is_cut_at_sentence_ends() -> None:
    first = "Esse plantão é no Hospital Vida Nova, no centro, com estacionamento."
    second = "A equipe é tranquila e o PS costuma ter movimento moderado à noite."
    third = "Se vc quiser eu te passo mais detalhes!"
    parts = split_reply(f"{first} {second} {third}", max_chars=140)
    assert parts == [f"{first} {second}", third]


def test_abbreviations_are_not_sentence_ends() -> None:
    text = "quem coordena é o Dr. Paulo Henrique, ele é bem tranquilo. " * 3
    for part in split_reply(text, max_chars=80):
        assert not part.endswith("Dr.")


def test_sentence_longer_than_max_is_cut_between_words() -> None:
    text = " ".join(["plantão"] * 80)
    parts = split_reply(text, max_chars=50, max_parts=100)
    assert all(len(p) <= 50 for p in parts)
    assert words(" ".join(parts)) == words(text)


def test_a_word_longer_than_max_stays_whole() -> None:
    url = "https://maps.example.com/" + "x" * 300
    parts = split_reply(f"o endereço é {url} blz", max_chars=100)
    assert url in parts
    assert words(" ".join(parts)) == words(f"o endereço é {url} blz")


def test_extra_parts_are_merged_into_the_last_allowed_one() -> None:
    text = "um\n\ndois\n\ntrês\n\nquatro\n\ncinco\n\nseis"
    assert split_reply(text, max_parts=4) == ["um", "dois", "três", "quatro\ncinco\nseis"]
    assert split_reply(text, max_parts=1) == ["um\ndois\ntrês\nquatro\ncinco\nseis"]


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        split_reply("oi", max_parts=0)
    with pytest.raises(ValueError):
        split_reply("oi", max_chars=0)


_WORDS = (
    "oi tudo bem? plantão noturno sábado R$ 1.800, Dr. Paulo. topa! Hospital Vida Nova; "
    '19h às 7h vc pra tá blz. muito-bom https://example.com/abc ok? "sim."'
)
VOCABULARY = [*_WORDS.split(), "x" * 300]  # the last is longer than any max_chars


def random_reply(rng: random.Random) -> str:
    pieces: list[str] = []
    for _ in range(rng.randint(0, 120)):
        pieces.append(rng.choice(VOCABULARY))
        pieces.append(rng.choice([" ", " ", " ", "  ", "\n", "\n\n", " \n \n "]))
    return "".join(pieces)


@pytest.mark.parametrize("seed", range(300))
def test_split_properties(seed: int) -> None:
    rng = random.Random(seed)
    text = random_reply(rng)
    max_parts = rng.randint(1, 6)
    max_chars = rng.randint(40, 260)
    parts = split_reply(text, max_parts=max_parts, max_chars=max_chars)

    assert words(" ".join(parts)) == words(text)  # every word, in order
    assert len(parts) <= max_parts
    for part in parts:
        assert part and part == part.strip()
        assert "\n\n" not in part
    # Only the last part may exceed max_chars (it absorbs the overflow), or a part that is a
    # single word longer than max_chars.
    for part in parts[:-1]:
        assert len(part) <= max_chars or len(words(part)) == 1
    if len(split_reply(text, max_parts=1000, max_chars=max_chars)) <= max_parts and parts:
        assert len(parts[-1]) <= max_chars or len(words(parts[-1])) == 1


# Delays ------------------------------------------------------------------------------------


@pytest.mark.parametrize("chars", [0, 1, 5, 40, 200, 800, 5000])
def test_reading_delay_bounds(chars: int) -> None:
    for seed in range(200):
        delay = reading_delay(chars, scale=1.0, rng=random.Random(seed))
        assert READING_MIN <= delay <= READING_MAX


def test_reading_delay_grows_slowly_with_length() -> None:
    def mean(chars: int) -> float:
        rng = random.Random(1)
        return sum(reading_delay(chars, scale=1.0, rng=rng) for _ in range(500)) / 500

    short, medium, long = mean(5), mean(300), mean(3000)
    assert short < medium < long
    assert short < 1.6
    assert long - medium < medium - short + 1.0  # levels off


@pytest.mark.parametrize(
    "text", ["ok", "blz", "tenho um noturno sábado no Vida Nova", "x" * 40, "x" * 500, "x" * 5000]
)
def test_typing_delay_bounds(text: str) -> None:
    for seed in range(200):
        delay = typing_delay(text, scale=1.0, rng=random.Random(seed))
        assert TYPING_MIN <= delay <= TYPING_MAX + TYPING_JITTER


def test_typing_delay_follows_length() -> None:
    rng = random.Random(3)
    short = [typing_delay("ok", scale=1.0, rng=rng) for _ in range(100)]
    rng = random.Random(3)
    medium = [typing_delay("x" * 40, scale=1.0, rng=rng) for _ in range(100)]
    assert max(short) <= TYPING_MIN + TYPING_JITTER
    # 40 chars at 5–8 chars/s is 5–8 s.
    assert all(5.0 <= d <= 8.0 + TYPING_JITTER for d in medium)
    assert min(typing_delay("x" * 2000, scale=1.0, rng=random.Random(s)) for s in range(50)) >= 9.0


@pytest.mark.parametrize("scale", [0, 0.0, -1.0])
def test_zero_scale_means_no_delay(scale: float) -> None:
    rng = random.Random(7)
    assert reading_delay(300, scale=scale, rng=rng) == 0.0
    assert typing_delay("tenho um noturno sábado", scale=scale, rng=rng) == 0.0


def test_scale_multiplies() -> None:
    for seed in range(50):
        base = typing_delay("tenho um noturno", scale=1.0, rng=random.Random(seed))
        assert typing_delay("tenho um noturno", scale=0.5, rng=random.Random(seed)) == (
            pytest.approx(base * 0.5)
        )
        base = reading_delay(120, scale=1.0, rng=random.Random(seed))
        assert reading_delay(120, scale=2.0, rng=random.Random(seed)) == pytest.approx(base * 2)


def test_delays_are_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [reading_delay(80, scale=1.0, rng=rng)] + [
            typing_delay(part, scale=1.0, rng=rng) for part in ("oi", "tenho vaga sábado", "topa?")
        ]

    assert run(42) == run(42)
    assert run(42) != run(43)
