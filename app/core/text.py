"""Text folding shared by the domains: accents and case aside, as SQL `julia_normalize`."""

from __future__ import annotations

import unicodedata


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """The Python twin of SQL `julia_normalize`: no accents, lower case, single spaces
    ("  Clínica   Médica " -> "clinica medica")."""
    return " ".join(strip_accents(text).lower().split())
