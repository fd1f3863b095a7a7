"""`POST /webhook/evolution`: verify, store, enqueue, answer (DESIGN rules 1, 4, 5), the
pattern of `app/api/inbox.py`.

Status codes are chosen for Evolution's retry policy: it retries 5xx and timeouts, never
400/401/403/404/422. So a body that can never be stored gets a 4xx, and a store failure a
503 (retry later). A 2xx is answered only after the commit.

The route only authenticates, bounds (EVOLUTION_WEBHOOK_MAX_BYTES, over it 422), validates
(`parse_webhook`, pure), checks the instance against an in-process list, hands a doctor's
inline attachment to the worker through Redis, stores the delivery in one statement and wakes
the worker's drainer, which applies it (`app/workers/inbox_jobs.py`).
"""

from __future__ import annotations

import hmac
import time
from typing import Any

import jwt
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from app.api.inbox import parse_json, read_body, storing
from app.core.config import Settings
from app.core.logging import get_logger
from app.core.resources import Resources
from app.domain.inbox import intake
from app.domain.inbox.edge import InboxWriter, KnownInstances, inline_media, storable
from app.domain.inbox.evolution import Event, MessageEvent, WebhookError, parse_webhook
from app.domain.media.service import PROCESSED_KINDS, stash_inline
from app.domain.outbound import chips_repository as chips_repo

log = get_logger(__name__)
router = APIRouter(tags=["webhooks"])


# Clock skew tolerated between Evolution's host and ours.
JWT_LEEWAY_SECONDS = 60


def authenticate(
    authorization: str | None,
    settings: Settings,
    *,
    path_token: str | None = None,
    now: float | None = None,
) -> None:
    """Accept the secret as `Bearer <secret>`, as the `/token/<secret>` path segment (the
    global webhook sends no headers, webhook.controller.ts:168-172 at 2.3.6), or a Bearer
    HS256 JWT signed with it (Evolution's `jwt_key` mode).

    Evolution signs one JWT per delivery (exp = iat + 600 s, webhook.controller.ts:79-85,
    289) and reuses it for up to 10 tries backing off to 300 s, so a valid signature is
    accepted while its `iat` is at most EVOLUTION_WEBHOOK_JWT_MAX_AGE_SECONDS old, past its
    `exp`. A bad signature, a token without iat/exp, or an older one is refused.
    """
    secret = settings.EVOLUTION_WEBHOOK_SECRET
    if secret is None:
        return  # development: the edge is open (production requires the secret)
    expected = secret.get_secret_value().encode()
    if path_token is not None:
        if hmac.compare_digest(path_token.encode(), expected):
            return
        raise HTTPException(401, "invalid credentials")
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer credentials")
    if hmac.compare_digest(token.encode(), expected):
        return
    clock = time.time() if now is None else now
    try:
        claims = jwt.decode(
            token,
            expected,
            algorithms=["HS256"],
            options={"require": ["iat", "exp"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise HTTPException(401, "invalid credentials") from exc
    iat, exp = claims["iat"], claims["exp"]
    if not isinstance(iat, int | float) or not isinstance(exp, int | float) or exp < iat:
        raise HTTPException(401, "invalid credentials")
    max_age = settings.EVOLUTION_WEBHOOK_JWT_MAX_AGE_SECONDS
    if iat > clock + JWT_LEEWAY_SECONDS or clock - iat > max_age + JWT_LEEWAY_SECONDS:
        raise HTTPException(401, "expired credentials")


def _writer(request: Request, res: Resources) -> InboxWriter:
    writer: InboxWriter | None = getattr(request.app.state, "evolution_writer", None)
    if writer is None:
        writer = request.app.state.evolution_writer = InboxWriter(res.db, res.redis)
    return writer


def _known_instances(request: Request, res: Resources) -> KnownInstances:
    # One list per app (tests run several apps, each on its own database).
    known: KnownInstances | None = getattr(request.app.state, "evolution_instances", None)
    if known is None:
        known = KnownInstances(
            res.settings.EVOLUTION_INSTANCE,
            lambda: chips_repo.known_instances(res.db),
            res.settings.INSTANCE_CACHE_SECONDS,
        )
        request.app.state.evolution_instances = known
    return known


async def _stash_media(
    res: Resources, instance: str, payload: dict[str, Any], events: list[Event]
) -> None:
    """Hand an inline attachment of a doctor's message to the worker through Redis (never
    into webhook_events). Before the insert, so the worker finds it; a failure only costs the
    worker a fetch from Evolution. Groups' and the company's own files are not kept."""
    wanted = {
        e.message_id
        for e in events
        if isinstance(e, MessageEvent) and e.answerable and e.media_kind in PROCESSED_KINDS
    }
    if not wanted:
        return  # no doctor's attachment in this delivery
    try:
        for message_id, encoded in inline_media(payload):
            if message_id not in wanted:
                continue
            await stash_inline(
                res.redis, instance, message_id, encoded, res.settings.MEDIA_INLINE_TTL_SECONDS
            )
    except (RedisError, OSError) as exc:
        log.warning("webhook.media_stash_failed", error=type(exc).__name__)


# No FastAPI dependencies on this route: it takes thousands of deliveries a second, and
# solving dependencies per request cost more than the checks themselves. Authentication runs
# first, before the body is read (a 401 stores nothing).
@router.post("/webhook/evolution", status_code=200)
@router.post("/webhook/evolution/{event_suffix}", status_code=200)
@router.post("/webhook/evolution/token/{path_token}", status_code=200)
@router.post("/webhook/evolution/token/{path_token}/{event_suffix}", status_code=200)
async def evolution_webhook(request: Request) -> JSONResponse:
    res: Resources = request.app.state.resources
    params = request.path_params  # from the path only: a query string never authenticates
    authenticate(
        request.headers.get("authorization"), res.settings, path_token=params.get("path_token")
    )
    event_suffix: str | None = params.get("event_suffix")
    settings = res.settings
    limit = settings.EVOLUTION_WEBHOOK_MAX_BYTES
    try:
        # 422, not 413: Evolution retries a 413 ten times (webhook.controller.ts:216, 2.3.6).
        raw = await read_body(request, limit, too_large_status=422)
    except HTTPException:
        log.warning(
            "webhook.too_large",
            limit=limit,
            declared=request.headers.get("content-length"),
            webhook_event=event_suffix,
        )
        raise
    payload: Any = parse_json(raw)
    try:
        events = parse_webhook(payload, event_hint=event_suffix)
    except WebhookError as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc
    instance = str(payload.get("instance") or "")
    event_name = str(payload.get("event") or event_suffix or "")

    async with storing(log_as="webhook"):
        if not await _known_instances(request, res).contains(instance, time.monotonic()):
            raise HTTPException(403, "unknown Evolution instance")
        await _stash_media(res, instance, payload, events)
        # One statement with the deliveries that arrived meanwhile (group commit); the
        # writer wakes the drainer after the commit.
        row_id = await _writer(request, res).store(
            source="evolution",
            event=event_name,
            instance=instance,
            provider_id=intake.delivery_key(instance, events),
            payload=storable(payload),
        )
    # The delivery's one line (uvicorn's access line is left out for a 2xx here): the path
    # is masked by the log processors when it carries the token.
    log.info(
        "webhook.stored",
        path=request.url.path,
        webhook_event=event_name,
        webhook_event_id=row_id,
        duplicate=row_id is None,
    )
    return JSONResponse({"status": "stored" if row_id is not None else "duplicate"})
