"""Evolution API v2 webhook bodies, shaped after real deliveries (ids and numbers made up)."""

from __future__ import annotations

from typing import Any

INSTANCE = "Revoluna"
TS = 1773027345  # 2026-03-09T03:35:45Z


def envelope(event: str, data: Any, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event": event,
        "instance": INSTANCE,
        "data": data,
        "destination": "https://julia.example.com/webhooks/evolution",
        "date_time": "2026-03-09T00:35:45.123Z",
        "sender": "5511900000000@s.whatsapp.net",
        "server_url": "https://evolution.example.com",
        "apikey": None,
    }
    body.update(extra)
    return body


def upsert(
    message: dict[str, Any] | None,
    *,
    message_type: str,
    remote_jid: str = "5511987654321@s.whatsapp.net",
    msg_id: str = "3EB0A1B2C3D4E5F60718",
    from_me: bool = False,
    event: str = "messages.upsert",
    key_extra: dict[str, Any] | None = None,
    **data_extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": {"remoteJid": remote_jid, "fromMe": from_me, "id": msg_id, **(key_extra or {})},
        "pushName": "Dra. Ana",
        "status": "DELIVERY_ACK",
        "message": message,
        "messageType": message_type,
        "messageTimestamp": TS,
        "instanceId": "b3f1c2d4-0000-4000-8000-000000000001",
        "source": "android",
    }
    data.update(data_extra)
    return envelope(event, data)


_CONTEXT = {
    "deviceListMetadata": {"senderKeyHash": "", "senderTimestamp": "1773000000"},
    "deviceListMetadataVersion": 2,
    "messageSecret": "",
}

PLAIN_TEXT = upsert(
    {"conversation": "Oi Julia, tenho interesse sim", "messageContextInfo": _CONTEXT},
    message_type="conversation",
)

EXTENDED_TEXT = upsert(
    {"extendedTextMessage": {"text": "Qual o valor do plantão?", "previewType": "NONE"}},
    message_type="extendedTextMessage",
)

IMAGE_WITH_CAPTION = upsert(
    {
        "imageMessage": {
            "url": "https://mmg.whatsapp.net/o1/v/t62.7118-24/abc.enc",
            "mimetype": "image/jpeg",
            "caption": "Segue meu CRM",
            "fileLength": "84211",
            "height": 1280,
            "width": 960,
        },
        "messageContextInfo": _CONTEXT,
    },
    message_type="imageMessage",
)

VOICE_NOTE = upsert(
    {
        "audioMessage": {
            "url": "https://mmg.whatsapp.net/v/t62.7117-24/xyz.enc",
            "mimetype": "audio/ogg; codecs=opus",
            "fileLength": "12345",
            "seconds": 14,
            "ptt": True,
        }
    },
    message_type="audioMessage",
)

STICKER = upsert(
    {"stickerMessage": {"url": "https://mmg.whatsapp.net/s.enc", "isAnimated": False}},
    message_type="stickerMessage",
)

EPHEMERAL_TEXT = upsert(
    {
        "ephemeralMessage": {
            "message": {
                "extendedTextMessage": {
                    "text": "Pode ser sábado",
                    "contextInfo": {"expiration": 604800},
                }
            }
        }
    },
    message_type="ephemeralMessage",
)

VIEW_ONCE_IMAGE = upsert(
    {
        "viewOnceMessageV2": {
            "message": {
                "imageMessage": {
                    "mimetype": "image/jpeg",
                    "caption": "foto da escala",
                    "viewOnce": True,
                }
            }
        }
    },
    message_type="viewOnceMessageV2",
)

DOCUMENT_WITH_CAPTION = upsert(
    {
        "documentWithCaptionMessage": {
            "message": {
                "documentMessage": {
                    "mimetype": "application/pdf",
                    "fileName": "diploma.pdf",
                    "caption": "meu diploma",
                }
            }
        }
    },
    message_type="documentWithCaptionMessage",
)

QUOTED_REPLY = upsert(
    {
        "extendedTextMessage": {
            "text": "Esse eu quero",
            "contextInfo": {
                "stanzaId": "3EB0QUOTED0000000001",
                "participant": "5511900000000@s.whatsapp.net",
                "quotedMessage": {"conversation": "Plantão UTI sábado 19h-07h, R$ 1.800"},
            },
        }
    },
    message_type="extendedTextMessage",
)

# Evolution v2 also lifts contextInfo to data level.
QUOTED_REPLY_DATA_LEVEL = upsert(
    {"conversation": "Sim, esse"},
    message_type="conversation",
    contextInfo={
        "stanzaId": "3EB0QUOTED0000000002",
        "quotedMessage": {
            "ephemeralMessage": {"message": {"extendedTextMessage": {"text": "Topa domingo?"}}}
        },
    },
)

GROUP_MESSAGE = upsert(
    {"conversation": "Alguém cobre plantão amanhã?"},
    message_type="conversation",
    remote_jid="120363041967849074@g.us",
    key_extra={"participant": "5521998887777@s.whatsapp.net"},
)

STATUS_BROADCAST = upsert(
    {"imageMessage": {"mimetype": "image/jpeg", "caption": "bom dia"}},
    message_type="imageMessage",
    remote_jid="status@broadcast",
    key_extra={"participant": "5521998887777@s.whatsapp.net"},
)

NEWSLETTER = upsert(
    {"conversation": "Novidades do canal"},
    message_type="conversation",
    remote_jid="120363168000000000@newsletter",
)

LID_WITH_ALT = upsert(
    {"conversation": "Oi"},
    message_type="conversation",
    remote_jid="69385314111689@lid",
    key_extra={"remoteJidAlt": "5511988887777@s.whatsapp.net", "addressingMode": "lid"},
)

LID_WITHOUT_ALT = upsert(
    {"conversation": "Oi"}, message_type="conversation", remote_jid="13718@lid"
)

LEGACY_NUMBER = upsert(
    {"conversation": "Boa tarde"},
    message_type="conversation",
    remote_jid="553188887777@s.whatsapp.net",
)

DEVICE_SUFFIX = upsert(
    {"conversation": "oi"},
    message_type="conversation",
    remote_jid="5573991639625:75@s.whatsapp.net",
)

FROM_ME = upsert(
    {"conversation": "Oi Dra., aqui é o Carlos da Revoluna"},
    message_type="conversation",
    from_me=True,
)

SEND_MESSAGE = upsert(
    {"conversation": "Oi! Tudo bem?"},
    message_type="conversation",
    from_me=True,
    event="send.message",
    status="PENDING",
)

CONNECTION_UPDATE = envelope(
    "connection.update",
    {"instance": INSTANCE, "state": "open", "statusReason": 200},
)

CONNECTION_CLOSED = envelope(
    "connection.update",
    {"instance": INSTANCE, "state": "close", "statusReason": 405},
)

MESSAGES_UPDATE = envelope(
    "messages.update",
    {
        "messageId": "cmfyoow42000hov4xwkdug3lv",
        "keyId": "3EB0A1B2C3D4E5F60718",
        "remoteJid": "5511987654321@s.whatsapp.net",
        "fromMe": True,
        "participant": "5511987654321@s.whatsapp.net",
        "status": "READ",
        "instanceId": "b3f1c2d4-0000-4000-8000-000000000001",
    },
)

# Older shape: Baileys' raw update, numeric status.
MESSAGES_UPDATE_RAW = envelope(
    "messages.update",
    {
        "key": {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": True, "id": "3EB0FF"},
        "update": {"status": 3},
    },
)

UNKNOWN_EVENT = envelope(
    "presence.update",
    {"id": "5511987654321@s.whatsapp.net", "presences": {}},
)

DATA_AS_LIST = envelope(
    "messages.upsert",
    [
        PLAIN_TEXT["data"],
        {**EXTENDED_TEXT["data"], "key": {**EXTENDED_TEXT["data"]["key"], "id": "3EB0SECOND"}},
    ],
)


# --- Wire truth (Evolution API 2.3.6, src/api/integrations/channel/whatsapp/
# whatsapp.baileys.service.ts; "svc:<line>" below) --------------------------------------------


def reaction(
    target_id: str,
    emoji: str,
    *,
    remote_jid: str = "5511987654321@s.whatsapp.net",
    msg_id: str = "3EB0REACTION00000001",
    from_me: bool = False,
) -> dict[str, Any]:
    """A reaction as `messages.upsert`: prepareMessage (svc:4486-4500) keeps Baileys'
    `message` as is, so `message.reactionMessage` holds the target's key and the emoji;
    an empty `text` is a removed reaction. `senderTimestampMs` is a protobuf Long, which
    deserializeMessageBuffers (svc:4447-4484) copies as an object. The key inside is written
    from the reactor's side; only its id is used."""
    return upsert(
        {
            "reactionMessage": {
                "key": {"remoteJid": remote_jid, "fromMe": True, "id": target_id},
                "text": emoji,
                "senderTimestampMs": {"low": 1201283340, "high": 412, "unsigned": False},
            },
            "messageContextInfo": _CONTEXT,
        },
        message_type="reactionMessage",
        remote_jid=remote_jid,
        msg_id=msg_id,
        from_me=from_me,
    )


def protocol_message(
    target_id: str,
    kind: str | int,
    text: str | None = None,
    *,
    remote_jid: str = "5511987654321@s.whatsapp.net",
    event: str = "messages.edited",
    timestamp_ms: str = "1773027400123",
) -> dict[str, Any]:
    """An edit or a delete for everyone. Evolution posts the protocolMessage itself as
    `data` (svc:1094-1105: `sendDataWebhook(Events.MESSAGES_EDITED, editedMessage)`), never a
    `messages.upsert` (svc:1143-1149 skips it). It is a protobuf.js object, serialised by its
    toJSON: enum names ("MESSAGE_EDIT", "REVOKE") and Longs as strings. `send.message.update`
    (svc:4022) carries the same for an edit made through the API."""
    data: dict[str, Any] = {
        "key": {"remoteJid": remote_jid, "fromMe": True, "id": target_id},
        "type": kind,
        "timestampMs": timestamp_ms,
    }
    if text is not None:
        data["editedMessage"] = {"conversation": text}
    return envelope(event, data)


def deleted(target_id: str, *, remote_jid: str = "5511987654321@s.whatsapp.net") -> dict[str, Any]:
    """`messages.delete`: the deleted message's key (svc:1505)."""
    return envelope("messages.delete", {"remoteJid": remote_jid, "fromMe": False, "id": target_id})


# The QR code limit reached: svc:324-333 (statusReason is DisconnectReason.connectionClosed).
CONNECTION_REFUSED = envelope(
    "connection.update",
    {
        "instance": INSTANCE,
        "state": "refused",
        "statusReason": 428,
        "wuid": "5511900000000@s.whatsapp.net",
        "profileName": "Revoluna",
        "profilePictureUrl": None,
    },
)

# A message typed on the company phone: Baileys sets pushName to the company's own profile
# name, and prepareMessage (svc:4492-4496) uses "Você" only when pushName is empty, as for
# every send through the API (`send.message`).
FROM_PHONE_WITH_PROFILE_NAME = upsert(
    {"conversation": "Oi Dra., aqui é o Carlos da Revoluna"},
    message_type="conversation",
    from_me=True,
    msg_id="3EB0PHONE00000000001",
    pushName="Revoluna Saúde",
)
SEND_MESSAGE_VOCE = upsert(
    {"conversation": "Oi! Tudo bem?"},
    message_type="conversation",
    from_me=True,
    event="send.message",
    status="PENDING",
    msg_id="3EB0CHATWOOT0000001",
    pushName="Você",
)


def evolution_error(message: Any) -> dict[str, Any]:
    """Evolution's error body (src/main.ts:110-116): a BadRequestException carries its
    arguments as `message` (src/exceptions/400.exception.ts). A send exception is
    `error.toString()` (svc:2393-2396); a number without WhatsApp is the onWhatsApp result
    (svc:2137-2138)."""
    return {"status": 400, "error": "Bad Request", "response": {"message": message}}


SEND_CONNECTION_CLOSED = evolution_error(["Error: Connection Closed"])
SEND_TIMED_OUT = evolution_error(["Error: Timed Out"])
SEND_NO_WHATSAPP = evolution_error(
    [{"jid": "5511900001111@s.whatsapp.net", "exists": False, "number": "5511900001111"}]
)
SEND_VALIDATION = evolution_error(["instance requires property 'text'"])
