"""Pacing as pure functions of `now`: business hours in São Paulo, the calendar day, the
warm-up of a young chip, the randomised gap between sends and the opening jitter."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.config import ConfigError, load_settings, parse_weekdays
from app.domain.outbound.chips import caps_for
from app.domain.outbound.chips_repository import Chip
from app.domain.outbound.pacing import (
    BusinessHours,
    Caps,
    chip_caps,
    local_day_bounds,
    opening_jitter,
    send_gap,
)

SP = ZoneInfo("America/Sao_Paulo")
WEEKDAYS = frozenset(range(5))
HOURS = BusinessHours(time(8), time(20), WEEKDAYS, SP)
OPEN_DAY = 12 * 3600.0

# Few examples, no example database on disk: these run in milliseconds.
quick = settings(max_examples=60, deadline=None, database=None, derandomize=True)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


def sp(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """A moment in December 2026, São Paulo time: the 2nd is a Wednesday, the 4th a Friday,
    the 5th and 6th the weekend, the 7th a Monday."""
    return datetime(2026, 12, day, hour, minute, second, micro, tzinfo=SP)


def hours_of(**overrides: object) -> BusinessHours:
    return BusinessHours.of(load_settings(ENVIRONMENT="test", **overrides))


# Business hours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (sp(2, 7, 59, 59, 999999), False),
        (sp(2, 8), True),
        (sp(2, 13, 30), True),
        (sp(2, 19, 59, 59, 999999), True),
        (sp(2, 20), False),
        (sp(2, 23, 59), False),
        (sp(3, 0, 0), False),
        (sp(4, 19, 59), True),  # Friday evening
        (sp(5, 10), False),  # Saturday
        (sp(6, 10), False),  # Sunday
        (sp(7, 8), True),  # Monday
    ],
)
def test_business_hours_edges(moment: datetime, is_open: bool) -> None:
    assert HOURS.is_open(moment) is is_open


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (datetime(2026, 12, 2, 10, 59, 59, tzinfo=UTC), False),  # 07:59:59 in São Paulo
        (datetime(2026, 12, 2, 11, 0, tzinfo=UTC), True),  # 08:00
        (datetime(2026, 12, 2, 22, 59, 59, tzinfo=UTC), True),  # 19:59:59
        (datetime(2026, 12, 2, 23, 0, tzinfo=UTC), False),  # 20:00
        (datetime(2026, 12, 5, 1, 0, tzinfo=UTC), False),  # Saturday in UTC, Friday 22:00
    ],
)
def test_times_in_utc_are_read_in_sao_paulo(moment: datetime, is_open: bool) -> None:
    assert HOURS.is_open(moment) is is_open


def test_the_weekday_is_the_sao_paulo_one() -> None:
    late = BusinessHours(time(18), time(23, 30), WEEKDAYS, SP)
    # Friday 22:00 in São Paulo is already Saturday in UTC: open.
    assert late.is_open(datetime(2026, 12, 5, 1, 0, tzinfo=UTC))
    # Sunday 22:00 in São Paulo is already Monday in UTC: closed.
    assert not late.is_open(datetime(2026, 12, 7, 1, 0, tzinfo=UTC))


def test_defaults_are_eight_to_eight_on_weekdays() -> None:
    hours = hours_of()
    assert hours == HOURS
    assert hours.open_seconds == OPEN_DAY


def test_dias_envio_every_day() -> None:
    hours = hours_of(DIAS_ENVIO="seg-dom")
    assert hours.is_open(sp(5, 10)) and hours.is_open(sp(6, 19, 59))
    assert not hours.is_open(sp(6, 20))
    assert hours.next_open(sp(4, 21)) == sp(5, 8)


def test_dias_envio_a_list_of_days() -> None:
    hours = hours_of(DIAS_ENVIO="seg,qua,sex")
    assert [hours.is_open(sp(day, 10)) for day in range(7, 14)] == [
        True,  # Monday
        False,
        True,  # Wednesday
        False,
        True,  # Friday
        False,
        False,
    ]
    assert hours.next_open(sp(7, 20)) == sp(9, 8)  # Monday night -> Wednesday
    assert hours.next_open(sp(8, 7)) == sp(9, 8)  # Tuesday morning -> Wednesday


def test_dias_envio_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIAS_ENVIO", "sab-dom")
    days = load_settings(ENVIRONMENT="test").DIAS_ENVIO
    assert days == frozenset({5, 6})


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (sp(4, 20), sp(7, 8)),  # Friday at closing -> Monday
        (sp(4, 23, 30), sp(7, 8)),  # Friday night -> Monday
        (sp(5, 0, 0), sp(7, 8)),  # Saturday
        (sp(6, 12), sp(7, 8)),  # Sunday
        (sp(7, 6, 15), sp(7, 8)),  # before opening -> the same day
        (sp(7, 7, 59, 59, 999999), sp(7, 8)),
        (sp(2, 20), sp(3, 8)),  # Wednesday night -> Thursday
        (datetime(2026, 12, 5, 1, 0, tzinfo=UTC), sp(7, 8)),  # Friday 22:00 given in UTC
    ],
)
def test_next_open(moment: datetime, expected: datetime) -> None:
    opening = HOURS.next_open(moment)
    assert opening == expected
    assert opening.astimezone(SP).time() == time(8)
    assert opening == datetime(2026, 12, expected.day, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("moment", [sp(2, 8), sp(2, 14, 7, 3), sp(4, 19, 59, 59)])
def test_next_open_from_an_open_moment_is_that_moment(moment: datetime) -> None:
    assert HOURS.next_open(moment) is moment


@quick
@given(now=moments, weekdays=st.frozensets(st.integers(0, 6), min_size=1))
def test_next_open_is_the_first_open_moment(now: datetime, weekdays: frozenset[int]) -> None:
    hours = BusinessHours(time(8), time(20), weekdays, SP)
    opening = hours.next_open(now)
    assert opening >= now and hours.is_open(opening)
    if opening != now:
        local = opening.astimezone(SP)
        assert local.time() == time(8) and local.weekday() in weekdays
        assert not hours.is_open(opening - timedelta(microseconds=1))
        assert opening - now <= timedelta(days=7)
        # nothing open in between (an open stretch lasts 12 h: probes every 30 min find it)
        probe = now
        while probe < opening:
            assert not hours.is_open(probe)
            probe += timedelta(minutes=30)


# The calendar day -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "start_utc"),
    [
        # 23:30 on Wednesday in São Paulo is 02:30 on Thursday in UTC: still Wednesday.
        (datetime(2026, 12, 3, 2, 30, tzinfo=UTC), datetime(2026, 12, 2, 3, 0, tzinfo=UTC)),
        (datetime(2026, 12, 3, 2, 59, 59, tzinfo=UTC), datetime(2026, 12, 2, 3, 0, tzinfo=UTC)),
        # São Paulo midnight is 03:00 UTC.
        (datetime(2026, 12, 3, 3, 0, tzinfo=UTC), datetime(2026, 12, 3, 3, 0, tzinfo=UTC)),
        (datetime(2026, 12, 3, 0, 0, tzinfo=UTC), datetime(2026, 12, 2, 3, 0, tzinfo=UTC)),
        (sp(2, 0, 0), datetime(2026, 12, 2, 3, 0, tzinfo=UTC)),
    ],
)
def test_local_day_bounds_follow_sao_paulo_midnight(now: datetime, start_utc: datetime) -> None:
    start, end = local_day_bounds(now, SP)
    assert start == start_utc
    assert end == start_utc + timedelta(days=1)
    assert start.astimezone(SP).time() == time(0) == end.astimezone(SP).time()


@quick
@given(now=moments)
def test_local_day_bounds_contain_now(now: datetime) -> None:
    start, end = local_day_bounds(now, SP)
    assert start <= now < end
    assert end - start == timedelta(days=1)  # no daylight saving in Brazil since 2019
    assert start.astimezone(SP).date() == now.astimezone(SP).date()


# Warm-up ----------------------------------------------------------------------------------

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def caps_at(days: float, *, hourly: int = 20, daily: int = 100, warmup_days: int = 28) -> Caps:
    return chip_caps(
        max_hourly=hourly,
        max_daily=daily,
        warmup_started_at=T0,
        warmup_days=warmup_days,
        now=T0 + timedelta(days=days),
    )


def test_a_mature_chip_has_the_configured_caps() -> None:
    assert chip_caps(
        max_hourly=20, max_daily=100, warmup_started_at=None, warmup_days=28, now=T0
    ) == Caps(20, 100)
    # no warm-up configured: even a brand-new chip is mature
    assert caps_at(0, warmup_days=0) == Caps(20, 100)


def test_warm_up_starts_at_eight_a_day() -> None:
    assert caps_at(0) == Caps(hourly=2, daily=8)
    assert caps_at(-3) == Caps(hourly=2, daily=8)  # warm-up date in the future
    assert caps_at(0, daily=5) == Caps(hourly=2, daily=5)  # a lower maximum wins


def test_warm_up_grows_linearly_to_the_maximum() -> None:
    assert caps_at(7).daily == 8 + 23  # a quarter of the 92 to grow
    assert caps_at(14).daily == 8 + 46
    assert caps_at(21).daily == 8 + 69
    assert caps_at(27.99).daily < 100
    assert caps_at(28) == Caps(20, 100)
    assert caps_at(400) == Caps(20, 100)
    daily = [caps_at(day).daily for day in range(29)]
    assert daily == sorted(daily)
    steps = {b - a for a, b in itertools.pairwise(daily)}
    assert steps <= {3, 4}  # 92 / 28 a day, floored


@quick
@given(
    max_hourly=st.integers(1, 200),
    max_daily=st.integers(1, 1000),
    warmup_days=st.integers(0, 365),
    age=st.floats(-10, 400),
)
def test_warm_up_caps_stay_within_the_maximum(
    max_hourly: int, max_daily: int, warmup_days: int, age: float
) -> None:
    caps = caps_at(age, hourly=max_hourly, daily=max_daily, warmup_days=warmup_days)
    assert 1 <= caps.hourly <= max_hourly
    assert min(8, max_daily) <= caps.daily <= max_daily
    if warmup_days == 0 or age >= warmup_days:
        assert caps == Caps(max_hourly, max_daily)
    later = caps_at(age + 1, hourly=max_hourly, daily=max_daily, warmup_days=warmup_days)
    assert later.daily >= caps.daily and later.hourly >= caps.hourly


def _chip(**fields: object) -> Chip:
    values: dict[str, object] = {
        "id": 1,
        "instance": "Revoluna",
        "state": "open",
        "state_changed_at": None,
        "warmup_started_at": None,
        "daily_limit": None,
        "hourly_limit": None,
        "benched_until": None,
        "bench_reason": None,
        "failure_count": 0,
        "enabled": True,
    }
    values.update(fields)
    return Chip(**values)  # type: ignore[arg-type]


def test_caps_for_a_chip_never_exceed_the_global_caps() -> None:
    config = load_settings(ENVIRONMENT="test", MAX_MSGS_POR_HORA=10, MAX_MSGS_POR_DIA=60)
    assert caps_for(config, _chip(), T0) == Caps(10, 60)
    assert caps_for(config, _chip(hourly_limit=50, daily_limit=500), T0) == Caps(10, 60)
    assert caps_for(config, _chip(hourly_limit=4, daily_limit=30), T0) == Caps(4, 30)
    young = _chip(warmup_started_at=T0)
    assert caps_for(config, young, T0) == Caps(2, 8)
    assert caps_for(config, young, T0 + timedelta(days=28)) == Caps(10, 60)


# The gap between two sends of a chip ------------------------------------------------------


@quick
@given(
    hourly=st.integers(1, 120),
    daily=st.integers(1, 1000),
    open_seconds=st.floats(3600, 86400),
    seed=st.integers(0, 2**32),
)
def test_send_gap_respects_the_hourly_spacing(
    hourly: int, daily: int, open_seconds: float, seed: int
) -> None:
    rng = random.Random(seed)
    even = max(3600 / hourly, open_seconds / daily)
    for _ in range(20):
        gap = send_gap(Caps(hourly, daily), open_seconds, rng)
        assert gap >= 20
        assert gap * hourly >= 0.6 * 3600 - 1e-6
        assert gap * daily >= 0.6 * open_seconds - 1e-6
        assert gap <= max(20, 1.4 * even) + 1e-6


def test_send_gap_is_randomised_around_the_even_spacing() -> None:
    rng = random.Random(42)
    gaps = [send_gap(Caps(20, 100), OPEN_DAY, rng) for _ in range(1000)]
    even = OPEN_DAY / 100  # 432 s: the daily cap spread over the open hours binds
    assert len(set(gaps)) > 990
    assert min(gaps) >= 0.6 * even and max(gaps) <= 1.4 * even
    assert min(gaps) < 0.7 * even and max(gaps) > 1.3 * even
    assert 0.95 * even < sum(gaps) / len(gaps) < 1.05 * even
    # the same seed draws the same gaps
    again = random.Random(42)
    assert [send_gap(Caps(20, 100), OPEN_DAY, again) for _ in range(1000)] == gaps


def test_send_gap_hourly_cap_binds_for_a_large_daily_cap() -> None:
    rng = random.Random(1)
    gaps = [send_gap(Caps(10, 10_000), OPEN_DAY, rng) for _ in range(200)]
    assert all(0.6 * 360 <= gap <= 1.4 * 360 for gap in gaps)


def test_send_gap_has_a_floor() -> None:
    rng = random.Random(3)
    assert {send_gap(Caps(1000, 100_000), OPEN_DAY, rng) for _ in range(50)} == {20.0}


def test_opening_jitter_spreads_over_twenty_minutes() -> None:
    rng = random.Random(5)
    jitters = [opening_jitter(rng) for _ in range(1000)]
    assert all(timedelta(0) <= j <= timedelta(minutes=20) for j in jitters)
    assert min(jitters) < timedelta(minutes=1) and max(jitters) > timedelta(minutes=19)
    assert len(set(jitters)) > 990


# DIAS_ENVIO -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("seg-sex", {0, 1, 2, 3, 4}),
        ("seg-dom", {0, 1, 2, 3, 4, 5, 6}),
        ("seg,qua,sex", {0, 2, 4}),
        ("sab-dom", {5, 6}),
        ("dom", {6}),
        ("Sáb", {5}),
        (" SEG - SEX ", {0, 1, 2, 3, 4}),
        ("segunda-sexta", {0, 1, 2, 3, 4}),
        ("sábado,domingo", {5, 6}),
        ("seg-ter,qui", {0, 1, 3}),
        ("seg,,qua,", {0, 2}),
        ("ter,ter-qua", {1, 2}),
    ],
)
def test_parse_weekdays_accepts(text: str, days: set[int]) -> None:
    assert parse_weekdays(text) == frozenset(days)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "at least one weekday"),
        (" , ", "at least one weekday"),
        ("monday", "like seg-sex"),
        ("seg-xyz", "like seg-sex"),
        ("1-5", "like seg-sex"),
        ("sex-seg", "must go forward"),
        ("dom-sab", "must go forward"),
    ],
)
def test_parse_weekdays_rejects(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_weekdays(text)


@pytest.mark.parametrize(("text", "says"), [("sex-seg", "go forward"), ("xyz", "seg-sex")])
def test_a_bad_dias_envio_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, text: str, says: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(ENVIRONMENT="test", DIAS_ENVIO=text)
    assert "DIAS_ENVIO" in str(err.value) and says in str(err.value)
    monkeypatch.setenv("DIAS_ENVIO", text)
    with pytest.raises(ConfigError) as err:
        load_settings(ENVIRONMENT="test")
    message = str(err.value)
    assert message.startswith("Invalid configuration: DIAS_ENVIO: ")
    assert says in message and "\n" not in message
