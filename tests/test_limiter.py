"""The proactive-send limiter against the real Valkey and Postgres, on a fake clock: every
cap holds, a refusal names its rule and the earliest moment it could pass, concurrent
workers never share the last slot, and the counters survive Redis losing its data."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from app.core.resources import Resources
from app.domain.outbound.limiter import EPOCH_KEY, Admission, Limiter, Limits
from app.domain.outbound.pacing import Caps, local_day_bounds, send_gap
from tests.support.outreach import SP, WEDNESDAY_10H, FakeClock

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
OPEN_DAY = 12 * 3600.0


def sp(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """São Paulo time around December 2026 (days past the 20th are November's): December
    2nd is a Wednesday, the 7th a Monday."""
    month = 11 if day > 20 else 12
    return datetime(2026, month, day, hour, minute, second, tzinfo=SP)


def limits(
    now: datetime,
    *,
    hourly: int = 1000,
    daily: int = 10_000,
    gap_s: float = 0.0,
    doctor_gap: timedelta = timedelta(0),
    doctor_week: int = 1000,
) -> Limits:
    """What the gateway passes: the caps and the São Paulo day that contains `now`.
    Whatever a test does not set does not bind."""
    day_start, day_end = local_day_bounds(now, SP)
    return Limits(hourly, daily, day_start, day_end, gap_s, doctor_gap, doctor_week)


async def admit(
    limiter: Limiter,
    send_id: int,
    now: datetime,
    *,
    chip: int = 1,
    doctor: int | None = None,
    **caps: Any,
) -> Admission:
    """Admit `send_id` at `now`; each send has its own doctor unless one is given."""
    return await limiter.admit(
        send_id=send_id,
        chip_id=chip,
        doctor_id=send_id if doctor is None else doctor,
        now=now,
        limits=limits(now, **caps),
    )


@pytest.fixture
def limiter(resources: Resources) -> Limiter:
    return Limiter(resources.redis, resources.db)


@pytest.fixture
async def limiters(resources: Resources) -> AsyncIterator[list[Limiter]]:
    """Eight limiters, each on its own Redis client: eight workers."""
    clients = [Redis.from_url(resources.settings.redis_dsn) for _ in range(8)]
    try:
        yield [Limiter(client, resources.db) for client in clients]
    finally:
        for client in clients:
            await client.aclose()


# The chip's rolling hour ------------------------------------------------------------------


async def test_hourly_cap_names_the_rule_and_when_the_oldest_send_leaves_the_hour(
    limiter: Limiter,
) -> None:
    t = WEDNESDAY_10H
    for send_id, minutes in enumerate((0, 20, 40), start=1):
        assert (await admit(limiter, send_id, t + minutes * MINUTE, hourly=3)).admitted
    assert await admit(limiter, 4, t + 50 * MINUTE, hourly=3) == Admission(
        "cap_hora_chip", t + HOUR
    )
    assert (await admit(limiter, 4, t + HOUR - SECOND, hourly=3)).rule == "cap_hora_chip"
    assert (await admit(limiter, 4, t + HOUR, hourly=3)).admitted
    # now 10:20, 10:40 and 11:00 are in the hour: the next slot frees at 11:20
    refused = await admit(limiter, 5, t + 65 * MINUTE, hourly=3)
    assert refused == Admission("cap_hora_chip", t + 80 * MINUTE)
    assert refused.retry_at is not None and refused.retry_at.tzinfo is not None
    # another chip has its own hour
    assert (await admit(limiter, 5, t + 65 * MINUTE, chip=2, hourly=3)).admitted


async def test_hourly_cap_holds_in_every_rolling_hour(limiter: Limiter) -> None:
    rng = random.Random(11)
    clock = FakeClock()
    cap = 5
    admitted: list[datetime] = []
    for send_id in range(300):
        now = clock.advance(rng.randint(1, 600) * SECOND)
        result = await admit(limiter, send_id, now, hourly=cap)
        in_hour = [t for t in admitted if t > now - HOUR]
        if result.admitted:
            assert len(in_hour) < cap
            admitted.append(now)
        else:
            assert len(in_hour) == cap
            assert result == Admission("cap_hora_chip", in_hour[0] + HOUR)
    assert len(admitted) > 60
    for t in admitted:
        assert sum(1 for u in admitted if t - HOUR < u <= t) <= cap


async def test_a_lowered_hourly_cap_waits_until_enough_sends_leave_the_hour(
    limiter: Limiter,
) -> None:
    t = WEDNESDAY_10H
    for send_id in range(5):
        assert (await admit(limiter, send_id, t + send_id * 10 * MINUTE, hourly=5)).admitted
    # five sends at 10:00-10:40, the cap drops to two: the 10:30 one must leave too
    assert await admit(limiter, 9, t + 45 * MINUTE, hourly=2) == Admission(
        "cap_hora_chip", t + 90 * MINUTE
    )
    assert not (await admit(limiter, 9, t + 90 * MINUTE - SECOND, hourly=2)).admitted
    assert (await admit(limiter, 9, t + 90 * MINUTE, hourly=2)).admitted


async def test_the_named_moment_passes_for_any_clock_resolution(limiter: Limiter) -> None:
    """A send at a microsecond-precise moment (an opening jitter, a real clock): retried
    at the moment named in the refusal, it passes."""
    t = WEDNESDAY_10H + timedelta(microseconds=123449)
    assert (await admit(limiter, 1, t, hourly=1)).admitted
    refused = await admit(limiter, 2, t + MINUTE, hourly=1)
    assert refused.rule == "cap_hora_chip" and refused.retry_at is not None
    assert abs(refused.retry_at - (t + HOUR)) < timedelta(milliseconds=1)
    assert (await admit(limiter, 2, refused.retry_at, hourly=1)).admitted


async def test_a_chip_with_an_hourly_cap_of_zero_sends_nothing(limiter: Limiter) -> None:
    t = WEDNESDAY_10H
    # an operator set the chip's hourly_limit to 0
    assert await admit(limiter, 1, t, hourly=0) == Admission("cap_hora_chip", t + HOUR)
    assert (await admit(limiter, 2, t, chip=2, hourly=1)).admitted
    # lowered to zero: nothing to wait for, look again in an hour
    assert await admit(limiter, 3, t + MINUTE, chip=2, hourly=0) == Admission(
        "cap_hora_chip", t + MINUTE + HOUR
    )


# The chip's São Paulo day -----------------------------------------------------------------


async def test_daily_cap_counts_the_sao_paulo_calendar_day(limiter: Limiter) -> None:
    evening = sp(2, 18)  # Wednesday 18:00 in São Paulo, 21:00 UTC
    sp_midnight = sp(3, 0)  # Thursday 00:00 in São Paulo, 03:00 UTC
    for send_id in range(5):
        assert (await admit(limiter, send_id, evening + send_id * MINUTE, daily=5)).admitted
    assert await admit(limiter, 10, evening + HOUR, daily=5) == Admission(
        "cap_dia_chip", sp_midnight
    )
    # UTC midnight has passed (21:30 in São Paulo): still Wednesday, still full
    after_utc_midnight = datetime(2026, 12, 3, 0, 30, tzinfo=UTC)
    assert await admit(limiter, 10, after_utc_midnight, daily=5) == Admission(
        "cap_dia_chip", sp_midnight
    )
    assert (await admit(limiter, 10, sp_midnight - SECOND, daily=5)).rule == "cap_dia_chip"
    # São Paulo midnight: a new day with its own five
    for send_id in range(10, 15):
        assert (await admit(limiter, send_id, sp_midnight + send_id * MINUTE, daily=5)).admitted
    assert await admit(limiter, 20, sp(3, 12), daily=5) == Admission("cap_dia_chip", sp(4, 0))


# The chip's gap ---------------------------------------------------------------------------


async def test_chip_gap_between_two_sends(limiter: Limiter) -> None:
    t = WEDNESDAY_10H
    assert (await admit(limiter, 1, t, gap_s=300)).admitted
    assert await admit(limiter, 2, t + 299 * SECOND, gap_s=300) == Admission(
        "intervalo_chip", t + 300 * SECOND
    )
    assert (await admit(limiter, 3, t + 299 * SECOND, chip=2, gap_s=300)).admitted
    assert (await admit(limiter, 2, t + 300 * SECOND, gap_s=300)).admitted


async def test_drawn_gaps_space_the_sends_of_a_chip(limiter: Limiter) -> None:
    """As the gateway does: a fresh gap drawn for each send, a refused send retried at the
    moment the limiter names, which then passes."""
    rng = random.Random(9)
    caps = Caps(hourly=20, daily=100)
    now = WEDNESDAY_10H
    sent: list[tuple[datetime, float]] = []
    send_id = 0
    while len(sent) < 20:
        gap = send_gap(caps, OPEN_DAY, rng)
        result = await admit(limiter, send_id, now, hourly=20, daily=100, gap_s=gap)
        if result.admitted:
            sent.append((now, gap))
            send_id += 1
            now += rng.uniform(1, 200) * SECOND  # the next one is ready soon
        else:
            assert result.rule == "intervalo_chip"
            assert result.retry_at is not None and result.retry_at > now
            now = result.retry_at
    for (first, gap), (second, _) in itertools.pairwise(sent):
        assert (second - first).total_seconds() >= gap - 1e-3


# The doctor's interval and week -----------------------------------------------------------


async def test_doctor_interval_of_48_hours(limiter: Limiter) -> None:
    monday = sp(7, 10)
    rules: dict[str, Any] = {"doctor_gap": timedelta(hours=48)}
    assert (await admit(limiter, 1, monday, doctor=7, **rules)).admitted
    assert await admit(limiter, 2, monday + 24 * HOUR, doctor=7, **rules) == Admission(
        "intervalo_medico", monday + 48 * HOUR
    )
    # from another chip too: the interval is the doctor's
    assert (
        await admit(limiter, 2, monday + 48 * HOUR - SECOND, chip=2, doctor=7, **rules)
    ).rule == "intervalo_medico"
    assert (await admit(limiter, 3, monday + 24 * HOUR, doctor=8, **rules)).admitted
    assert (await admit(limiter, 2, monday + 48 * HOUR, doctor=7, **rules)).admitted


async def test_doctor_weekly_cap(limiter: Limiter) -> None:
    monday = sp(7, 10)
    rules: dict[str, Any] = {"doctor_gap": timedelta(hours=48), "doctor_week": 3}
    for send_id, day in enumerate((0, 2, 4), start=1):  # Monday, Wednesday, Friday
        assert (await admit(limiter, send_id, monday + day * 24 * HOUR, doctor=7, **rules)).admitted
    next_monday = monday + timedelta(days=7)
    sunday = monday + timedelta(days=6)
    assert await admit(limiter, 4, sunday, doctor=7, **rules) == Admission(
        "cap_semana_medico", next_monday
    )
    assert (await admit(limiter, 4, next_monday - SECOND, doctor=7, **rules)).rule == (
        "cap_semana_medico"
    )
    assert (await admit(limiter, 4, next_monday, doctor=7, **rules)).admitted
    # Friday, Monday and Wednesday: the week is full again until Friday's send leaves it
    assert (await admit(limiter, 5, next_monday + 2 * 24 * HOUR, doctor=7, **rules)).admitted
    thursday = next_monday + 3 * 24 * HOUR
    assert await admit(limiter, 6, thursday, doctor=7, doctor_week=3) == Admission(
        "cap_semana_medico", monday + timedelta(days=11)
    )


# Idempotency and release ------------------------------------------------------------------


async def test_admitting_the_same_send_twice_takes_one_slot(limiter: Limiter) -> None:
    t = WEDNESDAY_10H
    assert (await admit(limiter, 1, t, hourly=2, gap_s=300)).admitted
    # a retried job: admitted again, without waiting for its own gap
    assert (await admit(limiter, 1, t + SECOND, hourly=2, gap_s=300)).admitted
    assert (await admit(limiter, 2, t + 5 * MINUTE, hourly=2)).admitted
    assert await admit(limiter, 3, t + 10 * MINUTE, hourly=2) == Admission(
        "cap_hora_chip", t + HOUR
    )


async def test_concurrent_retries_of_one_send_take_one_slot(limiters: list[Limiter]) -> None:
    t = WEDNESDAY_10H
    results = await asyncio.gather(
        *(admit(limiters[i % len(limiters)], 1, t, doctor=5, hourly=1) for i in range(50))
    )
    assert all(result.admitted for result in results)
    assert (await admit(limiters[0], 2, t, hourly=1)).rule == "cap_hora_chip"


async def test_release_gives_the_slot_back(limiter: Limiter) -> None:
    t = WEDNESDAY_10H
    assert (await admit(limiter, 1, t, hourly=2)).admitted
    assert (await admit(limiter, 2, t, hourly=2)).admitted
    assert (await admit(limiter, 3, t, hourly=2)).rule == "cap_hora_chip"
    await limiter.release(send_id=2, chip_id=1, doctor_id=2)
    assert (await admit(limiter, 3, t + SECOND, hourly=2)).admitted
    assert (await admit(limiter, 4, t + SECOND, hourly=2)).rule == "cap_hora_chip"
    # the doctor's slot too
    rules: dict[str, Any] = {"doctor_gap": timedelta(hours=48)}
    assert (await admit(limiter, 10, t, chip=2, doctor=99, **rules)).admitted
    assert (await admit(limiter, 11, t, chip=2, doctor=99, **rules)).rule == "intervalo_medico"
    await limiter.release(send_id=10, chip_id=2, doctor_id=99)
    assert (await admit(limiter, 11, t, chip=2, doctor=99, **rules)).admitted
    # releasing what was never admitted changes nothing
    await limiter.release(send_id=12345, chip_id=1, doctor_id=5)
    assert (await admit(limiter, 4, t + SECOND, hourly=2)).rule == "cap_hora_chip"


# Atomicity --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "same_doctor", "admits", "rule"),
    [
        ({"hourly": 20}, False, 20, "cap_hora_chip"),
        ({"daily": 15}, False, 15, "cap_dia_chip"),
        ({"gap_s": 60.0}, False, 1, "intervalo_chip"),
        ({"doctor_gap": timedelta(hours=48)}, True, 1, "intervalo_medico"),
        ({"doctor_week": 3}, True, 3, "cap_semana_medico"),
    ],
)
async def test_concurrent_admits_never_share_the_last_slot(
    limiters: list[Limiter], rules: dict[str, Any], same_doctor: bool, admits: int, rule: str
) -> None:
    """200 sends at once from eight workers: exactly the cap goes through."""
    now = WEDNESDAY_10H
    await limiters[0].reseed(now)  # Redis holds the (empty) ledger

    async def one(i: int) -> Admission:
        # the doctor's rules are tried across chips, the chip's across doctors
        chip, doctor = (100 + i, 7) if same_doctor else (1, 1000 + i)
        return await admit(limiters[i % 8], 1000 + i, now, chip=chip, doctor=doctor, **rules)

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert sum(result.admitted for result in results) == admits
    assert {result.rule for result in results if not result.admitted} == {rule}


# Redis lost its data ----------------------------------------------------------------------


async def _chip(db: asyncpg.Pool, instance: str) -> int:
    chip_id: int = await db.fetchval(
        "INSERT INTO chips (instance) VALUES ($1) RETURNING id", instance
    )
    return chip_id


async def _doctors(db: asyncpg.Pool, count: int) -> list[int]:
    rows = await db.fetch(
        """INSERT INTO doctors (phone, name)
           SELECT '55119' || lpad(n::text, 8, '0'), 'Dr. ' || n FROM generate_series(1, $1) n
           RETURNING id""",
        count,
    )
    return [row["id"] for row in rows]


_keys = itertools.count()


async def _ledger(
    db: asyncpg.Pool,
    chip_id: int,
    doctor_id: int,
    at: datetime,
    *,
    status: str = "sent",
    attempts: int = 1,
    proactive: bool = True,
) -> int:
    """A row of outbound_sends: decided at `at`, and sent then if its status says so."""
    send_id: int = await db.fetchval(
        """INSERT INTO outbound_sends (idempotency_key, kind, proactive, doctor_id, to_phone,
                                       chip_id, body, status, attempts, decided_at, sent_at)
           VALUES ($1, 'campaign', $2, $3, '5511900000001', $4, 'Oi, doutor', $5, $6, $7, $8)
           RETURNING id""",
        f"test:{next(_keys)}",
        proactive,
        doctor_id,
        chip_id,
        status,
        attempts,
        at,
        at if status == "sent" else None,
    )
    return send_id


async def test_after_a_flush_the_counters_are_rebuilt_from_the_ledger(
    resources: Resources, limiter: Limiter
) -> None:
    db = resources.db
    chip, other, old = [await _chip(db, name) for name in ("Revoluna", "Outro", "Antigo")]
    d = await _doctors(db, 11)
    ledger = {
        "yesterday": await _ledger(db, chip, d[0], sp(1, 15)),
        "08:00": await _ledger(db, chip, d[1], sp(2, 8)),
        "08:30": await _ledger(db, chip, d[2], sp(2, 8, 30)),
        "09:15": await _ledger(db, chip, d[3], sp(2, 9, 15)),
        "09:40": await _ledger(db, chip, d[4], sp(2, 9, 40)),
        # claimed by a worker, outcome unknown: counted as sent
        "09:50": await _ledger(db, chip, d[5], sp(2, 9, 50), status="pending", attempts=1),
    }
    # not counted: failed, never tried, a reply, another chip
    await _ledger(db, chip, d[6], sp(2, 9, 55), status="failed")
    await _ledger(db, chip, d[6], sp(2, 9, 56), status="pending", attempts=0)
    await _ledger(db, chip, d[6], sp(2, 9, 57), proactive=False)
    await _ledger(db, other, d[6], sp(2, 9, 58))
    # a doctor who already had three messages this week
    for day in (26, 28, 30):
        await _ledger(db, old, d[9], sp(day, 10))
    rules: dict[str, Any] = {
        "hourly": 4,
        "daily": 6,
        "doctor_gap": timedelta(hours=48),
        "doctor_week": 3,
    }

    await resources.redis.flushall()
    now = WEDNESDAY_10H
    first = await _ledger(db, chip, d[7], now, status="pending", attempts=0)
    # 09:15, 09:40 and 09:50 are in the hour (the rest do not count): one slot left
    assert (await admit(limiter, first, now, chip=chip, doctor=d[7], **rules)).admitted
    assert await resources.redis.exists(EPOCH_KEY)
    second = await _ledger(db, chip, d[8], now, status="pending", attempts=0)
    assert await admit(limiter, second, now + MINUTE, chip=chip, doctor=d[8], **rules) == (
        Admission("cap_hora_chip", sp(2, 10, 15))
    )
    # a send the ledger counted, admitted again, and a second rebuild: nothing twice
    again = await admit(limiter, ledger["09:40"], now + MINUTE, chip=chip, doctor=d[4], **rules)
    assert again.admitted
    assert await limiter.reseed(now + MINUTE) == 10
    # 10:15: the hour has room (09:40, 09:50, 10:00); the day is full (six)
    assert await admit(limiter, second, sp(2, 10, 15), chip=chip, doctor=d[8], **rules) == (
        Admission("cap_dia_chip", sp(3, 0))
    )

    # the first one went out; Redis is lost again
    await db.execute(
        "UPDATE outbound_sends SET status = 'sent', attempts = 1, sent_at = $2 WHERE id = $1",
        first,
        now,
    )
    await resources.redis.flushall()
    assert await admit(limiter, second, sp(2, 10, 15), chip=chip, doctor=d[8], **rules) == (
        Admission("cap_dia_chip", sp(3, 0))
    )
    # the doctors' history came back too
    third = await _ledger(db, other, d[4], now, status="pending", attempts=0)
    assert await admit(limiter, third, sp(2, 10, 15), chip=other, doctor=d[4], **rules) == (
        Admission("intervalo_medico", sp(4, 9, 40))
    )
    assert await admit(limiter, third, sp(2, 10, 15), chip=other, doctor=d[9], **rules) == (
        Admission("cap_semana_medico", sp(3, 10))
    )
    assert await admit(limiter, third, sp(2, 10, 15), chip=other, doctor=d[0], **rules) == (
        Admission("intervalo_medico", sp(3, 15))
    )
    assert (await admit(limiter, third, sp(2, 10, 15), chip=other, doctor=d[10], **rules)).admitted
    # Thursday in São Paulo: a new day for the chip
    assert (await admit(limiter, second, sp(3, 8), chip=chip, doctor=d[8], **rules)).admitted


async def test_concurrent_admits_after_a_flush_hold_the_cap(
    resources: Resources, limiters: list[Limiter]
) -> None:
    db = resources.db
    chip = await _chip(db, "Revoluna")
    doctors = await _doctors(db, 15)
    now = WEDNESDAY_10H
    for i, doctor in enumerate(doctors):
        await _ledger(db, chip, doctor, now - (i + 1) * 3 * MINUTE)
    await resources.redis.flushall()

    results = await asyncio.gather(
        *(
            admit(limiters[i % 8], 10_000 + i, now, chip=chip, doctor=10_000 + i, hourly=20)
            for i in range(200)
        )
    )
    assert sum(result.admitted for result in results) == 5  # 20 minus the 15 in the ledger
    assert {result.rule for result in results if not result.admitted} == {"cap_hora_chip"}
    # the oldest ledger send (09:15) is the first to leave the hour
    assert {result.retry_at for result in results if not result.admitted} == {
        now - 45 * MINUTE + HOUR
    }


async def test_after_a_flush_the_chip_gap_counts_from_its_latest_send(
    resources: Resources, limiter: Limiter
) -> None:
    db = resources.db
    chip = await _chip(db, "Revoluna")
    d = await _doctors(db, 2)
    await _ledger(db, chip, d[0], WEDNESDAY_10H)
    await resources.redis.flushall()
    waiting = await _ledger(db, chip, d[1], WEDNESDAY_10H, status="pending", attempts=0)
    soon = WEDNESDAY_10H + MINUTE
    assert await admit(limiter, waiting, soon, chip=chip, doctor=d[1], gap_s=300) == Admission(
        "intervalo_chip", WEDNESDAY_10H + timedelta(seconds=300)
    )
    later = WEDNESDAY_10H + timedelta(seconds=300)
    assert (await admit(limiter, waiting, later, chip=chip, doctor=d[1], gap_s=300)).admitted
