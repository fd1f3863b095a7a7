"""SQL for julia_status: the newest row wins; no rows means `ativo`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.core.db import Conn, Executor


@dataclass(frozen=True, slots=True)
class JuliaStatus:
    status: str
    motivo: str | None
    alterado_via: str | None
    created_at: datetime | None

    @property
    def paused(self) -> bool:
        # Unknown future values are treated as "not ativo": stopping is the safe side.
        return self.status != "ativo"


ATIVO = JuliaStatus("ativo", None, None, None)


async def current(conn: Executor) -> JuliaStatus:
    row = await conn.fetchrow(
        """SELECT status, motivo, alterado_via, created_at FROM julia_status
           ORDER BY created_at DESC, id DESC LIMIT 1"""
    )
    if row is None:
        return ATIVO
    return JuliaStatus(row["status"], row["motivo"], row["alterado_via"], row["created_at"])


async def record(
    conn: Executor,
    status: str,
    *,
    motivo: str | None,
    via: str,
    by: str | None = None,
) -> JuliaStatus:
    """Insert a new status row (the audit trail is the row history)."""
    row = await conn.fetchrow(
        """INSERT INTO julia_status (status, motivo, alterado_via, alterado_por)
           VALUES ($1, $2, $3, $4) RETURNING status, motivo, alterado_via, created_at""",
        status,
        motivo,
        via,
        by,
    )
    assert row is not None
    return JuliaStatus(row["status"], row["motivo"], row["alterado_via"], row["created_at"])


async def lock(conn: Conn) -> None:
    """Serialise status changes until the transaction ends: two operators at once each see
    the other's row as "before"."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('julia_status'))")
