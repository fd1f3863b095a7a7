"""Turn latency: the queue's wake-up cost, turn overhead, and replies under load.

    .venv/bin/python benchmarks/turns.py --poll       # Redis cost of ARQ's poll, idle
    .venv/bin/python benchmarks/turns.py --overhead   # webhook -> sendText, no delays
    .venv/bin/python benchmarks/turns.py --load       # 200 doctors, real delays

Julia runs as in production: the API under uvicorn and ONE worker process
(`python -m app.workers.fila_worker`); Anthropic and Evolution are the local fake
(tests/support/fake_vendors.py) in this process. Times are taken when the fake Evolution
receives the sendText, against the moment the webhook returned 200 to the sender.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.common import ms, percentile  # noqa: E402
from benchmarks.conversation import Services, start_api  # noqa: E402

TWO_PARTS = (
    "oi doutor, aqui é a Julia! tenho plantões essa semana sim\n\n"
    "me conta sua especialidade que eu já te mando as opções certinhas"
)


def distribution(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": ms(percentile(values, 50)),
        "p90_ms": ms(percentile(values, 90)),
        "p99_ms": ms(percentile(values, 99)),
        "max_ms": ms(max(values)),
    }


# --------------------------------------------------------------------------------------------
# 1. The poll: what ARQ's poll_delay costs Redis while nothing happens
# --------------------------------------------------------------------------------------------


async def _noop(ctx: dict[str, Any]) -> None:
    return None


async def bench_poll(services: Services, delays: list[float], seconds: float) -> list[Any]:
    import redis.asyncio as aioredis
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    client = aioredis.from_url(services.redis_url)
    results = []
    for delay in delays:
        worker = Worker(
            functions=[func(_noop, name="noop")],
            redis_settings=RedisSettings.from_dsn(services.redis_url),
            poll_delay=delay,
            handle_signals=False,
        )
        task = asyncio.create_task(worker.async_run())
        await asyncio.sleep(1.0)  # connected and polling
        await client.config_resetstat()
        cpu_before = await client.info("cpu")
        await asyncio.sleep(seconds)
        stats = await client.info("commandstats")
        cpu_after = await client.info("cpu")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()
        calls = sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")
        cpu = sum(
            float(cpu_after[k]) - float(cpu_before[k]) for k in ("used_cpu_sys", "used_cpu_user")
        )
        row = {
            "poll_delay_s": delay,
            "commands_per_s": round(calls / seconds, 1),
            "redis_cpu_percent": round(100 * cpu / seconds, 2),
            "by_command": {
                k.removeprefix("cmdstat_"): int(v["calls"])
                for k, v in stats.items()
                if k != "cmdstat_info"
            },
        }
        print(row, file=sys.stderr)
        results.append(row)
    await client.aclose()
    return results


# --------------------------------------------------------------------------------------------
# Julia under uvicorn plus one worker process, the fake vendors in this process
# --------------------------------------------------------------------------------------------


class Julia:
    def __init__(self, services: Services, fake: Any, **settings: str) -> None:
        self.services = services
        self.fake = fake
        self.settings = settings
        self.client: httpx.AsyncClient | None = None
        self.pids: dict[str, int | None] = {}

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each process of the run; `bench` is this process (the
        client and the fake vendors)."""
        from benchmarks.conversation import tree_cpu

        used = {name: tree_cpu(pid) for name, pid in self.pids.items()}
        used["bench"] = time.process_time()
        return used

    async def start(self, database: str) -> None:
        from tests.support.julia import vendor_settings

        url = await self.services.create_database(database)
        await self.services.flush_valkey()
        env_settings = {k: str(v) for k, v in vendor_settings(self.fake.url).items()}
        env_settings.update(self.settings)
        env = self.services.env(url, **env_settings)
        args = [sys.executable, "-m", "app.workers.fila_worker"]
        worker = self.services.spawn("worker", args, env)
        api, base = start_api(self.services, f"api-{database}", env)
        self.pids = {
            "worker": worker.popen.pid,
            "api": api.popen.pid,
            "postgres": self.services.pg_pid(),
            "valkey": self.services.valkey_pid(),
        }
        worker.wait_for_line("Worker started")
        limits = httpx.Limits(max_connections=64)
        self.client = httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits)

    async def say(self, phone: str, text: str) -> float:
        """Post a doctor's message; the moment the webhook answered 200."""
        from tests.support.julia import WEBHOOK_SECRET, text_message

        assert self.client is not None
        response = await self.client.post(
            "/webhook/evolution",
            json=text_message(phone, text),
            headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")
        return time.time()

    def first_send(self, phone: str, after: float = 0.0) -> float | None:
        times = [s.at for s in self.fake.evolution.sends if s.number == phone and s.at > after]
        return min(times) if times else None

    async def until(self, predicate: Any, within: float) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {within}s")
            await asyncio.sleep(0.002)

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        for child in list(self.services.children):
            self.services.stop_child(child)


# --------------------------------------------------------------------------------------------
# 2. Turn overhead: an instant model, no deliberate delays, no debounce
# --------------------------------------------------------------------------------------------


async def bench_overhead(services: Services, fake: Any, turns: int, burst: int) -> dict[str, Any]:
    from tests.support.fake_vendors import text_reply

    fake.reset()
    fake.anthropic.default = lambda body: text_reply("oi! tenho plantão sim, qual sua área?")
    julia = Julia(services, fake, INBOUND_DEBOUNCE_SECONDS="0", HUMAN_DELAY_SCALE="0")
    await julia.start("bench_overhead")
    try:
        for n in range(5):  # warm-up: connections, prepared statements, prompt cache
            phone = f"5511987{990000 + n:06d}"
            await julia.say(phone, "oi")
            await julia.until(lambda p=phone: julia.first_send(p) is not None, 30)
        latencies = []
        for n in range(turns):
            phone = f"5511987{100000 + n:06d}"
            acked = await julia.say(phone, "oi, vi que vcs têm plantão, como funciona?")
            await julia.until(lambda p=phone: julia.first_send(p) is not None, 30)
            sent = julia.first_send(phone)
            assert sent is not None
            latencies.append(sent - acked)

        # Throughput: `burst` doctors at once (32 webhook posts in flight), first post to
        # last reply.
        phones = [f"5511987{200000 + n:06d}" for n in range(burst)]
        gate = asyncio.Semaphore(32)

        async def one(phone: str) -> None:
            async with gate:
                await julia.say(phone, "oi, tem plantão?")

        cpu_before = julia.cpu()
        started = time.time()
        await asyncio.gather(*(one(p) for p in phones))
        await julia.until(lambda: all(julia.first_send(p) for p in phones), 120)
        last = max(julia.first_send(p) or 0.0 for p in phones)
        cpu_after = julia.cpu()
        # CPU per turn of each process over the burst: what the worker process needs of a
        # core per turn says how many turns/s one worker process serves when it has a core,
        # whatever else shares the machine.
        cpu_ms = {
            name: round(1000 * (cpu_after[name] - cpu_before[name]) / burst, 2)
            for name in cpu_before
        }
        return {
            "cpu_ms_per_turn": cpu_ms,
            "worker_turns_per_cpu_s": round(1000 / cpu_ms["worker"], 1)
            if cpu_ms["worker"]
            else None,
            "sequential": distribution(latencies),
            "burst_turns": burst,
            "burst_seconds": round(last - started, 2),
            "turns_per_s": round(burst / (last - started), 1),
        }
    finally:
        await julia.stop()


# --------------------------------------------------------------------------------------------
# 3. Reply under load: 200 doctors within 10 s, real delays, a 1 s model
# --------------------------------------------------------------------------------------------


async def bench_load(services: Services, fake: Any, doctors: int, window: float) -> dict[str, Any]:
    from tests.support.fake_vendors import text_reply

    fake.reset()
    fake.anthropic.latency = 1.0
    fake.anthropic.default = lambda body: text_reply(TWO_PARTS)
    assert fake.evolution.presence_blocks
    julia = Julia(services, fake, HUMAN_DELAY_SCALE="1", INBOUND_DEBOUNCE_SECONDS="4")
    await julia.start("bench_load")
    rng = random.Random(11)  # noqa: S311 - arrival times
    phones = [f"5511987{300000 + n:06d}" for n in range(doctors)]
    last_message: dict[str, float] = {}
    try:

        async def doctor(phone: str) -> None:
            await asyncio.sleep(rng.uniform(0, window))
            last_message[phone] = await julia.say(phone, "oi, tem plantão essa semana?")

        await asyncio.gather(*(doctor(p) for p in phones))
        await julia.until(lambda: all(julia.first_send(p) for p in phones), 180)
        await julia.until(
            lambda: len(fake.evolution.sends) >= 2 * doctors, 60
        )  # every second part too
        firsts = [(julia.first_send(p) or 0.0) - last_message[p] for p in phones]
        presences = list(fake.evolution.presences)
        return {
            "doctors": doctors,
            "window_s": window,
            "first_reply": distribution(firsts),
            "within_30s": sum(f <= 30 for f in firsts),
            "messages_sent": len(fake.evolution.sends),
            "presences": len(presences),
        }
    finally:
        await julia.stop()


def report(data: dict[str, Any]) -> str:
    lines = []
    for row in data.get("poll", []):
        lines.append(
            f"poll_delay {row['poll_delay_s']:>5}s: {row['commands_per_s']:>7} commands/s, "
            f"Redis CPU {row['redis_cpu_percent']}%"
        )
    if "overhead" in data:
        o = data["overhead"]
        s = o["sequential"]
        lines.append(
            f"turn overhead (webhook 200 -> sendText, {s['n']} turns): p50 {s['p50_ms']} ms, "
            f"p90 {s['p90_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms"
        )
        lines.append(
            f"throughput: {o['burst_turns']} turns in {o['burst_seconds']} s = "
            f"{o['turns_per_s']} turns/s"
        )
        per = ", ".join(f"{k} {v} ms" for k, v in o["cpu_ms_per_turn"].items())
        lines.append(
            f"CPU per turn in the burst: {per}; one worker process serves "
            f"{o['worker_turns_per_cpu_s']} turns per second of its CPU"
        )
    if "load" in data:
        lo = data["load"]
        f = lo["first_reply"]
        lines.append(
            f"reply under load ({lo['doctors']} doctors in {lo['window_s']} s): first reply "
            f"p50 {f['p50_ms'] / 1000:.1f} s, p90 {f['p90_ms'] / 1000:.1f} s, "
            f"p99 {f['p99_ms'] / 1000:.1f} s, max {f['max_ms'] / 1000:.1f} s; "
            f"{lo['within_30s']}/{lo['doctors']} within 30 s; "
            f"{lo['messages_sent']} messages, {lo['presences']} presences"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace, services: Services, data: dict[str, Any]) -> None:
    from tests.support.fake_vendors import FakeVendors

    if args.poll:
        data["poll"] = await bench_poll(services, [0.5, 0.2, 0.05, 0.02, 0.01], args.idle)
    if args.overhead or args.load:
        with FakeVendors() as fake:
            if args.overhead:
                data["overhead"] = await bench_overhead(services, fake, args.turns, args.burst)
            if args.load:
                data["load"] = await bench_load(services, fake, args.doctors, args.window)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--poll", action="store_true", help="Redis cost of the poll")
    parser.add_argument("--overhead", action="store_true", help="turn overhead, no delays")
    parser.add_argument("--load", action="store_true", help="replies under load")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds idle per poll delay")
    parser.add_argument("--turns", type=int, default=200, help="sequential turns measured")
    parser.add_argument("--burst", type=int, default=500, help="turns at once (throughput)")
    parser.add_argument("--doctors", type=int, default=200, help="doctors under load")
    parser.add_argument("--window", type=float, default=10.0, help="seconds they write within")
    args = parser.parse_args()
    if not (args.poll or args.overhead or args.load):
        args.poll = args.overhead = args.load = True
    data = common.begin(args=vars(args))
    with Services() as services:
        common.quiet_logs()
        asyncio.run(run(args, services, data))
    out = common.finish("turns", data)
    print(report(data))
    print(f"\nresults: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
