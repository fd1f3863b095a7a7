"""Money and pay as a doctor reads them (pt-BR), for replies, tools and openers alike."""

from __future__ import annotations


def format_brl(cents: int) -> str:
    """R$ with Brazilian separators, cents only when there are any:
    180000 -> 'R$ 1.800', 180050 -> 'R$ 1.800,50', -5000 -> 'R$ -50'."""
    reais, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    text = f"R$ {sign}{reais:,}".replace(",", ".")
    return f"{text},{rest:02d}" if rest else text


def pay_text(
    pay_cents: int | None,
    pay_min_cents: int | None,
    pay_max_cents: int | None,
    *,
    note: str | None = None,
) -> str:
    """The published pay: fixed ("R$ 2.100"), a range ("R$ 1.800 a R$ 2.200"), a floor
    ("a partir de …"), a ceiling ("até …"), else the note or "a combinar"."""
    if pay_cents is not None:
        return format_brl(pay_cents)
    low, high = pay_min_cents, pay_max_cents
    if low is not None and high is not None:
        low, high = sorted((low, high))
        return format_brl(low) if low == high else f"{format_brl(low)} a {format_brl(high)}"
    if low is not None:
        return f"a partir de {format_brl(low)}"
    if high is not None:
        return f"até {format_brl(high)}"
    return note or "a combinar"
