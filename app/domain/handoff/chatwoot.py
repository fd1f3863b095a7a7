"""Chatwoot supervision: Julia's conversations mirrored into Chatwoot's API inbox, and an
agent's reply there relayed to the doctor.

The mirror is derived from the domain, not queued item by item: `mirror_conversation`
brings one Chatwoot conversation up to date with whatever it lacks (the doctor's and Julia's
messages in order, private notes for handoffs, reservations and opt-outs, and the label
`humano` + status `open` while a person is in control). Each item is recorded before its
create call and completed after it (chatwoot_items), and carries `source_id` "julia:<key>",
so a run after a lost answer finds it in Chatwoot instead of creating it twice, and the
webhook and the reconciliation never take Julia's own mirror for an agent's reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg

from app.core.config import Settings
from app.core.db import Conn, transaction
from app.core.logging import get_logger
from app.domain.conversations import repository as conversations
from app.domain.conversations.repository import Conversation
from app.domain.doctors import repository as doctors
from app.domain.doctors.repository import Doctor
from app.domain.handoff import chatwoot_repository as repo
from app.domain.handoff import service as handoff
from app.domain.handoff.chatwoot_repository import Link, LinkedConversation, NoteSource
from app.domain.outbound import chips_repository as chips_repo
from app.domain.outbound import repository as sends
from app.integrations.protocols import Chatwoot, ChatwootError, ChatwootMessage

log = get_logger(__name__)

SOURCE_PREFIX = "julia:"
HUMAN_LABEL = "humano"
# Messages mirrored per run; a longer backlog is finished by the next trigger or sweep.
MESSAGE_BATCH = 200
RECONCILE_CONVERSATIONS = 100

Held = Callable[[], Awaitable[bool]]

_MEDIA_NAMES = {
    "image": "imagem",
    "audio": "áudio",
    "video": "vídeo",
    "document": "documento",
    "sticker": "figurinha",
    "location": "localização",
    "contact": "contato",
}


def is_agent_reply(message: ChatwootMessage) -> bool:
    """Outgoing, public, by a person (not an agent bot), with text, and not Julia's mirror."""
    return (
        message.message_type == "outgoing"
        and not message.private
        and message.sender_type != "agent_bot"
        and message.sender_id is not None
        and not (message.source_id or "").startswith(SOURCE_PREFIX)
        and bool((message.content or "").strip())
    )


def relay_key(chatwoot_message_id: int) -> str:
    """The ledger's idempotency key of an agent's message: one send, however it arrives."""
    return f"chatwoot:{chatwoot_message_id}"


# Mirroring -------------------------------------------------------------------------------


async def mirror_conversation(
    db: asyncpg.Pool,
    chatwoot: Chatwoot,
    settings: Settings,
    conversation_id: int,
    now: datetime,
    *,
    still_held: Held | None = None,
) -> int:
    """Bring the conversation's Chatwoot copy up to date; returns how many items were
    created. Raises ChatwootError when Chatwoot cannot answer (the caller retries).

    One run per conversation at a time (the caller's lock): `still_held` renews it before
    each item and stops the run when it was lost, so two runs never create the same item."""
    conversation = await conversations.get(db, conversation_id)
    if conversation is None:
        return 0
    doctor = await doctors.get(db, conversation.doctor_id)
    if doctor is None:
        return 0
    link = await _ensure_link(db, chatwoot, settings, conversation, doctor)
    created = 0
    for message in await repo.pending_messages(db, conversation_id, MESSAGE_BATCH):
        if still_held is not None and not await still_held():
            return created
        created += await _mirror_item(
            db,
            chatwoot,
            link,
            key=f"msg:{message.id}",
            message_id=message.id,
            content=_message_text(message),
            message_type="incoming" if message.direction == "in" else "outgoing",
            private=False,
            now=now,
        )
    for note in await repo.note_sources(db, conversation_id, doctor.id, conversation.created_at):
        if still_held is not None and not await still_held():
            return created
        created += await _mirror_item(
            db,
            chatwoot,
            link,
            key=note.key,
            message_id=None,
            content=_note_text(note),
            message_type="outgoing",
            private=True,
            now=now,
        )
    await _show_control(db, chatwoot, link, conversation)
    await repo.touch_link(db, conversation_id, now)
    if created:
        log.info("chatwoot.mirrored", conversation_id=conversation_id, items=created)
    return created


async def _ensure_link(
    db: asyncpg.Pool,
    chatwoot: Chatwoot,
    settings: Settings,
    conversation: Conversation,
    doctor: Doctor,
) -> Link:
    link = await repo.link_of(db, conversation.id)
    if link is not None:
        return link
    contact_id = await repo.contact_of(db, doctor.id)
    if contact_id is None:
        identifier = f"julia-medico-{doctor.id}"
        contact_id = await chatwoot.find_contact(identifier=identifier, phone=doctor.phone)
        if contact_id is None:
            attributes: dict[str, object] = {"julia_doctor_id": doctor.id}
            if settings.DASHBOARD_URL is not None:
                base = str(settings.DASHBOARD_URL).rstrip("/")
                attributes["julia_dashboard_url"] = f"{base}/medicos/{doctor.id}"
            contact_id = await chatwoot.create_contact(
                name=doctor.name or doctor.push_name or f"+{doctor.phone}",
                phone=doctor.phone,
                identifier=identifier,
                attributes=attributes,
            )
        await repo.save_contact(db, doctor.id, contact_id)
    # The marker finds a conversation whose create answer was lost.
    marker = {"julia_conversation_id": conversation.id}
    chatwoot_id = await chatwoot.find_conversation(contact_id, marker)
    if chatwoot_id is None:
        # `pending` is Chatwoot's "a bot is handling it": Julia's; `open` waits for a person.
        status = "open" if conversation.under_human else "pending"
        chatwoot_id = await chatwoot.create_conversation(contact_id, status=status, marker=marker)
        log.info("chatwoot.conversation_created", conversation_id=conversation.id)
    return await repo.save_link(db, conversation.id, chatwoot_id, contact_id)


async def _mirror_item(
    db: asyncpg.Pool,
    chatwoot: Chatwoot,
    link: Link,
    *,
    key: str,
    message_id: int | None,
    content: str,
    message_type: str,
    private: bool,
    now: datetime,
) -> int:
    state = await repo.begin_item(
        db, conversation_id=link.conversation_id, key=key, message_id=message_id
    )
    if state.chatwoot_message_id is not None:
        return 0
    source_id = SOURCE_PREFIX + key
    if state.existed:
        # An earlier run may have created it and lost the answer: look before creating.
        for message in await chatwoot.list_messages(link.chatwoot_conversation_id):
            if message.source_id == source_id:
                await repo.finish_item(db, key, message.id, now)
                return 0
    chatwoot_message_id = await chatwoot.create_message(
        link.chatwoot_conversation_id,
        content=content,
        message_type=message_type,
        private=private,
        source_id=source_id,
    )
    await repo.finish_item(db, key, chatwoot_message_id, now)
    return 1


async def _show_control(
    db: asyncpg.Pool, chatwoot: Chatwoot, link: Link, conversation: Conversation
) -> None:
    """Label `humano` and status `open` while a person speaks; without the label (and
    `pending` if it was left open) once Julia speaks again. A resolved conversation stays
    resolved."""
    wanted = conversation.control
    if link.control_shown == wanted:
        return
    state = await chatwoot.conversation_state(link.chatwoot_conversation_id)
    labels = list(state.labels)
    if wanted == "humano":
        if HUMAN_LABEL not in labels:
            await chatwoot.set_labels(link.chatwoot_conversation_id, [*labels, HUMAN_LABEL])
        if state.status != "open":
            await chatwoot.set_status(link.chatwoot_conversation_id, "open")
    else:
        if HUMAN_LABEL in labels:
            await chatwoot.set_labels(
                link.chatwoot_conversation_id, [x for x in labels if x != HUMAN_LABEL]
            )
        if state.status == "open":
            await chatwoot.set_status(link.chatwoot_conversation_id, "pending")
    await repo.set_control_shown(db, link.conversation_id, wanted)
    log.info("chatwoot.control_shown", conversation_id=link.conversation_id, control=wanted)


def _message_text(message: repo.PendingMessage) -> str:
    body = (message.body or "").strip()
    kind = (message.media or {}).get("kind")
    if message.message_type == "messageRevoke":
        return "(apagou uma mensagem)"
    if kind == "reaction":
        return f"(reagiu com {body})" if body else "(removeu uma reação)"
    if message.message_type == "messageEdit":
        body = f"(mensagem editada) {body}"
    elif not body and kind:
        body = f"[{_MEDIA_NAMES.get(str(kind), str(kind))}]"
    elif kind:
        body = f"[{_MEDIA_NAMES.get(str(kind), str(kind))}] {body}"
    if message.direction == "out" and message.author == "human":
        body = f"(pelo telefone da empresa) {body}"
    return body or "(mensagem sem texto)"


def _note_text(note: NoteSource) -> str:
    if note.kind == "handoff":
        if note.extra == "chatwoot":
            return (
                f"Uma pessoa assumiu a conversa pelo Chatwoot ({note.detail}). "
                "A Julia ficou em silêncio."
            )
        return (
            f"A Julia passou a conversa para uma pessoa. Motivo: {note.detail or note.extra}. "
            "Ela fica em silêncio até a conversa ser resolvida ou a etiqueta humano sair."
        )
    if note.kind == "optout":
        return (
            f"O médico pediu para sair da lista (opt-out: {note.detail or 'pedido do médico'}). "
            "Nenhuma mensagem proativa vai mais para ele."
        )
    return (
        f"A Julia reservou o plantão {note.extra} ({(note.detail or '').strip()}) para este "
        "médico; falta a confirmação de um operador."
    )


# Agent replies ---------------------------------------------------------------------------


async def plan_relay(
    conn: Conn, settings: Settings, linked: LinkedConversation, message: ChatwootMessage
) -> int | None:
    """Record an agent's reply as a relay to the doctor (once per Chatwoot message) and put
    the conversation under human control the first time. Returns the send to deliver after
    commit, or None when it was already decided."""
    key = relay_key(message.id)
    if key not in await repo.relayed_keys(conn, [key]):
        await handoff.hand_to_human(
            conn,
            conversation_id=linked.conversation_id,
            doctor_id=linked.doctor_id,
            trigger="chatwoot",
            reason="um atendente respondeu pelo Chatwoot",
        )
    chip_id, instance = linked.chip_id, None
    if chip_id is not None:
        instance = await chips_repo.chip_instance(conn, chip_id)
    row = await sends.create(
        conn,
        key=key,
        kind="relay",
        proactive=False,
        doctor_id=linked.doctor_id,
        to_phone=linked.phone,
        body=(message.content or "").strip(),
        conversation_id=linked.conversation_id,
        chip_id=chip_id if instance else None,
        instance=instance or settings.EVOLUTION_INSTANCE,
    )
    if row.status != "pending" or row.attempts > 0:
        return None
    return row.id


async def reconcile(
    db: asyncpg.Pool, chatwoot: Chatwoot, settings: Settings, now: datetime
) -> list[tuple[int, int]]:
    """Relay the agent replies the webhook never brought (Chatwoot does not retry): the
    recent messages of the conversations that moved lately. Returns (conversation id,
    send id) of each relay to deliver."""
    since = now - timedelta(minutes=settings.CHATWOOT_RECONCILE_MINUTES)
    planned: list[tuple[int, int]] = []
    # The token's own user writes Julia's mirror: never an agent's reply.
    try:
        own_user_id = await chatwoot.own_user_id()
    except ChatwootError as exc:
        log.warning("chatwoot.reconcile_unavailable", error=str(exc))
        return planned
    for link in await repo.links_to_reconcile(db, since, RECONCILE_CONVERSATIONS):
        try:
            messages = await chatwoot.list_messages(link.chatwoot_conversation_id)
        except Exception as exc:  # one conversation's failure must not stop the others
            log.warning(
                "chatwoot.reconcile_failed",
                conversation_id=link.conversation_id,
                error=type(exc).__name__,
            )
            continue
        replies = [
            m
            for m in messages
            if is_agent_reply(m)
            and m.sender_id != own_user_id
            and (m.created_at is None or m.created_at >= since.timestamp())
        ]
        if not replies:
            continue
        async with transaction(db) as conn:
            linked = await repo.find_linked(conn, link.chatwoot_conversation_id)
            if linked is None:
                continue
            for message in replies:
                if await repo.is_mirrored_message(conn, message.id):
                    continue
                send_id = await plan_relay(conn, settings, linked, message)
                if send_id is not None:
                    planned.append((link.conversation_id, send_id))
                    log.info(
                        "chatwoot.reply_recovered",
                        conversation_id=link.conversation_id,
                        chatwoot_message_id=message.id,
                    )
    return planned
