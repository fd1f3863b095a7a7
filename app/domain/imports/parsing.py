"""Reading operators' CSV files into typed rows (pure: no I/O, no database).

Files come from spreadsheets: UTF-8 with or without a BOM, `,` or `;` (Brazilian Excel) as
delimiter, headers in Portuguese or English with any case and accents. Each data row becomes
a typed row or a `Rejection` whose reason, in Portuguese, names the column at fault. A file
that cannot be read as a whole (no header, a required column missing) raises
`ImportFileError` and nothing is imported.

What needs the database (is the specialty known? does the hospital exist?) is checked later,
by the service.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

from app.core.errors import Invalid
from app.core.text import fold, strip_accents
from app.domain.doctors.phones import canonical_brazil, normalize_phone

Kind = Literal["doctors", "hospitals", "shifts"]
KINDS: tuple[Kind, ...] = ("doctors", "hospitals", "shifts")
PERIODS = ("diurno", "noturno", "integral")


class ImportFileError(Invalid, ValueError):
    """The file as a whole cannot be imported; the message is for the operator."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A data row that was not imported. `line` is the file's line number (header = 1)."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"linha {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class DoctorRow:
    line: int
    phone: str  # E.164 digits, canonical Brazilian form
    name: str | None
    crm: str | None
    crm_uf: str | None
    specialty: str | None  # as written; resolved against `specialties` by the service
    city: str | None
    state: str | None
    region: str | None
    notes: str | None


@dataclass(frozen=True, slots=True)
class HospitalRow:
    line: int
    name: str
    city: str
    state: str
    region: str | None
    address: str | None
    notes: str | None
    external_ref: str | None


@dataclass(frozen=True, slots=True)
class ShiftRow:
    line: int
    external_ref: str | None  # None: the service derives one from the resolved row
    hospital: str
    hospital_city: str | None
    specialty: str
    sector: str | None
    starts_at: datetime  # aware, UTC
    ends_at: datetime  # aware, UTC
    period: str
    pay_cents: int | None
    pay_min_cents: int | None
    pay_max_cents: int | None
    pay_note: str | None
    negotiation_margin_cents: int
    priority: int
    notes: str | None


Row = DoctorRow | HospitalRow | ShiftRow
RowT = TypeVar("RowT", DoctorRow, HospitalRow, ShiftRow)


@dataclass(frozen=True, slots=True)
class ParsedFile(Generic[RowT]):
    kind: Kind
    rows: list[RowT]
    rejected: list[Rejection]
    # Fields whose column is in the header: a column left out keeps what is stored.
    columns: frozenset[str]
    ignored_columns: tuple[str, ...]  # header cells that match no known column, as written
    total: int  # data rows read (blank lines are skipped)


# ---------------------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    field: str
    label: str  # how messages name it (Portuguese)
    aliases: tuple[str, ...]  # header spellings, as `header_key` leaves them
    required: bool = False


_PHONE = ("telefone", "phone", "celular", "whatsapp", "fone", "tel", "numero", "telefone_celular")
_CITY = ("cidade", "city", "municipio")
_STATE = ("uf", "estado", "state")
_REGION = ("regiao", "region")
_NOTES = ("observacoes", "observacao", "obs", "notes", "notas")
_REF = ("id", "external_ref", "codigo", "cod", "id_externo", "referencia")
_SPECIALTY = ("especialidade", "specialty")

COLUMNS: dict[Kind, tuple[Column, ...]] = {
    "doctors": (
        Column("phone", "telefone", _PHONE, required=True),
        Column("name", "nome", ("nome", "name", "nome_completo", "medico", "medica")),
        Column("crm", "crm", ("crm", "numero_crm", "crm_numero")),
        Column("crm_uf", "crm_uf", ("crm_uf", "uf_crm", "crmuf")),
        Column("specialty", "especialidade", _SPECIALTY),
        Column("city", "cidade", _CITY),
        Column("state", "uf", _STATE),
        Column("region", "regiao", _REGION),
        Column("notes", "observacoes", _NOTES),
    ),
    "hospitals": (
        Column("name", "nome", ("nome", "name", "nome_hospital"), required=True),
        Column("city", "cidade", _CITY, required=True),
        Column("state", "uf", _STATE, required=True),
        Column("region", "regiao", _REGION),
        Column("address", "endereco", ("endereco", "address")),
        Column("notes", "observacoes", _NOTES),
        Column("external_ref", "id", _REF),
    ),
    "shifts": (
        Column("external_ref", "id", _REF),
        Column("hospital", "hospital", ("hospital", "nome_hospital", "hospital_nome"), True),
        Column("hospital_city", "cidade", ("hospital_cidade", "cidade_hospital", *_CITY)),
        Column("specialty", "especialidade", _SPECIALTY, required=True),
        Column("sector", "setor", ("setor", "sector")),
        Column("date", "data", ("data", "date", "dia", "data_inicio"), required=True),
        Column("end_date", "data_fim", ("data_fim", "end_date", "data_termino")),
        Column("start", "inicio", ("inicio", "start", "hora_inicio", "horario_inicio"), True),
        Column("end", "fim", ("fim", "end", "hora_fim", "horario_fim", "termino"), True),
        Column("period", "periodo", ("periodo", "period", "turno")),
        Column("pay", "valor", ("valor", "pay", "valor_plantao", "remuneracao")),
        Column("pay_min", "valor_min", ("valor_min", "valor_minimo", "pay_min")),
        Column("pay_max", "valor_max", ("valor_max", "valor_maximo", "pay_max")),
        Column("pay_note", "observacao_valor", ("observacao_valor", "obs_valor", "pay_note")),
        Column("margin", "margem", ("margem", "negotiation_margin", "margem_negociacao")),
        Column("priority", "prioridade", ("prioridade", "priority")),
        Column("notes", "observacoes", _NOTES),
    ),
}

# Longest text kept per field: beyond this it is a spreadsheet accident, and indexed
# columns (names, ids) have a size limit in Postgres.
_MAX_LENGTH = {
    "name": 200,
    "hospital": 200,
    "city": 100,
    "hospital_city": 100,
    "region": 100,
    "specialty": 100,
    "sector": 100,
    "external_ref": 100,
    "crm": 20,
    "address": 300,
    "pay_note": 200,
    "notes": 2000,
}

_STATE_NAMES = {
    "acre": "AC",
    "alagoas": "AL",
    "amapa": "AP",
    "amazonas": "AM",
    "bahia": "BA",
    "ceara": "CE",
    "distrito federal": "DF",
    "espirito santo": "ES",
    "goias": "GO",
    "maranhao": "MA",
    "mato grosso": "MT",
    "mato grosso do sul": "MS",
    "minas gerais": "MG",
    "para": "PA",
    "paraiba": "PB",
    "parana": "PR",
    "pernambuco": "PE",
    "piaui": "PI",
    "rio de janeiro": "RJ",
    "rio grande do norte": "RN",
    "rio grande do sul": "RS",
    "rondonia": "RO",
    "roraima": "RR",
    "santa catarina": "SC",
    "sao paulo": "SP",
    "sergipe": "SE",
    "tocantins": "TO",
}
UFS = frozenset(_STATE_NAMES.values())

# ---------------------------------------------------------------------------------------
# Small parsers (public: the tests and the docs lean on them)
# ---------------------------------------------------------------------------------------


normalize_key = fold  # the Python twin of SQL `julia_normalize`


def header_key(text: str) -> str:
    """A header cell as the alias tables spell it: "Observação Valor" -> "observacao_valor"."""
    return re.sub(r"[^a-z0-9]+", "_", strip_accents(text).lower()).strip("_")


def parse_uf(raw: str) -> str | None:
    """ "sp", "SP", "São Paulo" -> "SP"; None when it is no Brazilian state."""
    text = raw.strip()
    if text.upper() in UFS:
        return text.upper()
    return _STATE_NAMES.get(normalize_key(text))


_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_YMD = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
MIN_YEAR, MAX_YEAR = 2000, 2100


def parse_date(raw: str) -> date | None:
    """DD/MM/YYYY or YYYY-MM-DD; None for anything else or a day that does not exist."""
    text = raw.strip()
    if m := _DMY.fullmatch(text):
        day, month, year = (int(g) for g in m.groups())
    elif m := _YMD.fullmatch(text):
        year, month, day = (int(g) for g in m.groups())
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


_TIME = re.compile(r"(\d{1,2})(?::(\d{2})(?::(\d{2}))?|[hH](\d{2})?)")


def parse_time(raw: str, *, allow_24: bool = False) -> tuple[time, bool] | None:
    """ "07:00", "7:00", "19:30:00", "7h", "19h30" -> (time, False).

    With `allow_24`, "24:00" is midnight at the end of the day: (00:00, True).
    """
    m = _TIME.fullmatch(raw.strip())
    if m is None:
        return None
    hour = int(m.group(1))
    minute = int(m.group(2) or m.group(4) or 0)
    second = int(m.group(3) or 0)
    if allow_24 and hour == 24 and minute == 0 and second == 0:
        return time(0), True
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second), False


MAX_CENTS = 2**31 - 1  # Postgres integer
_THOUSANDS = {".": re.compile(r"\d{1,3}(\.\d{3})+"), ",": re.compile(r"\d{1,3}(,\d{3})+")}


def parse_money(raw: str) -> int | None:
    """Reais as written in Brazil (or plainly) -> integer cents; None when not a value.

    "R$ 1.800,00", "1800", "1800,5", "1800.50", "1.800" (thousands) all work. A lone comma
    or dot followed by three digits is a thousands separator only for the dot ("1.800" is
    1800 in Brazil); "1,800" is ambiguous and refused.
    """
    text = re.sub(r"\s+", "", raw.strip())
    text = re.sub(r"^R\$", "", text, flags=re.IGNORECASE)
    if not re.fullmatch(r"[0-9.,]+", text) or not text[0].isdigit():
        return None
    decimal_sep: str | None = None
    if "." in text and "," in text:
        decimal_sep = "," if text.rfind(",") > text.rfind(".") else "."
    elif text.count(",") == 1:
        decimal_sep = ","
    elif text.count(".") == 1 and not re.fullmatch(r"\d{1,3}\.\d{3}", text):
        decimal_sep = "."
    if decimal_sep is None:
        integer, fraction = text, ""
    else:
        integer, _, fraction = text.rpartition(decimal_sep)
        if not (fraction.isdigit() and len(fraction) <= 2):
            return None
    for sep in {".", ","} - {decimal_sep}:
        if sep in integer:
            if not _THOUSANDS[sep].fullmatch(integer):
                return None
            integer = integer.replace(sep, "")
    if not integer.isdigit():
        return None
    cents = int(integer) * 100 + int(fraction.ljust(2, "0"))
    return cents if cents <= MAX_CENTS else None


_PERIOD_WORDS = {
    "diurno": "diurno",
    "dia": "diurno",
    "day": "diurno",
    "noturno": "noturno",
    "noite": "noturno",
    "night": "noturno",
    "integral": "integral",
    "24h": "integral",
    "full": "integral",
}


def parse_period(raw: str) -> str | None:
    return _PERIOD_WORDS.get(normalize_key(raw))


def derive_period(local_start: time, duration: timedelta) -> str:
    """20 h or more is integral; otherwise a start from 06:00 to 17:59 is diurno, else noturno."""
    if duration >= timedelta(hours=20):
        return "integral"
    return "diurno" if time(6) <= local_start < time(18) else "noturno"


MAX_SHIFT = timedelta(hours=48)

# ---------------------------------------------------------------------------------------
# Reading the table
# ---------------------------------------------------------------------------------------

_DELIMITERS = (",", ";", "\t")


def detect_delimiter(first_line: str) -> str:
    """The delimiter the header line uses most outside quotes (`,` when none)."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in first_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each non-blank record."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        raise ImportFileError("o arquivo tem caracteres nulos: não parece um CSV de texto")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=detect_delimiter(first_line))
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(f"CSV malformado perto da linha {reader.line_num}") from exc
        if any(cell.strip() for cell in cells):
            yield line, cells
        line = reader.line_num + 1


def _map_header(kind: Kind, header: list[str]) -> tuple[dict[int, Column], tuple[str, ...]]:
    by_alias = {alias: column for column in COLUMNS[kind] for alias in column.aliases}
    mapped: dict[int, Column] = {}
    seen: dict[str, str] = {}
    ignored: list[str] = []
    for index, cell in enumerate(header):
        written = cell.strip()
        column = by_alias.get(header_key(written))
        if column is None:
            if written:
                ignored.append(written)
            continue
        if column.field in seen:
            raise ImportFileError(
                f"as colunas '{seen[column.field]}' e '{written}' são a mesma coisa "
                f"({column.label}); deixe só uma"
            )
        seen[column.field] = written
        mapped[index] = column
    missing = [c for c in COLUMNS[kind] if c.required and c.field not in seen]
    if missing:
        names = ", ".join(c.label for c in missing)
        hint = "; ".join(f"{c.label}: {' / '.join(c.aliases[:4])}" for c in missing)
        raise ImportFileError(
            f"faltam colunas obrigatórias no cabeçalho: {names} (nomes aceitos: {hint})"
        )
    return mapped, tuple(ignored)


def _show(raw: str) -> str:
    return f"'{raw[:60]}…'" if len(raw) > 60 else f"'{raw}'"


T = TypeVar("T")


class _Cells:
    """One record's cells by field, collecting what is wrong with them (in column order)."""

    def __init__(self, kind: Kind, values: dict[str, str]) -> None:
        self.labels = {c.field: c.label for c in COLUMNS[kind]}
        self.values = values
        self.problems: list[str] = []

    def raw(self, field: str) -> str:
        return self.values.get(field, "").strip()

    def text(self, field: str, *, required: bool = False, single_line: bool = True) -> str | None:
        value = self.raw(field)
        if single_line:
            value = " ".join(value.split())
        if not value:
            if required:
                self.problems.append(f"{self.labels[field]} em branco")
            return None
        limit = _MAX_LENGTH.get(field, 200)
        if len(value) > limit:
            self.problems.append(f"{self.labels[field]} longo demais (máximo {limit} caracteres)")
            return None
        return value

    def parsed(
        self, field: str, parse: Callable[[str], T | None], invalid: str, *, required: bool = False
    ) -> T | None:
        """`parse(cell)`, or None for a blank cell; `invalid: 'cell'` when it cannot be read."""
        value = self.raw(field)
        if not value:
            if required:
                self.problems.append(f"{self.labels[field]} em branco")
            return None
        result = parse(value)
        if result is None:
            self.problems.append(f"{invalid}: {_show(value)}")
        return result


def _phone(raw: str) -> str | None:
    phone = normalize_phone(raw)
    return canonical_brazil(phone) if phone else None


def _crm(raw: str) -> str | None:
    """ "123456", "123.456", "CRM 123456" -> "123456"."""
    digits = re.sub(r"[\s./-]+", "", re.sub(r"^crm", "", raw, flags=re.IGNORECASE))
    return digits if digits.isascii() and digits.isdigit() and len(digits) <= 10 else None


def _shift_date(raw: str) -> date | None:
    day = parse_date(raw)
    return day if day is not None and MIN_YEAR <= day.year <= MAX_YEAR else None


def _priority(raw: str) -> int | None:
    if not re.fullmatch(r"[+-]?\d{1,5}", raw):
        return None
    value = int(raw)
    return value if -32768 <= value <= 32767 else None


def _doctor(line: int, c: _Cells) -> DoctorRow | None:
    phone = c.parsed("phone", _phone, "telefone inválido", required=True)
    name = c.text("name")
    crm = c.parsed("crm", _crm, "crm inválido")
    crm_uf = c.parsed("crm_uf", parse_uf, "crm_uf inválida")
    specialty = c.text("specialty")
    city = c.text("city")
    state = c.parsed("state", parse_uf, "uf inválida")
    region = c.text("region")
    notes = c.text("notes", single_line=False)
    if c.problems or phone is None:
        return None
    return DoctorRow(line, phone, name, crm, crm_uf, specialty, city, state, region, notes)


def _hospital(line: int, c: _Cells) -> HospitalRow | None:
    name = c.text("name", required=True)
    city = c.text("city", required=True)
    state = c.parsed("state", parse_uf, "uf inválida", required=True)
    region = c.text("region")
    address = c.text("address")
    notes = c.text("notes", single_line=False)
    external_ref = c.text("external_ref")
    if c.problems or name is None or city is None or state is None:
        return None
    return HospitalRow(line, name, city, state, region, address, notes, external_ref)


def _shift(line: int, c: _Cells, tz: ZoneInfo) -> ShiftRow | None:
    external_ref = c.text("external_ref")
    hospital = c.text("hospital", required=True)
    hospital_city = c.text("hospital_city")
    specialty = c.text("specialty", required=True)
    sector = c.text("sector")
    day = c.parsed("date", _shift_date, "data inválida", required=True)
    end_day = c.parsed("end_date", _shift_date, "data_fim inválida")
    start = c.parsed("start", parse_time, "início inválido", required=True)
    end = c.parsed("end", lambda s: parse_time(s, allow_24=True), "fim inválido", required=True)
    period = c.parsed("period", parse_period, "período inválido (use diurno, noturno ou integral)")
    pay_note = c.text("pay_note")
    if normalize_key(c.raw("pay")) == "a combinar":
        # "a combinar" typed in the value column: a note, not a number.
        pay = None
        pay_note = pay_note or "a combinar"
    else:
        pay = c.parsed("pay", parse_money, "valor inválido")
    pay_min = c.parsed("pay_min", parse_money, "valor_min inválido")
    pay_max = c.parsed("pay_max", parse_money, "valor_max inválido")
    if pay_min is not None and pay_max is not None and pay_min > pay_max:
        c.problems.append("valor_min maior que valor_max")
    margin = c.parsed("margin", parse_money, "margem inválida")
    priority = c.parsed("priority", _priority, "prioridade inválida")
    notes = c.text("notes", single_line=False)
    if day is None or start is None or end is None:
        return None

    (start_time, _), (end_time, end_is_24) = start, end
    if end_day is not None:
        end_date = end_day + timedelta(days=1) if end_is_24 else end_day
    elif end_is_24 or end_time <= start_time:
        # A night shift ends the next morning; equal times are a 24 h shift; "24:00" is
        # the midnight that ends the day.
        end_date = day + timedelta(days=1)
    else:
        end_date = day
    # Aware arithmetic in UTC: the wall clock may skip or repeat an hour (DST).
    starts_at = datetime.combine(day, start_time, tzinfo=tz).astimezone(UTC)
    ends_at = datetime.combine(end_date, end_time, tzinfo=tz).astimezone(UTC)
    if ends_at <= starts_at:
        c.problems.append("fim antes do início")
    elif ends_at - starts_at > MAX_SHIFT:
        c.problems.append("plantão com mais de 48 horas")
    if c.problems or hospital is None or specialty is None:
        return None
    return ShiftRow(
        line=line,
        external_ref=external_ref,
        hospital=hospital,
        hospital_city=hospital_city,
        specialty=specialty,
        sector=sector,
        starts_at=starts_at,
        ends_at=ends_at,
        period=period or derive_period(start_time, ends_at - starts_at),
        pay_cents=pay,
        pay_min_cents=pay_min,
        pay_max_cents=pay_max,
        pay_note=pay_note,
        negotiation_margin_cents=margin or 0,
        priority=priority or 0,
        notes=notes,
    )


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def _parse(
    kind: Kind,
    text: str,
    build: Callable[[int, _Cells], RowT | None],
    keys: Callable[[RowT], list[tuple[str, ...]]],
) -> ParsedFile[RowT]:
    records = _records(text)
    first = next(records, None)
    if first is None:
        raise ImportFileError("arquivo vazio: nem cabeçalho, nem linhas")
    _, header = first
    mapped, ignored = _map_header(kind, header)
    width = len(header)
    rows: list[RowT] = []
    rejected: list[Rejection] = []
    seen: dict[tuple[str, ...], int] = {}
    total = 0
    for line, cells in records:
        total += 1
        if any(cell.strip() for cell in cells[width:]):
            rejected.append(
                Rejection(
                    line,
                    f"a linha tem {len(cells)} colunas e o cabeçalho {width} "
                    "(vírgula ou ponto e vírgula fora de aspas?)",
                )
            )
            continue
        c = _Cells(kind, {mapped[i].field: cell for i, cell in enumerate(cells) if i in mapped})
        row = build(line, c)
        if row is None:
            rejected.append(Rejection(line, "; ".join(c.problems)))
            continue
        row_keys = keys(row)
        earlier = next((seen[k] for k in row_keys if k in seen), None)
        if earlier is not None:
            rejected.append(Rejection(line, f"duplicado da linha {earlier}"))
            continue
        seen.update(dict.fromkeys(row_keys, line))
        rows.append(row)
    return ParsedFile(
        kind=kind,
        rows=rows,
        rejected=rejected,
        columns=frozenset(c.field for c in mapped.values()),
        ignored_columns=ignored,
        total=total,
    )


def parse_doctors(text: str) -> ParsedFile[DoctorRow]:
    """Doctors keyed by phone: a phone seen earlier in the file rejects the later row."""
    return _parse("doctors", text, _doctor, lambda r: [("phone", r.phone)])


def parse_hospitals(text: str) -> ParsedFile[HospitalRow]:
    """Hospitals keyed by (name, city), accents and case ignored, and by id when given."""

    def keys(r: HospitalRow) -> list[tuple[str, ...]]:
        natural = [("name_city", normalize_key(r.name), normalize_key(r.city))]
        return natural + ([("ref", r.external_ref)] if r.external_ref else [])

    return _parse("hospitals", text, _hospital, keys)


def parse_shifts(text: str, *, tz: ZoneInfo) -> ParsedFile[ShiftRow]:
    """Shifts; dates and times are local to `tz`. Rows with the same id are duplicates
    (rows without one are compared by the service, once hospital and specialty are known)."""
    return _parse(
        "shifts",
        text,
        lambda line, c: _shift(line, c, tz),
        lambda r: [("ref", r.external_ref)] if r.external_ref else [],
    )
