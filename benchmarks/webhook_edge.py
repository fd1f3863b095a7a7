"""Webhook edge benchmark: Julia's `POST /webhook/evolution` against a bare endpoint and a
naive store, driven by wrk at wire speed.

Run from the repository root: `.venv/bin/python benchmarks/webhook_edge.py` (`--quick` for a
short run; `make bench` runs it too). Starts its own embedded Postgres and Valkey in a
temporary directory and three servers on loopback, each `uvicorn <app> --host 127.0.0.1
--port <p>` exactly as the API is started:

- bare:  a FastAPI endpoint that parses the JSON body and answers 200;
- naive: a FastAPI endpoint that does one `INSERT ... ON CONFLICT DO NOTHING` of the raw body
         and one `RPUSH` to Valkey, on the same Postgres and Valkey Julia uses;
- julia: `uvicorn app.main:app` (RUN_MODE=api), EVOLUTION_WEBHOOK_SECRET set, Bearer header.

wrk (Debian's `wrk`) sends the same Evolution `messages.upsert` bodies to all three, with 32
connections, in alternating rounds: first from 5,000 distinct doctors, then all from one
doctor. Afterwards every acknowledged delivery must be found in the store. Prints a report with
PASS/FAIL against the targets of issue 11 and writes the numbers as JSON under
benchmarks/results/ (gitignored). Exits 1 when the run itself is not a result (a delivery
acknowledged but not stored, or wrk failing); a missed target is reported, not an exit code.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

LUA_SCRIPT = ROOT / "benchmarks" / "webhook_edge.lua"
WRK_INSTALL = "sudo apt-get install -y wrk"
CONNECTIONS = 32
DOCTORS = 5000
NAIVE_TABLE = "naive_webhooks"
NAIVE_LIST = "naive:inbox"
SECRET = "whsec-bench-0123456789-abcdefghijklmn"  # noqa: S105 (loopback benchmark only)
# The chip the deliveries come from; the envelope's `instance` must be one Julia knows.
INSTANCE = "Revoluna"
# Made up, in the shape of an Evolution instance apikey.
INSTANCE_TOKEN = "B6D711FCDE4D4FD5936544120E713976"  # noqa: S105

# Targets from issue 11 ("What it must show").
TARGET_VS_BARE = 0.30
TARGET_VS_NAIVE = 0.65
TARGET_P99_MS = {"many": 30.0, "one": 50.0}
# wrk is not the bottleneck while, against the fastest server, it keeps its threads this
# idle (the rest of its time it waits for answers).
WRK_CPU_LIMIT = 0.5

# What Julia's store holds, one row per accepted delivery (docs/architecture.md: every
# webhook is stored in `webhook_events`).
JULIA_STORED_SQL = "SELECT count(*) FROM webhook_events WHERE source = 'evolution'"


# --------------------------------------------------------------------------------------------
# The bodies
# --------------------------------------------------------------------------------------------


def body_template() -> str:
    """One `messages.upsert` delivery of a text typed by a doctor on their phone, with
    @@JID@@ (the doctor's number), @@ID@@ (message id), @@TS@@ and @@N@@ left for the Lua
    script to fill in.

    Shape from Evolution API 2.3.6:
    - the envelope: src/api/integrations/event/webhook/webhook.controller.ts, `webhookData`
      (event, instance, data, destination, date_time, sender, server_url, apikey); `apikey`
      is the instance token when AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES is on, which
      Evolution's example env sets (src/api/services/channel.service.ts, sendDataWebhook);
    - `data`: src/api/integrations/channel/whatsapp/whatsapp.baileys.service.ts,
      prepareMessage (4486-4538): key as Baileys gives it, pushName, status (3 =
      DELIVERY_ACK, src/utils/renderStatus.ts), message, messageType, messageTimestamp,
      instanceId, source. `contextInfo` is `contentMsg?.contextInfo`, undefined for a plain
      `conversation` string, so JSON.stringify leaves it out. A text sent with
      extendedTextMessage is rewritten to `conversation` there too.
    - `source` is Baileys' getDevice(key.id) (src/Utils/messages.ts): 32 characters read
      as "android", which is what the Lua script generates.
    """
    data = {
        "key": {"remoteJid": "@@JID@@@s.whatsapp.net", "fromMe": False, "id": "@@ID@@"},
        "pushName": "Dra. Ana",
        "status": "DELIVERY_ACK",
        "message": {
            "conversation": "oi, vi a mensagem de vcs. tem plantão essa semana? (@@N@@)",
            "messageContextInfo": {
                "deviceListMetadata": {"senderKeyHash": "", "senderTimestamp": "1773000000"},
                "deviceListMetadataVersion": 2,
                "messageSecret": "",
            },
        },
        "messageType": "conversation",
        "messageTimestamp": "@@TS@@",
        "instanceId": "b3f1c2d4-0000-4000-8000-000000000001",
        "source": "android",
    }
    envelope = {
        "event": "messages.upsert",
        "instance": INSTANCE,
        "data": data,
        "destination": "https://julia.example.com/webhook/evolution",
        "date_time": "2026-03-09T00:35:45.123Z",
        "sender": "5511900000000@s.whatsapp.net",
        "server_url": "https://evolution.example.com",
        "apikey": INSTANCE_TOKEN,
    }
    text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    # messageTimestamp is a number on the wire (Long.toNumber()).
    return text.replace('"@@TS@@"', "@@TS@@")


def fill(template: str, *, jid: str, msg_id: str, ts: int, n: int) -> bytes:
    """The body the Lua script sends for these values (the smoke test checks it parses)."""
    text = template.replace("@@JID@@", jid).replace("@@ID@@", msg_id)
    return text.replace("@@TS@@", str(ts)).replace("@@N@@", str(n)).encode()


# --------------------------------------------------------------------------------------------
# The reference servers (uvicorn factories: `webhook_edge:bare_app`, `webhook_edge:naive_app`)
# --------------------------------------------------------------------------------------------


def bare_app() -> FastAPI:
    """Parses the JSON body and answers 200: what uvicorn + FastAPI cost on their own."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhook/evolution")
    async def webhook(request: Request) -> JSONResponse:
        payload = await request.json()
        return JSONResponse({"status": "stored", "messages": 1 if payload else 0})

    return app


NAIVE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {NAIVE_TABLE} (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_id text NOT NULL UNIQUE,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""


def naive_app() -> FastAPI:
    """The least a storing edge can do: check the Bearer secret, one INSERT of the raw body
    deduplicated on the message id, one RPUSH, answer. Reads NAIVE_DATABASE_URL, REDIS_URL
    and NAIVE_SECRET from the environment."""
    import asyncpg
    import redis.asyncio as aioredis

    state: dict[str, Any] = {}
    expected = f"Bearer {os.environ['NAIVE_SECRET']}".encode()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The pool Julia opens (app.core.db.create_pool): 1 to 10 connections.
        state["pool"] = await asyncpg.create_pool(
            os.environ["NAIVE_DATABASE_URL"], min_size=1, max_size=10
        )
        state["redis"] = aioredis.from_url(os.environ["REDIS_URL"])
        try:
            yield
        finally:
            await state["redis"].aclose()
            await state["pool"].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhook/evolution")
    async def webhook(request: Request) -> JSONResponse:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"detail": "invalid credentials"}, status_code=401)
        raw = await request.body()
        try:
            provider_id = str(json.loads(raw)["data"]["key"]["id"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"detail": "not a message"}, status_code=400)
        await state["pool"].execute(
            f"INSERT INTO {NAIVE_TABLE} (provider_id, payload) VALUES ($1, $2::jsonb)"
            " ON CONFLICT (provider_id) DO NOTHING",
            provider_id,
            raw.decode(),
        )
        await state["redis"].rpush(NAIVE_LIST, provider_id)
        return JSONResponse({"status": "stored"})

    return app


# --------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get when missing and running as root, otherwise
    the exact command is printed and the benchmark stops."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: apt-get install -y wrk ...", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        if subprocess.run(install, env=env, stdout=sys.stderr).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, stdout=sys.stderr, check=True)
            subprocess.run(install, env=env, stdout=sys.stderr, check=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit(f"wrk is required and was not found. Install it with:\n    {WRK_INSTALL}")


class Wrk:
    """Runs wrk with webhook_edge.lua; each run gets a fresh tag so no message id repeats."""

    def __init__(self, binary: str, workdir: Path, threads: int) -> None:
        self.binary = binary
        self.workdir = workdir
        self.threads = threads
        self.template = workdir / "body.json"
        self.template.write_text(body_template(), encoding="utf-8")
        self._runs = 0
        self._tag_base = secrets.randbits(16)

    def run(
        self, url: str, *, seconds: float, doctors: int, max_per_thread: int = 0
    ) -> dict[str, Any]:
        """One wrk run; its Lua summary plus wrk's own CPU time (user + system)."""
        self._runs += 1
        tag = f"{self._tag_base:04X}{self._runs:04X}"
        out = self.workdir / f"wrk-{tag}.json"
        # The Lua script ends the run itself once every request sent was answered; wrk's own
        # -d is only a safety net (a connection dropped with a request in flight).
        args = [
            self.binary,
            f"-t{self.threads}",
            f"-c{CONNECTIONS}",
            f"-d{round(seconds) + 60}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA_SCRIPT),
            url,
            "--",
            str(self.template),
            tag,
            str(doctors),
            str(max_per_thread),
            str(out),
            SECRET,
            str(self.threads),
            str(seconds),
        ]
        log = (self.workdir / f"wrk-{tag}.log").open("wb")
        try:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
            markers = [Path(f"{out}.thread{t}") for t in range(self.threads)]
            interrupted = False
            while True:
                # wait4, not wait: its rusage is wrk's own CPU time.
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if not interrupted and all(m.exists() for m in markers):
                    proc.send_signal(signal.SIGINT)  # wrk reports and exits on SIGINT
                    interrupted = True
                time.sleep(0.02)
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            log.close()
        if proc.returncode != 0 or not out.exists():
            text = (self.workdir / f"wrk-{tag}.log").read_text(errors="replace")
            raise RuntimeError(f"wrk failed ({proc.returncode}) against {url}:\n{text}")
        result: dict[str, Any] = json.loads(out.read_text())
        result["wrk_cpu_s"] = usage.ru_utime + usage.ru_stime
        return result


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def start_naive(services: Any, database_url: str, redis_url: str) -> tuple[Any, str]:
    from benchmarks.conversation import serve
    from tests.support.processes import base_env

    env = base_env(NAIVE_DATABASE_URL=database_url, REDIS_URL=redis_url, NAIVE_SECRET=SECRET)
    return serve(services, "naive", "webhook_edge:naive_app", env, factory=True)


def start_bare(services: Any) -> tuple[Any, str]:
    from benchmarks.conversation import serve
    from tests.support.processes import base_env

    return serve(services, "bare", "webhook_edge:bare_app", base_env(), factory=True)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds (req/s, p50, p99, CPU shares) and sums (requests, non-2xx)."""

    def med(key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 2)

    return {
        "rounds": len(runs),
        "rps": med("rps"),
        "rps_min": round(min(r["rps"] for r in runs), 1),
        "rps_max": round(max(r["rps"] for r in runs), 1),
        "p50_ms": med("p50_ms"),
        "p99_ms": med("p99_ms"),
        "p99_ms_max": round(max(r["p99_ms"] for r in runs), 2),
        "requests": sum(r["requests"] for r in runs),
        "ok_2xx": sum(r["ok_2xx"] for r in runs),
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "socket_errors": sum(r["socket_errors"] for r in runs),
        "wrk_cpu_pct": med("wrk_cpu_pct"),
        "server_cpu_pct": med("server_cpu_pct"),
        "postgres_cpu_pct": med("postgres_cpu_pct"),
        "valkey_cpu_pct": med("valkey_cpu_pct"),
    }


async def count(dsn: str, sql: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def bench(args: argparse.Namespace, services: Any, data: dict[str, Any]) -> bool:
    """Every measurement; returns False when the run is not a result (data lost)."""
    from benchmarks.conversation import start_api, tree_cpu

    wrk = Wrk(ensure_wrk(), services.base, args.threads)
    julia_db = await services.create_database("bench_julia")
    naive_db = await services.create_database("bench_naive")
    import asyncpg

    conn = await asyncpg.connect(naive_db)
    try:
        await conn.execute(NAIVE_SCHEMA)
    finally:
        await conn.close()

    print("starting bare, naive and julia ...", file=sys.stderr)
    env = services.env(julia_db, RUN_MODE="api", EVOLUTION_WEBHOOK_SECRET=SECRET)
    julia, julia_base = start_api(services, "julia", env)
    naive, naive_base = start_naive(services, naive_db, services.redis_url)
    bare, bare_base = start_bare(services)
    targets = {
        "bare": (bare, f"{bare_base}/webhook/evolution"),
        "naive": (naive, f"{naive_base}/webhook/evolution"),
        "julia": (julia, f"{julia_base}/webhook/evolution"),
    }
    side = {"postgres": services.pg_pid(), "valkey": services.valkey_pid()}
    acked = {name: 0 for name in targets}
    sent_bound = {name: 0 for name in targets}
    unanswered = {name: 0 for name in targets}

    def account(name: str, run: dict[str, Any]) -> None:
        acked[name] += run["ok_2xx"]
        # A run ends with nothing in flight, so the store must hold exactly the 2xx answers;
        # only a non-2xx or a request never answered (a dropped connection) may add a row.
        missing = run["sent"] - run["answered"]
        unanswered[name] += missing
        sent_bound[name] += run["ok_2xx"] + run["non_2xx"] + missing

    # Warm-up: connections, code paths, and for Julia one first message from every doctor,
    # so the measured rounds meet existing doctors and conversations (the steady state).
    for name, (_child, url) in targets.items():
        print(f"warm-up {name} ...", file=sys.stderr)
        per_thread = -(-DOCTORS // args.threads)
        run = wrk.run(url, seconds=120, doctors=DOCTORS, max_per_thread=per_thread)
        account(name, run)
        if run["ok_2xx"] < DOCTORS:
            raise RuntimeError(f"warm-up of {name}: {run['ok_2xx']} < {DOCTORS} answers")

    scenarios = {"many": DOCTORS, "one": 1}
    order = list(targets)
    results: dict[str, Any] = {}
    for scenario, doctors in scenarios.items():
        per_target: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        for r in range(args.rounds):
            # Alternate, and rotate who goes first, so drift and neighbours hit all alike.
            rotated = order[r % len(order) :] + order[: r % len(order)]
            for name in rotated:
                child, url = targets[name]
                cpu0 = tree_cpu(child.pid)
                side0 = {k: tree_cpu(pid) for k, pid in side.items()}
                t0 = time.perf_counter()
                run = wrk.run(url, seconds=args.seconds, doctors=doctors)
                wall = time.perf_counter() - t0
                account(name, run)
                lat = run["latency_us"]
                errors = run["errors"]
                per_target[name].append(
                    {
                        "rps": round(run["ok_in_window"] / run["window_s"], 1),
                        "p50_ms": lat["p50"] / 1000,
                        "p90_ms": lat["p90"] / 1000,
                        "p99_ms": lat["p99"] / 1000,
                        "max_ms": lat["max"] / 1000,
                        "requests": run["sent"],
                        "unanswered": run["sent"] - run["answered"],
                        "ok_2xx": run["ok_2xx"],
                        "non_2xx": run["non_2xx"],
                        "codes": run["codes"],
                        "socket_errors": errors["connect"]
                        + errors["read"]
                        + errors["write"]
                        + errors["timeout"],
                        "wrk_cpu_pct": round(100 * run["wrk_cpu_s"] / wall, 1),
                        "server_cpu_pct": round(100 * (tree_cpu(child.pid) - cpu0) / wall, 1),
                        "postgres_cpu_pct": round(
                            100 * (tree_cpu(side["postgres"]) - side0["postgres"]) / wall, 1
                        ),
                        "valkey_cpu_pct": round(
                            100 * (tree_cpu(side["valkey"]) - side0["valkey"]) / wall, 1
                        ),
                    }
                )
                last = per_target[name][-1]
                print(
                    f"  {scenario} round {r + 1}/{args.rounds} {name:<5} {last['rps']:>8.1f} "
                    f"req/s  p99 {last['p99_ms']:.1f} ms  non-2xx {last['non_2xx']}",
                    file=sys.stderr,
                )
        results[scenario] = {
            "doctors": doctors,
            "runs": per_target,
            **{name: summarise(runs) for name, runs in per_target.items()},
        }
    stored = {
        "julia": await count(julia_db, JULIA_STORED_SQL),
        "naive": await count(naive_db, f"SELECT count(*) FROM {NAIVE_TABLE}"),
    }
    integrity = {
        name: {
            "acked": acked[name],
            "stored": stored[name],
            "at_most": sent_bound[name],
            "unanswered": unanswered[name],
            "ok": acked[name] <= stored[name] <= sent_bound[name],
        }
        for name in stored
    }
    data.update(results=results, integrity=integrity, threads=args.threads)
    return all(entry["ok"] for entry in integrity.values())


def verdicts(data: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(what, measured, passed) for each target of issue 11."""
    out: list[tuple[str, str, bool]] = []
    for scenario, label in (("many", "5,000 doctors"), ("one", "one doctor")):
        res = data["results"][scenario]
        j, b, n = res["julia"], res["bare"], res["naive"]
        if scenario == "many":
            vs_bare = j["rps"] / b["rps"]
            vs_naive = j["rps"] / n["rps"]
            out.append(
                (
                    f"{label}: Julia >= {TARGET_VS_BARE:.2f}x bare",
                    f"{vs_bare:.3f}x",
                    vs_bare >= TARGET_VS_BARE,
                )
            )
            out.append(
                (
                    f"{label}: Julia >= {TARGET_VS_NAIVE:.2f}x naive",
                    f"{vs_naive:.3f}x",
                    vs_naive >= TARGET_VS_NAIVE,
                )
            )
        limit = TARGET_P99_MS[scenario]
        out.append(
            (f"{label}: Julia p99 < {limit:.0f} ms", f"{j['p99_ms']:.1f} ms", j["p99_ms"] < limit)
        )
        out.append((f"{label}: Julia non-2xx = 0", str(j["non_2xx"]), j["non_2xx"] == 0))
    bare = data["results"]["many"]["bare"]
    capacity = 100 * data["threads"]
    out.append(
        (
            f"load generator: wrk CPU vs bare < {WRK_CPU_LIMIT:.0%} of its threads",
            f"{bare['wrk_cpu_pct']:.0f}% of {capacity}%",
            bare["wrk_cpu_pct"] < WRK_CPU_LIMIT * capacity,
        )
    )
    for name, entry in data["integrity"].items():
        out.append(
            (
                f"{name}: every acked delivery stored",
                f"{entry['stored']} stored / {entry['acked']} acked",
                entry["ok"],
            )
        )
    return out


def report(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        "Webhook edge benchmark (wrk, loopback)",
        f"{data['timestamp']}  nproc {m['cpu_count']}  Python {m['python']}  "
        f"commit {m['git_sha']}  load {data['loadavg_start']}",
        f"wrk -t{data['threads']} -c{CONNECTIONS}, {data['seconds']} s per run, "
        f"{data['rounds']} alternating rounds per target, medians",
        "",
    ]
    for scenario, label in (("many", f"{DOCTORS:,} doctors"), ("one", "one doctor")):
        res = data["results"][scenario]
        lines.append(f"{label}")
        lines.append(
            f"  {'endpoint':<6} {'req/s':>9} {'(min-max)':>15} {'p50 ms':>8} {'p99 ms':>8}"
            f" {'non-2xx':>8} {'wrk CPU':>8} {'server':>7} {'pg':>5} {'valkey':>6}"
        )
        for name in ("bare", "naive", "julia"):
            s = res[name]
            spread = f"({s['rps_min']:.0f}-{s['rps_max']:.0f})"
            lines.append(
                f"  {name:<6} {s['rps']:>9.1f} {spread:>15} {s['p50_ms']:>8.2f}"
                f" {s['p99_ms']:>8.2f} {s['non_2xx']:>8} {s['wrk_cpu_pct']:>7.0f}%"
                f" {s['server_cpu_pct']:>6.0f}% {s['postgres_cpu_pct']:>4.0f}%"
                f" {s['valkey_cpu_pct']:>5.0f}%"
            )
        j, b, n = res["julia"], res["bare"], res["naive"]
        lines.append(
            f"  Julia/bare {j['rps'] / b['rps']:.3f}x   Julia/naive {j['rps'] / n['rps']:.3f}x"
            f"   bare/Julia {b['rps'] / j['rps']:.1f}x"
        )
        lines.append("")
    b = data["results"]["many"]["bare"]
    lines.append(
        f"load generator: against bare, wrk used {b['wrk_cpu_pct']:.0f}% CPU "
        f"({data['threads']} thread(s), {100 * data['threads']}% max) while the server "
        f"used {b['server_cpu_pct']:.0f}%"
    )
    lines.append("")
    for what, measured, passed in verdicts(data):
        lines.append(f"  {'PASS' if passed else 'FAIL'}  {what:<45} {measured}")
    return "\n".join(lines)


def main() -> int:
    from benchmarks import common
    from benchmarks.conversation import Services

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s (about 1 min)")
    parser.add_argument("--rounds", type=int, help="alternating rounds per target (5)")
    parser.add_argument("--seconds", type=float, help="seconds per wrk run (5)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.seconds = args.seconds or (2.0 if args.quick else 5.0)
    if not LUA_SCRIPT.exists():
        raise SystemExit(f"missing {LUA_SCRIPT}")
    ensure_wrk()

    common.quiet_logs()
    data = common.begin(
        benchmark="webhook_edge",
        rounds=args.rounds,
        seconds=args.seconds,
        connections=CONNECTIONS,
        doctors=DOCTORS,
    )
    with Services() as services:
        valid = asyncio.run(bench(args, services, data))
    out = common.finish("webhook-edge", data)
    print(report(data))
    print(f"\nwritten to {out.relative_to(ROOT)}")
    if not valid:
        print("INVALID RUN: acknowledged deliveries are missing from the store", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
