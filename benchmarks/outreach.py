"""Outreach benchmark: campaign target selection at scale, and gateway decisions per second.

`.venv/bin/python benchmarks/outreach.py` from the repository root (`--doctors 20000 --shifts
2000` for a quick run). Exits 1 if a target-selection or shift-matching plan reads `doctors`
sequentially; timings are reported, never asserted. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.common import ms  # noqa: E402

SP = ZoneInfo("America/Sao_Paulo")
SPECIALTIES = {
    "Clínica Médica": 28, "Pediatria": 12, "Ginecologia e Obstetrícia": 9, "Cirurgia Geral": 8,
    "Ortopedia e Traumatologia": 7, "Medicina Intensiva": 7, "Anestesiologia": 6,
    "Cardiologia": 6, "Medicina de Emergência": 6, "Psiquiatria": 4, "Neurologia": 4,
    "Radiologia": 3,
}  # fmt: skip
REGIONS = (  # (state, region, weight): shares of doctors and of hospitals
    ("SP", "Zona Sul", 8), ("SP", "Zona Norte", 5), ("SP", "Zona Leste", 6), ("SP", "Centro", 4),
    ("SP", "ABC", 5), ("SP", "Campinas", 5), ("RJ", "Rio - Zona Sul", 5), ("RJ", "Niterói", 3),
    ("RJ", "Baixada Fluminense", 4), ("MG", "BH - Centro-Sul", 5), ("MG", "Contagem", 2),
    ("MG", "Centro", 1), ("PR", "Curitiba", 6), ("RS", "Porto Alegre", 6), ("BA", "Salvador", 5),
    ("PE", "Recife", 4), ("DF", "Brasília", 4),
)  # fmt: skip
CAMPAIGNS = {  # key: (kind, specialty, regions, states, days ahead or None: no dates)
    "typical": ("oferta", "Clínica Médica", ["Zona Sul"], [], 14),
    "state": ("oferta", "Pediatria", [], ["MG"], 14),
    "nationwide": ("descoberta", "Clínica Médica", [], [], None),
}
GATEWAY = {  # key: (label, the outcome every decision must have)
    "defer_hours": ("defer: outside business hours (22:00)", "deferred:horario"),
    "defer_paced": ("defer: chip paced, limiter refuses", "deferred:intervalo_chip"),
    "send_noop": ("send: no-op sender", "sent:"),
    "send_evolution": ("send: Evolution client -> local fake", "sent:"),
}
SEND_CHIPS = 50  # round-robin, the clock 1 s a decision: each chip's sends are 50 s apart


def u(column: str, salt: int) -> str:
    """SQL for a deterministic uniform draw in [0, 1) from an integer expression."""
    return f"((hashint8extended(({column})::bigint, {salt}) & 2147483647)::float8 / 2147483648)"


def pick(array: str, draw: str) -> str:
    """SQL for the element of `array` that `draw` in [0, 1) picks."""
    return f"({array})[1 + floor({draw} * cardinality({array}))::int]"


# Shares of doctors: 4 % without specialty; 2 % without state, 10 % more without region
# (matched by state); 4 % opted out; 45 % wrote to Julia before; last proactive contact never
# for 35 %, in the last 7 days for 12 %, 7 to 240 days ago for the rest.
DOCTORS = f"""
WITH g AS (SELECT n, {u("n", 1)} AS us, {u("n", 3)} AS ux, {u("n", 4)} AS uo, {u("n", 5)} AS up,
                  {u("n", 6)} AS ui, {pick("$3::int[]", u("n", 2))} AS geo
           FROM generate_series(1, $1::int) AS n)
INSERT INTO doctors (phone, name, specialty_id, state, region, opted_out_at,
                     last_inbound_at, last_proactive_at, assigned_chip_id, source)
SELECT '5511' || lpad(n::text, 9, '0'), 'Dra. Médica ' || n,
       CASE WHEN us >= 0.04 THEN {pick("$4::bigint[]", u("n", 7))} END,
       CASE WHEN ux >= 0.02 THEN ($5::text[])[geo] END,
       CASE WHEN ux >= 0.12 THEN ($6::text[])[geo] END,
       CASE WHEN uo < 0.04 THEN $2::timestamptz - uo * interval '7500 days' END,
       CASE WHEN ui < 0.45 THEN $2::timestamptz - interval '1 day' - ui * interval '800 days' END,
       CASE WHEN up >= 0.47 THEN $2::timestamptz - interval '169 hours'
                                 - (up - 0.47) * interval '440 days'
            WHEN up >= 0.35 THEN $2::timestamptz - (up - 0.35) * interval '58 days' END,
       CASE WHEN up >= 0.35 THEN ($7::bigint[])[1 + n % 3] END, 'csv:medicos.csv'
FROM g"""
# Active conversations: live (under 72 h) 5 %, under human control 1 %, quiet 4+ days 34 %.
CONVERSATIONS = f"""
INSERT INTO conversations (doctor_id, chip_id, status, control, last_message_at)
SELECT id, assigned_chip_id, 'ativa', CASE WHEN uc BETWEEN 0.05 AND 0.06 THEN 'humano' ELSE
       'julia' END, $1::timestamptz - CASE WHEN uc < 0.05 THEN ut * interval '71 hours'
                                           ELSE interval '4 days' + ut * interval '200 days' END
FROM (SELECT *, {u("id", 21)} AS uc, {u("id", 22)} AS ut FROM doctors) d WHERE uc < 0.40"""
# Of the quiet conversations under Julia: a cadence step scheduled (8 %, excluded); the last
# step (3) sent as the conversation went quiet (25 %, excluded while under 60 days old); step 1
# sent (25 %, history). Reminders the doctor asked for (2 %) exclude nobody.
FOLLOWUPS = f"""
INSERT INTO followups (doctor_id, conversation_id, kind, step, due_at, status, sent_at)
SELECT doctor_id, id, 'cadencia', CASE WHEN uf < 0.08 THEN 2 WHEN uf < 0.33 THEN 3 ELSE 1 END,
       CASE WHEN uf < 0.08 THEN $1::timestamptz + uf * interval '60 days'
            ELSE last_message_at END,
       CASE WHEN uf < 0.08 THEN 'agendado' ELSE 'enviado' END,
       CASE WHEN uf >= 0.08 THEN last_message_at END
FROM (SELECT *, {u("id", 31)} AS uf FROM conversations) c
WHERE status = 'ativa' AND control = 'julia' AND uf < 0.58
  AND last_message_at < $1::timestamptz - interval '4 days'
UNION ALL
SELECT doctor_id, id, 'lembrete', NULL, $1::timestamptz + interval '3 days', 'agendado', NULL
FROM conversations WHERE status = 'ativa' AND {u("id", 35)} < 0.02"""
# Other campaigns: a running one with targets for 7 % (60 % of them pendente), a paused one
# with adiado targets for 3 %, 4 concluded ones that reached 25 % each (history), a cancelled.
OTHER_CAMPAIGNS = f"""
WITH k AS (
    INSERT INTO campaigns (name, kind, status, filters, started_at, created_by)
    SELECT 'Campanha ' || n, 'oferta', s, '{{}}', $1::timestamptz - interval '10 days', 'gestor'
    FROM unnest('{{ativa,pausada,concluida,concluida,concluida,concluida,cancelada}}'::text[])
         WITH ORDINALITY AS x(s, n)
    RETURNING id, status)
INSERT INTO campaign_targets (campaign_id, doctor_id, status, attempts)
SELECT k.id, d.id, CASE k.status WHEN 'pausada' THEN 'adiado'
                        WHEN 'ativa' THEN CASE WHEN ut < 0.6 THEN 'pendente' ELSE 'enviado' END
                        ELSE CASE WHEN ut < 0.15 THEN 'respondeu' ELSE 'enviado' END END,
       CASE WHEN k.status = 'ativa' AND ut < 0.6 THEN 0 ELSE 1 END
FROM k CROSS JOIN LATERAL (SELECT id, {u("id * 16 + k.id", 41)} AS uk,
                                  {u("id * 16 + k.id", 42)} AS ut FROM doctors) d
WHERE uk < CASE k.status WHEN 'ativa' THEN 0.07 WHEN 'pausada' THEN 0.03
                         WHEN 'concluida' THEN 0.25 ELSE 0 END"""
# The ledger: each contacted doctor's last proactive message.
LEDGER = """
INSERT INTO outbound_sends (idempotency_key, kind, proactive, doctor_id, to_phone, chip_id,
                            instance, body, status, attempts, not_before, decided_at, sent_at)
SELECT 'seed:' || d.id, 'campaign', true, d.id, d.phone, c.id, c.instance, 'Oi!', 'sent', 1,
       d.last_proactive_at, d.last_proactive_at, d.last_proactive_at
FROM doctors d JOIN chips c ON c.id = d.assigned_chip_id"""
# Shifts: from 20 days back to 60 ahead, at 07:00 or 19:00; 70 % of the future ones open.
SHIFTS = f"""
WITH s AS (SELECT n, {u("n", 53)} AS ust,
                  date_trunc('day', $2::timestamptz AT TIME ZONE 'America/Sao_Paulo')
                  + (floor({u("n", 52)} * 80)::int - 20) * interval '1 day'
                  + CASE WHEN n % 3 = 0 THEN interval '19 hours' ELSE interval '7 hours' END
                  AS local FROM generate_series(1, $1::int) AS n)
INSERT INTO shifts (hospital_id, specialty_id, starts_at, ends_at, period, priority, status)
SELECT {pick("$3::bigint[]", u("n", 51))}, {pick("$4::bigint[]", u("n", 54))},
       local AT TIME ZONE 'America/Sao_Paulo',
       (local + interval '12 hours') AT TIME ZONE 'America/Sao_Paulo',
       CASE WHEN n % 3 = 0 THEN 'noturno' ELSE 'diurno' END, (n % 10 = 0)::int,
       CASE WHEN local AT TIME ZONE 'America/Sao_Paulo' < $2 THEN 'preenchido'
            WHEN ust < 0.7 THEN 'aberto' WHEN ust < 0.9 THEN 'confirmado' ELSE 'cancelado' END
FROM s"""


def weighted(ids: list[int], weights: list[int], size: int = 1000) -> list[int]:
    """`ids`, each repeated in proportion to its weight: a uniform pick is a weighted one."""
    total = sum(weights)
    return [i for i, w in zip(ids, weights, strict=True) for _ in range(round(size * w / total))]


async def seed(conn: asyncpg.Connection, doctors: int, shifts: int, now: datetime) -> dict:
    """The world, in bulk SQL; returns what it holds, counted."""
    t0 = time.perf_counter()
    insert = "INSERT INTO {} ({}) SELECT unnest($1::text[]) RETURNING id"
    specialties = await conn.fetch(insert.format("specialties", "name"), list(SPECIALTIES))
    chips = await conn.fetch(insert.format("chips", "instance"), ["seed-0", "seed-1", "seed-2"])
    hospitals = await conn.fetch(
        """INSERT INTO hospitals (name, city, state, region)
           SELECT 'Hospital ' || r || ' ' || k, r || '/' || s, s, r
           FROM unnest($1::text[], $2::text[], $3::int[]) AS x(s, r, w), generate_series(1, 3 * w) k
           RETURNING id""",
        *zip(*REGIONS, strict=True),
    )  # fmt: skip
    spec = weighted([r["id"] for r in specialties], list(SPECIALTIES.values()))
    geo = weighted(list(range(1, len(REGIONS) + 1)), [w for *_, w in REGIONS])
    states, regions, _ = zip(*REGIONS, strict=True)
    await conn.execute(DOCTORS, doctors, now, geo, spec, states, regions, [r[0] for r in chips])
    for sql in (CONVERSATIONS, FOLLOWUPS, OTHER_CAMPAIGNS):
        await conn.execute(sql, now)
    await conn.execute(LEDGER)
    await conn.execute(SHIFTS, shifts, now, [r["id"] for r in hospitals], spec)
    await conn.execute("VACUUM ANALYZE")
    await conn.execute("CHECKPOINT")  # the seed's dirty pages are written now, not mid-run
    tables = ("doctors", "conversations", "followups", "campaign_targets", "outbound_sends")
    counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in (*tables, "shifts")}
    return counts | {"seconds": round(time.perf_counter() - t0, 1)}


async def exclusions(conn: asyncpg.Connection, now: datetime) -> dict[str, int]:
    """Doctors each condition of repository.eligibility excludes alone, in its order."""
    from app.domain.outreach import repository as r

    clauses = r.eligibility(campaign="0", recent="$1", live="$2", silence="$3").items()
    counts = ", ".join(f"count(*) FILTER (WHERE NOT ({sql})) AS {k}" for k, sql in clauses)
    windows = (r.RECENT_CONTACT, r.LIVE_CONVERSATION, r.SILENCE_AFTER_CADENCE)
    row = await conn.fetchrow(f"SELECT {counts} FROM doctors d", *(now - w for w in windows))
    return dict(row.items())


# Part 1: campaigns ------------------------------------------------------------------------


async def create_and_start(conn: Any, key: str, now: datetime) -> tuple[int, float, float]:
    """create, then start, each in its own transaction: (campaign id, seconds of each)."""
    from app.domain.outreach.campaigns import CampaignSpec, create, start

    kind, specialty, regions, states, days = CAMPAIGNS[key]
    today = now.astimezone(SP).date()
    spec = CampaignSpec(
        name=f"bench {key}", kind=kind, specialties=[specialty], regions=regions, states=states,
        date_from=today if days else None, created_by="bench",
        date_to=today + timedelta(days=days - 1) if days else None,
    )  # fmt: skip
    t0 = time.perf_counter()
    async with conn.transaction():
        campaign = await create(conn, spec, now=now, tz=SP)
    t1 = time.perf_counter()
    async with conn.transaction():
        await start(conn, campaign.id, now=now)
    return campaign.id, t1 - t0, time.perf_counter() - t1


class _Rollback(Exception):
    pass


class Explaining:
    """A connection that, just before target selection or shift matching runs, runs it under
    EXPLAIN (ANALYZE, BUFFERS) with the same arguments, in a savepoint rolled back."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        from app.domain.outreach.repository import TARGET_SQL

        self._conn = conn
        self._watch = {"targets": TARGET_SQL.strip(), "matching": "SELECT s.id FROM shifts s"}
        self.plans: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._conn, name)
        if name not in ("fetch", "execute"):
            return method

        async def explained(sql: str, *args: Any) -> Any:
            watched = [k for k, start in self._watch.items() if sql.strip().startswith(start)]
            for key in watched:
                with contextlib.suppress(_Rollback):
                    async with self._conn.transaction():
                        rows = await self._conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
                        self.plans[key] = "\n".join(r[0] for r in rows)
                        raise _Rollback
            return await method(sql, *args)

        return explained


def read_plan(plan: str) -> dict[str, Any]:
    """What a text plan reads: indexes, tables scanned sequentially; and its time."""
    return {
        "ms": float(re.findall(r"Execution Time: ([\d.]+)", plan)[0]),
        "indexes": sorted(set(re.findall(r"(?:using|Bitmap Index Scan on) (\w+)", plan))),
        "seq_scans": sorted(set(re.findall(r"Seq Scan on (\w+)", plan))),
        "plan": plan,
    }


TARGETS = "SELECT count(*) FROM campaign_targets WHERE campaign_id = $1"


async def bench_campaign(conn: asyncpg.Connection, key: str, runs: int, now: datetime) -> dict:
    """1 warm-up + `runs` fresh campaigns (each deleted after), then one more explained."""
    creates, starts, sizes = [], [], set()
    for run in range(runs + 1):
        campaign_id, create_s, start_s = await create_and_start(conn, key, now)
        sizes.add(await conn.fetchval(TARGETS, campaign_id))
        await conn.execute("DELETE FROM campaigns WHERE id = $1", campaign_id)
        await conn.execute("VACUUM campaign_targets, campaign_shifts, campaigns")
        if run:
            creates.append(create_s)
            starts.append(start_s)
    proxy = Explaining(conn)
    with contextlib.suppress(_Rollback):
        async with conn.transaction():
            await create_and_start(proxy, key, now)
            raise _Rollback
    return {
        "targets": sorted(sizes),
        "create_ms_median": ms(statistics.median(creates)),
        "start_ms_median": ms(statistics.median(starts)),
        **common.timings("total", [c + s for c, s in zip(creates, starts, strict=True)]),
        "plans": {name: read_plan(plan) for name, plan in proxy.plans.items()},
    }


# Part 2: the gateway ----------------------------------------------------------------------

NOOP_IDS = itertools.count()


async def noop_send(instance: str, number: str, text: str) -> str:
    """The no-op sender answers at once: the gateway's own cost, without HTTP."""
    return f"NOOP{next(NOOP_IDS):012d}"


class World:
    """Fresh chips, and doctors free to receive an opener of the running campaign, each with
    an active conversation under Julia (as campaigns._write leaves them)."""

    async def prepare(self, conn: asyncpg.Connection, now: datetime, reserved: int) -> None:
        self.conn, self.next = conn, reserved  # the first `reserved` doctors get deferrals
        self.campaign = await conn.fetchval("SELECT id FROM campaigns WHERE status = 'ativa'")
        self.chips = await conn.fetch(  # the last one is the paced chip
            "INSERT INTO chips (instance) SELECT 'bench-' || n FROM generate_series(0, $1) n "
            "RETURNING id, instance",
            SEND_CHIPS,
        )
        free = f"""FROM doctors d WHERE d.opted_out_at IS NULL
            AND coalesce(d.last_proactive_at < $1::timestamptz - interval '9 days', true)
            AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.doctor_id = d.id
                            AND c.status = 'ativa' AND c.control = 'humano')
            ORDER BY {u("d.id", 61)}"""
        await conn.execute(
            f"""INSERT INTO conversations (doctor_id, status, control, campaign_id)
                SELECT d.id, 'ativa', 'julia', $2 {free}
                ON CONFLICT (doctor_id) WHERE status = 'ativa' DO NOTHING""",
            now,
            self.campaign,
        )
        self.doctors = await conn.fetch(
            f"""SELECT d.id, d.phone, (SELECT id FROM conversations c WHERE c.doctor_id = d.id
                AND c.status = 'ativa') {free}""",
            now,
        )
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CHECKPOINT")

    async def sends(self, count: int, scenario: str) -> list[int]:
        """`count` campaign openers waiting in the ledger. A send goes to a doctor nobody has
        sent to (each doctor's caps allow one); deferrals reuse the reserved doctors. Doctor i
        goes through chip i % SEND_CHIPS, in step with the sending clock."""
        first = 0 if scenario.startswith("defer") else self.next
        self.next += 0 if scenario.startswith("defer") else count
        if first + count > len(self.doctors):
            raise RuntimeError("out of fresh doctors: use fewer --sends or more --doctors")
        paced = scenario in ("defer_paced", "primer")
        chips = [self.chips[-1 if paced else i % SEND_CHIPS] for i in range(first, first + count)]
        rows = await self.conn.fetch(
            """INSERT INTO outbound_sends (idempotency_key, kind, proactive, doctor_id, to_phone,
                   conversation_id, chip_id, instance, campaign_id, body, not_before)
               SELECT 'bench:' || gen_random_uuid(), 'campaign', true, d, p, c, chip, inst, $6,
                      'Oi, Dra.! Aqui é a Julia.', now()
               FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::text[])
                    AS x(d, p, c, chip, inst)
               RETURNING id""",
            *zip(*self.doctors[first : first + count], strict=True),
            *zip(*chips, strict=True),
            self.campaign,
        )
        return sorted(r["id"] for r in rows)


async def drive(gateway: Any, ids: list[int], workers: int) -> tuple[float, Counter[str]]:
    """`workers` tasks deliver the next send, as the worker's jobs do: (per second, outcomes)."""
    outcomes: Counter[str] = Counter()
    queue = iter(ids)

    async def worker() -> None:
        for send_id in queue:
            outcome = await gateway.deliver(send_id)
            outcomes[f"{outcome.status}:{outcome.reason or ''}"] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return len(ids) / (time.perf_counter() - t0), outcomes


async def bench_gateway(services: common.Services, dsn: str, args: Any, now: datetime) -> dict:
    from app.core.config import load_settings
    from app.core.resources import open_resources
    from app.domain.outbound.gateway import Gateway
    from app.domain.outbound.limiter import Limiter
    from app.domain.outbound.status import StatusReader
    from tests.support.fake_vendors import FakeVendors

    await services.flush_valkey()  # the limiter starts empty and reseeds from the ledger
    conn = await asyncpg.connect(dsn)
    world = World()
    await world.prepare(conn, now, args.sends)
    day = now.astimezone(SP).date() + timedelta(days=2)
    while day.weekday() >= 5:  # a weekday
        day += timedelta(days=1)
    levels = sorted({1, args.workers})
    samples: dict[tuple[str, int], list[Any]] = {}
    with FakeVendors() as fake:
        settings = load_settings(
            _env_file=None, ENVIRONMENT="test", DATABASE_URL=dsn, REDIS_URL=services.redis_url,
            JULIA_DATA_DIR=str(services.base / "data"), EVOLUTION_API_URL=fake.url,
            EVOLUTION_API_KEY=fake.evolution.api_key, MULTI_CHIP_ENABLED=False, PILOT_MODE=False,
            # High caps: the limiter admits, and runs the same checks as with the defaults.
            MAX_MSGS_POR_HORA=1000, MAX_MSGS_POR_DIA=100000,
        )  # fmt: skip
        async with open_resources(settings) as res:
            # The gateway reads its clock once per decision. The senders share one that moves
            # 1 s a reading from 08:00; the deferrals' stand at 22:00 and at noon.
            at = {h: datetime.combine(day, dtime(h), SP) for h in (8, 12, 22)}
            ticks = itertools.count()
            clocks = {"defer_hours": lambda: at[22], "defer_paced": lambda: at[12]}
            sending = lambda: at[8] + timedelta(seconds=next(ticks))  # noqa: E731
            noop = SimpleNamespace(send_text=noop_send)  # deliver() without typing: no presence
            gateways = {
                key: Gateway(
                    db=res.db, status=StatusReader(res.db), settings=res.settings,
                    sender=res.sender if key == "send_evolution" else noop,
                    limiter=Limiter(res.redis, res.db), clock=clocks.get(key, sending),
                    rng=random.Random(7),  # noqa: S311 - pacing jitter
                )
                for key in GATEWAY
            }  # fmt: skip
            # The paced chip's first message goes; every later one must wait.
            (primer,) = await world.sends(1, "primer")
            assert (await gateways["defer_paced"].deliver(primer)).sent
            # Round 0 warms up. Each round runs every scenario at every level, so noise from
            # neighbours and autovacuum falls on all of them alike.
            for run in range(args.rounds + 1):
                print(f"gateway: round {run}/{args.rounds} ...", file=sys.stderr)
                for key, gateway in gateways.items():
                    for workers in levels:
                        sample = await drive(gateway, await world.sends(args.sends, key), workers)
                        if run:
                            samples.setdefault((key, workers), []).append(sample)
    await asyncio.sleep(0.5)  # the pool's backends flush their statistics as they exit
    # Nothing before part 2 updated these tables' rows: the totals are part 2's.
    updates = await conn.fetch(
        """SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
           WHERE relname IN ('doctors', 'conversations', 'outbound_sends', 'chips')"""
    )
    await conn.close()
    result: dict[str, Any] = {"sends": args.sends, "rounds": args.rounds, "levels": levels}
    for (key, workers), runs in samples.items():
        result.setdefault(key, {})[workers] = {
            "per_s_median": round(statistics.median(r for r, _ in runs), 1),
            "per_s": [round(r, 1) for r, _ in runs],
            "outcomes": dict(sum((o for _, o in runs), Counter())),
        }
    result["row_updates"] = {r["relname"]: [r["n_tup_upd"], r["n_tup_hot_upd"]] for r in updates}
    return result


# Report -----------------------------------------------------------------------------------


def table(rows: list[list[Any]]) -> list[str]:
    """Rows of cells as aligned text: the first column to the left, the others to the right."""
    widths = [max(len(str(v)) for v in column) for column in zip(*rows, strict=True)]
    lines = []
    for row in rows:
        cells = [str(v).rjust(w) for v, w in zip(row, widths, strict=True)]
        lines.append("  ".join([str(row[0]).ljust(widths[0]), *cells[1:]]))
    return lines


def report(data: dict[str, Any]) -> str:
    m, s, c, g = data["machine"], dict(data["seed"]), data["campaigns"], data["gateway"]
    lines = [
        "Julia outreach benchmark",
        f"machine: {m['cpu_count']} CPUs, Python {m['python']}, {m['platform']}, "
        f"PostgreSQL {data['postgres']}; commit {m['git_sha']}",
        f"at {data['timestamp']}, total {data['total_s']} s, load average "
        f"{data['loadavg_start']} -> {data['loadavg_end']}",
        f"seeded in {s.pop('seconds')} s: " + ", ".join(f"{v} {k}" for k, v in s.items()),
        "doctors each eligibility clause excludes on its own: "
        + ", ".join(f"{k} {v}" for k, v in data["exclusions"].items()),
        "",
        f"1. campaigns.create + campaigns.start, median of {data['args']['runs']} fresh "
        "campaigns after 1 warm-up",
    ]
    rows: list[list[Any]] = [["campaign", "targets", "create ms", "start ms", "total ms", "range"]]
    for key, r in c.items():
        kind, specialty, regions, states, days = CAMPAIGNS[key]
        label = f"{kind}, {specialty}, {', '.join(regions + states) or 'nationwide'}"
        label += f", next {days} days" if days else ""
        times = [r[f"{k}_ms_median"] for k in ("create", "start", "total")]
        rows.append([label, ",".join(map(str, r["targets"])), *(f"{t:.1f}" for t in times)])
        rows[-1].append(f"{r['total_ms_min']:.0f}-{r['total_ms_max']:.0f}")
    lines += [*table(rows), "", "Plans, EXPLAIN (ANALYZE, BUFFERS) with the real arguments:"]
    for key, r in c.items():
        for name, p in r["plans"].items():
            seq = "doctors" in p["seq_scans"]
            lines.append(
                f"  {key:<10} {name:<8} {p['ms']:6.1f} ms  "
                f"{'SEQUENTIAL SCAN OF doctors' if seq else 'no sequential scan of doctors'}; "
                f"indexes: {', '.join(p['indexes']) or '-'}; "
                f"seq scans: {', '.join(p['seq_scans']) or '-'}"
            )
    lines += [
        "",
        f"2. Gateway.deliver decisions/s, {g['sends']} sends per run, median of {g['rounds']} "
        "rounds after 1 warm-up",
    ]
    rows = [["scenario", "workers", "decisions/s", "range", "outcomes"]]
    for key, (label, expected) in GATEWAY.items():
        for w in g["levels"]:
            r = g[key][w]
            ok = (
                "as expected" if set(r["outcomes"]) == {expected} else f"UNEXPECTED {r['outcomes']}"
            )
            spread = f"{min(r['per_s']):.0f}-{max(r['per_s']):.0f}"
            rows.append([label, w, f"{r['per_s_median']:.0f}", spread, ok])
    updates = (f"{t} {n} ({hot} HOT)" for t, (n, hot) in sorted(g["row_updates"].items()))
    lines += [*table(rows), "row updates in part 2 (HOT: no index touched): " + ", ".join(updates)]
    return "\n".join(lines)


async def run(args: argparse.Namespace, services: common.Services, data: dict[str, Any]) -> None:
    from app.core import db

    dsn = await services.create_database("bench_outreach")
    now = datetime.now(UTC)
    conn = await db.connect(dsn)
    try:
        data["postgres"] = await conn.fetchval("SHOW server_version")
        print(f"seeding {args.doctors} doctors, {args.shifts} shifts ...", file=sys.stderr)
        data["seed"] = await seed(conn, args.doctors, args.shifts, now)
        data["exclusions"] = await exclusions(conn, now)
        data["campaigns"] = {}
        for key in CAMPAIGNS:
            print(f"campaigns: {key} ...", file=sys.stderr)
            data["campaigns"][key] = await bench_campaign(conn, key, args.runs, now)
    finally:
        await conn.close()
    data["gateway"] = await bench_gateway(services, dsn, args, now)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--doctors", type=int, default=100_000, help="doctors seeded")
    parser.add_argument("--shifts", type=int, default=10_000, help="shifts seeded")
    parser.add_argument("--runs", type=int, default=7, help="timed campaigns of each kind")
    parser.add_argument("--sends", type=int, default=400, help="gateway decisions per run")
    parser.add_argument("--rounds", type=int, default=5, help="timed gateway rounds")
    parser.add_argument("--workers", type=int, default=10, help="concurrent gateway workers")
    args = parser.parse_args()

    data = common.begin(args=vars(args))
    with common.Services() as services:
        common.quiet_logs()
        asyncio.run(run(args, services, data))
    out = common.finish("outreach", data)
    c, g = data["campaigns"], data["gateway"]
    seq_scan = any("doctors" in p["seq_scans"] for r in c.values() for p in r["plans"].values())
    print(report(data))
    print(f"\nresults: {out.relative_to(ROOT)}")
    headline = {
        "benchmark": "outreach", "machine": data["machine"], "postgres": data["postgres"],
        "doctors": args.doctors, "shifts": args.shifts, "doctors_seq_scan": seq_scan,
        "campaign_ms_median": {k: r["total_ms_median"] for k, r in c.items()},
        "decisions_per_s": {k: {w: g[k][w]["per_s_median"] for w in g["levels"]} for k in GATEWAY},
    }  # fmt: skip
    print(json.dumps(headline, ensure_ascii=False))
    return 1 if seq_scan else 0


if __name__ == "__main__":
    raise SystemExit(main())
