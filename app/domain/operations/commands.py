"""Operator commands: `@julia pausar julia motivo: ...`, `retomar julia`, `status`, `ajuda`,
`handoffs`, `metricas`, `sincronizar briefing`, `optout <telefone>`, and the reservation
loop (`confirmar <código>`, `liberar <código> motivo: ...`, `realizado <código>`,
`nao ocorreu <código>`, `reservas`) (Slack mentions), and the same actions from the
`julia` CLI.

`parse_command` is pure; `run_command` acts and returns the Portuguese reply. Pausing and
resuming insert a `julia_status` row (the row history is the audit trail), tell the
managers' channel, and a resume re-enqueues every conversation left waiting by the pause.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from app.core.config import Settings
from app.core.db import Conn, transaction
from app.core.logging import get_logger
from app.core.resources import Resources
from app.domain.agent.waiting import enqueue_waiting, mark_resume_answered
from app.domain.briefings import service as briefings
from app.domain.notices.service import notify
from app.domain.operations import repository
from app.domain.operations.metrics import daily_metrics, format_metrics
from app.domain.outbound import status_repository
from app.domain.outbound.status_repository import JuliaStatus
from app.domain.privacy import service as privacy
from app.domain.reservations import service as reservations
from app.integrations.protocols import DriveError

log = get_logger(__name__)


CommandName = Literal[
    "pause",
    "resume",
    "status",
    "help",
    "handoffs",
    "metrics",
    "sync_briefing",
    "optout",
    "confirm_reservation",
    "release_reservation",
    "shift_happened",
    "shift_missed",
    "reservations",
    "unknown",
    "invalid",
]
STATE_CHANGING: frozenset[str] = frozenset({"pause", "resume"})
MAX_MOTIVO = 500
MAX_HANDOFFS_LISTED = 15
# julia_status is read fresh by every turn and send (StatusReader), so the turns a resume
# queues may start at once.
RESUME_DELAY_S = 0.0

HELP = "\n".join(
    [
        "Comandos da Julia (mencione o bot no canal):",
        "• `@julia status`: se a Julia está ativa ou pausada, desde quando e por quê",
        "• `@julia pausar julia motivo: <texto>`: pausa todos os envios para médicos",
        "• `@julia retomar julia`: retoma e responde quem ficou esperando",
        "• `@julia handoffs`: conversas que estão com um humano agora",
        "• `@julia metricas`: os números de hoje",
        "• `@julia sincronizar briefing`: lê agora o briefing da semana no Google Drive",
        "• `@julia optout <telefone>`: registra que o médico não quer mais mensagens (LGPD)",
        "• `@julia reservas`: reservas pendentes e plantões confirmados",
        "• `@julia confirmar <código>`: confirma a reserva; a Julia avisa o médico",
        "• `@julia liberar <código> motivo: <texto>`: libera a reserva; a Julia avisa o "
        "médico e oferece outro plantão parecido",
        "• `@julia realizado <código>` / `@julia nao ocorreu <código>`: se o plantão aconteceu",
        "• `@julia ajuda`: esta mensagem",
    ]
)
ASK_MOTIVO = (
    "Para pausar preciso do motivo. Use: `@julia pausar julia motivo: <texto>` "
    "(ex.: `@julia pausar julia motivo: revisão das mensagens`)."
)
REFUSED = (
    "Você não está na lista de quem pode pausar ou retomar a Julia "
    "(SLACK_ALLOWED_USER_IDS). Peça a um operador autorizado."
)


@dataclass(frozen=True, slots=True)
class Command:
    name: CommandName
    motivo: str | None = None
    error: str | None = None  # the reply for an `invalid` command
    phone: str | None = None  # `optout`: the number as the operator typed it
    code: str | None = None  # a reservation's code


# Parsing -----------------------------------------------------------------------------------

# <@U123ABC> or <@U123ABC|julia>: the bot's (or anyone's) mention in Slack's wire format.
_MENTION = re.compile(r"<@[A-Za-z0-9]+(?:\|[^>]*)?>")
_JULIA = r"(?:\s+(?:a\s+)?julia\b)?"
_PAUSE = re.compile(rf"^paus(?:ar|a)\b{_JULIA}")
_RESUME = re.compile(rf"^retom(?:ar|a)\b{_JULIA}")
_SIMPLE: list[tuple[re.Pattern[str], CommandName]] = [
    (re.compile(r"^(?:status|situacao|estado)\b"), "status"),
    (re.compile(r"^(?:ajuda|help|comandos)\b|^\?"), "help"),
    (re.compile(r"^handoffs?\b"), "handoffs"),
    (re.compile(r"^metricas?\b"), "metrics"),
    (re.compile(r"^sincroniz(?:ar|a|e)\s+(?:o\s+)?briefing\b"), "sync_briefing"),
]
_OPT_OUT = re.compile(r"^opt\s*-?\s*out\b")
ASK_PHONE = (
    "Informe o telefone do médico: `@julia optout <telefone>` "
    "(ex.: `@julia optout +55 11 98700-1122`)."
)
_MOTIVO = re.compile(r"\bmotivo\b\s*[:=\-–—]?\s*")
# `confirmar K7M3Q`, `confirmar a reserva K7M3Q`; the code is checked after the match.
_RESERVATION_WORDS = r"(?:\s+(?:a\s+)?(?:reserva\b))?"
_CODE = r"(?:\s+([a-z0-9]{3,10})\b)?"
_CODED: list[tuple[re.Pattern[str], CommandName, str]] = [
    (
        re.compile(rf"^confirm(?:ar|a|e|o)\b{_RESERVATION_WORDS}{_CODE}"),
        "confirm_reservation",
        "confirmar",
    ),
    (
        re.compile(rf"^liber(?:ar|a|e|o)\b{_RESERVATION_WORDS}{_CODE}"),
        "release_reservation",
        "liberar",
    ),
    (re.compile(rf"^realizad[oa]\b{_CODE}"), "shift_happened", "realizado"),
    (re.compile(rf"^nao\s+(?:ocorreu|aconteceu|houve)\b{_CODE}"), "shift_missed", "nao ocorreu"),
]
_RESERVATIONS = re.compile(r"^reservas\b")
_EDGES = " \t\r\n,;:.!-–—"


def _fold(text: str) -> str:
    """Lower case without accents, one character for each input character, so a match in the
    folded text has the same indexes in the original (the motivo keeps its accents)."""
    return "".join(
        (unicodedata.normalize("NFD", ch)[0].lower()[:1] or ch) if ch.strip() else " "
        for ch in text
    )


def _clean(text: str) -> str:
    text = _MENTION.sub(" ", text)
    # Slack escapes these three in message text.
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return unicodedata.normalize("NFC", text).strip(_EDGES)


def _motivo(original: str, folded: str) -> str | None:
    """What follows `motivo:` or, without the keyword, whatever follows the command."""
    match = _MOTIVO.search(folded)
    start = match.end() if match else 0
    motivo = " ".join(original[start:].split()).strip(_EDGES)
    if not any(ch.isalnum() for ch in motivo):
        return None
    return motivo[:MAX_MOTIVO]


def parse_command(text: str) -> Command:
    """Read an operator's message (Slack mention text or typed command); case and accents
    are ignored, the bot's mention is dropped. Anything unrecognised is `unknown`."""
    original = _clean(text)
    folded = _fold(original)
    if match := _PAUSE.match(folded):
        motivo = _motivo(original[match.end() :], folded[match.end() :])
        if motivo is None:
            return Command("invalid", error=ASK_MOTIVO)
        return Command("pause", motivo=motivo)
    if match := _OPT_OUT.match(folded):
        phone = original[match.end() :].strip(_EDGES)
        if not any(ch.isdigit() for ch in phone):
            return Command("invalid", error=ASK_PHONE)
        return Command("optout", phone=phone)
    if match := _RESUME.match(folded):
        return Command("resume", motivo=_motivo(original[match.end() :], folded[match.end() :]))
    for pattern, name in _SIMPLE:
        if pattern.match(folded):
            return Command(name)
    if _RESERVATIONS.match(folded):
        return Command("reservations")
    for pattern, name, word in _CODED:
        if match := pattern.match(folded):
            code = (match.group(1) or "").upper()
            if not code:
                usage = f"`@julia {word} <código>`"
                if name == "release_reservation":
                    usage = "`@julia liberar <código> motivo: <texto>`"
                return Command("invalid", error=f"Falta o código da reserva. Use: {usage}.")
            motivo = None
            if name == "release_reservation":
                motivo = _motivo(original[match.end() :], folded[match.end() :])
            return Command(name, code=code, motivo=motivo)
    return Command("unknown")


# Pause and resume --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Switch:
    """A julia_status change as it happened: what it was, what it is, what was re-enqueued."""

    before: JuliaStatus
    after: JuliaStatus
    waiting: int | None = 0  # None: the resume could not enqueue them (the sweep will)

    @property
    def changed(self) -> bool:
        return self.before.paused != self.after.paused


async def pause(res: Resources, *, motivo: str, via: str, by: str | None) -> JuliaStatus:
    """Stop every send path (within seconds, in every process) until an explicit resume."""
    return (await switch(res, "pausado", motivo=motivo, via=via, by=by)).after


async def resume(
    res: Resources, *, motivo: str | None = None, via: str, by: str | None
) -> JuliaStatus:
    """Let Julia talk again and answer the doctors who wrote during the pause."""
    return (await switch(res, "ativo", motivo=motivo, via=via, by=by)).after


async def pause_at_edge(
    conn: Conn, settings: Settings, cmd: Command, *, user: str | None, event_id: str
) -> JuliaStatus | None:
    """Write a Slack `pausar` in the request that received it, in the caller's transaction
    (the one that stores the event), so the pause holds before Slack gets its answer and
    whether or not a worker is up. The job that answers in the thread finds the row by
    `event_id` and does not write it again. Anything else (and a refused user) is None."""
    if cmd.name != "pause" or not allowed(settings, cmd, user=user, via="slack"):
        return None
    await status_repository.lock(conn)
    after = await status_repository.record(
        conn, "pausado", motivo=cmd.motivo, via="slack", by=user, slack_event_id=event_id
    )
    log.info("julia.status", status="pausado", via="slack", by=user, at_edge=True)
    return after


async def switch(
    res: Resources,
    target: Literal["ativo", "pausado"],
    *,
    motivo: str | None,
    via: str,
    by: str | None,
    slack_event_id: str | None = None,
) -> Switch:
    """Record the new status (always a new row, even when nothing changes: the audit trail),
    tell the managers' channel, and on resume re-enqueue the waiting conversations.

    A pause the Slack edge already wrote for `slack_event_id` is not written again: this
    only tells the channel and builds the answer."""
    if target == "ativo" and not motivo:
        motivo = "Retomando operação"
    written = await status_repository.by_event(res.db, slack_event_id) if slack_event_id else None
    if written is not None:
        before, after = written
    else:
        async with transaction(res.db) as conn:
            await status_repository.lock(conn)
            before = await status_repository.current(conn)
            after = await status_repository.record(conn, target, motivo=motivo, via=via, by=by)
        log.info("julia.status", status=target, previous=before.status, via=via, by=by)
    change = Switch(before, after)
    if target == "ativo":
        try:
            change = Switch(before, after, waiting=await answer_waiting(res, status_id=after.id))
        except Exception as exc:  # Julia is active already; the periodic sweep catches up
            log.error("julia.resume_enqueue_failed", error=type(exc).__name__)
            change = Switch(before, after, waiting=None)
    await notify(
        res.db,
        res.notifier,
        key="julia_status",
        kind="paused" if target == "pausado" else "resumed",
        severity="warning" if target == "pausado" else "info",
        text=_notice(change, via=via, by=by),
        payload={"status": target, "via": via, "by": by, "changed": change.changed},
    )
    return change


async def answer_waiting(res: Resources, *, status_id: int | None = None) -> int:
    """Enqueue a turn for every conversation with unanswered messages or a reply due,
    oldest waiting first.

    The scheduler's sweep only picks messages older than SWEEP_AFTER_SECONDS; after a pause
    every waiting message is due now, whatever its age. `status_id` (the julia_status row
    of the resume) names the batch, so the worker noticing the same resume
    (`waiting.ResumeWatcher`) queues nothing twice.
    """
    if status_id is not None:
        await mark_resume_answered(res.redis, status_id)
    enqueued = await enqueue_waiting(
        res,
        # "Older than an hour from now" is every waiting message, despite clock skew.
        older_than=datetime.now(UTC) + timedelta(hours=1),
        delay=RESUME_DELAY_S,
        job_prefix="resume",
        batch=f"s{status_id}" if status_id is not None else uuid.uuid4().hex[:8],
        limit=1000,
    )
    if enqueued.turns:
        log.info("julia.resume_enqueued", conversations=enqueued.turns)
    return enqueued.turns


def _who(by: str | None, via: str) -> str:
    if not by:
        return "alguém"
    return f"<@{by}>" if via == "slack" else by


def _notice(change: Switch, *, via: str, by: str | None) -> str:
    who = f"{_who(by, via)} (via {via})"
    if change.after.paused:
        if change.changed:
            return f"Julia PAUSADA por {who}. Motivo: {change.after.motivo}"
        return f"Julia continua pausada; {who} registrou um novo motivo: {change.after.motivo}"
    if change.changed:
        return f"Julia retomada por {who}. {_waiting_text(change.waiting)}"
    return f"{who} mandou retomar, mas a Julia já estava ativa."


# Replies -----------------------------------------------------------------------------------


def allowed(settings: Settings, cmd: Command, *, user: str | None, via: str) -> bool:
    """Only Slack users in a non-empty SLACK_ALLOWED_USER_IDS may change the status."""
    if cmd.name not in STATE_CHANGING or via != "slack":
        return True
    allowlist = settings.SLACK_ALLOWED_USER_IDS
    return not allowlist or (user is not None and user in allowlist)


async def run_command(
    res: Resources, cmd: Command, *, user: str | None, via: str, event_id: str | None = None
) -> str:
    """Do what the command asks; the result is the Portuguese reply for the operator.
    `event_id` is the Slack event's, whose pause the edge may have written already."""
    log.info("command.run", command=cmd.name, via=via, user=user)
    if not allowed(res.settings, cmd, user=user, via=via):
        log.warning("command.refused", command=cmd.name, via=via, user=user)
        return REFUSED
    tz = res.settings.tz
    match cmd.name:
        case "pause":
            assert cmd.motivo is not None
            change = await switch(
                res, "pausado", motivo=cmd.motivo, via=via, by=user, slack_event_id=event_id
            )
            return _pause_reply(change, tz)
        case "resume":
            change = await switch(res, "ativo", motivo=cmd.motivo, via=via, by=user)
            return _resume_reply(change, tz)
        case "status":
            current = await status_repository.current(res.db)
            waiting = await repository.waiting_conversations(res.db) if current.paused else 0
            return describe_status(current, tz, waiting=waiting)
        case "handoffs":
            return await _handoffs_reply(res)
        case "metrics":
            metrics = await daily_metrics(res.db, tz=tz, now=datetime.now(UTC))
            return format_metrics(metrics)
        case "sync_briefing":
            return await _sync_briefing_reply(res)
        case "optout":
            return await _opt_out_reply(res, cmd.phone or "", via=via, user=user)
        case (
            "confirm_reservation"
            | "release_reservation"
            | "shift_happened"
            | "shift_missed"
            | "reservations"
        ):
            return await _reservation_reply(res, cmd, user=user, via=via)
        case "help":
            return HELP
        case "invalid":
            return cmd.error or HELP
        case _:
            return "Não entendi esse comando.\n" + HELP


def _when(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d/%m/%Y %H:%M") if moment else "sempre"


def describe_status(current: JuliaStatus, tz: ZoneInfo, *, waiting: int = 0) -> str:
    if current.created_at is None:
        return "A Julia está ativa (nenhuma pausa registrada)."
    if not current.paused:
        state = "ativa"
    elif current.status == "pausado":
        state = "PAUSADA"
    else:
        state = f"em '{current.status}' (nenhuma mensagem sai)"
    lines = [f"A Julia está {state} desde {_when(current.created_at, tz)}."]
    if current.motivo:
        lines.append(f"Motivo: {current.motivo}")
    lines.append(f"Alterado via: {current.alterado_via or 'manual'}")
    if current.paused:
        lines.append(f"Conversas com mensagens esperando resposta: {waiting}")
        lines.append("Para retomar: `@julia retomar julia` (ou `julia resume`).")
    return "\n".join(lines)


def _waiting_text(waiting: int | None) -> str:
    if waiting is None:
        return (
            "Não consegui enfileirar agora quem ficou esperando; a varredura automática "
            "responde essas conversas em até um minuto."
        )
    return f"Conversas com mensagens esperando resposta: {waiting}; ela responde em instantes."


def _took_effect(status: JuliaStatus, tz: ZoneInfo) -> str:
    if status.created_at is None:
        return ""
    at = status.created_at.astimezone(tz).strftime("%d/%m/%Y %H:%M:%S")
    return f"Valendo desde {at}: nenhum envio começa depois disso.\n"


def _pause_reply(change: Switch, tz: ZoneInfo) -> str:
    if change.changed:
        return (
            f"Julia pausada. Motivo: {change.after.motivo}\n"
            f"{_took_effect(change.after, tz)}"
            "Nenhuma mensagem sai para os médicos até alguém mandar `@julia retomar julia`; "
            "o que os médicos escreverem fica guardado e é respondido na retomada."
        )
    return (
        f"A Julia já estava pausada desde {_when(change.before.created_at, tz)} "
        f"(motivo: {change.before.motivo or 'não informado'}). "
        f"Registrei o novo motivo: {change.after.motivo}"
    )


def _resume_reply(change: Switch, tz: ZoneInfo) -> str:
    if change.changed:
        return f"Julia retomada. {_waiting_text(change.waiting)}"
    return "A Julia já estava ativa; nada mudou."


# Open handoffs -----------------------------------------------------------------------------


def format_phone(digits: str) -> str:
    """5511987001122 -> +55 11 98700-1122 (other countries: +digits)."""
    if digits.startswith("55") and len(digits) in (12, 13):
        local = digits[4:]
        return f"+55 {digits[2:4]} {local[:-4]}-{local[-4:]}"
    return f"+{digits}"


def _ago(since: datetime | None, now: datetime) -> str:
    if since is None:
        return ""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f", há {minutes} min"
    if minutes < 48 * 60:
        return f", há {minutes // 60} h"
    return f", há {minutes // (24 * 60)} dias"


async def _handoffs_reply(res: Resources) -> str:
    items, total = await repository.open_handoffs(res.db, MAX_HANDOFFS_LISTED)
    if not items:
        return "Nenhuma conversa está com um humano agora."
    now = datetime.now(UTC)
    lines = [f"Conversas com um humano agora: {total}"]
    for item in items:
        who = item.doctor_name or "médico sem nome"
        lines.append(
            f"• {who} ({format_phone(item.phone)}): {item.reason or 'motivo não informado'}"
            f"{_ago(item.since, now)} (conversa {item.conversation_id})"
        )
    if total > len(items):
        lines.append(f"… e mais {total - len(items)}.")
    return "\n".join(lines)


# The weekly briefing ------------------------------------------------------------------------


async def _sync_briefing_reply(res: Resources) -> str:
    try:
        result = await briefings.sync_configured(res, now=datetime.now(UTC))
    except DriveError as exc:
        log.warning("command.briefing_drive_failed", error=str(exc))
        return f"Não consegui ler o Google Drive agora ({exc}). O briefing ativo continua valendo."
    if result is None:
        return (
            "O briefing não está configurado: defina GOOGLE_BRIEFINGS_FOLDER_ID e "
            "GOOGLE_APPLICATION_CREDENTIALS."
        )
    if result.outcome == "unchanged":
        return (
            f"O briefing “{result.title}” não mudou desde a última sincronização; "
            "ele continua valendo."
        )
    if result.outcome == "empty_folder":
        return "A pasta de briefings está vazia; o briefing ativo (se houver) continua valendo."
    return result.summary


# Opt-out recorded by an operator -------------------------------------------------------------


async def _opt_out_reply(res: Resources, phone: str, *, via: str, user: str | None) -> str:
    try:
        async with transaction(res.db) as conn:
            result = await privacy.record_opt_out(
                conn, phone, via=via, operator=user, now=datetime.now(UTC)
            )
    except privacy.InvalidPhone:
        return f"Não reconheci um telefone em “{phone[:40]}”.\n{ASK_PHONE}"
    shown = format_phone(result.phone)
    if not result.found:
        return (
            f"Opt-out registrado para {shown}. Esse número não está na base; ele fica na "
            "lista de supressão e nunca recebe mensagem, nem se vier numa importação futura."
        )
    who = f"{result.doctor_name} ({shown})" if result.doctor_name else shown
    if not result.newly:
        return f"{who} já estava com opt-out; nada mudou."
    return (
        f"Opt-out registrado para {who}. Mensagens e follow-ups na fila foram cancelados "
        "e nenhuma mensagem automática sai mais para esse número."
    )


# Reservations -------------------------------------------------------------------------------


async def _reservation_reply(res: Resources, cmd: Command, *, user: str | None, via: str) -> str:
    now = datetime.now(UTC)
    channel: reservations.Via = "slack" if via == "slack" else "cli" if via == "cli" else "api"
    if cmd.name == "reservations":
        return reservations.listing_text(await reservations.listing(res, now=now), res.settings.tz)
    assert cmd.code is not None
    try:
        match cmd.name:
            case "confirm_reservation":
                decision = await reservations.confirm(res, cmd.code, by=user, via=channel, now=now)
            case "release_reservation":
                decision = await reservations.release(
                    res, cmd.code, motivo=cmd.motivo, by=user, via=channel, now=now
                )
            case "shift_happened":
                decision = await reservations.record_outcome(
                    res, cmd.code, "realizado", by=user, via=channel, now=now
                )
            case _:
                decision = await reservations.record_outcome(
                    res, cmd.code, "nao_ocorreu", by=user, via=channel, now=now
                )
    except (
        reservations.ReservationNotFound,
        reservations.ReservationConflict,
        reservations.MotivoRequired,
    ) as exc:
        return str(exc)
    return decision.reply
