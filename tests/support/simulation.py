"""Outreach on a fake clock: weeks of campaigns, follow-ups and reactivation, checked against
every outreach rule from what actually left for WhatsApp.

The production code runs unmodified: the scheduler's job functions (`campaigns.process`,
`followups.process`, `followups.reactivation`, `dispatch.due`) are called with the fake
clock's `now`, as `app/workers/outreach_jobs.py` calls them with the wall clock, and each
message is delivered by the real `Gateway` (real `Limiter` on Valkey, real Postgres) through
the real Evolution client talking to `FakeVendors`. Several gateways, each with its own
Valkey connection and Postgres pool, deliver at the same time, and every job is delivered
twice, as a queue may redeliver it.

The only thing the simulation adds is a `WireSender` in front of the Evolution client: every
`send_text` is written to the wire log with the fake clock's time before it goes out. The
rules are checked from that log (and from the events the simulation itself caused: pause,
PILOT_MODE, opt-outs, replies), never from the ledger's own bookkeeping. The ledger is read
to tell what a message was (whose opener or follow-up) and, like the limiter's counters in
Valkey, cross-checked against the wire: every send recorded once, no slot lost, nothing
dropped without a cause.

Used by `tests/test_outreach_sim.py` (small) and `benchmarks/outreach_sim.py` (two weeks,
2,000 doctors).
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import random
import time as wallclock
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import redis.asyncio as aioredis

from app.core import db as core_db
from app.core.config import Settings
from app.core.resources import Resources
from app.domain.conversations import repository as conversations
from app.domain.doctors import repository as doctors_repo
from app.domain.operations import commands
from app.domain.outbound import chips_repository as chips_repo
from app.domain.outbound.gateway import Gateway
from app.domain.outbound.limiter import Limiter, _chip_key, _doctor_key
from app.domain.outbound.pacing import Caps, chip_caps
from app.domain.outbound.status import StatusReader
from app.domain.outreach import campaigns, dispatch, followups
from app.domain.outreach import repository as outreach
from app.domain.outreach.freshness import Freshener
from app.integrations.evolution import EvolutionSender
from app.integrations.protocols import MessageSender
from tests.support.outreach import FakeClock

SP = ZoneInfo("America/Sao_Paulo")
# A Monday, 07:00 in São Paulo: an hour before the first business minute.
MONDAY_7H = datetime(2026, 12, 7, 7, 0, tzinfo=SP)
MINUTE = timedelta(minutes=1)
# Ticks run every minute from a little before opening to a little after closing; the rest
# of the night and the weekend is visited every few hours.
EDGE = timedelta(minutes=10)
SPARSE = timedelta(hours=3)

CHIPS = ("julia-1", "julia-2", "julia-3")
YOUNG_CHIP = "julia-3"  # warming up: its caps grow day by day
UNSTABLE_CHIP = "julia-2"  # disconnected for some hours

OPERATOR_CAMPAIGN = "Plantões de Clínica Médica"
SECOND_OPERATOR_CAMPAIGN = "Plantões de Cardiologia"
AUTONOMOUS_CAMPAIGN = "Descoberta Pediatria"
_OFFERED = ("Clínica Médica", "Pediatria", "Cardiologia")

_FIRST_NAMES = (
    "Ana", "Bruno", "Carla", "Daniel", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela",
    "João", "Karina", "Lucas", "Mariana", "Nicolas", "Olívia", "Paulo", "Renata", "Rafael",
    "Sofia", "Thiago", "Vanessa", "Vinícius", "Larissa", "Gustavo", "Beatriz", "Rodrigo",
    "Camila", "Leonardo", "Juliana", "Marcelo", "Patrícia", "André", "Fernanda", "Ricardo",
    "Aline", "Caio", "Débora", "Fábio", "Helena", "Igor",
)  # fmt: skip
_SURNAMES = (
    "Silva", "Souza", "Oliveira", "Santos", "Lima", "Pereira", "Costa", "Almeida", "Ferreira",
    "Rodrigues", "Gomes", "Martins", "Araújo", "Barbosa", "Ribeiro", "Carvalho",
)  # fmt: skip
_FEMALE = frozenset(
    ("Ana", "Carla", "Eduarda", "Gabriela", "Isabela", "Karina", "Mariana", "Olívia", "Renata",
     "Sofia", "Vanessa", "Larissa", "Beatriz", "Camila", "Juliana", "Patrícia", "Fernanda",
     "Aline", "Débora", "Helena")
)  # fmt: skip

# Doctor profiles: (weight, specialty, regions, campaign that may reach them).
# Zona Sul and Campinas have shifts of Clínica Médica, Pediatria and Cardiologia (the last
# offered by a second operator campaign, started under PILOT_MODE); Ribeirão Preto only of
# Ortopedia, which no campaign offers.
_PROFILES: tuple[tuple[int, str | None, tuple[str | None, ...], str | None], ...] = (
    (12, "Clínica Médica", ("Zona Sul", "Campinas"), "operador"),
    (2, "Clínica Médica", (None,), "operador"),  # no region: matched by state (SP)
    (7, "Pediatria", ("Zona Sul", "Campinas"), "autonoma"),
    (7, "Cardiologia", ("Zona Sul", "Campinas"), "operador2"),
    (8, "Clínica Médica", ("Ribeirão Preto", "Zona Norte"), None),
    (5, "Pediatria", ("Ribeirão Preto", "Zona Norte"), None),
    (6, "Cardiologia", ("Ribeirão Preto", "Zona Norte"), None),
    (16, "Ortopedia", ("Zona Sul", "Campinas", "Ribeirão Preto"), None),
    (17, None, ("Zona Sul", "Campinas"), None),
)
_CITY = {
    "Zona Sul": "São Paulo",
    "Zona Norte": "São Paulo",
    "Campinas": "Campinas",
    "Ribeirão Preto": "Ribeirão Preto",
    None: "São Paulo",
}
# What the simulation runs under (with the Evolution client pointed at FakeVendors): three
# chips, and an hourly cap just above the daily one's pace, so both bind at times.
SETTINGS: dict[str, Any] = {
    "MULTI_CHIP_ENABLED": True,
    "MAX_MSGS_POR_HORA": 9,
    "MAX_MSGS_POR_DIA": 100,
    "EVOLUTION_API_KEY": "evo-key",
    "HUMAN_DELAY_SCALE": 0,
}

_SILENT_SHARE = 0.05  # talked to Julia months ago: reactivation candidates
_OPTED_OUT_SHARE = 0.02  # opted out before the simulation: never reached


# The wire -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WireSend:
    at: datetime  # the fake clock
    instance: str
    number: str
    text: str


class WireSender:
    """The real sender, with every text written to the wire log (fake time) first."""

    def __init__(self, inner: MessageSender, clock: FakeClock, wire: list[WireSend]) -> None:
        self._inner = inner
        self._clock = clock
        self._wire = wire

    async def send_text(self, instance: str, number: str, text: str) -> str:
        self._wire.append(WireSend(self._clock(), instance, number, text))
        return await self._inner.send_text(instance, number, text)

    async def send_presence(self, instance: str, number: str, delay_ms: int) -> None:
        await self._inner.send_presence(instance, number, delay_ms)


# Configuration and the plan of events ---------------------------------------------------------


@dataclass(frozen=True)
class SimConfig:
    doctors: int = 2000
    days: int = 14
    workers: int = 4
    seed: int = 1
    start: datetime = MONDAY_7H
    # Past `days`, keep ticking (at most this long) until every eligible doctor was reached.
    extra_days: int = 21
    young_chip_age: timedelta = timedelta(days=5)
    reply_rate: float = 0.25  # of the messages that went out, answered some hours later
    stop_rate: float = 0.02  # ... answered with "pare"


@dataclass(frozen=True)
class Plan:
    disconnect: tuple[datetime, datetime]  # UNSTABLE_CHIP is down
    pause: tuple[datetime, datetime]  # julia_status pausado
    pilot: tuple[datetime, datetime]  # PILOT_MODE=true
    second_campaign_at: datetime  # an operator starts another campaign (under PILOT_MODE)
    import_at: datetime  # newly imported doctors join the running campaigns
    queued_opt_outs: list[datetime]  # a doctor whose message is queued opts out
    waiting_opt_outs: list[datetime]  # a doctor with a deferred message opts out


def _at(start: datetime, day: int, hour: int, minute: int = 0) -> datetime:
    local = start.astimezone(SP).date() + timedelta(days=day)
    return datetime.combine(local, time(hour, minute), SP)


def make_plan(cfg: SimConfig, settings: Settings, rng: random.Random) -> Plan:
    s = cfg.start
    if cfg.days >= 7:
        disconnect = (_at(s, 1, 10), _at(s, 1, 15))
        pause = (_at(s, 2, 13), _at(s, 2, 17))
        import_at = _at(s, 1, 12)
        pilot = (_at(s, 7, 0), _at(s, 9, 0))
        second = _at(s, 7, 8, 30)
    else:  # a short run: Monday's openers are followed up on Wednesday
        disconnect = (_at(s, 0, 9), _at(s, 0, 11, 30))
        pilot = (_at(s, 0, 13), _at(s, 1, 23))
        second = _at(s, 1, 8, 30)
        import_at = _at(s, 0, 9, 30)  # while the operator's campaign surely runs
        pause_day = min(2, cfg.days - 1)
        pause = (_at(s, pause_day, 9), _at(s, pause_day, 11, 30))
    open_minutes = [
        m
        for day in range(cfg.days)
        for m in _business_minutes(settings, _at(s, day, 0))
        if s <= m < s + timedelta(days=cfg.days)
    ]
    queued = sorted(rng.sample(open_minutes, max(4, cfg.doctors // 60)))
    waiting = sorted(rng.sample(open_minutes, max(3, cfg.doctors // 120)))
    return Plan(disconnect, pause, pilot, second, import_at, queued, waiting)


def _business_minutes(settings: Settings, midnight: datetime) -> list[datetime]:
    if midnight.weekday() not in settings.DIAS_ENVIO:
        return []
    first = datetime.combine(midnight.date(), settings.HORARIO_INICIO, SP)
    last = datetime.combine(midnight.date(), settings.HORARIO_FIM, SP)
    return [first + MINUTE * i for i in range(int((last - first) / MINUTE))]


# The world --------------------------------------------------------------------------------------


@dataclass
class SimDoctor:
    id: int
    phone: str
    # the campaign that may reach them: operador, operador2 (the campaign started under
    # PILOT_MODE), autonoma, reativacao; None: no campaign is for them
    reach: str | None
    opted_out_before: bool


@dataclass
class Attempt:
    at: datetime
    send_id: int
    status: str
    reason: str | None


@dataclass
class Worker:
    """One worker process: its own gateway, Valkey connection and Postgres pool."""

    db: asyncpg.Pool
    redis: aioredis.Redis
    limiter: Limiter
    sender: WireSender
    gateway: Gateway


@dataclass
class Invariant:
    name: str
    checked: int
    violations: int
    examples: list[str] = field(default_factory=list)


@dataclass
class Report:
    invariants: list[Invariant]
    sends_per_chip_day: dict[date, dict[str, int]]
    caps_per_chip_day: dict[date, dict[str, int]]
    deferrals: Counter[str]
    final_ledger: Counter[tuple[str, str]]
    totals: dict[str, Any]
    events: list[tuple[datetime, str]]

    @property
    def ok(self) -> bool:
        return all(i.violations == 0 for i in self.invariants)

    def table(self) -> str:
        width = max(len(i.name) for i in self.invariants)
        lines = [f"{'invariant':<{width}} | {'checked':>8} | violations"]
        lines.append(f"{'-' * width}-|-{'-' * 8}-|-----------")
        for inv in self.invariants:
            lines.append(f"{inv.name:<{width}} | {inv.checked:>8} | {inv.violations}")
        return "\n".join(lines)

    def violations_text(self) -> str:
        return "\n".join(
            f"{inv.name}: {example}" for inv in self.invariants for example in inv.examples
        )


# The simulation --------------------------------------------------------------------------------


class Simulation:
    def __init__(
        self,
        res: Resources,
        cfg: SimConfig,
        *,
        provider_sends: Callable[[], int] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.res = res
        self.cfg = cfg
        self.base_settings = res.settings
        self.settings = res.settings
        self.rng = random.Random(cfg.seed)
        self.plan = make_plan(cfg, self.settings, random.Random(cfg.seed + 1))
        self.clock = FakeClock(cfg.start)
        self.wire: list[WireSend] = []
        self.attempts: list[Attempt] = []
        self.events: list[tuple[datetime, str]] = []
        self.doctors: dict[str, SimDoctor] = {}  # by phone
        self.by_id: dict[int, SimDoctor] = {}
        self.chip_ids: dict[str, int] = {}
        self.warmup: dict[str, datetime | None] = {}
        self.workers: list[Worker] = []
        self.operator_campaigns: set[int] = set()  # started by a person: not autonomous
        self.autonomous_campaign = 0
        # What the simulation caused, with the fake moment it took effect.
        self.opted_out_at: dict[int, datetime] = {}
        self.queued_opt_outs: list[int] = []  # doctors opted out with a job in the queue
        self.waiting_opt_outs: list[int] = []  # ... with a deferred message in the ledger
        self.replies: dict[int, list[datetime]] = defaultdict(list)
        self.pauses: list[tuple[datetime, datetime | None]] = []
        self.pilots: list[tuple[datetime, datetime | None]] = []
        self.disconnects: list[tuple[datetime, datetime | None]] = []
        self._scheduled: list[tuple[datetime, int, str, int]] = []  # (at, seq, what, doctor)
        self._seq = itertools.count()
        self._seen_wire = 0
        self._phones = itertools.count(1)
        self.provider_sends = provider_sends  # texts the provider (FakeVendors) received
        self._progress = progress or (lambda _: None)
        self.ticks = 0
        self.concurrent_duplicates = 0
        self.reached_at: dict[int, datetime] = {}
        self.finished_at = cfg.start
        self.imported = False
        # The limiter's counters (Valkey) against the wire: (what, counted, on the wire).
        self.counter_audits: list[tuple[str, int, int]] = []
        self._audited: set[date] = set()

    # Set-up --------------------------------------------------------------------------------

    async def setup(self) -> None:
        db = self.res.db
        now = self.cfg.start
        await self._seed_world(db, now)
        await self._add_doctors(db, self.cfg.doctors, now)
        for instance in CHIPS:
            warmup = now - self.cfg.young_chip_age if instance == YOUNG_CHIP else None
            self.chip_ids[instance] = await db.fetchval(
                "INSERT INTO chips (instance, warmup_started_at) VALUES ($1, $2) RETURNING id",
                instance,
                warmup,
            )
            self.warmup[instance] = warmup
            await chips_repo.set_chip_state(db, instance, "open")  # as connection.update would
        self.operator_campaigns.add(
            await self._start_campaign(OPERATOR_CAMPAIGN, "oferta", "Clínica Médica", now)
        )
        self.autonomous_campaign = await self._start_campaign(
            AUTONOMOUS_CAMPAIGN, "descoberta", "Pediatria", now, autonomous=True
        )
        await self._build_workers()

    async def _seed_world(self, db: asyncpg.Pool, now: datetime) -> None:
        specialties = {}
        for name in ("Clínica Médica", "Pediatria", "Cardiologia", "Ortopedia"):
            specialties[name] = await db.fetchval(
                "INSERT INTO specialties (name) VALUES ($1) RETURNING id", name
            )
        self.specialties = specialties
        hospitals = (
            ("Hospital São Luiz", "São Paulo", "Zona Sul", _OFFERED),
            ("Hospital Vera Cruz", "Campinas", "Campinas", _OFFERED),
            ("Santa Casa de Ribeirão", "Ribeirão Preto", "Ribeirão Preto", ("Ortopedia",)),
        )
        for name, city, region, offered in hospitals:
            hospital = await db.fetchval(
                """INSERT INTO hospitals (name, city, state, region) VALUES ($1, $2, 'SP', $3)
                   RETURNING id""",
                name,
                city,
                region,
            )
            for day in range(2, 45, 3):
                for i, specialty in enumerate(offered):
                    hour, period = (19, "noturno") if i % 2 == 0 else (7, "diurno")
                    starts = _at(now, day, hour)
                    await db.execute(
                        """INSERT INTO shifts (hospital_id, specialty_id, sector, starts_at,
                                               ends_at, period, pay_cents)
                           VALUES ($1, $2, 'PS', $3, $4, $5, $6)""",
                        hospital,
                        specialties[specialty],
                        starts,
                        starts + timedelta(hours=12),
                        period,
                        150000 + 5000 * (day % 7),
                    )

    async def _add_doctors(
        self,
        db: asyncpg.Pool | asyncpg.Connection,
        count: int,
        now: datetime,
        *,
        fresh: bool = False,
    ) -> list[SimDoctor]:
        """`count` doctors of mixed profiles; `fresh` ones (an import) are all reachable by
        the operator's campaign."""
        weights = [p[0] for p in _PROFILES]
        added = []
        for _ in range(count):
            n = next(self._phones)
            profile = _PROFILES[0] if fresh else self.rng.choices(_PROFILES, weights)[0]
            _, specialty, regions, reach = profile
            region = self.rng.choice(regions)
            first = self.rng.choice(_FIRST_NAMES)
            title = "Dra." if first in _FEMALE else "Dr."
            name = f"{title} {first} {self.rng.choice(_SURNAMES)}"
            silent = not fresh and self.rng.random() < _SILENT_SHARE
            opted_out = not fresh and self.rng.random() < _OPTED_OUT_SHARE
            if silent and reach is None:
                reach = "reativacao"
            phone = f"55119{n:08d}"
            doctor_id = await db.fetchval(
                """INSERT INTO doctors (phone, name, specialty_id, city, state, region,
                                        last_inbound_at, opted_out_at, opt_out_reason, source)
                   VALUES ($1, $2, $3, $4, 'SP', $5, $6, $7, $8, 'simulacao') RETURNING id""",
                phone,
                name,
                self.specialties[specialty] if specialty else None,
                _CITY[region],
                region,
                now - timedelta(days=90) if silent else None,
                now - timedelta(days=30) if opted_out else None,
                "pedido do médico" if opted_out else None,
            )
            doctor = SimDoctor(doctor_id, phone, reach, opted_out)
            self.doctors[phone] = doctor
            self.by_id[doctor_id] = doctor
            added.append(doctor)
        return added

    async def _build_workers(self) -> None:
        await self._close_workers()
        settings = self.settings
        url = str(settings.EVOLUTION_API_URL)
        key = settings.EVOLUTION_API_KEY.get_secret_value() if settings.EVOLUTION_API_KEY else ""
        for i in range(self.cfg.workers):
            pool = await core_db.create_pool(settings.database_dsn, min_size=1, max_size=3)
            redis = aioredis.from_url(settings.redis_dsn)
            limiter = Limiter(redis, pool)
            sender = WireSender(EvolutionSender(self.res.http, url, key), self.clock, self.wire)
            gateway = Gateway(
                db=pool,
                sender=sender,
                status=StatusReader(pool, max_age=0),
                settings=settings,
                limiter=limiter,
                clock=self.clock,
                rng=random.Random(self.cfg.seed * 100 + i),
                freshen=Freshener(pool, settings),
            )
            self.workers.append(Worker(pool, redis, limiter, sender, gateway))

    async def _close_workers(self) -> None:
        for worker in self.workers:
            await worker.redis.aclose()
            await worker.db.close()
        self.workers = []

    async def close(self) -> None:
        await self._close_workers()

    # The loop --------------------------------------------------------------------------------

    async def run(self) -> Report:
        started = wallclock.perf_counter()
        await self.setup()
        now = self.cfg.start
        end = now + timedelta(days=self.cfg.days)
        hard_end = end + timedelta(days=self.cfg.extra_days)
        last_day = -1
        while now < hard_end:
            if now >= end and not self.unreached():
                break
            day = (now - self.cfg.start).days
            if day != last_day:
                last_day = day
                self._progress(
                    f"{wallclock.perf_counter() - started:6.1f} s  day {day + 1} "
                    f"({now:%a %d/%m %H:%M}): {len(self.wire)} sends so far, "
                    f"{len(self.unreached())} eligible doctors not reached yet"
                )
            await self.tick(now)
            self.finished_at = now
            now = self._next_tick(now)
        report = await self.report(wallclock.perf_counter() - started)
        return report

    async def tick(self, now: datetime) -> None:
        self.ticks += 1
        self.clock.set(now)
        await self._events(now)
        settings = self.settings
        db = self.res.db
        written: list[int] = []
        # The scheduler's table (app/workers/scheduler.py), with the fake clock's now.
        result = await campaigns.process(db, settings, now=now, rng=self.rng)
        written.extend(result.written)
        if now.minute % 5 == 0:
            written.extend(await followups.process(db, settings, now=now, rng=self.rng))
        if now.minute == 0 and not settings.PILOT_MODE:  # as outreach_jobs.reativacao
            async with db.acquire() as conn, conn.transaction():
                await followups.reactivation(conn, settings, now=now)
        jobs = list(dict.fromkeys([*written, *(s for s, _ in await dispatch.due(db, now))]))
        # Opt-outs that land while these jobs wait in the queue.
        await self._opt_outs_in_flight(now, jobs)
        await self._deliver(now, jobs)
        self._after_sends()
        local = now.astimezone(SP)
        if local.date() not in self._audited and local.time() >= self.settings.HORARIO_FIM:
            self._audited.add(local.date())
            await self._audit_counters(now)

    def _next_tick(self, now: datetime) -> datetime:
        following = now + MINUTE
        if self._dense(following):
            return following
        later = (now + SPARSE).replace(minute=0, second=0, microsecond=0)
        return min(later, self._next_dense_start(now))

    def _dense(self, moment: datetime) -> bool:
        local = moment.astimezone(SP)
        if local.weekday() not in self.settings.DIAS_ENVIO:
            return False
        opens = datetime.combine(local.date(), self.settings.HORARIO_INICIO, SP) - EDGE
        closes = datetime.combine(local.date(), self.settings.HORARIO_FIM, SP) + EDGE
        return opens <= local < closes

    def _next_dense_start(self, now: datetime) -> datetime:
        local = now.astimezone(SP)
        for offset in range(9):
            day = local.date() + timedelta(days=offset)
            if day.weekday() in self.settings.DIAS_ENVIO:
                opens = datetime.combine(day, self.settings.HORARIO_INICIO, SP) - EDGE
                if opens > now:
                    return opens
        raise AssertionError("no business day ahead")

    # Deliveries ------------------------------------------------------------------------------

    async def _deliver(self, now: datetime, jobs: list[int]) -> None:
        """Every job twice: half of the copies right next to each other (two workers take
        them at the same moment), half redelivered later in the tick."""
        if not jobs:
            return
        order: list[int] = []
        later: list[int] = []
        for send_id in self.rng.sample(jobs, len(jobs)):
            if self.rng.random() < 0.5:
                order += [send_id, send_id]
                self.concurrent_duplicates += 1
            else:
                order.append(send_id)
                later.append(send_id)
        self.rng.shuffle(later)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for send_id in order + later:
            queue.put_nowait(send_id)
        doctor_gap = timedelta(hours=self.settings.MEDICO_INTERVALO_HORAS)

        async def work(worker: Worker) -> None:
            while not queue.empty():
                send_id = queue.get_nowait()
                # What the worker job send_outbound does.
                outcome = await worker.gateway.deliver(send_id)
                async with worker.db.acquire() as conn, conn.transaction():
                    await dispatch.settle(conn, send_id, doctor_gap=doctor_gap)
                self.attempts.append(Attempt(now, send_id, outcome.status, outcome.reason))

        await asyncio.gather(*(work(w) for w in self.workers))

    def _after_sends(self) -> None:
        """Some doctors answer what they got, a few with "pare"."""
        for send in self.wire[self._seen_wire :]:
            doctor = self.doctors.get(send.number)
            if doctor is None:
                continue
            self.reached_at.setdefault(doctor.id, send.at)
            roll = self.rng.random()
            if roll < self.cfg.stop_rate:
                delay = timedelta(minutes=self.rng.uniform(5, 180))
                self._schedule(send.at + delay, "pare", doctor.id)
            elif roll < self.cfg.stop_rate + self.cfg.reply_rate:
                delay = timedelta(minutes=self.rng.uniform(15, 8 * 60))
                self._schedule(send.at + delay, "resposta", doctor.id)
        self._seen_wire = len(self.wire)

    def _schedule(self, at: datetime, what: str, doctor_id: int) -> None:
        heapq.heappush(self._scheduled, (at, next(self._seq), what, doctor_id))

    # Events ----------------------------------------------------------------------------------

    async def _start_campaign(
        self, name: str, kind: str, specialty: str, now: datetime, *, autonomous: bool = False
    ) -> int:
        spec = campaigns.CampaignSpec(
            name=name,
            kind=kind,
            specialties=[specialty],
            autonomous=autonomous,
            created_by="julia" if autonomous else "operador",
        )
        async with self.res.db.acquire() as conn, conn.transaction():
            campaign = await campaigns.create(conn, spec, now=now, tz=SP)
            await campaigns.start(conn, campaign.id, now=now)
        return campaign.id

    async def _autonomous_waiting(self) -> bool:
        return bool(
            await self.res.db.fetchval(
                """SELECT EXISTS (SELECT 1 FROM outbound_sends
                                  WHERE autonomous AND status IN ('pending', 'deferred'))"""
            )
        )

    async def _events(self, now: datetime) -> None:
        plan = self.plan
        if plan.pause[0] <= now < plan.pause[1] and not self._open(self.pauses):
            await commands.pause(self.res, motivo="simulação: pausa", via="cli", by="simulacao")
            self._begin(self.pauses, now, "julia pausada")
        elif now >= plan.pause[1] and self._open(self.pauses):
            await commands.resume(self.res, via="cli", by="simulacao")
            self._end(self.pauses, now, "julia retomada")
        if plan.disconnect[0] <= now < plan.disconnect[1] and not self._open(self.disconnects):
            await chips_repo.set_chip_state(self.res.db, UNSTABLE_CHIP, "close")
            self._begin(self.disconnects, now, f"{UNSTABLE_CHIP} desconectado")
        elif now >= plan.disconnect[1] and self._open(self.disconnects):
            await chips_repo.set_chip_state(self.res.db, UNSTABLE_CHIP, "open")
            self._end(self.disconnects, now, f"{UNSTABLE_CHIP} reconectado")
        if (
            plan.pilot[0] <= now < plan.pilot[1]
            and not self._open(self.pilots)
            # switched on while autonomous messages wait in the ledger (the gateway must
            # hold them), or two hours into the window at the latest
            and (now >= plan.pilot[0] + timedelta(hours=2) or await self._autonomous_waiting())
        ):
            await self._set_pilot(True)
            self._begin(self.pilots, now, "PILOT_MODE=true")
        elif now >= plan.pilot[1] and self._open(self.pilots):
            await self._set_pilot(False)
            self._end(self.pilots, now, "PILOT_MODE=false")
        if plan.second_campaign_at <= now and len(self.operator_campaigns) < 2:
            self.operator_campaigns.add(
                await self._start_campaign(SECOND_OPERATOR_CAMPAIGN, "oferta", "Cardiologia", now)
            )
            self.events.append((now, f"operador inicia '{SECOND_OPERATOR_CAMPAIGN}'"))
        if plan.import_at <= now and not self.imported:
            added = await self._add_doctors(
                self.res.db, max(5, self.cfg.doctors // 20), now, fresh=True
            )
            self.imported = True
            self.events.append((now, f"{len(added)} médicos de clínica médica importados"))
            first = await outreach.get_campaign(self.res.db, min(self.operator_campaigns))
            if first is None or first.status != "ativa":
                # A concluded campaign takes no one new: nobody is there to reach them.
                for doctor in added:
                    doctor.reach = None
                self.events.append((now, "(a campanha já terminou: não serão contatados)"))
        while self._scheduled and self._scheduled[0][0] <= now:
            _, _, what, doctor_id = heapq.heappop(self._scheduled)
            if doctor_id in self.opted_out_at:
                continue
            await self._reply(doctor_id, now, "pare" if what == "pare" else "oi, pode falar")
            if what == "pare":
                await self._opt_out(doctor_id, now)

    @staticmethod
    def _open(windows: list[tuple[datetime, datetime | None]]) -> bool:
        return bool(windows) and windows[-1][1] is None

    def _begin(
        self, windows: list[tuple[datetime, datetime | None]], now: datetime, e: str
    ) -> None:
        windows.append((now, None))
        self.events.append((now, e))

    def _end(self, windows: list[tuple[datetime, datetime | None]], now: datetime, e: str) -> None:
        windows[-1] = (windows[-1][0], now)
        self.events.append((now, e))

    async def _set_pilot(self, on: bool) -> None:
        """A restart of every process with PILOT_MODE changed."""
        self.settings = self.base_settings.model_copy(update={"PILOT_MODE": on})
        await self._build_workers()

    async def _reply(self, doctor_id: int, now: datetime, text: str) -> None:
        """What intake does with a doctor's message, on the fake clock: the number they wrote
        to is theirs, store it, touch the conversation and the doctor, stop the outreach
        waiting for them."""
        doctor = self.by_id[doctor_id]
        instance = next((w.instance for w in self.wire if w.number == doctor.phone), CHIPS[0])
        async with self.res.db.acquire() as conn, conn.transaction():
            chip_id = await chips_repo.ensure_chip(conn, instance)
            await chips_repo.assign_chip(conn, doctor_id, chip_id)
            conversation = await conversations.get_or_open(conn, doctor_id, chip_id)
            await conversations.insert_message(
                conn,
                conversation_id=conversation.id,
                doctor_id=doctor_id,
                direction="in",
                author="doctor",
                instance=instance,
                provider_message_id=f"SIM{next(self._seq):012d}",
                remote_jid=f"{doctor.phone}@s.whatsapp.net",
                body=text,
                sent_at=now,
                processed=True,
            )
            await conn.execute(
                """UPDATE conversations SET last_inbound_at = $2, last_message_at = $2
                   WHERE id = $1""",
                conversation.id,
                now,
            )
            await doctors_repo.touch_inbound(conn, doctor_id, now)
            await outreach.stop_for_doctor(conn, doctor_id, "respondeu", at=now)
        self.replies[doctor_id].append(now)

    async def _opt_out(self, doctor_id: int, now: datetime, *, cancel_queue: bool = True) -> None:
        """What a turn does with "pare" (without the confirmation, a reply). Without
        `cancel_queue` only the doctor is marked (as an operator's SQL would): the gateway
        alone must keep what is queued from leaving."""
        async with self.res.db.acquire() as conn, conn.transaction():
            await doctors_repo.mark_opted_out(conn, doctor_id, "pedido do médico", now)
            if cancel_queue:
                await outreach.stop_for_doctor(conn, doctor_id, "opt_out", at=now)
        self.opted_out_at.setdefault(doctor_id, now)

    async def _opt_outs_in_flight(self, now: datetime, jobs: list[int]) -> None:
        plan = self.plan
        if plan.queued_opt_outs and plan.queued_opt_outs[0] <= now and jobs:
            rows = await self.res.db.fetch(
                """SELECT DISTINCT doctor_id FROM outbound_sends
                   WHERE id = ANY($1::bigint[]) AND status IN ('pending', 'deferred')""",
                jobs,
            )
            candidates = [r["doctor_id"] for r in rows if r["doctor_id"] not in self.opted_out_at]
            if candidates:
                plan.queued_opt_outs.pop(0)
                doctor_id = self.rng.choice(sorted(candidates))
                # Alternate: the full path ("pare" arrives), or only the doctor marked.
                cancel = len(self.queued_opt_outs) % 2 == 0
                if cancel:
                    await self._reply(doctor_id, now, "pare")
                await self._opt_out(doctor_id, now, cancel_queue=cancel)
                self.queued_opt_outs.append(doctor_id)
        if plan.waiting_opt_outs and plan.waiting_opt_outs[0] <= now:
            rows = await self.res.db.fetch(
                """SELECT DISTINCT doctor_id FROM outbound_sends
                   WHERE proactive AND status = 'deferred' AND not_before > $1""",
                now,
            )
            candidates = [r["doctor_id"] for r in rows if r["doctor_id"] not in self.opted_out_at]
            if candidates:
                plan.waiting_opt_outs.pop(0)
                doctor_id = self.rng.choice(sorted(candidates))
                cancel = len(self.waiting_opt_outs) % 2 == 0
                await self._opt_out(doctor_id, now, cancel_queue=cancel)
                self.waiting_opt_outs.append(doctor_id)

    async def _audit_counters(self, now: datetime) -> None:
        """After closing: the limiter counted every send of the day on each chip, and every
        send of the last week to each doctor, no more and no less than the wire shows."""
        day_start = datetime.combine(now.astimezone(SP).date(), time(0), SP)
        week_start = now - timedelta(days=7)
        redis = self.res.redis
        for instance, chip_id in self.chip_ids.items():
            counted = await redis.zcount(_chip_key(chip_id), day_start.timestamp(), "+inf")
            wire = sum(1 for w in self.wire if w.instance == instance and w.at >= day_start)
            self.counter_audits.append((f"{instance} {now:%d/%m}", counted, wire))
        recent = Counter(w.number for w in self.wire if w.at > week_start)
        for number, wire in recent.items():
            doctor = self.doctors[number]
            counted = await redis.zcount(
                _doctor_key(doctor.id), f"({week_start.timestamp()}", "+inf"
            )
            self.counter_audits.append((f"{number} {now:%d/%m}", counted, wire))

    # Who must be reached ---------------------------------------------------------------------

    def eligible(self) -> list[SimDoctor]:
        """Doctors some campaign must reach: in a campaign's specialty and region (or silent
        for months), not opted out before they were reached."""
        return [
            d
            for d in self.doctors.values()
            if d.reach is not None
            and (d.reach != "operador2" or len(self.operator_campaigns) > 1)
            and not d.opted_out_before
            and (d.id not in self.opted_out_at or d.id in self.reached_at)
        ]

    def unreached(self) -> list[SimDoctor]:
        return [d for d in self.eligible() if d.id not in self.reached_at]

    # The verdict -------------------------------------------------------------------------------

    def caps(self, instance: str, at: datetime) -> Caps:
        return chip_caps(
            max_hourly=self.base_settings.MAX_MSGS_POR_HORA,
            max_daily=self.base_settings.MAX_MSGS_POR_DIA,
            warmup_started_at=self.warmup[instance],
            warmup_days=self.base_settings.CHIP_AQUECIMENTO_DIAS,
            now=at,
        )

    async def report(self, runtime_s: float) -> Report:
        rows = await self.res.db.fetch(
            """SELECT id, kind, campaign_id, doctor_id, to_phone, body, status, reason
               FROM outbound_sends WHERE proactive"""
        )
        ledger = {(r["to_phone"], r["body"]): r for r in rows}
        by_id = {r["id"]: r for r in rows}
        invariants = check(self, ledger, by_id)
        per_day: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CHIPS, 0))
        caps_day: dict[date, dict[str, int]] = {}
        for send in self.wire:
            day = send.at.astimezone(SP).date()
            per_day[day][send.instance] += 1
        for day in per_day:
            noon = datetime.combine(day, time(12), SP)
            caps_day[day] = {c: self.caps(c, noon).daily for c in CHIPS}
        # Every deferral the gateway recorded (outbound_sends.reason, kept decision by
        # decision in outbound_decisions).
        decided = await self.res.db.fetch(
            """SELECT d.reason, count(*) AS n
               FROM outbound_decisions d JOIN outbound_sends s ON s.id = d.outbound_send_id
               WHERE s.proactive AND d.status = 'deferred' GROUP BY 1"""
        )
        deferrals = Counter({r["reason"] or "?": r["n"] for r in decided})
        final = Counter((r["status"], r["reason"] or "") for r in rows)
        reached_last = max(self.reached_at.values(), default=None)
        eligible = self.eligible()
        all_reached = not self.unreached()
        last_needed = max(
            (self.reached_at[d.id] for d in eligible if d.id in self.reached_at), default=None
        )
        totals: dict[str, Any] = {
            "doctors": len(self.doctors),
            "eligible": len(eligible),
            "reached": sum(1 for d in eligible if d.id in self.reached_at),
            "all_reached": all_reached,
            "all_reached_on": last_needed if all_reached else None,
            "all_reached_day": (last_needed - self.cfg.start).days + 1
            if all_reached and last_needed
            else None,
            "last_first_contact": reached_last,
            "simulated_until": self.finished_at,
            "ticks": self.ticks,
            "sends": len(self.wire),
            "deliveries": len(self.attempts),
            "concurrent_duplicates": self.concurrent_duplicates,
            "replies": sum(len(r) for r in self.replies.values()),
            "opt_outs": len(self.opted_out_at),
            "opt_outs_queued": len(self.queued_opt_outs),
            "opt_outs_waiting": len(self.waiting_opt_outs),
            "runtime_s": round(runtime_s, 1),
        }
        return Report(
            invariants,
            dict(sorted(per_day.items())),
            caps_day,
            deferrals,
            final,
            totals,
            self.events,
        )


def _within(at: datetime, windows: list[tuple[datetime, datetime | None]], end: datetime) -> bool:
    return any(start <= at < (stop or end) for start, stop in windows)


def check(
    sim: Simulation,
    ledger: dict[tuple[str, str], asyncpg.Record],
    by_id: dict[int, asyncpg.Record],
) -> list[Invariant]:
    """Every outreach rule, from the wire log and the simulation's own events."""
    settings = sim.base_settings
    wire = sorted(sim.wire, key=lambda w: w.at)
    end = sim.finished_at
    out: list[Invariant] = []

    def add(name: str, checked: int, bad: list[str]) -> None:
        out.append(Invariant(name, checked, len(bad), bad[:5]))

    def kind_of(row: asyncpg.Record) -> str:
        """opener_ or followup_, then operador (an operator's campaign) or autonoma (the
        autonomous campaign, reactivation, a cadence without a campaign)."""
        step = "followup" if row["kind"] == "followup" else "opener"
        owner = "operador" if row["campaign_id"] in sim.operator_campaigns else "autonoma"
        return f"{step}_{owner}"

    def what(send: WireSend) -> str:
        """What the message on the wire was, or ? when no ledger row wrote it."""
        row = ledger.get((send.number, send.text))
        return "?" if row is None else kind_of(row)

    by_chip: dict[str, list[datetime]] = defaultdict(list)
    by_doctor: dict[str, list[WireSend]] = defaultdict(list)
    for send in wire:
        by_chip[send.instance].append(send.at)
        by_doctor[send.number].append(send)

    # Chip caps: each send, against the chip's cap at that moment (warm-up included).
    bad_hour: list[str] = []
    bad_day: list[str] = []
    for instance, times in by_chip.items():
        for i, at in enumerate(times):
            caps = sim.caps(instance, at)
            in_hour = i + 1 - bisect.bisect_right(times, at - timedelta(hours=1), 0, i + 1)
            if in_hour > caps.hourly:
                bad_hour.append(f"{instance} {at:%d/%m %H:%M}: {in_hour} in 60 min > {caps.hourly}")
            day_start = datetime.combine(at.astimezone(SP).date(), time(0), SP)
            in_day = i + 1 - bisect.bisect_left(times, day_start, 0, i + 1)
            if in_day > caps.daily:
                bad_day.append(f"{instance} {at:%d/%m %H:%M}: {in_day} today > {caps.daily}")
    add("chip: sends in any rolling 60 min <= hourly cap", len(wire), bad_hour)
    add("chip: sends per São Paulo day <= daily cap (warm-up)", len(wire), bad_day)

    # Business hours, checked without the production helper.
    def open_at(at: datetime) -> bool:
        local = at.astimezone(SP)
        return (
            local.weekday() in settings.DIAS_ENVIO
            and settings.HORARIO_INICIO <= local.time() < settings.HORARIO_FIM
        )

    closed_attempts = sum(1 for a in sim.attempts if not open_at(a.at))
    bad = [f"{w.number} {w.at:%a %d/%m %H:%M}" for w in wire if not open_at(w.at)]
    add("0 proactive sends outside business hours", closed_attempts + len(wire), bad)

    # Opt-out: nothing once the doctor opted out (they opt out before the tick's deliveries).
    bad = []
    after_opt_out = 0
    for doctor_id, at in sim.opted_out_at.items():
        phone = sim.by_id[doctor_id].phone
        for w in by_doctor.get(phone, []):
            if w.at >= at:
                bad.append(f"{phone} opted out {at:%d/%m %H:%M}, got one {w.at:%d/%m %H:%M}")
    for attempt in sim.attempts:
        row = by_id.get(attempt.send_id)
        opted = sim.opted_out_at.get(row["doctor_id"]) if row else None
        if opted is not None and attempt.at >= opted:
            after_opt_out += 1
    add("0 sends to a doctor after their opt-out", after_opt_out, bad)

    # Pause and PILOT_MODE: deliveries were attempted in the windows, nothing left.
    in_pause = sum(1 for a in sim.attempts if _within(a.at, sim.pauses, end))
    bad = [f"{w.number} {w.at:%d/%m %H:%M}" for w in wire if _within(w.at, sim.pauses, end)]
    add("0 sends while Julia is paused", in_pause, bad)

    # PILOT_MODE: autonomous outreach (the autonomous campaign, reactivation and their
    # cadence) stops; operators' campaigns and their follow-ups go on.
    in_pilot = 0
    for a in sim.attempts:
        row = by_id.get(a.send_id)
        if row is not None and _within(a.at, sim.pilots, end):
            in_pilot += kind_of(row).endswith("_autonoma")
    bad = [
        f"{what(w)} to {w.number} {w.at:%d/%m %H:%M}"
        for w in wire
        if _within(w.at, sim.pilots, end) and not what(w).endswith("_operador")
    ]
    add("0 autonomous sends under PILOT_MODE", in_pilot, bad)
    operator_in_pilot = sum(
        1 for w in wire if _within(w.at, sim.pilots, end) and what(w).endswith("_operador")
    )
    add(
        "operator campaigns keep sending under PILOT_MODE",
        operator_in_pilot,
        [] if operator_in_pilot or not sim.pilots else ["no operator message under PILOT_MODE"],
    )

    # A reply stops the cadence for good, and no campaign writes to a live conversation
    # (the doctor wrote in the last LIVE_CONVERSATION); a later campaign may start afresh.
    live = outreach.LIVE_CONVERSATION
    bad = []
    for doctor_id, replies in sim.replies.items():
        phone = sim.by_id[doctor_id].phone
        current: datetime | None = None
        reopened = False  # a new opener since the reply: its cadence may follow
        for w in by_doctor.get(phone, []):
            last = max((r for r in replies if r <= w.at), default=None)
            if last is None:
                continue
            if last != current:
                current, reopened = last, False
            when = f"{w.at:%d/%m %H:%M} after reply {last:%d/%m %H:%M}"
            if what(w).startswith("followup"):
                if not reopened:
                    bad.append(f"follow-up to {phone} {when}")
            else:
                if w.at < last + live:
                    bad.append(f"opener to {phone} {when}")
                reopened = True
    add("no follow-up after a reply, no opener while it is live", len(sim.replies), bad)

    # Per doctor: the minimum interval, the weekly cap, one chip.
    gap = timedelta(hours=settings.MEDICO_INTERVALO_HORAS)
    week_cap = settings.MEDICO_MAX_POR_SEMANA
    pairs = 0
    bad_gap: list[str] = []
    bad_week: list[str] = []
    bad_chip: list[str] = []
    for number, sends in by_doctor.items():
        for prev, cur in itertools.pairwise(sends):
            pairs += 1
            if cur.at - prev.at < gap:
                bad_gap.append(f"{number}: {prev.at:%d/%m %H:%M} then {cur.at:%d/%m %H:%M}")
        for i, cur in enumerate(sends):
            in_week = sum(1 for s in sends[: i + 1] if s.at > cur.at - timedelta(days=7))
            if in_week > week_cap:
                bad_week.append(f"{number}: {in_week} in 7 days at {cur.at:%d/%m %H:%M}")
        instances = {s.instance for s in sends}
        if len(instances) > 1:
            bad_chip.append(f"{number}: {sorted(instances)}")
    add(
        f"doctor: >= {settings.MEDICO_INTERVALO_HORAS} h between proactive messages", pairs, bad_gap
    )
    add(f"doctor: <= {week_cap} proactive messages in any 7 days", len(wire), bad_week)
    add("doctor: always the same chip", len(by_doctor), bad_chip)

    # Once: no text twice to a doctor; the ledger and the wire agree one to one.
    copies = Counter((w.number, w.text) for w in wire)
    bad = [f"{n}: {t[:40]!r} x{c}" for (n, t), c in copies.items() if c > 1]
    add("no text sent twice to the same doctor", len(wire), bad)
    sent_rows = [r for r in by_id.values() if r["status"] == "sent"]
    bad = [
        f"ledger row {r['id']} sent, not on the wire"
        for r in sent_rows
        if (r["to_phone"], r["body"]) not in copies
    ]
    for w in wire:
        row = ledger.get((w.number, w.text))
        if row is None or row["status"] != "sent":
            state = f"row {row['id']} {row['status']}/{row['reason']}" if row else "no row"
            bad.append(f"wire send to {w.number} {w.at:%d/%m %H:%M}: {state}")
    received = sim.provider_sends() if sim.provider_sends else len(wire)
    if received != len(wire):
        bad.append(f"the provider received {received} texts, the wire log has {len(wire)}")
    add("wire log = ledger rows marked sent = provider's record", len(wire), bad)

    # The limiter's counters saw exactly what went out (a lost slot would let a chip or a
    # doctor get more than their caps allow).
    bad = [f"{what_}: counted {c}, sent {w}" for what_, c, w in sim.counter_audits if c != w]
    add("limiter counters (Valkey) = the wire, each evening", len(sim.counter_audits), bad)

    # Nothing dropped without a cause the simulation gave: a reply or an opt-out.
    dropped = [r for r in by_id.values() if r["status"] in ("cancelled", "failed", "blocked")]
    bad = []
    for r in dropped:
        why = r["reason"]
        if why == "opt_out" and r["doctor_id"] in sim.opted_out_at:
            continue
        if why == "respondeu" and r["doctor_id"] in sim.replies:
            continue
        bad.append(f"row {r['id']} ({r['kind']}) to {r['to_phone']}: {r['status']}/{why}")
    add("no message dropped but for an opt-out or a reply", len(dropped), bad)

    # Openers: no two doctors got the same text.
    openers = [w for w in wire if what(w).startswith("opener")]
    receivers: dict[str, set[str]] = defaultdict(set)
    for w in openers:
        receivers[w.text].add(w.number)
    bad = [f"{len(n)} doctors got {t[:50]!r}" for t, n in receivers.items() if len(n) > 1]
    add("distinct openers (no two doctors got the same text)", len(openers), bad)

    # Everyone eligible was reached.
    eligible = sim.eligible()
    missing = [d for d in eligible if d.id not in sim.reached_at]
    bad = [f"{d.phone} ({d.reach}) never reached" for d in missing]
    add("every eligible doctor reached", len(eligible), bad)
    return out
