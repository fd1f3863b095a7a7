"""One conversation turn: a burst of doctor messages in, Julia's reply out.

The job that runs it takes ids only and re-reads everything (DESIGN rule 6):

1. Debounce: only the job of the newest waiting message proceeds, once that message has
   waited INBOUND_DEBOUNCE_SECONDS; so a burst is answered once.
2. One turn per conversation at a time (a Redis lease); a job that finds it taken comes
   back a second later, so a message arriving mid-turn is answered right after it.
3. Leftovers of a turn whose worker died are finished first: planned messages are
   delivered (each once), a turn that died before planning is marked failed and its
   messages are answered now.
4. Gates: paused (stay silent, keep the messages), human control (a person answers; an
   opt-out among the messages is still recorded), opt-out (one confirmation), handoff
   triggers (one transition message, a person takes over, the manager is told; "quem te
   deu meu número?" is first answered from the contact's recorded origin).
5. The agent writes the reply; guardrails repair or replace it; the reply is recorded in
   the outbound ledger together with the messages' processed mark, each part with the
   moment it may go (reading, then typing, like a person). The parts are scheduled sends:
   a queue job wakes each one when its typing starts and when it is due (`advance`), so
   no job sleeps through the delays, and the parts of a conversation go out in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from redis.asyncio import Redis

from app.core.circuit import CircuitBreaker
from app.core.config import Settings
from app.core.db import transaction
from app.core.lease import Lease
from app.core.logging import get_logger
from app.domain.agent import loop as agent
from app.domain.agent import prompts, tools
from app.domain.agent import repository as agent_repo
from app.domain.agent.delivery import reading_delay, split_reply, typing_delay
from app.domain.agent.routing import choose_model
from app.domain.conversations import repository as repo
from app.domain.conversations.repository import Conversation, StoredMessage, TurnRecord
from app.domain.doctors import repository as doctors
from app.domain.doctors.repository import Doctor
from app.domain.handoff import repository as handoff_repo
from app.domain.handoff import service as handoff
from app.domain.inbox.detection import asks_number_source, handoff_reason, is_opt_out
from app.domain.media import repository as media_repo
from app.domain.media import service as media
from app.domain.memory import service as memory
from app.domain.notices.service import notify
from app.domain.outbound import chips_repository as chips_repo
from app.domain.outbound import manager
from app.domain.outbound import repository as sends
from app.domain.outbound.gateway import Gateway, Outcome
from app.domain.outbound.repository import OutboundSend
from app.domain.outbound.status import StatusReader
from app.domain.outreach import campaigns
from app.domain.outreach import repository as outreach
from app.domain.privacy import service as privacy
from app.domain.reservations import service as reservations
from app.domain.reservations.service import day_text
from app.domain.voice.guardrails import check_reply, money_cents, repair_format
from app.integrations.protocols import LLM, Embedder, LLMUnavailable, MediaStore, Notifier, Usage

log = get_logger(__name__)

# After this many failed attempts at one burst, the doctor is not kept waiting any longer.
MAX_LLM_ATTEMPTS = 3
# Handoff triggers from the detector mapped onto the handoffs table's vocabulary.
_TRIGGERS = {"pedido": "pedido", "bot": "pedido", "juridico": "juridico", "negativo": "negativo"}
_TRIGGER_REASONS = {
    "pedido": "pediu para falar com uma pessoa",
    "bot": "perguntou se fala com um robô",
    "juridico": "palavras jurídicas ou denúncia",
    "negativo": "mensagem muito negativa",
}
_BLOCKING_RULES = {"ai_disclosure", "invented_value", "empty"}

Enqueue = Callable[[int, int | None, float], Awaitable[None]]
ScheduleSend = Callable[[int, datetime], Awaitable[None]]
# A reply part whose job wakes this close to its moment goes out now.
ON_TIME = timedelta(milliseconds=20)
# While a burst's attachment is being fetched or transcribed, the turn looks again this often.
MEDIA_POLL_SECONDS = 0.5


@dataclass
class TurnServices:
    """What a turn needs, built once per worker process."""

    settings: Settings
    db: asyncpg.Pool
    redis: Redis
    gateway: Gateway
    status: StatusReader
    llm: LLM | None
    breaker: CircuitBreaker
    embedder: Embedder | None
    notifier: Notifier | None
    enqueue: Enqueue  # (conversation id, message id, delay seconds): run a turn job later
    schedule: ScheduleSend  # (send id, moment): wake a reply part's job then
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    media_store: MediaStore | None = None  # where the burst's photos and PDFs are read from


async def handle(
    svc: TurnServices, conversation_id: int, message_id: int | None, *, job_id: str | None = None
) -> str:
    """Run the turn a new message (or a sweep, with `message_id` None) asked for.

    Returns what happened, for logs and tests: answered, nothing, newer_pending,
    debouncing, busy, paused, human, human_opt_out, opt_out, handoff, llm_retry, held.
    """
    if message_id is not None:
        waiting = await _waiting(svc.db, conversation_id)
        if message_id not in waiting.ids:
            return "nothing"
        if waiting.ids[-1] != message_id:
            return "newer_pending"  # the newest message's job answers the whole burst
        remaining = svc.settings.INBOUND_DEBOUNCE_SECONDS - waiting.newest_age_s
        if remaining > 0.05:
            await svc.enqueue(conversation_id, message_id, remaining)
            return "debouncing"

    ttl = svc.settings.TURN_LOCK_SECONDS
    lease = Lease(svc.redis, f"julia:turn-lock:{conversation_id}", ttl, job_id or "turn")
    if not await lease.refresh():
        await svc.enqueue(conversation_id, message_id, 1.0)
        return "busy"

    async def keep_alive() -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            await lease.refresh()

    renewer = asyncio.create_task(keep_alive())
    try:
        return await _locked(svc, conversation_id, message_id, job_id)
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        await lease.release()


@dataclass
class _Waiting:
    ids: list[int]
    newest_age_s: float


async def _waiting(db: asyncpg.Pool, conversation_id: int) -> _Waiting:
    # Ages come from the database clock, the same clock that stamped created_at.
    rows = await repo.waiting_inbound(db, conversation_id)
    return _Waiting([r.id for r in rows], rows[-1].age_s if rows else 0.0)


async def _locked(
    svc: TurnServices, conversation_id: int, message_id: int | None, job_id: str | None
) -> str:
    replying_until = await _finish_interrupted(svc, conversation_id)
    pending = await repo.pending_inbound(svc.db, conversation_id)
    if not pending:
        return "nothing"
    if replying_until is not None:
        # Julia is still "typing" her last reply: the new messages are answered once it is
        # out, with the whole reply in the history (as a person would), from a later job.
        wait = (replying_until - svc.clock()).total_seconds()
        await svc.enqueue(conversation_id, message_id, max(wait, 0.0) + 0.1)
        return "replying"
    conversation = await repo.get(svc.db, conversation_id)
    assert conversation is not None
    if conversation.under_human:
        # A person answers, but an opt-out is the law whoever holds the conversation.
        opted_out = await _opt_out_under_human(svc, conversation, pending)
        await repo.mark_processed(svc.db, [m.id for m in pending], None)
        return "human_opt_out" if opted_out else "human"
    if await svc.status.paused():
        log.info("turn.paused", conversation_id=conversation_id, waiting=len(pending))
        return "paused"
    fetching = [m for m in pending if media.is_pending(m.media)]
    if fetching:
        # A voice note and the text after it are one turn: wait (bounded) for its transcript.
        waited = (svc.clock() - fetching[0].created_at).total_seconds()
        if waited < svc.settings.MEDIA_WAIT_SECONDS:
            await svc.enqueue(conversation_id, message_id, MEDIA_POLL_SECONDS)
            return "media_pending"
        log.warning("turn.media_timeout", conversation_id=conversation_id, waiting=len(fetching))
    doctor = await doctors.get(svc.db, conversation.doctor_id)
    assert doctor is not None
    structlog.contextvars.bind_contextvars(doctor_id=doctor.id)
    log.info("Processing message", conversation_id=conversation_id, messages=len(pending))
    turn = _Turn(svc, conversation, doctor, pending, job_id)
    texts = [text for text in map(agent.said, pending) if text]
    if any(is_opt_out(text) for text in texts):
        return await turn.opt_out()
    reason = next((r for r in map(handoff_reason, texts) if r), None)
    if reason:
        return await turn.fixed_handoff(reason)
    unreadable = turn.unreadable()
    if unreadable is not None:
        outcome = await turn.cant_read(unreadable)
        if outcome is not None:
            return outcome
    return await turn.answer()


async def _opt_out_under_human(
    svc: TurnServices, conversation: Conversation, pending: list[StoredMessage]
) -> bool:
    """Record an opt-out written while a person holds the conversation: the doctor is opted
    out and everything queued for them cancelled; Julia stays silent (the person answers),
    and the managers are told. Returns whether the messages held an opt-out."""
    if not any(is_opt_out(m.body) for m in pending if m.body):
        return False
    now = svc.clock()
    async with transaction(svc.db) as conn:
        newly = await doctors.mark_opted_out(
            conn, conversation.doctor_id, "pedido do médico (atendimento humano)", now
        )
        await outreach.stop_for_doctor(conn, conversation.doctor_id, "opt_out", at=now)
    log.info("doctor.opted_out", doctor_id=conversation.doctor_id, newly=newly, human=True)
    if newly:
        await notify(
            svc.db,
            svc.notifier,
            key=f"opt_out:{conversation.id}",
            kind="opt_out",
            text=(
                f"Opt-out registrado na conversa {conversation.id} (com um humano): o médico "
                "pediu para não receber mais mensagens. Nenhuma mensagem automática sai mais "
                "para ele; confirme o pedido na conversa."
            ),
            cooldown=timedelta(hours=1),
            payload={"conversation_id": conversation.id},
        )
    return True


async def _finish_interrupted(svc: TurnServices, conversation_id: int) -> datetime | None:
    """Deliver what a dead turn or a lost job left due; release the messages of a turn that
    died before planning. Returns when the reply still being "typed" is due, if any."""
    leftovers = await sends.open_replies(svc.db, conversation_id)
    if leftovers and leftovers[0].not_before <= svc.clock() + ON_TIME:
        log.info("turn.resumed", conversation_id=conversation_id, messages=len(leftovers))
        await _advance(svc, leftovers[0].id)
        leftovers = await sends.open_replies(svc.db, conversation_id)
    for turn_id in await repo.interrupted_turns(svc.db, conversation_id):
        async with transaction(svc.db) as conn:
            await repo.finish_turn(conn, turn_id, "failed", error="interrompido")
            await repo.detach_from_turn(conn, turn_id, unprocessed_only=True)
        log.warning("turn.interrupted", conversation_id=conversation_id, turn_id=turn_id)
    now = svc.clock()
    scheduled = [
        s.not_before
        for s in leftovers
        if s.status == "pending" and s.attempts == 0 and s.not_before > now
    ]
    return max(scheduled) if scheduled else None


def plan_moments(
    parts: list[str], *, inbound_chars: int, now: datetime, scale: float, rng: random.Random
) -> list[tuple[datetime, int]]:
    """When each part may go and how many ms of typing come before it: the reading delay,
    then each part's typing time, one after the other (a part is typed once the one before
    it is out)."""
    reading = reading_delay(inbound_chars, scale=scale, rng=rng) if inbound_chars else 0.0
    at = now + timedelta(seconds=reading)
    moments = []
    for part in parts:
        typing = typing_delay(part, scale=scale, rng=rng)
        at += timedelta(seconds=typing)
        moments.append((at, int(typing * 1000)))
    return moments


async def advance(svc: TurnServices, send_id: int) -> str:
    """A reply part's job: what it did, for logs and tests (typing, waiting, or the
    outcomes of what went out)."""
    outcomes = await _advance(svc, send_id)
    return ",".join(f"{o.status}:{o.reason or ''}" for o in outcomes) or "scheduled"


async def _advance(svc: TurnServices, send_id: int) -> list[Outcome]:
    """Move a conversation's planned reply parts along from `send_id`, never waiting.

    A part whose moment has not come starts its typing (when its typing window is open)
    and schedules its job for the moment; a due part goes through the gateway, which
    re-reads pause, human control and opt-out. After a part went out the next one's typing
    starts. Parts go out in order: one with an undecided part before it does nothing (that
    part's run plans it), and one not sent cancels the rest of its reply.
    """
    outcomes: list[Outcome] = []
    row = await sends.get(svc.db, send_id)
    after_sent = False
    while row is not None and row.status in ("pending", "deferred"):
        if row.conversation_id is not None and await sends.earlier_open_reply(
            svc.db, row.conversation_id, row.id
        ):
            break
        now = svc.clock()
        typing = timedelta(milliseconds=row.typing_ms)
        if after_sent and row.status == "pending" and row.not_before < now + typing:
            # Typed once the previous part is out, for its whole typing time.
            row = replace(row, not_before=now + typing)
            await sends.reschedule(svc.db, row.id, row.not_before)
        if row.not_before > now + ON_TIME:
            if row.status == "pending" and row.attempts == 0:
                typing_starts = row.not_before - typing
                if typing_starts <= now + ON_TIME:
                    svc.gateway.start_typing(row, (row.not_before - now).total_seconds())
                    await svc.schedule(row.id, row.not_before)
                else:
                    await svc.schedule(row.id, typing_starts)
            break  # a deferred part waits for its retry (the sweep hands it back)
        outcome = await svc.gateway.deliver(row.id)
        outcomes.append(outcome)
        if outcome.status == "deferred" and outcome.reason == "envio_falhou":
            # It surely did not leave: this part's job runs again after the backoff.
            retry = await sends.get(svc.db, row.id)
            if retry is not None and retry.status == "deferred":
                await svc.schedule(retry.id, retry.not_before)
            break
        if outcome.status in ("pending", "deferred") or outcome.reason == (
            "enviado_por_outro_processo"
        ):
            break  # another run has it, or the rest waits for the retry, in order
        if outcome.reason in UNDELIVERED:
            await _tell_a_person(svc, row, outcome.reason or "")
        if not outcome.sent:
            if row.turn_id is not None:
                reason = f"anterior_{outcome.reason or outcome.status}"
                await sends.cancel_rest_of_turn(svc.db, row.turn_id, row.id, reason)
            if outcome.reason == "pausado" and row.turn_id and _first_reply_part(row):
                # Paused before anything went out: the burst waits for `retomar`.
                async with transaction(svc.db) as conn:
                    await repo.skip_turn_for_later(conn, row.turn_id)
        after_sent = outcome.sent
        if row.conversation_id is None:
            break
        row = await sends.next_open_reply(svc.db, row.conversation_id, row.id)
    return outcomes


# A reply that did not reach the doctor for a reason no rule chose: a person must know.
UNDELIVERED = ("envio_expirou", "resultado_incerto")


async def _tell_a_person(svc: TurnServices, row: OutboundSend, reason: str) -> None:
    """No doctor is left waiting in silence. A reply Evolution kept refusing past its
    freshness hands the conversation to a person; one whose outcome is unknown (it may have
    arrived, so it is never resent) is listed in Slack for a person to check."""
    if row.conversation_id is None or row.doctor_id is None:
        return
    quoted = row.body if len(row.body) <= 300 else row.body[:297] + "..."
    if reason == "envio_expirou":
        async with transaction(svc.db) as conn:
            await handoff.hand_to_human(
                conn,
                conversation_id=row.conversation_id,
                doctor_id=row.doctor_id,
                trigger="envio_falhou",
                reason="o WhatsApp não aceitou a resposta da Julia a tempo",
            )
        minutes = int(svc.settings.REPLY_FRESH_SECONDS // 60) or 1
        text = (
            f"Handoff: +{row.to_phone} ficou sem resposta: o WhatsApp (Evolution) recusou o "
            f'envio por mais de {minutes} min. A resposta que não saiu: "{quoted}". '
            f"Conversa {row.conversation_id}; a Julia ficou em silêncio, responda por lá."
        )
        # Its own key: a handoff notice of minutes ago must not swallow this one.
        key, kind = f"envio_expirou:{row.id}", "handoff"
    else:
        text = (
            f"Envio incerto para +{row.to_phone}: o Evolution não respondeu a tempo e a "
            f'mensagem pode ou não ter chegado (não será reenviada): "{quoted}". '
            f"Conversa {row.conversation_id}: confira no WhatsApp e, se não chegou, responda."
        )
        key, kind = f"envio_incerto:{row.id}", "send_uncertain"
    await notify(
        svc.db,
        svc.notifier,
        key=key,
        kind=kind,
        severity="warning",
        text=text,
        cooldown=timedelta(minutes=10),
        payload={"conversation_id": row.conversation_id, "send_id": row.id, "reason": reason},
    )
    if reason == "envio_expirou":
        async with svc.db.acquire() as conn:
            await handoff_repo.mark_notified(conn, row.conversation_id)
    log.warning("outbound.told_a_person", send_id=row.id, reason=reason)


def _first_reply_part(row: OutboundSend) -> bool:
    return row.kind == "reply" and row.idempotency_key == f"turn:{row.turn_id}:0"


class _Turn:
    def __init__(
        self,
        svc: TurnServices,
        conversation: Conversation,
        doctor: Doctor,
        pending: list[StoredMessage],
        job_id: str | None,
    ) -> None:
        self.svc = svc
        self.conversation = conversation
        self.doctor = doctor
        self.pending = pending
        self.job_id = job_id
        self.burst = "\n".join(text for text in map(agent.said, pending) if text)
        self.seed = pending[-1].id

    # Fixed answers -----------------------------------------------------------------------

    async def opt_out(self) -> str:
        now = self.svc.clock()
        async with transaction(self.svc.db) as conn:
            turn_id = await repo.start_turn(conn, self.conversation.id, self.job_id)
            newly = await doctors.mark_opted_out(conn, self.doctor.id, "pedido do médico", now)
            await outreach.stop_for_doctor(conn, self.doctor.id, "opt_out", at=now)
            # One confirmation only: a second "pare" from an opted-out doctor gets silence.
            parts = [prompts.pick(prompts.OPT_OUT_CONFIRMATIONS, self.seed)] if newly else []
            send_ids = await self._plan(conn, turn_id, parts, kind="system")
            await repo.finish_turn(conn, turn_id, "ok")
        log.info("doctor.opted_out", doctor_id=self.doctor.id, newly=newly)
        await self._deliver(send_ids)
        return "opt_out"

    def unreadable(self) -> str | None:
        """What the burst is when it is only attachments Julia could not hear or open
        (nothing written, no transcript, no photo or PDF ready): "audio" when all of them are
        voice notes or audio, else "file"; None when there is something to answer."""
        kinds = []
        for message in self.pending:
            m = message.media or {}
            if agent.said(message) or m.get("state") == "ready":
                return None
            if m.get("state") in ("failed", "refused", "pending", "unsupported"):
                kinds.append(m.get("kind"))
        if not kinds:
            return None
        return "audio" if all(kind == "audio" for kind in kinds) else "file"

    async def cant_read(self, what: str) -> str | None:
        """One natural reply asking for a text: for voice notes once per conversation (None
        after that: the model answers), for a file every time."""
        async with transaction(self.svc.db) as conn:
            if what == "audio" and not await media_repo.ask_for_text_once(
                conn, self.conversation.id
            ):
                return None
            turn_id = await repo.start_turn(conn, self.conversation.id, self.job_id)
            variants = (
                prompts.CANT_LISTEN_MESSAGES if what == "audio" else prompts.CANT_OPEN_MESSAGES
            )
            send_ids = await self._plan(
                conn, turn_id, [prompts.pick(variants, self.seed)], kind="reply"
            )
            await repo.finish_turn(conn, turn_id, "ok")
        log.info("turn.cant_read", conversation_id=self.conversation.id, what=what)
        await self._deliver(send_ids)
        return "cant_listen" if what == "audio" else "cant_open"

    async def _attachments(self) -> tuple[dict[int, dict[str, Any]], int]:
        """The burst's photos and PDFs as content blocks, and the images' token estimate."""
        blocks: dict[int, dict[str, Any]] = {}
        tokens = 0
        store = self.svc.media_store
        for message in self.pending:
            m = message.media or {}
            if store is None or m.get("state") != "ready" or m.get("kind") == "audio":
                continue
            data = await media.load(store, m)
            if data is None:
                continue
            blocks[message.id] = agent.attachment_block(str(m.get("mimetype")), data)
            if m.get("kind") == "image":
                tokens += int(m.get("image_tokens") or 0)
        return blocks, tokens

    async def _listen_note(self) -> str | None:
        """Asked once per conversation, when a voice note could not be heard and the burst
        has something else to answer."""
        unheard = any(
            (m.media or {}).get("kind") == "audio"
            and (m.media or {}).get("state") in ("failed", "refused", "pending")
            for m in self.pending
        )
        if unheard and await media_repo.ask_for_text_once(self.svc.db, self.conversation.id):
            return prompts.CANT_LISTEN_NOTE
        return None

    def _transcribed_seconds(self) -> int:
        total = 0
        for message in self.pending:
            m = message.media or {}
            if m.get("transcript_source") == "transcriber":
                total += int(m.get("transcribed_seconds") or 0)
        return total

    async def fixed_handoff(self, reason: str) -> str:
        trigger = _TRIGGERS.get(reason, "pedido")
        detail = _TRIGGER_REASONS.get(reason, reason)
        parts = [prompts.pick(prompts.HANDOFF_MESSAGES, self.seed)]
        if asks_number_source(self.burst):
            # "Quem te deu meu número?": answered from the recorded origin, then a person.
            answer, origin = await privacy.number_source(
                self.svc.db, self.doctor.id, self.svc.settings.tz, self.svc.settings.NOME_EMPRESA
            )
            parts.insert(0, answer)
            detail = f"{detail}; perguntou de onde veio o número. {origin}"
        await self._reply_and_hand_over(parts, trigger=trigger, reason=detail, record=None)
        return "handoff"

    async def _reply_and_hand_over(
        self, parts: list[str], *, trigger: str, reason: str, record: TurnRecord | None
    ) -> None:
        async with transaction(self.svc.db) as conn:
            turn_id = await repo.start_turn(conn, self.conversation.id, self.job_id)
            send_ids = await self._hand_over(conn, turn_id, parts, trigger, reason, record)
        await self._after_handoff(send_ids, trigger, reason)

    async def _hand_over(
        self,
        conn: Any,
        turn_id: int,
        parts: list[str],
        trigger: str,
        reason: str,
        record: TurnRecord | None,
    ) -> list[int]:
        # The transition message is 'system': the gateway lets it through human control.
        await handoff.hand_to_human(
            conn,
            conversation_id=self.conversation.id,
            doctor_id=self.doctor.id,
            trigger=trigger,
            reason=reason,
        )
        send_ids = await self._plan(conn, turn_id, parts, kind="system")
        await repo.finish_turn(conn, turn_id, "ok", record)
        return send_ids

    async def _after_handoff(self, send_ids: list[int], trigger: str, reason: str) -> None:
        await self._deliver(send_ids)
        who = self.doctor.name or self.doctor.push_name or "médico sem nome"
        await notify(
            self.svc.db,
            self.svc.notifier,
            key=f"handoff:{self.conversation.id}",
            kind="handoff",
            severity="warning",
            text=(
                f"Handoff: {who} (+{self.doctor.phone}) precisa de uma pessoa. "
                f"Motivo: {reason}. Conversa {self.conversation.id}; a Julia ficou em silêncio."
            ),
            cooldown=timedelta(minutes=10),
            payload={"conversation_id": self.conversation.id, "trigger": trigger},
        )
        async with self.svc.db.acquire() as conn:
            await handoff_repo.mark_notified(conn, self.conversation.id)
            manager_send = await manager.plan_notice(
                conn,
                self.svc.settings,
                # One notice per handed-over burst, however often this turn is retried.
                key=f"handoff:{self.conversation.id}:{self.seed}",
                text=(
                    f"Julia: handoff de {who} (+{self.doctor.phone}). Motivo: {reason}. "
                    f"Conversa {self.conversation.id}; ela ficou em silêncio."
                ),
            )
        if manager_send is not None:
            await self.svc.gateway.deliver(manager_send)
        log.info("conversation.handoff", conversation_id=self.conversation.id, trigger=trigger)

    # The agent -------------------------------------------------------------------------

    async def answer(self) -> str:
        svc, settings = self.svc, self.svc.settings
        now = svc.clock()
        history = await repo.history(svc.db, self.conversation.id, before_id=self.pending[0].id)
        returning = await self._returning(history, now)
        memories = await memory.relevant(
            svc.db, svc.embedder, doctor_id=self.doctor.id, query=self.burst or "oi", limit=6
        )
        briefing = await agent_repo.active_briefing(svc.db, now=now)
        system = prompts.system_blocks(
            company=settings.NOME_EMPRESA, directives=prompts.directives_text(briefing, settings.tz)
        )
        context = prompts.turn_context(
            now=now,
            tz=settings.tz,
            doctor=prompts.DoctorFacts(
                name=self.doctor.name,
                push_name=self.doctor.push_name,
                specialty=self.doctor.specialty,
                city=self.doctor.city,
                state=self.doctor.state,
                region=self.doctor.region,
                crm=self.doctor.crm,
                preferences=self.doctor.preferences,
            ),
            memories=[m.content for m in memories],
            returning=returning,
            campaign_note=await campaigns.note_for(
                svc.db, self.conversation.campaign_id, now=now, tz=settings.tz
            )
            if self.conversation.campaign_id is not None
            else None,
            gone_offers=[
                f"plantão {g.shift_id}: {g.specialty} no {g.hospital}, "
                f"{day_text(g.starts_at, settings.tz)} "
                f"({'cancelado' if g.why == 'cancelado' else 'outro médico ficou com ele'})"
                for g in await reservations.gone_offers(
                    svc.db, self.conversation.id, self.doctor.id, now=now
                )
            ],
        )
        note = await self._listen_note()
        if note:
            context = f"{context}\n\n{note}"
        attachments, image_tokens = await self._attachments()
        messages = agent.build_messages(history, self.pending, context, attachments)
        model = choose_model(
            settings.LLM_MODEL,
            settings.LLM_MODEL_COMPLEX,
            burst_text=self.burst,
            history_len=len(history),
            returning=returning,
        )

        turn_id = await repo.start_turn(svc.db, self.conversation.id, self.job_id)
        await repo.attach_to_turn(svc.db, turn_id, [m.id for m in self.pending])
        context_for_tools = tools.ToolContext(
            db=svc.db,
            doctor_id=self.doctor.id,
            conversation_id=self.conversation.id,
            now=now,
            tz=settings.tz,
            embedder=svc.embedder,
            source_message_id=self.pending[-1].id,
        )
        try:
            if svc.llm is None:
                raise LLMUnavailable("ANTHROPIC_API_KEY is not set")
            result = await agent.run(
                svc.llm,
                model=model,
                system=system,
                messages=messages,
                run_tool=lambda name, args: tools.run_tool(context_for_tools, name, args),
            )
            text, forced = await self._guarded(result, history, system, messages, model)
        except LLMUnavailable as exc:
            async with transaction(svc.db) as conn:
                await repo.finish_turn(conn, turn_id, "failed", error=str(exc)[:500])
                await repo.detach_from_turn(conn, turn_id, unprocessed_only=False)
            return await self._model_unavailable(str(exc))

        record = TurnRecord(
            model=model,
            llm_calls=result.llm_calls,
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
            cache_read_tokens=result.usage.cache_read_tokens,
            cache_write_tokens=result.usage.cache_write_tokens,
            cost_usd=round(result.cost_usd, 6),
            tool_calls=result.tool_calls,
            transcription_seconds=self._transcribed_seconds(),
            image_tokens=image_tokens,
        )
        parts = split_reply(text)
        wants_human = forced or result.handoff_reason
        async with transaction(svc.db) as conn:
            if wants_human:
                send_ids = await self._hand_over(
                    conn, turn_id, parts, "modelo", wants_human, record
                )
            else:
                send_ids = await self._plan(conn, turn_id, parts, kind="reply")
                await repo.finish_turn(conn, turn_id, "ok", record)
        log.info(
            "turn.answered",
            conversation_id=self.conversation.id,
            turn_id=turn_id,
            model=model,
            llm_calls=result.llm_calls,
            tool_calls=result.tool_calls,
            cache_read_tokens=result.usage.cache_read_tokens,
            parts=len(parts),
        )
        if wants_human:
            await self._after_handoff(send_ids, "modelo", wants_human)
        else:
            outcomes = await self._deliver(send_ids)
            if outcomes and outcomes[0].reason == "pausado":
                return "paused"  # the burst was released for `retomar` (see `_advance`)
        for shift_id in result.reserved_shift_ids:
            await self._notify_reservation(shift_id)
        return "answered"

    async def _guarded(
        self,
        result: agent.AgentResult,
        history: list[StoredMessage],
        system: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        model: str,
    ) -> tuple[str, str | None]:
        """The reply to send, and a handoff reason when it had to be replaced."""
        allowed = set(result.quotable_cents) | money_cents(self.burst, bare_numbers=True)
        # The briefing's directives (every system block after the persona, whose examples
        # are invented) may name caps Julia can quote.
        directives = [block["text"] for block in system[1:]]
        for text in [*result.tool_texts, *(m.body or "" for m in history), *directives]:
            allowed |= money_cents(text)
        text = repair_format(result.text)
        violations = check_reply(text, allowed_cents=allowed)
        if violations and self.svc.llm is not None:
            problems = [f"{v.rule}: {v.detail}" for v in violations]
            log.warning("guardrail.rewrite", conversation_id=self.conversation.id, rules=problems)
            rewritten, usage, cost = await agent.rewrite(
                self.svc.llm,
                model=model,
                system=system,
                messages=messages,
                draft=result.text,
                problems=problems,
            )
            result.llm_calls += 1
            result.cost_usd += cost
            result.usage = _add(result.usage, usage)
            candidate = repair_format(rewritten)
            remaining = check_reply(candidate, allowed_cents=allowed)
            if not {v.rule for v in remaining} & _BLOCKING_RULES:
                return candidate, result.handoff_reason
            violations = remaining
        rules = {v.rule for v in violations}
        if not rules & _BLOCKING_RULES:
            return text, result.handoff_reason  # e.g. too long: the split keeps it readable
        log.warning("guardrail.replaced", conversation_id=self.conversation.id, rules=sorted(rules))
        fallback = prompts.pick(prompts.SAFE_FALLBACKS, self.seed)
        if "ai_disclosure" in rules:
            return fallback, "a resposta gerada revelaria que é uma IA"
        return fallback, result.handoff_reason

    async def _model_unavailable(self, error: str) -> str:
        svc = self.svc
        failures = await repo.failed_turns_since(
            svc.db, self.conversation.id, self.pending[0].created_at
        )
        circuit_open = await svc.breaker.is_open()
        if not circuit_open and failures < MAX_LLM_ATTEMPTS and svc.llm is not None:
            delay = 2.0 * 2 ** (failures - 1)
            log.warning("turn.llm_retry", conversation_id=self.conversation.id, failures=failures)
            await svc.enqueue(self.conversation.id, self.pending[-1].id, delay)
            return "llm_retry"
        if circuit_open:
            await notify(
                svc.db,
                svc.notifier,
                key="circuit_open:anthropic",
                kind="alert",
                severity="critical",
                text=(
                    "Circuit aberto: o Claude (Anthropic) está falhando. Conversas novas vão "
                    f"para humanos com uma mensagem de espera. Último erro: {error[:200]}"
                ),
                # One alert per outage: the scheduler's `alertas` job owns the episode
                # (and the recovery message); this only makes the first alert immediate.
                cooldown=timedelta(hours=12),
            )
        holding = prompts.pick(prompts.HOLDING_MESSAGES, self.seed)
        await self._reply_and_hand_over(
            [holding], trigger="llm_indisponivel", reason="IA indisponível", record=None
        )
        return "held"

    # Helpers ---------------------------------------------------------------------------

    async def _returning(self, history: list[StoredMessage], now: datetime) -> bool:
        if history and now - history[-1].created_at > timedelta(days=3):
            return True
        return await repo.has_earlier_conversation(
            self.svc.db, self.doctor.id, self.conversation.id
        )

    async def _plan(self, conn: Any, turn_id: int, parts: list[str], *, kind: str) -> list[int]:
        """Record the reply parts (idempotency keys per turn and part), each with its moment,
        and consume the burst."""
        chip_id, instance = await self._route(conn)
        moments = plan_moments(
            parts,
            inbound_chars=len(self.burst),
            now=self.svc.clock(),
            scale=self.svc.settings.HUMAN_DELAY_SCALE,
            rng=self.svc.rng,
        )
        send_ids = []
        for index, (part, (not_before, typing_ms)) in enumerate(zip(parts, moments, strict=True)):
            row = await sends.create(
                conn,
                key=f"turn:{turn_id}:{index}",
                kind=kind,
                proactive=False,
                doctor_id=self.doctor.id,
                to_phone=self.doctor.phone,
                body=part,
                conversation_id=self.conversation.id,
                turn_id=turn_id,
                chip_id=chip_id,
                instance=instance,
                not_before=not_before,
                typing_ms=typing_ms,
            )
            send_ids.append(row.id)
        await repo.mark_processed(conn, [m.id for m in self.pending], turn_id)
        return send_ids

    async def _route(self, conn: Any) -> tuple[int | None, str]:
        if self.conversation.chip_id is not None:
            instance = await chips_repo.chip_instance(conn, self.conversation.chip_id)
            if instance:
                return self.conversation.chip_id, str(instance)
        return None, self.svc.settings.EVOLUTION_INSTANCE

    async def _deliver(self, send_ids: list[int]) -> list[Outcome]:
        """Start the planned reply: what is due now goes out now, the rest is scheduled."""
        return await _advance(self.svc, send_ids[0]) if send_ids else []

    async def _notify_reservation(self, shift_id: int) -> None:
        # The team's notice names the reservation's code and the commands that answer it.
        await reservations.announce(self.svc.db, self.svc.notifier, self.svc.settings, shift_id)


def _add(a: Usage, b: Usage) -> Usage:
    return Usage(
        a.input_tokens + b.input_tokens,
        a.output_tokens + b.output_tokens,
        a.cache_read_tokens + b.cache_read_tokens,
        a.cache_write_tokens + b.cache_write_tokens,
    )
