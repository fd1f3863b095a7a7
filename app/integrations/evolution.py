"""Evolution API v2 client (the WhatsApp gateway) and the development sandbox outbox."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from typing import Any

import httpx
from redis.asyncio import Redis

from app.integrations.protocols import MediaFile, MediaUnavailable, SendError, SendOutcome

SANDBOX_OUTBOX_KEY = "julia:sandbox:outbox"
_SANDBOX_MAXLEN = 5000
# How long sendPresence's answer is awaited; a presence still running is not an error.
PRESENCE_ANSWER_WAIT_S = 1.0


class EvolutionSender:
    """`sendText` and `sendPresence` over Evolution's REST API.

    Evolution's own `delay` option on sendText is never used: it makes the request block for
    the delay, and a client timeout during it would re-send. Julia waits on her side instead.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float | None = None,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"apikey": api_key}
        # How long sendText's answer is awaited (the client's own timeout when not given).
        self._timeout: httpx.Timeout | Any = (
            httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))
            if timeout_s is not None
            else httpx.USE_CLIENT_DEFAULT
        )

    async def send_text(self, instance: str, number: str, text: str) -> str:
        try:
            response = await self._http.post(
                f"{self._base}/message/sendText/{instance}",
                json={"number": number, "text": text},
                headers=self._headers,
                timeout=self._timeout,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The request never left (refused, DNS, no connection): sending again is safe.
            raise SendError(
                f"evolution unreachable: {type(exc).__name__}", outcome="not_sent"
            ) from exc
        except httpx.HTTPError as exc:
            # Sent, then no answer: Evolution may have delivered it.
            raise SendError(
                f"evolution request failed: {type(exc).__name__}", outcome="unknown"
            ) from exc
        if response.status_code >= 400:
            outcome, detail = classify_send_failure(response)
            raise SendError(
                f"evolution sendText answered {response.status_code}: {detail}", outcome=outcome
            )
        try:
            message_id = response.json()["key"]["id"]
        except (ValueError, KeyError, TypeError):
            message_id = None
        return str(message_id) if message_id else f"unknown-{secrets.token_hex(6)}"

    async def send_presence(self, instance: str, number: str, delay_ms: int) -> None:
        """Show "digitando…" for `delay_ms`, returning within about a second.

        Evolution holds its answer until the delay is over
        (whatsapp.baileys.service.ts:2434-2444 at 2.3.6), and its handler goes on to the
        final "paused" whether or not the caller still listens. Holding the connection that
        long would let a hundred doctors "typing" take every pooled connection sendText
        needs, so an answer not back after PRESENCE_ANSWER_WAIT_S means the presence is
        running: the connection is dropped, and a quick error answer is simply ignored.
        """
        try:
            await self._http.post(
                f"{self._base}/chat/sendPresence/{instance}",
                json={"number": number, "presence": "composing", "delay": delay_ms},
                headers=self._headers,
                timeout=httpx.Timeout(5.0, read=PRESENCE_ANSWER_WAIT_S),
            )
        except httpx.HTTPError:
            # Typing is cosmetic; the message itself matters.
            return


class EvolutionChatwootFinder:
    """`GET /chatwoot/find/{instance}`: whether Evolution's own Chatwoot integration is on.

    Evolution 2.3.6 answers 200 with the instance's ChatwootDto and a `webhook_url`
    (chatwoot.controller.ts `findChatwoot`, routes/chatwoot.router.ts), `enabled: false`
    when nothing is set, and 400 "Chatwoot is disabled" when the server runs without
    CHATWOOT_ENABLED. The answer carries the Chatwoot token: only `enabled` is read.
    """

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"apikey": api_key}

    async def chatwoot_enabled(self, instance: str) -> bool:
        response = await self._http.get(
            f"{self._base}/chatwoot/find/{instance}", headers=self._headers, timeout=10.0
        )
        if response.status_code == 400:
            return False  # Chatwoot is disabled in this Evolution server
        response.raise_for_status()
        body = response.json()
        return isinstance(body, dict) and body.get("enabled") is True


# Baileys' errors, as Evolution's `error.toString()` renders them in a 400.
_NOT_SENT = re.compile(r"connection closed|not connected|connection is not open", re.IGNORECASE)
_MAYBE_SENT = re.compile(r"timed out|timeout", re.IGNORECASE)
# `error.toString()` of a thrown Error: "Error: ...", "TypeError: ...", "Boom: ..."
_EXCEPTION = re.compile(r"^\w*(Error|Boom)\b.*:", re.IGNORECASE)


def classify_send_failure(response: httpx.Response) -> tuple[SendOutcome, str]:
    """What a failed sendText means, from Evolution's error body (src/main.ts:110-116 at
    2.3.6: `{"status", "error", "response": {"message": [...]}}`), and a short detail.

    Evolution answers 400 for every exception of the send itself
    (whatsapp.baileys.service.ts:2393-2396), so the message decides: "Connection Closed"
    never left, "Timed Out" may have gone, `{"exists": false}` is a number without
    WhatsApp. A 400 that names no exception is a request Evolution refused before sending.
    """
    status = response.status_code
    if status in (502, 503):
        return "not_sent", "gateway unavailable"  # the proxy in front had no Evolution
    if status == 504:
        return "unknown", "gateway timeout"  # the proxy gave up on an Evolution still working
    if status >= 500:
        # Evolution answers a failed send itself with a 400 (above); a 5xx is the server
        # failing around it (src/main.ts:110-116), before the message reached Baileys. Sent
        # again after a wait, and a late `send.message` echo, if it did go, marks it sent
        # first (app/domain/inbox/intake.py), so it is not doubled.
        return "not_sent", "server error"
    if status != 400:
        return "rejected", "refused"  # 401 apikey, 404 instance, 413, 422: fails again
    try:
        body = response.json()
        messages = body["response"]["message"]
    except (ValueError, KeyError, TypeError):
        return "unknown", "unreadable 400"
    items = messages if isinstance(messages, list) else [messages]
    for item in items:
        if isinstance(item, dict) and item.get("exists") is False:
            return "rejected", "number without WhatsApp"
    texts = [item for item in items if isinstance(item, str)]
    if any(_NOT_SENT.search(t) for t in texts):
        return "not_sent", "connection closed"
    if any(_MAYBE_SENT.search(t) for t in texts):
        return "unknown", "timed out"
    if any(_EXCEPTION.match(t) for t in texts):
        return "unknown", "send exception"
    return "rejected", "bad request"


class SandboxSender:
    """Development without Evolution: messages go to a Redis stream `julia chat` reads."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def send_text(self, instance: str, number: str, text: str) -> str:
        message_id = "SANDBOX" + secrets.token_hex(8).upper()
        entry = {"instance": instance, "number": number, "text": text, "id": message_id}
        await self._redis.xadd(
            SANDBOX_OUTBOX_KEY,
            {"json": json.dumps(entry | {"ts": time.time()})},
            maxlen=_SANDBOX_MAXLEN,
            approximate=True,
        )
        return message_id

    async def send_presence(self, instance: str, number: str, delay_ms: int) -> None:
        await self._redis.xadd(
            SANDBOX_OUTBOX_KEY,
            {"json": json.dumps({"presence": "composing", "number": number, "ts": time.time()})},
            maxlen=_SANDBOX_MAXLEN,
            approximate=True,
        )


class EvolutionMediaSource:
    """`POST /chat/getBase64FromMediaMessage/{instance}` with `{"message": {"key": {"id"}}}`:
    Evolution looks the message up by id and answers 201 `{mediaType, fileName, caption,
    size, mimetype, base64}` (whatsapp.baileys.service.ts `getBase64FromMediaMessage`,
    chat.router.ts at 2.3.6), or 400 when it cannot (not found, not media, download failed).
    """

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, api_key: str, *, timeout_s: float = 60.0
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"apikey": api_key}
        # Evolution retries a failed download after 5 s itself before answering.
        self._timeout = httpx.Timeout(timeout_s, connect=5.0)

    async def fetch_media(self, instance: str, message_id: str) -> MediaFile:
        try:
            response = await self._http.post(
                f"{self._base}/chat/getBase64FromMediaMessage/{instance}",
                json={"message": {"key": {"id": message_id}}},
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"evolution media: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise MediaUnavailable(f"evolution media answered {response.status_code}")
        try:
            body = response.json()
            data = base64.b64decode(body["base64"], validate=False)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise MediaUnavailable("evolution media answer has no base64") from exc
        mimetype = body.get("mimetype")
        file_name = body.get("fileName")
        return MediaFile(
            data=data,
            mimetype=mimetype if isinstance(mimetype, str) else None,
            file_name=file_name if isinstance(file_name, str) else None,
        )
