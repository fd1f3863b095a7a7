"""SQL for julia_status: the newest row wins; no rows means `ativo`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.db import Conn, Executor


@dataclass(frozen=True, slots=True)
class JuliaStatus:
    status: str
    motivo: str | None
    alterado_via: str | None
    created_at: datetime | None
    id: int | None = None  # the julia_status row; None when no row exists (ativo)

    @property
    def paused(self) -> bool:
        # Unknown future values are treated as "not ativo": stopping is the safe side.
        return self.status != "ativo"


ATIVO = JuliaStatus("ativo", None, None, None)


async def current(conn: Executor) -> JuliaStatus:
    row = await conn.fetchrow(
        """SELECT status, motivo, alterado_via, created_at, id FROM julia_status
           ORDER BY created_at DESC, id DESC LIMIT 1"""
    )
    return _status(row) if row is not None else ATIVO


def _status(row: Any) -> JuliaStatus:
    return JuliaStatus(
        row["status"], row["motivo"], row["alterado_via"], row["created_at"], row["id"]
    )


async def by_event(conn: Executor, event_id: str) -> tuple[JuliaStatus, JuliaStatus] | None:
    """The row an operator's Slack event wrote at the edge, and the one it replaced."""
    row = await conn.fetchrow(
        """SELECT status, motivo, alterado_via, created_at, id FROM julia_status
           WHERE slack_event_id = $1""",
        event_id,
    )
    if row is None:
        return None
    previous = await conn.fetchrow(
        """SELECT status, motivo, alterado_via, created_at, id FROM julia_status
           WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT 1""",
        row["created_at"],
        row["id"],
    )
    return (_status(previous) if previous is not None else ATIVO), _status(row)


async def record(
    conn: Executor,
    status: str,
    *,
    motivo: str | None,
    via: str,
    by: str | None = None,
    slack_event_id: str | None = None,
) -> JuliaStatus:
    """Insert a new status row (the audit trail is the row history). `slack_event_id`
    names the Slack mention whose request wrote it."""
    row = await conn.fetchrow(
        """INSERT INTO julia_status (status, motivo, alterado_via, alterado_por, slack_event_id)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING status, motivo, alterado_via, created_at, id""",
        status,
        motivo,
        via,
        by,
        slack_event_id,
    )
    assert row is not None
    return _status(row)


async def lock(conn: Conn) -> None:
    """Serialise status changes until the transaction ends: two operators at once each see
    the other's row as "before"."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('julia_status'))")
