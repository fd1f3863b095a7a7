"""Faults on a time window for the local fake vendors: a vendor answering errors, or not
answering, for the next N seconds, whatever the number of requests.

`FakeVendors` serves `fake.app`; `install(fake)` wraps it (before `fake.start()`) in
`Faults`, an ASGI middleware that answers in the fake's place while a fault is on and passes
every other request through. The error bodies are the fakes' own (`FakeEvolution._error`,
`FakeAnthropic._error`, which cite the vendors' sources).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from tests.support.fake_vendors import FakeAnthropic, FakeEvolution, FakeVendors

EVOLUTION_SEND = "/message/sendText/"
ANTHROPIC_MESSAGES = "/v1/messages"


@dataclass
class Fault:
    path_prefix: str
    until: float  # time.monotonic()
    status: int | None  # answer this status (with `body`, `headers`)...
    body: Any
    headers: dict[str, str]
    hang: float  # ... or first hold the request this long (0: not at all)
    hits: int = 0


class Faults:
    """ASGI middleware: while a fault on a path prefix is on, requests to it are held `hang`
    seconds and/or answered `status`; a request only held is then passed through (the vendor
    did the work, the client gave up waiting)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _active(self, path: str) -> Fault | None:
        now = time.monotonic()
        with self._lock:
            for fault in self._faults:
                if fault.until > now and path.startswith(fault.path_prefix):
                    fault.hits += 1
                    return fault
        return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        fault = self._active(scope.get("path", "")) if scope["type"] == "http" else None
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.hang > 0:
            # Read the request first: the client gives up (disconnects) while it is held.
            body = await _read_body(receive)
            await asyncio.sleep(fault.hang)
            receive = _replay(body)
        if fault.status is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(fault.body).encode()
        headers = [(b"content-type", b"application/json")]
        headers += [(k.encode(), v.encode()) for k, v in fault.headers.items()]
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never disconnects: the vendor finishes its work
        return {"type": "http.disconnect"}

    return receive


def install(fake: FakeVendors) -> Faults:
    """Wrap the fake's app in `Faults`; call before `fake.start()`."""
    faults = Faults(fake.app)
    fake.app = faults  # type: ignore[assignment]
    return faults


def evolution_error(faults: Faults, status: int, seconds: float) -> Fault:
    """Every sendText answers `status` for the next `seconds` (nothing is delivered)."""
    response = FakeEvolution._error(status, ["fake outage"])
    return faults.add(
        Fault(EVOLUTION_SEND, time.monotonic() + seconds, status, _json(response), {}, 0.0)
    )


def evolution_timeout(faults: Faults, seconds: float, hold: float) -> Fault:
    """Every sendText arriving in the next `seconds` is held `hold` seconds (longer than the
    client's read timeout) and then delivered: the sender cannot know whether it left."""
    return faults.add(Fault(EVOLUTION_SEND, time.monotonic() + seconds, None, None, {}, hold))


def anthropic_error(
    faults: Faults, status: int, error_type: str, seconds: float, retry_after: int
) -> Fault:
    """Every /v1/messages answers `status` (529 overloaded_error, 429 rate_limit_error) with
    `retry-after` for the next `seconds`. The SDK honours retry-after (anthropic
    `_base_client.py` `_calculate_retry_timeout`) and x-should-retry."""
    response = FakeAnthropic._error(status, error_type, "fake outage", retry=True)
    headers = {"retry-after": str(retry_after), "x-should-retry": "true"}
    return faults.add(
        Fault(ANTHROPIC_MESSAGES, time.monotonic() + seconds, status, _json(response), headers, 0)
    )


def _json(response: Any) -> Any:
    return json.loads(bytes(response.body))
