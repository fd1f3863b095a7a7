"""Noticing a resume nobody announced: the runbook's SQL `INSERT INTO julia_status ...
'ativo'` writes a row and nothing else. Every worker reads the newest row every
JULIA_STATUS_POLL_SECONDS; the first process to see a new 'ativo' row answers the doctors
who waited (`commands.answer_waiting`, oldest first). A resume from Slack, the dashboard or
the CLI marks its row itself, so it is answered once.

A pause needs no watching: every turn and every send reads julia_status right before it
acts (see app.domain.outbound.status).
"""

from __future__ import annotations

from app.core.logging import get_logger
from app.core.resources import Resources
from app.domain.agent.waiting import mark_resume_answered
from app.domain.operations.commands import answer_waiting
from app.domain.outbound.status_repository import current

log = get_logger(__name__)


async def answer_new_resume(res: Resources) -> int | None:
    """If the newest julia_status row is an 'ativo' no process has answered for yet, queue
    the waiting conversations; returns how many (None when there was nothing to do)."""
    status = await current(res.db)
    if status.paused or status.id is None:
        return None
    if not await mark_resume_answered(res.redis, status.id):
        return None
    queued = await answer_waiting(res, status_id=status.id)
    log.info("julia.resume_noticed", status_id=status.id, via=status.alterado_via, queued=queued)
    return queued
