"""Deep health: can this deployment serve? Used by /health/deep and the alerting job."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from app.core import catalog_repository, migrations, versions
from app.core.config import Settings
from app.core.redis import SCHEDULER_HEARTBEAT_KEY, WORKER_HEARTBEAT_KEY
from app.core.resources import Resources
from app.domain.operations.chatwoot_check import conflict_warning

OK = "ok"
CHECK_TIMEOUT_SECONDS = 3.0


@dataclass
class HealthReport:
    checks: dict[str, str]
    processes: dict[str, str] = field(default_factory=dict)
    # The builds each worker and scheduler process runs, heard from lately: sha -> seconds
    # since (the deploy gate waits for the new commit's; app/core/versions.py).
    versions: dict[str, dict[str, float]] = field(default_factory=dict)
    # Worth an operator's attention, never a failing check (the status stays as it is).
    warnings: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(value == OK for value in self.checks.values())


def _error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"error: no answer within {CHECK_TIMEOUT_SECONDS:g}s"
    return f"error: {type(exc).__name__}: {exc}".strip().rstrip(":")


async def _run(check: Callable[[], Awaitable[str]]) -> str:
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # a health check reports every failure, it never raises
        return _error(exc)


async def check_redis(res: Resources) -> str:
    await res.redis.ping()
    return OK


async def check_database(res: Resources) -> str:
    await catalog_repository.ping(res.db)
    return OK


async def check_migrations(res: Resources) -> str:
    async with res.db.acquire() as conn:
        waiting = await migrations.pending(conn)
    if waiting:
        return "pending: " + ", ".join(m.filename for m in waiting)
    return OK


def check_environment(settings: Settings) -> str:
    """In production the database must belong to SUPABASE_PROJECT_REF's project.

    Supabase puts the project ref in the direct host (db.<ref>.supabase.co) or, through the
    pooler, in the user name (postgres.<ref>); either one counts.
    """
    ref = settings.SUPABASE_PROJECT_REF
    if not ref:
        return "error: SUPABASE_PROJECT_REF is not set"
    parts = urlsplit(settings.database_dsn)
    if ref in (parts.hostname or "") or ref in (parts.username or ""):
        return OK
    return "error: wrong environment, the database is not in SUPABASE_PROJECT_REF's project"


async def _heartbeat(res: Resources, key: str, stale_after: float) -> str:
    raw = await res.redis.get(key)
    if raw is None:
        return "no heartbeat"
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        beat = json.loads(text)
    except ValueError:
        return OK  # arq's own health string: the key only exists while it is fresh
    age = time.time() - float(beat.get("ts", 0))
    return OK if age <= stale_after else f"stale: last beat {age:.0f}s ago"


async def deep_health(res: Resources) -> HealthReport:
    checks: dict[str, Callable[[], Awaitable[str]]] = {
        "redis": lambda: check_redis(res),
        "supabase": lambda: check_database(res),
        "migrations": lambda: check_migrations(res),
    }
    names = list(checks)
    results = await asyncio.gather(*(_run(checks[n]) for n in names))
    report = HealthReport(checks=dict(zip(names, results, strict=True)))
    if res.settings.is_production:
        report.checks["environment"] = check_environment(res.settings)
    if report.checks["redis"] == OK:
        stale = 3.0 * res.settings.HEARTBEAT_SECONDS
        worker, scheduler = await asyncio.gather(
            _run(lambda: _heartbeat(res, WORKER_HEARTBEAT_KEY, stale)),
            _run(lambda: _heartbeat(res, SCHEDULER_HEARTBEAT_KEY, stale)),
        )
        report.processes = {"worker": worker, "scheduler": scheduler}
        fresh = max(
            3.0 * res.settings.HEARTBEAT_SECONDS, float(res.settings.SCHEDULER_LEASE_SECONDS)
        )
        now = time.time()
        for service in ("worker", "scheduler"):
            try:
                report.versions[service] = await asyncio.wait_for(
                    versions.running(res.redis, service, now, fresh), CHECK_TIMEOUT_SECONDS
                )
            except Exception:  # informative: a failure here never fails the check
                report.versions[service] = {}
        try:
            conflict = await conflict_warning(res)
        except Exception:  # a warning never fails the health check
            conflict = None
        if conflict is not None:
            report.warnings["chatwoot_evolution_integration"] = conflict
    return report
