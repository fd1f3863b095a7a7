"""Conversation benchmark: webhook ack, pipeline overhead per turn, prompt caching.

Run from the repository root: `make bench` (or `.venv/bin/python benchmarks/conversation.py`;
`--quick` for a short run). Starts its own embedded Postgres and Valkey in a temporary
directory, the real API (uvicorn) and the real ARQ worker as child processes, and the local
fake of Anthropic/Evolution/Slack (tests/support/fake_vendors.py) in a thread of this
process. Prints a plain-text report and writes the same numbers as JSON under
benchmarks/results/ (gitignored). Timings are reported, never asserted. See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.common import ms, percentile  # noqa: E402
from tests.support.processes import base_env, free_port  # noqa: E402

BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0
TURN_TIMEOUT = 30.0
ACK_PHONES = 100
GAP_S = 600.0  # replayed conversation: a doctor answering every 10 minutes
REPLAY_LABELS = {
    "gaps_cold": "10-min gaps, no other traffic",
    "gaps_warm_static": "10-min gaps, tools+system kept warm by others",
}
PIPELINE_TEXT = "oi, vi que vcs têm plantão, como funciona?"

# A neutral 20-turn conversation: no opt-out, handoff or "hard turn" words, so each turn is
# one plain model call. Replies are short single paragraphs (one WhatsApp message each).
CONVERSATION = [
    (
        "Oi, boa tarde! Vi que vocês têm plantões disponíveis, como funciona?",
        "Oi, tudo bem? Aqui é a Julia da Revoluna! A gente conecta médicos a plantões em "
        "hospitais parceiros. Qual a sua especialidade?",
    ),
    (
        "Sou clínico geral, formado há 6 anos",
        "Que bom! Clínico geral tem bastante procura. Em qual cidade vc atende?",
    ),
    (
        "Moro em Campinas, mas posso ir pra São Paulo também",
        "Perfeito, temos hospitais nas duas. Vc prefere plantão diurno ou noturno?",
    ),
    ("Prefiro noturno, de 12 horas", "Anotado, noturno de 12h. Quais dias costumam ser livres?"),
    (
        "Tenho disponibilidade nos fins de semana",
        "Ótimo, fim de semana é quando mais precisam. Vou olhar o que tem aberto.",
    ),
    (
        "Quais hospitais vocês atendem por aqui?",
        "Em Campinas são três hospitais parceiros, dois com pronto-socorro adulto. Te passo os "
        "nomes assim que confirmar as vagas.",
    ),
    (
        "Legal. E como é o cadastro?",
        "É rapidinho: preciso do seu CRM e de alguns documentos, e o time confere em um dia útil.",
    ),
    (
        "Preciso mandar algum documento?",
        "Sim, CRM, RG e comprovante de residência. Pode mandar foto por aqui mesmo.",
    ),
    ("Meu CRM é 123456 SP", "Recebido, obrigada! Já deixei anotado no seu cadastro."),
    (
        "Tenho experiência em pronto-socorro e UTI",
        "Excelente, isso abre bastante opção. UTI costuma ter vaga no fim de semana à noite.",
    ),
    (
        "Esse sábado agora eu teria livre",
        "Boa! Vou ver se tem noturno no sábado em Campinas e já te falo.",
    ),
    (
        "Pode ser de dia também se precisar",
        "Combinado, vou considerar diurno também então.",
    ),
    (
        "Vocês têm plantão em Jundiaí?",
        "Em Jundiaí temos um hospital parceiro, mas as vagas de lá saem mais no meio da semana.",
    ),
    ("Ah entendi, obrigado", "Imagina! Qualquer coisa é só me chamar por aqui."),
    (
        "E como funciona a escala do mês?",
        "Os hospitais abrem a escala na última semana do mês anterior, e eu te aviso quando sair.",
    ),
    (
        "Consigo pegar dois por semana no máximo",
        "Tranquilo, dois por semana está ótimo. Vou priorizar os fins de semana.",
    ),
    (
        "Beleza, pode me mandar as opções quando tiver",
        "Pode deixar, assim que confirmar te mando as opções por aqui.",
    ),
    ("Domingo à noite também dá", "Anotei domingo à noite também!"),
    ("Perfeito, fico no aguardo", "Combinado! Te escrevo em breve."),
    ("Valeu, boa noite!", "Boa noite, até mais!"),
]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": ms(percentile(values, 50)),
        "p90_ms": ms(percentile(values, 90)),
        "p99_ms": ms(percentile(values, 99)),
        "mean_ms": ms(statistics.fmean(values)),
        "max_ms": ms(max(values)),
    }


def bare_app() -> FastAPI:
    """The reference: an endpoint that parses the JSON body and answers 200, nothing else."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhook/evolution")
    async def webhook(request: Request) -> JSONResponse:
        payload = await request.json()
        return JSONResponse({"status": "stored", "messages": 1 if payload else 0})

    return app


def tree_cpu(pid: int | None) -> float:
    """CPU seconds of a process and its descendants, including reaped children."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


class Child:
    """A child process logging to a file (a pipe read here would compete with the client)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_for_line(self, needle: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_path.read_text(errors="replace"):
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"{self.name}: no {needle!r} within {timeout}s:\n{self.tail()}")

    def wait_http_ok(self, url: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.popen.poll() is not None:
                    break
                with contextlib.suppress(httpx.TransportError):
                    if client.get(url).status_code == 200:
                        return
                time.sleep(0.02)
        raise RuntimeError(f"{self.name}: {url} not 200 within {timeout}s:\n{self.tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        try:
            if self.popen.poll() is None:
                self.popen.send_signal(signal.SIGTERM)
                try:
                    self.popen.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.popen.pid, signal.SIGKILL)
                    self.popen.wait(timeout=10)
        finally:
            self._log.close()


class Services(common.Services):
    """The shared embedded services, plus the child processes this benchmark spawns."""

    def __init__(self) -> None:
        super().__init__()
        self.logs = self.base / "logs"
        self.logs.mkdir()
        self.children: list[Child] = []

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        child = Child(name, args, env, self.logs)
        self.children.append(child)
        return child

    def stop_child(self, child: Child) -> None:
        if child in self.children:
            self.children.remove(child)
        child.stop()

    def stop(self) -> None:
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop()
        self.children.clear()
        super().stop()


def serve(
    services: Services, name: str, app: str, env: dict[str, str], *, factory: bool = False
) -> tuple[Child, str]:
    """An ASGI app under uvicorn as the API runs (one process, access log on), on a free
    loopback port, once it answers /health. `factory` apps live in benchmarks/."""
    port = free_port()
    args = [str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port)]
    if factory:
        args[1:1] = ["--factory", "--app-dir", str(ROOT / "benchmarks")]
    child = services.spawn(name, args, env)
    base = f"http://127.0.0.1:{port}"
    child.wait_http_ok(f"{base}/health")
    return child, base


def start_api(services: Services, name: str, env: dict[str, str]) -> tuple[Child, str]:
    """The Julia API as production runs it."""
    return serve(services, name, "app.main:app", env)


def start_bare(services: Services) -> tuple[Child, str]:
    """The reference endpoint, served by the same uvicorn with the same options."""
    return serve(services, "bare", "conversation:bare_app", base_env(), factory=True)


# --------------------------------------------------------------------------------------------
# 1. Webhook ack: Julia's POST /webhook/evolution next to a bare JSON endpoint
# --------------------------------------------------------------------------------------------


def ack_bodies(count: int, offset: int) -> list[bytes]:
    """Distinct, valid `messages.upsert` bodies from ACK_PHONES doctors, round-robin."""
    from tests.support.julia import text_message

    bodies = []
    for i in range(offset, offset + count):
        phone = f"551197{i % ACK_PHONES:07d}"
        body = text_message(phone, f"oi, tem plantão essa semana? ({i})", msg_id=f"3EB0ACK{i:013d}")
        bodies.append(json.dumps(body).encode())
    return bodies


async def drive(
    client: httpx.AsyncClient,
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    concurrency: int,
    check: Callable[[httpx.Response], bool],
) -> tuple[list[float], float, float]:
    """POST every body with `concurrency` requests in flight; (latencies, wall s, client CPU s)."""
    latencies = [0.0] * len(bodies)
    indexes = iter(range(len(bodies)))

    async def one_connection() -> None:
        for i in indexes:
            t0 = time.perf_counter()
            response = await client.post(url, content=bodies[i], headers=headers)
            latencies[i] = time.perf_counter() - t0
            if response.status_code != 200 or not check(response):
                raise RuntimeError(f"{url} answered {response.status_code}: {response.text}")

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(concurrency)))
    return latencies, time.perf_counter() - t0, time.process_time() - cpu0


async def bench_ack(
    services: Services, requests: int, concurrency: int, rounds: int
) -> dict[str, Any]:
    from tests.support.julia import WEBHOOK_SECRET

    database_url = await services.create_database("bench_ack")
    env = services.env(database_url, EVOLUTION_WEBHOOK_SECRET=WEBHOOK_SECRET)
    julia, julia_base = start_api(services, "api-ack", env)
    bare, bare_base = start_bare(services)
    headers = {"Authorization": f"Bearer {WEBHOOK_SECRET}", "Content-Type": "application/json"}
    targets = {
        "bare": (bare, f"{bare_base}/webhook/evolution", lambda r: True),
        "julia": (
            julia,
            f"{julia_base}/webhook/evolution",
            lambda r: r.json().get("status") == "stored",
        ),
    }
    pids = {"postgres": services.pg_pid(), "valkey": services.valkey_pid()}
    latencies: dict[str, list[float]] = {name: [] for name in targets}
    totals = {name: {"wall": 0.0, "client": 0.0, "server": 0.0} for name in targets}
    totals["julia"].update(postgres=0.0, valkey=0.0)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    try:
        async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
            # Warm-up: one message per doctor, so every measured message finds its doctor and
            # conversation (the steady state) and every connection is open.
            warm = ack_bodies(ACK_PHONES, 0)
            for _child, url, check in targets.values():
                await drive(client, url, warm, headers, concurrency, check)
            measured = ack_bodies(requests, ACK_PHONES)
            per_round = math.ceil(requests / rounds)
            # Alternate rounds, so drift and noise from neighbours hit both alike.
            for r in range(rounds):
                chunk = measured[r * per_round : (r + 1) * per_round]
                for name, (child, url, check) in targets.items():
                    server0 = tree_cpu(child.pid)
                    side0 = {k: tree_cpu(pid) for k, pid in pids.items()}
                    lat, wall, client_cpu = await drive(
                        client, url, chunk, headers, concurrency, check
                    )
                    latencies[name] += lat
                    totals[name]["wall"] += wall
                    totals[name]["client"] += client_cpu
                    totals[name]["server"] += tree_cpu(child.pid) - server0
                    if name == "julia":
                        for k, pid in pids.items():
                            totals[name][k] += tree_cpu(pid) - side0[k]
        conn = await asyncpg.connect(database_url)
        try:
            stored = await conn.fetchval("SELECT count(*) FROM messages WHERE direction = 'in'")
        finally:
            await conn.close()
    finally:
        services.stop_child(julia)
        services.stop_child(bare)

    result: dict[str, Any] = {
        "requests": requests,
        "concurrency": concurrency,
        "rounds": rounds,
        "warmup": ACK_PHONES,
        "doctors": ACK_PHONES,
        "julia_messages_stored": stored,
    }
    for name, values in latencies.items():
        t = totals[name]
        n = len(values)
        entry: dict[str, Any] = {
            "rps": round(n / t["wall"], 1),
            **summary_ms(values),
            "client_cpu_pct": round(100 * t["client"] / t["wall"], 1),
            "server_cpu_ms_per_req": round(1000 * t["server"] / n, 3),
        }
        if name == "julia":
            entry["postgres_cpu_ms_per_req"] = round(1000 * t["postgres"] / n, 3)
            entry["valkey_cpu_ms_per_req"] = round(1000 * t["valkey"] / n, 3)
        result[name] = entry
    b, j = result["bare"], result["julia"]
    result["ratios"] = {
        "rps_bare_over_julia": round(b["rps"] / j["rps"], 2),
        "p50_julia_over_bare": round(j["p50_ms"] / b["p50_ms"], 2),
        "p99_julia_over_bare": round(j["p99_ms"] / b["p99_ms"], 2),
        "server_cpu_julia_over_bare": round(
            j["server_cpu_ms_per_req"] / b["server_cpu_ms_per_req"], 2
        ),
    }
    return result


# --------------------------------------------------------------------------------------------
# 2 and 3: the whole pipeline with the fake vendors
# --------------------------------------------------------------------------------------------


class Timing:
    """ASGI wrapper around the fake vendors' app: when each request arrived and was answered
    (time.time(), comparable with the other processes' clocks on this machine)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.records: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.time()
        path = str(scope["path"])

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                with self._lock:
                    self.records.append((path, start, time.time()))

        await self.app(scope, receive, timed_send)

    def since(self, mark: int) -> list[tuple[str, float, float]]:
        with self._lock:
            return list(self.records[mark:])

    def mark(self) -> int:
        with self._lock:
            return len(self.records)


class Pipeline:
    """Julia's API and worker (child processes) wired to the fake vendors."""

    def __init__(self, services: Services, fake: Any, timing: Timing) -> None:
        self.services = services
        self.fake = fake
        self.timing = timing
        self.api: Child | None = None
        self.worker: Child | None = None
        self.base = ""
        self.database_url = ""
        self.db: Any = None
        self.arq: Any = None
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        from app.core.redis import connect
        from tests.support.julia import vendor_settings

        self.database_url = await self.services.create_database("bench_turns")
        await self.services.flush_valkey()
        settings = {k: str(v) for k, v in vendor_settings(self.fake.url).items()}
        settings.update(INBOUND_DEBOUNCE_SECONDS="0", HUMAN_DELAY_SCALE="0")
        env = self.services.env(self.database_url, **settings)
        self.worker = self.services.spawn(
            "worker", [sys.executable, "-m", "app.workers.fila_worker"], env
        )
        self.api, self.base = start_api(self.services, "api-turns", env)
        self.worker.wait_for_line("Worker started")
        self.db = await asyncpg.connect(self.database_url)
        self.arq = await connect(self.services.redis_url)
        self.client = httpx.AsyncClient(base_url=self.base, timeout=30.0)

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self.arq is not None:
            await self.arq.aclose()
        if self.db is not None:
            await self.db.close()
        for child in (self.api, self.worker):
            if child is not None:
                self.services.stop_child(child)

    async def turn(self, phone: str, text: str, msg_id: str) -> dict[str, Any]:
        """Post one message and wait for its turn to finish; the turn's timestamps."""
        from arq.jobs import Job

        from app.core.redis import QUEUE_NAME
        from tests.support.julia import WEBHOOK_SECRET, text_message

        assert self.client is not None
        sends_before = len(self.fake.evolution.texts_to(phone))
        usages_before = len(self.fake.anthropic.usages)
        mark = self.timing.mark()
        posted = time.time()
        response = await self.client.post(
            "/webhook/evolution",
            json=text_message(phone, text, msg_id=msg_id),
            headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
        )
        acked = time.time()
        if response.status_code != 200:
            raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")
        await self._until(lambda: len(self.fake.evolution.texts_to(phone)) > sends_before)
        row = await self.db.fetchrow(
            "SELECT id, conversation_id FROM messages WHERE provider_message_id = $1", msg_id
        )
        job = Job(f"turn:{row['conversation_id']}:{row['id']}", self.arq, _queue_name=QUEUE_NAME)
        info = None
        deadline = time.monotonic() + TURN_TIMEOUT
        while info is None and time.monotonic() < deadline:
            info = await job.result_info()
            if info is None:
                await asyncio.sleep(0.01)
        if info is None:
            raise RuntimeError(f"turn job for {msg_id} never finished")
        records = self.timing.since(mark)
        llm = [(s, e) for p, s, e in records if p == "/v1/messages"]
        send_at = min(s for p, s, _ in records if p.startswith("/message/sendText/"))
        return {
            "posted": posted,
            "acked": acked,
            "outcome": info.result,
            "enqueued": info.enqueue_time.timestamp(),
            "started": info.start_time.timestamp(),
            "finished": info.finish_time.timestamp(),
            "llm": llm,
            "send": send_at,
            "usages": list(self.fake.anthropic.usages[usages_before:]),
            "conversation_id": row["conversation_id"],
        }

    async def _until(self, predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + TURN_TIMEOUT
        while not predicate():
            if time.monotonic() > deadline:
                worker = self.worker.tail() if self.worker else ""
                raise RuntimeError(f"no reply within {TURN_TIMEOUT}s; worker log:\n{worker}")
            await asyncio.sleep(0.005)


async def bench_pipeline(pipeline: Pipeline, turns: int, warmup: int) -> dict[str, Any]:
    """`turns` first messages from different doctors, one at a time, reply awaited."""
    from app.workers.fila_worker import WorkerSettings

    # Turns are spaced by a random fraction of the worker's ARQ poll interval, so each one
    # meets the poll cycle at a random phase; otherwise a constant turn duration would bias
    # the queue wait.
    poll_delay = float(WorkerSettings.poll_delay)
    rng = random.Random(7)  # noqa: S311 - timing jitter, not security
    samples: list[dict[str, Any]] = []
    for i in range(warmup + turns):
        await asyncio.sleep(rng.uniform(0, poll_delay))
        phone = f"551198{i:07d}"
        sample = await pipeline.turn(phone, PIPELINE_TEXT, f"3EB0TURN{i:012d}")
        if i >= warmup:
            samples.append(sample)

    def column(fn: Callable[[dict[str, Any]], float]) -> list[float]:
        return [fn(s) for s in samples]

    def llm_time(s: dict[str, Any]) -> float:
        return sum(e - b for b, e in s["llm"])

    rows = {
        "webhook_post": column(lambda s: s["acked"] - s["posted"]),
        "ack_to_send": column(lambda s: s["send"] - s["acked"]),
        "llm_server": column(llm_time),
        "overhead": column(lambda s: s["send"] - s["acked"] - llm_time(s)),
        "queue_wait": column(lambda s: s["started"] - s["enqueued"]),
        "ack_to_llm": column(lambda s: s["llm"][0][0] - s["acked"]),
        "job_start_to_llm": column(lambda s: s["llm"][0][0] - s["started"]),
        "llm_to_send": column(lambda s: s["send"] - s["llm"][-1][1]),
        "overhead_minus_queue": column(
            lambda s: s["send"] - s["acked"] - llm_time(s) - (s["started"] - s["enqueued"])
        ),
    }
    outcomes: dict[str, int] = {}
    for s in samples:
        outcomes[str(s["outcome"])] = outcomes.get(str(s["outcome"]), 0) + 1
    return {
        "turns": turns,
        "warmup": warmup,
        "poll_delay_s": poll_delay,
        "outcomes": outcomes,
        "llm_calls_per_turn": statistics.fmean(len(s["llm"]) for s in samples),
        **{name: summary_ms(values) for name, values in rows.items()},
    }


def replay_with_gaps(
    requests: list[dict[str, Any]],
    outputs: list[int],
    *,
    gap_s: float,
    warm_static: bool,
) -> dict[str, Any]:
    """Usage the fake's cache emulation gives the same requests spaced `gap_s` apart.

    With `warm_static`, other conversations are assumed to send the shared tools + system
    prefix just before each turn, so that prefix is always cached (its cost is theirs).
    """
    from app.integrations.anthropic_llm import cost_usd
    from app.integrations.protocols import Usage
    from tests.support.fake_vendors import PromptCache

    cache = PromptCache()
    read = prompt = 0
    cost = 0.0
    for n, body in enumerate(requests):
        now = 1_000_000.0 + n * gap_s
        if warm_static:
            static = {k: body.get(k) for k in ("model", "tools", "system")}
            cache.apply({**static, "messages": []}, now=now - 1)
        usage = cache.apply(body, now=now)
        read += usage.cache_read_input_tokens
        prompt += usage.total_input
        output = outputs[n]  # as measured: only the input side depends on the cache
        cost += cost_usd(
            str(body.get("model")),
            Usage(
                usage.input_tokens,
                output,
                usage.cache_read_input_tokens,
                usage.cache_creation_input_tokens,
            ),
        )
    return {
        "gap_s": gap_s,
        "warm_static": warm_static,
        "cache_read_share": round(read / prompt, 4) if prompt else 0.0,
        "cost_cached_usd": round(cost, 6),
    }


async def bench_caching(pipeline: Pipeline) -> dict[str, Any]:
    """One doctor, 20 sequential turns; the fake's prompt-cache usage numbers per turn."""
    from app.integrations.anthropic_llm import cost_usd
    from app.integrations.protocols import Usage
    from tests.support.fake_vendors import PromptCache, min_cacheable_tokens, text_reply

    fake = pipeline.fake
    fake.reset()  # empty prompt cache: turn 1 is a cold start
    fake.anthropic.script(*(text_reply(reply) for _, reply in CONVERSATION))
    phone = "5511987770001"
    rows: list[dict[str, Any]] = []
    conversation_id = None
    for n, (text, _) in enumerate(CONVERSATION, start=1):
        sample = await pipeline.turn(phone, text, f"3EB0CACHE{n:011d}")
        conversation_id = sample["conversation_id"]
        calls = sample["usages"]
        row = {
            "turn": n,
            "outcome": sample["outcome"],
            "model": ",".join(sorted({str(u["model"]) for u in calls})),
            "llm_calls": len(calls),
            "input": sum(int(u["input_tokens"]) for u in calls),
            "cache_read": sum(int(u["cache_read_input_tokens"]) for u in calls),
            "cache_write": sum(int(u["cache_creation_input_tokens"]) for u in calls),
            "output": sum(int(u["output_tokens"]) for u in calls),
            "cost_cached": 0.0,
            "cost_uncached": 0.0,
        }
        for u in calls:
            read, write = int(u["cache_read_input_tokens"]), int(u["cache_creation_input_tokens"])
            out, inp = int(u["output_tokens"]), int(u["input_tokens"])
            row["cost_cached"] += cost_usd(u["model"], Usage(inp, out, read, write))
            row["cost_uncached"] += cost_usd(u["model"], Usage(inp + read + write, out, 0, 0))
        row["prompt"] = row["input"] + row["cache_read"] + row["cache_write"]
        rows.append(row)

    first = fake.anthropic.requests[0]
    static_prefix = PromptCache().count_tokens(
        {"tools": first.get("tools"), "system": first.get("system"), "messages": []}
    )
    recorded = await pipeline.db.fetchval(
        "SELECT sum(cost_usd)::float8 FROM turns WHERE conversation_id = $1", conversation_id
    )
    replies_ok = fake.evolution.texts_to(phone) == [reply for _, reply in CONVERSATION]
    replays = {
        name: replay_with_gaps(
            fake.anthropic.requests,
            [int(u["output_tokens"]) for u in fake.anthropic.usages],
            gap_s=GAP_S,
            warm_static=warm,
        )
        for name, warm in (("gaps_cold", False), ("gaps_warm_static", True))
    }

    def share(part: list[dict[str, Any]]) -> float:
        total = sum(r["prompt"] for r in part)
        return round(sum(r["cache_read"] for r in part) / total, 4) if total else 0.0

    def total(part: list[dict[str, Any]], key: str) -> float:
        return sum(r[key] for r in part)

    later = rows[1:]
    models = sorted({m for r in rows for m in r["model"].split(",") if m})
    return {
        "turns": rows,
        "replies_as_scripted": replies_ok,
        "replays": replays,
        "static_prefix_tokens": static_prefix,
        "min_cacheable_tokens": {m: min_cacheable_tokens(m) for m in models},
        "cache_read_share_all": share(rows),
        "cache_read_share_turns_2_on": share(later),
        "cost_cached_usd": round(total(rows, "cost_cached"), 6),
        "cost_uncached_usd": round(total(rows, "cost_uncached"), 6),
        "cost_recorded_by_julia_usd": round(float(recorded or 0.0), 6),
        "cost_cached_turns_2_on_usd": round(total(later, "cost_cached"), 6),
        "cost_uncached_turns_2_on_usd": round(total(later, "cost_uncached"), 6),
    }


async def bench_turns(
    services: Services, turns: int, warmup: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    from tests.support.fake_vendors import FakeVendors

    fake = FakeVendors()
    timing = Timing(fake.app)
    fake.app = timing  # FakeVendors.start() serves `self.app`
    pipeline = Pipeline(services, fake, timing)
    with fake:
        try:
            await pipeline.start()
            print(f"pipeline: {warmup} + {turns} turns ...", file=sys.stderr)
            overhead = await bench_pipeline(pipeline, turns, warmup)
            print("prompt caching: 20-turn conversation ...", file=sys.stderr)
            caching = await bench_caching(pipeline)
        finally:
            await pipeline.stop()
    return overhead, caching


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def report(data: dict[str, Any]) -> str:
    m = data["machine"]
    a = data["ack"]
    lines = [
        "Julia conversation benchmark",
        f"machine: {m['cpu_count']} CPUs, Python {m['python']}, {m['platform']}",
        f"commit:  {m['git_sha']}   at {data['timestamp']}   total {data['total_s']} s",
        f"load average (1/5/15 min) at start {data['loadavg_start']}, at end {data['loadavg_end']}",
        "",
        f"1. Webhook ack: {a['requests']} distinct messages.upsert per target, "
        f"{a['concurrency']} in flight, one httpx.AsyncClient, {a['rounds']} alternating rounds "
        f"({a['warmup']} warm-up, {a['doctors']} doctors)",
        f"{'target':<8} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'client CPU':>10} {'server CPU ms/req':>17}",
    ]
    for name in ("bare", "julia"):
        r = a[name]
        lines.append(
            f"{name:<8} {r['rps']:>7.0f} {r['p50_ms']:>7.2f} {r['p90_ms']:>7.2f} "
            f"{r['p99_ms']:>7.2f} {r['max_ms']:>7.1f} {r['client_cpu_pct']:>9.0f}% "
            f"{r['server_cpu_ms_per_req']:>17.2f}"
        )
    j, ratios = a["julia"], a["ratios"]
    lines += [
        f"julia also costs per request: Postgres {j['postgres_cpu_ms_per_req']:.2f} ms CPU, "
        f"Valkey {j['valkey_cpu_ms_per_req']:.2f} ms CPU; messages stored: "
        f"{a['julia_messages_stored']}",
        f"ratios: req/s bare/julia {ratios['rps_bare_over_julia']:.2f}x, p50 julia/bare "
        f"{ratios['p50_julia_over_bare']:.2f}x, p99 julia/bare {ratios['p99_julia_over_bare']:.2f}x"
        f", API CPU per request julia/bare {ratios['server_cpu_julia_over_bare']:.2f}x",
    ]

    p = data["pipeline"]
    labels = [
        ("webhook_post", "webhook POST latency (one at a time)"),
        ("ack_to_send", "webhook 200 -> Evolution send received"),
        ("llm_server", "fake Anthropic server time"),
        ("overhead", "= overhead (ack->send minus LLM)"),
        ("queue_wait", "  of which ARQ queue wait (enqueue->start)"),
        ("overhead_minus_queue", "  overhead without the queue wait"),
        ("ack_to_llm", "webhook 200 -> LLM request received"),
        ("job_start_to_llm", "job start -> LLM request received"),
        ("llm_to_send", "LLM answer sent -> Evolution send received"),
    ]
    lines += [
        "",
        f"2. Pipeline per turn: {p['turns']} turns (+{p['warmup']} warm-up), new doctor each, "
        f"one at a time; HUMAN_DELAY_SCALE=0, INBOUND_DEBOUNCE_SECONDS=0, worker poll "
        f"{p['poll_delay_s']} s; outcomes {p['outcomes']}, "
        f"{p['llm_calls_per_turn']:.2f} LLM calls/turn",
        f"{'':<44} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8}",
    ]
    for key, label in labels:
        r = p[key]
        lines.append(
            f"{label:<44} {r['p50_ms']:>8.1f} {r['p90_ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{r['mean_ms']:>8.1f}"
        )

    c = data["caching"]
    lines += [
        "",
        "3. Prompt caching, one doctor, 20 sequential turns (fake Anthropic's cache emulation; "
        "tokens = chars/4)",
        f"tools + system prefix: {c['static_prefix_tokens']} tokens; minimum cacheable: "
        + ", ".join(f"{k} {v}" for k, v in c["min_cacheable_tokens"].items()),
        f"{'turn':>4} {'model':<18} {'prompt':>7} {'input':>7} {'c.read':>7} {'c.write':>7} "
        f"{'output':>6} {'$ cached':>9} {'$ no cache':>10}",
    ]
    for r in c["turns"]:
        lines.append(
            f"{r['turn']:>4} {r['model']:<18} {r['prompt']:>7} {r['input']:>7} "
            f"{r['cache_read']:>7} {r['cache_write']:>7} {r['output']:>6} "
            f"{r['cost_cached']:>9.5f} {r['cost_uncached']:>10.5f}"
        )
    rows = c["turns"]
    lines += [
        f"{'sum':>4} {'':<18} {sum(r['prompt'] for r in rows):>7} "
        f"{sum(r['input'] for r in rows):>7} {sum(r['cache_read'] for r in rows):>7} "
        f"{sum(r['cache_write'] for r in rows):>7} {sum(r['output'] for r in rows):>6} "
        f"{c['cost_cached_usd']:>9.5f} {c['cost_uncached_usd']:>10.5f}",
        f"share of input tokens read from cache: all turns {100 * c['cache_read_share_all']:.1f}%"
        f", turns 2-20 {100 * c['cache_read_share_turns_2_on']:.1f}%",
        f"cost with / without caching: ${c['cost_cached_usd']:.4f} / ${c['cost_uncached_usd']:.4f}"
        f" ({c['cost_cached_usd'] / c['cost_uncached_usd']:.2f}x); turns 2-20 "
        f"${c['cost_cached_turns_2_on_usd']:.4f} / ${c['cost_uncached_turns_2_on_usd']:.4f}; "
        f"recorded by Julia in turns.cost_usd ${c['cost_recorded_by_julia_usd']:.4f}",
        f"replies delivered as scripted: {c['replies_as_scripted']}",
        "",
        f"Same 20 requests replayed through a fresh emulated cache with {GAP_S / 60:g}-minute "
        "gaps between turns (past the 5-minute TTL)",
        f"{'scenario':<44} {'read share':>10} {'$ cached':>9} {'$ no cache':>10} {'ratio':>6}",
    ]
    scenarios = [
        ("back to back (measured above)", c["cache_read_share_all"], c["cost_cached_usd"]),
        *(
            (REPLAY_LABELS[name], r["cache_read_share"], r["cost_cached_usd"])
            for name, r in c["replays"].items()
        ),
    ]
    for label, read_share, cost in scenarios:
        lines.append(
            f"{label:<44} {100 * read_share:>9.1f}% {cost:>9.5f} "
            f"{c['cost_uncached_usd']:>10.5f} {cost / c['cost_uncached_usd']:>5.2f}x"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace, services: Services, data: dict[str, Any]) -> None:
    print(f"webhook ack: {args.requests} requests x 2 targets ...", file=sys.stderr)
    data["ack"] = await bench_ack(services, args.requests, args.concurrency, args.rounds)
    data["pipeline"], data["caching"] = await bench_turns(services, args.turns, args.turn_warmup)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and turns")
    parser.add_argument("--requests", type=int, help="webhook requests per target (2000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per target")
    parser.add_argument("--turns", type=int, help="pipeline turns measured (200)")
    parser.add_argument("--turn-warmup", type=int, default=5, help="pipeline warm-up turns")
    args = parser.parse_args()
    args.requests = args.requests or (400 if args.quick else 2000)
    args.turns = args.turns or (40 if args.quick else 200)

    data = common.begin(args=vars(args))
    with Services() as services:
        common.quiet_logs()
        asyncio.run(run(args, services, data))
    out = common.finish("conversation", data)
    print(report(data))
    print(f"\nresults: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
