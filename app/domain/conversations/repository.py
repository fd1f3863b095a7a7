"""SQL for conversations, messages and turns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app.core.db import Conn, Executor


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    doctor_id: int
    chip_id: int | None
    status: str
    control: str
    control_reason: str | None
    campaign_id: int | None
    last_turn_at: datetime | None
    created_at: datetime

    @property
    def under_human(self) -> bool:
        return self.control == "humano"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    direction: str
    author: str
    body: str | None
    message_type: str
    media: dict[str, Any] | None
    created_at: datetime
    turn_id: int | None


_CONV = """SELECT id, doctor_id, chip_id, status, control, control_reason, campaign_id,
                  last_turn_at, created_at FROM conversations"""
_MSG = """SELECT id, direction, author, body, message_type, media, created_at, turn_id
          FROM messages"""


def _conversation(row: asyncpg.Record) -> Conversation:
    return Conversation(**dict(row.items()))


def _message(row: asyncpg.Record) -> StoredMessage:
    values = dict(row.items())
    media = values["media"]
    values["media"] = json.loads(media) if isinstance(media, str) else media
    return StoredMessage(**values)


async def get(conn: Executor, conversation_id: int) -> Conversation | None:
    row = await conn.fetchrow(_CONV + " WHERE id = $1", conversation_id)
    return _conversation(row) if row else None


async def get_or_open(conn: Conn, doctor_id: int, chip_id: int | None) -> Conversation:
    """The doctor's live conversation, opened if there is none (race-safe)."""
    for _ in range(3):
        row = await conn.fetchrow(_CONV + " WHERE doctor_id = $1 AND status = 'ativa'", doctor_id)
        if row:
            return _conversation(row)
        row = await conn.fetchrow(
            """INSERT INTO conversations (doctor_id, chip_id) VALUES ($1, $2)
               ON CONFLICT (doctor_id) WHERE status = 'ativa' DO NOTHING
               RETURNING id, doctor_id, chip_id, status, control, control_reason,
                         campaign_id, last_turn_at, created_at""",
            doctor_id,
            chip_id,
        )
        if row:
            return _conversation(row)
    raise RuntimeError(f"could not open a conversation for doctor {doctor_id}")


async def follow_campaign(
    conn: Executor, conversation_id: int, campaign_id: int, chip_id: int
) -> None:
    """The conversation follows the campaign, and its replies leave from the opener's chip."""
    await conn.execute(
        "UPDATE conversations SET campaign_id = $2, chip_id = $3 WHERE id = $1",
        conversation_id,
        campaign_id,
        chip_id,
    )


async def in_live_conversation(conn: Executor, doctor_id: int, *, active_since: datetime) -> bool:
    """Whether the doctor has an open conversation a person controls or that moved after
    `active_since`."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM conversations
                              WHERE doctor_id = $1 AND status = 'ativa'
                                AND (control = 'humano' OR last_message_at > $2))""",
            doctor_id,
            active_since,
        )
    )


async def has_earlier_conversation(conn: Executor, doctor_id: int, before_id: int) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM conversations WHERE doctor_id = $1 AND id < $2)",
            doctor_id,
            before_id,
        )
    )


async def set_control(
    conn: Executor, conversation_id: int, control: str, reason: str | None
) -> bool:
    """Change who speaks; False if it already was `control`."""
    status: str = await conn.execute(
        """UPDATE conversations SET control = $2, control_reason = $3, control_changed_at = now()
           WHERE id = $1 AND control <> $2""",
        conversation_id,
        control,
        reason,
    )
    return status.endswith(" 1")


async def insert_message(
    conn: Executor,
    *,
    conversation_id: int | None,
    doctor_id: int | None,
    direction: str,
    author: str,
    instance: str | None,
    provider_message_id: str | None,
    remote_jid: str | None = None,
    message_type: str = "conversation",
    body: str | None = None,
    media: dict[str, Any] | None = None,
    quoted_id: str | None = None,
    raw: dict[str, Any] | None = None,
    sent_at: datetime | None = None,
    processed: bool = False,
    outbound_send_id: int | None = None,
    turn_id: int | None = None,
) -> int | None:
    """Store a message; None when (instance, provider id) is already stored (a redelivery)."""
    message_id: int | None = await conn.fetchval(
        """INSERT INTO messages (conversation_id, doctor_id, direction, author, instance,
                                 provider_message_id, remote_jid, message_type, body, media,
                                 quoted_id, raw, sent_at, processed_at, outbound_send_id,
                                 turn_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12::jsonb, $13,
                   CASE WHEN $14 THEN now() END, $15, $16)
           ON CONFLICT (instance, provider_message_id) DO NOTHING
           RETURNING id""",
        conversation_id,
        doctor_id,
        direction,
        author,
        instance,
        provider_message_id,
        remote_jid,
        message_type,
        body,
        json.dumps(media) if media is not None else None,
        quoted_id,
        json.dumps(raw) if raw is not None else None,
        sent_at,
        processed,
        outbound_send_id,
        turn_id,
    )
    return message_id


async def link_echo_to_send(
    conn: Executor,
    *,
    instance: str | None,
    provider_message_id: str,
    send_id: int,
    turn_id: int | None,
) -> None:
    """The webhook echo of a send was stored before the send was recorded: make it Julia's
    message of that send."""
    await conn.execute(
        """UPDATE messages SET outbound_send_id = $3, author = 'julia', turn_id = $4
           WHERE instance = $1 AND provider_message_id = $2""",
        instance,
        provider_message_id,
        send_id,
        turn_id,
    )


async def touch_outbound(conn: Executor, conversation_id: int, at: datetime) -> None:
    await conn.execute(
        "UPDATE conversations SET last_message_at = $2 WHERE id = $1", conversation_id, at
    )


async def touch_inbound(conn: Executor, conversation_id: int) -> None:
    await conn.execute(
        """UPDATE conversations SET last_inbound_at = now(), last_message_at = now()
           WHERE id = $1""",
        conversation_id,
    )


async def update_receipt(
    conn: Executor, instance: str, provider_message_id: str, status: str
) -> None:
    await conn.execute(
        """UPDATE messages SET delivery_status = $3, delivery_status_at = now()
           WHERE instance = $1 AND provider_message_id = $2""",
        instance,
        provider_message_id,
        status,
    )


async def pending_inbound(conn: Executor, conversation_id: int) -> list[StoredMessage]:
    """The doctor's messages no turn has consumed yet, oldest first."""
    rows = await conn.fetch(
        _MSG
        + """ WHERE conversation_id = $1 AND direction = 'in' AND processed_at IS NULL
              ORDER BY created_at, id""",
        conversation_id,
    )
    return [_message(r) for r in rows]


async def history(
    conn: Executor, conversation_id: int, *, before_id: int, limit: int = 40
) -> list[StoredMessage]:
    """The conversation so far (both directions), oldest first, excluding the pending burst."""
    rows = await conn.fetch(
        _MSG
        + """ WHERE conversation_id = $1 AND id < $2
                AND (direction = 'out' OR processed_at IS NOT NULL)
              ORDER BY created_at DESC, id DESC LIMIT $3""",
        conversation_id,
        before_id,
        limit,
    )
    return [_message(r) for r in reversed(rows)]


async def mark_processed(conn: Executor, message_ids: list[int], turn_id: int | None) -> None:
    await conn.execute(
        """UPDATE messages SET processed_at = now(), turn_id = coalesce($2, turn_id)
           WHERE id = ANY($1::bigint[]) AND processed_at IS NULL""",
        message_ids,
        turn_id,
    )


@dataclass(frozen=True, slots=True)
class WaitingMessage:
    id: int
    age_s: float  # by the database clock, the one that stamped created_at


async def waiting_inbound(conn: Executor, conversation_id: int) -> list[WaitingMessage]:
    """The conversation's unanswered inbound messages, oldest first, with their ages."""
    rows = await conn.fetch(
        """SELECT id, extract(epoch FROM now() - created_at)::float8 AS age FROM messages
           WHERE conversation_id = $1 AND direction = 'in' AND processed_at IS NULL
           ORDER BY created_at, id""",
        conversation_id,
    )
    return [WaitingMessage(r["id"], r["age"]) for r in rows]


async def mark_inbound_processed(conn: Executor, conversation_id: int) -> None:
    """Every inbound message of the conversation counts as answered."""
    await conn.execute(
        """UPDATE messages SET processed_at = now()
           WHERE conversation_id = $1 AND direction = 'in' AND processed_at IS NULL""",
        conversation_id,
    )


async def unprocessed_older_than(
    conn: Executor, cutoff: datetime, limit: int = 200
) -> list[tuple[int, int]]:
    """(conversation id, newest pending message id) for conversations with a message nobody
    answered since before `cutoff`, the conversation with the oldest waiting message first."""
    rows = await conn.fetch(
        """SELECT conversation_id, max(id) AS newest, min(created_at) AS oldest
           FROM messages
           WHERE direction = 'in' AND processed_at IS NULL AND conversation_id IS NOT NULL
           GROUP BY conversation_id
           HAVING min(created_at) < $1
           ORDER BY oldest LIMIT $2""",
        cutoff,
        limit,
    )
    return [(r["conversation_id"], r["newest"]) for r in rows]


# Turns ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TurnRecord:
    model: str | None
    llm_calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    tool_calls: int
    # media, next to the model's cost
    transcription_seconds: int = 0
    image_tokens: int = 0


async def start_turn(conn: Executor, conversation_id: int, job_id: str | None) -> int:
    turn_id: int = await conn.fetchval(
        "INSERT INTO turns (conversation_id, job_id) VALUES ($1, $2) RETURNING id",
        conversation_id,
        job_id,
    )
    return turn_id


async def finish_turn(
    conn: Executor,
    turn_id: int,
    status: str,
    record: TurnRecord | None = None,
    error: str | None = None,
) -> None:
    r = record or TurnRecord(None, 0, 0, 0, 0, 0, 0.0, 0)
    await conn.execute(
        """UPDATE turns SET status = $2, model = coalesce($3, model), llm_calls = $4,
                  input_tokens = $5, output_tokens = $6, cache_read_tokens = $7,
                  cache_write_tokens = $8, cost_usd = $9, tool_calls = $10, error = $11,
                  transcription_seconds = $12, image_tokens = $13, finished_at = now()
           WHERE id = $1""",
        turn_id,
        status,
        r.model,
        r.llm_calls,
        r.input_tokens,
        r.output_tokens,
        r.cache_read_tokens,
        r.cache_write_tokens,
        r.cost_usd,
        r.tool_calls,
        error,
        r.transcription_seconds,
        r.image_tokens,
    )
    await conn.execute(
        """UPDATE conversations SET last_turn_at = now()
           WHERE id = (SELECT conversation_id FROM turns WHERE id = $1)""",
        turn_id,
    )


async def interrupted_turns(conn: Executor, conversation_id: int) -> list[int]:
    """Turns left `running` by a worker that died (the caller holds the conversation lock)."""
    rows = await conn.fetch(
        "SELECT id FROM turns WHERE conversation_id = $1 AND status = 'running' ORDER BY id",
        conversation_id,
    )
    return [r["id"] for r in rows]


async def attach_to_turn(conn: Executor, turn_id: int, message_ids: list[int]) -> None:
    await conn.execute(
        "UPDATE messages SET turn_id = $1 WHERE id = ANY($2::bigint[])", turn_id, message_ids
    )


async def detach_from_turn(conn: Executor, turn_id: int, *, unprocessed_only: bool) -> None:
    """Free a failed turn's messages for the next turn (all of them, or only those it had
    not answered yet)."""
    if unprocessed_only:
        await conn.execute(
            "UPDATE messages SET turn_id = NULL WHERE turn_id = $1 AND processed_at IS NULL",
            turn_id,
        )
    else:
        await conn.execute("UPDATE messages SET turn_id = NULL WHERE turn_id = $1", turn_id)


async def skip_turn_for_later(conn: Conn, turn_id: int) -> None:
    """The turn stopped before anything went out: its messages wait unanswered again."""
    await conn.execute(
        "UPDATE messages SET processed_at = NULL, turn_id = NULL WHERE turn_id = $1", turn_id
    )
    await conn.execute(
        "UPDATE turns SET status = 'skipped', error = 'pausado' WHERE id = $1", turn_id
    )


async def failed_turns_since(conn: Executor, conversation_id: int, since: datetime) -> int:
    n: int = await conn.fetchval(
        """SELECT count(*) FROM turns WHERE conversation_id = $1 AND status = 'failed'
             AND started_at >= $2""",
        conversation_id,
        since,
    )
    return n


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A stored message found by its provider id: what an edit, delete or reaction points at."""

    id: int
    conversation_id: int | None
    doctor_id: int | None
    direction: str
    author: str
    body: str | None
    media: dict[str, Any] | None
    processed: bool


async def find_by_provider_id(
    conn: Executor, instance: str, provider_message_id: str
) -> MessageRef | None:
    row = await conn.fetchrow(
        """SELECT id, conversation_id, doctor_id, direction, author, body, media,
                  processed_at IS NOT NULL AS processed
           FROM messages WHERE instance = $1 AND provider_message_id = $2""",
        instance,
        provider_message_id,
    )
    if row is None:
        return None
    values = dict(row.items())
    media = values["media"]
    values["media"] = json.loads(media) if isinstance(media, str) else media
    return MessageRef(**values)


async def edit_pending(conn: Executor, message_id: int, body: str | None) -> bool:
    """Replace the text of a doctor message no turn has read yet; False when one already did."""
    status: str = await conn.execute(
        """UPDATE messages SET body = $2
           WHERE id = $1 AND direction = 'in' AND processed_at IS NULL""",
        message_id,
        body,
    )
    return status.endswith(" 1")


async def revoke_pending(conn: Executor, message_id: int) -> bool:
    """A doctor message deleted before any turn read it: nobody answers it, and the history
    says it was deleted. False when a turn already read it."""
    status: str = await conn.execute(
        """UPDATE messages
           SET processed_at = now(),
               media = coalesce(media, '{}'::jsonb) || '{"revoked": true}'::jsonb
           WHERE id = $1 AND direction = 'in' AND processed_at IS NULL""",
        message_id,
    )
    return status.endswith(" 1")
