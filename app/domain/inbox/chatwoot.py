"""Chatwoot webhook deliveries: the signature, the dedup key, and the events Julia acts on.

Chatwoot (chatwoot/chatwoot) posts one JSON body per event, `event` naming it
(app/listeners/webhook_listener.rb): `message_created` is `Message#webhook_data` (`id`,
`content`, `message_type` by name, `private`, `source_id`, `sender` with its `type`:
"user" for an agent, "agent_bot", "contact"; `conversation` with its display `id`);
`conversation_updated` and `conversation_status_changed` are the conversation's push data
(Conversations::EventDataPresenter: display `id`, `status`, `labels`, `meta.assignee`)
plus `changed_attributes`, a list of `{attr: {previous_value, current_value}}`
(app/listeners/base_listener.rb `extract_changed_attributes`). The same event reaches the
account webhook and the API inbox's webhook alike.

Since the per-webhook secret (chatwoot#13573, #13892 for API inboxes and agent bots),
lib/webhooks/trigger.rb signs every delivery: `X-Chatwoot-Timestamp: <unix seconds>`,
`X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>` and a
stable `X-Chatwoot-Delivery` id. Chatwoot never retries (5 s timeout, no retry).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.config import Settings
from app.core.db import Conn
from app.domain.handoff import chatwoot_repository as chatwoot_repo
from app.domain.handoff import service as handoff
from app.domain.handoff.chatwoot import HUMAN_LABEL, is_agent_reply, plan_relay
from app.integrations.chatwoot import parse_message
from app.integrations.protocols import ChatwootMessage

SIGNATURE_WINDOW_SECONDS = 300
# The events Julia acts on; anything else is answered 200 and not kept.
HANDLED_EVENTS = frozenset(
    {"message_created", "conversation_updated", "conversation_status_changed"}
)


def signature_valid(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> bool:
    """`sha256=<hex>` of "{timestamp}.{body}" with `secret`, the timestamp within 5 minutes."""
    if not timestamp or not signature:
        return False
    try:
        sent_at = int(timestamp.strip())
    except ValueError:
        return False
    if abs(now - sent_at) > SIGNATURE_WINDOW_SECONDS:
        return False
    digest = hmac.new(secret.encode(), timestamp.strip().encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(f"sha256={digest.hexdigest()}", signature.strip())


def delivery_key(payload: Mapping[str, Any], headers: Mapping[str, str]) -> str | None:
    """One key per meaning: a message is the same message whichever webhook (account or
    inbox) brought it; a conversation change is one delivery (`X-Chatwoot-Delivery`)."""
    event = payload.get("event")
    if event == "message_created" and payload.get("id") is not None:
        return f"message_created:{payload['id']}"
    delivery = headers.get("x-chatwoot-delivery")
    if delivery:
        return f"{event}:{delivery}"
    return None  # an unsigned, older Chatwoot: kept, never a duplicate


@dataclass(frozen=True, slots=True)
class AgentMessage:
    """An outgoing, public message written by a person in Chatwoot."""

    message: ChatwootMessage


@dataclass(frozen=True, slots=True)
class ConversationChange:
    chatwoot_conversation_id: int
    status: str
    labels: frozenset[str]
    resolved_now: bool  # the status just became `resolved`
    assigned_to: int | None  # a new assignee (agent id) this change set, if any


Event = AgentMessage | ConversationChange | None


def parse_event(payload: Mapping[str, Any]) -> Event:
    """What a stored delivery means for Julia; None: nothing (a note, an incoming message,
    one of Julia's own mirrors, an event she does not follow)."""
    event = payload.get("event")
    if event == "message_created":
        conversation = payload.get("conversation")
        if not isinstance(conversation, dict) or not isinstance(conversation.get("id"), int):
            return None
        message = parse_message(dict(payload), conversation["id"])
        return AgentMessage(message) if is_agent_reply(message) else None
    if event in ("conversation_updated", "conversation_status_changed"):
        if not isinstance(payload.get("id"), int):
            return None
        changes = _changes(payload.get("changed_attributes"))
        status = str(payload.get("status") or "")
        status_change = changes.get("status")
        resolved_now = status == "resolved" and (
            event == "conversation_status_changed"
            or (status_change is not None and status_change[1] == "resolved")
        )
        assignee = changes.get("assignee_id")
        assigned_to = assignee[1] if assignee and isinstance(assignee[1], int) else None
        labels = payload.get("labels")
        return ConversationChange(
            chatwoot_conversation_id=payload["id"],
            status=status,
            labels=frozenset(str(x) for x in labels) if isinstance(labels, list) else frozenset(),
            resolved_now=resolved_now,
            assigned_to=assigned_to,
        )
    return None


def _changes(raw: Any) -> dict[str, tuple[Any, Any]]:
    changes: dict[str, tuple[Any, Any]] = {}
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if isinstance(value, dict):
                changes[str(key)] = (value.get("previous_value"), value.get("current_value"))
    return changes


@dataclass
class Applied:
    outcome: str  # relayed, taken_over, handed_back, nothing, unknown_conversation, ...
    conversation_id: int | None = None
    send_ids: list[int] = field(default_factory=list)


async def apply_event(
    conn: Conn, event: Event, settings: Settings, *, own_user_id: int | None
) -> Applied:
    """Act on a parsed delivery inside the caller's transaction; the relays it records are
    delivered by the caller after commit."""
    if event is None:
        return Applied("ignored")
    if isinstance(event, AgentMessage):
        message = event.message
        if message.sender_id == own_user_id or await chatwoot_repo.is_mirrored_message(
            conn, message.id
        ):
            return Applied("own_mirror")
        linked = await chatwoot_repo.find_linked(conn, message.conversation_id)
        if linked is None:
            return Applied("unknown_conversation")
        send_id = await plan_relay(conn, settings, linked, message)
        return Applied(
            "relayed" if send_id else "already_relayed",
            linked.conversation_id,
            [send_id] if send_id else [],
        )
    linked = await chatwoot_repo.find_linked(conn, event.chatwoot_conversation_id)
    if linked is None:
        return Applied("unknown_conversation")
    cid = linked.conversation_id
    under_human = linked.control == "humano"
    has_label = HUMAN_LABEL in event.labels
    if under_human and event.resolved_now:
        await handoff.hand_back(conn, conversation_id=cid, by="chatwoot")
        return Applied("handed_back", cid)
    # The label against what Julia last showed: only a person's change counts (Julia's own
    # label edits arrive here too, and find the control already matching).
    if under_human and not has_label and linked.control_shown == "humano":
        await handoff.hand_back(conn, conversation_id=cid, by="chatwoot")
        return Applied("handed_back", cid)
    if not under_human and has_label and linked.control_shown == "julia":
        await handoff.hand_to_human(
            conn,
            conversation_id=cid,
            doctor_id=linked.doctor_id,
            trigger="chatwoot",
            reason="etiqueta humano no Chatwoot",
        )
        return Applied("taken_over", cid)
    if (
        not under_human
        and event.assigned_to is not None
        and event.assigned_to != own_user_id
        and event.status != "resolved"
    ):
        await handoff.hand_to_human(
            conn,
            conversation_id=cid,
            doctor_id=linked.doctor_id,
            trigger="chatwoot",
            reason="atribuída a um atendente no Chatwoot",
        )
        return Applied("taken_over", cid)
    return Applied("nothing", cid)
