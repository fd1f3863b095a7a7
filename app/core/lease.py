"""A Redis lease: one holder at a time, renewed while held, expiring if the holder dies.

The scheduler's leader election and the per-conversation turn lock both use it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import cast

from redis.asyncio import Redis

from app.core.logging import get_logger

log = get_logger(__name__)

# Renew or release only if the lease is still ours (compare-and-act in one step).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """Holds `key` for `ttl_seconds` at a time; `refresh()` must run well within the ttl."""

    def __init__(
        self, redis: Redis, key: str, ttl_seconds: float, owner: str, *, log_as: str | None = None
    ) -> None:
        self.redis = redis
        self.log_as = log_as
        self.key = key
        self.ttl_ms = int(ttl_seconds * 1000)
        self.token = f"{owner}:{uuid.uuid4().hex[:8]}"
        self.held = False

    async def refresh(self) -> bool:
        """Renew the lease if held, otherwise try to take it. Returns whether it is held."""
        try:
            if self.held:
                renewed = await cast(
                    Awaitable[int],
                    self.redis.eval(_RENEW, 1, self.key, self.token, str(self.ttl_ms)),
                )
                now_held = bool(renewed)
            else:
                now_held = bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))
        except Exception as exc:  # Redis down: we cannot prove the lease is ours
            log.warning("lease.unreachable", key=self.key, error=str(exc))
            now_held = False
        if now_held != self.held and self.log_as:
            log.info(
                f"{self.log_as}.acquired" if now_held else f"{self.log_as}.lost", owner=self.token
            )
        self.held = now_held
        return now_held

    async def release(self) -> None:
        if self.held:
            try:
                await cast(Awaitable[int], self.redis.eval(_RELEASE, 1, self.key, self.token))
            finally:
                self.held = False
