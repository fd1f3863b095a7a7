"""What every vendor webhook route shares (DESIGN rules 1, 4, 5).

One route file per vendor (`evolution.py`, `slack.py`, `chatwoot.py`), each the same steps:
verify the caller → `read_body` (bounded: 413, or the status the vendor does not retry) →
`parse_json` (400) → store the delivery in `webhook_events` inside `inbox_transaction`, or as
one statement inside `storing` (deduplicated; a store failure answers 503 so the vendor
retries) → enqueue or wake the worker after the commit, only for a new row → answer 2xx.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import HTTPException, Request

from app.core.db import Conn, transaction
from app.core.logging import get_logger

log = get_logger(__name__)

MAX_BODY_BYTES = 1_000_000

# What "the database could not keep it" looks like: a vendor retry may succeed.
STORE_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a protocol state broken by a dropped connection
    OSError,
    TimeoutError,
)


async def read_body(
    request: Request, limit: int = MAX_BODY_BYTES, *, too_large_status: int = 413
) -> bytes:
    """The raw body, refusing (413, or `too_large_status`) anything over `limit` without
    reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(too_large_status, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(too_large_status, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or 400 (never retried: it will not parse the next time either)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, "body is not valid JSON") from exc


@asynccontextmanager
async def inbox_transaction(pool: asyncpg.Pool, *, log_as: str) -> AsyncIterator[Conn]:
    """The route's transaction around storing a delivery. If the database cannot keep it
    the answer is 503 (logged as `<log_as>.store_failed`): never a 2xx for something not
    kept. Other errors, an HTTPException included, pass through after the rollback."""
    try:
        async with transaction(pool) as conn:
            yield conn
    except STORE_ERRORS as exc:
        log.error(f"{log_as}.store_failed", error=type(exc).__name__)
        raise HTTPException(503, "could not store the event, retry") from exc


@asynccontextmanager
async def storing(*, log_as: str) -> AsyncIterator[None]:
    """Around a store that is one statement on the pool (its own implicit transaction):
    the same 503 as `inbox_transaction` when the database cannot keep it."""
    try:
        yield
    except STORE_ERRORS as exc:
        log.error(f"{log_as}.store_failed", error=type(exc).__name__)
        raise HTTPException(503, "could not store the event, retry") from exc
