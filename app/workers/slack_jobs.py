"""The job behind `POST /slack/events`: run an operator's command and answer in its thread."""

from __future__ import annotations

from typing import Any

from app.core.db import transaction
from app.core.logging import get_logger
from app.core.resources import Resources
from app.domain.inbox.repository import (
    SlackEvent,
    claim_slack_event,
    finish_slack_event,
)
from app.domain.operations.commands import parse_command, run_command
from app.integrations.slack import SlackReplyError

log = get_logger(__name__)

FAILURE_REPLY = (
    "Não consegui executar o comando agora (erro interno). Tente de novo em instantes; "
    "numa emergência, pause pelo SQL do runbook:\n"
    "`INSERT INTO julia_status (status, motivo, alterado_via) "
    "VALUES ('pausado', '<motivo>', 'manual');`"
)


async def run_slack_command(ctx: dict[str, Any], event_id: str) -> str:
    """Run a stored mention once: the row is locked while the command runs and marked done
    (or failed) in the same transaction, so a second run finds nothing to do."""
    res: Resources = ctx["res"]
    async with transaction(res.db) as conn:
        event = await claim_slack_event(conn, event_id)
        if event is None:
            log.info("slack.command_skipped", event_id=event_id)
            return "skipped"
        command = parse_command(event.command or "")
        try:
            reply = await run_command(
                res, command, user=event.user_id, via="slack", event_id=event_id
            )
            outcome, error = "done", None
        except Exception as exc:  # the job boundary: answer the operator, keep the error
            log.exception("slack.command_failed", event_id=event_id, command=command.name)
            reply, outcome, error = FAILURE_REPLY, "failed", f"{type(exc).__name__}: {exc}"[:500]
        await finish_slack_event(conn, event_id, outcome, error)
    log.info("slack.command_done", event_id=event_id, command=command.name, outcome=outcome)
    lost = await _reply(res, event, reply)
    if lost:
        # The command ran; only the answer was lost. Kept on the row for the audit.
        await finish_slack_event(res.db, event_id, outcome, error or lost)
    return outcome


async def _reply(res: Resources, event: SlackEvent, text: str) -> str | None:
    """Answer in the mention's thread; returns why the answer was not delivered, if it was not."""
    bot = res.slack
    if bot is None or not event.channel:
        log.info("slack.reply_skipped", event_id=event.event_id, reason="no SLACK_BOT_TOKEN")
        return None
    try:
        await bot.reply(event.channel, event.ts, text)
    except SlackReplyError as exc:
        log.warning("slack.reply_failed", event_id=event.event_id, error=str(exc))
        return f"resposta não entregue: {exc}"[:500]
    return None
