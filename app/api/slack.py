"""`POST /slack/events`: the Slack Events API. Verify, store, enqueue, answer (DESIGN rules
1, 4, 5), the pattern of `app/api/inbox.py`.

Slack wants an answer within 3 s and retries otherwise (`X-Slack-Retry-Num`), so the command
runs in the worker (`run_slack_command`); retries are deduplicated by `event_id` in
`webhook_events`. The one exception is `pausar`: its julia_status row is written here, in
the transaction that stores the event, so the emergency stop holds when Slack gets its
answer, whether or not a worker is up; the job only answers in the thread. A request
without a valid v0 signature from the last 5 minutes gets 401 and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from slack_sdk.signature import SignatureVerifier

from app.api.deps import ResourcesDep
from app.api.inbox import inbox_transaction, parse_json, read_body
from app.core.logging import get_logger
from app.core.queue import enqueue_slack_command
from app.domain.inbox.repository import store_slack_event
from app.domain.operations.commands import parse_command, pause_at_edge

log = get_logger(__name__)
router = APIRouter(tags=["slack"])


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """Slack's v0 signature over `v0:{timestamp}:{body}`, timestamp within 5 minutes."""
    try:
        return SignatureVerifier(secret).is_valid(
            body=body,
            timestamp=headers.get("x-slack-request-timestamp"),
            signature=headers.get("x-slack-signature"),
        )
    except (ValueError, UnicodeDecodeError):  # a timestamp or body that is not even text
        return False


def _ignored(why: str) -> JSONResponse:
    log.info("slack.ignored", reason=why)
    return JSONResponse({"status": "ignored"})


@router.post("/slack/events", status_code=200)
async def slack_events(request: Request, res: ResourcesDep) -> Any:
    secret = res.settings.SLACK_SIGNING_SECRET
    if secret is None:
        return JSONResponse({"detail": "slack not configured"}, status_code=503)
    raw = await read_body(request)
    if not verify(secret.get_secret_value(), raw, request.headers):
        log.warning("slack.rejected", retry=request.headers.get("x-slack-retry-num"))
        raise HTTPException(401, "invalid slack signature")
    payload: Any = parse_json(raw)
    if not isinstance(payload, dict):
        raise HTTPException(400, "body is not a JSON object")

    kind = payload.get("type")
    if kind == "url_verification":
        return {"challenge": payload.get("challenge")}
    if kind != "event_callback":
        return _ignored(f"type:{kind}")
    event = payload.get("event")
    if not isinstance(event, dict) or event.get("type") != "app_mention":
        return _ignored("event_type")
    if event.get("bot_id") or event.get("subtype"):
        return _ignored("bot_message")
    event_id = payload.get("event_id")
    channel = event.get("channel")
    if not isinstance(event_id, str) or not event_id or not isinstance(channel, str):
        raise HTTPException(400, "event_callback without event_id or channel")

    user = event.get("user") if isinstance(event.get("user"), str) else None
    async with inbox_transaction(res.db, log_as="slack") as conn:
        new, status = await store_slack_event(conn, event_id=event_id, payload=payload)
        if new:
            # The emergency stop holds before Slack gets its answer, worker or no worker.
            command = parse_command(str(event.get("text") or ""))
            await pause_at_edge(conn, res.settings, command, user=user, event_id=event_id)

    retry = request.headers.get("x-slack-retry-num")
    if status == "received":
        # Also for a retry of a stored event whose job never got queued. The job id makes a
        # second enqueue of a queued job a no-op, and the job skips an event already done.
        try:
            await enqueue_slack_command(res.redis, event_id)
        except Exception as exc:
            log.error("slack.enqueue_failed", event_id=event_id, error=str(exc))
            return JSONResponse({"detail": "could not queue the command, retry"}, status_code=503)
    log.info("slack.stored", event_id=event_id, duplicate=not new, retry=retry)
    return {"status": "stored" if new else "duplicate"}
