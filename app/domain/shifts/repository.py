"""SQL for shifts, hospitals and specialties (the reference data shifts point to).

Free text from doctors ("pediatra", "clinico", "sao paulo", "Sao Luiz") is matched
accent- and case-insensitively through `julia_normalize` and pg_trgm's word_similarity, so
a partial or slightly misspelt word still finds its specialty or place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg

from app.core.db import Executor

# word_similarity thresholds: high enough that "zona sul" does not find "zona norte",
# low enough that "pediatra" finds "pediatria" and "campnas" finds "campinas".
SPECIALTY_SIMILARITY = 0.5
PLACE_SIMILARITY = 0.65
HOSPITAL_SIMILARITY = 0.5

# Substring matches need a few letters, or "a" would match everything.
_MIN_SUBSTRING = 3


@dataclass(frozen=True, slots=True)
class ShiftView:
    """An open (or reserved) shift as the agent sees it."""

    id: int
    hospital_id: int
    hospital: str
    city: str
    state: str
    region: str | None
    specialty: str
    sector: str | None
    starts_at: datetime
    ends_at: datetime
    period: str
    pay_cents: int | None
    pay_min_cents: int | None
    pay_max_cents: int | None
    pay_note: str | None
    negotiation_margin_cents: int
    notes: str | None
    status: str


@dataclass(frozen=True, slots=True)
class HospitalView:
    id: int
    name: str
    city: str
    state: str
    region: str | None
    address: str | None
    notes: str | None


@dataclass(frozen=True, slots=True)
class SpecialtyMatch:
    id: int
    name: str
    score: float  # 1.0 exact name/alias, 0.9 substring, else trigram word similarity


ReserveReason = Literal["reservado", "ja_reservado_por_voce", "indisponivel", "nao_encontrado"]


@dataclass(frozen=True, slots=True)
class ReserveResult:
    ok: bool
    reason: ReserveReason
    shift: ShiftView | None


_SHIFT_COLUMNS = """
    s.id, s.hospital_id, h.name AS hospital, h.city, h.state, h.region,
    sp.name AS specialty, s.sector, s.starts_at, s.ends_at, s.period,
    s.pay_cents, s.pay_min_cents, s.pay_max_cents, s.pay_note,
    s.negotiation_margin_cents, s.notes, s.status
"""

_SHIFT_FROM = """
    FROM shifts s
    JOIN hospitals h ON h.id = s.hospital_id
    JOIN specialties sp ON sp.id = s.specialty_id
"""

# Score of specialty `sp` against the normalized key `{key}` (a SQL expression).
_SPECIALTY_SCORE = """
    (CASE
        WHEN sp.name_normalized = {key}
             OR EXISTS (SELECT 1 FROM unnest(sp.aliases) a WHERE julia_normalize(a) = {key})
            THEN 1.0
        WHEN length({key}) >= {min_sub}
             AND (strpos(sp.name_normalized, {key}) > 0
                  OR EXISTS (SELECT 1 FROM unnest(sp.aliases) a
                             WHERE strpos(julia_normalize(a), {key}) > 0))
            THEN 0.9
        ELSE greatest(
            word_similarity({key}, sp.name_normalized),
            word_similarity(sp.name_normalized, {key}),
            (SELECT max(greatest(word_similarity({key}, julia_normalize(a)),
                                 word_similarity(julia_normalize(a), {key})))
               FROM unnest(sp.aliases) a))
    END)::float8
"""


def _specialty_score(key: str) -> str:
    return _SPECIALTY_SCORE.format(key=key, min_sub=_MIN_SUBSTRING)


def _place_match(key: str) -> str:
    region = "coalesce(julia_normalize(h.region), '')"
    return f"""(
        h.city_normalized = {key} OR {region} = {key} OR lower(h.state) = {key}
        OR (length({key}) >= {_MIN_SUBSTRING}
            AND (strpos(h.city_normalized, {key}) > 0 OR strpos({region}, {key}) > 0
                 OR strpos(h.name_normalized, {key}) > 0))
        OR word_similarity({key}, h.city_normalized) >= {PLACE_SIMILARITY}
        OR word_similarity({key}, {region}) >= {PLACE_SIMILARITY}
        OR word_similarity({key}, h.name_normalized) >= {PLACE_SIMILARITY}
    )"""


def _shift(row: asyncpg.Record) -> ShiftView:
    return ShiftView(**dict(row.items()))


def _hospital(row: asyncpg.Record) -> HospitalView:
    return HospitalView(**dict(row.items()))


def local_day_start(day: date, tz: ZoneInfo) -> datetime:
    """Midnight of `day` in `tz`, as an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=tz)


async def find_specialties(conn: Executor, text: str) -> list[SpecialtyMatch]:
    """Specialties matching free text, best first (empty when nothing is close enough)."""
    rows = await conn.fetch(
        f"""
        WITH q AS (SELECT julia_normalize($1::text) AS key)
        SELECT id, name, score FROM (
            SELECT sp.id, sp.name, {_specialty_score("q.key")} AS score
            FROM specialties sp, q
            WHERE q.key IS NOT NULL
        ) m
        WHERE score >= {SPECIALTY_SIMILARITY}
        ORDER BY score DESC, name
        """,
        text,
    )
    return [SpecialtyMatch(id=r["id"], name=r["name"], score=r["score"]) for r in rows]


async def specialty_named(conn: Executor, name: str) -> int | None:
    """The id of the specialty called `name` exactly (accents and case aside) or by one of
    its aliases."""
    specialty_id: int | None = await conn.fetchval(
        """SELECT id FROM specialties
           WHERE name_normalized = julia_normalize($1) OR julia_normalize($1) = ANY(aliases)
           LIMIT 1""",
        name,
    )
    return specialty_id


async def list_specialties(conn: Executor) -> list[str]:
    rows = await conn.fetch("SELECT name FROM specialties ORDER BY name")
    return [r["name"] for r in rows]


async def search_open(
    conn: Executor,
    *,
    now: datetime,
    specialty: str | None = None,
    place: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    period: str | None = None,
    min_pay_cents: int | None = None,
    tz: ZoneInfo,
    limit: int = 5,
) -> list[ShiftView]:
    """Open shifts starting after `now` that match every given filter.

    `specialty` and `place` are free text (accent/case-insensitive, partial and fuzzy);
    `place` matches a hospital's city, region, UF or name. `date_from`/`date_to` are local
    dates in `tz`, both inclusive. `min_pay_cents` keeps shifts whose fixed pay or range top,
    plus the negotiation margin, reaches it ("a combinar" shifts are left out). Ordered by
    priority (highest first), then start time.
    """
    args: list[Any] = [now]
    where = ["s.status = 'aberto'", "s.starts_at > $1"]

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if specialty is not None:
        key = f"julia_normalize({param(specialty)}::text)"
        # A semi-join on specialty ids lets the planner use shifts_open_specialty_starts_idx.
        where.append(
            f"""s.specialty_id IN (
                SELECT sp.id FROM specialties sp
                WHERE {_specialty_score(key)} >= {SPECIALTY_SIMILARITY})"""
        )
    if place is not None:
        where.append(_place_match(f"julia_normalize({param(place)}::text)"))
    if date_from is not None:
        where.append(f"s.starts_at >= {param(local_day_start(date_from, tz))}")
    if date_to is not None:
        where.append(f"s.starts_at < {param(local_day_start(date_to + timedelta(days=1), tz))}")
    if period is not None:
        where.append(f"s.period = {param(period)}")
    if min_pay_cents is not None:
        where.append(
            f"coalesce(s.pay_cents, s.pay_max_cents) + s.negotiation_margin_cents"
            f" >= {param(min_pay_cents)}"
        )
    sql = (
        f"SELECT {_SHIFT_COLUMNS} {_SHIFT_FROM} WHERE {' AND '.join(where)}"
        f" ORDER BY s.priority DESC, s.starts_at, s.id LIMIT {param(limit)}"
    )
    return [_shift(r) for r in await conn.fetch(sql, *args)]


async def get_shift(conn: Executor, shift_id: int) -> ShiftView | None:
    row = await conn.fetchrow(f"SELECT {_SHIFT_COLUMNS} {_SHIFT_FROM} WHERE s.id = $1", shift_id)
    return _shift(row) if row else None


async def get_hospital(
    conn: Executor, *, hospital_id: int | None = None, name: str | None = None
) -> HospitalView | None:
    """A hospital by id, or the best accent-insensitive match for `name` (None if not close)."""
    columns = "h.id, h.name, h.city, h.state, h.region, h.address, h.notes"
    if hospital_id is not None:
        row = await conn.fetchrow(f"SELECT {columns} FROM hospitals h WHERE h.id = $1", hospital_id)
        return _hospital(row) if row else None
    if name is None:
        return None
    row = await conn.fetchrow(
        f"""
        WITH q AS (SELECT julia_normalize($1::text) AS key)
        SELECT {columns} FROM hospitals h, q
        WHERE q.key IS NOT NULL
          AND (h.name_normalized = q.key
               OR (length(q.key) >= {_MIN_SUBSTRING} AND strpos(h.name_normalized, q.key) > 0)
               OR word_similarity(q.key, h.name_normalized) >= {HOSPITAL_SIMILARITY})
        ORDER BY h.name_normalized = q.key DESC,
                 word_similarity(q.key, h.name_normalized) DESC,
                 similarity(q.key, h.name_normalized) DESC,
                 h.id
        LIMIT 1
        """,
        name,
    )
    return _hospital(row) if row else None


async def reserve(conn: Executor, *, shift_id: int, doctor_id: int, now: datetime) -> ReserveResult:
    """Reserve an open, future shift for a doctor, atomically.

    Of two doctors racing for one shift exactly one wins (the loser's UPDATE waits for the
    winner's row lock, then finds the status changed). Reserving again a shift this doctor
    already holds is a no-op success ("ja_reservado_por_voce"). The reservation awaits an
    operator's confirmation.
    """
    won = await conn.fetchval(
        """
        UPDATE shifts SET status = 'reservado', reserved_doctor_id = $2, reserved_at = $3
        WHERE id = $1 AND status = 'aberto' AND starts_at > $3
        RETURNING id
        """,
        shift_id,
        doctor_id,
        now,
    )
    shift = await get_shift(conn, shift_id)
    if won is not None:
        return ReserveResult(ok=True, reason="reservado", shift=shift)
    if shift is None:
        return ReserveResult(ok=False, reason="nao_encontrado", shift=None)
    holder = await conn.fetchval(
        """SELECT reserved_doctor_id FROM shifts
           WHERE id = $1 AND status IN ('reservado', 'confirmado', 'preenchido')""",
        shift_id,
    )
    if holder == doctor_id:
        return ReserveResult(ok=True, reason="ja_reservado_por_voce", shift=shift)
    return ReserveResult(ok=False, reason="indisponivel", shift=shift)
