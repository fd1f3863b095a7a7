"""The scheduler's alerting jobs: observe with the real clock, let the domain decide and send."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.resources import Resources
from app.domain.operations import alerts
from app.domain.operations.health import deep_health


def alerting(res: Resources) -> alerts.Alerting:
    return alerts.Alerting(settings=res.settings, db=res.db, redis=res.redis, notifier=res.notifier)


async def verificar_saude(res: Resources) -> None:
    """Every minute: the /health/deep checks; 3 failures in a row alert, passing recovers."""
    report = await deep_health(res)
    await alerts.on_health(alerting(res), report, datetime.now(UTC))


async def alertas(res: Resources) -> None:
    """Every minute: error rate, Anthropic circuit, queue backlog, worker heartbeat."""
    await alerts.check_all(alerting(res), datetime.now(UTC))


async def relatorio_diario(res: Resources) -> None:
    """Hourly; sends yesterday's numbers once, from 08:00 (TZ) on."""
    await alerts.daily_report(alerting(res), datetime.now(UTC))
