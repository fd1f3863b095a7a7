"""Memories: dedupe, embeddings when available, similarity ranking and recency fallback."""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import AsyncIterator
from typing import Any, Literal

import asyncpg
import numpy as np
import pytest

from app.core.db import create_pool
from app.domain.memory import repository, service

DIM = 1024


def _words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return re.findall(r"[a-z0-9]+", plain)


class FakeEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words are close."""

    model = "fake-bow-1024"

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str]] = []

    async def embed(
        self, texts: list[str], *, input_type: Literal["document", "query"]
    ) -> list[list[float]]:
        self.calls.append((list(texts), input_type))
        vectors = []
        for text in texts:
            vector = np.zeros(DIM, dtype=np.float32)
            vector[0] = 0.1  # never a zero vector (cosine distance would be NaN)
            for word in _words(text):
                vector[1 + zlib.crc32(word.encode()) % (DIM - 1)] += 1.0
            vectors.append((vector / np.linalg.norm(vector)).tolist())
        return vectors


class FailingEmbedder:
    model = "broken"

    async def embed(
        self, texts: list[str], *, input_type: Literal["document", "query"]
    ) -> list[list[float]]:
        raise ConnectionError("voyage is down")


class WrongShapeEmbedder:
    model = "short"

    async def embed(
        self, texts: list[str], *, input_type: Literal["document", "query"]
    ) -> list[list[float]]:
        return [[1.0, 0.0, 0.0] for _ in texts]


class RecordingLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.events.append(("warning", event, kw))


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=3)
    yield pool
    await pool.close()


@pytest.fixture
async def doctor_id(pool: asyncpg.Pool) -> int:
    value: int = await pool.fetchval(
        "INSERT INTO doctors (phone) VALUES ('5511900000001') RETURNING id"
    )
    return value


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> RecordingLog:
    recorder = RecordingLog()
    monkeypatch.setattr(service, "log", recorder)
    return recorder


FACTS = [
    ("preferencia", "Prefere plantão noturno"),
    ("localizacao", "Mora em Campinas"),
    ("restricao", "Não trabalha no Hospital Vila Nova"),
    ("qualificacao", "Tem RQE em pediatria"),
    ("disponibilidade", "Só pode aos fins de semana"),
]


async def _save_all(pool: asyncpg.Pool, embedder: Any, doctor_id: int) -> None:
    for kind, content in FACTS:
        assert await service.save(pool, embedder, doctor_id=doctor_id, kind=kind, content=content)


async def test_insert_dedupes_per_doctor(pool: asyncpg.Pool, doctor_id: int) -> None:
    other = await pool.fetchval("INSERT INTO doctors (phone) VALUES ('5511900000002') RETURNING id")
    common = {"kind": "preferencia", "embedding": None, "model": None, "source_message_id": None}
    first = await repository.insert(pool, doctor_id=doctor_id, content="Prefere noite", **common)
    assert isinstance(first, int)
    again = await repository.insert(pool, doctor_id=doctor_id, content="Prefere noite", **common)
    assert again is None
    # the same words for another doctor are another memory
    assert await repository.insert(pool, doctor_id=other, content="Prefere noite", **common)
    assert [m.content for m in await repository.recent(pool, doctor_id, 10)] == ["Prefere noite"]


async def test_save_without_embedder_stores_plain_memory(
    pool: asyncpg.Pool, doctor_id: int
) -> None:
    assert await service.save(
        pool, None, doctor_id=doctor_id, kind="preferencia", content="  Prefere noturno  "
    )
    assert not await service.save(
        pool, None, doctor_id=doctor_id, kind="preferencia", content="Prefere noturno"
    )
    assert not await service.save(pool, None, doctor_id=doctor_id, kind="outro", content="   ")
    row = await pool.fetchrow("SELECT kind, content, embedding, embedding_model FROM memories")
    assert dict(row) == {
        "kind": "preferencia",
        "content": "Prefere noturno",
        "embedding": None,
        "embedding_model": None,
    }


async def test_save_with_embedder_stores_the_document_vector(
    pool: asyncpg.Pool, doctor_id: int
) -> None:
    embedder = FakeEmbedder()
    message_id = None
    assert await service.save(
        pool,
        embedder,
        doctor_id=doctor_id,
        kind="localizacao",
        content="Mora em Campinas",
        source_message_id=message_id,
    )
    assert embedder.calls == [(["Mora em Campinas"], "document")]
    row = await pool.fetchrow("SELECT embedding, embedding_model FROM memories")
    assert row["embedding_model"] == "fake-bow-1024"
    expected = (await FakeEmbedder().embed(["Mora em Campinas"], input_type="document"))[0]
    assert np.allclose(row["embedding"].to_numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("embedder", [FailingEmbedder(), WrongShapeEmbedder()])
async def test_save_survives_a_broken_embedder(
    pool: asyncpg.Pool, doctor_id: int, captured: RecordingLog, embedder: Any
) -> None:
    assert await service.save(
        pool, embedder, doctor_id=doctor_id, kind="localizacao", content="Mora em Campinas"
    )
    row = await pool.fetchrow("SELECT content, embedding, embedding_model FROM memories")
    assert (row["content"], row["embedding"], row["embedding_model"]) == (
        "Mora em Campinas",
        None,
        None,
    )
    assert [(level, event) for level, event, _ in captured.events] == [
        ("warning", "memory.embed_failed")
    ]
    # the content never reaches the log
    assert "Campinas" not in repr(captured.events)


async def test_relevant_ranks_by_similarity_to_the_query(
    pool: asyncpg.Pool, doctor_id: int
) -> None:
    embedder = FakeEmbedder()
    await _save_all(pool, embedder, doctor_id)
    embedder.calls.clear()

    found = await service.relevant(
        pool, embedder, doctor_id=doctor_id, query="tem plantão noturno?", limit=1
    )
    assert [m.content for m in found] == ["Prefere plantão noturno"]
    assert embedder.calls == [(["tem plantão noturno?"], "query")]

    found = await service.relevant(
        pool, embedder, doctor_id=doctor_id, query="vaga de pediatria em Campinas", limit=2
    )
    assert {m.content for m in found} == {"Tem RQE em pediatria", "Mora em Campinas"}

    everything = await service.relevant(
        pool, embedder, doctor_id=doctor_id, query="hospital Vila Nova", limit=10
    )
    assert everything[0].content == "Não trabalha no Hospital Vila Nova"
    assert len(everything) == len(FACTS)
    assert len({m.id for m in everything}) == len(FACTS)


async def test_relevant_tops_up_with_recent_memories_without_embeddings(
    pool: asyncpg.Pool, doctor_id: int, captured: RecordingLog
) -> None:
    embedder = FakeEmbedder()
    await service.save(pool, embedder, doctor_id=doctor_id, kind="preferencia", content=FACTS[0][1])
    await service.save(pool, embedder, doctor_id=doctor_id, kind="localizacao", content=FACTS[1][1])
    # stored while the embedder was down: no vector, still recalled by recency
    await service.save(
        pool, FailingEmbedder(), doctor_id=doctor_id, kind="restricao", content=FACTS[2][1]
    )
    await service.save(pool, None, doctor_id=doctor_id, kind="qualificacao", content=FACTS[3][1])

    found = await service.relevant(
        pool, embedder, doctor_id=doctor_id, query="mora onde? Campinas", limit=3
    )
    assert [m.content for m in found] == [
        "Mora em Campinas",  # nearest
        "Prefere plantão noturno",  # the only other embedded one
        "Tem RQE em pediatria",  # newest of the rest
    ]


async def test_relevant_without_embedder_is_the_most_recent(
    pool: asyncpg.Pool, doctor_id: int
) -> None:
    await _save_all(pool, None, doctor_id)
    found = await service.relevant(pool, None, doctor_id=doctor_id, query="noturno", limit=3)
    assert [m.content for m in found] == [c for _, c in reversed(FACTS)][:3]
    assert found[0].kind == "disponibilidade" and found[0].doctor_id == doctor_id
    assert await service.relevant(pool, None, doctor_id=doctor_id, query="x", limit=0) == []


async def test_relevant_with_a_failing_embedder_falls_back_to_recency(
    pool: asyncpg.Pool, doctor_id: int, captured: RecordingLog
) -> None:
    await _save_all(pool, FakeEmbedder(), doctor_id)
    found = await service.relevant(
        pool, FailingEmbedder(), doctor_id=doctor_id, query="plantão noturno", limit=2
    )
    assert [m.content for m in found] == [FACTS[4][1], FACTS[3][1]]
    assert [event for _, event, _ in captured.events] == ["memory.embed_failed"]
    assert captured.events[0][2]["input_type"] == "query"


async def test_relevant_with_an_empty_query_skips_the_embedder(
    pool: asyncpg.Pool, doctor_id: int
) -> None:
    await _save_all(pool, None, doctor_id)
    embedder = FakeEmbedder()
    found = await service.relevant(pool, embedder, doctor_id=doctor_id, query="  ", limit=2)
    assert [m.content for m in found] == [FACTS[4][1], FACTS[3][1]]
    assert embedder.calls == []


async def test_memories_are_per_doctor(pool: asyncpg.Pool, doctor_id: int) -> None:
    embedder = FakeEmbedder()
    other = await pool.fetchval("INSERT INTO doctors (phone) VALUES ('5511900000002') RETURNING id")
    await service.save(pool, embedder, doctor_id=other, kind="preferencia", content="Prefere UTI")
    await service.save(pool, embedder, doctor_id=doctor_id, kind="outro", content="Gosta de PS")
    vector = (await embedder.embed(["Prefere UTI"], input_type="query"))[0]
    nearest = await repository.nearest(pool, doctor_id, vector, 5)
    assert [m.content for m in nearest] == ["Gosta de PS"]
    recent = await service.relevant(pool, embedder, doctor_id=doctor_id, query="UTI", limit=5)
    assert [m.content for m in recent] == ["Gosta de PS"]
