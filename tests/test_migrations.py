"""The migration runner: idempotent, safe when replicas race, loud when a file is bad."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from app.core.migrations import MIGRATIONS_DIR, MigrationError, discover, migrate, pending
from app.domain.inbox.repository import SlackEvent, claim_slack_event
from tests.conftest import Services, create_database
from tests.support.processes import Proc, base_env


async def test_applying_twice_is_a_no_op(services: Services) -> None:
    conn = await asyncpg.connect(await create_database(services, template=None))
    try:
        first = await migrate(conn)
        assert [m.version for m in first] == [m.version for m in discover()]
        assert await migrate(conn) == []
        assert await pending(conn) == []
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(first)
        # The schema the spec's runbook relies on is there.
        await conn.execute(
            "INSERT INTO julia_status (status, motivo, alterado_via)"
            " VALUES ('pausado', 'x', 'manual')"
        )
    finally:
        await conn.close()


async def test_concurrent_runs_both_succeed_and_apply_each_file_once(services: Services) -> None:
    dsn = await create_database(services, template=None)
    conns = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = sorted(m.version for result in results for m in result)
        assert applied == [m.version for m in discover()]
        versions = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in versions] == applied
    finally:
        for c in conns:
            await c.close()


@pytest.mark.slow
async def test_two_migrate_commands_at_once(services: Services, tmp_path: Path) -> None:
    dsn = await create_database(services, template=None)
    env = base_env(DATABASE_URL=dsn, JULIA_DATA_DIR=str(tmp_path))
    procs = [Proc(["python", "-m", "app", "migrate"], env) for _ in range(2)]
    codes = [p.wait(60) for p in procs]
    assert codes == [0, 0], [p.output for p in procs]
    outputs = " ".join(p.output for p in procs)
    assert "Applied" in outputs
    conn = await asyncpg.connect(dsn)
    assert await pending(conn) == []
    await conn.close()


def _copy_migrations(dest: Path) -> None:
    dest.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, dest / path.name)


async def test_a_failing_migration_is_named_and_leaves_nothing_behind(
    services: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    _copy_migrations(folder)
    (folder / "0900_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nALTER TABLE no_such_table ADD COLUMN x int;\n"
    )
    conn = await asyncpg.connect(await create_database(services, template=None))
    try:
        with pytest.raises(MigrationError) as err:
            await migrate(conn, folder)
        assert "0900_broken.sql" in str(err.value)
        assert "no_such_table" in str(err.value)
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert [m.filename for m in await pending(conn, folder)] == ["0900_broken.sql"]
    finally:
        await conn.close()


async def test_an_edited_applied_migration_is_refused(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    _copy_migrations(folder)
    conn = await asyncpg.connect(await create_database(services, template=None))
    try:
        await migrate(conn, folder)
        first = sorted(folder.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="was changed after it was applied"):
            await migrate(conn, folder)
    finally:
        await conn.close()


async def test_slack_events_move_into_the_inbox(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    before, after = [], []
    for migration in discover():
        (before if migration.version < 4 else after).append(migration)
    for migration in before:
        shutil.copy(migration.path, folder / migration.filename)
    conn = await asyncpg.connect(await create_database(services, template=None))
    try:
        await migrate(conn, folder)
        await conn.execute(
            """INSERT INTO slack_events (event_id, command, user_id, channel, ts, status, error,
                                         finished_at)
               VALUES ('Ev1', '<@U0BOT> status', 'U0OP', 'C0G', '1773000000.000100', 'done',
                       'resposta não entregue: x', now()),
                      ('Ev2', '<@U0BOT> ajuda', 'U0OP', 'C0G', '1773000000.000200', 'received',
                       NULL, NULL)"""
        )
        await conn.execute(
            """INSERT INTO webhook_events (source, event, instance, provider_id, payload, status)
               VALUES ('evolution', 'messages.upsert', 'Revoluna', 'k1', '{}', 'processed')"""
        )
        for migration in after:
            shutil.copy(migration.path, folder / migration.filename)
        await migrate(conn, folder)

        assert await conn.fetchval("SELECT to_regclass('slack_events')") is None
        rows = await conn.fetch(
            """SELECT source, provider_id, status, error, finished_at IS NOT NULL AS finished
               FROM webhook_events ORDER BY id"""
        )
        assert [tuple(r) for r in rows] == [
            ("evolution", "k1", "done", None, True),
            ("slack", "Ev1", "done", "resposta não entregue: x", True),
            ("slack", "Ev2", "received", None, False),
        ]
        async with conn.transaction():
            assert await claim_slack_event(conn, "Ev1") is None
            assert await claim_slack_event(conn, "Ev2") == SlackEvent(
                "Ev2", "<@U0BOT> ajuda", "U0OP", "C0G", "1773000000.000200", "received"
            )
        assert await conn.fetchval(
            "SELECT relrowsecurity FROM pg_class WHERE relname = 'webhook_events'"
        )
    finally:
        await conn.close()


def test_badly_named_files_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "add_stuff.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        discover(tmp_path)
