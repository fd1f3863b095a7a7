"""The worker drains the Evolution inbox: what the edge acknowledged is answered once, even
when no worker was running, a row cannot be applied, or the worker has no Redis signal;
retention keeps the store bounded and the path's queries use indexes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.core.config import Settings
from app.domain.inbox import repository as inbox
from app.domain.outbound import repository as sends
from app.workers.fila_worker import build_worker
from app.workers.scheduler import limpar_retencao, varrer_mensagens
from tests.support.fake_vendors import text_reply
from tests.support.julia import running_julia, text_message, vendor_settings


@pytest.fixture
def julia_settings(make_settings: Any, database_url: str, redis_url: str, fake: Any) -> Settings:
    settings: Settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, **vendor_settings(fake.url)
    )
    return settings


@asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[None]:
    """One more ARQ worker process's worth (its own pool, Redis and inbox drainer)."""
    arq_worker = build_worker(settings)
    arq_worker.poll_delay_s = 0.05
    task = asyncio.create_task(arq_worker.async_run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await arq_worker.close()


def doctor(n: int) -> str:
    return f"5521977{n:06d}"


async def test_the_worker_stopped_under_load_answers_every_acked_message_once(
    julia_settings: Settings, fake: Any
) -> None:
    count = 30
    async with running_julia(julia_settings, worker=False) as julia:
        responses = await asyncio.gather(
            *(julia.post(text_message(doctor(n), f"oi, sou o médico {n}")) for n in range(count))
        )
        assert [r.status_code for r in responses] == [200] * count
        await asyncio.sleep(1.0)
        assert fake.evolution.sends == [] and fake.anthropic.requests == []
        assert await julia.count("SELECT count(*) FROM messages") == 0
        assert await julia.count(
            "SELECT count(*) FROM webhook_events WHERE status = 'received'"
        ) == (count)

        async with worker(julia_settings):
            await fake.await_until(
                lambda: all(fake.evolution.texts_to(doctor(n)) for n in range(count)), timeout=60
            )
            await asyncio.sleep(1.5)
        assert all(len(fake.evolution.texts_to(doctor(n))) == 1 for n in range(count))
        assert len(fake.anthropic.requests) == count
        assert await julia.count("SELECT count(*) FROM webhook_events WHERE status = 'done'") == (
            count
        )


async def test_a_delivery_that_cannot_be_applied_is_failed_and_the_others_are_answered(
    julia_settings: Settings, fake: Any
) -> None:
    async with running_julia(julia_settings, worker=False) as julia:
        # Something in the domain refuses this one message (as a bug or a constraint would).
        await julia.res.db.execute(
            """CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                 IF NEW.body = 'boom' THEN RAISE EXCEPTION 'cannot keep this message'; END IF;
                 RETURN NEW;
               END $$;
               CREATE TRIGGER refuse_boom BEFORE INSERT ON messages
                 FOR EACH ROW EXECUTE FUNCTION refuse_boom();"""
        )
        await julia.say(doctor(1), "oi")
        await julia.say(doctor(2), "boom")
        await julia.say(doctor(3), "tudo bem?")
        async with worker(julia_settings):
            await fake.await_until(
                lambda: fake.evolution.texts_to(doctor(1)) and fake.evolution.texts_to(doctor(3)),
                timeout=20,
            )
            await asyncio.sleep(1.0)
        assert fake.evolution.texts_to(doctor(2)) == []
        rows = await julia.res.db.fetch("SELECT status, error FROM webhook_events ORDER BY id")
        assert [r["status"] for r in rows] == ["done", "failed", "done"]
        assert "cannot keep this message" in rows[1]["error"]
        # The failed row's partial work (its doctor, its conversation) was undone with it.
        phones = [r["phone"] for r in await julia.res.db.fetch("SELECT phone FROM doctors")]
        assert doctor(2) not in phones and len(phones) == 2


async def test_two_workers_apply_each_delivery_once_in_the_order_it_came(
    julia_settings: Settings, fake: Any
) -> None:
    texts = [f"parte {n}" for n in range(12)]
    async with running_julia(julia_settings) as julia, worker(julia_settings):
        for text in texts:
            for n in range(3):
                await julia.say(doctor(n), text)
        deadline = asyncio.get_running_loop().time() + 20
        while await julia.count("SELECT count(*) FROM webhook_events WHERE status = 'received'"):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        for n in range(3):
            bodies = await julia.res.db.fetch(
                """SELECT m.body FROM messages m JOIN doctors d ON d.id = m.doctor_id
                   WHERE d.phone = $1 AND m.direction = 'in' ORDER BY m.id""",
                doctor(n),
            )
            assert [b["body"] for b in bodies] == texts


async def test_the_sweep_drains_what_no_worker_applied(julia_settings: Settings, fake: Any) -> None:
    async with running_julia(julia_settings, worker=False) as julia:
        await julia.say(doctor(1), "oi, alguém aí?")
        await varrer_mensagens(julia.res)  # too recent: a worker may be on it
        assert await julia.count("SELECT count(*) FROM messages") == 0
        await julia.res.db.execute(
            "UPDATE webhook_events SET received_at = now() - interval '1 minute'"
        )
        await varrer_mensagens(julia.res)
        assert await julia.count("SELECT count(*) FROM messages WHERE direction = 'in'") == 1
        assert await julia.count("SELECT count(*) FROM webhook_events WHERE status = 'done'") == 1
        fake.anthropic.script(text_reply("oi! tô aqui sim"))
        async with worker(julia_settings):  # the turn the sweep queued is run
            await fake.await_until(lambda: fake.evolution.texts_to(doctor(1)), timeout=15)
        assert fake.evolution.texts_to(doctor(1)) == ["oi! tô aqui sim"]


async def test_retention_deletes_finished_rows_past_the_window_and_keeps_the_rest(
    make_settings: Any, database_url: str, redis_url: str
) -> None:
    settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        WEBHOOK_RETENTION_DAYS=7,
        JOB_RUNS_RETENTION_DAYS=3,
    )
    async with running_julia(settings, worker=False) as julia:
        db = julia.res.db
        old, recent = timedelta(days=8), timedelta(minutes=30)
        for key, status, age in [
            ("old-done", "done", old),
            ("old-failed", "failed", old),
            ("old-received", "received", old),  # never applied: kept whatever its age
            ("late-retry", "done", recent),  # an Evolution retry still finds its key
        ]:
            await db.execute(
                """INSERT INTO webhook_events (source, provider_id, payload, status, received_at)
                   VALUES ('evolution', $1, '{}', $2, now() - $3::interval)""",
                key,
                status,
                age,
            )
        for name, age in [("old", timedelta(days=4)), ("new", timedelta(days=2))]:
            await db.execute(
                """INSERT INTO job_runs (job_name, slot, status, started_at)
                   VALUES ($1, now(), 'ok', now() - $2::interval)""",
                name,
                age,
            )
        await limpar_retencao(julia.res)
        kept = {r["provider_id"] for r in await db.fetch("SELECT provider_id FROM webhook_events")}
        assert kept == {"old-received", "late-retry"}
        assert [r["job_name"] for r in await db.fetch("SELECT job_name FROM job_runs")] == ["new"]
        # The late retry is still recognised as a duplicate.
        assert (
            await inbox.insert_event(db, source="evolution", provider_id="late-retry", payload={})
            is None
        )


async def test_the_webhook_and_echo_queries_use_indexes_on_large_tables(
    julia_settings: Settings,
) -> None:
    async with running_julia(julia_settings, worker=False) as julia:
        db = julia.res.db
        await db.execute(
            """INSERT INTO webhook_events (source, event, instance, provider_id, payload, status,
                                           received_at)
               SELECT 'evolution', 'messages.upsert', 'Revoluna', 'Revoluna:k' || g,
                      jsonb_build_object('n', g), 'done', now() - (g || ' seconds')::interval
               FROM generate_series(1, 50000) g;
               INSERT INTO outbound_sends (idempotency_key, kind, proactive, to_phone, body,
                                           status, provider_message_id, updated_at)
               SELECT 'k' || g, 'reply', false, (5511900000000 + g)::text, 'texto ' || g, 'sent',
                      '3EB0' || g, now() - (g || ' seconds')::interval
               FROM generate_series(1, 50000) g;
               ANALYZE webhook_events; ANALYZE outbound_sends;"""
        )
        queries: list[tuple[str, tuple[Any, ...]]] = []
        async with db.acquire() as conn:

            def record(entry: Any) -> None:
                queries.append((entry.query, entry.args))

            conn.add_query_logger(record)
            # The edge's store, the drainer's claim, the sweep's check, the echo check and
            # the retention delete: the real functions, their statements captured.
            await inbox.insert_event(conn, source="evolution", provider_id="new", payload={})
            async with conn.transaction():
                await inbox.claim_received(conn, 100)
            await inbox.received_before(conn, datetime.now(UTC))
            await sends.is_own_send(conn, "3EB0NOPE", ["5511987654321", "551187654321"], "oi")
            tx = conn.transaction()
            await tx.start()
            await inbox.prune_finished(conn, datetime.now(UTC) - timedelta(days=30))
            await tx.rollback()
            conn.remove_query_logger(record)
            plans = []
            for query, args in queries:
                if query.split()[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                    rows = await conn.fetch("EXPLAIN " + query, *args)
                    plans.append("\n".join(r[0] for r in rows))
        assert len(plans) == 5
        for plan in plans:
            assert "Seq Scan on webhook_events" not in plan, plan
            assert "Seq Scan on outbound_sends" not in plan, plan
