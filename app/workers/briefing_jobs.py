"""The weekly briefing job: `sync_briefings`, hourly in the scheduler (the runbook greps
"Job executed: sync_briefings")."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.logging import get_logger
from app.core.resources import Resources
from app.domain.briefings import service as briefings

log = get_logger(__name__)

SKIPPED = "skipped"


async def sync_briefings(res: Resources) -> str | None:
    """Hourly: the newest Google Doc of GOOGLE_BRIEFINGS_FOLDER_ID becomes Julia's weekly
    directives when its Drive revision changed. Skipped without the folder or the
    credentials; Drive failing fails the run and the active briefing stays."""
    result = await briefings.sync_configured(res, now=datetime.now(UTC))
    if result is None:
        return SKIPPED
    log.info("briefing.sync", outcome=result.outcome, document=result.title, reason=result.reason)
    return None
