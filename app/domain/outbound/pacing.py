"""Pacing rules for proactive messages, as pure functions of `now` (DESIGN rule 8).

The counters that make the caps hold across worker processes live in Redis
(`limiter.py`); here is what the numbers are: business hours, the warm-up curve of a young
number, the randomised gap between two sends of one chip, the per-doctor limits.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.core.config import Settings

# A young number's daily cap by age in days (from chips.warmup_started_at), as a fraction
# of MAX_MSGS_POR_DIA, growing over CHIP_AQUECIMENTO_DIAS. Reports of numbers banned at
# 40-50 cold messages a day put the first week well below that.
_WARMUP_START_DAILY = 8
# Spread the daily allowance over the day: no more than a quarter of it in one hour.
_HOURLY_SHARE = 4
# Gaps are drawn around the even spacing of the hourly cap, never tighter than this.
_GAP_FLOOR_SECONDS = 20.0
_GAP_SPREAD = (0.6, 1.4)


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """HORARIO_INICIO-HORARIO_FIM on the DIAS_ENVIO weekdays, in `tz`."""

    start: time
    end: time
    weekdays: frozenset[int]
    tz: ZoneInfo

    @classmethod
    def of(cls, settings: Settings) -> BusinessHours:
        return cls(settings.HORARIO_INICIO, settings.HORARIO_FIM, settings.DIAS_ENVIO, settings.tz)

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        return local.weekday() in self.weekdays and self.start <= local.time() < self.end

    @property
    def open_seconds(self) -> float:
        """Length of one open day."""
        return (
            datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)
        ).total_seconds()

    def next_open(self, now: datetime) -> datetime:
        """`now` when open, else the next opening moment."""
        if self.is_open(now):
            return now
        local = now.astimezone(self.tz)
        day = local.date()
        if local.time() >= self.start:
            day += timedelta(days=1)
        for _ in range(8):
            if day.weekday() in self.weekdays:
                return datetime.combine(day, self.start, self.tz)
            day += timedelta(days=1)
        raise ValueError("no weekday is open for proactive messages")  # settings forbid it


def local_day_bounds(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end of the calendar day (in `tz`) that contains `now`."""
    day: date = now.astimezone(tz).date()
    start = datetime.combine(day, time(0), tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tz)


@dataclass(frozen=True, slots=True)
class Caps:
    hourly: int
    daily: int


def chip_caps(
    *,
    max_hourly: int,
    max_daily: int,
    warmup_started_at: datetime | None,
    warmup_days: int,
    now: datetime,
) -> Caps:
    """A chip's caps now. A mature chip (no warm-up date, or older than `warmup_days`) has
    the configured caps; a young one starts at a few messages a day and grows linearly."""
    if warmup_started_at is None or warmup_days <= 0:
        return Caps(max_hourly, max_daily)
    age_days = max(0.0, (now - warmup_started_at).total_seconds() / 86400)
    if age_days >= warmup_days:
        return Caps(max_hourly, max_daily)
    start = min(_WARMUP_START_DAILY, max_daily)
    daily = start + math.floor((max_daily - start) * age_days / warmup_days)
    hourly = min(max_hourly, max(1, math.ceil(daily / _HOURLY_SHARE)))
    return Caps(hourly, daily)


def send_gap(caps: Caps, open_seconds: float, rng: random.Random) -> float:
    """Seconds until the chip's next proactive send: randomised around an even spacing
    that respects the hourly cap and spreads the daily cap over the open hours, so the
    sends never look machine-timed or all land in the morning."""
    even = max(3600.0 / max(1, caps.hourly), open_seconds / max(1, caps.daily))
    return max(_GAP_FLOOR_SECONDS, even * rng.uniform(*_GAP_SPREAD))


def opening_jitter(rng: random.Random) -> timedelta:
    """Spread what waited for the opening over its first minutes instead of one instant."""
    return timedelta(seconds=rng.uniform(0, 20 * 60))
