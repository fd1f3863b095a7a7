"""What the Evolution edge needs besides parsing: what of a delivery is kept, the cheap
check that the instance is one of ours, and the signal that wakes the worker's drainer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.db import Executor
from app.core.logging import get_logger
from app.domain.inbox import repository
from app.domain.inbox.repository import Source

log = get_logger(__name__)

# The edge LPUSHes here after storing a new delivery; the drainer BLPOPs it. Trimmed to one
# entry in the same round trip: a worker that is down finds one signal, not millions.
INBOX_WAKE_KEY = "julia:inbox:wake"


def storable(payload: dict[str, Any]) -> dict[str, Any]:
    """The delivery as it is kept: without the envelope's `apikey` (the instance token when
    Evolution runs with AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES) and without the media
    (`data.message.base64`, sent with `webhookBase64` on), which is replaced by its size and
    mimetype so a later reader knows it came with the delivery."""
    # webhook.controller.ts:93-101 (2.3.6) builds the envelope with `apikey: apiKey`.
    kept = {key: value for key, value in payload.items() if key != "apikey"}
    data = kept.get("data")
    if isinstance(data, list):
        kept["data"] = [_without_media(item) for item in data]
    elif isinstance(data, dict):
        kept["data"] = _without_media(data)
    return kept


def _without_media(data: Any) -> Any:
    # whatsapp.baileys.service.ts:1329/2358 (2.3.6): `messageRaw.message.base64 = ...`.
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict) or "base64" not in message:
        return data
    encoded = message["base64"]
    size = len(encoded) if isinstance(encoded, str) else 0
    stripped = {key: value for key, value in message.items() if key != "base64"}
    stripped["base64_omitted"] = {
        "base64_chars": size,
        "bytes": size * 3 // 4 - (encoded.endswith("=") + encoded.endswith("=="))
        if isinstance(encoded, str)
        else 0,
        "mimetype": _mimetype(message),
    }
    return {**data, "message": stripped}


def _mimetype(message: dict[str, Any]) -> str | None:
    for value in message.values():
        if isinstance(value, dict) and isinstance(value.get("mimetype"), str):
            return str(value["mimetype"])
    return None


def inline_media(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(message id, base64) of every attachment the delivery carries inline, for the worker
    (handed over through Redis, see app/domain/media/service.py)."""
    data = payload.get("data")
    items = data if isinstance(data, list) else [data]
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        message, key = item.get("message"), item.get("key")
        if not isinstance(message, dict) or not isinstance(key, dict):
            continue
        encoded, message_id = message.get("base64"), key.get("id")
        if isinstance(encoded, str) and encoded and isinstance(message_id, str) and message_id:
            found.append((message_id, encoded))
    return found


async def wake_drainer(redis: Redis) -> None:
    """Tell a waiting drainer there is something to apply (one round trip)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.lpush(INBOX_WAKE_KEY, 1)
        pipe.ltrim(INBOX_WAKE_KEY, 0, 0)
        await pipe.execute()


async def wait_for_wake(redis: Redis, seconds: float) -> bool:
    """Block until the edge's signal or `seconds`; True when signalled."""
    # BLPOP's timeout is whole or fractional seconds (Redis >= 6); 0 would block forever.
    popped = redis.blpop([INBOX_WAKE_KEY], timeout=cast(Any, max(seconds, 0.01)))
    return await cast(Awaitable[Any], popped) is not None


class KnownInstances:
    """The instances the edge accepts (EVOLUTION_INSTANCE + the chips), kept in process so
    the 403 check costs no query: reloaded when older than `max_age` seconds, and on an
    unknown name at most once per `max_age` (so a chip added a moment ago is accepted).
    `now` is a monotonic clock, passed in."""

    def __init__(
        self, configured: str, load: Callable[[], Awaitable[set[str]]], max_age: float
    ) -> None:
        self._configured = configured
        self._load = load
        self._max_age = max_age
        self._names: set[str] | None = None
        self._loaded_at = 0.0
        self._miss_reload_at: float | None = None
        self._lock = asyncio.Lock()

    async def contains(self, instance: str, now: float) -> bool:
        if instance == self._configured:
            return True
        if self._names is None or now - self._loaded_at >= self._max_age:
            await self._reload(now)
        assert self._names is not None
        if instance in self._names:
            return True
        if self._miss_reload_at is None or now - self._miss_reload_at >= self._max_age:
            self._miss_reload_at = now
            await self._reload(now, force=True)
        return instance in self._names

    async def _reload(self, now: float, *, force: bool = False) -> None:
        async with self._lock:  # one reload for a burst of requests
            fresh = self._names is not None and now - self._loaded_at < self._max_age
            if fresh and not force:
                return
            names = await self._load()  # a failure leaves the old list (or none: 503)
            self._names, self._loaded_at = names, now


@dataclass(slots=True)
class _Pending:
    row: tuple[Source, str | None, str, str, object]
    stored: asyncio.Future[int | None]


class InboxWriter:
    """The edge's group commit: deliveries that arrive while a store is in flight are kept
    together in the next one, as one `INSERT … SELECT FROM unnest … ON CONFLICT DO NOTHING`
    statement, and the drainer is woken once for them.

    Nothing waits on purpose: a lone delivery is stored at once, in a batch of one; under
    load the batch grows to what arrived during the previous statement, so the statements
    (and their round trips, pool checkouts and Postgres work) per delivery fall as the load
    rises. Each caller still gets its own answer after the commit: the new row's id, None
    for a redelivery, or the store's exception (so the route answers 503 for every delivery
    of a batch the database did not keep). At most `max_batch` deliveries go in one
    statement; `max_in_flight` statements run at once.
    """

    def __init__(
        self,
        pool: Executor,
        redis: Redis,
        *,
        max_batch: int = 256,
        max_in_flight: int = 2,
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._queue: list[_Pending] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._waking = False
        self._wake_wanted = False

    async def store(
        self,
        *,
        source: Source,
        event: str | None,
        instance: str,
        provider_id: str | None,
        payload: object,
    ) -> int | None:
        """Keep one delivery as `received`: its row id, or None for a redelivery."""
        if provider_id is None:  # not deduplicable: kept on its own (rare: no message key)
            row_id = await repository.insert_event(
                self._pool,
                source=source,
                provider_id=None,
                payload=payload,
                event=event,
                instance=instance,
            )
            if row_id is not None:
                self._wake_soon()
            return row_id
        stored: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending((source, event, instance, provider_id, payload), stored))
        if self._in_flight < self._max_in_flight:
            self._start_flush()
        return await stored

    def _start_flush(self) -> None:
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._store_batch(batch)
        finally:
            self._in_flight -= 1

    async def _store_batch(self, batch: list[_Pending]) -> None:
        try:
            ids = await repository.insert_events(self._pool, [p.row for p in batch])
        except Exception as exc:  # every caller of the batch answers for it
            for pending in batch:
                if not pending.stored.done():
                    pending.stored.set_exception(exc)
            return
        except BaseException:  # cancelled (shutdown): so are the callers still waiting
            for pending in batch:
                pending.stored.cancel()
            raise
        for pending in batch:
            # Two copies of one delivery in a batch: the first gets the row, the other is
            # a redelivery.
            row_id = ids.pop(str(pending.row[3]), None)
            if not pending.stored.done():
                pending.stored.set_result(row_id)
        self._wake_soon()

    def _wake_soon(self) -> None:
        """Wake the drainer without holding up the next batch: one wake in flight at a
        time, and one more after it if rows were stored meanwhile (a drainer that already
        looked must look again)."""
        self._wake_wanted = True
        if self._waking:
            return
        self._waking = True
        task = asyncio.get_running_loop().create_task(self._wake_loop())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wake_loop(self) -> None:
        try:
            while self._wake_wanted:
                self._wake_wanted = False
                await self._wake()
        finally:
            self._waking = False

    async def _wake(self) -> None:
        try:
            await wake_drainer(self._redis)
        except (RedisError, OSError) as exc:  # stored is what matters: the drainer polls
            log.warning("webhook.wake_failed", error=type(exc).__name__)
