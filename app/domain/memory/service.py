"""Saving and recalling what a doctor told Julia.

Embeddings are an improvement, never a dependency: without an embedder, or when it fails,
memories are stored without a vector and recalled by recency.
"""

from __future__ import annotations

from typing import Literal

import asyncpg

from app.core.logging import get_logger
from app.domain.memory import repository
from app.domain.memory.repository import EMBEDDING_DIM, Memory
from app.integrations.protocols import Embedder

log = get_logger(__name__)

InputType = Literal["document", "query"]


async def save(
    db: asyncpg.Pool,
    embedder: Embedder | None,
    *,
    doctor_id: int,
    kind: str,
    content: str,
    source_message_id: int | None = None,
) -> bool:
    """Store a fact about the doctor (embedded when possible); False if it was already known."""
    content = content.strip()
    if not content:
        return False
    vector: list[float] | None = None
    if embedder is not None:
        vector = await _embed(embedder, content, "document", doctor_id=doctor_id)
    memory_id = await repository.insert(
        db,
        doctor_id=doctor_id,
        kind=kind,
        content=content,
        embedding=vector,
        model=embedder.model if vector is not None and embedder is not None else None,
        source_message_id=source_message_id,
    )
    return memory_id is not None


async def relevant(
    db: asyncpg.Pool,
    embedder: Embedder | None,
    *,
    doctor_id: int,
    query: str,
    limit: int = 6,
) -> list[Memory]:
    """Up to `limit` memories for the prompt: the closest to `query`, then the newest."""
    if limit <= 0:
        return []
    vector: list[float] | None = None
    if embedder is not None and query.strip():
        vector = await _embed(embedder, query, "query", doctor_id=doctor_id)
    async with db.acquire() as conn:
        if vector is None:
            return await repository.recent(conn, doctor_id, limit)
        found = await repository.nearest(conn, doctor_id, vector, limit)
        if len(found) < limit:
            seen = {m.id for m in found}
            for memory in await repository.recent(conn, doctor_id, limit):
                if len(found) >= limit:
                    break
                if memory.id not in seen:
                    found.append(memory)
        return found


async def _embed(
    embedder: Embedder, text: str, input_type: InputType, *, doctor_id: int
) -> list[float] | None:
    try:
        vectors = await embedder.embed([text], input_type=input_type)
    # The vendor's failures are many and varied (HTTP, quota, timeouts); any of them only
    # costs the vector, never the memory or the turn.
    except Exception as exc:
        log.warning(
            "memory.embed_failed",
            doctor_id=doctor_id,
            input_type=input_type,
            model=getattr(embedder, "model", None),
            error=type(exc).__name__,
        )
        return None
    if len(vectors) != 1 or len(vectors[0]) != EMBEDDING_DIM:
        log.warning(
            "memory.embed_failed",
            doctor_id=doctor_id,
            input_type=input_type,
            model=getattr(embedder, "model", None),
            error="unexpected_shape",
        )
        return None
    return list(vectors[0])
