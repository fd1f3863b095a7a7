"""SQL only the agent reads."""

from __future__ import annotations

from app.core.db import Executor


async def latest_briefing(conn: Executor) -> str | None:
    """The newest synced briefing document, the operators' notes for the prompt."""
    content: str | None = await conn.fetchval(
        "SELECT content FROM briefings ORDER BY modified_time DESC LIMIT 1"
    )
    return content
