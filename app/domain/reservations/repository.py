"""SQL for reservations, the shift they hold, and the offers Julia made of each shift.

Every state change is a guarded UPDATE (`WHERE status = ...`, `WHERE <moment> IS NULL`)
returning what it changed, so two runners (two scheduler ticks, a retried job, two operators
typing at once) act once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from app.core.db import Executor

LIVE = ("pendente", "confirmada")


@dataclass(frozen=True, slots=True)
class Reservation:
    """A reservation with what the team and the messages need of its shift and doctor."""

    id: int
    code: str
    status: str
    shift_id: int
    doctor_id: int
    conversation_id: int | None
    reserved_at: datetime
    reannounced_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    decided_via: str | None
    motivo: str | None
    reminded_at: datetime | None
    outcome_asked_at: datetime | None
    doctor_name: str | None
    doctor_phone: str
    hospital: str
    specialty: str
    starts_at: datetime
    ends_at: datetime
    shift_status: str
    outcome: str | None


_SELECT = """
    SELECT r.id, r.code, r.status, r.shift_id, r.doctor_id, r.conversation_id, r.reserved_at,
           r.reannounced_at, r.decided_at, r.decided_by, r.decided_via, r.motivo,
           r.reminded_at, r.outcome_asked_at,
           coalesce(d.name, d.push_name) AS doctor_name, d.phone AS doctor_phone,
           h.name AS hospital, sp.name AS specialty, s.starts_at, s.ends_at,
           s.status AS shift_status, s.outcome
    FROM reservations r
    JOIN doctors d ON d.id = r.doctor_id
    JOIN shifts s ON s.id = r.shift_id
    JOIN hospitals h ON h.id = s.hospital_id
    JOIN specialties sp ON sp.id = s.specialty_id
"""


def _reservation(row: asyncpg.Record) -> Reservation:
    return Reservation(**dict(row.items()))


async def create(
    conn: Executor,
    *,
    code: str,
    shift_id: int,
    doctor_id: int,
    conversation_id: int | None,
    now: datetime,
) -> int | None:
    """A new pending reservation; None when the code is taken (pick another)."""
    reservation_id: int | None = await conn.fetchval(
        """INSERT INTO reservations (code, shift_id, doctor_id, conversation_id, reserved_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (code) DO NOTHING
           RETURNING id""",
        code,
        shift_id,
        doctor_id,
        conversation_id,
        now,
    )
    return reservation_id


async def get(conn: Executor, reservation_id: int) -> Reservation | None:
    row = await conn.fetchrow(_SELECT + " WHERE r.id = $1", reservation_id)
    return _reservation(row) if row else None


async def by_code(conn: Executor, code: str) -> Reservation | None:
    row = await conn.fetchrow(_SELECT + " WHERE r.code = upper($1)", code)
    return _reservation(row) if row else None


async def live_for_shift(conn: Executor, shift_id: int) -> Reservation | None:
    row = await conn.fetchrow(
        _SELECT + " WHERE r.shift_id = $1 AND r.status = ANY($2::text[])", shift_id, list(LIVE)
    )
    return _reservation(row) if row else None


async def lock(conn: Executor, reservation_id: int) -> str | None:
    """Lock the reservation row until the transaction ends; its current status."""
    status: str | None = await conn.fetchval(
        "SELECT status FROM reservations WHERE id = $1 FOR UPDATE", reservation_id
    )
    return status


async def decide(
    conn: Executor,
    reservation_id: int,
    *,
    status: str,
    before: tuple[str, ...],
    at: datetime,
    by: str | None,
    via: str,
    motivo: str | None = None,
) -> bool:
    """Move a reservation from one of `before` to `status`; False when it was not there."""
    changed = await conn.fetchval(
        """UPDATE reservations
           SET status = $2, decided_at = $4, decided_by = $5, decided_via = $6, motivo = $7
           WHERE id = $1 AND status = ANY($3::text[])
           RETURNING id""",
        reservation_id,
        status,
        list(before),
        at,
        by,
        via,
        motivo,
    )
    return changed is not None


async def confirm_shift(
    conn: Executor, shift_id: int, doctor_id: int, *, at: datetime, by: str | None
) -> None:
    await conn.execute(
        """UPDATE shifts SET status = 'confirmado', confirmed_at = $3, confirmed_by = $4
           WHERE id = $1 AND reserved_doctor_id = $2 AND status = 'reservado'""",
        shift_id,
        doctor_id,
        at,
        by,
    )


async def reopen_shift(conn: Executor, shift_id: int, doctor_id: int) -> None:
    """The shift is open again (a released reservation); a cancelled one stays cancelled."""
    await conn.execute(
        """UPDATE shifts
           SET status = 'aberto', reserved_doctor_id = NULL, reserved_at = NULL,
               confirmed_at = NULL, confirmed_by = NULL
           WHERE id = $1 AND reserved_doctor_id = $2 AND status IN ('reservado', 'confirmado')""",
        shift_id,
        doctor_id,
    )


async def record_outcome(
    conn: Executor, shift_id: int, outcome: str, *, at: datetime, by: str | None
) -> None:
    """Whether the shift happened; one that did is `preenchido`."""
    await conn.execute(
        """UPDATE shifts
           SET outcome = $2, outcome_at = $3, outcome_by = $4,
               status = CASE WHEN $2 = 'realizado' THEN 'preenchido' ELSE status END
           WHERE id = $1""",
        shift_id,
        outcome,
        at,
        by,
    )


async def claim_reannounce(
    conn: Executor, *, reserved_before: datetime, now: datetime
) -> list[int]:
    """Pending reservations older than the re-announcement delay, not re-announced yet."""
    rows = await conn.fetch(
        """UPDATE reservations SET reannounced_at = $2
           WHERE status = 'pendente' AND reannounced_at IS NULL AND reserved_at <= $1
           RETURNING id""",
        reserved_before,
        now,
    )
    return [r["id"] for r in rows]


async def expired(conn: Executor, *, reserved_before: datetime, now: datetime) -> list[int]:
    """Pending reservations past their window, or whose shift has started meanwhile."""
    rows = await conn.fetch(
        """SELECT r.id FROM reservations r JOIN shifts s ON s.id = r.shift_id
           WHERE r.status = 'pendente' AND (r.reserved_at <= $1 OR s.starts_at <= $2)
           ORDER BY r.reserved_at""",
        reserved_before,
        now,
    )
    return [r["id"] for r in rows]


async def claim_reminders(
    conn: Executor, *, starts_from: datetime, starts_before: datetime, now: datetime
) -> list[int]:
    """Confirmed reservations whose shift starts in the window and had no reminder."""
    rows = await conn.fetch(
        """UPDATE reservations r SET reminded_at = $3
           FROM shifts s
           WHERE s.id = r.shift_id AND r.status = 'confirmada' AND r.reminded_at IS NULL
             AND s.starts_at >= $1 AND s.starts_at < $2 AND s.starts_at > $3
           RETURNING r.id""",
        starts_from,
        starts_before,
        now,
    )
    return [r["id"] for r in rows]


async def claim_outcome_questions(conn: Executor, *, now: datetime) -> list[int]:
    """Confirmed reservations whose shift has ended and nobody was asked about yet."""
    rows = await conn.fetch(
        """UPDATE reservations r SET outcome_asked_at = $1
           FROM shifts s
           WHERE s.id = r.shift_id AND r.status = 'confirmada' AND r.outcome_asked_at IS NULL
             AND s.ends_at <= $1 AND s.outcome IS NULL
           RETURNING r.id""",
        now,
    )
    return [r["id"] for r in rows]


async def open_list(conn: Executor, *, now: datetime, limit: int = 50) -> list[Reservation]:
    """Pending reservations, confirmed ones still ahead, and ended ones without an answer."""
    rows = await conn.fetch(
        _SELECT
        + """ WHERE r.status = 'pendente'
               OR (r.status = 'confirmada' AND (s.ends_at > $1 OR s.outcome IS NULL))
             ORDER BY r.status DESC, s.starts_at, r.id LIMIT $2""",
        now,
        limit,
    )
    return [_reservation(r) for r in rows]


# Offers ------------------------------------------------------------------------------------


async def record_offers(
    conn: Executor, conversation_id: int, shift_ids: list[int], *, now: datetime
) -> None:
    """Julia showed these shifts in this conversation (a repeated offer refreshes it; a
    shift offered again is open again, so an old withdrawal no longer holds)."""
    if not shift_ids:
        return
    await conn.execute(
        """INSERT INTO shift_offers (conversation_id, shift_id, offered_at)
           SELECT $1, unnest($2::bigint[]), $3
           ON CONFLICT (conversation_id, shift_id)
           DO UPDATE SET offered_at = excluded.offered_at, withdrawn_at = NULL,
                         withdrawn_why = NULL""",
        conversation_id,
        shift_ids,
        now,
    )


async def withdraw_offers(
    conn: Executor, shift_id: int, *, why: str, at: datetime, keep_doctor_id: int | None
) -> int:
    """Withdraw every open offer of the shift, except in the conversations of the doctor
    who holds it; how many were withdrawn."""
    rows = await conn.fetch(
        """UPDATE shift_offers o SET withdrawn_at = $3, withdrawn_why = $2
           FROM conversations c
           WHERE c.id = o.conversation_id AND o.shift_id = $1 AND o.withdrawn_at IS NULL
             AND c.doctor_id IS DISTINCT FROM $4
           RETURNING o.conversation_id""",
        shift_id,
        why,
        at,
        keep_doctor_id,
    )
    return len(rows)


@dataclass(frozen=True, slots=True)
class GoneOffer:
    shift_id: int
    hospital: str
    specialty: str
    starts_at: datetime
    why: str  # preenchido, cancelado, reservado


async def gone_offers(
    conn: Executor, conversation_id: int, doctor_id: int, *, now: datetime, since: timedelta
) -> list[GoneOffer]:
    """Shifts offered in this conversation (shown within `since`, or offered by the campaign
    that opened it) that another doctor took or that were cancelled, still in the future."""
    rows = await conn.fetch(
        """WITH offered AS (
               SELECT o.shift_id, o.withdrawn_why FROM shift_offers o
               WHERE o.conversation_id = $1 AND o.offered_at > $3::timestamptz - $4::interval
               UNION ALL
               SELECT cs.shift_id, NULL FROM conversations c
               JOIN campaign_shifts cs ON cs.campaign_id = c.campaign_id
               WHERE c.id = $1
           )
           SELECT DISTINCT ON (s.starts_at, s.id)
                  s.id AS shift_id, h.name AS hospital, sp.name AS specialty, s.starts_at,
                  coalesce(o.withdrawn_why,
                           CASE WHEN s.status = 'cancelado' THEN 'cancelado'
                                WHEN s.status = 'reservado' THEN 'reservado'
                                ELSE 'preenchido' END) AS why
           FROM offered o
           JOIN shifts s ON s.id = o.shift_id
           JOIN hospitals h ON h.id = s.hospital_id
           JOIN specialties sp ON sp.id = s.specialty_id
           WHERE s.starts_at > $3 AND s.status <> 'aberto'
             AND s.reserved_doctor_id IS DISTINCT FROM $2
           ORDER BY s.starts_at, s.id, o.withdrawn_why NULLS LAST
           LIMIT 10""",
        conversation_id,
        doctor_id,
        now,
        since,
    )
    return [GoneOffer(**dict(r.items())) for r in rows]


async def nearest_alternative(
    conn: Executor, shift_id: int, *, now: datetime, exclude: list[int] | None = None
) -> int | None:
    """The open shift most like this one: same specialty, starting closest to it (the same
    hospital first on a tie), still in the future."""
    alternative: int | None = await conn.fetchval(
        """SELECT a.id
           FROM shifts ref
           JOIN shifts a ON a.specialty_id = ref.specialty_id AND a.id <> ref.id
           WHERE ref.id = $1 AND a.status = 'aberto' AND a.starts_at > $2
             AND NOT (a.id = ANY($3::bigint[]))
           ORDER BY abs(extract(epoch FROM a.starts_at - ref.starts_at)),
                    (a.hospital_id = ref.hospital_id) DESC, a.priority DESC, a.id
           LIMIT 1""",
        shift_id,
        now,
        exclude or [],
    )
    return alternative
