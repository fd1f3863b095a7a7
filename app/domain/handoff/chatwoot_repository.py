"""SQL for the Chatwoot mirror: contacts, conversation links, mirrored items, and what is
still to be mirrored or relayed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.db import Executor


@dataclass(frozen=True, slots=True)
class Link:
    conversation_id: int
    chatwoot_conversation_id: int
    contact_id: int
    control_shown: str


@dataclass(frozen=True, slots=True)
class LinkedConversation:
    """A Julia conversation found by its Chatwoot display id (the webhook's side)."""

    conversation_id: int
    doctor_id: int
    phone: str
    chip_id: int | None
    control: str
    control_shown: str


@dataclass(frozen=True, slots=True)
class PendingMessage:
    id: int
    direction: str
    author: str
    body: str | None
    media: dict[str, Any] | None
    message_type: str


@dataclass(frozen=True, slots=True)
class ItemState:
    existed: bool  # an earlier attempt wrote the row: Chatwoot may have the message already
    chatwoot_message_id: int | None


@dataclass(frozen=True, slots=True)
class NoteSource:
    key: str
    kind: str  # handoff, optout, reserva
    at: datetime
    detail: str | None
    extra: str | None = None


_LINK = """SELECT conversation_id, chatwoot_conversation_id, contact_id, control_shown
           FROM chatwoot_conversations"""


async def contact_of(conn: Executor, doctor_id: int) -> int | None:
    contact_id: int | None = await conn.fetchval(
        "SELECT contact_id FROM chatwoot_contacts WHERE doctor_id = $1", doctor_id
    )
    return contact_id


async def save_contact(conn: Executor, doctor_id: int, contact_id: int) -> None:
    await conn.execute(
        """INSERT INTO chatwoot_contacts (doctor_id, contact_id) VALUES ($1, $2)
           ON CONFLICT (doctor_id) DO UPDATE SET contact_id = EXCLUDED.contact_id""",
        doctor_id,
        contact_id,
    )


async def link_of(conn: Executor, conversation_id: int) -> Link | None:
    row = await conn.fetchrow(_LINK + " WHERE conversation_id = $1", conversation_id)
    return Link(**dict(row.items())) if row else None


async def save_link(
    conn: Executor, conversation_id: int, chatwoot_conversation_id: int, contact_id: int
) -> Link:
    """Keep the link (the first one wins) and note it on the conversation."""
    await conn.execute(
        """INSERT INTO chatwoot_conversations
               (conversation_id, chatwoot_conversation_id, contact_id)
           VALUES ($1, $2, $3) ON CONFLICT (conversation_id) DO NOTHING""",
        conversation_id,
        chatwoot_conversation_id,
        contact_id,
    )
    await conn.execute(
        """UPDATE conversations SET chatwoot_conversation_id = c.chatwoot_conversation_id
           FROM chatwoot_conversations c
           WHERE conversations.id = $1 AND c.conversation_id = $1""",
        conversation_id,
    )
    link = await link_of(conn, conversation_id)
    assert link is not None
    return link


async def set_control_shown(conn: Executor, conversation_id: int, control: str) -> None:
    await conn.execute(
        "UPDATE chatwoot_conversations SET control_shown = $2 WHERE conversation_id = $1",
        conversation_id,
        control,
    )


async def touch_link(conn: Executor, conversation_id: int, at: datetime) -> None:
    await conn.execute(
        "UPDATE chatwoot_conversations SET last_mirrored_at = $2 WHERE conversation_id = $1",
        conversation_id,
        at,
    )


async def find_linked(conn: Executor, chatwoot_conversation_id: int) -> LinkedConversation | None:
    row = await conn.fetchrow(
        """SELECT c.id AS conversation_id, c.doctor_id, d.phone, c.chip_id, c.control,
                  l.control_shown
           FROM chatwoot_conversations l
           JOIN conversations c ON c.id = l.conversation_id
           JOIN doctors d ON d.id = c.doctor_id
           WHERE l.chatwoot_conversation_id = $1""",
        chatwoot_conversation_id,
    )
    return LinkedConversation(**dict(row.items())) if row else None


async def pending_messages(
    conn: Executor, conversation_id: int, limit: int
) -> list[PendingMessage]:
    """The conversation's messages Chatwoot does not have yet, oldest first. A relay (an
    agent's own words, sent from Chatwoot) is already there."""
    rows = await conn.fetch(
        """SELECT m.id, m.direction, m.author, m.body, m.media, m.message_type
           FROM messages m
           LEFT JOIN chatwoot_items i ON i.message_id = m.id
           LEFT JOIN outbound_sends s ON s.id = m.outbound_send_id
           WHERE m.conversation_id = $1
             AND i.chatwoot_message_id IS NULL
             AND s.kind IS DISTINCT FROM 'relay'
           ORDER BY m.created_at, m.id
           LIMIT $2""",
        conversation_id,
        limit,
    )
    result = []
    for row in rows:
        values = dict(row.items())
        media = values["media"]
        values["media"] = json.loads(media) if isinstance(media, str) else media
        result.append(PendingMessage(**values))
    return result


async def note_sources(
    conn: Executor, conversation_id: int, doctor_id: int, since: datetime
) -> list[NoteSource]:
    """What deserves a private note and has none yet: the conversation's handoffs, the
    doctor's opt-out and the shifts reserved for them since `since`, oldest first."""
    rows = await conn.fetch(
        """SELECT * FROM (
               SELECT 'handoff:' || h.id AS key, 'handoff' AS kind, h.requested_at AS at,
                      h.reason AS detail, h.trigger AS extra
               FROM handoffs h WHERE h.conversation_id = $1
               UNION ALL
               SELECT 'optout:' || d.id || ':' || extract(epoch FROM d.opted_out_at)::bigint,
                      'optout', d.opted_out_at, d.opt_out_reason, NULL
               FROM doctors d
               WHERE d.id = $2 AND d.opted_out_at IS NOT NULL AND d.opted_out_at >= $3
               UNION ALL
               SELECT 'reserva:' || s.id || ':' || $2 || ':'
                          || extract(epoch FROM s.reserved_at)::bigint,
                      'reserva', s.reserved_at,
                      coalesce(h.name, '') || ' ' || to_char(s.starts_at, 'DD/MM HH24:MI'),
                      s.id::text
               FROM shifts s LEFT JOIN hospitals h ON h.id = s.hospital_id
               WHERE s.reserved_doctor_id = $2 AND s.reserved_at >= $3
           ) n
           WHERE NOT EXISTS (SELECT 1 FROM chatwoot_items i
                             WHERE i.key = n.key AND i.chatwoot_message_id IS NOT NULL)
           ORDER BY at""",
        conversation_id,
        doctor_id,
        since,
    )
    return [NoteSource(**dict(row.items())) for row in rows]


async def begin_item(
    conn: Executor, *, conversation_id: int, key: str, message_id: int | None
) -> ItemState:
    """Record that `key` is about to be created in Chatwoot (before the call)."""
    row = await conn.fetchrow("SELECT chatwoot_message_id FROM chatwoot_items WHERE key = $1", key)
    if row is not None:
        return ItemState(True, row["chatwoot_message_id"])
    inserted = await conn.fetchval(
        """INSERT INTO chatwoot_items (conversation_id, key, message_id) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING id""",
        conversation_id,
        key,
        message_id,
    )
    if inserted is None:  # written a moment ago by another run
        return ItemState(True, None)
    return ItemState(False, None)


async def finish_item(conn: Executor, key: str, chatwoot_message_id: int, at: datetime) -> None:
    await conn.execute(
        """UPDATE chatwoot_items SET chatwoot_message_id = $2, mirrored_at = $3
           WHERE key = $1""",
        key,
        chatwoot_message_id,
        at,
    )


async def is_mirrored_message(conn: Executor, chatwoot_message_id: int) -> bool:
    """Whether a Chatwoot message is one Julia created (her mirror of a message or note)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM chatwoot_items WHERE chatwoot_message_id = $1)",
            chatwoot_message_id,
        )
    )


async def relayed_keys(conn: Executor, keys: list[str]) -> set[str]:
    """Which of these relay idempotency keys already have a ledger row."""
    rows = await conn.fetch(
        "SELECT idempotency_key FROM outbound_sends WHERE idempotency_key = ANY($1::text[])",
        keys,
    )
    return {row["idempotency_key"] for row in rows}


async def conversations_behind(conn: Executor, since: datetime, limit: int) -> list[int]:
    """Active conversations with a message since `since` that Chatwoot lacks, or whose
    control Chatwoot does not show yet."""
    rows = await conn.fetch(
        """SELECT DISTINCT c.id FROM conversations c
           LEFT JOIN chatwoot_conversations l ON l.conversation_id = c.id
           WHERE c.last_message_at >= $1
             AND (l.conversation_id IS NULL OR l.control_shown <> c.control
                  OR EXISTS (
                      SELECT 1 FROM messages m
                      LEFT JOIN chatwoot_items i ON i.message_id = m.id
                      LEFT JOIN outbound_sends s ON s.id = m.outbound_send_id
                      WHERE m.conversation_id = c.id AND m.created_at >= $1
                        AND i.chatwoot_message_id IS NULL
                        AND s.kind IS DISTINCT FROM 'relay'))
           ORDER BY c.id
           LIMIT $2""",
        since,
        limit,
    )
    return [row["id"] for row in rows]


async def links_to_reconcile(conn: Executor, since: datetime, limit: int) -> list[Link]:
    """Linked conversations an agent may have written in: under human control, or with a
    message either way since `since`."""
    rows = await conn.fetch(
        """SELECT l.conversation_id, l.chatwoot_conversation_id, l.contact_id, l.control_shown
           FROM chatwoot_conversations l JOIN conversations c ON c.id = l.conversation_id
           WHERE c.control = 'humano' OR c.last_message_at >= $1
                 OR l.last_mirrored_at >= $1
           ORDER BY coalesce(c.last_message_at, l.created_at) DESC
           LIMIT $2""",
        since,
        limit,
    )
    return [Link(**dict(row.items())) for row in rows]
