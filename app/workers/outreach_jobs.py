"""Outreach jobs: the scheduler writes proactive messages, the workers deliver them.

Scheduler side (each tick claimed once per slot in job_runs): `processar_campanhas`,
`processar_followups`, `reativacao`, `despachar_envios`, `sincronizar_modelos` (opener
templates from Google Drive). Worker side: `send_outbound`, one job per message, safe to run
twice (the gateway's ledger decides each message once).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.connections import ArqRedis

from app.core.db import transaction
from app.core.logging import get_logger
from app.core.queue import enqueue_send
from app.core.resources import Resources
from app.domain.agent.turn import TurnServices
from app.domain.outbound import repository as sends
from app.domain.outreach import campaigns, dispatch, followups, templates

log = get_logger(__name__)

SKIPPED = "skipped"


async def send_outbound(ctx: dict[str, Any], send_id: int) -> str:
    """Decide and deliver one proactive message, then move its campaign/follow-up along."""
    services: TurnServices = ctx["turns"]
    outcome = await services.gateway.deliver(send_id)
    async with transaction(services.db) as conn:
        await dispatch.settle(
            conn,
            send_id,
            doctor_gap=timedelta(hours=services.settings.MEDICO_INTERVALO_HORAS),
        )
    return f"{outcome.status}:{outcome.reason or ''}"


async def enqueue_sends(redis: ArqRedis, db: Any, send_ids: list[int]) -> None:
    """Hand freshly written messages to the workers (after their transaction committed)."""
    for send_id in send_ids:
        row = await sends.get(db, send_id)
        if row is not None:
            job_id = dispatch.job_id(row.id, row.attempts, row.not_before)
            await enqueue_send(redis, send_id, job_id)


async def processar_campanhas(res: Resources) -> None:
    """Every minute: refresh targets, write openers the chips can take, conclude campaigns.
    Under PILOT_MODE autonomous campaigns stand still; an operator's campaigns run."""
    now = datetime.now(UTC)
    result = await campaigns.process(res.db, res.settings, now=now, rng=random.Random())  # noqa: S311
    await enqueue_sends(res.redis, res.db, result.written)
    result.raise_failures()


async def processar_followups(res: Resources) -> None:
    """Every 5 minutes: due cadence steps and requested reminders (under PILOT_MODE, the
    cadence of autonomous campaigns waits)."""
    now = datetime.now(UTC)
    written = await followups.process(res.db, res.settings, now=now, rng=random.Random())  # noqa: S311
    await enqueue_sends(res.redis, res.db, written)


async def reativacao(res: Resources) -> str | None:
    """Hourly: this month's reactivation campaign takes in doctors silent for 60+ days.
    Autonomous outreach: skipped under PILOT_MODE."""
    if res.settings.PILOT_MODE:
        return SKIPPED
    async with transaction(res.db) as conn:
        await followups.reactivation(conn, res.settings, now=datetime.now(UTC))
    return None


async def despachar_envios(res: Resources) -> None:
    """Every 30 s: proactive messages whose moment came (deferred ones, lost jobs) go back
    to the workers. The job id names the attempt, so a message is never queued twice."""
    for send_id, job_id in await dispatch.due(res.db, datetime.now(UTC)):
        await enqueue_send(res.redis, send_id, job_id)


async def sincronizar_modelos(res: Resources) -> str | None:
    """Hourly: the opener templates of the Google Drive folder GOOGLE_TEMPLATES_FOLDER_ID,
    one Google Doc per campaign kind. Skipped without the folder or the credentials; Drive
    failing fails the run and leaves the stored templates as they were."""
    folder = res.settings.GOOGLE_TEMPLATES_FOLDER_ID
    drive = res.drive if folder else None
    if not folder or drive is None:
        return SKIPPED
    try:
        result = await templates.sync(res.db, drive, folder)
    finally:
        # The next run is an hour away: httplib2's connections would only go stale.
        await drive.aclose()
    for kind, reason in result.rejected.items():
        log.warning("templates.rejected", kind=kind, reason=reason)
    if result.ignored:
        log.info("templates.ignored", documents=result.ignored)
    log.info(
        "templates.synced",
        updated=result.updated,
        removed=result.removed,
        rejected=sorted(result.rejected),
        unchanged=result.unchanged,
        changed=result.changed,
    )
    return None
