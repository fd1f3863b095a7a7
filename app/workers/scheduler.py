"""The scheduler (RUN_MODE=scheduler): `python -m app.workers.scheduler`.

APScheduler runs the cron table in TZ. Every replica runs the table, but a job only does
work in the replica holding the Redis leader lease, and each (job, time slot) is claimed in
`job_runs` first, so a tick runs once even across a leader hand-over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from redis.exceptions import RedisError

from app.core import versions
from app.core.config import Settings
from app.core.embedded import embedded_defaults
from app.core.lease import Lease
from app.core.logging import configure_logging, get_logger
from app.core.redis import SCHEDULER_HEARTBEAT_KEY, SCHEDULER_LEADER_KEY
from app.core.resources import Resources, build_notifier
from app.domain.agent.waiting import drain_stale_inbox
from app.domain.operations import repository, retention
from app.domain.operations.watchdog import watching
from app.workers import boundary
from app.workers.alert_jobs import alertas, relatorio_diario, verificar_saude
from app.workers.briefing_jobs import sync_briefings
from app.workers.chatwoot_jobs import (
    espelhar_chatwoot,
    reconciliar_chatwoot,
    verificar_chatwoot_evolution,
)
from app.workers.jobs import sweep
from app.workers.outreach_jobs import (
    despachar_envios,
    processar_campanhas,
    processar_followups,
    reativacao,
    sincronizar_modelos,
)
from app.workers.reservation_jobs import reservas
from app.workers.runtime import StoppedWaiting, patient_resources, settings_or_exit

log = get_logger("app.workers.scheduler")

# A job may answer "skipped" (PILOT_MODE, nothing to do by rule): recorded as such.
JobFunc = Callable[[Resources], Awaitable[str | None]]
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
STOP_GRACE_SECONDS = 20


@dataclass(frozen=True)
class JobSpec:
    """A scheduled job that runs every `every_seconds`, on slots aligned to the epoch."""

    name: str
    func: JobFunc
    every_seconds: int

    def slot(self, now: datetime) -> datetime:
        """The scheduled tick `now` belongs to (runs may start a little late)."""
        elapsed = int((now - _EPOCH).total_seconds())
        return datetime.fromtimestamp(
            _EPOCH.timestamp() + elapsed - elapsed % self.every_seconds, UTC
        )


async def heartbeat(res: Resources) -> None:
    """Tell the deep health check (and the alerts) that the scheduler is alive."""
    beat = {"ts": time.time(), "host": process_name()}
    await res.redis.set(
        SCHEDULER_HEARTBEAT_KEY, json.dumps(beat), ex=3 * res.settings.HEARTBEAT_SECONDS
    )


async def varrer_mensagens(res: Resources) -> None:
    """The sweep: deliveries no worker applied, then messages nobody is answering."""
    now = datetime.now(UTC)
    drained = await drain_stale_inbox(
        res, older_than=now - timedelta(seconds=res.settings.INBOX_STALE_SECONDS)
    )
    if drained:
        log.info("sweep.inbox_drained", rows=drained)
    await sweep(res)


async def limpar_retencao(res: Resources) -> None:
    """Delete finished inbox rows and job runs past their retention windows."""
    pruned = await retention.prune(res.db, res.settings, datetime.now(UTC), res.media_store)
    log.info(
        "retention.pruned",
        webhook_events=pruned.webhook_events,
        job_runs=pruned.job_runs,
        media_files=pruned.media_files,
    )


def job_table(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec("heartbeat", heartbeat, settings.HEARTBEAT_SECONDS),
        # Deliveries no worker drained and messages nobody answered (killed worker, lost
        # job) are applied / re-enqueued from here.
        JobSpec("varrer_mensagens", varrer_mensagens, max(5, settings.SWEEP_AFTER_SECONDS // 3)),
        # Finished inbox rows and job runs past WEBHOOK/JOB_RUNS_RETENTION_DAYS.
        JobSpec("limpar_retencao", limpar_retencao, 3600),
        JobSpec("verificar_saude", verificar_saude, 60),
        JobSpec("alertas", alertas, 60),
        # Hourly; sends yesterday's report once, from 08:00 (TZ) on.
        JobSpec("relatorio_diario", relatorio_diario, 3600),
        # Outreach: write openers and follow-ups, hand due messages to the workers.
        JobSpec("processar_campanhas", processar_campanhas, 60),
        JobSpec("processar_followups", processar_followups, 300),
        JobSpec("reativacao", reativacao, 3600),
        JobSpec("despachar_envios", despachar_envios, 30),
        # Opener templates from Google Drive (skipped without the folder or credentials).
        JobSpec("sincronizar_modelos", sincronizar_modelos, 3600),
        # The weekly briefing from Google Drive (skipped without the folder or credentials).
        JobSpec("sync_briefings", sync_briefings, 3600),
        # Chatwoot (skipped unless configured): what the mirror's triggers missed, the agent
        # replies whose webhook never came, and Evolution's own integration left on.
        JobSpec("espelhar_chatwoot", espelhar_chatwoot, 60),
        JobSpec("reconciliar_chatwoot", reconciliar_chatwoot, 60),
        JobSpec("verificar_chatwoot_evolution", verificar_chatwoot_evolution, 600),
        # Reservations: re-announce, release after RESERVA_JANELA_HORAS, day-before
        # reminders, "did it happen?" after the shift.
        JobSpec("reservas", reservas, 300),
    ]


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JuliaScheduler:
    """The cron table, the leader lease and the job wrapper of one scheduler process."""

    def __init__(self, res: Resources, jobs: list[JobSpec]) -> None:
        self.res = res
        self.jobs = jobs
        settings = res.settings
        self.lease = Lease(
            res.redis,
            SCHEDULER_LEADER_KEY,
            settings.SCHEDULER_LEASE_SECONDS,
            process_name(),
            log_as="scheduler.leader",
        )
        self.stopping = False
        self.running: set[asyncio.Task[None]] = set()
        self.aps = AsyncIOScheduler(
            timezone=settings.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )

    async def run_job(self, spec: JobSpec) -> None:
        """Run one tick of `spec` if this replica leads and the slot is unclaimed."""
        if not self.lease.held or self.stopping:
            return
        task = asyncio.current_task()
        if task is not None:
            self.running.add(task)
            task.add_done_callback(self.running.discard)
        now = datetime.now(UTC)
        slot = spec.slot(now)
        with boundary.job_scope(spec.name, slot=slot.isoformat()):
            await self._tick(spec, slot)

    async def _tick(self, spec: JobSpec, slot: datetime) -> None:
        try:
            run_id = await repository.claim_job_slot(self.res.db, spec.name, slot, process_name())
        except Exception as exc:
            log.error(f"Job failed: {spec.name}: cannot record the run: {exc}")
            return
        if run_id is None:
            return
        started = time.monotonic()
        status, error = "ok", None
        try:
            if await spec.func(self.res) == "skipped":
                status = "skipped"
        except Exception as exc:  # job boundary: log, record, keep the scheduler alive
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            boundary.log_failure(exc, f"Job failed: {spec.name}: {error}", logger=log)
        elapsed_ms = int((time.monotonic() - started) * 1000)
        if status != "failed":
            log.info(
                f"Job executed: {spec.name}",
                job=spec.name,
                slot=slot.isoformat(),
                duration_ms=elapsed_ms,
                skipped=status == "skipped",
            )
        try:
            await repository.finish_job_run(
                self.res.db, run_id, status=status, duration_ms=elapsed_ms, error=error
            )
        except Exception as exc:
            log.warning("scheduler.job_run.unrecorded", job=spec.name, error=str(exc))

    async def keep_lease(self, stop: asyncio.Event) -> None:
        interval = self.res.settings.SCHEDULER_LEASE_SECONDS / 3
        while not stop.is_set():
            await self.lease.refresh()
            # Leader or standby, this process's build (the deploy gate waits for it).
            try:
                await versions.announce(
                    self.res.redis, "scheduler", self.res.settings.git_sha, time.time()
                )
            except (RedisError, OSError) as exc:
                log.warning("scheduler.version_not_announced", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def run(self, stop: asyncio.Event) -> None:
        for spec in self.jobs:
            self.aps.add_job(
                self.run_job,
                IntervalTrigger(seconds=spec.every_seconds, start_date=_EPOCH),
                args=[spec],
                id=spec.name,
                name=spec.name,
            )
        if await self.lease.refresh():
            await heartbeat(self.res)  # visible in /health/deep before the first tick
        lease_task = asyncio.create_task(self.keep_lease(stop))
        self.aps.start()
        log.info(
            "Scheduler started",
            jobs=[spec.name for spec in self.jobs],
            tz=self.res.settings.TZ,
            leader=self.lease.held,
        )
        try:
            await stop.wait()
        finally:
            # Let a tick in flight finish (APScheduler would cancel it) before leaving.
            self.stopping = True
            if self.running:
                await asyncio.wait(set(self.running), timeout=STOP_GRACE_SECONDS)
            self.aps.shutdown(wait=False)
            lease_task.cancel()
            await asyncio.gather(lease_task, return_exceptions=True)
            await self.lease.release()
            log.info("Scheduler stopped")


async def serve(settings: Settings, jobs: list[JobSpec] | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Postgres or Redis down at start: wait for them rather than exit (the lease and the
    # job runs already ride out an outage once running).
    try:
        async with (
            watching("scheduler", settings, build_notifier(settings)),
            patient_resources(settings, service="scheduler", stop=stop) as res,
        ):
            await JuliaScheduler(res, jobs if jobs is not None else job_table(settings)).run(stop)
    except StoppedWaiting:
        log.info("Scheduler stopped", waiting_for_dependencies=True)


def main() -> None:
    settings = settings_or_exit("scheduler")
    configure_logging(settings, service="scheduler")
    # APScheduler narrates every job it adds and runs; ours ("Job executed: <name>") suffice.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    with embedded_defaults(settings) as resolved:
        asyncio.run(serve(resolved))


if __name__ == "__main__":
    main()
