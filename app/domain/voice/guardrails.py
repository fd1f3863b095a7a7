"""Checks on a generated reply before it reaches a doctor. Pure functions, no I/O.

`check_reply` reports what is wrong (at most one `Violation` per rule, the detail says
where); `repair_format` fixes what can be fixed mechanically (markdown, lists); anything
else — an AI disclosure, a money value no tool returned — needs a new reply or a safe
fallback. `money_cents` is also how the caller builds `allowed_cents`: it runs it over the
tool results, the briefing and the doctor's own messages.

Text is compared accent- and case-insensitively ("Robô" == "robo").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final, Literal

from app.core.text import strip_accents

Rule = Literal["ai_disclosure", "markdown", "list", "invented_value", "too_long", "empty"]

MAX_CHARS: Final = 700
MAX_MESSAGES: Final = 4


@dataclass(frozen=True)
class Violation:
    """One broken rule in a reply; `detail` is for logs, never for the doctor."""

    rule: Rule
    detail: str


def check_reply(text: str, *, allowed_cents: set[int]) -> list[Violation]:
    """Every rule the reply breaks, in a fixed order; an empty list means it may be sent."""
    stripped = text.strip()
    if not stripped:
        return [Violation("empty", "nothing left after stripping")]
    violations: list[Violation] = []
    if phrases := _ai_disclosures(stripped):
        violations.append(Violation("ai_disclosure", ", ".join(phrases)))
    if markers := _markdown_found(stripped):
        violations.append(Violation("markdown", ", ".join(markers)))
    items = _list_items(stripped)
    if len(items) >= 2:
        violations.append(Violation("list", f"{len(items)} list items"))
    invented = sorted(money_cents(stripped) - allowed_cents)
    if invented:
        amounts = ", ".join(_format_cents(c) for c in invented)
        violations.append(Violation("invented_value", f"amounts not from tools: {amounts}"))
    messages = len(_PARAGRAPH_BREAK.split(stripped))
    if len(stripped) > MAX_CHARS or messages > MAX_MESSAGES:
        violations.append(Violation("too_long", f"{len(stripped)} chars in {messages} messages"))
    return violations


# Folding -----------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lowercase, no accents, every run of non-word characters one space."""
    plain = strip_accents(text).lower()
    return " ".join(re.sub(r"[^a-z0-9_$]+", " ", plain).split())


# AI disclosure -----------------------------------------------------------------------------

# The agent's tool names: a reply that names one leaks the machinery. Kept here (the voice
# sits below the agent); tests/domain/test_guardrails.py checks it against the tools.
TOOL_NAMES: Final = (
    "search_shifts",
    "hospital_info",
    "reserve_shift",
    "save_memory",
    "update_profile",
    "request_human",
    "schedule_reminder",
)
_ART = r"(?:(?:um|uma|o|a|sua|tua|seu|teu|so|apenas|somente|tipo)\s+)*"
_MACHINE = (
    r"(?:programa|software|sistema|algoritmo|maquina|computador|robo|bot|chatbot|ia|modelo|"
    r"codigo|inteligencia artificial)"
)

# Each entry names what it catches (the label goes into the violation detail). Patterns run
# on folded text, so they are written without accents and with single spaces.
_AI_PHRASES: Final[tuple[tuple[str, str], ...]] = (
    # The words themselves: Julia has no reason to say any of them.
    ("inteligencia artificial", r"intelig\w* artificia\w*"),
    ("modelo de linguagem", r"modelos? (?:de|grandes? de) (?:linguagem|ia|inteligencia)"),
    ("language model", r"(?:large )?language models?"),
    ("llm", r"llms?"),
    ("chatbot", r"chat ?bots?"),
    ("bot", r"bots?"),
    ("robo", r"robo(?:s|zinh[oa]s?|zao)?|robots?"),
    ("chatgpt", r"chat ?gpt|gpt\w*|openai|open ai"),
    ("anthropic", r"anthropic"),
    ("claude", r"claude"),
    ("gemini/copilot", r"google gemini|copilot"),
    # "IA" only where it cannot be the verb "ia" ("eu ia te chamar").
    # "cada uma ia pra um lado" is the verb: not when a verb's complement follows.
    (
        "ia",
        r"(?:uma|sou|somos) ia(?! (?:pra|para|de|ser|fazer|te|me|ver|falar|dizer|chamar|mandar|"
        r"no|na|ao|a|o|embora|la|ali)\b)|ia (?:generativa|conversacional)",
    ),
    ("de ia", r"(?:assistente|modelo|sistema|agente|ferramenta|programa|tecnologia) de ia"),
    ("gerado por ia", r"(?:gerad|feit|escrit|criad|respondid)[ao]s? (?:por|com|pela) (?:uma )?ia"),
    ("english ai", r"as an ai|i am an ai|i m an ai|ai (?:assistant|model|language)"),
    # Assistant / virtual, but not "médico assistente" or "consulta virtual".
    (
        "virtual",
        r"(?:assistente|atendente|agente|recrutador|recrutadora|escalista|secretaria|"
        r"secretario|robo|pessoa|personagem|amiga|colega|consultora|consultor) virtua(?:l|is)",
    ),
    ("sou virtual", r"sou (?:\w+ )?virtual"),
    ("sou assistente", rf"(?:sou|aqui e|quem fala e) {_ART}assistente"),
    ("como assistente", r"como (?:sua|tua|uma) assistente"),
    (
        "assistente digital",
        r"assistente (?:digital|inteligente|automatic\w*|automatizad\w*|pessoal|de inteligencia)",
    ),
    # Automation, only when it is Julia or her message that is automatic.
    ("sou automatica", rf"sou {_ART}(?:\w+ )?(?:automatic|automatizad)\w*"),
    (
        "mensagem automatica",
        r"(?:esta|essa|este|esse|isso|isto|minha|minhas|meu|meus|nossa|nossas|aqui) "
        r"(?:e |eh |foi |sao )?(?:uma |um )?(?:mensage(?:m|ns)|respostas?|conversa|atendimento|"
        r"contato) (?:e |eh |foi |sao |foram )?(?:automatic|automatizad|gerad)\w*",
    ),
    ("atendimento automatico", r"atendimento (?:automatic|automatizad)\w*"),
    ("automaticamente", r"(?:respondo|respondi|gerad[ao]s?|escrit[ao]s?) automaticamente"),
    ("automated", r"automated"),
    ("sou uma maquina", rf"(?:sou|somos) {_ART}{_MACHINE}"),
    ("nao sou", rf"nao (?:sou|somos) {_ART}(?:{_MACHINE}|pessoa|humana|humano|gente|real)"),
    # How she was made.
    (
        "fui programada",
        r"(?:fui|sou|estou|estava|fomos) (?:programad|treinad|desenvolvid|configurad|instruid)"
        r"[ao]s?",
    ),
    ("fui criada por", r"fui (?:criad|feit)[ao] (?:por|pela|pelo|para|pra)"),
    (
        "me programaram",
        r"me (?:programaram|configuraram|desenvolveram)",
    ),
    ("programacao", r"minha programacao|dados de treinamento"),
    (
        "criadores",
        r"(?:meus|meu|minha|minhas) (?:criador|criadores|desenvolvedor|desenvolvedores|"
        r"programador|programadores)",
    ),
    ("prompt", r"prompts?|minhas instrucoes|minhas diretrizes"),
    ("tool", "|".join(TOOL_NAMES)),
    (
        "ferramenta",
        r"(?:usar|uso|chamar|chamo|chamei|acionar|acionei|usei|usando|chamando|consultar|"
        r"consultei) (?:a |uma |essa |minha |minhas |as )?ferramentas?",
    ),
    # Debating it: a person never has to swear she is one.
    ("sou humana", r"sou (?:humana|humano|real|de verdade|de carne e osso|gente)"),
    (
        "pessoa de verdade",
        r"(?:pessoa|gente|alguem|humano|humana) (?:de verdade|real)|ser humano|carne e osso",
    ),
    # Only as a kind of someone ("um humano", "atendente humano"), not "Hospital Humana".
    (
        "humano",
        r"(?:um|uma|outro|outra|algum|alguma|atendente|atendimento|operador|operadora|pessoa|"
        r"equipe|colega|suporte|agente|pro|pra|lado|parte) human[oa]",
    ),
    ("sem sentimentos", r"nao (?:tenho|possuo) (?:um )?(?:corpo|sentimentos|emocoes|consciencia)"),
)
_AI_RULES: Final = tuple((label, re.compile(rf"\b(?:{rx})\b")) for label, rx in _AI_PHRASES)

# Legitimate uses of the words above in recruiting talk, blanked out before matching.
_AI_EXEMPT: Final = re.compile(
    r"\b(?:"
    r"robos? (?:cirurgic\w*|da vinci|davinci)|"
    r"(?:cirurgias?|procedimentos?) (?:com|por|assistidas? por) robos?|"
    r"(?:dr|dra|doutor|doutora) claude|"
    r"corpo humano|"
    r"(?:anatomia|saude|fisiologia|especie|natureza|vida|dignidade|genetica|biologia) humana"
    r")\b"
)


def _ai_disclosures(text: str) -> list[str]:
    folded = _AI_EXEMPT.sub(" ", _fold(text))
    return [label for label, rule in _AI_RULES if rule.search(folded)]


# Markdown and lists ------------------------------------------------------------------------

_MARKDOWN: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("bold", re.compile(r"\*\*(?=\S)[^\n]*?\S\*\*|__(?=\S)[^\n]*?\S__")),
    # WhatsApp renders *x* as bold and _x_ as italic: both look like a template.
    ("emphasis", re.compile(r"(?<![\w*])\*(?=[^\s*])[^*\n]*?[^\s*]\*(?![\w*])")),
    ("italic", re.compile(r"(?<![\w_])_(?=[^\s_])[^_\n]*?[^\s_]_(?![\w_])")),
    ("heading", re.compile(r"(?m)^[ \t]{0,3}#{1,6}[ \t]+\S")),
    ("code", re.compile(r"`")),
    ("link", re.compile(r"\[[^\]\n]+\]\([^)\s]+\)")),
    ("table", re.compile(r"(?m)^[^\n]*\|[^\n]*\|[^\n]*$")),
    ("rule", re.compile(r"(?m)^[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*$")),
    ("quote", re.compile(r"(?m)^[ \t]*>[ \t]")),
)

# A line that starts like a list item: "-", "*", "•", "1.", "1)", "a)", or an emoji used as
# a bullet ("📍 Hospital X").
_BULLET = r"[-*•·▪◦●‣⁃–—+]"
_ITEM = re.compile(rf"^[ \t]*(?:{_BULLET}|\d{{1,2}}[.)]|[a-zA-Z][)])[ \t]+(?=\S)")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


def _emoji_bullet(line: str) -> int:
    """Length of a leading emoji bullet ("📍 ", "✅ ") or 0."""
    stripped = line.lstrip()
    offset = len(line) - len(stripped)
    end = 0
    while end < len(stripped) and (
        unicodedata.category(stripped[end]) == "So" or stripped[end] in "\ufe0f\u200d"
    ):
        end += 1
    if end and end < len(stripped) and stripped[end] in " \t":
        return offset + end + 1
    return 0


def _item_marker(line: str) -> int:
    """Length of the list marker that opens `line`, or 0."""
    if match := _ITEM.match(line):
        return match.end()
    return _emoji_bullet(line)


def _list_items(text: str) -> list[str]:
    return [line for line in text.splitlines() if _item_marker(line)]


def _markdown_found(text: str) -> list[str]:
    return [name for name, rx in _MARKDOWN if rx.search(text)]


def repair_format(text: str) -> str:
    """The same words without markdown, and with list items as separate short messages.

    Deterministic: emphasis markers, heading hashes, backticks, quote marks and table pipes
    are removed (a link becomes "text (url)"), and when there are two or more list items
    each becomes its own blank-line-separated message. Whitespace is tidied.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"(?m)^[ \t]*```[^\n]*$", "", text)
    text = text.replace("`", "")
    text = re.sub(r"\[([^\]\n]+)\]\(([^)\s]+)\)", _link, text)
    text = re.sub(r"(?m)^[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*$", "", text)
    text = re.sub(r"(?m)^[ \t]{0,3}#{1,6}[ \t]+", "", text)
    text = re.sub(r"(?m)^[ \t]*>[ \t]?", "", text)
    text = _repair_tables(text)
    text = re.sub(r"\*\*(?=\S)([^\n]*?\S)\*\*", r"\1", text)
    text = re.sub(r"__(?=\S)([^\n]*?\S)__", r"\1", text)
    text = re.sub(r"(?<![\w*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w_])", r"\1", text)
    # Stray markers the pairs above did not consume ("**Valor: R$ 1.800" cut short).
    text = text.replace("**", "").replace("__", "")

    lists = len(_list_items(text)) >= 2
    messages: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        current: list[str] = []
        for raw in paragraph.split("\n"):
            line = raw
            marker = _item_marker(line) if lists else 0
            if marker:
                line = line[marker:]
            line = " ".join(line.split())
            if not line:
                continue
            if marker:
                if current:
                    messages.append("\n".join(current))
                    current = []
                messages.append(line)
            else:
                current.append(line)
        if current:
            messages.append("\n".join(current))
    return "\n\n".join(messages)


def _link(match: re.Match[str]) -> str:
    label, url = match.group(1), match.group(2)
    return label if label.strip() == url else f"{label} ({url})"


def _repair_tables(text: str) -> str:
    lines: list[str] = []
    for line in text.split("\n"):
        if line.count("|") < 2:
            lines.append(line)
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-{2,}:?", cell) for cell in cells if cell):
            continue  # the |---|---| separator row carries no words
        lines.append(", ".join(cell for cell in cells if cell))
    return "\n".join(lines)


# Money -------------------------------------------------------------------------------------

_UNIT_WORDS: Final = frozenset({"reais", "conto", "contos", "pila", "pilas"})
_CURRENCY_WORDS: Final = frozenset({"brl"})
# After "N mil" these make it a count, not money ("2 mil médicos").
_COUNT_NOUNS: Final = frozenset(
    {
        "medico",
        "medicos",
        "medica",
        "medicas",
        "pessoas",
        "profissionais",
        "habitantes",
        "pacientes",
        "atendimentos",
        "leitos",
        "vagas",
        "plantoes",
        "plantonistas",
        "hospitais",
        "km",
        "quilometros",
        "metros",
        "horas",
        "h",
        "minutos",
        "dias",
        "vezes",
        "mensagens",
        "usuarios",
        "seguidores",
        "clientes",
        "cadastrados",
        "exames",
        "cirurgias",
        "consultas",
        "anos",
        "meses",
    }
)
_WORD_VALUES: Final[dict[str, int]] = {
    "um": 1,
    "uma": 1,
    "dois": 2,
    "duas": 2,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
    "dez": 10,
    "onze": 11,
    "doze": 12,
    "treze": 13,
    "quatorze": 14,
    "catorze": 14,
    "quinze": 15,
    "dezesseis": 16,
    "dezasseis": 16,
    "dezessete": 17,
    "dezoito": 18,
    "dezenove": 19,
    "vinte": 20,
    "trinta": 30,
    "quarenta": 40,
    "cinquenta": 50,
    "sessenta": 60,
    "setenta": 70,
    "oitenta": 80,
    "noventa": 90,
    "cem": 100,
    "cento": 100,
    "duzentos": 200,
    "duzentas": 200,
    "trezentos": 300,
    "trezentas": 300,
    "quatrocentos": 400,
    "quinhentos": 500,
    "seiscentos": 600,
    "setecentos": 700,
    "oitocentos": 800,
    "novecentos": 900,
}
# Tokens: the currency sign, numbers with their separators, words.
_TOKEN = re.compile(r"(?<![a-z0-9])r ?\$|\$|\d(?:[\d.,]*\d)?|[a-z]+")
_PLAIN_NUMBER = re.compile(r"\d{1,3}")
_RANGE_WORDS: Final = frozenset({"a", "e", "ou", "ate"})


def money_cents(text: str, *, bare_numbers: bool = False) -> set[int]:
    """Every money amount in `text`, in cents.

    Money is a number with a currency sign ("R$ 2.500", "R$1.800,00"), a unit ("1800
    reais", "dois mil e quinhentos reais"), or a thousands word ("2,5 mil", "2k", "2 mil e
    500"), and a bare number right after money in a range ("R$ 2.000 a 2.500"). Dates,
    times, durations, CRM and phone numbers have none of these and are ignored, as is "N
    mil" followed by a count noun ("2 mil médicos") and a lone "mil" ("mil desculpas").

    `bare_numbers=True` also counts any number from 100 up that is not followed by a count
    noun or a time unit: for the doctor's own messages, where "1800 tá baixo, faz 2200?"
    means money, so Julia may quote those values back.
    """
    tokens = _tokens(text)
    found: set[int] = set()
    i = 0
    after_money = False
    while i < len(tokens):
        currency = tokens[i] in ("r$", "$") or tokens[i] in _CURRENCY_WORDS
        start = i + 1 if currency else i
        amount = _amount(tokens, start)
        if amount is None:
            after_money = after_money and tokens[i] in _RANGE_WORDS
            i += 1
            continue
        value, end, marked = amount
        ranged = after_money and _range_end(tokens, start, end, value)
        bare = bare_numbers and _range_end(tokens, start, end, value)
        if currency or marked or ranged or bare:
            found.add(_to_cents(value))
            after_money = True
        else:
            after_money = False
        i = max(end, i + 1)
    return found


def _range_end(tokens: list[str], start: int, end: int, value: Decimal) -> bool:
    # Whether a number without currency or unit may still be money: "R$ 2.000 a 2.500"
    # (the upper bound of a range) but not "R$ 1.800 e 12 horas" nor "R$ 1.800 e um
    # plantão": digits only, money-sized, no count noun after it.
    return (
        tokens[start][0].isdigit()
        and value >= 100
        and not (end < len(tokens) and tokens[end] in _COUNT_NOUNS)
    )


def _tokens(text: str) -> list[str]:
    plain = strip_accents(text).lower()
    return [t.replace(" ", "") for t in _TOKEN.findall(plain)]


def _amount(tokens: list[str], i: int) -> tuple[Decimal, int, bool] | None:
    """(value, index after it, whether a unit or "mil"/"k" marks it as money)."""
    if i >= len(tokens):
        return None
    word = tokens[i]
    thousands = False
    if word[0].isdigit():
        number = _parse_number(word)
        if number is None:
            return None
        value, j = number, i + 1
        if j < len(tokens) and tokens[j] in ("mil", "k"):
            thousands = True
            value *= 1000
            j += 1
            value, j = _add_hundreds(tokens, j, value)
    elif word in _WORD_VALUES or word == "mil":
        words = _number_words(tokens, i)
        if words is None:
            return None
        whole, j, thousands = words
        value = Decimal(whole)
    else:
        return None
    if tokens[j : j + 1] == ["de"] and tokens[j + 1 : j + 2] and tokens[j + 1] in _UNIT_WORDS:
        j += 1
    if j < len(tokens) and tokens[j] in _UNIT_WORDS:
        return value, j + 1, True
    next_word = tokens[j] if j < len(tokens) else ""
    marked = thousands and next_word not in _COUNT_NOUNS
    return value, j, marked


def _add_hundreds(tokens: list[str], j: int, value: Decimal) -> tuple[Decimal, int]:
    """ "2 mil e 500", "2 mil e quinhentos": the part after "mil e"."""
    if j + 1 < len(tokens) and tokens[j] == "e":
        nxt = tokens[j + 1]
        if _PLAIN_NUMBER.fullmatch(nxt):
            return value + int(nxt), j + 2
        if nxt in _WORD_VALUES:
            words = _number_words(tokens, j + 1)
            if words is not None and words[0] < 1000:
                return value + words[0], words[1]
    return value, j


def _number_words(tokens: list[str], i: int) -> tuple[int, int, bool] | None:
    """A run of number words from `i`: (value, index after it, whether "N mil" is in it)."""
    total = current = 0
    thousands = False
    j = i
    seen_number = False
    while j < len(tokens):
        word = tokens[j]
        if word == "mil":
            thousands = thousands or seen_number
            total += (current or 1) * 1000
            current = 0
        elif word in _WORD_VALUES:
            current += _WORD_VALUES[word]
            seen_number = True
        elif (
            word == "e"
            and j > i
            and j + 1 < len(tokens)
            and (tokens[j + 1] in _WORD_VALUES or tokens[j + 1] == "mil")
        ):
            j += 1
            continue
        else:
            break
        j += 1
    if j == i:
        return None
    return total + current, j, thousands


def _parse_number(token: str) -> Decimal | None:
    """A number written pt-BR ("2.500", "1.800,00", "2,5") or en style ("2500.00")."""
    separators = [k for k, ch in enumerate(token) if ch in ".,"]
    if not separators:
        return Decimal(token)
    last = separators[-1]
    decimals = len(token) - last - 1
    groups = re.split(r"[.,]", token)
    if len(separators) > 1 and token[last] != token[separators[0]]:
        # Both kinds: the last one is the decimal mark.
        if decimals > 2 or any(len(g) != 3 for g in groups[1:-1]):
            return None
        integer = re.sub(r"[.,]", "", token[:last])
        return _decimal(f"{integer}.{token[last + 1 :]}")
    if all(len(g) == 3 for g in groups[1:]) and len(groups[0]) <= 3:
        return _decimal("".join(groups))  # thousands: "2.500", "1.234.567"
    if len(separators) == 1 and decimals <= 2:
        return _decimal(token.replace(",", "."))  # decimal: "2,5", "1800.00"
    return None


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _to_cents(value: Decimal) -> int:
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _format_cents(cents: int) -> str:
    reais, rest = divmod(cents, 100)
    return f"R$ {reais:,}".replace(",", ".") + f",{rest:02d}"
