"""Correlation ids for every HTTP request (DESIGN rule 11).

Pure ASGI rather than Starlette's BaseHTTPMiddleware: the Evolution webhook takes thousands
of requests a second, and this adds a context reset and one header, nothing else.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.domain.operations.webhook_tally import TALLY, WEBHOOK_PATHS, WebhookTally

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
# A caller's id is kept only when it cannot smuggle anything into a log line or a header.
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")


def request_id_from(scope: Scope) -> str:
    """The caller's `X-Request-ID` when it is a sane token, else a new one."""
    for key, value in scope.get("headers", ()):
        if key == _HEADER_KEY:
            if _SANE_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Bind `request_id` for every log line of a request and return it as `X-Request-ID`.

    The contextvars are cleared first, so nothing bound before (an earlier request served
    in the same task) leaks into this one. They are not cleared afterwards: uvicorn runs
    each request in a task of its own and logs an unhandled error only after the app has
    returned, and that line should carry the id too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        header = (_HEADER_KEY, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k != _HEADER_KEY]
                message["headers"] = [*headers, header]
            await send(message)

        await self.app(scope, receive, send_with_id)


class WebhookTallyMiddleware:
    """Count every webhook answered, and those answered 5xx (the error-rate alert reads
    them); an unhandled error counts as the 500 it becomes."""

    def __init__(self, app: ASGIApp, tally: WebhookTally = TALLY) -> None:
        self.app = app
        self.tally = tally

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(WEBHOOK_PATHS):
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            self.tally.record(status, time.time())
