"""`POST /webhook/evolution`: verify, store, enqueue, answer (DESIGN rules 1, 4, 5).

Status codes are chosen for Evolution's retry policy: it retries 5xx and timeouts, never
400/401/403/404/422. So a body that can never be stored gets a 4xx, and a store failure a
503 (retry later). A 2xx is answered only after the commit.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import asyncpg
import jwt
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from app.api.deps import ResourcesDep
from app.core.config import Settings
from app.core.db import transaction
from app.core.logging import get_logger
from app.core.queue import enqueue_turn
from app.domain.inbox import intake
from app.domain.inbox.evolution import WebhookError, parse_webhook
from app.domain.outbound import chips_repository as chips_repo

log = get_logger(__name__)
router = APIRouter(tags=["webhooks"])

MAX_BODY_BYTES = 1_000_000


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing (413) anything over `limit` without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def authenticate(authorization: str | None, settings: Settings) -> None:
    """Bearer <secret>, or a Bearer HS256 JWT signed with it (Evolution's jwt_key mode)."""
    secret = settings.EVOLUTION_WEBHOOK_SECRET
    if secret is None:
        return  # development: the edge is open (production requires the secret)
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer credentials")
    expected = secret.get_secret_value()
    if hmac.compare_digest(token.encode(), expected.encode()):
        return
    try:
        jwt.decode(token, expected, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.PyJWTError as exc:
        raise HTTPException(401, "invalid credentials") from exc


@router.post("/webhook/evolution", status_code=200)
@router.post("/webhook/evolution/{event_suffix}", status_code=200)
async def evolution_webhook(
    request: Request, res: ResourcesDep, event_suffix: str | None = None
) -> JSONResponse:
    settings = res.settings
    authenticate(request.headers.get("authorization"), settings)
    raw = await read_body(request)
    try:
        payload: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, "body is not valid JSON") from exc
    try:
        events = parse_webhook(payload, event_hint=event_suffix)
    except WebhookError as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc
    instance = str(payload.get("instance") or "")
    event_name = str(payload.get("event") or event_suffix or "")

    try:
        async with transaction(res.db) as conn:
            if instance != settings.EVOLUTION_INSTANCE and not await chips_repo.known_instance(
                conn, instance
            ):
                raise HTTPException(403, "unknown Evolution instance")
            result = await intake.record_delivery(
                conn, payload=payload, events=events, event_name=event_name, instance=instance
            )
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        log.error("webhook.store_failed", error=type(exc).__name__)
        return JSONResponse({"detail": "could not store the event, retry"}, status_code=503)

    for conversation_id, message_id in result.turns.items():
        try:
            await enqueue_turn(res.redis, conversation_id, message_id, settings)
        except Exception as exc:  # stored is what matters: the sweep enqueues it later
            log.error("webhook.enqueue_failed", conversation_id=conversation_id, error=str(exc))
    log.info(
        "webhook.stored",
        webhook_event=event_name,
        stored=result.stored,
        duplicate=result.duplicate,
    )
    return JSONResponse(
        {"status": "duplicate" if result.duplicate else "stored", "messages": result.stored}
    )
