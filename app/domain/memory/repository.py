"""SQL for memories: facts about a doctor, optionally embedded for similarity search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
import numpy as np

from app.core.db import Executor

# memories.embedding is vector(1024) (voyage-3.5-lite).
EMBEDDING_DIM = 1024


@dataclass(frozen=True, slots=True)
class Memory:
    id: int
    doctor_id: int
    kind: str
    content: str
    created_at: datetime


_COLUMNS = "id, doctor_id, kind, content, created_at"


def _memory(row: asyncpg.Record) -> Memory:
    return Memory(**dict(row.items()))


async def insert(
    conn: Executor,
    *,
    doctor_id: int,
    kind: str,
    content: str,
    embedding: list[float] | None,
    model: str | None,
    source_message_id: int | None,
) -> int | None:
    """Store a memory; None when the doctor already has one with the same content."""
    vector = None if embedding is None else np.asarray(embedding, dtype=np.float32)
    memory_id: int | None = await conn.fetchval(
        """
        INSERT INTO memories (doctor_id, kind, content, embedding, embedding_model,
                              source_message_id)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (doctor_id, md5(content)) DO NOTHING
        RETURNING id
        """,
        doctor_id,
        kind,
        content,
        vector,
        model if vector is not None else None,
        source_message_id,
    )
    return memory_id


async def recent(conn: Executor, doctor_id: int, limit: int) -> list[Memory]:
    """The doctor's newest memories, newest first."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM memories WHERE doctor_id = $1
            ORDER BY created_at DESC, id DESC LIMIT $2""",
        doctor_id,
        limit,
    )
    return [_memory(r) for r in rows]


async def nearest(conn: Executor, doctor_id: int, vector: list[float], limit: int) -> list[Memory]:
    """The doctor's embedded memories closest to `vector` by cosine distance, closest first."""
    # An exact scan over one doctor's rows (a few dozen): the MATERIALIZED CTE keeps the
    # planner off the global HNSW index, whose filtered scan could return too few rows.
    rows = await conn.fetch(
        f"""
        WITH mine AS MATERIALIZED (
            SELECT {_COLUMNS}, embedding FROM memories
            WHERE doctor_id = $1 AND embedding IS NOT NULL
        )
        SELECT {_COLUMNS} FROM mine
        ORDER BY embedding <=> $2, created_at DESC, id DESC
        LIMIT $3
        """,
        doctor_id,
        np.asarray(vector, dtype=np.float32),
        limit,
    )
    return [_memory(r) for r in rows]
