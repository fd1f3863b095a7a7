"""Evolution API v2 webhook bodies turned into typed, immutable events.

The parser is defensive: Evolution's payloads vary between versions (camelCase keys that
come and go, `data` as a list, Long timestamps as `{"low": ..}`, wrappers around the real
message), and anything outside this module should see one stable shape. A body that cannot
be an Evolution event raises `WebhookError` (422: Evolution does not retry 4xx, which is
right for a body that will never parse). Event types Julia does not use are not errors:
they become `IgnoredEvent` so the edge can store them and answer 2xx.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from app.core.errors import Invalid
from app.domain.doctors.phones import normalize_phone

ChatKind = Literal["person", "group", "broadcast", "newsletter", "lid", "unknown"]
MediaKind = Literal["image", "video", "audio", "document", "sticker", "other"]
ConnectionState = Literal["open", "connecting", "close", "refused", "unknown"]
ChangeKind = Literal["edit", "revoke"]

MESSAGE_EVENTS = frozenset({"messages.upsert", "send.message"})

# Every event Evolution v2 can post (normalised). Those Julia does not use are stored and
# acknowledged; a name outside this list is not an Evolution delivery and is refused.
EVOLUTION_EVENTS = frozenset(
    {
        "application.startup",
        "qrcode.updated",
        "connection.update",
        "messages.set",
        "messages.upsert",
        "messages.edited",
        "messages.update",
        "messages.delete",
        "send.message",
        "send.message.update",
        "contacts.set",
        "contacts.upsert",
        "contacts.update",
        "presence.update",
        "chats.set",
        "chats.upsert",
        "chats.update",
        "chats.delete",
        "groups.upsert",
        "group.update",
        "groups.update",
        "group.participants.update",
        "labels.edit",
        "labels.association",
        "call",
        "typebot.start",
        "typebot.change.status",
        "logout.instance",
        "remove.instance",
        "instance.create",
        "instance.delete",
        "status.instance",
        "creds.update",
        "messaging.history.set",
    }
)

# Containers whose `.message` holds the real content; they can nest (ephemeral view-once).
_WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
)
_MAX_UNWRAP = 5

# Keys that sit beside the content in `message` and are never the content itself.
_NOT_CONTENT = frozenset({"messageContextInfo", "senderKeyDistributionMessage"})

_TEXT_TYPES = frozenset(
    {
        "conversation",
        "extendedTextMessage",
        "buttonsResponseMessage",
        "listResponseMessage",
        "templateButtonReplyMessage",
    }
)
_MEDIA_KINDS: dict[str, MediaKind] = {
    "imageMessage": "image",
    "videoMessage": "video",
    "ptvMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}
_CAPTIONED = ("imageMessage", "videoMessage", "documentMessage")

# Baileys' numeric receipt status, sent by versions that forward the raw update.
_RECEIPT_STATUS = {
    0: "ERROR",
    1: "PENDING",
    2: "SERVER_ACK",
    3: "DELIVERY_ACK",
    4: "READ",
    5: "PLAYED",
}


class WebhookError(Invalid, ValueError):
    """The body is not a usable Evolution event. `status_code` is what the edge answers."""


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A message in a chat: inbound (`from_me=False`) or sent from the company phone/API."""

    event: str
    instance: str
    message_id: str
    remote_jid: str
    chat_kind: ChatKind
    phone: str | None
    lid: str | None
    from_me: bool
    push_name: str | None
    message_type: str
    text: str | None
    media_kind: MediaKind | None = None
    audio_seconds: int | None = None
    is_voice_note: bool = False
    quoted_message_id: str | None = None
    quoted_text: str | None = None
    sent_at: datetime | None = None
    participant: str | None = None
    # A reaction (`reactionMessage`): the provider id of the message reacted to; `text` is
    # the emoji, None when the reaction was removed.
    reaction_to: str | None = None
    # An attachment: what `prepareMessage` copies from the media message
    # (whatsapp.baileys.service.ts at 2.3.6), whether its base64 came inline (`webhookBase64`),
    # and Evolution's own transcript of a voice note (`message.speechToText`).
    mimetype: str | None = None
    file_length: int | None = None
    file_name: str | None = None
    inline_media: bool = False
    speech_to_text: str | None = None

    @property
    def answerable(self) -> bool:
        """True for a person's private chat written by them: the only thing Julia answers.
        A reaction is recorded, never answered on its own."""
        return self.chat_kind in ("person", "lid") and not self.from_me and not self.reaction_to


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """A chip (Evolution instance) connected, is connecting or dropped."""

    instance: str
    state: ConnectionState
    status_reason: int | None = None


@dataclass(frozen=True, slots=True)
class ReceiptEvent:
    """Delivery/read status of a message, usually one Julia sent."""

    instance: str
    message_id: str
    remote_jid: str
    status: str | None
    from_me: bool = False


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """An earlier message was edited (`text` is the new text) or deleted for everyone.

    Only the target's provider id is trusted: the key inside a `protocolMessage` is written
    from the sender's point of view, so its remoteJid/fromMe may name the other side.
    `change_id` tells two edits of one message apart (the edit's own timestamp).
    """

    instance: str
    kind: ChangeKind
    target_id: str
    text: str | None
    change_id: str
    changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IgnoredEvent:
    """An event type Julia does not act on; kept so the edge can store it and answer 2xx."""

    instance: str
    event: str


Event = MessageEvent | ConnectionEvent | ReceiptEvent | ChangeEvent | IgnoredEvent


def normalize_event_name(name: str) -> str:
    """Canonical event name: MESSAGES_UPSERT, messages-upsert -> messages.upsert."""
    return name.strip().lower().replace("_", ".").replace("-", ".")


def parse_webhook(body: object, *, event_hint: str | None = None) -> list[Event]:
    """Parse one webhook delivery into its events (one normally; more when `data` is a list).

    `event_hint` is the last path segment of the "webhook by events" URL form
    (".../messages-upsert"); it is used when the body has no `event`. When both are present
    the body wins: it is what Evolution serialised, the URL is only routing.

    Raises WebhookError for a body that is not an Evolution event.
    """
    if not isinstance(body, dict):
        raise WebhookError("webhook body must be a JSON object")
    raw_event = body.get("event")
    if raw_event is None or raw_event == "":
        raw_event = event_hint
    if not isinstance(raw_event, str) or not raw_event.strip():
        raise WebhookError("webhook body has no event")
    event = normalize_event_name(raw_event)
    instance = _optional_str(body, "instance", "body") or ""

    if event in MESSAGE_EVENTS:
        return [_message_event(event, instance, item) for item in _data_items(body)]
    if event == "messages.update":
        return [_receipt_event(instance, item) for item in _data_items(body)]
    if event == "connection.update":
        return [_connection_event(instance, item) for item in _data_items(body)]
    if event == "messages.edited":
        return [_protocol_event(instance, item) for item in _data_items(body)]
    if event == "messages.delete":
        return [_delete_event(instance, item) for item in _data_items(body)]
    if event not in EVOLUTION_EVENTS:
        raise WebhookError(f"unknown event: {event[:60]}")
    return [IgnoredEvent(instance=instance, event=event)]


# Envelope ------------------------------------------------------------------------------


def _data_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    data = body.get("data")
    raw_items: list[Any] = data if isinstance(data, list) else [data]
    items: list[dict[str, Any]] = []
    for item in raw_items:
        if not isinstance(item, dict):
            raise WebhookError("data must be an object or a list of objects")
        items.append(item)
    return items


def _optional_str(obj: dict[str, Any], name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WebhookError(f"{where}.{name} must be a string")
    return value or None


def _required_str(obj: dict[str, Any], name: str, where: str) -> str:
    value = _optional_str(obj, name, where)
    if value is None or not value.strip():
        raise WebhookError(f"{where}.{name} is required")
    return value


def _optional_bool(obj: dict[str, Any], name: str, where: str) -> bool:
    value = obj.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise WebhookError(f"{where}.{name} must be a boolean")
    return value


# Messages ------------------------------------------------------------------------------


def _message_event(event: str, instance: str, data: dict[str, Any]) -> MessageEvent:
    key = data.get("key")
    if not isinstance(key, dict):
        raise WebhookError("data.key must be an object")
    message_id = _required_str(key, "id", "data.key")
    remote_jid = _strip_device(_required_str(key, "remoteJid", "data.key"))
    from_me = _optional_bool(key, "fromMe", "data.key")
    participant = _optional_str(key, "participant", "data.key") or _optional_str(
        data, "participant", "data"
    )
    kind = chat_kind(remote_jid)
    phone, lid = _identity(remote_jid, kind, key)

    message = data.get("message")
    if message is not None and not isinstance(message, dict):
        raise WebhookError("data.message must be an object")
    content = _unwrap(message or {})
    message_type = _content_type(content, data.get("messageType"))
    body = content.get(message_type)
    body = body if isinstance(body, dict) else {}

    audio_seconds = _as_int(body.get("seconds")) if message_type == "audioMessage" else None
    quoted_id, quoted_text = _quoted(data, body)
    reaction_to = None
    text = _text(content, message_type)
    if message_type == "reactionMessage":
        target = body.get("key")
        reaction_to = _clean_text(target.get("id")) if isinstance(target, dict) else None
        if reaction_to is None:
            raise WebhookError("reactionMessage.key.id is required")
        text = _clean_text(body.get("text"))
    return MessageEvent(
        event=event,
        instance=instance,
        message_id=message_id,
        remote_jid=remote_jid,
        chat_kind=kind,
        phone=phone,
        lid=lid,
        from_me=from_me,
        push_name=_clean_text(data.get("pushName")),
        message_type=message_type,
        text=text,
        media_kind=None if reaction_to else _media_kind(message_type),
        audio_seconds=audio_seconds,
        is_voice_note=message_type == "audioMessage" and body.get("ptt") is True,
        quoted_message_id=quoted_id,
        quoted_text=quoted_text,
        sent_at=_timestamp(data.get("messageTimestamp")),
        participant=_strip_device(participant) if participant else None,
        reaction_to=reaction_to,
        mimetype=_clean_text(body.get("mimetype")),
        file_length=_as_int(body.get("fileLength")),
        file_name=_clean_text(body.get("fileName")),
        inline_media=isinstance(message, dict)
        and ("base64" in message or "base64_omitted" in message),
        speech_to_text=_clean_text((message or {}).get("speechToText")),
    )


def chat_kind(jid: str) -> ChatKind:
    """What kind of chat a JID names; only "person" and "lid" chats are one-to-one."""
    _, _, server = jid.partition("@")
    if server in ("s.whatsapp.net", "c.us"):
        return "person"
    if server == "lid":
        return "lid"
    if server == "g.us":
        return "group"
    if server == "broadcast":
        return "broadcast"
    if server == "newsletter":
        return "newsletter"
    return "unknown"


def _strip_device(jid: str) -> str:
    # "5531988887777:12@s.whatsapp.net" names one device of the account; the chat is the account.
    user, at, server = jid.partition("@")
    return user.split(":", 1)[0] + at + server


def _jid_phone(jid: str | None) -> str | None:
    if not jid or chat_kind(jid) != "person":
        return None
    user = _strip_device(jid).partition("@")[0]
    # A JID user part is already international: never prepend a default country.
    return normalize_phone("+" + user) if user.isdigit() else None


def _jid_lid(jid: str | None) -> str | None:
    if not jid or chat_kind(jid) != "lid":
        return None
    user = _strip_device(jid).partition("@")[0]
    return user if user.isdigit() else None


def _identity(
    remote_jid: str, kind: ChatKind, key: dict[str, Any]
) -> tuple[str | None, str | None]:
    if kind not in ("person", "lid"):
        return None, None
    # Evolution versions disagree on which field holds which form (some swap remoteJid and
    # remoteJidAlt, older ones use senderPn/senderLid), so look at all of them.
    candidates = [remote_jid]
    for name in ("remoteJidAlt", "senderPn", "senderLid"):
        value = key.get(name)
        if isinstance(value, str) and value:
            candidates.append(value if "@" in value else value + "@s.whatsapp.net")
    phone = next((p for p in map(_jid_phone, candidates) if p), None)
    lid = next((x for x in map(_jid_lid, candidates) if x), None)
    return phone, lid


def _unwrap(message: dict[str, Any]) -> dict[str, Any]:
    for _ in range(_MAX_UNWRAP):
        for wrapper in _WRAPPERS:
            inner = message.get(wrapper)
            if isinstance(inner, dict) and isinstance(inner.get("message"), dict):
                message = inner["message"]
                break
        else:
            return message
    return message


def _content_type(content: dict[str, Any], declared: object) -> str:
    # `messageType` may name a wrapper we already opened; trust it only when it names
    # something actually present in the unwrapped content.
    if isinstance(declared, str) and declared in content:
        return declared
    for name in content:
        if name not in _NOT_CONTENT and (name == "conversation" or name.endswith("Message")):
            return name
    if isinstance(declared, str) and declared and declared not in _WRAPPERS:
        return declared
    return "unknown"


def _media_kind(message_type: str) -> MediaKind | None:
    if message_type in _MEDIA_KINDS:
        return _MEDIA_KINDS[message_type]
    if message_type in _TEXT_TYPES or message_type == "unknown":
        return None
    return "other"


def _clean_text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    return None


def _text(content: dict[str, Any], message_type: str | None = None) -> str | None:
    """The human-readable text of unwrapped content: body, caption or chosen button."""
    text = _clean_text(content.get("conversation"))
    if text:
        return text
    paths: tuple[tuple[str, str], ...] = (
        ("extendedTextMessage", "text"),
        *((name, "caption") for name in _CAPTIONED),
        ("buttonsResponseMessage", "selectedDisplayText"),
        ("templateButtonReplyMessage", "selectedDisplayText"),
        ("listResponseMessage", "title"),
    )
    # The declared type first, so a caption is not shadowed by an unrelated sibling key.
    ordered = sorted(paths, key=lambda path: path[0] != message_type)
    for container, field in ordered:
        part = content.get(container)
        if isinstance(part, dict):
            text = _clean_text(part.get(field))
            if text:
                return text
    return None


def _quoted(data: dict[str, Any], body: dict[str, Any]) -> tuple[str | None, str | None]:
    for context in (data.get("contextInfo"), body.get("contextInfo")):
        if not isinstance(context, dict):
            continue
        stanza_id = _clean_text(context.get("stanzaId"))
        quoted = context.get("quotedMessage")
        if stanza_id or isinstance(quoted, dict):
            quoted_text = _text(_unwrap(quoted)) if isinstance(quoted, dict) else None
            return stanza_id, quoted_text
    return None, None


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, dict):
        # protobuf.js Long: {"low": int32, "high": int32, "unsigned": bool}
        low, high = value.get("low"), value.get("high", 0)
        if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
            return (high << 32) + (low & 0xFFFFFFFF)
    return None


def _timestamp(value: object) -> datetime | None:
    seconds = _as_int(value)
    if seconds is None or seconds <= 0:
        return None
    if seconds > 10**11:  # milliseconds, not seconds
        seconds //= 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


# Receipts and connection -------------------------------------------------------------------


def _receipt_event(instance: str, data: dict[str, Any]) -> ReceiptEvent:
    # v2 flattens the key into `data` (keyId, remoteJid, fromMe, status) and sets `messageId`
    # to its own database id; older versions forward Baileys' {key: {...}, update: {status}}.
    key = data.get("key")
    if key is not None and not isinstance(key, dict):
        raise WebhookError("data.key must be an object")
    key = key or {}
    message_id = _optional_str(data, "keyId", "data") or _optional_str(key, "id", "data.key")
    remote_jid = _optional_str(data, "remoteJid", "data") or _optional_str(
        key, "remoteJid", "data.key"
    )
    if not message_id or not remote_jid:
        raise WebhookError("messages.update needs the message id and remoteJid")
    from_me = _optional_bool(data, "fromMe", "data") or _optional_bool(key, "fromMe", "data.key")
    update = data.get("update")
    status: object = data.get("status")
    if status is None and isinstance(update, dict):
        status = update.get("status")
    return ReceiptEvent(
        instance=instance,
        message_id=message_id,
        remote_jid=_strip_device(remote_jid),
        status=_receipt_status(status),
        from_me=from_me,
    )


def _receipt_status(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip().upper()
    number = _as_int(value)
    return _RECEIPT_STATUS.get(number, str(number)) if number is not None else None


def _connection_event(instance: str, data: dict[str, Any]) -> ConnectionEvent:
    raw_state = _required_str(data, "state", "data").strip().lower()
    state: ConnectionState = "unknown"
    if raw_state == "open":
        state = "open"
    elif raw_state == "connecting":
        state = "connecting"
    elif raw_state == "close":
        state = "close"
    elif raw_state == "refused":
        # QR code limit reached: Evolution ends the session (whatsapp.baileys.service.ts:324-333)
        state = "refused"
    return ConnectionEvent(
        instance=instance or _optional_str(data, "instance", "data") or "",
        state=state,
        status_reason=_as_int(data.get("statusReason")),
    )


# Edits and deletes ---------------------------------------------------------------------------

# ProtocolMessage.Type in Baileys' WAProto: protobuf.js' toJSON writes the names, a raw
# object carries the numbers.
_PROTOCOL_KINDS: dict[object, ChangeKind] = {
    "REVOKE": "revoke",
    0: "revoke",
    "MESSAGE_EDIT": "edit",
    14: "edit",
}


def _protocol_event(instance: str, data: dict[str, Any]) -> Event:
    # `messages.edited` carries the protocolMessage itself (whatsapp.baileys.service.ts:1094-1105);
    # Evolution posts every protocolMessage that way, so other types (ephemeral settings,
    # history sync notices) are acknowledged and ignored.
    kind = _PROTOCOL_KINDS.get(data.get("type"))
    key = data.get("key")
    if kind is None or not isinstance(key, dict):
        return IgnoredEvent(instance=instance, event="messages.edited")
    target_id = _required_str(key, "id", "data.key")
    text = None
    if kind == "edit":
        edited = data.get("editedMessage")
        text = _text(_unwrap(edited)) if isinstance(edited, dict) else None
    stamp = _as_int(data.get("timestampMs"))
    change_id = str(stamp) if stamp else hashlib.sha256((text or "").encode()).hexdigest()[:16]
    return ChangeEvent(
        instance=instance,
        kind=kind,
        target_id=target_id,
        text=text,
        change_id=change_id,
        changed_at=_timestamp(stamp),
    )


def _delete_event(instance: str, data: dict[str, Any]) -> ChangeEvent:
    # `messages.delete` carries the deleted message's key (whatsapp.baileys.service.ts:1505).
    target_id = _required_str(data, "id", "data")
    return ChangeEvent(
        instance=instance, kind="revoke", target_id=target_id, text=None, change_id="delete"
    )
