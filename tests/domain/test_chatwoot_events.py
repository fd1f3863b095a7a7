"""Chatwoot's webhook deliveries read as Chatwoot writes them.

Payloads follow chatwoot/chatwoot: `Message#webhook_data` (app/models/message.rb) with the
`event` WebhookListener#message_created merges in; a conversation's push data
(app/presenters/conversations/event_data_presenter.rb) with `changed_attributes` as
`BaseListener#extract_changed_attributes` builds them; the signature as lib/webhooks/
trigger.rb computes it since chatwoot#13573.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from app.domain.inbox.chatwoot import (
    AgentMessage,
    ConversationChange,
    delivery_key,
    parse_event,
    signature_valid,
)

SECRET = "whsec-chatwoot"
NOW = 1_767_000_000.0


def sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    return (
        "sha256="
        + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )


def message_created(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event": "message_created",
        "id": 501,
        "content": "Oi Dra., aqui é a Carla",
        "created_at": "2026-12-07T10:00:00.000Z",
        "message_type": "outgoing",
        "content_type": "text",
        "content_attributes": {},
        "source_id": None,
        "private": False,
        "sender": {"id": 42, "name": "Carla", "type": "user"},
        "inbox": {"id": 7, "name": "Julia"},
        "conversation": {"id": 88, "status": "open", "labels": []},
        "account": {"id": 1, "name": "Revoluna"},
    }
    return payload | overrides


def conversation_event(event: str, changes: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "event": event,
        "id": 88,
        "inbox_id": 7,
        "status": "open",
        "labels": [],
        "meta": {"assignee": None},
        "changed_attributes": changes,
    } | fields


def test_signature_over_timestamp_and_body_within_five_minutes() -> None:
    body = b'{"event":"message_created","id":501}'
    ts = str(int(NOW))
    assert signature_valid(SECRET, ts, sign(body, ts), body, NOW)
    assert signature_valid(SECRET, ts, sign(body, ts), body, NOW + 299)
    assert not signature_valid(SECRET, ts, sign(body, ts), body, NOW + 301)  # stale
    assert not signature_valid(SECRET, ts, sign(body, ts), body, NOW - 301)  # from the future
    assert not signature_valid(SECRET, ts, sign(body, ts, "other"), body, NOW)  # forged
    assert not signature_valid(SECRET, ts, sign(body, ts), body + b" ", NOW)  # tampered
    assert not signature_valid(SECRET, str(int(NOW) + 1), sign(body, ts), body, NOW)
    assert not signature_valid(SECRET, None, sign(body, ts), body, NOW)
    assert not signature_valid(SECRET, ts, None, body, NOW)
    assert not signature_valid(SECRET, "yesterday", sign(body, ts), body, NOW)
    # Only the body's HMAC (what some receivers expect) is not Chatwoot's signature.
    body_only = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert not signature_valid(SECRET, ts, body_only, body, NOW)


def test_an_agents_public_reply_is_an_agent_message() -> None:
    event = parse_event(message_created())
    assert isinstance(event, AgentMessage)
    assert (event.message.id, event.message.conversation_id) == (501, 88)
    assert event.message.content == "Oi Dra., aqui é a Carla"


@pytest.mark.parametrize(
    "overrides",
    [
        {"private": True},  # a private note
        {"message_type": "incoming", "sender": {"id": 9, "type": "contact"}},  # the doctor
        {"message_type": "activity", "sender": None},  # "Conversation was resolved by Carla"
        {"source_id": "julia:msg:12"},  # Julia's own mirror
        {"sender": {"id": 3, "name": "Bot", "type": "agent_bot"}},  # an automation
        {"content": "   "},  # an attachment without text
        {"content": None},
    ],
)
def test_what_is_not_an_agents_reply(overrides: dict[str, Any]) -> None:
    assert parse_event(message_created(**overrides)) is None


def test_conversation_changes() -> None:
    resolved = parse_event(
        conversation_event(
            "conversation_status_changed",
            [{"status": {"previous_value": "open", "current_value": "resolved"}}],
            status="resolved",
            labels=["humano"],
        )
    )
    assert isinstance(resolved, ConversationChange)
    assert resolved.resolved_now and resolved.labels == frozenset({"humano"})

    # An update of a conversation that was resolved earlier is not a new resolution.
    later = parse_event(
        conversation_event(
            "conversation_updated",
            [{"priority": {"previous_value": None, "current_value": "high"}}],
            status="resolved",
        )
    )
    assert isinstance(later, ConversationChange) and not later.resolved_now

    assigned = parse_event(
        conversation_event(
            "conversation_updated",
            [{"assignee_id": {"previous_value": None, "current_value": 42}}],
        )
    )
    assert isinstance(assigned, ConversationChange) and assigned.assigned_to == 42
    unassigned = parse_event(
        conversation_event(
            "conversation_updated",
            [{"assignee_id": {"previous_value": 42, "current_value": None}}],
        )
    )
    assert isinstance(unassigned, ConversationChange) and unassigned.assigned_to is None
    assert parse_event({"event": "contact_updated", "id": 5}) is None


def test_one_key_per_message_whichever_webhook_brings_it() -> None:
    payload = message_created()
    account = delivery_key(payload, {"x-chatwoot-delivery": "a1"})
    inbox = delivery_key(payload, {"x-chatwoot-delivery": "b2"})
    assert account == inbox == "message_created:501"
    change = conversation_event("conversation_updated", [])
    assert delivery_key(change, {"x-chatwoot-delivery": "a1"}) == "conversation_updated:a1"
    assert delivery_key(change, {}) is None
