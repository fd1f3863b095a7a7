"""SQL for the outbound ledger (outbound_sends) and what the gateway reads beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from app.core.db import Conn, Executor


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
    autonomous: bool
    campaign_id: int | None
    not_before: datetime
    decided_at: datetime | None  # the latest decision, or the claim of a send in progress
    sent_at: datetime | None
    typing_ms: int = 0  # "digitando…" shown before a reply part, ending at not_before
    shift_id: int | None = None  # the shift a proactive text quotes
    created_at: datetime | None = None  # when it was planned: a reply's freshness counts from it


_COLUMNS = """id, idempotency_key, kind, proactive, doctor_id, to_phone, conversation_id,
              turn_id, chip_id, instance, body, status, reason, attempts, provider_message_id,
              autonomous, campaign_id, not_before, decided_at, sent_at, typing_ms, shift_id,
              created_at"""


def _send(row: asyncpg.Record) -> OutboundSend:
    return OutboundSend(**dict(row.items()))


async def create(
    conn: Executor,
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
    autonomous: bool = False,
    not_before: datetime | None = None,
    typing_ms: int = 0,
    shift_id: int | None = None,
) -> OutboundSend:
    """Record a message before it is sent; an existing key returns the existing row."""
    row = await conn.fetchrow(
        f"""INSERT INTO outbound_sends (idempotency_key, kind, proactive, doctor_id, to_phone,
                                        body, conversation_id, turn_id, chip_id, instance,
                                        campaign_id, autonomous, not_before, typing_ms, shift_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, coalesce($13, now()),
                    $14, $15)
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
        autonomous,
        not_before,
        typing_ms,
        shift_id,
    )
    if row is None:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM outbound_sends WHERE idempotency_key = $1", key
        )
    assert row is not None
    return _send(row)


async def rewrite(
    conn: Executor, send_id: int, *, body: str, shift_id: int | None, attempts: int
) -> OutboundSend | None:
    """Replace a waiting proactive text (its quoted shift is gone); None when the row was
    claimed or decided meanwhile."""
    row = await conn.fetchrow(
        f"""UPDATE outbound_sends SET body = $2, shift_id = $3
            WHERE id = $1 AND attempts = $4 AND status IN ('pending', 'deferred')
            RETURNING {_COLUMNS}""",
        send_id,
        body,
        shift_id,
        attempts,
    )
    return _send(row) if row else None


async def get(conn: Executor, send_id: int) -> OutboundSend | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM outbound_sends WHERE id = $1", send_id)
    return _send(row) if row else None


async def campaign_status(conn: Executor, campaign_id: int) -> str | None:
    """The status of the campaign a send belongs to (None: no such campaign); the gateway
    reads it here so outbound never depends on outreach."""
    status: str | None = await conn.fetchval(
        "SELECT status FROM campaigns WHERE id = $1", campaign_id
    )
    return status


@dataclass(frozen=True, slots=True)
class CountedSend:
    """A proactive send that went out (or may have), as the caps count it."""

    id: int
    chip_id: int
    doctor_id: int
    ts: float  # epoch seconds of sent_at, else of the claim


async def counted_proactive_since(conn: Executor, since: datetime) -> list[CountedSend]:
    """Every proactive send that went out, or was claimed with its outcome unknown, after
    `since`."""
    rows = await conn.fetch(
        """SELECT id, chip_id, doctor_id,
                  extract(epoch FROM coalesce(sent_at, decided_at))::float8 AS ts
           FROM outbound_sends
           WHERE proactive AND chip_id IS NOT NULL AND doctor_id IS NOT NULL
             AND (status = 'sent' OR (status = 'pending' AND attempts > 0))
             AND coalesce(sent_at, decided_at) > $1""",
        since,
    )
    return [CountedSend(**dict(r.items())) for r in rows]


async def lock(conn: Conn, send_id: int) -> OutboundSend | None:
    """The row, locked for the rest of the caller's transaction."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM outbound_sends WHERE id = $1 FOR UPDATE", send_id
    )
    return _send(row) if row else None


async def claim_attempt(
    conn: Executor,
    send_id: int,
    seen_attempts: int,
    at: datetime | None = None,
    *,
    seen_body: str | None = None,
) -> bool:
    """Count an attempt, unless another process claimed the row since it was read, or
    rewrote its text (`seen_body`: a stale quoted shift, app/domain/outreach/freshness.py),
    Julia is paused (the newest julia_status row, read by this statement: a pause committed
    before the claim stops the send, whatever any process read earlier), or (for a
    proactive message) the doctor opted out meanwhile. An opt-out cancels the queued rows
    in the same transaction, so the row lock orders the two."""
    status: str = await conn.execute(
        """UPDATE outbound_sends s SET attempts = attempts + 1, status = 'pending',
                  decided_at = coalesce($3, now())
           WHERE id = $1 AND attempts = $2 AND status IN ('pending', 'deferred')
             AND ($4::text IS NULL OR body = $4)
             AND coalesce((SELECT j.status FROM julia_status j
                           ORDER BY j.created_at DESC, j.id DESC LIMIT 1), 'ativo') = 'ativo'
             AND NOT (proactive AND EXISTS (SELECT 1 FROM doctors d
                                            WHERE d.id = s.doctor_id
                                              AND d.opted_out_at IS NOT NULL))""",
        send_id,
        seen_attempts,
        at,
        seen_body,
    )
    return status.endswith(" 1")


async def mark_sent(
    conn: Executor, send_id: int, provider_message_id: str, at: datetime | None = None
) -> None:
    await conn.execute(
        """UPDATE outbound_sends SET status = 'sent', reason = NULL,
                  sent_at = coalesce($3, now()), decided_at = coalesce($3, now()),
                  provider_message_id = $2, error = NULL
           WHERE id = $1""",
        send_id,
        provider_message_id,
        at,
    )


async def mark_outcome(
    conn: Executor,
    send_id: int,
    status: str,
    reason: str,
    *,
    error: str | None = None,
    not_before: datetime | None = None,
    at: datetime | None = None,
) -> None:
    await conn.execute(
        """UPDATE outbound_sends SET status = $2, reason = $3, error = $4,
                  decided_at = coalesce($6, now()), not_before = coalesce($5, not_before)
           WHERE id = $1""",
        send_id,
        status,
        reason,
        error,
        not_before,
        at,
    )


async def set_route(conn: Executor, send_id: int, chip_id: int, instance: str) -> None:
    """The chip a proactive message leaves from, chosen when it is first decided."""
    await conn.execute(
        "UPDATE outbound_sends SET chip_id = $2, instance = $3 WHERE id = $1",
        send_id,
        chip_id,
        instance,
    )


async def open_replies(conn: Executor, conversation_id: int) -> list[OutboundSend]:
    """Planned turn messages of the conversation not yet decided for good, in order."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM outbound_sends
            WHERE conversation_id = $1 AND turn_id IS NOT NULL
              AND status IN ('pending', 'deferred')
            ORDER BY id""",
        conversation_id,
    )
    return [_send(r) for r in rows]


async def earlier_open_reply(conn: Executor, conversation_id: int, send_id: int) -> bool:
    """Is a reply part planned before `send_id` in the conversation still undecided? Parts
    go out in order: this one waits for it."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM outbound_sends
                              WHERE conversation_id = $1 AND turn_id IS NOT NULL
                                AND status IN ('pending', 'deferred') AND id < $2)""",
            conversation_id,
            send_id,
        )
    )


async def next_open_reply(
    conn: Executor, conversation_id: int, after_id: int
) -> OutboundSend | None:
    """The conversation's first undecided reply part planned after `after_id`."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM outbound_sends
            WHERE conversation_id = $1 AND turn_id IS NOT NULL
              AND status IN ('pending', 'deferred') AND id > $2
            ORDER BY id LIMIT 1""",
        conversation_id,
        after_id,
    )
    return _send(row) if row else None


async def reschedule(conn: Executor, send_id: int, not_before: datetime) -> None:
    """Move a planned part's moment (its typing starts when the part before it went out)."""
    await conn.execute(
        """UPDATE outbound_sends SET not_before = $2
           WHERE id = $1 AND status = 'pending' AND attempts = 0""",
        send_id,
        not_before,
    )


async def cancel_rest_of_turn(conn: Executor, turn_id: int, after_id: int, reason: str) -> None:
    """The parts after one that was not sent: without it they make no sense."""
    await conn.execute(
        """UPDATE outbound_sends SET status = 'cancelled', reason = $3, decided_at = now()
           WHERE turn_id = $1 AND id > $2 AND status IN ('pending', 'deferred')""",
        turn_id,
        after_id,
        reason,
    )


async def conversations_with_due_replies(
    conn: Executor,
    limit: int = 200,
    *,
    lost_before: datetime | None = None,
    in_flight_before: datetime | None = None,
) -> list[int]:
    """Conversations whose turn messages wait for someone: deferred after a failed send and
    due; with `lost_before`, a planned part whose moment passed before it and whose job is
    gone (never tried); with `in_flight_before`, a part claimed before it whose worker died
    (the gateway then records its outcome as unknown, never resending it)."""
    rows = await conn.fetch(
        """SELECT DISTINCT conversation_id FROM outbound_sends
           WHERE turn_id IS NOT NULL AND conversation_id IS NOT NULL
             AND status IN ('pending', 'deferred')
             AND ((status = 'deferred' AND not_before <= now())
                  OR (status = 'pending' AND attempts = 0 AND $2::timestamptz IS NOT NULL
                      AND not_before < least($2::timestamptz, now()))
                  OR (status = 'pending' AND attempts > 0 AND decided_at < $3::timestamptz))
           LIMIT $1""",
        limit,
        lost_before,
        in_flight_before,
    )
    return [r["conversation_id"] for r in rows]


# How late an echo of a send whose answer never came (a timeout, a 5xx) is still taken as ours.
LATE_ECHO_WINDOW = timedelta(minutes=30)


async def is_own_send(
    conn: Executor, provider_message_id: str, to_phones: list[str], body: str | None
) -> bool:
    """Did Julia send this? By provider id, or (when the echo beats the send's response) by
    a send to the same number with the same text still in flight in the last minutes, or
    (a late echo) one whose answer never came: its outcome unknown, or failed to be retried."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM outbound_sends WHERE provider_message_id = $1)
                   OR EXISTS (SELECT 1 FROM outbound_sends
                              WHERE to_phone = ANY($2::text[]) AND body = $3
                                AND status IN ('pending', 'sent')
                                AND updated_at > now() - $4::interval)
                   OR EXISTS (SELECT 1 FROM outbound_sends
                              WHERE to_phone = ANY($2::text[]) AND body = $3
                                AND ((status = 'failed' AND reason = 'resultado_incerto')
                                     OR (status = 'deferred' AND reason = 'envio_falhou'))
                                AND updated_at > now() - $5::interval)""",
            provider_message_id,
            to_phones,
            body,
            timedelta(minutes=5),
            LATE_ECHO_WINDOW,
        )
    )


async def confirm_by_echo(
    conn: Executor, provider_message_id: str, to_phones: list[str], body: str | None
) -> OutboundSend | None:
    """A late echo proves a send whose answer never came did reach WhatsApp: record it as
    sent (with the echo's id), so it is never sent again. Returns the send, or None when no
    such send waits (the echo of a send already recorded, or not ours)."""
    row = await conn.fetchrow(
        f"""UPDATE outbound_sends SET status = 'sent', reason = 'confirmado_pelo_eco',
                   provider_message_id = $1, sent_at = now(), decided_at = now()
             WHERE id = (SELECT id FROM outbound_sends
                          WHERE to_phone = ANY($2::text[]) AND body = $3
                            AND ((status = 'failed' AND reason = 'resultado_incerto')
                                 OR (status = 'deferred' AND reason = 'envio_falhou'))
                            AND updated_at > now() - $4::interval
                          ORDER BY id LIMIT 1
                          FOR UPDATE SKIP LOCKED)
         RETURNING {_COLUMNS}""",
        provider_message_id,
        to_phones,
        body,
        LATE_ECHO_WINDOW,
    )
    return _send(row) if row is not None else None


async def is_manager_number(conn: Executor, phones: list[str]) -> bool:
    """Has Julia sent a manager notice (GESTOR_WHATSAPP) to this number?"""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM outbound_sends
                              WHERE kind = 'gestor' AND to_phone = ANY($1::text[]))""",
            phones,
        )
    )
