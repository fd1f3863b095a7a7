"""A local HTTP fake of the remote vendors, speaking each vendor's real wire format.

The real SDK clients run unmodified against it, pointed at `fake.url`; it is a real server on
127.0.0.1 (uvicorn in a background thread), so worker subprocesses can reach it too.

    with FakeVendors() as fake:
        client = anthropic.AsyncAnthropic(api_key="test-key", base_url=fake.url)
        fake.anthropic.script(text_reply("oi"), tool_call("buscar_plantoes", {"dia": "sab"}))
        ...
        fake.wait_until(lambda: len(fake.evolution.sends) == 2)

Base URLs for the clients:
    Anthropic  `AsyncAnthropic(api_key=..., base_url=fake.url)` -> POST /v1/messages
               (also /v1/messages/count_tokens, and `"stream": true` answers SSE events)
    Voyage     `voyageai.AsyncClient(api_key=..., base_url=fake.url + "/v1")` -> POST /v1/embeddings
    Evolution  `fake.url` as EVOLUTION_API_URL, header `apikey: fake.evolution.api_key`
               -> POST /message/sendText/{instance}, POST /chat/sendPresence/{instance},
               POST /chat/getBase64FromMediaMessage/{instance} (`fake.evolution.add_media`)
    Slack      webhook `fake.url + "/slack/webhook"`;
               Web API `AsyncWebClient(token="xoxb-...", base_url=fake.url + "/slack/api/")`
    Drive      googleapiclient `build("drive", "v3", ..., client_options={"api_endpoint":
               fake.url + "/drive/v3/"})` with the key `fake.drive.service_account_file(path)`
               writes (its token_uri is POST /token) -> GET /drive/v3/files,
               GET /drive/v3/files/{id}/export

Anthropic script steps (module-level constructors, consumed FIFO, one per request; when the
script is empty `fake.anthropic.default(request_body)` chooses the step):
    text_reply(text)                  assistant text, stop_reason "end_turn"
    tool_call(name, input, text=None) [optional text block, tool_use block], stop_reason "tool_use"
    api_error(status, error_type)     e.g. api_error(529, "overloaded_error"): Anthropic's error
                                      JSON with header `x-should-retry: true`
    hang(seconds, then=None)          sleeps (other requests keep being served), then answers
                                      `then` or the default

Usage numbers emulate prompt caching (see `PromptCache`); `fake.anthropic.usages` keeps the
usage of every successful answer and `total_usage()` sums them.

Failure injection: `fake.evolution.fail_next(status, times)`, `fake.voyage.fail_next(status,
times)`, `fake.slack.fail_webhook_next(status, times)`, `fake.slack.fail_post_next(error, times)`,
`fake.drive.fail_next(status, times, on="any"|"list"|"export")`,
`fake.drive.fail_exports_of(file_id, status)`, `fake.drive.refuse_tokens(times)`,
`fake.drive.hang_next(seconds, times)`.
`fake.reset()` clears every recorded request, script, failure and the prompt cache, and restores
`fake.anthropic.default` and `fake.evolution.api_key`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import math
import re
import secrets
import socket
import string
import struct
import threading
import time
import unicodedata
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.processes import free_port

JSON = dict[str, Any]

_ALNUM = string.ascii_letters + string.digits


def _random_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _read_json(request: Request) -> Any:
    """The parsed JSON body, or None when it is not JSON."""
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Anthropic: script steps
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    content: list[JSON]
    stop_reason: str


@dataclass(frozen=True)
class ApiError:
    status: int
    error_type: str
    message: str


@dataclass(frozen=True)
class Hang:
    seconds: float
    then: Step | None


Step = Reply | ApiError | Hang


def text_reply(text: str, *, stop_reason: str = "end_turn") -> Reply:
    return Reply(content=[{"type": "text", "text": text}], stop_reason=stop_reason)


def tool_call(name: str, input: JSON, text: str | None = None) -> Reply:
    content: list[JSON] = [{"type": "text", "text": text}] if text else []
    content.append({"type": "tool_use", "id": _random_id("toolu_"), "name": name, "input": input})
    return Reply(content=content, stop_reason="tool_use")


def api_error(status: int, error_type: str, message: str | None = None) -> ApiError:
    return ApiError(status=status, error_type=error_type, message=message or f"fake {error_type}")


def hang(seconds: float, then: Step | None = None) -> Hang:
    return Hang(seconds=seconds, then=then)


def _default_responder(body: JSON) -> Step:
    return text_reply("oi! tudo bem? aqui é a Julia")


# --------------------------------------------------------------------------------------------
# Anthropic: prompt caching emulation
# --------------------------------------------------------------------------------------------


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix the API will write to the cache for `model`.

    Anthropic's prompt-caching docs (as quoted in anthropic-sdk-python issue #1194, 2026, and
    gateway docs mirroring them): 4096 tokens for Claude Opus 4.6, Opus 4.5 and Haiku 4.5;
    2048 for Haiku 3.5 and Haiku 3; 1024 for Sonnet 4.6/4.5/4, Opus 4.1/4 and Sonnet 3.7.
    Shorter prefixes marked with cache_control are processed without caching (no error).
    """
    m = model.lower()
    if any(key in m for key in ("haiku-4-5", "opus-4-5", "opus-4-6")):
        return 4096
    if "haiku" in m:
        return 2048
    return 1024


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int

    @property
    def total_input(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens


class PromptCache:
    """Emulates the Messages API prompt cache well enough to measure a prompt layout.

    The request is flattened into blocks: each tool definition, each system block, then each
    content block of each message (string content = one text block). A block costs
    ceil(len(canonical JSON without `cache_control`) / 4) tokens. Blocks carrying
    `cache_control` are breakpoints (a top-level `cache_control` marks the last block, like
    automatic caching). A read is the longest cached prefix ending within the 20 blocks up to
    any breakpoint; the write covers up to the last breakpoint; prefixes shorter than
    `min_cacheable_tokens(model)` are never written. Entries live 5 minutes (or 1 hour with
    `"ttl": "1h"`), refreshed on every hit. Not thread-safe: the caller holds the lock.
    """

    LOOKBACK = 20

    def __init__(self) -> None:
        self._entries: dict[str, float] = {}

    def clear(self) -> None:
        self._entries.clear()

    @staticmethod
    def blocks(body: JSON) -> list[tuple[str, JSON]]:
        """(role, block) in the order the API caches them: tools, system, messages."""
        out: list[tuple[str, JSON]] = [("tool", tool) for tool in body.get("tools") or []]
        system = body.get("system")
        if isinstance(system, str):
            if system:
                out.append(("system", {"type": "text", "text": system}))
        elif isinstance(system, list):
            out.extend(("system", block) for block in system)
        for message in body.get("messages") or []:
            role = str(message.get("role", "user"))
            content = message.get("content")
            if isinstance(content, str):
                out.append((role, {"type": "text", "text": content}))
            elif isinstance(content, list):
                out.extend((role, block) for block in content)
        return out

    @staticmethod
    def _strip(block: JSON) -> JSON:
        if not isinstance(block, dict):
            return block
        return {k: v for k, v in block.items() if k != "cache_control"}

    def count_tokens(self, body: JSON) -> int:
        return sum(_estimate_tokens(_canonical(self._strip(b))) for _, b in self.blocks(body))

    def apply(self, body: JSON, now: float | None = None) -> Usage:
        now = time.monotonic() if now is None else now
        model = str(body.get("model", ""))
        blocks = self.blocks(body)
        prefix_tokens: list[int] = []
        hashes: list[str] = []
        ttls: list[float | None] = []
        running = 0
        digest = hashlib.sha256(model.encode()).digest()
        for role, block in blocks:
            text = _canonical(self._strip(block))
            running += _estimate_tokens(text)
            prefix_tokens.append(running)
            digest = hashlib.sha256(digest + role.encode() + b"\0" + text.encode()).digest()
            hashes.append(digest.hex())
            control = block.get("cache_control") if isinstance(block, dict) else None
            ttls.append(self._ttl(control) if isinstance(control, dict) else None)
        top = body.get("cache_control")
        if blocks and isinstance(top, dict) and ttls[-1] is None:
            ttls[-1] = self._ttl(top)

        breakpoints = [i for i, ttl in enumerate(ttls) if ttl is not None]
        total = running
        read_end = -1
        for bp in breakpoints:
            for j in range(bp, max(-1, bp - self.LOOKBACK), -1):
                expiry = self._entries.get(hashes[j])
                if expiry is not None and expiry > now:
                    read_end = max(read_end, j)
                    break
        read = prefix_tokens[read_end] if read_end >= 0 else 0

        creation = 0
        minimum = min_cacheable_tokens(model)
        if breakpoints and prefix_tokens[breakpoints[-1]] >= minimum:
            creation = max(0, prefix_tokens[breakpoints[-1]] - read)
        if read_end >= 0:
            self._entries[hashes[read_end]] = max(self._entries[hashes[read_end]], now + 300)
        for bp in breakpoints:
            ttl = ttls[bp]
            if ttl is not None and prefix_tokens[bp] >= minimum:
                self._entries[hashes[bp]] = max(self._entries.get(hashes[bp], 0.0), now + ttl)
        return Usage(
            input_tokens=total - read - creation,
            cache_creation_input_tokens=creation,
            cache_read_input_tokens=read,
        )

    @staticmethod
    def _ttl(control: JSON) -> float:
        return 3600.0 if control.get("ttl") == "1h" else 300.0


# --------------------------------------------------------------------------------------------
# Shared plumbing
# --------------------------------------------------------------------------------------------


class _Vendor:
    def __init__(self, lock: threading.Lock, stopping: threading.Event) -> None:
        self._lock = lock
        self._stopping = stopping

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    async def _sleep(self, seconds: float) -> None:
        """asyncio.sleep that ends early when the server stops."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(0.05, remaining))


# --------------------------------------------------------------------------------------------
# Anthropic
# --------------------------------------------------------------------------------------------


class FakeAnthropic(_Vendor):
    def __init__(self, lock: threading.Lock, stopping: threading.Event) -> None:
        super().__init__(lock, stopping)
        self.requests: list[JSON] = []
        self.usages: list[JSON] = []
        self.default: Callable[[JSON], Step] = _default_responder
        # Seconds every /v1/messages call takes before answering (a model "thinking").
        self.latency = 0.0
        self.cache = PromptCache()
        self._script: deque[Step] = deque()

    # -- test API ---------------------------------------------------------------------------

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._script.extend(steps)

    def pending(self) -> int:
        """Scripted steps not consumed yet."""
        with self._lock:
            return len(self._script)

    def calls_by_model(self) -> dict[str, int]:
        with self._lock:
            return dict(Counter(str(body.get("model")) for body in self.requests))

    def total_usage(self) -> dict[str, int]:
        """Sums of the usage fields over every successful answer."""
        keys = (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
        )
        with self._lock:
            return {key: sum(int(u[key]) for u in self.usages) for key in keys}

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.usages.clear()
            self._script.clear()
            self.cache.clear()
            self.default = _default_responder
            self.latency = 0.0

    # -- wire -------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("/v1/messages", self._messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
        ]

    @staticmethod
    def _error(status: int, error_type: str, message: str, *, retry: bool) -> JSONResponse:
        request_id = _random_id("req_")
        return JSONResponse(
            {
                "type": "error",
                "error": {"type": error_type, "message": message},
                "request_id": request_id,
            },
            status_code=status,
            headers={"x-should-retry": "true" if retry else "false", "request-id": request_id},
        )

    def _check(self, request: Request, body: Any) -> JSONResponse | None:
        # anthropic 2.x sends the API key as `Authorization: Bearer <key>`; older SDKs and curl
        # send `x-api-key`. The API accepts both.
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not request.headers.get("x-api-key") and not bearer:
            return self._error(
                401, "authentication_error", "x-api-key header is required", retry=False
            )
        if not request.headers.get("anthropic-version"):
            return self._error(
                400, "invalid_request_error", "anthropic-version: header is required", retry=False
            )
        if not isinstance(body, dict):
            return self._error(
                400, "invalid_request_error", "request body is not valid JSON", retry=False
            )
        for required in ("model", "messages"):
            if required not in body:
                return self._error(
                    400, "invalid_request_error", f"{required}: Field required", retry=False
                )
        if not isinstance(body["messages"], list):
            return self._error(
                400, "invalid_request_error", "messages: Input should be a list", retry=False
            )
        return None

    @staticmethod
    def _tool_pairing_error(messages: list[Any]) -> str | None:
        """The real API rejects tool_use blocks not answered by tool_result blocks in the next
        message, and tool_result blocks whose id was not asked in the previous message."""

        def blocks(message: Any, kind: str, key: str) -> set[str]:
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list):
                return set()
            return {
                str(b.get(key))
                for b in content
                if isinstance(b, dict) and b.get("type") == kind and b.get(key)
            }

        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                return f"messages.{i}: Input should be a valid dictionary"
            asked = (
                blocks(message, "tool_use", "id") if message.get("role") == "assistant" else set()
            )
            nxt = messages[i + 1] if i + 1 < len(messages) else None
            answered = blocks(nxt, "tool_result", "tool_use_id") if nxt else set()
            if asked and nxt is not None and not asked <= answered:
                missing = ", ".join(sorted(asked - answered))
                return (
                    f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {missing}. Each `tool_use` block must have a "
                    "corresponding `tool_result` block in the next message."
                )
            given = blocks(message, "tool_result", "tool_use_id")
            prev = messages[i - 1] if i > 0 else None
            prev_asked = blocks(prev, "tool_use", "id") if prev else set()
            if given - prev_asked:
                unknown = ", ".join(sorted(given - prev_asked))
                return (
                    f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {unknown}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message."
                )
        return None

    async def _count_tokens(self, request: Request) -> Response:
        body = await _read_json(request)
        problem = self._check(request, body)
        if problem is not None:
            return problem
        return JSONResponse({"input_tokens": self.cache.count_tokens(body)})

    async def _messages(self, request: Request) -> Response:
        body = await _read_json(request)
        problem = self._check(request, body)
        if problem is not None:
            return problem
        if "max_tokens" not in body:
            return self._error(
                400, "invalid_request_error", "max_tokens: Field required", retry=False
            )
        pairing = self._tool_pairing_error(body["messages"])
        if pairing is not None:
            return self._error(400, "invalid_request_error", pairing, retry=False)

        with self._lock:
            self.requests.append(body)
            step: Step | None = self._script.popleft() if self._script else None
            default = self.default
            latency = self.latency
        if latency > 0:
            await self._sleep(latency)
        if step is None:
            step = default(body)
        while isinstance(step, Hang):
            await self._sleep(step.seconds)
            step = step.then if step.then is not None else default(body)
        if isinstance(step, ApiError):
            return self._error(step.status, step.error_type, step.message, retry=True)

        output = "".join(
            block.get("text", "") if block.get("type") == "text" else _canonical(block["input"])
            for block in step.content
        )
        with self._lock:
            cached = self.cache.apply(body)
            usage: JSON = {
                "input_tokens": cached.input_tokens,
                "output_tokens": max(1, _estimate_tokens(output)),
                "cache_creation_input_tokens": cached.cache_creation_input_tokens,
                "cache_read_input_tokens": cached.cache_read_input_tokens,
            }
            self.usages.append({"model": body["model"], **usage})
        message: JSON = {
            "id": _random_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [dict(block) for block in step.content],
            "stop_reason": step.stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        headers = {"request-id": _random_id("req_")}
        if body.get("stream"):
            return StreamingResponse(
                self._sse(message), media_type="text/event-stream", headers=headers
            )
        return JSONResponse(message, headers=headers)

    @staticmethod
    async def _sse(message: JSON) -> AsyncIterator[str]:
        def event(name: str, data: JSON) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

        usage = message["usage"]
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        yield event("message_start", {"message": start})
        for index, block in enumerate(message["content"]):
            if block["type"] == "tool_use":
                yield event(
                    "content_block_start",
                    {"index": index, "content_block": {**block, "input": {}}},
                )
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            else:
                yield event(
                    "content_block_start",
                    {"index": index, "content_block": {"type": "text", "text": ""}},
                )
                delta = {"type": "text_delta", "text": block.get("text", "")}
            yield event("content_block_delta", {"index": index, "delta": delta})
            yield event("content_block_stop", {"index": index})
        yield event(
            "message_delta",
            {
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        yield event("message_stop", {})


# --------------------------------------------------------------------------------------------
# Evolution API v2
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    instance: str
    number: str
    text: str
    id: str
    at: float


@dataclass(frozen=True)
class PresenceSent:
    instance: str
    number: str
    presence: str
    delay: int | None
    at: float


class FakeEvolution(_Vendor):
    def __init__(self, lock: threading.Lock, stopping: threading.Event) -> None:
        super().__init__(lock, stopping)
        self.api_key = "evo-key"
        self.sends: list[Sent] = []
        self.presences: list[PresenceSent] = []
        # Like the real server, sendPresence answers only once its `delay` is over.
        self.presence_blocks = True
        self._failures: deque[int] = deque()
        self._answers: deque[tuple[int, Any, float]] = deque()
        self._late: deque[float] = deque()
        # Instances whose own Chatwoot integration is on (GET /chatwoot/find/{instance}).
        self.chatwoot_enabled: set[str] = set()
        # getBase64FromMediaMessage: message id -> the answer's body (see add_media)
        self.media: dict[str, JSON] = {}
        self.media_requests: list[JSON] = []

    def add_media(self, message_id: str, body: JSON) -> None:
        """What `POST /chat/getBase64FromMediaMessage/{instance}` answers (201) for the
        message `message_id`; an unknown id answers Evolution's 400."""
        with self._lock:
            self.media[message_id] = body

    def send_late_next(self, after: float, times: int = 1) -> None:
        """The next `times` sendText calls deliver the message (it is recorded, as WhatsApp
        got it) but answer only after `after` seconds: a client that times out first never
        learns the message id."""
        with self._lock:
            self._late.extend([after] * times)

    def answer_next(self, status: int, body: Any, *, after: float = 0.0) -> None:
        """The next sendText answers `status` with `body` (Evolution's error shape, see
        evolution_payloads.evolution_error) after `after` seconds, and is not recorded."""
        with self._lock:
            self._answers.append((status, body, after))

    def fail_next(self, status: int, times: int = 1) -> None:
        """The next `times` sendText calls answer `status` and are not recorded."""
        with self._lock:
            self._failures.extend([status] * times)

    def texts_to(self, number: str) -> list[str]:
        with self._lock:
            return [s.text for s in self.sends if s.number == number]

    def reset(self) -> None:
        with self._lock:
            self.sends.clear()
            self.presences.clear()
            self._failures.clear()
            self._answers.clear()
            self._late.clear()
            self.media.clear()
            self.media_requests.clear()
            self.api_key = "evo-key"
            self.presence_blocks = True
            self.chatwoot_enabled = set()

    def routes(self) -> list[Route]:
        return [
            Route("/message/sendText/{instance}", self._send_text, methods=["POST"]),
            Route("/chat/sendPresence/{instance}", self._send_presence, methods=["POST"]),
            Route("/chatwoot/find/{instance}", self._find_chatwoot, methods=["GET"]),
            Route("/chat/getBase64FromMediaMessage/{instance}", self._get_base64, methods=["POST"]),
        ]

    async def _find_chatwoot(self, request: Request) -> Response:
        # Evolution 2.3.6 chatwoot.controller.ts `findChatwoot`: the instance's ChatwootDto
        # plus `webhook_url`, or the empty settings with `enabled: false`.
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        instance = request.path_params["instance"]
        with self._lock:
            enabled = instance in self.chatwoot_enabled
        if not enabled:
            return JSONResponse(
                {
                    "enabled": False,
                    "url": "",
                    "accountId": "",
                    "token": "",
                    "signMsg": False,
                    "nameInbox": "",
                    "webhook_url": "",
                }
            )
        return JSONResponse(
            {
                "enabled": True,
                "accountId": "1",
                "token": "cw-secret-token",
                "url": "http://chatwoot.local",
                "nameInbox": instance,
                "signMsg": False,
                "webhook_url": f"http://evolution.local/chatwoot/webhook/{instance}",
            }
        )

    async def _get_base64(self, request: Request) -> Response:
        # chat.router.ts (2.3.6): 201 with getBase64FromMediaMessage's result; its errors are
        # BadRequestException(error.toString()) -> 400 (whatsapp.baileys.service.ts).
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        body = await _read_json(request)
        message_id = None
        if isinstance(body, dict) and isinstance(body.get("message"), dict):
            key = body["message"].get("key")
            message_id = key.get("id") if isinstance(key, dict) else None
        with self._lock:
            self.media_requests.append(body if isinstance(body, dict) else {})
            answer = self.media.get(str(message_id))
        if answer is None:
            return self._error(400, ["Message not found"])
        return JSONResponse(answer, status_code=201)

    @staticmethod
    def _error(status: int, message: Any) -> JSONResponse:
        return JSONResponse(
            {"status": status, "error": _reason(status), "response": {"message": message}},
            status_code=status,
        )

    def _unauthorized(self, request: Request) -> JSONResponse | None:
        if request.headers.get("apikey") != self.api_key:
            return self._error(401, "Unauthorized")
        return None

    async def _send_text(self, request: Request) -> Response:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        body = await _read_json(request)
        if not isinstance(body, dict):
            return self._error(400, ["body must be JSON"])
        missing = [
            f"instance requires property {key!r}"
            for key in ("number", "text")
            if not isinstance(body.get(key), str) or not body[key]
        ]
        if missing:
            return self._error(400, missing)
        instance = request.path_params["instance"]
        with self._lock:
            answer = self._answers.popleft() if self._answers else None
        if answer is not None:
            await asyncio.sleep(answer[2])
            return JSONResponse(answer[1], status_code=answer[0])
        with self._lock:
            status = self._failures.popleft() if self._failures else None
        if status is not None:
            return self._error(status, ["fake failure injected"])

        number: str = body["number"]
        text: str = body["text"]
        message_id = "3EB0" + secrets.token_hex(10).upper()
        now = time.time()
        with self._lock:
            self.sends.append(Sent(instance, number, text, message_id, now))
            late = self._late.popleft() if self._late else 0.0
        if late:
            await asyncio.sleep(late)
        jid = number if "@" in number else f"{number}@s.whatsapp.net"
        return JSONResponse(
            {
                "key": {"remoteJid": jid, "fromMe": True, "id": message_id},
                "pushName": "",
                "message": {"conversation": text},
                "messageType": "conversation",
                "messageTimestamp": int(now),
                "instanceId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"evolution:{instance}")),
                "source": "unknown",
                "status": "PENDING",
            },
            status_code=201,
        )

    async def _send_presence(self, request: Request) -> Response:
        # Evolution 2.3.6, src/api/routes/chat.router.ts:134-142 (201 with the service's
        # return value) and whatsapp.baileys.service.ts:2400-2444: "composing", then it
        # waits `delay` ms, then "paused", then answers {"presence": <presence>}.
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        body = await _read_json(request)
        if not isinstance(body, dict) or not body.get("number") or not body.get("presence"):
            return self._error(400, ["instance requires property 'number' and 'presence'"])
        delay = body.get("delay")
        with self._lock:
            self.presences.append(
                PresenceSent(
                    request.path_params["instance"],
                    str(body["number"]),
                    str(body["presence"]),
                    int(delay) if isinstance(delay, int | float) else None,
                    time.time(),
                )
            )
            blocks = self.presence_blocks
        if blocks and isinstance(delay, int | float) and delay > 0:
            await self._sleep(delay / 1000)
        return JSONResponse({"presence": body["presence"]}, status_code=201)


# --------------------------------------------------------------------------------------------
# Slack
# --------------------------------------------------------------------------------------------


class FakeSlack(_Vendor):
    def __init__(self, lock: threading.Lock, stopping: threading.Event) -> None:
        super().__init__(lock, stopping)
        self.webhook_posts: list[JSON] = []
        self.posted_messages: list[JSON] = []
        self._webhook_failures: deque[int] = deque()
        self._post_failures: deque[str] = deque()
        self._ts_counter = 0

    def fail_webhook_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._webhook_failures.extend([status] * times)

    def fail_post_next(self, error: str = "internal_error", times: int = 1) -> None:
        """The next `times` chat.postMessage calls answer `{"ok": false, "error": error}`."""
        with self._lock:
            self._post_failures.extend([error] * times)

    def reset(self) -> None:
        with self._lock:
            self.webhook_posts.clear()
            self.posted_messages.clear()
            self._webhook_failures.clear()
            self._post_failures.clear()

    def routes(self) -> list[Route]:
        return [
            Route("/slack/webhook", self._webhook, methods=["POST"]),
            Route("/slack/api/chat.postMessage", self._post_message, methods=["POST"]),
            Route("/slack/api/{method}", self._unknown_method, methods=["GET", "POST"]),
        ]

    async def _webhook(self, request: Request) -> Response:
        body = await _read_json(request)
        with self._lock:
            status = self._webhook_failures.popleft() if self._webhook_failures else None
        if status is not None:
            text = {400: "invalid_payload", 403: "invalid_token", 404: "no_service"}
            return PlainTextResponse(text.get(status, "internal_error"), status_code=status)
        if not isinstance(body, dict):
            return PlainTextResponse("invalid_payload", status_code=400)
        if not any(body.get(key) for key in ("text", "blocks", "attachments")):
            return PlainTextResponse("no_text", status_code=400)
        with self._lock:
            self.webhook_posts.append(body)
        return PlainTextResponse("ok")

    async def _form_or_json(self, request: Request) -> JSON:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            parsed = json.loads(raw or b"{}")
            return parsed if isinstance(parsed, dict) else {}
        return dict(parse_qsl(raw.decode()))

    async def _post_message(self, request: Request) -> Response:
        try:
            args = await self._form_or_json(request)
        except ValueError:
            return JSONResponse({"ok": False, "error": "invalid_json"})
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        token = token or str(args.get("token", ""))
        if not token:
            return JSONResponse({"ok": False, "error": "not_authed"})
        if not token.startswith(("xoxb-", "xoxp-")):
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        channel = args.get("channel")
        if not channel:
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        if not any(args.get(key) for key in ("text", "blocks", "attachments")):
            return JSONResponse({"ok": False, "error": "no_text"})
        with self._lock:
            error = self._post_failures.popleft() if self._post_failures else None
            if error is None:
                self._ts_counter += 1
                ts = f"{int(time.time())}.{self._ts_counter % 1_000_000:06d}"
                self.posted_messages.append(
                    {
                        "channel": channel,
                        "text": args.get("text"),
                        "thread_ts": args.get("thread_ts"),
                        "blocks": args.get("blocks"),
                        "ts": ts,
                    }
                )
        if error is not None:
            return JSONResponse({"ok": False, "error": error})
        message: JSON = {"type": "message", "text": args.get("text") or "", "ts": ts}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        return JSONResponse({"ok": True, "channel": channel, "ts": ts, "message": message})

    async def _unknown_method(self, request: Request) -> Response:
        return JSONResponse({"ok": False, "error": "unknown_method"})


# --------------------------------------------------------------------------------------------
# Voyage
# --------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.findall(r"\w+", plain)


def fake_embedding(text: str, dimension: int = 1024) -> list[float]:
    """Deterministic unit vector: each word (weight 1) and its 4-char prefix (weight 0.5) are
    hashed to a signed dimension, so texts sharing words have a higher cosine similarity."""
    vector = [0.0] * dimension
    for word in _words(text):
        for feature, weight in ((f"w:{word}", 1.0), (f"p:{word[:4]}", 0.5)):
            n = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
            vector[n % dimension] += weight if (n // dimension) % 2 else -weight
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [x / norm for x in vector]


class FakeVoyage(_Vendor):
    DTYPES: ClassVar[dict[str, str]] = {"float": "f", "int8": "b", "uint8": "B"}

    def __init__(self, lock: threading.Lock, stopping: threading.Event) -> None:
        super().__init__(lock, stopping)
        self.requests: list[JSON] = []
        self._failures: deque[int] = deque()
        self._answers: deque[tuple[int, Any, float]] = deque()

    def answer_next(self, status: int, body: Any, *, after: float = 0.0) -> None:
        """The next sendText answers `status` with `body` (Evolution's error shape, see
        evolution_payloads.evolution_error) after `after` seconds, and is not recorded."""
        with self._lock:
            self._answers.append((status, body, after))

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([status] * times)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()

    def routes(self) -> list[Route]:
        return [Route("/v1/embeddings", self._embeddings, methods=["POST"])]

    @staticmethod
    def _error(status: int, detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status)

    async def _embeddings(self, request: Request) -> Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return self._error(401, "Provided API key is invalid.")
        body = await _read_json(request)
        if not isinstance(body, dict):
            return self._error(400, "Request body is not valid JSON.")
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(t, str) for t in inputs)
        ):
            return self._error(400, "`input` must be a non-empty list of strings.")
        if not body.get("model"):
            return self._error(400, "`model` is required.")
        if body.get("input_type") not in (None, "query", "document"):
            return self._error(400, "`input_type` must be null, 'query' or 'document'.")
        dtype = body.get("output_dtype") or "float"
        if dtype not in self.DTYPES:
            return self._error(400, f"output_dtype {dtype!r} is not supported by the fake.")
        with self._lock:
            self.requests.append(body)
            status = self._failures.popleft() if self._failures else None
        if status is not None:
            return self._error(status, "fake failure injected")

        dimension = int(body.get("output_dimension") or 1024)
        data = []
        for index, text in enumerate(inputs):
            vector = fake_embedding(text, dimension)
            embedding: Any
            if dtype == "int8":
                embedding = [round(x * 127) for x in vector]
            elif dtype == "uint8":
                embedding = [round((x + 1) * 127.5) for x in vector]
            else:
                embedding = vector
            if body.get("encoding_format") == "base64":
                packed = struct.pack(f"<{dimension}{self.DTYPES[dtype]}", *embedding)
                embedding = base64.b64encode(packed).decode()
            data.append({"object": "embedding", "embedding": embedding, "index": index})
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"total_tokens": sum(max(1, _estimate_tokens(t)) for t in inputs)},
            }
        )


# --------------------------------------------------------------------------------------------
# Google Drive v3 (and the OAuth token endpoint a service-account key points at)
# --------------------------------------------------------------------------------------------

GOOGLE_DOC = "application/vnd.google-apps.document"
GOOGLE_FOLDER = "application/vnd.google-apps.folder"
_DRIVE_EPOCH = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_DRIVE_SCOPES = (
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.readonly",
)
_FILE_FIELDS = frozenset(
    {
        "kind",
        "id",
        "name",
        "mimeType",
        "parents",
        "trashed",
        "modifiedTime",
        "createdTime",
        "version",
    }
)
_QUOTED = r"'((?:[^'\\]|\\.)*)'"
_Q_TERMS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^{_QUOTED}\s+in\s+parents$", re.I), "parent"),
    (re.compile(r"^trashed\s*(=|!=)\s*(true|false)$", re.I), "trashed"),
    (re.compile(rf"^mimeType\s*(=|!=)\s*{_QUOTED}$", re.I), "mimeType"),
    (re.compile(rf"^name\s*(=|!=|contains)\s*{_QUOTED}$", re.I), "name"),
]


@dataclass
class DriveFile:
    id: str
    name: str
    mime_type: str
    parents: list[str]
    modified_time: datetime
    created_time: datetime
    text: str = ""
    trashed: bool = False
    # Drive v3 File.version: "A monotonically increasing version number for the file. This
    # reflects every change made to the file on the server, even those not visible to the
    # user." An int64, so a JSON string ("format": "int64", "type": "string"). From the
    # discovery document google-api-python-client bundles
    # (googleapiclient/discovery_cache/documents/drive.v3.json, revision 20261106,
    # schemas.File.properties.version); headRevisionId is "only available for files with
    # binary content", so a Google Doc has none.
    version: int = 1

    def resource(self) -> JSON:
        return {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "parents": list(self.parents),
            "trashed": self.trashed,
            "modifiedTime": _rfc3339(self.modified_time),
            "createdTime": _rfc3339(self.created_time),
            "version": str(self.version),
        }


@dataclass(frozen=True)
class DriveRequest:
    method: str
    path: str
    params: dict[str, str]


def _rfc3339(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _split_outside(text: str, separator: re.Pattern[str]) -> list[str]:
    """`text` split on `separator` where it is not inside quotes or parentheses."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == "'":
                quoted = False
        elif ch == "'":
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and (match := separator.match(text, i)):
            parts.append(text[start:i])
            start = i = match.end()
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


class FakeDrive(_Vendor):
    """Drive v3 files.list / files.export and Google's OAuth token endpoint.

    `service_account_file(path)` writes a service-account key (a fresh RSA key) whose
    `token_uri` is this fake's `/token`; the token endpoint checks the JWT grant's RS256
    signature against that key and the Drive endpoints want the access token it issued,
    with a Drive scope. The folder's contents are `add_doc` / `add_file`, `edit`, `touch`,
    `trash` and `delete`; every edit moves the fake's clock on (the last edit is the newest)
    and the file's `version` up. `max_page_size` makes files.list answer fewer files than
    asked for (Drive may do that), to exercise paging.
    """

    def __init__(self, lock: threading.Lock, stopping: threading.Event) -> None:
        super().__init__(lock, stopping)
        self.base_url = ""  # set by FakeVendors.start
        self.files: dict[str, DriveFile] = {}
        self.requests: list[DriveRequest] = []
        self.max_page_size = 1000
        self._keys: dict[str, Any] = {}  # client_email -> RSA public key
        self._tokens: dict[str, set[str]] = {}  # access token -> scopes
        self._failures: deque[tuple[int, str]] = deque()
        self._refusals: deque[tuple[str, str]] = deque()
        self._hangs: deque[float] = deque()
        self._broken_exports: dict[str, int] = {}
        self._ticks = 0

    # -- the folder --

    def add_doc(
        self, folder: str, name: str, text: str, *, modified: datetime | None = None
    ) -> str:
        """A Google Doc in `folder`; returns its id."""
        return self.add_file(folder, name, GOOGLE_DOC, text=text, modified=modified)

    def add_file(
        self,
        folder: str,
        name: str,
        mime_type: str,
        *,
        text: str = "",
        modified: datetime | None = None,
    ) -> str:
        with self._lock:
            moment = modified or self._tick()
            file = DriveFile(
                id=_random_id("1", 32),
                name=name,
                mime_type=mime_type,
                parents=[folder],
                modified_time=moment,
                created_time=moment,
                text=text,
            )
            self.files[file.id] = file
            return file.id

    def edit(self, file_id: str, *, text: str | None = None, name: str | None = None) -> None:
        with self._lock:
            file = self.files[file_id]
            file.text = file.text if text is None else text
            file.name = file.name if name is None else name
            file.modified_time = self._tick()
            file.version += 1

    def touch(self, file_id: str) -> None:
        """A change nobody sees (sharing, a comment): `version` grows, the text and
        modifiedTime stay."""
        with self._lock:
            self.files[file_id].version += 1

    def trash(self, file_id: str) -> None:
        with self._lock:
            self.files[file_id].trashed = True

    def delete(self, file_id: str) -> None:
        with self._lock:
            del self.files[file_id]

    def _tick(self) -> datetime:
        self._ticks += 1
        return _DRIVE_EPOCH + timedelta(minutes=self._ticks)

    # -- credentials --

    def service_account_file(self, path: Path, *, email: str | None = None) -> Path:
        """Write a service-account JSON key to `path` that this fake's token endpoint
        accepts (a freshly generated RSA key); returns `path`."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        email = email or f"julia-{secrets.token_hex(3)}@julia-test.iam.gserviceaccount.com"
        with self._lock:
            self._keys[email] = key.public_key()
        info = {
            "type": "service_account",
            "project_id": "julia-test",
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.base_url}/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
            "universe_domain": "googleapis.com",
        }
        path.write_text(json.dumps(info, indent=2))
        return path

    # -- failure injection --

    def fail_next(self, status: int, times: int = 1, *, on: str = "any") -> None:
        """The next `times` Drive API calls answer `status` with Google's error body;
        `on="list"` or `on="export"` picks only those calls."""
        assert on in ("any", "list", "export")
        with self._lock:
            self._failures.extend([(status, on)] * times)

    def fail_exports_of(self, file_id: str, status: int = 500) -> None:
        """Every export of `file_id` answers `status` (until `reset`)."""
        with self._lock:
            self._broken_exports[file_id] = status

    def refuse_tokens(
        self,
        times: int = 1,
        *,
        error: str = "invalid_grant",
        description: str = "Invalid JWT Signature.",
    ) -> None:
        """The next `times` token requests answer 400 `{"error": error, ...}`."""
        with self._lock:
            self._refusals.extend([(error, description)] * times)

    def hang_next(self, seconds: float, times: int = 1) -> None:
        """The next `times` Drive API calls wait `seconds` before answering."""
        with self._lock:
            self._hangs.extend([seconds] * times)

    def reset(self) -> None:
        with self._lock:
            self.files.clear()
            self.requests.clear()
            self.max_page_size = 1000
            self._keys.clear()
            self._tokens.clear()
            self._failures.clear()
            self._refusals.clear()
            self._hangs.clear()
            self._broken_exports.clear()
            self._ticks = 0

    def exports(self) -> list[str]:
        """Ids of the files exported so far, in order."""
        with self._lock:
            return [r.path.split("/")[-2] for r in self.requests if r.path.endswith("/export")]

    def routes(self) -> list[Route]:
        return [
            Route("/token", self._token, methods=["POST"]),
            Route("/drive/v3/files", self._list, methods=["GET"]),
            Route("/drive/v3/files/{file_id}/export", self._export, methods=["GET"]),
        ]

    # -- OAuth --

    @staticmethod
    def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": error, "error_description": description}, status_code=status)

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        if form.get("grant_type") != _JWT_BEARER:
            return self._oauth_error("unsupported_grant_type", "Invalid grant_type: ")
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return self._oauth_error(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token"
            )
        with self._lock:
            key = self._keys.get(str(claims.get("iss")))
            refusal = self._refusals.popleft() if self._refusals else None
        if refusal is not None:
            return self._oauth_error(*refusal)
        if key is None:
            return self._oauth_error("invalid_grant", "Invalid grant: account not found")
        try:
            jwt.decode(assertion, key, algorithms=["RS256"], options={"verify_aud": False})
        except jwt.ExpiredSignatureError:
            return self._oauth_error(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token"
            )
        except jwt.PyJWTError:
            return self._oauth_error("invalid_grant", "Invalid JWT Signature.")
        scopes = set(str(claims.get("scope") or "").split())
        if not scopes:
            return self._oauth_error("invalid_scope", "Empty or missing scope not allowed.")
        token = "ya29." + _random_id("", 40)
        with self._lock:
            self._tokens[token] = scopes
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    # -- Drive --

    @staticmethod
    def _error(status: int, message: str, reason: str, **extra: str) -> JSONResponse:
        status_names = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
        }
        error: JSON = {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason, **extra}],
        }
        if status in status_names:
            error["status"] = status_names[status]
        return JSONResponse({"error": error}, status_code=status)

    async def _admit(self, request: Request, endpoint: str) -> Response | None:
        """Record the call; answer the auth error, injected failure or hang it gets."""
        with self._lock:
            self.requests.append(
                DriveRequest(request.method, request.url.path, dict(request.query_params))
            )
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return self._error(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential.",
                "required",
                location="Authorization",
                locationType="header",
            )
        with self._lock:
            scopes = self._tokens.get(auth.removeprefix("Bearer ").strip())
            status = None
            if self._failures and self._failures[0][1] in ("any", endpoint):
                status = self._failures.popleft()[0]
            pause = self._hangs.popleft() if self._hangs else None
        if scopes is None:
            return self._error(
                401,
                "Invalid Credentials",
                "authError",
                location="Authorization",
                locationType="header",
            )
        if not scopes & set(_DRIVE_SCOPES):
            return self._error(
                403,
                "Insufficient Permission: Request had insufficient authentication scopes.",
                "insufficientPermissions",
            )
        if pause is not None:
            await self._sleep(pause)
        if status is not None:
            reasons = {403: "rateLimitExceeded", 429: "rateLimitExceeded", 503: "backendError"}
            text = {500: "Internal Error", 503: "Service Unavailable"}.get(status, _reason(status))
            return self._error(status, text, reasons.get(status, "backendError"))
        return None

    async def _list(self, request: Request) -> Response:
        denied = await self._admit(request, "list")
        if denied is not None:
            return denied
        params = request.query_params
        try:
            keep = self._query(params.get("q", ""))
        except ValueError:
            return self._error(
                400, "Invalid Value", "invalid", location="q", locationType="parameter"
            )
        try:
            top, file_fields = self._fields(params.get("fields"))
        except ValueError as exc:
            return self._error(
                400,
                f"Invalid field selection {exc}",
                "invalidParameter",
                location="fields",
                locationType="parameter",
            )
        try:
            size = int(params.get("pageSize") or 100)
        except ValueError:
            size = 0
        if not 1 <= size <= 1000:
            return self._error(
                400,
                f"Invalid value '{params.get('pageSize')}'. Values must be "
                "within the range: [1, 1000]",
                "invalid",
                location="pageSize",
                locationType="parameter",
            )
        order = params.get("orderBy")
        with self._lock:
            matching = [f for f in self.files.values() if keep(f)]
            if order:
                key, _, direction = order.strip().partition(" ")
                attribute = {
                    "name": "name",
                    "modifiedTime": "modified_time",
                    "createdTime": "created_time",
                }.get(key)
                if attribute is None:
                    return self._error(
                        400,
                        "Invalid Value",
                        "invalid",
                        location="orderBy",
                        locationType="parameter",
                    )
                matching.sort(
                    key=lambda f: getattr(f, attribute), reverse=direction.strip().lower() == "desc"
                )
            resources = [f.resource() for f in matching]
            page_size = min(size, self.max_page_size)
        offset = 0
        if token := params.get("pageToken"):
            try:
                offset = int(base64.urlsafe_b64decode(token.encode()).decode().split(":")[1])
            except (ValueError, IndexError):
                return self._error(
                    400, "Invalid Value", "invalid", location="pageToken", locationType="parameter"
                )
        page = resources[offset : offset + page_size]
        body: JSON = {"kind": "drive#fileList", "incompleteSearch": False}
        if offset + page_size < len(resources):
            body["nextPageToken"] = base64.urlsafe_b64encode(
                f"page:{offset + page_size}".encode()
            ).decode()
        body["files"] = [
            {k: v for k, v in r.items() if file_fields is None or k in file_fields} for r in page
        ]
        if top is not None:
            body = {k: v for k, v in body.items() if k in top}
        return JSONResponse(body)

    @staticmethod
    def _query(q: str) -> Callable[[DriveFile], bool]:
        """files.list's `q`: terms joined by `and` ('x' in parents, trashed, mimeType, name)."""
        tests: list[Callable[[DriveFile], bool]] = []
        for term in _split_outside(q, re.compile(r"\s+and\s+", re.I)) if q.strip() else []:
            for pattern, what in _Q_TERMS:
                if match := pattern.match(term):
                    tests.append(FakeDrive._term(what, *match.groups()))
                    break
            else:
                raise ValueError(term)
        return lambda f: all(test(f) for test in tests)

    @staticmethod
    def _term(what: str, *groups: str) -> Callable[[DriveFile], bool]:
        if what == "parent":
            folder = _unquote(groups[0])
            return lambda f: folder in f.parents
        op, raw = groups
        if what == "trashed":
            wanted = raw.lower() == "true"
            return lambda f: (f.trashed == wanted) == (op == "=")
        value = _unquote(raw)
        if what == "mimeType":
            return lambda f: (f.mime_type == value) == (op == "=")
        if op.lower() == "contains":
            return lambda f: value.lower() in f.name.lower()
        return lambda f: (f.name == value) == (op == "=")

    @staticmethod
    def _fields(fields: str | None) -> tuple[set[str] | None, set[str] | None]:
        """(top-level keys, file keys) a `fields` mask keeps; None keeps the defaults."""
        if fields is None:
            return None, {"kind", "id", "name", "mimeType"}
        if fields.strip() == "*":
            return None, None
        top: set[str] = set()
        file_fields: set[str] | None = set()
        for item in _split_outside(fields, re.compile(r",")):
            name, _, inner = item.partition("(")
            name = name.strip()
            if name not in ("kind", "incompleteSearch", "nextPageToken", "files"):
                raise ValueError(name)
            top.add(name)
            if name == "files":
                wanted = {p.strip() for p in inner.rstrip(")").split(",") if p.strip()}
                if "*" in wanted or not inner:
                    file_fields = None
                elif unknown := wanted - _FILE_FIELDS:
                    raise ValueError(sorted(unknown)[0])
                else:
                    file_fields = wanted
        return top, file_fields

    async def _export(self, request: Request) -> Response:
        denied = await self._admit(request, "export")
        if denied is not None:
            return denied
        file_id = request.path_params["file_id"]
        mime = request.query_params.get("mimeType")
        with self._lock:
            file = self.files.get(file_id)
            text = file.text if file is not None else ""
            is_doc = file is not None and file.mime_type == GOOGLE_DOC
            broken = self._broken_exports.get(file_id)
        if broken is not None:
            return self._error(broken, _reason(broken), "backendError")
        if not mime:
            return self._error(
                400,
                "Required parameter: mimeType",
                "required",
                location="mimeType",
                locationType="parameter",
            )
        if file is None:
            return self._error(
                404,
                f"File not found: {file_id}.",
                "notFound",
                location="fileId",
                locationType="parameter",
            )
        if not is_doc:
            return self._error(403, "Export only supports Docs Editors files.", "fileNotExportable")
        if mime != "text/plain":
            return self._error(400, "The requested conversion is not supported.", "badRequest")
        # Drive's plain-text export: a byte-order mark and CRLF line ends.
        body = "\ufeff" + text.replace("\r\n", "\n").replace("\n", "\r\n")
        return Response(body.encode(), media_type="text/plain")


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class FakeVendors:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.anthropic = FakeAnthropic(self._lock, self._stopping)
        self.evolution = FakeEvolution(self._lock, self._stopping)
        self.slack = FakeSlack(self._lock, self._stopping)
        self.voyage = FakeVoyage(self._lock, self._stopping)
        self.drive = FakeDrive(self._lock, self._stopping)
        self._vendors: list[_Vendor] = [
            self.anthropic,
            self.evolution,
            self.slack,
            self.voyage,
            self.drive,
        ]
        self.app = Starlette(routes=[r for v in self._vendors for r in v.routes()])
        self.url = ""
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeVendors:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeVendors:
        if self._thread is not None:
            return self
        self._stopping.clear()
        for _ in range(5):  # free_port() can race with another process taking the port
            port = free_port()
            config = uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="off",
                timeout_graceful_shutdown=2,
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(
                target=self._run, args=(server,), name=f"fake-vendors-{port}", daemon=True
            )
            thread.start()
            if self._wait_started(server, thread, port):
                self._server, self._thread, self.port = server, thread, port
                self.url = f"http://127.0.0.1:{port}"
                self.drive.base_url = self.url
                return self
            server.should_exit = True
            thread.join(timeout=5)
        raise RuntimeError("fake vendors server did not start")

    @staticmethod
    def _run(server: uvicorn.Server) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            with contextlib.suppress(SystemExit):  # uvicorn exits when the bind fails
                loop.run_until_complete(server.serve())
        finally:
            loop.close()

    @staticmethod
    def _wait_started(server: uvicorn.Server, thread: threading.Thread, port: int) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and thread.is_alive():
            if server.started:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        return True
                except OSError:
                    pass
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def reset(self) -> None:
        for vendor in self._vendors:
            vendor.reset()

    def _summary(self) -> str:
        return (
            f"anthropic requests={len(self.anthropic.requests)} "
            f"(scripted left={self.anthropic.pending()}), "
            f"evolution sends={len(self.evolution.sends)} "
            f"presences={len(self.evolution.presences)}, "
            f"slack webhook={len(self.slack.webhook_posts)} "
            f"posts={len(self.slack.posted_messages)}, "
            f"voyage requests={len(self.voyage.requests)}, "
            f"drive requests={len(self.drive.requests)}"
        )

    @staticmethod
    def _describe(predicate: Callable[[], bool]) -> str:
        return getattr(predicate, "__qualname__", repr(predicate))

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {self._describe(predicate)}; "
                    f"recorded: {self._summary()}"
                )
            time.sleep(0.02)

    async def await_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - same signature as wait_until
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {self._describe(predicate)}; "
                    f"recorded: {self._summary()}"
                )
            await asyncio.sleep(0.02)
