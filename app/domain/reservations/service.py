"""The reservation loop: Julia reserves, the team confirms or releases, the doctor hears.

A reservation is made by the agent's `reserve_shift` tool (`open_reservation`), announced in
Slack with its code and the two commands (`announce`). An operator answers from Slack, the
dashboard or the CLI (`confirm`, `release`); nobody answering gets it re-announced once and
released when RESERVA_JANELA_HORAS passes (`tick`). The doctor hears each outcome in Julia's
voice through the one gateway: the message is written to the ledger in the transaction of
the change and handed to a worker after the commit. A confirmed shift withdraws its offers
in other conversations; the day before it the doctor gets a reminder; after it ends the team
is asked whether it happened (`record_outcome`).

Every function that depends on time takes `now`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import asyncpg

from app.core.config import Settings
from app.core.db import Conn, Executor, transaction
from app.core.errors import Conflict, Invalid, NotFound
from app.core.logging import get_logger
from app.core.queue import enqueue_send
from app.core.resources import Resources
from app.domain.conversations import repository as conversations
from app.domain.notices.service import notify
from app.domain.outbound import chips_repository as chips_repo
from app.domain.outbound import manager
from app.domain.outbound import repository as sends
from app.domain.outbound.pacing import BusinessHours
from app.domain.reservations import repository as repo
from app.domain.reservations.repository import Reservation
from app.domain.shifts import repository as shifts
from app.domain.shifts.repository import ShiftView
from app.domain.voice.formatting import pay_text
from app.domain.voice.guardrails import check_reply
from app.integrations.protocols import Notifier

log = get_logger(__name__)

# No 0/O, 1/I/L: the code is read on a phone and typed in Slack.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 5
# Offers older than this are not brought up again when their shift is gone.
OFFER_MEMORY = timedelta(days=14)
MAX_MOTIVO = 300

Via = Literal["slack", "api", "cli", "prazo"]
_HUMAN_HOLDS = (
    "A conversa com o médico está com uma pessoa da equipe: a Julia não escreve nela, "
    "avise o médico por lá."
)
Outcome = Literal["realizado", "nao_ocorreu"]
WEEKDAYS = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")


class ReservationNotFound(NotFound):
    pass


class ReservationConflict(Conflict):
    pass


class MotivoRequired(Invalid):
    pass


@dataclass
class Decision:
    """What an operator's command did: the reservation after it and the reply for them."""

    reservation: Reservation
    changed: bool
    reply: str
    sends: list[int] = field(default_factory=list)


# Text -------------------------------------------------------------------------------------


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _clock(moment: datetime) -> str:
    return f"{moment.hour}h{moment.minute:02d}" if moment.minute else f"{moment.hour}h"


def day_text(moment: datetime, tz: ZoneInfo) -> str:
    """'sábado, 14/03' (local date)."""
    local = moment.astimezone(tz)
    return f"{WEEKDAYS[local.weekday()]}, {local:%d/%m}"


def when_text(starts_at: datetime, ends_at: datetime, tz: ZoneInfo) -> str:
    """'sábado, 14/03, das 19h às 7h' (local time)."""
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    return f"{WEEKDAYS[start.weekday()]}, {start:%d/%m}, das {_clock(start)} às {_clock(end)}"


def _who(r: Reservation) -> str:
    return f"{r.doctor_name or 'médico sem nome'} (+{r.doctor_phone})"


def _shift_line(r: Reservation, tz: ZoneInfo) -> str:
    return f"{r.specialty} no {r.hospital}, {when_text(r.starts_at, r.ends_at, tz)}"


def _greeting_name(name: str | None) -> str:
    """'Dra. Ana' from 'Dra. Ana Souza', 'Paulo' from 'Paulo Lima'; '' without a name."""
    words = (name or "").split()
    if not words:
        return ""
    if words[0].lower().rstrip(".") in ("dr", "dra") and len(words) > 1:
        return " ".join(words[:2])
    return words[0]


def _commands(code: str) -> str:
    return (
        f"Para confirmar: `@julia confirmar {code}`; "
        f"para liberar: `@julia liberar {code} motivo: <texto>`."
    )


_CONFIRMED = (
    "{hi}boa notícia: a equipe confirmou! o plantão de {specialty} no {hospital}, {when}, é seu. "
    "qualquer coisa me chama aqui",
    "{hi}tudo certo, a equipe confirmou o seu plantão no {hospital}: {specialty}, {when}. "
    "é seu! se precisar de algo me fala",
)
_RELEASED = (
    "{hi}poxa, a equipe não conseguiu confirmar aquele plantão no {hospital} ({when}), "
    "desculpa mesmo.",
    "{hi}infelizmente aquele plantão no {hospital} ({when}) não deu pra confirmar com a "
    "equipe, desculpa pelo vai e vem.",
)
_EXPIRED = (
    "{hi}não consegui a confirmação da equipe a tempo pro plantão no {hospital} ({when}), "
    "então a reserva caiu. desculpa mesmo.",
    "{hi}a equipe não confirmou a tempo aquele plantão no {hospital} ({when}), e a reserva "
    "acabou caindo. foi mal!",
)
_ALTERNATIVE = (
    " mas tenho um parecido: {specialty} no {hospital}, {when}, {pay}. quer que eu reserve pra vc?",
    " se te ajudar, tenho outro: {specialty} no {hospital}, {when}, {pay}. quer que eu reserve?",
)
_NO_ALTERNATIVE = (
    " assim que aparecer outro com a sua cara eu te chamo, tá?",
    " fico de olho e te aviso se abrir outro parecido",
)
_REMINDER = (
    "{hi}passando pra lembrar do seu plantão amanhã: {specialty} no {hospital}, {when}. "
    "bom plantão!",
    "{hi}lembrete rapidinho: amanhã tem o seu plantão no {hospital}, {when}. qualquer coisa me "
    "chama!",
)


def _hi(name: str | None) -> str:
    first = _greeting_name(name)
    return f"oi {first}! " if first else "oi! "


def _fill(template: str, r: Reservation, tz: ZoneInfo) -> str:
    return template.format(
        hi=_hi(r.doctor_name),
        specialty=r.specialty.lower(),
        hospital=r.hospital,
        when=when_text(r.starts_at, r.ends_at, tz),
    )


def _pick(variants: tuple[str, ...], seed: int) -> str:
    return variants[seed % len(variants)]


def _quotable(shift: ShiftView) -> set[int]:
    values = {v for v in (shift.pay_cents, shift.pay_min_cents, shift.pay_max_cents) if v}
    return values


def release_text(
    r: Reservation, alternative: ShiftView | None, tz: ZoneInfo, *, expired: bool
) -> str:
    """What the doctor hears when the reservation falls: kind, and the nearest alternative
    when there is one (its published pay only; the guardrails check it)."""
    base = _fill(_pick(_EXPIRED if expired else _RELEASED, r.id), r, tz)
    if alternative is not None:
        offer = _pick(_ALTERNATIVE, r.id).format(
            specialty=alternative.specialty.lower(),
            hospital=alternative.hospital,
            when=when_text(alternative.starts_at, alternative.ends_at, tz),
            pay=pay_text(
                alternative.pay_cents,
                alternative.pay_min_cents,
                alternative.pay_max_cents,
                note=alternative.pay_note,
            ),
        )
        text = base + offer
        if not check_reply(text, allowed_cents=_quotable(alternative)):
            return text
        log.warning("reservation.alternative_text_refused", reservation_id=r.id)
    return base + _pick(_NO_ALTERNATIVE, r.id)


def announce_text(r: Reservation, settings: Settings) -> str:
    return (
        f"Plantão reservado pela Julia para {_who(r)}: {_shift_line(r, settings.tz)}. "
        f"Código da reserva: {r.code}. {_commands(r.code)} "
        f"Sem resposta em {_hours(settings.RESERVA_JANELA_HORAS)}, a reserva é liberada e o "
        "médico é avisado."
    )


def _hours(value: float) -> str:
    return f"{value:g} h".replace(".", ",")


# Creating and announcing (the agent's side) ------------------------------------------------


async def open_reservation(
    conn: Conn, *, shift_id: int, doctor_id: int, conversation_id: int | None, now: datetime
) -> Reservation:
    """The reservation of a shift the doctor just reserved (the shift row is already
    `reservado` for them in this transaction); the live one when it exists."""
    existing = await repo.live_for_shift(conn, shift_id)
    if existing is not None:
        return existing
    for _ in range(10):
        reservation_id = await repo.create(
            conn,
            code=new_code(),
            shift_id=shift_id,
            doctor_id=doctor_id,
            conversation_id=conversation_id,
            now=now,
        )
        if reservation_id is not None:
            created = await repo.get(conn, reservation_id)
            assert created is not None
            log.info("reservation.opened", reservation_id=reservation_id, shift_id=shift_id)
            return created
    raise RuntimeError("no free reservation code after 10 tries")


async def announce(
    db: asyncpg.Pool, notifier: Notifier | None, settings: Settings, shift_id: int
) -> bool:
    """Tell the team in Slack about the live reservation of `shift_id`, with its code and
    the commands that answer it."""
    reservation = await repo.live_for_shift(db, shift_id)
    if reservation is None or reservation.status != "pendente":
        return False
    return await notify(
        db,
        notifier,
        key=f"reserva:{reservation.code}",
        kind="shift_reserved",
        text=announce_text(reservation, settings),
        cooldown=timedelta(days=30),
        payload={
            "code": reservation.code,
            "shift_id": shift_id,
            "doctor_id": reservation.doctor_id,
        },
    )


async def record_offers(
    conn: Executor, conversation_id: int, shift_ids: list[int], *, now: datetime
) -> None:
    await repo.record_offers(conn, conversation_id, shift_ids, now=now)


async def gone_offers(
    conn: Executor, conversation_id: int, doctor_id: int, *, now: datetime
) -> list[repo.GoneOffer]:
    return await repo.gone_offers(conn, conversation_id, doctor_id, now=now, since=OFFER_MEMORY)


async def alternative_to(conn: Executor, shift_id: int, *, now: datetime) -> ShiftView | None:
    """The nearest open shift like `shift_id` (same specialty, closest start)."""
    alternative_id = await repo.nearest_alternative(conn, shift_id, now=now)
    return await shifts.get_shift(conn, alternative_id) if alternative_id else None


# Messages to the doctor --------------------------------------------------------------------


async def _plan_to_doctor(
    conn: Conn,
    settings: Settings,
    r: Reservation,
    *,
    key: str,
    text: str,
    not_before: datetime,
) -> int:
    """Write one message of the loop to the ledger (kind `reserva`); the gateway decides it
    like any other (pause, human control, opt-out are re-read right before it goes)."""
    return (await _plan(conn, settings, r, key=key, text=text, not_before=not_before))[0]


async def _plan(
    conn: Conn,
    settings: Settings,
    r: Reservation,
    *,
    key: str,
    text: str,
    not_before: datetime,
) -> tuple[int, bool]:
    """The send's id, and whether a person holds the conversation (then Julia stays quiet
    and the team tells the doctor)."""
    conversation = None
    if r.conversation_id is not None:
        conversation = await conversations.get(conn, r.conversation_id)
    if conversation is None or conversation.status != "ativa":
        conversation = await conversations.get_or_open(
            conn, r.doctor_id, conversation.chip_id if conversation else None
        )
    chip_id, instance = conversation.chip_id, None
    if chip_id is not None:
        instance = await chips_repo.chip_instance(conn, chip_id)
    if instance is None:
        chip_id, instance = None, settings.EVOLUTION_INSTANCE
    row = await sends.create(
        conn,
        key=f"reserva:{r.id}:{key}",
        kind="reserva",
        proactive=False,
        doctor_id=r.doctor_id,
        to_phone=r.doctor_phone,
        body=text,
        conversation_id=conversation.id,
        chip_id=chip_id,
        instance=instance,
        not_before=not_before,
    )
    return row.id, conversation.under_human


def _awake(settings: Settings, now: datetime) -> datetime:
    """`now` inside HORARIO_INICIO-HORARIO_FIM (any weekday), else the next opening: what
    the scheduler tells a doctor never arrives in the middle of the night."""
    hours = BusinessHours(
        settings.HORARIO_INICIO, settings.HORARIO_FIM, frozenset(range(7)), settings.tz
    )
    return hours.next_open(now)


async def _hand_over(res: Resources, send_ids: list[int], *, now: datetime) -> None:
    """Give the written messages that are due to the workers (after their transaction
    committed). One due later, or a lost enqueue, is handed over by the scheduler's
    `despachar_envios` once its moment comes."""
    for send_id in send_ids:
        row = await sends.get(res.db, send_id)
        if row is None or row.status not in ("pending", "deferred") or row.not_before > now:
            continue
        job_id = f"send:{row.id}:{row.attempts}:{int(row.not_before.timestamp())}"
        try:
            await enqueue_send(res.redis, send_id, job_id)
        except Exception as exc:  # the ledger keeps it; the dispatcher retries it
            log.warning("reservation.enqueue_failed", send_id=send_id, error=type(exc).__name__)


# The team's answers ------------------------------------------------------------------------


async def _locked(conn: Conn, code: str) -> Reservation:
    found = await repo.by_code(conn, code.strip())
    if found is None:
        raise ReservationNotFound(
            f"Não encontrei a reserva {code.strip().upper()}. As abertas: `@julia reservas` "
            "(ou `julia reserva listar`)."
        )
    await repo.lock(conn, found.id)
    fresh = await repo.get(conn, found.id)
    assert fresh is not None
    return fresh


def _state_text(r: Reservation) -> str:
    return {
        "pendente": "está pendente",
        "confirmada": "já estava confirmada",
        "liberada": "já foi liberada",
        "expirada": "já foi liberada por falta de resposta",
    }[r.status]


async def confirm(
    res: Resources, code: str, *, by: str | None, via: Via, now: datetime
) -> Decision:
    """The shift is the doctor's: Julia tells them, and every other conversation's offer
    of it is withdrawn. Confirming twice changes nothing and tells the doctor once."""
    settings = res.settings
    async with transaction(res.db) as conn:
        r = await _locked(conn, code)
        if r.status == "confirmada":
            return Decision(r, False, f"A reserva {r.code} já estava confirmada; nada mudou.")
        if r.status != "pendente":
            raise ReservationConflict(
                f"A reserva {r.code} {_state_text(r)}; não dá para confirmar. "
                "O plantão voltou para as vagas abertas."
            )
        await repo.decide(
            conn, r.id, status="confirmada", before=("pendente",), at=now, by=by, via=via
        )
        await repo.confirm_shift(conn, r.shift_id, r.doctor_id, at=now, by=by)
        withdrawn = await repo.withdraw_offers(
            conn, r.shift_id, why="preenchido", at=now, keep_doctor_id=r.doctor_id
        )
        text = _fill(_pick(_CONFIRMED, r.id), r, settings.tz)
        send_id, human = await _plan(conn, settings, r, key="confirmada", text=text, not_before=now)
        after = await repo.get(conn, r.id)
    assert after is not None
    log.info("reservation.confirmed", code=r.code, via=via, withdrawn_offers=withdrawn)
    await _hand_over(res, [send_id], now=now)
    reply = f"Reserva {r.code} confirmada: {_shift_line(r, settings.tz)} é de {_who(r)}. " + (
        _HUMAN_HOLDS if human else "A Julia avisa o médico agora."
    )
    return Decision(after, True, reply, [send_id])


async def release(
    res: Resources, code: str, *, motivo: str | None, by: str | None, via: Via, now: datetime
) -> Decision:
    """The reservation falls: the shift is open again, the doctor is told kindly and
    offered the nearest alternative if there is one."""
    motivo = " ".join((motivo or "").split())[:MAX_MOTIVO] or None
    if motivo is None:
        raise MotivoRequired(
            f"Para liberar preciso do motivo. Use: `@julia liberar {code.strip().upper()} "
            "motivo: <texto>`."
        )
    async with transaction(res.db) as conn:
        r = await _locked(conn, code)
        if r.status in ("liberada", "expirada"):
            return Decision(r, False, f"A reserva {r.code} {_state_text(r)}; nada mudou.")
        send_ids, alternative = await _fall(
            conn, res.settings, r, status="liberada", by=by, via=via, motivo=motivo, now=now
        )
        after = await repo.get(conn, r.id)
        human = await _under_human(conn, send_ids[0])
    assert after is not None
    log.info("reservation.released", code=r.code, via=via, alternative=alternative is not None)
    await _hand_over(res, send_ids, now=now)
    offered = (
        f" e recebe como alternativa o plantão {alternative.id} ({alternative.hospital})"
        if alternative
        else " (não há outro plantão parecido aberto para oferecer)"
    )
    reply = (
        f"Reserva {r.code} liberada (motivo: {motivo}). O plantão voltou para as vagas "
        f"abertas; a Julia avisa {r.doctor_name or 'o médico'}{offered}."
    )
    if human:
        reply = (
            f"Reserva {r.code} liberada (motivo: {motivo}). O plantão voltou para as vagas "
            f"abertas. {_HUMAN_HOLDS}"
        )
    return Decision(after, True, reply, send_ids)


async def _fall(
    conn: Conn,
    settings: Settings,
    r: Reservation,
    *,
    status: Literal["liberada", "expirada"],
    by: str | None,
    via: Via,
    motivo: str | None,
    now: datetime,
) -> tuple[list[int], ShiftView | None]:
    await repo.decide(
        conn, r.id, status=status, before=repo.LIVE, at=now, by=by, via=via, motivo=motivo
    )
    await repo.reopen_shift(conn, r.shift_id, r.doctor_id)
    alternative = await alternative_to(conn, r.shift_id, now=now)
    text = release_text(r, alternative, settings.tz, expired=status == "expirada")
    not_before = _awake(settings, now) if via == "prazo" else now
    send_id = await _plan_to_doctor(conn, settings, r, key=status, text=text, not_before=not_before)
    send = await sends.get(conn, send_id)
    if alternative is not None and send is not None and send.conversation_id is not None:
        await repo.record_offers(conn, send.conversation_id, [alternative.id], now=now)
    return [send_id], alternative


async def _under_human(conn: Conn, send_id: int) -> bool:
    send = await sends.get(conn, send_id)
    if send is None or send.conversation_id is None:
        return False
    conversation = await conversations.get(conn, send.conversation_id)
    return conversation is not None and conversation.under_human


async def record_outcome(
    res: Resources, code: str, outcome: Outcome, *, by: str | None, via: Via, now: datetime
) -> Decision:
    """Whether a confirmed shift happened, recorded on the shift."""
    async with transaction(res.db) as conn:
        r = await _locked(conn, code)
        if r.status != "confirmada":
            raise ReservationConflict(
                f"A reserva {r.code} {_state_text(r)}; só um plantão confirmado pode ser "
                "marcado como realizado ou não."
            )
        if r.starts_at > now:
            raise ReservationConflict(
                f"O plantão da reserva {r.code} ainda não começou "
                f"({when_text(r.starts_at, r.ends_at, res.settings.tz)})."
            )
        changed = r.outcome != outcome
        await repo.record_outcome(conn, r.shift_id, outcome, at=now, by=by)
        after = await repo.get(conn, r.id)
    assert after is not None
    log.info("reservation.outcome", code=r.code, outcome=outcome, via=via)
    said = "foi realizado" if outcome == "realizado" else "não ocorreu"
    return Decision(
        after,
        changed,
        f"Registrado: o plantão da reserva {r.code} {said}.",
    )


async def listing(res: Resources, *, now: datetime) -> list[Reservation]:
    return await repo.open_list(res.db, now=now)


def _state_line(r: Reservation) -> str:
    if r.status != "confirmada":
        return r.status
    if r.outcome:
        return "confirmada, " + ("realizado" if r.outcome == "realizado" else "não ocorreu")
    if r.outcome_asked_at:
        return "confirmada, terminou: falta dizer se aconteceu"
    return "confirmada"


def listing_text(items: list[Reservation], tz: ZoneInfo) -> str:
    if not items:
        return "Nenhuma reserva pendente ou confirmada agora."
    lines = ["Reservas:"]
    for r in items:
        lines.append(f"• {r.code} ({_state_line(r)}): {_who(r)}, {_shift_line(r, tz)}")
    return "\n".join(lines)


# The scheduler's side ----------------------------------------------------------------------


@dataclass
class TickResult:
    reannounced: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)


async def tick(res: Resources, *, now: datetime) -> TickResult:
    """One pass of the `reservas` job: re-announce, release what ran out of time, remind
    doctors of tomorrow's shifts, ask the team about shifts that ended."""
    result = TickResult()
    result.reannounced = await reannounce_pending(res, now=now)
    result.expired = await expire_pending(res, now=now)
    result.reminded = await remind_tomorrow(res, now=now)
    result.asked = await ask_outcomes(res, now=now)
    return result


async def reannounce_pending(res: Resources, *, now: datetime) -> list[str]:
    settings = res.settings
    cutoff = now - timedelta(hours=settings.RESERVA_REANUNCIO_HORAS)
    async with transaction(res.db) as conn:
        ids = await repo.claim_reannounce(conn, reserved_before=cutoff, now=now)
    codes = []
    for reservation_id in ids:
        r = await repo.get(res.db, reservation_id)
        if r is None or r.status != "pendente":
            continue
        deadline = r.reserved_at + timedelta(hours=settings.RESERVA_JANELA_HORAS)
        await notify(
            res.db,
            res.notifier,
            key=f"reserva_reanuncio:{r.code}",
            kind="shift_reserved_reminder",
            severity="warning",
            text=(
                f"Reserva {r.code} ainda sem resposta: {_who(r)}, {_shift_line(r, settings.tz)}. "
                f"{_commands(r.code)} Sem resposta até "
                f"{deadline.astimezone(settings.tz):%d/%m %H:%M}, ela é liberada e o médico é "
                "avisado."
            ),
            payload={"code": r.code, "shift_id": r.shift_id},
        )
        codes.append(r.code)
    return codes


async def expire_pending(res: Resources, *, now: datetime) -> list[str]:
    """Release every pending reservation older than RESERVA_JANELA_HORAS (or whose shift
    started meanwhile): the doctor is told (in waking hours), the team in Slack and the
    manager on WhatsApp."""
    settings = res.settings
    cutoff = now - timedelta(hours=settings.RESERVA_JANELA_HORAS)
    codes = []
    for reservation_id in await repo.expired(res.db, reserved_before=cutoff, now=now):
        async with transaction(res.db) as conn:
            if await repo.lock(conn, reservation_id) != "pendente":
                continue
            r = await repo.get(conn, reservation_id)
            assert r is not None
            send_ids, alternative = await _fall(
                conn, settings, r, status="expirada", by=None, via="prazo", motivo=None, now=now
            )
            notice = (
                f"Julia: a reserva {r.code} ({r.doctor_name or 'médico'}, {r.hospital}, "
                f"{when_text(r.starts_at, r.ends_at, settings.tz)}) não foi confirmada em "
                f"{_hours(settings.RESERVA_JANELA_HORAS)} e foi liberada; o médico foi avisado."
            )
            manager_send = await manager.plan_notice(
                conn, settings, key=f"reserva_expirada:{r.code}", text=notice, now=now
            )
        log.info("reservation.expired", code=r.code, alternative=alternative is not None)
        await _hand_over(res, send_ids + ([manager_send] if manager_send else []), now=now)
        alt = (
            f" Alternativa oferecida: plantão {alternative.id} ({alternative.hospital})."
            if alternative
            else ""
        )
        await notify(
            res.db,
            res.notifier,
            key=f"reserva_expirada:{r.code}",
            kind="shift_reservation_expired",
            severity="warning",
            text=(
                f"Reserva {r.code} liberada: ninguém respondeu em "
                f"{_hours(settings.RESERVA_JANELA_HORAS)}. {_who(r)} foi avisado; o plantão "
                f"({_shift_line(r, settings.tz)}) voltou para as vagas abertas.{alt}"
            ),
            payload={"code": r.code, "shift_id": r.shift_id},
        )
        codes.append(r.code)
    return codes


def tomorrow_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    day: date = now.astimezone(tz).date() + timedelta(days=1)
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


async def remind_tomorrow(res: Resources, *, now: datetime) -> list[str]:
    """The day before a confirmed shift, in waking hours: a short reminder to the doctor."""
    settings = res.settings
    if _awake(settings, now) != now:
        return []
    start, end = tomorrow_bounds(now, settings.tz)
    codes = []
    async with transaction(res.db) as conn:
        send_ids = []
        for reservation_id in await repo.claim_reminders(
            conn, starts_from=start, starts_before=end, now=now
        ):
            r = await repo.get(conn, reservation_id)
            assert r is not None
            text = _fill(_pick(_REMINDER, r.id), r, settings.tz)
            send_ids.append(
                await _plan_to_doctor(conn, settings, r, key="lembrete", text=text, not_before=now)
            )
            codes.append(r.code)
    await _hand_over(res, send_ids, now=now)
    return codes


async def ask_outcomes(res: Resources, *, now: datetime) -> list[str]:
    """After a confirmed shift ends: ask the team in Slack whether it happened."""
    settings = res.settings
    async with transaction(res.db) as conn:
        ids = await repo.claim_outcome_questions(conn, now=now)
    codes = []
    for reservation_id in ids:
        r = await repo.get(res.db, reservation_id)
        if r is None:
            continue
        await notify(
            res.db,
            res.notifier,
            key=f"reserva_aconteceu:{r.code}",
            kind="shift_outcome_question",
            text=(
                f"O plantão da reserva {r.code} terminou: {_who(r)}, "
                f"{_shift_line(r, settings.tz)}. Aconteceu? Responda `@julia realizado "
                f"{r.code}` ou `@julia nao ocorreu {r.code}`."
            ),
            payload={"code": r.code, "shift_id": r.shift_id},
        )
        codes.append(r.code)
    return codes
