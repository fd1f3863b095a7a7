"""Which build each running process is: the deploy gate's evidence that the worker and the
scheduler of a new deploy are up, not only the api.

Every worker and scheduler process (leader or standby) records its `git_sha` with the time
in a Redis hash per service, `julia:versions:<service>` (field: sha, value: epoch seconds),
at each heartbeat. `/health/deep` reports, per service, the builds seen within the freshness
window and how long ago; CI's `scripts/ci/wait_healthy.sh` waits until the new commit is
among them for the api, the worker and the scheduler, and rolls the three back otherwise.
"""

from __future__ import annotations

from redis.asyncio import Redis

VERSIONS_KEY = "julia:versions:"
# A build not heard of for this long is forgotten (the hash keeps only live deploys).
FORGET_AFTER_S = 86_400
UNKNOWN = "unknown"


async def announce(redis: Redis, service: str, git_sha: str | None, now: float) -> None:
    """Record that a process of `service` runs build `git_sha` (one round trip)."""
    key = VERSIONS_KEY + service
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hset(key, git_sha or UNKNOWN, f"{now:.3f}")
        pipe.expire(key, FORGET_AFTER_S)
        await pipe.execute()


async def running(redis: Redis, service: str, now: float, fresh_s: float) -> dict[str, float]:
    """The builds of `service` heard from within `fresh_s` seconds: sha -> seconds ago."""
    raw = await redis.hgetall(VERSIONS_KEY + service)  # type: ignore[misc]
    seen: dict[str, float] = {}
    for field, value in raw.items():
        sha = field.decode() if isinstance(field, bytes) else str(field)
        try:
            age = now - float(value)
        except ValueError:
            continue
        if age <= fresh_s:
            seen[sha] = round(max(age, 0.0), 1)
    return seen
