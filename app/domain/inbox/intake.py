"""What Evolution delivers, applied to the domain.

The edge (`app/api/evolution.py`) only stores the raw delivery in the inbox
(webhook_events), deduplicated by `delivery_key`, so a redelivery changes nothing; the
worker's drainer (`drain.py`) reads the stored rows and calls `apply_delivery` for each:
doctor, chip and conversation resolution, messages, receipts, chip state, human takeover
and stopping outreach; each message is keyed by (instance, provider id). Its result says
which conversations got a new doctor message, so the drainer can enqueue their turns after
commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.core.db import Conn
from app.core.logging import get_logger
from app.domain.conversations import repository as conversations
from app.domain.doctors import repository as doctors
from app.domain.doctors.phones import brazil_variants
from app.domain.doctors.repository import Doctor
from app.domain.handoff import service as handoff
from app.domain.inbox import repository as inbox
from app.domain.inbox.evolution import (
    ChangeEvent,
    ConnectionEvent,
    Event,
    MessageEvent,
    ReceiptEvent,
)
from app.domain.media.service import PROCESSED_KINDS
from app.domain.outbound import chips_repository as chips_repo
from app.domain.outbound import repository as sends
from app.domain.outreach import repository as outreach

log = get_logger(__name__)


@dataclass
class IntakeResult:
    stored: int = 0
    # conversation id -> newest new doctor message id: one turn job each
    turns: dict[int, int] = field(default_factory=dict)
    takeovers: list[int] = field(default_factory=list)
    # doctor messages whose attachment the worker fetches (one media job each)
    media: list[int] = field(default_factory=list)


def delivery_key(instance: str, events: list[Event]) -> str | None:
    """A key unique per delivery meaning (None: not deduplicable, always stored)."""
    parts: list[str] = []
    for event in events:
        if isinstance(event, MessageEvent):
            parts.append(f"{event.event}:{event.message_id}")
        elif isinstance(event, ReceiptEvent):
            parts.append(f"messages.update:{event.message_id}:{event.status}")
        elif isinstance(event, ChangeEvent):
            parts.append(f"{event.kind}:{event.target_id}:{event.change_id}")
        else:
            return None
    if not parts:
        return None
    key = f"{instance}:" + ",".join(parts)
    return (
        key if len(key) <= 300 else f"{instance}:sha256:" + hashlib.sha256(key.encode()).hexdigest()
    )


async def apply_delivery(conn: Conn, delivery_id: int, events: list[Event]) -> IntakeResult:
    """Act on a stored delivery and mark it done. The caller (the drainer) commits."""
    result = IntakeResult()
    for event in events:
        if isinstance(event, MessageEvent):
            await _message(conn, event, result)
        elif isinstance(event, ConnectionEvent) and event.state != "unknown":
            # "refused" (QR limit reached) ends the session: the chip is down like "close".
            state = "close" if event.state == "refused" else event.state
            await chips_repo.set_chip_state(conn, event.instance, state)
            log.info("chip.state", instance=event.instance, state=state, reported=event.state)
        elif isinstance(event, ChangeEvent):
            await _change(conn, event, result)
        elif isinstance(event, ReceiptEvent) and event.status:
            await conversations.update_receipt(
                conn, event.instance, event.message_id, event.status.lower()
            )
    await inbox.finish_event(conn, delivery_id, "done")
    return result


def _media(event: MessageEvent, *, fetch: bool = False) -> dict[str, Any] | None:
    """What the message says of its attachment; with `fetch` (a doctor's message), the
    attachment is `pending` until the worker's media job fetched and read it."""
    if event.media_kind is None:
        return None
    media: dict[str, Any] = {"kind": event.media_kind}
    if event.audio_seconds is not None:
        media["seconds"] = event.audio_seconds
    if event.is_voice_note:
        media["ptt"] = True
    optional = {
        "mimetype": event.mimetype,
        "bytes": event.file_length,
        "file_name": event.file_name,
        "speech_to_text": event.speech_to_text,
    }
    media |= {key: value for key, value in optional.items() if value is not None}
    if event.inline_media:
        media["inline"] = True
    if fetch and event.media_kind in PROCESSED_KINDS:
        media["state"] = "pending"
    return media


async def _resolve(conn: Conn, event: MessageEvent) -> Doctor | None:
    # On a fromMe message pushName is Evolution's "Você" or the company's own profile name
    # (whatsapp.baileys.service.ts:4492-4496 at 2.3.6): never the doctor's name.
    push_name = None if event.from_me else event.push_name
    if event.phone:
        doctor, created = await doctors.get_or_create(conn, event.phone, push_name=push_name)
        if created:
            log.info("doctor.created", doctor_id=doctor.id)
        if event.lid and doctor.lid != event.lid:
            await doctors.set_lid(conn, doctor.id, event.lid)
        return doctor
    if event.lid:
        return await doctors.find_by_lid(conn, event.lid)
    return None


async def _message(conn: Conn, event: MessageEvent, result: IntakeResult) -> None:
    common: dict[str, Any] = {
        "instance": event.instance,
        "provider_message_id": event.message_id,
        "remote_jid": event.remote_jid,
        "message_type": event.message_type,
        "body": event.text,
        "media": _media(event),
        "quoted_id": event.quoted_message_id,
        "sent_at": event.sent_at,
    }
    if event.chat_kind not in ("person", "lid"):
        # Groups, status, newsletters: kept for the record, never answered.
        stored = await conversations.insert_message(
            conn,
            conversation_id=None,
            doctor_id=None,
            direction="out" if event.from_me else "in",
            author="human" if event.from_me else "doctor",
            processed=True,
            **common,
        )
        result.stored += stored is not None
        return

    if event.from_me:
        phones = list(brazil_variants(event.phone)) if event.phone else []
        confirmed = await sends.confirm_by_echo(conn, event.message_id, phones, event.text)
        if confirmed is not None:
            # A send whose answer never came (timeout, 5xx) did reach WhatsApp: it is
            # recorded as Julia's, and never sent again.
            await conversations.insert_message(
                conn,
                conversation_id=confirmed.conversation_id,
                doctor_id=confirmed.doctor_id,
                direction="out",
                author="system" if confirmed.kind == "system" else "julia",
                instance=confirmed.instance,
                provider_message_id=event.message_id,
                body=confirmed.body,
                processed=True,
                outbound_send_id=confirmed.id,
                turn_id=confirmed.turn_id,
            )
            log.warning("outbound.confirmed_by_echo", send_id=confirmed.id)
            return
        if await sends.is_own_send(conn, event.message_id, phones, event.text):
            return  # the echo of Julia's own send: the gateway records it

    if (
        not event.from_me
        and event.phone
        and await sends.is_manager_number(conn, list(brazil_variants(event.phone)))
    ):
        # The manager answering a notice (GESTOR_WHATSAPP) is no doctor: kept, never answered.
        stored = await conversations.insert_message(
            conn,
            conversation_id=None,
            doctor_id=None,
            direction="in",
            author="doctor",
            processed=True,
            **common,
        )
        result.stored += stored is not None
        log.info("message.from_manager")
        return

    doctor = await _resolve(conn, event)
    if doctor is None:
        # An @lid we cannot map to a phone yet: keep it, answerable once the lid is learned.
        stored = await conversations.insert_message(
            conn, conversation_id=None, doctor_id=None, direction="in", author="doctor", **common
        )
        result.stored += stored is not None
        log.warning("message.unresolved_sender", chat_kind=event.chat_kind)
        return

    chip_id = await chips_repo.ensure_chip(conn, event.instance)
    # The number a doctor first talked to becomes theirs: outreach comes from it too.
    await chips_repo.assign_chip(conn, doctor.id, chip_id)
    conversation = await conversations.get_or_open(conn, doctor.id, chip_id)

    if event.reaction_to:
        await _reaction(conn, event, conversation.id, doctor.id, common, result)
        return

    if event.from_me:
        message_id = await conversations.insert_message(
            conn,
            conversation_id=conversation.id,
            doctor_id=doctor.id,
            direction="out",
            author="human",
            processed=True,
            **common,
        )
        result.stored += message_id is not None
        # Typed on the company phone (messages.upsert) = a person took over. A send through
        # the API that is not Julia's (send.message, e.g. Chatwoot) is only recorded.
        if message_id is not None and event.event == "messages.upsert":
            await handoff.hand_to_human(
                conn,
                conversation_id=conversation.id,
                doctor_id=doctor.id,
                trigger="humano_no_telefone",
                reason="mensagem enviada pelo telefone da empresa",
            )
            result.takeovers.append(conversation.id)
            log.info("conversation.human_takeover", conversation_id=conversation.id)
        return

    # A sticker is kept for the record and never answered on its own.
    sticker = event.media_kind == "sticker"
    message_id = await conversations.insert_message(
        conn,
        conversation_id=conversation.id,
        doctor_id=doctor.id,
        direction="in",
        author="doctor",
        processed=sticker,
        **(common | {"media": _media(event, fetch=True)}),
    )
    if message_id is None:
        return
    result.stored += 1
    if not sticker:
        result.turns[conversation.id] = message_id
    if event.media_kind in PROCESSED_KINDS:
        result.media.append(message_id)
    await conversations.touch_inbound(conn, conversation.id)
    await doctors.touch_inbound(conn, doctor.id, event.sent_at or datetime.now(UTC))
    # A reply stops the follow-up cadence, queued outreach and marks campaign targets answered.
    await outreach.stop_for_doctor(conn, doctor.id, "respondeu", at=datetime.now(UTC))


_SNIPPET = 80


def _snippet(target: conversations.MessageRef | None) -> str | None:
    if target is None:
        return None
    if target.body:
        body = " ".join(target.body.split())
        return body if len(body) <= _SNIPPET else body[: _SNIPPET - 1] + "…"
    kind = (target.media or {}).get("kind")
    return f"[{kind}]" if kind else None


def _target_media(kind: str, target: conversations.MessageRef | None) -> dict[str, Any]:
    media: dict[str, Any] = {"kind": kind}
    snippet = _snippet(target)
    if snippet:
        media["target"] = snippet
    if target is not None:
        media["target_direction"] = target.direction
    return media


async def _reaction(
    conn: Conn,
    event: MessageEvent,
    conversation_id: int,
    doctor_id: int,
    common: dict[str, Any],
    result: IntakeResult,
) -> None:
    """A reaction is recorded for the history and never starts a turn (nor a takeover: a
    thumbs-up from the company phone is not someone taking the conversation)."""
    assert event.reaction_to is not None
    target = await conversations.find_by_provider_id(conn, event.instance, event.reaction_to)
    stored = await conversations.insert_message(
        conn,
        conversation_id=conversation_id,
        doctor_id=doctor_id,
        direction="out" if event.from_me else "in",
        author="human" if event.from_me else "doctor",
        processed=True,
        **(common | {"quoted_id": event.reaction_to, "media": _target_media("reaction", target)}),
    )
    result.stored += stored is not None
    log.info("message.reaction", conversation_id=conversation_id, removed=event.text is None)


async def _change(conn: Conn, event: ChangeEvent, result: IntakeResult) -> None:
    """An edit or delete of a stored message. A doctor message no turn has read yet is
    changed in place (the turn answers the edited text; a deleted one is not answered);
    anything else gets a note the history shows. Only the sender can edit or delete, so
    the note is on the target's side of the conversation."""
    target = await conversations.find_by_provider_id(conn, event.instance, event.target_id)
    if target is None or target.conversation_id is None:
        # Not ours (a group, an old message): the stored delivery is the record.
        log.info("message.change_unmatched", kind=event.kind)
        return
    if not target.processed and target.direction == "in":
        changed = (
            await conversations.edit_pending(conn, target.id, event.text)
            if event.kind == "edit"
            else await conversations.revoke_pending(conn, target.id)
        )
        if changed:
            log.info(
                "message.changed_before_reply",
                conversation_id=target.conversation_id,
                kind=event.kind,
            )
            return
    stored = await conversations.insert_message(
        conn,
        conversation_id=target.conversation_id,
        doctor_id=target.doctor_id,
        direction=target.direction,
        author="doctor" if target.direction == "in" else "human",
        instance=event.instance,
        provider_message_id=f"{event.target_id}:{event.kind}:{event.change_id}",
        message_type="messageEdit" if event.kind == "edit" else "messageRevoke",
        body=event.text,
        media=_target_media(event.kind, target),
        quoted_id=event.target_id,
        sent_at=event.changed_at,
        processed=True,
    )
    result.stored += stored is not None
    log.info("message.change_recorded", conversation_id=target.conversation_id, kind=event.kind)
