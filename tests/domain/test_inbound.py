from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from app.domain.inbox.evolution import (
    ChangeEvent,
    ConnectionEvent,
    Event,
    IgnoredEvent,
    MessageEvent,
    ReceiptEvent,
    WebhookError,
    chat_kind,
    normalize_event_name,
    parse_webhook,
)
from tests.domain import evolution_payloads as p


def one(body: object, **kwargs: Any) -> Event:
    events = parse_webhook(body, **kwargs)
    assert len(events) == 1
    return events[0]


def message(body: object, **kwargs: Any) -> MessageEvent:
    event = one(body, **kwargs)
    assert isinstance(event, MessageEvent)
    return event


def test_plain_text() -> None:
    msg = message(p.PLAIN_TEXT)
    assert msg == MessageEvent(
        event="messages.upsert",
        instance="Revoluna",
        message_id="3EB0A1B2C3D4E5F60718",
        remote_jid="5511987654321@s.whatsapp.net",
        chat_kind="person",
        phone="5511987654321",
        lid=None,
        from_me=False,
        push_name="Dra. Ana",
        message_type="conversation",
        text="Oi Julia, tenho interesse sim",
        media_kind=None,
        audio_seconds=None,
        is_voice_note=False,
        quoted_message_id=None,
        quoted_text=None,
        sent_at=datetime(2026, 3, 9, 3, 35, 45, tzinfo=UTC),
        participant=None,
    )
    assert msg.answerable


def test_events_are_frozen() -> None:
    msg = message(p.PLAIN_TEXT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.text = "x"  # type: ignore[misc]


def test_extended_text() -> None:
    msg = message(p.EXTENDED_TEXT)
    assert msg.message_type == "extendedTextMessage"
    assert msg.text == "Qual o valor do plantão?"
    assert msg.media_kind is None


def test_image_with_caption() -> None:
    msg = message(p.IMAGE_WITH_CAPTION)
    assert (msg.message_type, msg.media_kind, msg.text) == (
        "imageMessage",
        "image",
        "Segue meu CRM",
    )


def test_voice_note() -> None:
    msg = message(p.VOICE_NOTE)
    assert msg.message_type == "audioMessage"
    assert msg.media_kind == "audio"
    assert msg.is_voice_note is True
    assert msg.audio_seconds == 14
    assert msg.text is None


def test_audio_file_is_not_a_voice_note() -> None:
    body = copy.deepcopy(p.VOICE_NOTE)
    body["data"]["message"]["audioMessage"]["ptt"] = False
    body["data"]["message"]["audioMessage"]["seconds"] = "7"
    msg = message(body)
    assert (msg.is_voice_note, msg.audio_seconds) == (False, 7)


def test_sticker() -> None:
    msg = message(p.STICKER)
    assert (msg.message_type, msg.media_kind, msg.text) == ("stickerMessage", "sticker", None)


def test_ephemeral_wrapper_reports_inner_type() -> None:
    msg = message(p.EPHEMERAL_TEXT)
    assert msg.message_type == "extendedTextMessage"
    assert msg.text == "Pode ser sábado"
    # contextInfo without stanzaId/quotedMessage (disappearing-message settings) is no quote.
    assert msg.quoted_message_id is None


def test_view_once_v2_image() -> None:
    msg = message(p.VIEW_ONCE_IMAGE)
    assert (msg.message_type, msg.media_kind, msg.text) == (
        "imageMessage",
        "image",
        "foto da escala",
    )


def test_document_with_caption() -> None:
    msg = message(p.DOCUMENT_WITH_CAPTION)
    assert (msg.message_type, msg.media_kind, msg.text) == (
        "documentMessage",
        "document",
        "meu diploma",
    )


def test_nested_wrappers() -> None:
    body = p.upsert(
        {"ephemeralMessage": {"message": {"viewOnceMessage": {"message": {"videoMessage": {}}}}}},
        message_type="ephemeralMessage",
    )
    msg = message(body)
    assert (msg.message_type, msg.media_kind, msg.text) == ("videoMessage", "video", None)


def test_quoted_reply_inside_message() -> None:
    msg = message(p.QUOTED_REPLY)
    assert msg.text == "Esse eu quero"
    assert msg.quoted_message_id == "3EB0QUOTED0000000001"
    assert msg.quoted_text == "Plantão UTI sábado 19h-07h, R$ 1.800"


def test_quoted_reply_at_data_level() -> None:
    msg = message(p.QUOTED_REPLY_DATA_LEVEL)
    assert msg.quoted_message_id == "3EB0QUOTED0000000002"
    assert msg.quoted_text == "Topa domingo?"


def test_group_message_is_never_answerable() -> None:
    msg = message(p.GROUP_MESSAGE)
    assert msg.chat_kind == "group"
    assert msg.phone is None
    assert msg.participant == "5521998887777@s.whatsapp.net"
    assert msg.text == "Alguém cobre plantão amanhã?"
    assert not msg.answerable


def test_status_broadcast() -> None:
    msg = message(p.STATUS_BROADCAST)
    assert (msg.chat_kind, msg.phone, msg.answerable) == ("broadcast", None, False)


def test_newsletter() -> None:
    msg = message(p.NEWSLETTER)
    assert (msg.chat_kind, msg.phone, msg.answerable) == ("newsletter", None, False)


def test_lid_with_remote_jid_alt() -> None:
    msg = message(p.LID_WITH_ALT)
    assert msg.chat_kind == "lid"
    assert msg.remote_jid == "69385314111689@lid"
    assert msg.lid == "69385314111689"
    assert msg.phone == "5511988887777"
    assert msg.answerable


def test_lid_without_alt_has_no_phone() -> None:
    msg = message(p.LID_WITHOUT_ALT)
    assert (msg.chat_kind, msg.lid, msg.phone, msg.answerable) == ("lid", "13718", None, True)


def test_phone_jid_with_lid_as_alt() -> None:
    # Versions after evolution-api#1955 put the phone in remoteJid and the lid in the alt.
    body = p.upsert(
        {"conversation": "oi"},
        message_type="conversation",
        remote_jid="5511988887777@s.whatsapp.net",
        key_extra={"remoteJidAlt": "69385314111689@lid"},
    )
    msg = message(body)
    assert (msg.chat_kind, msg.phone, msg.lid) == ("person", "5511988887777", "69385314111689")


def test_sender_pn_fallback() -> None:
    body = p.upsert(
        {"conversation": "oi"},
        message_type="conversation",
        remote_jid="13718@lid",
        key_extra={"senderPn": "5511988887777@s.whatsapp.net"},
    )
    assert message(body).phone == "5511988887777"


def test_legacy_twelve_digit_number_kept_as_reported() -> None:
    msg = message(p.LEGACY_NUMBER)
    assert msg.phone == "553188887777"
    assert msg.chat_kind == "person"


def test_device_suffix_is_stripped() -> None:
    msg = message(p.DEVICE_SUFFIX)
    assert msg.remote_jid == "5573991639625@s.whatsapp.net"
    assert msg.phone == "5573991639625"


def test_from_me_is_not_answerable() -> None:
    msg = message(p.FROM_ME)
    assert msg.from_me is True
    assert msg.event == "messages.upsert"
    assert not msg.answerable


def test_send_message() -> None:
    msg = message(p.SEND_MESSAGE)
    assert msg.event == "send.message"
    assert msg.from_me is True
    assert msg.text == "Oi! Tudo bem?"


def test_connection_update() -> None:
    assert one(p.CONNECTION_UPDATE) == ConnectionEvent(
        instance="Revoluna", state="open", status_reason=200
    )
    assert one(p.CONNECTION_CLOSED) == ConnectionEvent(
        instance="Revoluna", state="close", status_reason=405
    )


def test_connection_unexpected_state_is_unknown() -> None:
    body = p.envelope("connection.update", {"state": "pairing"})
    event = one(body)
    assert isinstance(event, ConnectionEvent)
    assert event.state == "unknown"


def test_messages_update() -> None:
    assert one(p.MESSAGES_UPDATE) == ReceiptEvent(
        instance="Revoluna",
        message_id="3EB0A1B2C3D4E5F60718",
        remote_jid="5511987654321@s.whatsapp.net",
        status="READ",
        from_me=True,
    )


def test_messages_update_raw_baileys_shape() -> None:
    assert one(p.MESSAGES_UPDATE_RAW) == ReceiptEvent(
        instance="Revoluna",
        message_id="3EB0FF",
        remote_jid="5511987654321@s.whatsapp.net",
        status="DELIVERY_ACK",
        from_me=True,
    )


def test_unknown_event_is_ignored_not_an_error() -> None:
    assert one(p.UNKNOWN_EVENT) == IgnoredEvent(instance="Revoluna", event="presence.update")


def test_data_as_list() -> None:
    events = parse_webhook(p.DATA_AS_LIST)
    assert [e.message_id for e in events if isinstance(e, MessageEvent)] == [
        "3EB0A1B2C3D4E5F60718",
        "3EB0SECOND",
    ]


def test_empty_data_list_gives_no_events() -> None:
    assert parse_webhook(p.envelope("messages.upsert", [])) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("MESSAGES_UPSERT", "messages.upsert"),
        ("messages-upsert", "messages.upsert"),
        ("Messages.Upsert", "messages.upsert"),
        (" connection_update ", "connection.update"),
    ],
)
def test_normalize_event_name(raw: str, expected: str) -> None:
    assert normalize_event_name(raw) == expected


def test_uppercase_event_in_body() -> None:
    body = {**p.PLAIN_TEXT, "event": "MESSAGES_UPSERT"}
    assert message(body).event == "messages.upsert"


def test_event_hint_fills_a_missing_event() -> None:
    body = {k: v for k, v in p.SEND_MESSAGE.items() if k != "event"}
    assert message(body, event_hint="send-message").event == "send.message"
    connection = {k: v for k, v in p.CONNECTION_UPDATE.items() if k != "event"}
    assert isinstance(one(connection, event_hint="CONNECTION_UPDATE"), ConnectionEvent)


def test_body_event_wins_over_hint() -> None:
    assert message(p.PLAIN_TEXT, event_hint="send-message").event == "messages.upsert"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1773027345, datetime(2026, 3, 9, 3, 35, 45, tzinfo=UTC)),
        ("1773027345", datetime(2026, 3, 9, 3, 35, 45, tzinfo=UTC)),
        (
            {"low": 1773027345, "high": 0, "unsigned": True},
            datetime(2026, 3, 9, 3, 35, 45, tzinfo=UTC),
        ),
        (1773027345000, datetime(2026, 3, 9, 3, 35, 45, tzinfo=UTC)),
        (None, None),
        ("soon", None),
        (True, None),
        (-5, None),
    ],
)
def test_timestamps(value: object, expected: datetime | None) -> None:
    body = copy.deepcopy(p.PLAIN_TEXT)
    body["data"]["messageTimestamp"] = value
    assert message(body).sent_at == expected


def test_missing_timestamp() -> None:
    body = copy.deepcopy(p.PLAIN_TEXT)
    del body["data"]["messageTimestamp"]
    assert message(body).sent_at is None


def test_message_without_content() -> None:
    body = p.upsert(None, message_type="protocolMessage")
    msg = message(body)
    assert (msg.message_type, msg.text, msg.media_kind) == ("protocolMessage", None, "other")


def test_other_media_kinds() -> None:
    location = p.upsert(
        {"locationMessage": {"degreesLatitude": -23.5, "degreesLongitude": -46.6}},
        message_type="locationMessage",
    )
    reaction = p.upsert(
        {"reactionMessage": {"text": "👍", "key": {"id": "X"}}}, message_type="reactionMessage"
    )
    assert message(location).media_kind == "other"
    assert message(reaction).media_kind is None
    assert (message(reaction).reaction_to, message(reaction).text) == ("X", "👍")


def test_empty_push_name_is_none() -> None:
    body = copy.deepcopy(p.PLAIN_TEXT)
    body["data"]["pushName"] = ""
    assert message(body).push_name is None


@pytest.mark.parametrize(
    ("jid", "kind"),
    [
        ("5511987654321@s.whatsapp.net", "person"),
        ("5511987654321@c.us", "person"),
        ("123@lid", "lid"),
        ("120363041967849074@g.us", "group"),
        ("status@broadcast", "broadcast"),
        ("1203@newsletter", "newsletter"),
        ("weird", "unknown"),
        ("x@call", "unknown"),
    ],
)
def test_chat_kind(jid: str, kind: str) -> None:
    assert chat_kind(jid) == kind


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    body = copy.deepcopy(p.PLAIN_TEXT)
    target: dict[str, Any] = body
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return body


def _with(path: tuple[str, ...], value: object) -> dict[str, Any]:
    body = copy.deepcopy(p.PLAIN_TEXT)
    target: dict[str, Any] = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(None, id="none"),
        pytest.param([], id="list"),
        pytest.param("messages.upsert", id="string"),
        pytest.param(b"{}", id="bytes"),
        pytest.param({}, id="empty"),
        pytest.param(_without(("event",)), id="missing-event"),
        pytest.param(_with(("event",), ""), id="empty-event"),
        pytest.param(_with(("event",), 42), id="event-not-str"),
        pytest.param(_with(("instance",), 42), id="instance-not-str"),
        pytest.param(_without(("data", "key", "id")), id="missing-key-id"),
        pytest.param(_with(("data", "key", "id"), ""), id="empty-key-id"),
        pytest.param(_with(("data", "key", "id"), 123), id="key-id-not-str"),
        pytest.param(_without(("data", "key", "remoteJid")), id="missing-remote-jid"),
        pytest.param(_with(("data", "key"), "3EB0"), id="key-not-dict"),
        pytest.param(_without(("data", "key")), id="missing-key"),
        pytest.param(_with(("data", "key", "fromMe"), "false"), id="from-me-not-bool"),
        pytest.param(_with(("data", "message"), "oi"), id="message-not-dict"),
        pytest.param(_with(("data",), None), id="data-null"),
        pytest.param(_with(("data",), "x"), id="data-str"),
        pytest.param(_with(("data",), [{"key": {}}]), id="list-item-bad"),
        pytest.param(_with(("data",), [1]), id="list-item-not-dict"),
        pytest.param(p.envelope("connection.update", {"statusReason": 200}), id="no-state"),
        pytest.param(p.envelope("messages.update", {"status": "READ"}), id="receipt-no-id"),
    ],
)
def test_malformed_bodies(body: object) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_webhook(body)
    assert 400 <= caught.value.status_code < 500
    assert isinstance(caught.value, ValueError)


def test_missing_event_with_unusable_hint() -> None:
    with pytest.raises(WebhookError):
        parse_webhook(_without(("event",)), event_hint="  ")


def test_ignored_event_does_not_inspect_data() -> None:
    body = p.envelope("qrcode.updated", "not even an object")
    assert one(body) == IgnoredEvent(instance="Revoluna", event="qrcode.updated")


def test_missing_instance_is_empty_string() -> None:
    body = _without(("instance",))
    assert message(body).instance == ""


def test_a_name_evolution_never_sends_is_refused() -> None:
    with pytest.raises(WebhookError, match="unknown event"):
        parse_webhook({"event": "foo.bar", "instance": "Revoluna", "data": {}})


# Wire truth: reactions, edits, deletes, refused ------------------------------------------------


def test_reaction_is_recorded_never_answerable() -> None:
    msg = message(p.reaction("3EB0TARGET", "👍"))
    assert (msg.message_type, msg.reaction_to, msg.text) == ("reactionMessage", "3EB0TARGET", "👍")
    assert not msg.answerable and msg.media_kind is None


def test_removed_reaction_has_no_text() -> None:
    msg = message(p.reaction("3EB0TARGET", ""))
    assert (msg.reaction_to, msg.text, msg.answerable) == ("3EB0TARGET", None, False)


def test_reaction_without_target_is_refused() -> None:
    body = p.reaction("X", "👍")
    del body["data"]["message"]["reactionMessage"]["key"]
    with pytest.raises(WebhookError):
        parse_webhook(body)


def test_edit_is_a_change_of_the_target() -> None:
    event = one(p.protocol_message("3EB0TARGET", "MESSAGE_EDIT", "na verdade, domingo"))
    assert event == ChangeEvent(
        instance="Revoluna",
        kind="edit",
        target_id="3EB0TARGET",
        text="na verdade, domingo",
        change_id="1773027400123",
        changed_at=datetime(2026, 3, 9, 3, 36, 40, tzinfo=UTC),
    )


def test_revoke_and_numeric_enums() -> None:
    revoke = one(p.protocol_message("3EB0TARGET", "REVOKE"))
    assert isinstance(revoke, ChangeEvent) and (revoke.kind, revoke.text) == ("revoke", None)
    numeric = one(p.protocol_message("3EB0TARGET", 14, "x"))
    assert isinstance(numeric, ChangeEvent) and numeric.kind == "edit"
    deleted = one(p.deleted("3EB0TARGET"))
    assert isinstance(deleted, ChangeEvent) and deleted.kind == "revoke"


def test_other_protocol_messages_are_ignored() -> None:
    # Evolution posts every protocolMessage as messages.edited, ephemeral settings included.
    body = p.envelope("messages.edited", {"type": "EPHEMERAL_SETTING", "ephemeralExpiration": 0})
    assert one(body) == IgnoredEvent(instance="Revoluna", event="messages.edited")


def test_send_message_update_is_acknowledged() -> None:
    body = p.protocol_message("3EB0X", "MESSAGE_EDIT", "y", event="send.message.update")
    assert one(body) == IgnoredEvent(instance="Revoluna", event="send.message.update")


def test_connection_refused() -> None:
    assert one(p.CONNECTION_REFUSED) == ConnectionEvent(
        instance="Revoluna", state="refused", status_reason=428
    )
