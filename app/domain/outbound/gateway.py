"""The one outbound gateway (DESIGN rule 7): every message to a doctor goes through here.

A message is first recorded in `outbound_sends` under an idempotency key (by the caller,
with `plan`), then `deliver` decides and sends it. Right before the send it re-reads the
operator switch (julia_status), the conversation's control and the doctor's opt-out, so a
pause or a takeover stops messages already planned. Each decision is recorded with its
reason. A row that was being sent when its process died is never sent again: the send may
have reached WhatsApp, and a doubled message is worse than a missing one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from app.core.db import Conn
from app.core.logging import get_logger
from app.domain.conversations import repository as conversations
from app.domain.operations.status import StatusReader
from app.domain.outbound import repository as sends
from app.domain.outbound.repository import OutboundSend
from app.integrations.protocols import MessageSender, SendError

log = get_logger(__name__)

RETRY_AFTER = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Outcome:
    send_id: int
    status: str  # sent, blocked, cancelled, deferred, failed
    reason: str | None = None

    @property
    def sent(self) -> bool:
        return self.status == "sent"


class Gateway:
    def __init__(self, *, db: asyncpg.Pool, sender: MessageSender, status: StatusReader) -> None:
        self._db = db
        self._sender = sender
        self._status = status

    async def deliver(
        self, send_id: int, *, typing: Callable[[str], float] | None = None
    ) -> Outcome:
        """Decide and, if allowed, send one recorded message, after `typing(body)` seconds
        of "typing..." when given."""
        row = await sends.get(self._db, send_id)
        if row is None:
            raise LookupError(f"outbound send {send_id} does not exist")
        if row.status not in ("pending", "deferred"):
            return Outcome(row.id, row.status, row.reason or "ja_decidido")
        if row.status == "pending" and row.attempts > 0:
            # A process died between claiming this send and recording its result.
            return await self._decide(row, "failed", "resultado_incerto")
        blocked = await self._rule_blocking(row)
        if blocked:
            return await self._decide(row, *blocked)
        typing_s = typing(row.body) if typing else 0.0
        if typing_s > 0 and row.instance:
            await self._sender.send_presence(row.instance, row.to_phone, int(typing_s * 1000))
            await asyncio.sleep(typing_s)
            # A pause or a takeover during the typing stops the message.
            blocked = await self._rule_blocking(row)
            if blocked:
                return await self._decide(row, *blocked)
        if not await sends.claim_attempt(self._db, row.id, row.attempts):
            return Outcome(row.id, "cancelled", "enviado_por_outro_processo")
        try:
            provider_id = await self._sender.send_text(row.instance or "", row.to_phone, row.body)
        except SendError as exc:
            if exc.retryable:
                await sends.mark_outcome(
                    self._db,
                    row.id,
                    "deferred",
                    "envio_falhou",
                    error=str(exc),
                    not_before=datetime.now(UTC) + RETRY_AFTER,
                )
                log.warning("outbound.deferred", send_id=row.id, error=str(exc))
                return Outcome(row.id, "deferred", "envio_falhou")
            await sends.mark_outcome(self._db, row.id, "failed", "envio_falhou", error=str(exc))
            log.error("outbound.failed", send_id=row.id, error=str(exc))
            return Outcome(row.id, "failed", "envio_falhou")
        async with self._db.acquire() as conn, conn.transaction():
            await self._record_sent(conn, row, provider_id)
        log.info(
            "outbound.sent", send_id=row.id, kind=row.kind, conversation_id=row.conversation_id
        )
        return Outcome(row.id, "sent")

    async def _rule_blocking(self, row: OutboundSend) -> tuple[str, str] | None:
        if await self._status.paused():
            return "blocked", "pausado"
        # A human's relay, and Julia's own transition/holding message sent as she hands
        # over, go out under human control; nothing else does.
        if row.conversation_id is not None and row.kind not in ("relay", "system"):
            conversation = await conversations.get(self._db, row.conversation_id)
            if conversation is not None and conversation.under_human:
                return "cancelled", "humano"
        if row.proactive and row.doctor_id is not None:
            opted_out = await self._db.fetchval(
                "SELECT opted_out_at IS NOT NULL FROM doctors WHERE id = $1", row.doctor_id
            )
            if opted_out:
                return "cancelled", "opt_out"
        return None

    async def _decide(self, row: OutboundSend, status: str, reason: str) -> Outcome:
        await sends.mark_outcome(self._db, row.id, status, reason)
        log.info("outbound.not_sent", send_id=row.id, status=status, reason=reason)
        return Outcome(row.id, status, reason)

    async def _record_sent(self, conn: Conn, row: OutboundSend, provider_id: str) -> None:
        await sends.mark_sent(conn, row.id, provider_id)
        message_id = await conversations.insert_message(
            conn,
            conversation_id=row.conversation_id,
            doctor_id=row.doctor_id,
            direction="out",
            author="system" if row.kind == "system" else "julia",
            instance=row.instance,
            provider_message_id=provider_id,
            body=row.body,
            processed=True,
            outbound_send_id=row.id,
            turn_id=row.turn_id,
        )
        if message_id is None:
            # The webhook echo of this send was stored first; link it to the ledger.
            await conn.execute(
                """UPDATE messages SET outbound_send_id = $3, author = 'julia', turn_id = $4
                   WHERE instance = $1 AND provider_message_id = $2""",
                row.instance,
                provider_id,
                row.id,
                row.turn_id,
            )
        if row.doctor_id is not None:
            await conn.execute(
                """UPDATE doctors SET last_outbound_at = now(),
                          last_proactive_at = CASE WHEN $2 THEN now() ELSE last_proactive_at END
                   WHERE id = $1""",
                row.doctor_id,
                row.proactive,
            )
        if row.conversation_id is not None:
            await conn.execute(
                "UPDATE conversations SET last_message_at = now() WHERE id = $1",
                row.conversation_id,
            )
