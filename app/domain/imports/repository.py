"""SQL for CSV imports: look-ups by normalised name and upserts by natural key.

Every upsert is `INSERT ... ON CONFLICT (natural key) DO UPDATE ... WHERE (stored columns) IS
DISTINCT FROM (new columns)`: a row that would not change is not updated at all, so its
updated_at (a trigger) stays put and a re-import of the same file changes nothing.
`RETURNING (xmax = 0)` tells an insert (true) from an update (false); no row back means
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.core.db import Conn
from app.domain.doctors.phones import brazil_variants
from app.domain.imports.parsing import DoctorRow, HospitalRow, ShiftRow

Outcome = Literal["inserted", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class SpecialtyRef:
    id: int
    name: str
    by_name: bool  # matched the name itself (not an alias)


@dataclass(frozen=True, slots=True)
class HospitalRef:
    id: int
    name: str
    city: str


def _outcome(inserted: bool | None) -> Outcome:
    if inserted is None:
        return "unchanged"
    return "inserted" if inserted else "updated"


async def match_specialties(conn: Conn, text: str) -> list[SpecialtyRef]:
    """Specialties whose name or an alias equals `text` (accents, case, spaces ignored);
    a match on the name comes first."""
    rows = await conn.fetch(
        """
        WITH q AS (SELECT julia_normalize($1::text) AS key)
        SELECT sp.id, sp.name, sp.name_normalized = q.key AS by_name
        FROM specialties sp, q
        WHERE sp.name_normalized = q.key
           OR EXISTS (SELECT 1 FROM unnest(sp.aliases) a WHERE julia_normalize(a) = q.key)
        ORDER BY by_name DESC, sp.id
        """,
        text,
    )
    return [SpecialtyRef(id=r["id"], name=r["name"], by_name=r["by_name"]) for r in rows]


async def find_hospitals(conn: Conn, name: str, city: str | None) -> list[HospitalRef]:
    """Hospitals named `name` (normalised), in `city` when given; by city."""
    rows = await conn.fetch(
        """
        SELECT id, name, city FROM hospitals
        WHERE name_normalized = julia_normalize($1::text)
          AND ($2::text IS NULL OR city_normalized = julia_normalize($2::text))
        ORDER BY city_normalized, id
        """,
        name,
        city,
    )
    return [HospitalRef(id=r["id"], name=r["name"], city=r["city"]) for r in rows]


# Doctors: a blank cell never erases what is stored (Julia also learns these facts in
# conversation). opted_out_at, last_*_at, assigned_chip_id, lid and preferences are not
# the file's business; source is written on insert only.
_DOCTOR_FIELDS = ("name", "crm", "crm_uf", "specialty_id", "city", "state", "region", "notes")


async def upsert_doctor(
    conn: Conn, row: DoctorRow, *, specialty_id: int | None, source: str
) -> Outcome:
    """Insert or update the doctor with this phone (either Brazilian spelling)."""
    # A doctor stored under the legacy 12-digit spelling keeps it: update that row.
    stored = await conn.fetchval(
        """SELECT phone FROM doctors WHERE phone = ANY($1::text[])
           ORDER BY phone = $2 DESC, id LIMIT 1""",
        list(brazil_variants(row.phone)),
        row.phone,
    )
    merged = [f"coalesce(EXCLUDED.{f}, d.{f})" for f in _DOCTOR_FIELDS]
    sets = ", ".join(f"{f} = {m}" for f, m in zip(_DOCTOR_FIELDS, merged, strict=True))
    inserted = await conn.fetchval(
        f"""
        INSERT INTO doctors AS d (phone, {", ".join(_DOCTOR_FIELDS)}, source)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (phone) DO UPDATE SET {sets}
        WHERE ({", ".join(f"d.{f}" for f in _DOCTOR_FIELDS)})
              IS DISTINCT FROM ({", ".join(merged)})
        RETURNING (xmax = 0)
        """,
        stored or row.phone,
        row.name,
        row.crm,
        row.crm_uf,
        specialty_id,
        row.city,
        row.state,
        row.region,
        row.notes,
        source,
    )
    return _outcome(inserted)


def _update_clause(alias: str, replaced: list[str], kept_unless_given: list[str]) -> str:
    """`SET ... WHERE (...) IS DISTINCT FROM (...)` for an upsert on table `alias`."""
    new = {f: f"EXCLUDED.{f}" for f in replaced}
    new |= {f: f"coalesce(EXCLUDED.{f}, {alias}.{f})" for f in kept_unless_given}
    sets = ", ".join(f"{f} = {v}" for f, v in new.items())
    old = ", ".join(f"{alias}.{f}" for f in new)
    return f"SET {sets} WHERE ({old}) IS DISTINCT FROM ({', '.join(new.values())})"


# Hospitals and shifts: the file is the source of truth for the columns it has (a blank
# cell clears the value); a column the file does not have keeps what is stored.
_HOSPITAL_OPTIONAL = ("region", "address", "notes")


async def upsert_hospital(conn: Conn, row: HospitalRow, *, columns: frozenset[str]) -> Outcome:
    """Insert or update by (name, city) normalised. A blank id keeps the stored one.

    Raises asyncpg.UniqueViolationError (hospitals_external_ref_key) when the id belongs
    to another hospital.
    """
    replaced = ["name", "city", "state", *(f for f in _HOSPITAL_OPTIONAL if f in columns)]
    inserted = await conn.fetchval(
        f"""
        INSERT INTO hospitals AS h (name, city, state, region, address, notes, external_ref)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (name_normalized, city_normalized) DO UPDATE
        {_update_clause("h", replaced, ["external_ref"])}
        RETURNING (xmax = 0)
        """,
        row.name,
        row.city,
        row.state,
        row.region,
        row.address,
        row.notes,
        row.external_ref,
    )
    return _outcome(inserted)


# Which file columns (parsing fields) feed which optional shift columns. The pay columns go
# together: a file that has any of them states the whole pay (fixed, range or note).
_PAY = ("pay_cents", "pay_min_cents", "pay_max_cents", "pay_note")
_SHIFT_OPTIONAL: dict[str, tuple[str, ...]] = {
    "sector": ("sector",),
    "pay": _PAY,
    "pay_min": _PAY,
    "pay_max": _PAY,
    "pay_note": _PAY,
    "margin": ("negotiation_margin_cents",),
    "priority": ("priority",),
    "notes": ("notes",),
}
_SHIFT_ALWAYS = ("hospital_id", "specialty_id", "starts_at", "ends_at", "period")


async def upsert_shift(
    conn: Conn,
    row: ShiftRow,
    *,
    external_ref: str,
    hospital_id: int,
    specialty_id: int,
    columns: frozenset[str],
) -> Outcome:
    """Insert or update by external_ref. Status and reservation are never touched."""
    replaced = list(_SHIFT_ALWAYS)
    for field, targets in _SHIFT_OPTIONAL.items():
        if field in columns:
            replaced += [t for t in targets if t not in replaced]
    inserted = await conn.fetchval(
        f"""
        INSERT INTO shifts AS s (
            external_ref, hospital_id, specialty_id, sector, starts_at, ends_at, period,
            pay_cents, pay_min_cents, pay_max_cents, pay_note, negotiation_margin_cents,
            priority, notes)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        ON CONFLICT (external_ref) DO UPDATE {_update_clause("s", replaced, [])}
        RETURNING (xmax = 0)
        """,
        external_ref,
        hospital_id,
        specialty_id,
        row.sector,
        row.starts_at,
        row.ends_at,
        row.period,
        row.pay_cents,
        row.pay_min_cents,
        row.pay_max_cents,
        row.pay_note,
        row.negotiation_margin_cents,
        row.priority,
        row.notes,
    )
    return _outcome(inserted)
