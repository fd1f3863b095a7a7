"""Importing a CSV of doctors, hospitals or shifts: parse, resolve references, upsert."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from app.core.db import Conn
from app.core.logging import get_logger
from app.domain.imports import repository as repo
from app.domain.imports.parsing import (
    DoctorRow,
    HospitalRow,
    ImportFileError,
    Kind,
    ParsedFile,
    Rejection,
    ShiftRow,
    normalize_key,
    parse_doctors,
    parse_hospitals,
    parse_shifts,
)

__all__ = ["ImportFileError", "ImportReport", "Rejection", "import_csv", "report_text"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ImportReport:
    kind: Kind
    source: str  # as stored in doctors.source: 'csv:<file name>'
    dry_run: bool  # True: nothing was written (the counts are what would have happened)
    total: int  # data rows in the file (blank lines not counted)
    inserted: int
    updated: int
    unchanged: int
    rejected: list[Rejection] = field(default_factory=list)  # by line
    ignored_columns: tuple[str, ...] = ()  # header cells that match no known column


class _RollBack(Exception):
    """Leaves a dry run's transaction without committing it."""


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _show(text: str) -> str:
    return f"'{text}'"


class _Resolver:
    """Specialty and hospital look-ups, each distinct text asked once per file."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._specialties: dict[str, int] = {}
        self._hospitals: dict[tuple[str, str | None], int] = {}

    async def specialty(self, text: str) -> int:
        if text not in self._specialties:
            matches = await repo.match_specialties(self.conn, text)
            if not matches:
                raise _Rejected(f"especialidade desconhecida: {_show(text)}")
            if len(matches) > 1 and not matches[0].by_name:
                names = ", ".join(m.name for m in matches)
                raise _Rejected(f"especialidade ambígua: {_show(text)} ({names})")
            self._specialties[text] = matches[0].id
        return self._specialties[text]

    async def hospital(self, name: str, city: str | None) -> int:
        key = (name, city)
        if key not in self._hospitals:
            matches = await repo.find_hospitals(self.conn, name, city)
            if not matches:
                where = f" em {_show(city)}" if city else ""
                raise _Rejected(f"hospital não encontrado: {_show(name)}{where}")
            if len(matches) > 1:
                cities = ", ".join(sorted({m.city for m in matches}))
                raise _Rejected(
                    f"hospital ambíguo: {_show(name)} existe em mais de uma cidade "
                    f"({cities}); preencha a coluna cidade"
                )
            self._hospitals[key] = matches[0].id
        return self._hospitals[key]


def shift_key(hospital_id: int, specialty_id: int, sector: str | None, row: ShiftRow) -> str:
    """The import key of a shift whose file has no id: same place, specialty, sector and
    start = same shift."""
    starts = row.starts_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"csv:{hospital_id}:{specialty_id}:{normalize_key(sector or '')}:{starts}"


# Per-row database refusals that say something about the row, not about the database:
# the row is rejected and the import goes on (its savepoint is rolled back).
_ROW_ERRORS = (
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.DataError,
    asyncpg.ProgramLimitExceededError,
)


async def _write(
    conn: Conn, line: int, write: Callable[[], Awaitable[repo.Outcome]]
) -> repo.Outcome | Rejection:
    try:
        async with conn.transaction():  # a savepoint: a refused row leaves the rest intact
            return await write()
    except _Rejected as exc:
        return Rejection(line, exc.reason)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "hospitals_external_ref_key":
            return Rejection(line, "id já pertence a outro hospital")
        log.warning("import.row_refused", line=line, constraint=exc.constraint_name)
        return Rejection(line, f"recusada pelo banco ({exc.constraint_name or exc.sqlstate})")
    except _ROW_ERRORS as exc:
        log.warning("import.row_refused", line=line, sqlstate=exc.sqlstate)
        detail = getattr(exc, "constraint_name", None) or exc.sqlstate
        return Rejection(line, f"recusada pelo banco ({detail})")


async def _import_doctors(
    conn: Conn, parsed: ParsedFile[DoctorRow], source: str
) -> list[repo.Outcome | Rejection]:
    out: list[repo.Outcome | Rejection] = []
    resolver = _Resolver(conn)
    for row in parsed.rows:

        async def write(row: DoctorRow = row) -> repo.Outcome:
            specialty_id = await resolver.specialty(row.specialty) if row.specialty else None
            return await repo.upsert_doctor(conn, row, specialty_id=specialty_id, source=source)

        out.append(await _write(conn, row.line, write))
    return out


async def _import_hospitals(
    conn: Conn, parsed: ParsedFile[HospitalRow]
) -> list[repo.Outcome | Rejection]:
    out: list[repo.Outcome | Rejection] = []
    for row in parsed.rows:

        async def write(row: HospitalRow = row) -> repo.Outcome:
            return await repo.upsert_hospital(conn, row, columns=parsed.columns)

        out.append(await _write(conn, row.line, write))
    return out


async def _import_shifts(
    conn: Conn, parsed: ParsedFile[ShiftRow]
) -> list[repo.Outcome | Rejection]:
    out: list[repo.Outcome | Rejection] = []
    resolver = _Resolver(conn)
    seen: dict[str, int] = {}
    for row in parsed.rows:

        async def write(row: ShiftRow = row) -> repo.Outcome:
            specialty_id = await resolver.specialty(row.specialty)
            hospital_id = await resolver.hospital(row.hospital, row.hospital_city)
            ref = row.external_ref or shift_key(hospital_id, specialty_id, row.sector, row)
            if ref in seen:
                raise _Rejected(f"duplicado da linha {seen[ref]}")
            outcome = await repo.upsert_shift(
                conn,
                row,
                external_ref=ref,
                hospital_id=hospital_id,
                specialty_id=specialty_id,
                columns=parsed.columns,
            )
            seen[ref] = row.line
            return outcome

        out.append(await _write(conn, row.line, write))
    return out


async def import_csv(
    conn: Conn,
    kind: Kind,
    text: str,
    *,
    source: str,
    tz: ZoneInfo,
    dry_run: bool = False,
) -> ImportReport:
    """Import a CSV of `kind` and report what happened to each row.

    `text` is the decoded file (a leading BOM is fine). `source` names where it came from
    (the file name); new doctors get `doctors.source = 'csv:<source>'`. Dates and times in
    the file are local to `tz`. Runs in one transaction (a savepoint when the caller
    already has one), each row in its own savepoint so a refused row does not undo the
    others; with `dry_run` everything is rolled back and the report says what would have
    happened. Raises ImportFileError, before touching the database, when the file cannot
    be used at all (empty, no header, a required column missing).
    """
    stored_source = f"csv:{source}"
    parsed: ParsedFile[Any]
    work: Callable[[], Awaitable[list[repo.Outcome | Rejection]]]
    if kind == "doctors":
        doctors = parsed = parse_doctors(text)
        work = lambda: _import_doctors(conn, doctors, stored_source)  # noqa: E731
    elif kind == "hospitals":
        hospitals = parsed = parse_hospitals(text)
        work = lambda: _import_hospitals(conn, hospitals)  # noqa: E731
    else:
        shifts = parsed = parse_shifts(text, tz=tz)
        work = lambda: _import_shifts(conn, shifts)  # noqa: E731
    out: list[repo.Outcome | Rejection] = list(parsed.rejected)
    try:
        async with conn.transaction():
            out += await work()
            if dry_run:
                raise _RollBack
    except _RollBack:
        pass
    counts = Counter(o for o in out if isinstance(o, str))
    report = ImportReport(
        kind=kind,
        source=stored_source,
        dry_run=dry_run,
        total=parsed.total,
        inserted=counts["inserted"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        rejected=sorted((o for o in out if isinstance(o, Rejection)), key=lambda r: r.line),
        ignored_columns=parsed.ignored_columns,
    )
    log.info(
        "import.done",
        kind=kind,
        dry_run=dry_run,
        total=report.total,
        inserted=report.inserted,
        updated=report.updated,
        unchanged=report.unchanged,
        rejected=len(report.rejected),
    )
    return report


_KIND_NAMES = {"doctors": "médicos", "hospitals": "hospitais", "shifts": "plantões"}


def report_text(report: ImportReport, *, file_name: str | None = None) -> str:
    """The report as the operator reads it (CLI, Slack): counts, then each refused line."""
    title = f"Importação de {_KIND_NAMES[report.kind]}"
    if file_name:
        title += f" ({file_name})"
    lines = [
        f"{title}: {report.total} linha(s) lida(s)",
        f"  inseridas:   {report.inserted}",
        f"  atualizadas: {report.updated}",
        f"  sem mudança: {report.unchanged}",
        f"  recusadas:   {len(report.rejected)}",
    ]
    if report.ignored_columns:
        lines.append("Colunas ignoradas: " + ", ".join(report.ignored_columns))
    if report.rejected:
        lines.append("Linhas recusadas:")
        lines += [f"  {rejection}" for rejection in report.rejected]
    if report.dry_run:
        lines.append("Simulação (--dry-run): nada foi gravado.")
    return "\n".join(lines)
