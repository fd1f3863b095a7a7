"""The store helpers: transactions commit or roll back whole; vectors round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.db import transaction, uses_transaction_pooler
from app.core.resources import Resources


async def _doctor(res: Resources, phone: str) -> int:
    async with transaction(res.db) as conn:
        doctor_id: int = await conn.fetchval(
            "INSERT INTO doctors (phone, name) VALUES ($1, 'Dra. Teste') RETURNING id", phone
        )
    return doctor_id


async def test_transaction_commits_on_success_and_rolls_back_on_error(resources: Resources) -> None:
    await _doctor(resources, "5511900000001")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with transaction(resources.db) as conn:
            await conn.execute("INSERT INTO doctors (phone) VALUES ('5511900000002')")
            raise Boom
    phones = await resources.db.fetch("SELECT phone FROM doctors ORDER BY phone")
    assert [r["phone"] for r in phones] == ["5511900000001"]


async def test_pool_connections_speak_pgvector(resources: Resources) -> None:
    doctor_id = await _doctor(resources, "5511900000003")
    near = np.zeros(1024, dtype=np.float32)
    near[0] = 1.0
    far = np.zeros(1024, dtype=np.float32)
    far[1] = 1.0
    async with transaction(resources.db) as conn:
        for content, vector in (("prefere noturno", near), ("mora em Campinas", far)):
            await conn.execute(
                "INSERT INTO memories (doctor_id, kind, content, embedding)"
                " VALUES ($1, 'fato', $2, $3)",
                doctor_id,
                content,
                vector,
            )
    rows = await resources.db.fetch(
        "SELECT content, embedding FROM memories ORDER BY embedding <=> $1 LIMIT 2", near
    )
    assert [r["content"] for r in rows] == ["prefere noturno", "mora em Campinas"]
    assert np.allclose(rows[0]["embedding"].to_numpy(), near)


@pytest.mark.parametrize(
    ("dsn", "pooled"),
    [
        ("postgresql://postgres.ref:pw@aws-0-sa-east-1.pooler.supabase.com:6543/postgres", True),
        ("postgresql://postgres.ref:pw@aws-0-sa-east-1.pooler.supabase.com:5432/postgres", False),
        ("postgresql://u:pw@host/db?pgbouncer=true", True),
    ],
)
def test_transaction_pooler_is_detected(dsn: str, pooled: bool) -> None:
    assert uses_transaction_pooler(dsn) is pooled


async def test_a_released_connection_keeps_nothing_of_its_transaction(
    resources: Resources,
) -> None:
    """The pool skips asyncpg's reset query on release (Julia keeps no session state), but a
    connection given back inside an unfinished transaction is still rolled back: the next
    borrower neither sees the uncommitted row nor inherits the transaction."""
    db = resources.db
    await db.execute("CREATE TABLE release_probe (n int)")
    async with db.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO release_probe VALUES (1)")
        first = conn.get_server_pid()
    # The same server session, borrowed again (the pool hands out its idle connections).
    async with db.acquire() as conn:
        assert conn.get_server_pid() == first
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM release_probe") == 0
