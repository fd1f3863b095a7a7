"""Reliability drills: faults against the real processes, and a ledger of what doctors got.

    make drills                                        # every drill, default sizes
    .venv/bin/python benchmarks/drills.py --quick      # every drill, small
    .venv/bin/python benchmarks/drills.py worker_kill postgres   # some drills

Julia runs as in production: the API under uvicorn, the ARQ worker
(`python -m app.workers.fila_worker`) and the scheduler (`python -m app.workers.scheduler`)
as child processes on an embedded Postgres and Valkey, loopback only; Anthropic, Evolution
and Slack are the local fake (tests/support/fake_vendors.py) in this process, with faults on
a time window (tests/support/fake_controls.py). Like Railway's restart policy, a worker or
scheduler that exits is started again (at most 10 times each). Webhooks are delivered as
Evolution does: a 5xx or no answer is retried with backoff for about a minute.

Each drill prints its ledger and PASS or FAIL; the exit status is 1 when any drill FAILs.
See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.conversation import Child, Services, start_api  # noqa: E402

MAX_RESTARTS = 10  # railway.toml restartPolicyMaxRetries
DELIVERY_BACKOFF = (1, 2, 4, 8, 10, 10, 10, 10, 10)  # about a minute, as Evolution retries
SETTINGS = {
    "INBOUND_DEBOUNCE_SECONDS": "0.5",
    "HUMAN_DELAY_SCALE": "0.1",  # small but on: some kills land mid-typing
    "TURN_LOCK_SECONDS": "3",
    "SWEEP_AFTER_SECONDS": "6",  # the sweep every 5 s
    # Each process's watchdog, as in production (it is off by default under ENVIRONMENT=test).
    "WATCHDOG_ENABLED": "true",
}
WORKER = [sys.executable, "-m", "app.workers.fila_worker"]
SCHEDULER = [sys.executable, "-m", "app.workers.scheduler"]
REF = re.compile(r"ref ([a-z]+)")


def ref(n: int) -> str:
    """A word of letters naming message n (no digits: they read as money to the guardrails)."""
    word = ""
    n += 26 * 27
    while n:
        n, r = divmod(n, 26)
        word = chr(ord("a") + r) + word
    return word


def responder(body: dict[str, Any]) -> Any:
    """The model's reply names the last message it answers, so a reply sent twice shows."""
    from tests.support.fake_vendors import text_reply

    found = REF.findall(json.dumps(body["messages"][-1], ensure_ascii=False))
    word = found[-1] if found else "geral"
    return text_reply(f"oi! anotei aqui o pedido {word}, já te mando os plantões")


# --------------------------------------------------------------------------------------------
# The ledger
# --------------------------------------------------------------------------------------------


@dataclass
class Ledger:
    drill: str
    posted: int = 0  # distinct messages posted
    attempts: int = 0  # deliveries, retries included
    statuses: Counter[int] = field(default_factory=Counter)  # 0 = no answer
    acked: int = 0
    stored: int = 0
    acked_not_stored: int = 0
    turns: dict[str, int] = field(default_factory=dict)
    sends: int = 0
    per_doctor: Counter[int] = field(default_factory=Counter)  # sends -> doctors
    doctors: int = 0
    answered: int = 0
    to_person: int = 0
    duplicates: list[str] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)
    outbound: dict[str, int] = field(default_factory=dict)  # outbound_sends by status
    alerts: list[tuple[float, str]] = field(default_factory=list)
    kills: int = 0
    restarts: dict[str, int] = field(default_factory=dict)
    measures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    losses_count: bool = True  # False where doctors are meant to wait (the pause)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        lost = self.losses_count and (self.losses or self.acked_not_stored)
        return not (self.duplicates or lost or self.problems)

    def report(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        statuses = ", ".join(f"{k or 'none'}: {v}" for k, v in sorted(self.statuses.items()))
        lines = [
            f"== {self.drill}: {verdict} ({self.seconds:.0f} s)",
            f"   webhooks posted {self.posted} (deliveries {self.attempts}: {statuses}), "
            f"acked {self.acked}, stored {self.stored}, acked but not stored "
            f"{self.acked_not_stored}",
            f"   turns {self.turns}, outbound_sends {self.outbound}",
            f"   doctors {self.doctors}: answered {self.answered}, listed to a person "
            f"{self.to_person}, sends {self.sends} (doctors by replies received: "
            f"{dict(sorted(self.per_doctor.items()))})",
            f"   duplicates {len(self.duplicates)} {self.duplicates[:5]}",
            f"   losses {len(self.losses)} {self.losses[:5]}"
            + ("" if self.losses_count else " (not counted in this drill)"),
            f"   alerts posted {len(self.alerts)}; kills {self.kills}; "
            f"restarts after a crash {self.restarts or 0}",
        ]
        lines += [f"   {k}: {v}" for k, v in self.measures.items()]
        lines += [f"   problem: {p}" for p in self.problems]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "drill": self.drill,
            "passed": self.passed,
            "posted": self.posted,
            "deliveries": self.attempts,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "acked": self.acked,
            "stored": self.stored,
            "acked_not_stored": self.acked_not_stored,
            "turns": self.turns,
            "outbound_sends": self.outbound,
            "doctors": self.doctors,
            "answered": self.answered,
            "to_person": self.to_person,
            "sends": self.sends,
            "sends_per_doctor": {str(k): v for k, v in sorted(self.per_doctor.items())},
            "duplicates": self.duplicates,
            "losses": self.losses,
            "alerts": [text for _, text in self.alerts],
            "kills": self.kills,
            "restarts": self.restarts,
            "measures": self.measures,
            "problems": self.problems,
            "seconds": round(self.seconds, 1),
        }


# --------------------------------------------------------------------------------------------
# Julia's processes, their supervisor, the doctors' deliveries
# --------------------------------------------------------------------------------------------


class Rig:
    """One drill's Julia: a fresh database, `apis` API processes, `workers` workers and
    `schedulers` schedulers, restarted when they exit (Railway's policy), and the doctors."""

    def __init__(self, services: Services, fake: Any, faults: Any, name: str, index: int) -> None:
        self.services, self.fake, self.faults = services, fake, faults
        self.name, self.index = name, index
        self.env: dict[str, str] = {}
        self.dsn = ""
        self.procs: dict[str, Child] = {}
        self.held_down: set[str] = set()
        self.spawned: Counter[str] = Counter()
        self.crashes: Counter[str] = Counter()
        self.kills = 0
        self.bases: list[str] = []
        self.client = httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(max_connections=32))
        self.ledger = Ledger(name)
        self.acked: dict[str, set[str]] = defaultdict(set)  # phone -> acked message ids
        self.posted: set[str] = set()
        self.seq = 0
        self.seen_hook = self.seen_api = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self.started = time.monotonic()

    async def start(
        self, *, apis: int = 1, workers: int = 1, schedulers: int = 1, **settings: str
    ) -> None:
        from tests.support.julia import vendor_settings

        self.fake.reset()
        self.seen_hook = self.seen_api = 0
        self.faults.clear()
        self.fake.anthropic.default = responder
        self.dsn = await self.services.create_database(f"drill_{self.name}")
        await self.services.flush_valkey()
        values = {k: str(v) for k, v in vendor_settings(self.fake.url).items()}
        values.update(SETTINGS)
        values.update(settings)
        self.env = self.services.env(self.dsn, **values)
        for i in range(workers):
            self.spawn(f"worker{i}")
        for i in range(schedulers):
            self.spawn(f"scheduler{i}")
        for i in range(apis):
            _, base = await asyncio.to_thread(start_api, self.services, f"api{i}", self.env)
            self.bases.append(base)
        for key, child in self.procs.items():
            if key.startswith("worker"):
                await asyncio.to_thread(child.wait_for_line, "Worker started")
        self._supervisor = asyncio.create_task(self._supervise())
        self.started = time.monotonic()

    def spawn(self, key: str) -> None:
        self.spawned[key] += 1
        args = WORKER if key.startswith("worker") else SCHEDULER
        self.procs[key] = self.services.spawn(f"{key}-{self.spawned[key]}", args, self.env)

    def kill(self, key: str, *, hold: bool = False) -> None:
        """SIGKILL a worker or scheduler (its whole process group); started again at once
        unless held down (then `release`)."""
        child = self.procs[key]
        if hold:
            self.held_down.add(key)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.popen.wait(timeout=10)
        self.kills += 1
        if not hold:
            self.spawn(key)

    def release(self, key: str) -> None:
        self.held_down.discard(key)
        self.spawn(key)

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.watch_alerts()
            for key, child in list(self.procs.items()):
                if key in self.held_down or child.popen.poll() is None:
                    continue
                if self.crashes[key] >= MAX_RESTARTS:
                    continue  # the platform gave up: it stays down
                self.crashes[key] += 1
                self.spawn(key)

    def watch_alerts(self) -> None:
        """Timestamp every new Slack alert (webhook or chat.postMessage; a threaded post is
        the answer to an operator's command, not an alert)."""
        slack = self.fake.slack
        hook, api = slack.webhook_posts[self.seen_hook :], slack.posted_messages[self.seen_api :]
        self.seen_hook += len(hook)
        self.seen_api += len(api)
        for post in [*hook, *(p for p in api if not p.get("thread_ts"))]:
            self.ledger.alerts.append((time.monotonic(), str(post.get("text") or "")[:80]))

    # -- doctors ------------------------------------------------------------------------------

    def phone(self, n: int) -> str:
        return f"551198{self.index}{n:06d}"

    def message(self, phone: str) -> tuple[str, str]:
        """A new message id and text for `phone`."""
        self.seq += 1
        return (
            f"3EB0DRILL{self.index}{self.seq:010d}",
            f"oi, tem plantão essa semana? ref {ref(self.seq)}",
        )

    async def deliver(self, phone: str, msg_id: str, text: str, api: int = 0) -> bool:
        """Post one message as Evolution does: retried on 5xx or no answer, about a minute."""
        from tests.support.julia import WEBHOOK_SECRET, text_message

        body = json.dumps(text_message(phone, text, msg_id=msg_id))
        headers = {"Authorization": f"Bearer {WEBHOOK_SECRET}", "Content-Type": "application/json"}
        self.posted.add(msg_id)
        for pause in (*DELIVERY_BACKOFF, None):
            self.ledger.attempts += 1
            try:
                response = await self.client.post(
                    f"{self.bases[api % len(self.bases)]}/webhook/evolution",
                    content=body,
                    headers=headers,
                )
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            self.ledger.statuses[status] += 1
            if 200 <= status < 300:
                self.acked[phone].add(msg_id)
                return True
            if (status and status < 500) or pause is None:
                return False
            await asyncio.sleep(pause)
        return False

    async def say(self, phone: str, api: int = 0) -> bool:
        msg_id, text = self.message(phone)
        return await self.deliver(phone, msg_id, text, api)

    def background(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def doctors_write(self, phones: list[str], window: float, seed: int) -> None:
        """Each doctor writes once at a random moment within `window` seconds (background)."""
        rng = random.Random(seed)  # noqa: S311 - arrival times

        async def one(phone: str) -> None:
            await asyncio.sleep(rng.uniform(0, window))
            await self.say(phone)

        for phone in phones:
            self.background(one(phone))

    async def deliveries_done(self, within: float = 90.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*list(self._tasks)), within)

    # -- what the doctors got -----------------------------------------------------------------

    def sends_to(self, phone: str) -> list[str]:
        texts: list[str] = self.fake.evolution.texts_to(phone)
        return texts

    async def to_person(self) -> set[str]:
        conn = await asyncpg.connect(self.dsn, timeout=5)
        try:
            rows = await conn.fetch(
                """SELECT d.phone FROM doctors d
                    WHERE EXISTS (SELECT 1 FROM conversations c
                                   WHERE c.doctor_id = d.id AND c.control = 'humano')
                       OR EXISTS (SELECT 1 FROM handoffs h WHERE h.doctor_id = d.id)"""
            )
        finally:
            await conn.close()
        return {r["phone"] for r in rows}

    async def settle(self, within: float, quiet: float = 3.0) -> None:
        """Until every acked doctor is answered or listed to a person and no send came for
        `quiet` seconds, or `within` seconds."""
        deadline = time.monotonic() + within
        last, changed, people = -1, time.monotonic(), set[str]()
        while time.monotonic() < deadline:
            count = len(self.fake.evolution.sends)
            if count != last:
                last, changed = count, time.monotonic()
                with contextlib.suppress(Exception):
                    people = await self.to_person()
            waiting = [p for p in self.acked if not self.sends_to(p) and p not in people]
            if not waiting and time.monotonic() - changed >= quiet:
                return
            await asyncio.sleep(0.5)

    async def close(self) -> Ledger:
        """Stop the processes and fill the ledger from the database and the fakes."""
        led = self.ledger
        led.seconds = time.monotonic() - self.started
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.watch_alerts()
        for child in list(self.procs.values()):
            await asyncio.to_thread(self.services.stop_child, child)
        for child in [c for c in self.services.children if c.name.startswith("api")]:
            await asyncio.to_thread(self.services.stop_child, child)
        await self.client.aclose()
        led.kills, led.restarts = self.kills, dict(self.crashes)
        for key, count in self.crashes.items():
            if count >= MAX_RESTARTS:
                led.problems.append(f"{key} exited {count} times: past the restart budget")
        led.posted = len(self.posted)
        acked_ids = {m for ids in self.acked.values() for m in ids}
        led.acked = len(acked_ids)
        try:
            conn = await asyncpg.connect(self.dsn, timeout=10)
        except Exception as exc:  # a ledger without the database says so
            led.problems.append(f"database unreadable at the end: {exc}")
            return led
        try:
            stored = {
                r["id"]
                for r in await conn.fetch(
                    "SELECT payload #>> '{data,key,id}' AS id FROM webhook_events"
                    " WHERE source = 'evolution'"
                )
            }
            led.turns = dict(
                await conn.fetch("SELECT status, count(*) FROM turns GROUP BY status")  # type: ignore[arg-type]
            )
            led.outbound = dict(
                await conn.fetch("SELECT status, count(*) FROM outbound_sends GROUP BY status")  # type: ignore[arg-type]
            )
        finally:
            await conn.close()
        people = await self.to_person()
        led.stored = len(stored & self.posted)
        led.acked_not_stored = len(acked_ids - stored)
        led.doctors = len(self.acked)
        for phone, ids in sorted(self.acked.items()):
            texts = self.sends_to(phone)
            led.sends += len(texts)
            led.per_doctor[len(texts)] += 1
            if texts:
                led.answered += 1
            if phone in people:
                led.to_person += 1
            if len(texts) > len(ids) or max(Counter(texts).values(), default=0) > 1:
                led.duplicates.append(phone)
            if not texts and phone not in people:
                led.losses.append(phone)
        return led


# --------------------------------------------------------------------------------------------
# The drills
# --------------------------------------------------------------------------------------------


@dataclass
class Size:
    doctors: int
    window: float  # seconds the doctors write within
    outage: float  # seconds a fault lasts
    settle: float  # seconds allowed for the backlog afterwards


DrillFn = Callable[[Rig, Size], Awaitable[None]]


async def worker_kill(rig: Rig, size: Size) -> None:
    """SIGKILL the worker at random moments while doctors write, restarting it each time;
    the typing delays at 0.3 of the real ones, so many kills land mid-typing."""
    await rig.start(HUMAN_DELAY_SCALE="0.3")
    rng = random.Random(1)  # noqa: S311 - kill moments
    await rig.doctors_write([rig.phone(n) for n in range(size.doctors)], size.window, seed=1)
    end = time.monotonic() + size.window + 5
    while time.monotonic() < end:
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        rig.kill("worker0")
    await rig.deliveries_done()
    await rig.settle(size.settle)


async def redis_restart(rig: Rig, size: Size) -> None:
    """Valkey SIGKILLed mid-load and started again, empty, on the same port."""
    await rig.start()
    await rig.doctors_write([rig.phone(n) for n in range(size.doctors)], size.window, seed=2)
    await asyncio.sleep(size.window / 3)
    rig.services.valkey_kill()
    down = time.monotonic()
    await asyncio.sleep(size.outage)
    await asyncio.to_thread(rig.services.valkey_start)
    rig.ledger.measures["redis_down_s"] = round(time.monotonic() - down, 1)
    await rig.deliveries_done()
    await rig.settle(size.settle)


async def postgres_restart(rig: Rig, size: Size) -> None:
    """Postgres stopped mid-load and started again: 503 while down, never a 2xx for what
    was not stored, the backlog answered once after."""
    await rig.start()
    await rig.doctors_write([rig.phone(n) for n in range(size.doctors)], size.window, seed=3)
    await asyncio.sleep(size.window / 3)
    before = Counter(rig.ledger.statuses)
    await asyncio.to_thread(rig.services.pg_stop)
    down = time.monotonic()
    await asyncio.sleep(size.outage)
    during = rig.ledger.statuses - before
    await asyncio.to_thread(rig.services.pg_start)
    rig.ledger.measures["postgres_down_s"] = round(time.monotonic() - down, 1)
    rig.ledger.measures["webhook_answers_while_down"] = dict(during)
    await rig.deliveries_done()
    await rig.settle(size.settle)


async def evolution_outage(rig: Rig, size: Size) -> None:
    """Evolution answers 500 for a while, then holds every sendText past the client's
    timeout (and delivers it) for a while; doctors write before, during and after."""
    from tests.support import fake_controls

    await rig.start()
    await rig.doctors_write([rig.phone(n) for n in range(size.doctors)], size.window, seed=4)
    await asyncio.sleep(2)
    errors = fake_controls.evolution_error(rig.faults, 500, size.outage)
    await asyncio.sleep(size.outage)
    hangs = fake_controls.evolution_timeout(rig.faults, size.outage, hold=17.0)
    await asyncio.sleep(size.outage + 17)
    rig.ledger.measures["sendText answered 500"] = errors.hits
    rig.ledger.measures["sendText held past the timeout"] = hangs.hits
    await rig.deliveries_done()
    await rig.settle(size.settle)


async def anthropic_overload(rig: Rig, size: Size) -> None:
    """Anthropic answers 529 overloaded, then 429 rate limited, with retry-after."""
    from tests.support import fake_controls

    await rig.start(LLM_MAX_RETRIES="2")
    await rig.doctors_write([rig.phone(n) for n in range(size.doctors)], size.window, seed=5)
    await asyncio.sleep(1)
    a = fake_controls.anthropic_error(rig.faults, 529, "overloaded_error", size.outage / 2, 2)
    await asyncio.sleep(size.outage / 2)
    b = fake_controls.anthropic_error(rig.faults, 429, "rate_limit_error", size.outage / 2, 2)
    await asyncio.sleep(size.outage / 2)
    rig.ledger.measures["model calls answered 529 / 429"] = f"{a.hits} / {b.hits}"
    await rig.deliveries_done()
    await rig.settle(size.settle)


async def storm(rig: Rig, size: Size) -> None:
    """Two APIs, two workers, two schedulers; every doctor's two messages each delivered
    three times, to either API, in shuffled order."""
    await rig.start(apis=2, workers=2, schedulers=2)
    rng = random.Random(6)  # noqa: S311 - order of the storm
    deliveries = []
    for n in range(size.doctors):
        phone = rig.phone(n)
        for _ in range(2):
            msg_id, text = rig.message(phone)
            deliveries += [(phone, msg_id, text, rng.randrange(2)) for _ in range(3)]
    rng.shuffle(deliveries)
    gate = asyncio.Semaphore(16)
    pace = size.window / len(deliveries)

    async def one(i: int, d: tuple[str, str, str, int]) -> None:
        await asyncio.sleep(i * pace)
        async with gate:
            await rig.deliver(*d)

    await asyncio.gather(*(one(i, d) for i, d in enumerate(deliveries)))
    await rig.settle(size.settle)


async def pause(rig: Rig, size: Size) -> None:
    """A Slack `pausar` under a backlog (real typing delays), then with the worker down."""
    from tests.test_slack import SIGNING_SECRET

    rig.ledger.losses_count = False  # doctors wait under the pause
    await rig.start(
        HUMAN_DELAY_SCALE="1",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_BOT_TOKEN="xoxb-drill",  # noqa: S106 - the fake Slack's
        SLACK_API_BASE_URL=rig.fake.url + "/slack/api/",
    )
    sends = rig.fake.evolution.sends
    phones = [rig.phone(n) for n in range(size.doctors)]
    await asyncio.gather(*(rig.say(p) for p in phones))
    await rig.fake.await_until(lambda: len(sends) >= 3, timeout=120)
    acked = await slack_pause(rig, "pausar julia motivo: drill sob carga")
    await asyncio.sleep(size.outage)
    late = [s for s in sends if s.at > acked + 2.0]
    presences = [p for p in rig.fake.evolution.presences if p.at > acked + 2.0]
    m = rig.ledger.measures
    m["backlog: sends before the pause"] = sum(s.at <= acked for s in sends)
    m["backlog: sends started > 2 s after the ack"] = len(late)
    m["backlog: typing presences started > 2 s after the ack"] = len(presences)
    if late:
        rig.ledger.problems.append(f"{len(late)} sends more than 2 s after the pause was acked")

    # The worker down: messages wait, the pause is sent, the worker comes back.
    await slack_command(rig, "retomar julia")
    await asyncio.sleep(3)
    rig.kill("worker0", hold=True)
    more = [rig.phone(size.doctors + n) for n in range(max(10, size.doctors // 3))]
    await asyncio.gather(*(rig.say(p) for p in more))
    await slack_pause(rig, "pausar julia motivo: drill com worker parado")
    back = time.time()
    rig.release("worker0")
    await asyncio.sleep(size.outage)
    after = [s for s in sends if s.at > back + 2.0]
    m["worker down: sends after it came back"] = len(after)
    if after:
        rig.ledger.problems.append(f"{len(after)} sends after the worker came back paused")


async def slack_command(rig: Rig, text: str) -> float:
    """A signed `app_mention` (as tests/test_slack.py builds it); the moment it was acked."""
    from tests.test_slack import mention, signed

    body = json.dumps(mention(text)).encode()
    response = await rig.client.post(
        f"{rig.bases[0]}/slack/events", content=body, headers=signed(body)
    )
    if response.status_code != 200:
        rig.ledger.problems.append(f"slack {text!r} answered {response.status_code}")
    return time.time()


async def slack_pause(rig: Rig, text: str) -> float:
    return await slack_command(rig, text)


async def alarms(rig: Rig, size: Size) -> None:
    """Postgres down, Redis down, the scheduler killed: Slack posts per outage, the time to
    the first, and the recovery posts."""
    rig.ledger.losses_count = False
    await rig.start()
    await asyncio.sleep(2)

    async def pg_down() -> Callable[[], Any]:
        await asyncio.to_thread(rig.services.pg_stop)
        return lambda: asyncio.to_thread(rig.services.pg_start)

    async def redis_down() -> Callable[[], Any]:
        rig.services.valkey_kill()
        return lambda: asyncio.to_thread(rig.services.valkey_start)

    async def scheduler_down() -> Callable[[], Any]:
        rig.kill("scheduler0", hold=True)

        async def back() -> None:
            rig.release("scheduler0")

        return back

    recover = 15.0
    for name, outage in (
        ("postgres", pg_down),
        ("redis", redis_down),
        ("scheduler", scheduler_down),
    ):
        rig.watch_alerts()
        start = time.monotonic()
        restore = await outage()
        await asyncio.sleep(size.outage)
        rig.watch_alerts()
        up = time.monotonic()
        await restore()
        await asyncio.sleep(recover)
        rig.watch_alerts()
        during = [t for t, _ in rig.ledger.alerts if start <= t < up]
        after = [t for t, _ in rig.ledger.alerts if t >= up]
        first = f"{during[0] - start:.0f} s" if during else "none"
        rig.ledger.measures[f"{name} down {size.outage:.0f} s"] = (
            f"{len(during)} alert(s), first after {first}; {len(after)} post(s) within "
            f"{recover:.0f} s of recovery"
        )
        if len(during) != 1 or len(after) != 1:
            rig.ledger.problems.append(
                f"{name}: {len(during)} alerts during the outage and {len(after)} after "
                "(want one each)"
            )


DRILLS: dict[str, tuple[DrillFn, Size, Size]] = {
    # name: (drill, default size, --quick size)
    "worker_kill": (worker_kill, Size(100, 20, 0, 45), Size(20, 8, 0, 30)),
    "redis": (redis_restart, Size(50, 20, 15, 45), Size(15, 8, 6, 30)),
    "postgres": (postgres_restart, Size(50, 20, 15, 45), Size(15, 8, 6, 30)),
    "evolution": (evolution_outage, Size(40, 40, 15, 30), Size(12, 18, 6, 30)),
    "anthropic": (anthropic_overload, Size(30, 10, 10, 30), Size(10, 5, 6, 30)),
    "storm": (storm, Size(40, 10, 0, 45), Size(12, 5, 0, 30)),
    "pause": (pause, Size(150, 0, 15, 0), Size(40, 0, 8, 0)),
    "alarms": (alarms, Size(0, 0, 50, 0), Size(0, 0, 25, 0)),
}


def hard_timeout(size: Size) -> float:
    return 120 + 2 * size.window + 3 * size.outage + size.settle + 4 * 17


async def run_drill(
    services: Services, fake: Any, faults: Any, name: str, quick: bool, size: Size | None = None
) -> Ledger:
    fn, default, small = DRILLS[name]
    size = size or (small if quick else default)
    rig = Rig(services, fake, faults, name, list(DRILLS).index(name))
    try:
        await asyncio.wait_for(fn(rig, size), hard_timeout(size) + (300 if name == "alarms" else 0))
    except TimeoutError:
        rig.ledger.problems.append(f"drill timed out after {hard_timeout(size):.0f} s")
    except Exception as exc:  # the drill's failure goes in its ledger
        rig.ledger.problems.append(f"drill broke: {type(exc).__name__}: {exc}")
    finally:
        faults.clear()
        await asyncio.to_thread(rig.services.pg_start)  # a no-op when it is running
        if rig.services.valkey is None or not rig.services.valkey.is_running():
            await asyncio.to_thread(rig.services.valkey_start)
    return await rig.close()


async def run(names: list[str], quick: bool, data: dict[str, Any]) -> list[Ledger]:
    from tests.support import fake_controls
    from tests.support.fake_vendors import FakeVendors

    fake = FakeVendors()
    faults = fake_controls.install(fake)
    ledgers = []
    services = Services()
    with services, fake:
        common.quiet_logs()
        for name in names:
            print(f"-- {name} ...", file=sys.stderr)
            ledger = await run_drill(services, fake, faults, name, quick)
            print(ledger.report(), flush=True)
            ledgers.append(ledger)
            data["drills"].append(ledger.as_dict())
    return ledgers


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("drills", nargs="*", help=f"some of {', '.join(DRILLS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes and short outages")
    args = parser.parse_args()
    names = args.drills or list(DRILLS)
    unknown = set(names) - set(DRILLS)
    if unknown:
        parser.error(f"unknown drills: {', '.join(sorted(unknown))}")
    data = common.begin(quick=args.quick, drills=[])
    ledgers = asyncio.run(run(names, args.quick, data))
    out = common.finish("drills", data)
    print("\n" + "\n".join(f"{'PASS' if led.passed else 'FAIL'}  {led.drill}" for led in ledgers))
    print(f"results: {out.relative_to(ROOT)}")
    return 0 if all(led.passed for led in ledgers) else 1


if __name__ == "__main__":
    raise SystemExit(main())
