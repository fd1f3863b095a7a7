"""The proactive-send counters, shared by every worker process through Redis.

One Lua script decides and records a send atomically (Redis runs scripts one at a time),
so two workers can never both take the last slot of a chip's hour: no check-then-act.
It checks, in order, the chip's randomised gap, its rolling-hour and calendar-day caps, and
the doctor's minimum interval and weekly cap; a refusal names the rule and the earliest
moment it could pass. Time comes from the caller (`now`), never from Redis, so a fake
clock drives the same code.

Redis is a cache of what Postgres knows: when its data is lost (a restart without
persistence, a flush), the script answers `reseed` and the counters are rebuilt from the
outbound ledger before any decision is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from redis.asyncio import Redis

from app.core.logging import get_logger
from app.domain.outbound import repository as sends

log = get_logger(__name__)

_PREFIX = "julia:pace"
EPOCH_KEY = f"{_PREFIX}:epoch"
_CHIP_KEEP_S = 2 * 86400
_DOCTOR_KEEP_S = 8 * 86400
_WEEK_S = 7 * 86400

# KEYS: chip zset, chip next-allowed, doctor zset, epoch marker
# ARGV: member, now, hour cap, day cap, day start, day end, gap, doctor gap, doctor week cap,
#       chip retention, doctor retention, week (seconds)
_ADMIT = """
if redis.call('EXISTS', KEYS[4]) == 0 then return {'reseed', '0'} end
local member = ARGV[1]
local now = tonumber(ARGV[2])
local hour_cap, day_cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local day_start, day_end = tonumber(ARGV[5]), tonumber(ARGV[6])
local gap, doctor_gap, week_cap = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local chip_keep, doctor_keep, week = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
if redis.call('ZSCORE', KEYS[1], member) then return {'ok', '0'} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - chip_keep)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - doctor_keep)
local next_at = tonumber(redis.call('GET', KEYS[2]) or '-1')
if next_at < 0 then
  -- the gap was lost with Redis's data: count it from the chip's latest send
  local latest = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  next_at = latest[2] and (tonumber(latest[2]) + gap) or 0
end
if now < next_at then return {'intervalo_chip', tostring(next_at)} end
local hour_from = now - 3600
local in_hour = redis.call('ZCOUNT', KEYS[1], '(' .. hour_from, '+inf')
if in_hour >= hour_cap then
  local r = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. hour_from, '+inf', 'WITHSCORES',
                       'LIMIT', in_hour - hour_cap, 1)
  -- none to wait for when the cap is 0 (a chip's hourly_limit): look again in an hour
  return {'cap_hora_chip', tostring((r[2] and tonumber(r[2]) or now) + 3600)}
end
if redis.call('ZCOUNT', KEYS[1], day_start, '+inf') >= day_cap then
  return {'cap_dia_chip', tostring(day_end)}
end
local last = redis.call('ZREVRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if last[2] and now - tonumber(last[2]) < doctor_gap then
  return {'intervalo_medico', tostring(tonumber(last[2]) + doctor_gap)}
end
local week_from = now - week
local in_week = redis.call('ZCOUNT', KEYS[3], '(' .. week_from, '+inf')
if in_week >= week_cap then
  local r = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. week_from, '+inf', 'WITHSCORES',
                       'LIMIT', in_week - week_cap, 1)
  return {'cap_semana_medico', tostring((r[2] and tonumber(r[2]) or now) + week)}
end
redis.call('ZADD', KEYS[1], now, member)
redis.call('ZADD', KEYS[3], now, member)
redis.call('SET', KEYS[2], tostring(now + gap), 'EX', chip_keep)
redis.call('EXPIRE', KEYS[1], chip_keep)
redis.call('EXPIRE', KEYS[3], doctor_keep)
return {'ok', '0'}
"""

_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


@dataclass(frozen=True, slots=True)
class Admission:
    rule: str | None  # None = admitted
    retry_at: datetime | None = None

    @property
    def admitted(self) -> bool:
        return self.rule is None


@dataclass(frozen=True, slots=True)
class Limits:
    hourly: int
    daily: int
    day_start: datetime
    day_end: datetime
    gap_s: float
    doctor_gap: timedelta
    doctor_week: int


def _ms(seconds: float) -> str:
    """Times go to the script in whole milliseconds. Lua prints a number with 14 significant
    digits, so a finer time would come back rounded, and a refusal could name a moment just
    before the one at which the send passes (a fake clock retrying there never would)."""
    return repr(round(seconds, 3))


def _chip_key(chip_id: int) -> str:
    return f"{_PREFIX}:chip:{chip_id}"


def _doctor_key(doctor_id: int) -> str:
    return f"{_PREFIX}:doctor:{doctor_id}"


class Limiter:
    def __init__(self, redis: Redis, db: asyncpg.Pool) -> None:
        self._redis = redis
        self._db = db
        self._admit: Any = redis.register_script(_ADMIT)
        self._release: Any = redis.register_script(_RELEASE)

    async def admit(
        self, *, send_id: int, chip_id: int, doctor_id: int, now: datetime, limits: Limits
    ) -> Admission:
        """Take a slot for this send on its chip and doctor, or say which rule refuses."""
        keys = [
            _chip_key(chip_id),
            f"{_chip_key(chip_id)}:next",
            _doctor_key(doctor_id),
            EPOCH_KEY,
        ]
        args = [
            str(send_id),
            _ms(now.timestamp()),
            limits.hourly,
            limits.daily,
            _ms(limits.day_start.timestamp()),
            _ms(limits.day_end.timestamp()),
            _ms(limits.gap_s),
            _ms(limits.doctor_gap.total_seconds()),
            limits.doctor_week,
            _CHIP_KEEP_S,
            _DOCTOR_KEEP_S,
            _WEEK_S,
        ]
        for _ in range(2):
            rule, at = await self._admit(keys=keys, args=args)
            rule = rule.decode() if isinstance(rule, bytes) else rule
            if rule != "reseed":
                break
            await self.reseed(now)
        if rule == "ok":
            return Admission(None)
        return Admission(rule, datetime.fromtimestamp(float(at), UTC))

    async def release(self, *, send_id: int, chip_id: int, doctor_id: int) -> None:
        """Give back the slot of a send that certainly did not go out."""
        await self._release(keys=[_chip_key(chip_id), _doctor_key(doctor_id)], args=[send_id])

    async def reseed(self, now: datetime) -> int:
        """Rebuild the counters from the ledger: every proactive send that went out (or may
        have: claimed, outcome unknown) in the last days."""
        rows = await sends.counted_proactive_since(
            self._db, now - timedelta(seconds=_DOCTOR_KEEP_S)
        )
        async with self._redis.pipeline(transaction=False) as pipe:
            for row in rows:
                if row.ts > now.timestamp() - _CHIP_KEEP_S:
                    pipe.zadd(_chip_key(row.chip_id), {str(row.id): round(row.ts, 3)})
                    pipe.expire(_chip_key(row.chip_id), _CHIP_KEEP_S)
                pipe.zadd(_doctor_key(row.doctor_id), {str(row.id): round(row.ts, 3)})
                pipe.expire(_doctor_key(row.doctor_id), _DOCTOR_KEEP_S)
            pipe.set(EPOCH_KEY, repr(now.timestamp()))
            await pipe.execute()
        log.warning("outreach.limiter.reseeded", sends=len(rows))
        return len(rows)
