"""SQL for the chips (the WhatsApp numbers proactive messages leave from) and the doctors
each one serves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from app.core.db import Executor


@dataclass(frozen=True, slots=True)
class Chip:
    id: int
    instance: str
    state: str
    state_changed_at: datetime | None
    warmup_started_at: datetime | None
    daily_limit: int | None
    hourly_limit: int | None
    benched_until: datetime | None
    bench_reason: str | None
    failure_count: int
    enabled: bool

    def unusable(self, now: datetime) -> str | None:
        """Why no proactive message may leave through this chip now (None: it may).

        A chip Evolution never reported on is presumed connected: `connection.update`
        arrives on changes only, so a quiet chip is a working one.
        """
        if not self.enabled:
            return "chip_desativado"
        if self.state != "open" and self.state_changed_at is not None:
            return "chip_desconectado"
        if self.benched_until is not None and self.benched_until > now:
            return "chip_em_pausa"
        return None


_CHIP = """SELECT id, instance, state, state_changed_at, warmup_started_at, daily_limit,
                  hourly_limit, benched_until, bench_reason, failure_count, enabled FROM chips"""


def _chip(row: asyncpg.Record) -> Chip:
    return Chip(**dict(row.items()))


async def ensure_chip(conn: Executor, instance: str) -> int:
    """The chip of `instance`, created on first sight. A read when it exists (every inbound
    message asks): no row lock and no dead tuple per message, as an upsert would leave."""
    chip_id: int | None = await conn.fetchval(
        """WITH found AS (SELECT id FROM chips WHERE instance = $1),
                made AS (
                    INSERT INTO chips (instance) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM found)
                    ON CONFLICT (instance) DO NOTHING RETURNING id)
           SELECT id FROM found UNION ALL SELECT id FROM made""",
        instance,
    )
    if chip_id is None:  # created by a concurrent transaction since our snapshot
        chip_id = await conn.fetchval("SELECT id FROM chips WHERE instance = $1", instance)
    assert chip_id is not None
    return chip_id


async def known_instances(conn: Executor) -> set[str]:
    """Every Evolution instance Julia has a chip for."""
    rows = await conn.fetch("SELECT instance FROM chips")
    return {r["instance"] for r in rows}


async def set_chip_state(conn: Executor, instance: str, state: str) -> None:
    await conn.execute(
        """INSERT INTO chips (instance, state, state_changed_at, connected_at)
           VALUES ($1, $2, now(), CASE WHEN $2 = 'open' THEN now() END)
           ON CONFLICT (instance) DO UPDATE
               SET state = EXCLUDED.state, state_changed_at = now(),
                   connected_at = CASE WHEN EXCLUDED.state = 'open' AND chips.state <> 'open'
                                       THEN now() ELSE chips.connected_at END
               -- the first report counts even when it matches the column's default
               WHERE chips.state IS DISTINCT FROM EXCLUDED.state
                  OR chips.state_changed_at IS NULL""",
        instance,
        state,
    )


async def get_chip(conn: Executor, chip_id: int) -> Chip | None:
    row = await conn.fetchrow(_CHIP + " WHERE id = $1", chip_id)
    return _chip(row) if row else None


async def chip_instance(conn: Executor, chip_id: int) -> str | None:
    instance: str | None = await conn.fetchval("SELECT instance FROM chips WHERE id = $1", chip_id)
    return instance


async def chip_by_instance(conn: Executor, instance: str) -> Chip | None:
    row = await conn.fetchrow(_CHIP + " WHERE instance = $1", instance)
    return _chip(row) if row else None


async def list_chips(conn: Executor) -> list[Chip]:
    return [_chip(r) for r in await conn.fetch(_CHIP + " ORDER BY id")]


async def sent_since(conn: Executor, since: datetime) -> dict[int, int]:
    """Proactive messages each chip sent since `since`."""
    rows = await conn.fetch(
        """SELECT chip_id, count(*) AS n FROM outbound_sends
           WHERE proactive AND chip_id IS NOT NULL AND sent_at >= $1
           GROUP BY chip_id""",
        since,
    )
    return {r["chip_id"]: r["n"] for r in rows}


async def load_since(conn: Executor, since: datetime) -> dict[int, int]:
    """Each chip's proactive load: what it sent since `since` and what waits to go."""
    rows = await conn.fetch(
        """SELECT chip_id, count(*) AS n FROM outbound_sends
           WHERE proactive AND chip_id IS NOT NULL
             AND (sent_at >= $1 OR status IN ('pending', 'deferred'))
           GROUP BY chip_id""",
        since,
    )
    return {r["chip_id"]: r["n"] for r in rows}


async def doctors_per_chip(conn: Executor) -> dict[int, int]:
    """How many doctors hear from each chip."""
    rows = await conn.fetch(
        """SELECT assigned_chip_id, count(*) AS n FROM doctors
           WHERE assigned_chip_id IS NOT NULL GROUP BY 1"""
    )
    return {r["assigned_chip_id"]: r["n"] for r in rows}


async def assigned_chip_id(conn: Executor, doctor_id: int) -> int | None:
    chip_id: int | None = await conn.fetchval(
        "SELECT assigned_chip_id FROM doctors WHERE id = $1", doctor_id
    )
    return chip_id


async def unassign_chip(conn: Executor, doctor_id: int, chip_id: int) -> None:
    """Drop the doctor's chip if it still is `chip_id`."""
    await conn.execute(
        "UPDATE doctors SET assigned_chip_id = NULL WHERE id = $1 AND assigned_chip_id = $2",
        doctor_id,
        chip_id,
    )


async def assign_chip(conn: Executor, doctor_id: int, chip_id: int) -> int:
    """Make `chip_id` the doctor's number unless another process assigned one first;
    returns the doctor's chip either way."""
    assigned: int = await conn.fetchval(
        """WITH won AS (UPDATE doctors SET assigned_chip_id = $2
                        WHERE id = $1 AND assigned_chip_id IS NULL RETURNING assigned_chip_id)
           SELECT assigned_chip_id FROM won
           UNION ALL SELECT assigned_chip_id FROM doctors WHERE id = $1
           LIMIT 1""",
        doctor_id,
        chip_id,
    )
    return assigned


async def record_chip_failure(
    conn: Executor, chip_id: int, *, now: datetime, threshold: int, bench_for: timedelta
) -> bool:
    """Count a failed send; the `threshold`-th failure in a row benches the chip.
    Returns whether this failure benched it."""
    benched: bool | None = await conn.fetchval(
        """UPDATE chips SET
               failure_count = CASE WHEN failure_count + 1 >= $3 THEN 0 ELSE failure_count + 1 END,
               last_failure_at = $2,
               benched_until = CASE WHEN failure_count + 1 >= $3
                                    THEN $2::timestamptz + $4::interval
                                    ELSE benched_until END,
               bench_reason = CASE WHEN failure_count + 1 >= $3 THEN 'falhas_de_envio'
                                   ELSE bench_reason END
           WHERE id = $1
           RETURNING failure_count = 0""",
        chip_id,
        now,
        threshold,
        bench_for,
    )
    return bool(benched)


async def record_chip_success(conn: Executor, chip_id: int, now: datetime) -> None:
    await conn.execute(
        """UPDATE chips SET failure_count = 0, last_sent_at = $2
           WHERE id = $1 AND (failure_count <> 0 OR last_sent_at IS DISTINCT FROM $2)""",
        chip_id,
        now,
    )


async def update_chip(conn: Executor, instance: str, **fields: Any) -> Chip | None:
    """Operator changes: enabled, warmup_started_at, daily_limit, hourly_limit,
    benched_until (None clears a bench)."""
    allowed = {"enabled", "warmup_started_at", "daily_limit", "hourly_limit", "benched_until"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown chip fields: {sorted(unknown)}")
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(fields, start=2))
    row = await conn.fetchrow(
        f"UPDATE chips SET {sets} WHERE instance = $1 RETURNING "
        + _CHIP.removeprefix("SELECT ").split(" FROM chips")[0],
        instance,
        *fields.values(),
    )
    return _chip(row) if row else None


async def release_doctors_of_chip(conn: Executor, chip_id: int) -> int:
    """A retired number's doctors move: their next message picks a new chip, and what
    waits for them is re-routed there."""
    await conn.execute(
        """UPDATE outbound_sends SET chip_id = NULL, instance = NULL
           WHERE chip_id = $1 AND proactive
             AND (status = 'deferred' OR (status = 'pending' AND attempts = 0))""",
        chip_id,
    )
    status: str = await conn.execute(
        "UPDATE doctors SET assigned_chip_id = NULL WHERE assigned_chip_id = $1", chip_id
    )
    return int(status.split()[-1])
