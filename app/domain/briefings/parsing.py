"""The weekly briefing document read into directives. Pure functions, no I/O.

The manager writes a Google Doc with sections, each a heading line followed by its text:

    Foco da Semana            what to push this week (free text)
    Vagas Prioritárias        one line per shift: "Hospital São Luiz – 12/03 – até R$ 2.500"
    Tom da Semana             how Julia should sound (free text)
    Margem de Negociação      "até R$ 300" or "10%" above the published value
    Observações               anything else Julia should know (free text)

Headings are matched case- and accent-insensitively, with or without a trailing colon (text
after the colon is the section's first line); bullets ("*", "-", "•") are dropped. Lines
before the first heading (the document's title) are ignored. A document is refused, with
a reason in Portuguese naming the line, when it has no known section, repeats one, leaves
every section empty, or has a priority line or a margin that cannot be read.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Final

from app.core.text import fold
from app.domain.voice.guardrails import money_cents

FOCUS: Final = "foco"
PRIORITIES: Final = "vagas"
TONE: Final = "tom"
MARGIN: Final = "margem"
NOTES: Final = "observacoes"

# Folded heading text -> section. The first names are the ones DOMAIN.md gives.
_HEADINGS: Final[dict[str, str]] = {
    "foco da semana": FOCUS,
    "foco": FOCUS,
    "vagas prioritarias": PRIORITIES,
    "vagas prioritarias da semana": PRIORITIES,
    "prioridades": PRIORITIES,
    "tom da semana": TONE,
    "tom": TONE,
    "margem de negociacao": MARGIN,
    "margem de negociacao da semana": MARGIN,
    "margem": MARGIN,
    "observacoes": NOTES,
    "observacao": NOTES,
    "obs": NOTES,
}
SECTION_NAMES: Final[dict[str, str]] = {
    FOCUS: "Foco da Semana",
    PRIORITIES: "Vagas Prioritárias",
    TONE: "Tom da Semana",
    MARGIN: "Margem de Negociação",
    NOTES: "Observações",
}
_BULLET = re.compile(r"^\s*(?:[*\-•●○◦▪■–—]|\d{1,2}[.)])\s+")
_MARKDOWN_HEADING = re.compile(r"^\s*#{1,6}\s*")
# The separators of a priority line: dashes with spaces around, or a bar.
_FIELD_SEPARATOR = re.compile(r"\s+[–—-]\s+|\s*\|\s*")
_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?$")
_PERCENT = re.compile(r"(\d{1,2}(?:[.,]\d+)?)\s*%")
_PERIODS: Final[dict[str, str]] = {
    "noturno": "noturno",
    "noite": "noturno",
    "diurno": "diurno",
    "dia": "diurno",
    "integral": "integral",
    "24h": "integral",
}
MAX_SECTION_CHARS = 1500
MAX_PRIORITIES = 30


class BriefingError(ValueError):
    """The document cannot be applied; the message (pt-BR) says why, for the managers."""


@dataclass(frozen=True, slots=True)
class Priority:
    """One "Vagas Prioritárias" line: a hospital (as written), a local date, optionally a
    period and the most Julia may offer for that shift."""

    line: str
    hospital: str
    day: date
    period: str | None = None
    pay_cap_cents: int | None = None
    detail: str | None = None  # anything else on the line ("pediatria", "PS adulto")


@dataclass(frozen=True, slots=True)
class Margin:
    """How far above the published value Julia may negotiate this week."""

    cents: int | None = None
    percent: float | None = None

    def describe(self) -> str:
        if self.cents is not None:
            reais = f"{self.cents // 100:,}".replace(",", ".")
            return f"até R$ {reais} acima do valor publicado"
        return f"até {self.percent:g}% acima do valor publicado".replace(".", ",")


@dataclass(frozen=True, slots=True)
class Directives:
    """What a briefing asks of Julia this week."""

    focus: str | None = None
    tone: str | None = None
    notes: str | None = None
    margin: Margin | None = None
    priorities: tuple[Priority, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["priorities"] = [{**asdict(p), "day": p.day.isoformat()} for p in self.priorities]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Directives:
        margin = data.get("margin")
        return cls(
            focus=data.get("focus"),
            tone=data.get("tone"),
            notes=data.get("notes"),
            margin=Margin(**margin) if isinstance(margin, dict) else None,
            priorities=tuple(
                Priority(**{**p, "day": date.fromisoformat(p["day"])})
                for p in data.get("priorities") or []
            ),
        )


def parse(text: str, *, today: date) -> Directives:
    """The directives of a briefing document exported as plain text. `today` (local date)
    places a "12/03" without a year: the nearest such date not more than 60 days past.
    Raises `BriefingError` with the reason when the document cannot be applied."""
    sections: dict[str, list[tuple[int, str]]] = {}
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _MARKDOWN_HEADING.sub("", _BULLET.sub("", raw)).strip()
        if not line:
            continue
        section, rest = _heading(line)
        if section is not None:
            if section in sections:
                raise BriefingError(
                    f"a seção “{SECTION_NAMES[section]}” aparece duas vezes (linha {number})"
                )
            sections[section] = []
            current = section
            if rest:
                sections[section].append((number, rest))
        elif current is not None:
            sections[current].append((number, line))
    if not sections:
        raise BriefingError(
            "nenhuma seção reconhecida; o documento precisa de pelo menos uma destas: "
            + ", ".join(SECTION_NAMES.values())
        )
    if not any(sections.values()):
        raise BriefingError("todas as seções estão vazias")
    return Directives(
        focus=_free_text(sections, FOCUS),
        tone=_free_text(sections, TONE),
        notes=_free_text(sections, NOTES),
        margin=_margin(sections.get(MARGIN) or []),
        priorities=_priorities(sections.get(PRIORITIES) or [], today=today),
    )


def _heading(line: str) -> tuple[str | None, str]:
    name, colon, rest = line.partition(":")
    section = _HEADINGS.get(fold(name).strip(" *_"))
    if section is None:
        return None, ""
    return section, rest.strip() if colon else ""


def _free_text(sections: dict[str, list[tuple[int, str]]], key: str) -> str | None:
    lines = [text for _, text in sections.get(key) or []]
    if not lines:
        return None
    joined = "\n".join(lines)
    if len(joined) > MAX_SECTION_CHARS:
        raise BriefingError(
            f"a seção “{SECTION_NAMES[key]}” passa de {MAX_SECTION_CHARS} caracteres"
        )
    return joined


def _margin(lines: list[tuple[int, str]]) -> Margin | None:
    if not lines:
        return None
    number, text = lines[0]
    if len(lines) > 1:
        raise BriefingError(
            f"a “Margem de Negociação” deve ter uma linha só, como “até R$ 300” ou “10%” "
            f"(linha {lines[1][0]})"
        )
    if match := _PERCENT.search(text):
        percent = float(match.group(1).replace(",", "."))
        if 0 < percent <= 50:
            return Margin(percent=percent)
        raise BriefingError(f"margem de {match.group(1)}% fora do razoável (linha {number})")
    amounts = money_cents(text, bare_numbers=True)
    if len(amounts) == 1 and (cents := next(iter(amounts))) > 0:
        return Margin(cents=cents)
    raise BriefingError(
        f"não entendi a margem “{text}” (linha {number}); escreva “até R$ 300” ou “10%”"
    )


def _priorities(lines: list[tuple[int, str]], *, today: date) -> tuple[Priority, ...]:
    if len(lines) > MAX_PRIORITIES:
        raise BriefingError(f"mais de {MAX_PRIORITIES} vagas prioritárias")
    return tuple(_priority(number, text, today=today) for number, text in lines)


def _priority(number: int, text: str, *, today: date) -> Priority:
    parts = [p.strip() for p in _FIELD_SEPARATOR.split(text) if p.strip()]
    example = "“Hospital São Luiz – 12/03 – até R$ 2.500”"
    if len(parts) < 2:
        raise BriefingError(
            f"vaga prioritária ilegível na linha {number} (“{text}”); use o formato {example}"
        )
    hospital, day, period, cap = parts[0], None, None, None
    details: list[str] = []
    for part in parts[1:]:
        if match := _DAY.match(part):
            day = _date(match, today=today, number=number, text=part)
        elif (folded := fold(part)) in _PERIODS:
            period = _PERIODS[folded]
        elif amounts := money_cents(part, bare_numbers=True):
            if len(amounts) > 1:
                raise BriefingError(f"mais de um valor na vaga da linha {number} (“{text}”)")
            cap = next(iter(amounts))
        else:
            details.append(part)
    if day is None:
        raise BriefingError(f"a vaga prioritária da linha {number} (“{text}”) não tem data (dd/mm)")
    if not any(ch.isalpha() for ch in hospital):
        raise BriefingError(f"a vaga prioritária da linha {number} não diz o hospital")
    return Priority(
        line=text,
        hospital=hospital,
        day=day,
        period=period,
        pay_cap_cents=cap,
        detail=", ".join(details) or None,
    )


def _date(match: re.Match[str], *, today: date, number: int, text: str) -> date:
    day, month, year = int(match.group(1)), int(match.group(2)), match.group(3)
    try:
        if year is not None:
            full = int(year) + (2000 if len(year) == 2 else 0)
            return date(full, month, day)
        candidate = date(today.year, month, day)
        if (today - candidate).days > 60:
            candidate = date(today.year + 1, month, day)
        return candidate
    except ValueError:
        raise BriefingError(f"a data “{text}” da linha {number} não existe") from None
