"""The one outbound gateway (DESIGN rule 7): every message to a doctor goes through here.

A message is first recorded in `outbound_sends` under an idempotency key (by the caller,
with `plan`), then `deliver` decides and sends it. Right before the send it re-reads the
operator switch (julia_status), the conversation's control and the doctor's opt-out, so a
pause or a takeover stops messages already planned; the claim that starts the send reads
julia_status again in the same statement, so no send starts after a pause was committed.
Each decision is recorded with its reason. A row that was being sent when its process died
is never sent again: the send may have reached WhatsApp, and a doubled message is worse
than a missing one.

Proactive messages (campaign openers, follow-ups, reactivation, reminders) answer to more
rules, checked in this order: the campaign is running, PILOT_MODE for autonomous ones,
business hours, the chip is connected and healthy, and the chip's and the doctor's caps
(taken atomically in Redis, see `outbound.limiter`). One that may not go now is deferred
to the earliest moment it could; one that may never go (opt-out, a person took over, the
campaign was cancelled) is cancelled. Either way the reason is recorded.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from app.core.config import Settings
from app.core.db import Conn, transaction
from app.core.logging import get_logger
from app.domain.conversations import repository as conversations
from app.domain.doctors import repository as doctors
from app.domain.outbound import chips_repository as chips_repo
from app.domain.outbound import repository as sends
from app.domain.outbound.chips import caps_for, chip_for_doctor
from app.domain.outbound.limiter import Limiter, Limits
from app.domain.outbound.pacing import BusinessHours, local_day_bounds, opening_jitter, send_gap
from app.domain.outbound.repository import OutboundSend
from app.domain.outbound.status import StatusReader
from app.integrations.protocols import MessageSender, SendError

log = get_logger(__name__)

RETRY_AFTER = timedelta(seconds=30)
# How long a proactive message waits before it is looked at again, by reason.
PAUSED_RETRY = timedelta(minutes=10)
PILOT_RETRY = timedelta(hours=1)
CAMPAIGN_PAUSED_RETRY = timedelta(minutes=15)
CHIP_RETRY = timedelta(minutes=5)
# A proactive send claimed this recently may still be on its way in another worker (the
# HTTP timeout is 15 s): a redelivered job leaves it alone instead of judging it lost.
IN_FLIGHT = timedelta(minutes=2)
# How long the background "digitando…" call may take: the rules' reads, then Evolution's
# answer, which it holds for the presence's delay (at most 9.5 s of typing, see delivery).
TYPING_CALL_TIMEOUT_S = 30.0

# Not replies to a burst, so nothing answers them again after `retomar`: they wait instead.
WAIT_OUT_PAUSE = frozenset({"reserva", "gestor"})

Clock = Callable[[], datetime]
# Told the conversation of every message that went out, after it is recorded (the Chatwoot
# mirror's trigger). A failure there is logged and never undoes the send.
AfterSent = Callable[[int], Awaitable[None]]
# Checks a proactive text that quotes a shift right before it goes: the row to send (itself
# or rewritten), or None to drop it (app.domain.outreach.freshness).
Freshen = Callable[[OutboundSend, datetime], Awaitable[OutboundSend | None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    send_id: int
    status: str  # sent, blocked, cancelled, deferred, failed
    reason: str | None = None

    @property
    def sent(self) -> bool:
        return self.status == "sent"


@dataclass(frozen=True, slots=True)
class _Decision:
    status: str  # blocked, cancelled, deferred
    reason: str
    not_before: datetime | None = None


class Gateway:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        sender: MessageSender,
        status: StatusReader,
        settings: Settings,
        limiter: Limiter,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        after_sent: AfterSent | None = None,
        freshen: Freshen | None = None,
    ) -> None:
        self._db = db
        self._after_sent = after_sent
        self._freshen = freshen
        self._sender = sender
        self._status = status
        self._settings = settings
        self._limiter = limiter
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()  # noqa: S311 - pacing jitter, not secrecy
        self._hours = BusinessHours.of(settings)
        # Background typing calls, held so they are not garbage-collected mid-flight.
        self._typing_tasks: set[asyncio.Task[None]] = set()

    async def deliver(self, send_id: int) -> Outcome:
        """Decide and, if allowed, send one recorded message now. Nothing here waits: a
        reply part's typing time is shown with `start_typing` and waited by scheduling
        this call (see app.domain.agent.turn)."""
        row = await sends.get(self._db, send_id)
        if row is None:
            raise LookupError(f"outbound send {send_id} does not exist")
        with structlog.contextvars.bound_contextvars(
            conversation_id=row.conversation_id, send_id=row.id
        ):
            return await self._deliver(row)

    def start_typing(self, row: OutboundSend, seconds: float) -> None:
        """Show "digitando…" to the doctor for `seconds`, in the background.

        Evolution's sendPresence answers only after its `delay`
        (whatsapp.baileys.service.ts:2434-2444 at 2.3.6): the caller never waits for it, so
        a part being typed occupies no worker slot. Nothing is shown while Julia is paused
        or a person holds the conversation. Typing is cosmetic: any failure is only logged.
        """
        if seconds <= 0 or not row.instance:
            return
        task = asyncio.create_task(self._typing(row, seconds))
        self._typing_tasks.add(task)
        task.add_done_callback(self._typing_tasks.discard)

    async def _typing(self, row: OutboundSend, seconds: float) -> None:
        try:
            async with asyncio.timeout(TYPING_CALL_TIMEOUT_S):
                if await self._rule_blocking(row, self._clock()) is not None:
                    return
                await self._sender.send_presence(
                    row.instance or "", row.to_phone, int(seconds * 1000)
                )
        except Exception as exc:  # a background task is its own boundary
            log.info("outbound.typing_failed", send_id=row.id, error=type(exc).__name__)

    async def _deliver(self, row: OutboundSend) -> Outcome:
        if row.status not in ("pending", "deferred"):
            return Outcome(row.id, row.status, row.reason or "ja_decidido")
        now = self._clock()
        if row.status == "pending" and row.attempts > 0:
            if row.decided_at and now - row.decided_at < IN_FLIGHT:
                # Replies too: a part's job and a sweep may meet on the same row.
                return Outcome(row.id, "pending", "em_envio")
            # A process died between claiming this send and recording its result.
            return await self._decide(row, _Decision("failed", "resultado_incerto"), now)
        if row.status == "deferred" and row.reason == "envio_falhou" and self._stale(row, now):
            # Handed back after its freshness ran out (a long outage, no worker meanwhile).
            return await self._decide(row, _Decision("failed", "envio_expirou"), now)
        decision = await self._rule_blocking(row, now)
        if decision is None and row.proactive and row.shift_id is not None and self._freshen:
            # Nothing stale goes out: a quoted shift that is gone is rewritten or dropped.
            fresh = await self._freshen(row, now)
            if fresh is None:
                decision = _Decision("cancelled", "plantao_indisponivel")
            elif fresh.status not in ("pending", "deferred") or fresh.attempts != row.attempts:
                return Outcome(row.id, "cancelled", "enviado_por_outro_processo")
            else:
                row = fresh
        if decision is None and row.proactive:
            row, decision = await self._admit(row, now)
        if decision is not None:
            return await self._decide(row, decision, now)
        # The text as read: a process that rewrote it meanwhile (a quoted shift gone) sends
        # its own version, never this one.
        if not await sends.claim_attempt(self._db, row.id, row.attempts, now, seen_body=row.body):
            current = await sends.get(self._db, row.id)
            if current is None or (current.attempts == row.attempts and current.body == row.body):
                # Nobody else claimed it (a pause or an opt-out stopped it): its slots are
                # free again. When another worker did, or rewrote its text and sends that,
                # the slots are that send's: keep them.
                await self._release(row)
                if current is not None and current.status in ("pending", "deferred"):
                    paused = await self._rule_blocking(row, now)
                    if paused is not None:
                        return await self._decide(row, paused, now)
            if current is not None and current.status == "cancelled":
                return Outcome(row.id, "cancelled", current.reason)
            return Outcome(row.id, "cancelled", "enviado_por_outro_processo")
        try:
            provider_id = await self._sender.send_text(row.instance or "", row.to_phone, row.body)
        except SendError as exc:
            return await self._send_failed(row, exc, now)
        async with transaction(self._db) as conn:
            await self._record_sent(conn, row, provider_id, now)
        log.info(
            "outbound.sent", send_id=row.id, kind=row.kind, conversation_id=row.conversation_id
        )
        if self._after_sent is not None and row.conversation_id is not None:
            try:
                await self._after_sent(row.conversation_id)
            except Exception as exc:  # the message went out; only its mirror is late
                log.warning("outbound.after_sent_failed", error=type(exc).__name__)
        return Outcome(row.id, "sent")

    async def _rule_blocking(self, row: OutboundSend, now: datetime) -> _Decision | None:
        if await self._status.paused():
            # A reply's burst is answered again after `retomar`; a proactive message, a
            # reservation's news and a manager notice wait.
            if row.proactive or row.kind in WAIT_OUT_PAUSE:
                return _Decision("deferred", "pausado", now + PAUSED_RETRY)
            return _Decision("blocked", "pausado")
        if row.kind == "gestor" and await doctors.find_by_phone(self._db, row.to_phone):
            # GESTOR_WHATSAPP must be the manager's own number: never a notice to a doctor.
            return _Decision("cancelled", "numero_de_medico")
        # A human's relay, and Julia's own transition/holding message sent as she hands
        # over, go out under human control; nothing else does.
        if row.conversation_id is not None and row.kind not in ("relay", "system"):
            conversation = await conversations.get(self._db, row.conversation_id)
            if conversation is not None and conversation.under_human:
                return _Decision("cancelled", "humano")
        if (
            (row.proactive or row.kind == "reserva")
            and row.doctor_id is not None
            and await doctors.is_opted_out(self._db, row.doctor_id)
        ):
            return _Decision("cancelled", "opt_out")
        return None

    async def _admit(
        self, row: OutboundSend, now: datetime
    ) -> tuple[OutboundSend, _Decision | None]:
        """The proactive rules; on success the chip's and doctor's slots are taken."""
        if row.campaign_id is not None:
            campaign_status = await sends.campaign_status(self._db, row.campaign_id)
            # A concluded campaign has written all its openers; their follow-ups still go.
            if campaign_status is None or campaign_status == "cancelada":
                return row, _Decision("cancelled", "campanha_encerrada")
            if campaign_status not in ("ativa", "concluida"):
                return row, _Decision("deferred", "campanha_pausada", now + CAMPAIGN_PAUSED_RETRY)
        if row.autonomous and self._settings.PILOT_MODE:
            return row, _Decision("deferred", "pilot_mode", now + PILOT_RETRY)
        if not self._hours.is_open(now):
            return row, _Decision("deferred", "horario", self._after_opening(now))
        doctor_id = row.doctor_id
        if doctor_id is None:
            return row, _Decision("cancelled", "sem_medico")
        chip = None
        if row.chip_id is not None:
            chip = await chips_repo.get_chip(self._db, row.chip_id)
        if chip is None or (not chip.enabled and self._settings.MULTI_CHIP_ENABLED):
            chip = await chip_for_doctor(self._db, self._settings, doctor_id=doctor_id, now=now)
            if chip is None:
                return row, _Decision("deferred", "sem_chip", now + CHIP_RETRY)
            await sends.set_route(self._db, row.id, chip.id, chip.instance)
            row = _rerouted(row, chip.id, chip.instance)
        unusable = chip.unusable(now)
        if unusable is not None:
            until = chip.benched_until if unusable == "chip_em_pausa" else None
            return row, _Decision("deferred", unusable, until or now + CHIP_RETRY)
        caps = caps_for(self._settings, chip, now)
        day_start, day_end = local_day_bounds(now, self._settings.tz)
        admission = await self._limiter.admit(
            send_id=row.id,
            chip_id=chip.id,
            doctor_id=doctor_id,
            now=now,
            limits=Limits(
                hourly=caps.hourly,
                daily=caps.daily,
                day_start=day_start,
                day_end=day_end,
                gap_s=send_gap(caps, self._hours.open_seconds, self._rng),
                doctor_gap=timedelta(hours=self._settings.MEDICO_INTERVALO_HORAS),
                doctor_week=self._settings.MEDICO_MAX_POR_SEMANA,
            ),
        )
        if admission.admitted:
            return row, None
        assert admission.rule is not None and admission.retry_at is not None
        retry_at = admission.retry_at
        if not self._hours.is_open(retry_at):
            retry_at = self._after_opening(retry_at)
        return row, _Decision("deferred", admission.rule, retry_at)

    def _after_opening(self, moment: datetime) -> datetime:
        return self._hours.next_open(moment) + opening_jitter(self._rng)

    async def _release(self, row: OutboundSend) -> None:
        """Give back the caps' slots of a proactive message that did not go out."""
        if row.proactive and row.chip_id is not None and row.doctor_id is not None:
            await self._limiter.release(
                send_id=row.id, chip_id=row.chip_id, doctor_id=row.doctor_id
            )

    async def _send_failed(self, row: OutboundSend, exc: SendError, now: datetime) -> Outcome:
        await self._release(row)
        if row.chip_id is not None:
            benched = await chips_repo.record_chip_failure(
                self._db,
                row.chip_id,
                now=now,
                threshold=self._settings.CHIP_FALHAS_PARA_PAUSA,
                bench_for=timedelta(minutes=self._settings.CHIP_PAUSA_MINUTOS),
            )
            if benched:
                log.warning("chip.benched", chip_id=row.chip_id, instance=row.instance)
        if exc.retryable and self._stale(row, now):
            # Evolution refused it for longer than a reply stays worth sending: a person
            # takes the conversation (the turn hands it over and tells Slack).
            await sends.mark_outcome(
                self._db, row.id, "failed", "envio_expirou", error=str(exc), at=now
            )
            log.error("outbound.expired", send_id=row.id, error=str(exc))
            return Outcome(row.id, "failed", "envio_expirou")
        if exc.retryable:
            await sends.mark_outcome(
                self._db,
                row.id,
                "deferred",
                "envio_falhou",
                error=str(exc),
                not_before=now + self._retry_delay(row),
                at=now,
            )
            log.warning("outbound.deferred", send_id=row.id, error=str(exc))
            return Outcome(row.id, "deferred", "envio_falhou")
        # "unknown": it may have reached WhatsApp, so it is never sent again, and said so.
        reason = "resultado_incerto" if exc.outcome == "unknown" else "envio_falhou"
        await sends.mark_outcome(self._db, row.id, "failed", reason, error=str(exc), at=now)
        log.error("outbound.failed", send_id=row.id, outcome=exc.outcome, error=str(exc))
        return Outcome(row.id, "failed", reason)

    def _retry_delay(self, row: OutboundSend) -> timedelta:
        """The wait before sending again a message that surely did not leave: doubling from
        SEND_RETRY_FIRST_SECONDS (its attempts counted this one) up to SEND_RETRY_MAX_SECONDS.
        The first wait also lets a late echo arrive if, against its answer, it did go."""
        s = self._settings
        first, most = s.SEND_RETRY_FIRST_SECONDS, s.SEND_RETRY_MAX_SECONDS
        return timedelta(seconds=min(most, first * 2 ** max(row.attempts, 0)))

    def _stale(self, row: OutboundSend, now: datetime) -> bool:
        """A reply (never a proactive message, which waits for its window anyway) planned
        longer than REPLY_FRESH_SECONDS ago is no longer worth retrying."""
        if row.proactive or row.created_at is None:
            return False
        return now - row.created_at > timedelta(seconds=self._settings.REPLY_FRESH_SECONDS)

    async def _decide(self, row: OutboundSend, decision: _Decision, now: datetime) -> Outcome:
        await sends.mark_outcome(
            self._db,
            row.id,
            decision.status,
            decision.reason,
            not_before=decision.not_before,
            at=now,
        )
        log.info(
            "outbound.not_sent", send_id=row.id, status=decision.status, reason=decision.reason
        )
        return Outcome(row.id, decision.status, decision.reason)

    async def _record_sent(
        self, conn: Conn, row: OutboundSend, provider_id: str, now: datetime
    ) -> None:
        await sends.mark_sent(conn, row.id, provider_id, now)
        if row.chip_id is not None:
            await chips_repo.record_chip_success(conn, row.chip_id, now)
        if row.kind == "gestor":
            return  # the manager is no doctor: no conversation to record it in
        message_id = await conversations.insert_message(
            conn,
            conversation_id=row.conversation_id,
            doctor_id=row.doctor_id,
            direction="out",
            author=_AUTHORS.get(row.kind, "julia"),
            instance=row.instance,
            provider_message_id=provider_id,
            body=row.body,
            processed=True,
            outbound_send_id=row.id,
            turn_id=row.turn_id,
        )
        if message_id is None:
            # The webhook echo of this send was stored first; link it to the ledger.
            await conversations.link_echo_to_send(
                conn,
                instance=row.instance,
                provider_message_id=provider_id,
                send_id=row.id,
                turn_id=row.turn_id,
            )
        if row.doctor_id is not None:
            await doctors.touch_outbound(conn, row.doctor_id, now, proactive=row.proactive)
        if row.conversation_id is not None:
            await conversations.touch_outbound(conn, row.conversation_id, now)


# Who wrote a recorded send: a relay is a person's words (from Chatwoot), `system` Julia's
# fixed transition and confirmation texts.
_AUTHORS = {"relay": "human", "system": "system"}


def _rerouted(row: OutboundSend, chip_id: int, instance: str) -> OutboundSend:
    return replace(row, chip_id=chip_id, instance=instance)
