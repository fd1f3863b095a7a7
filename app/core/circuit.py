"""A circuit breaker whose state lives in Redis, so every process sees the same circuit.

Closed: calls go through and failures are counted in a window. After `threshold` failures
within `cooldown` seconds it opens: callers fail fast for `cooldown` seconds. Then one call
is let through (half-open); if it fails the circuit opens again at once, if it succeeds the
circuit closes and the caller learns it recovered.
"""

from __future__ import annotations

from redis.asyncio import Redis

# KEYS: failures, open, tripped. ARGV: threshold, cooldown ms.
# Returns 1 when this failure opened the circuit, 0 otherwise.
_RECORD_FAILURE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) or redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  redis.call('SET', KEYS[3], '1')
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# Returns 1 when the circuit had tripped and is now closed again (a recovery).
_RECORD_SUCCESS = """
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
return redis.call('DEL', KEYS[3])
"""


class CircuitBreaker:
    def __init__(self, redis: Redis, name: str, *, threshold: int, cooldown_s: float) -> None:
        self._redis = redis
        self.name = name
        self._threshold = threshold
        self._cooldown_ms = int(cooldown_s * 1000)
        prefix = f"julia:circuit:{name}"
        self._keys = (f"{prefix}:failures", f"{prefix}:open", f"{prefix}:tripped")

    async def is_open(self) -> bool:
        return bool(await self._redis.exists(self._keys[1]))

    async def record_failure(self) -> bool:
        """Count a failed call; True when this failure opened the circuit."""
        opened = await self._redis.eval(  # type: ignore[misc]
            _RECORD_FAILURE, 3, *self._keys, str(self._threshold), str(self._cooldown_ms)
        )
        return bool(opened)

    async def record_success(self) -> bool:
        """Count a good call; True when it closed a circuit that had opened (recovery)."""
        recovered = await self._redis.eval(_RECORD_SUCCESS, 3, *self._keys)  # type: ignore[misc]
        return bool(recovered)
