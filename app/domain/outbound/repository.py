"""SQL for the outbound ledger (outbound_sends) and the chips it sends through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from app.core.db import Conn

AnyConn = Conn | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class OutboundSend:
    id: int
    idempotency_key: str
    kind: str
    proactive: bool
    doctor_id: int | None
    to_phone: str
    conversation_id: int | None
    turn_id: int | None
    chip_id: int | None
    instance: str | None
    body: str
    status: str
    reason: str | None
    attempts: int
    provider_message_id: str | None


_COLUMNS = """id, idempotency_key, kind, proactive, doctor_id, to_phone, conversation_id,
              turn_id, chip_id, instance, body, status, reason, attempts, provider_message_id"""


def _send(row: asyncpg.Record) -> OutboundSend:
    return OutboundSend(**dict(row.items()))


async def create(
    conn: AnyConn,
    *,
    key: str,
    kind: str,
    proactive: bool,
    doctor_id: int | None,
    to_phone: str,
    body: str,
    conversation_id: int | None = None,
    turn_id: int | None = None,
    chip_id: int | None = None,
    instance: str | None = None,
    campaign_id: int | None = None,
) -> OutboundSend:
    """Record a message before it is sent; an existing key returns the existing row."""
    row = await conn.fetchrow(
        f"""INSERT INTO outbound_sends (idempotency_key, kind, proactive, doctor_id, to_phone,
                                        body, conversation_id, turn_id, chip_id, instance,
                                        campaign_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING {_COLUMNS}""",
        key,
        kind,
        proactive,
        doctor_id,
        to_phone,
        body,
        conversation_id,
        turn_id,
        chip_id,
        instance,
        campaign_id,
    )
    if row is None:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM outbound_sends WHERE idempotency_key = $1", key
        )
    assert row is not None
    return _send(row)


async def get(conn: AnyConn, send_id: int) -> OutboundSend | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM outbound_sends WHERE id = $1", send_id)
    return _send(row) if row else None


async def lock(conn: Conn, send_id: int) -> OutboundSend | None:
    """The row, locked for the rest of the caller's transaction."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM outbound_sends WHERE id = $1 FOR UPDATE", send_id
    )
    return _send(row) if row else None


async def claim_attempt(conn: AnyConn, send_id: int, seen_attempts: int) -> bool:
    """Count an attempt, unless another process claimed the row since it was read."""
    status: str = await conn.execute(
        """UPDATE outbound_sends SET attempts = attempts + 1, status = 'pending',
                  decided_at = now()
           WHERE id = $1 AND attempts = $2 AND status IN ('pending', 'deferred')""",
        send_id,
        seen_attempts,
    )
    return status.endswith(" 1")


async def mark_sent(conn: AnyConn, send_id: int, provider_message_id: str) -> None:
    await conn.execute(
        """UPDATE outbound_sends SET status = 'sent', reason = NULL, sent_at = now(),
                  decided_at = now(), provider_message_id = $2, error = NULL
           WHERE id = $1""",
        send_id,
        provider_message_id,
    )


async def mark_outcome(
    conn: AnyConn,
    send_id: int,
    status: str,
    reason: str,
    *,
    error: str | None = None,
    not_before: datetime | None = None,
) -> None:
    await conn.execute(
        """UPDATE outbound_sends SET status = $2, reason = $3, error = $4, decided_at = now(),
                  not_before = coalesce($5, not_before)
           WHERE id = $1""",
        send_id,
        status,
        reason,
        error,
        not_before,
    )


async def open_replies(conn: AnyConn, conversation_id: int) -> list[OutboundSend]:
    """Planned turn messages of the conversation not yet decided for good, in order."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM outbound_sends
            WHERE conversation_id = $1 AND turn_id IS NOT NULL
              AND status IN ('pending', 'deferred')
            ORDER BY id""",
        conversation_id,
    )
    return [_send(r) for r in rows]


async def conversations_with_due_replies(conn: AnyConn, limit: int = 200) -> list[int]:
    """Conversations whose turn messages wait for a retry (deferred after a failed send)."""
    rows = await conn.fetch(
        """SELECT DISTINCT conversation_id FROM outbound_sends
           WHERE status = 'deferred' AND turn_id IS NOT NULL AND conversation_id IS NOT NULL
             AND not_before <= now()
           LIMIT $1""",
        limit,
    )
    return [r["conversation_id"] for r in rows]


async def cancel_queued_for_doctor(conn: AnyConn, doctor_id: int, reason: str) -> int:
    """Cancel every proactive message still waiting for the doctor (opt-out, handoff)."""
    status: str = await conn.execute(
        """UPDATE outbound_sends SET status = 'cancelled', reason = $2, decided_at = now()
           WHERE doctor_id = $1 AND proactive AND status IN ('pending', 'deferred')""",
        doctor_id,
        reason,
    )
    return int(status.split()[-1])


async def is_own_send(
    conn: AnyConn, provider_message_id: str, to_phones: list[str], body: str | None
) -> bool:
    """Did Julia send this? By provider id, or (when the echo beats the send's response) by
    a send to the same number with the same text still in flight in the last minutes."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM outbound_sends WHERE provider_message_id = $1)
                   OR EXISTS (SELECT 1 FROM outbound_sends
                              WHERE to_phone = ANY($2::text[]) AND body = $3
                                AND status IN ('pending', 'sent')
                                AND updated_at > now() - $4::interval)""",
            provider_message_id,
            to_phones,
            body,
            timedelta(minutes=5),
        )
    )


# Chips ------------------------------------------------------------------------------------


async def ensure_chip(conn: AnyConn, instance: str) -> int:
    chip_id: int = await conn.fetchval(
        """INSERT INTO chips (instance) VALUES ($1)
           ON CONFLICT (instance) DO UPDATE SET instance = EXCLUDED.instance
           RETURNING id""",
        instance,
    )
    return chip_id


async def known_instance(conn: AnyConn, instance: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM chips WHERE instance = $1 AND enabled)", instance
        )
    )


async def set_chip_state(conn: AnyConn, instance: str, state: str) -> None:
    await conn.execute(
        """INSERT INTO chips (instance, state, state_changed_at, connected_at)
           VALUES ($1, $2, now(), CASE WHEN $2 = 'open' THEN now() END)
           ON CONFLICT (instance) DO UPDATE
               SET state = EXCLUDED.state, state_changed_at = now(),
                   connected_at = CASE WHEN EXCLUDED.state = 'open' AND chips.state <> 'open'
                                       THEN now() ELSE chips.connected_at END
               WHERE chips.state IS DISTINCT FROM EXCLUDED.state""",
        instance,
        state,
    )
