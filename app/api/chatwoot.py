"""`POST /webhook/chatwoot`: verify, store, enqueue, answer (DESIGN rules 1, 4, 5), the
pattern of `app/api/inbox.py`.

Chatwoot signs each delivery with the webhook's secret (`X-Chatwoot-Signature`, see
`app/domain/inbox/chatwoot.py`); Chatwoot versions that sign nothing can carry the secret
in the path instead, `/webhook/chatwoot/token/<secret>`, as the Evolution route does. A
delivery that is neither gets 401 and nothing is stored. Chatwoot never retries, so a store
failure answers 503 only for the record; the reconciliation job recovers agent replies.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from app.api.deps import ResourcesDep
from app.api.inbox import parse_json, read_body, storing
from app.core.config import Settings
from app.core.logging import get_logger
from app.core.queue import enqueue_chatwoot_event
from app.domain.inbox import repository as inbox
from app.domain.inbox.chatwoot import HANDLED_EVENTS, delivery_key, signature_valid

log = get_logger(__name__)
router = APIRouter(tags=["webhooks"])


def authenticate(
    settings: Settings, raw: bytes, headers: Any, *, path_token: str | None, now: float
) -> None:
    secret = settings.CHATWOOT_WEBHOOK_SECRET
    if secret is None:
        if settings.is_production:
            # An open edge would let anyone write to doctors as an agent.
            raise HTTPException(503, "CHATWOOT_WEBHOOK_SECRET is not set")
        return
    expected = secret.get_secret_value()
    if path_token is not None:
        if hmac.compare_digest(path_token.encode(), expected.encode()):
            return
        raise HTTPException(401, "invalid credentials")
    if not signature_valid(
        expected,
        headers.get("x-chatwoot-timestamp"),
        headers.get("x-chatwoot-signature"),
        raw,
        now,
    ):
        raise HTTPException(401, "invalid or stale chatwoot signature")


@router.post("/webhook/chatwoot", status_code=200)
@router.post("/webhook/chatwoot/token/{path_token}", status_code=200)
async def chatwoot_webhook(
    request: Request, res: ResourcesDep, path_token: str | None = None
) -> JSONResponse:
    settings = res.settings
    if not settings.chatwoot_configured:
        return JSONResponse({"detail": "chatwoot not configured"}, status_code=503)
    raw = await read_body(request)
    try:
        authenticate(settings, raw, request.headers, path_token=path_token, now=time.time())
    except HTTPException as exc:
        if exc.status_code == 401:
            log.warning("chatwoot.rejected", by_path=path_token is not None)
        raise
    payload: Any = parse_json(raw)
    if not isinstance(payload, dict):
        raise HTTPException(400, "body is not a JSON object")
    event = str(payload.get("event") or "")
    if event not in HANDLED_EVENTS:
        return JSONResponse({"status": "ignored"})

    async with storing(log_as="chatwoot"):
        row_id = await inbox.insert_event(
            res.db,
            source="chatwoot",
            provider_id=delivery_key(payload, request.headers),
            payload=payload,
            event=event,
        )
    if row_id is not None:
        try:
            await enqueue_chatwoot_event(res.redis, row_id)
        except Exception as exc:  # stored is what matters: the sweep enqueues it
            log.warning("chatwoot.enqueue_failed", error=type(exc).__name__)
    log.info("chatwoot.stored", webhook_event=event, webhook_event_id=row_id)
    return JSONResponse({"status": "stored" if row_id is not None else "duplicate"})
