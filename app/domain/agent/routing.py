"""Which model answers a turn: the fast one by default, the stronger one for hard turns."""

from __future__ import annotations

import re

from app.domain.inbox.detection import normalize

# Objections and negotiation: pay, distance, doubts about the company, comparisons.
_HARD = re.compile(
    r"\b(caro|barato|pouco|baixo|mais alto|aumentar|aumenta|sobe|subir|negociar|negocia"
    r"|desconto|contraproposta|proposta|valor|valores|quanto paga|pagamento|atrasa|atraso"
    r"|calote|confiavel|confianca|golpe|longe|distante|deslocamento|outra empresa"
    r"|concorrente|pagam mais|nao compensa|nao vale|complicado|duvida|desconfi\w*)\b"
)

LONG_CONVERSATION = 16
LONG_BURST_CHARS = 500


def is_hard_turn(*, burst_text: str, history_len: int, returning: bool) -> bool:
    return (
        returning
        or history_len >= LONG_CONVERSATION
        or len(burst_text) > LONG_BURST_CHARS
        or bool(_HARD.search(normalize(burst_text)))
    )


def choose_model(
    simple: str, complex_: str, *, burst_text: str, history_len: int, returning: bool
) -> str:
    hard = is_hard_turn(burst_text=burst_text, history_len=history_len, returning=returning)
    return complex_ if hard else simple
