"""Julia's proactive WhatsApp messages: openers, follow-ups and operator templates.

Pure functions, no I/O and no model: the caller picks a `variant` (for example from the
doctor's id) and gets one WhatsApp message of at most three short lines.

Each writer combines independent pieces (greeting, self-introduction, hook, question or
closing). The pools of one writer have pairwise coprime sizes and piece i is
`pool_i[variant % len(pool_i)]`, so by the Chinese remainder theorem every `variant` in
`range(product of the sizes)` gives a different combination, and consecutive variants
(consecutive doctors in a campaign) differ in every piece, not just the last one.
`VARIANTS` is the smallest of those products: for the same inputs, variants
`0..VARIANTS-1` of any writer give that many distinct texts (unless the names are so long
that a shorter fallback wording is needed to stay within 350 characters). At most one
emoji, in a minority of texts, chosen with `random.Random(variant)`: same inputs and
variant, same text.

Every text passes `check_reply` (app/domain/voice/guardrails.py) when the allowed
money values are the shift's own `pay_cents`, `pay_min_cents` and `pay_max_cents`: money is
only ever quoted from those fields.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from app.core.errors import Invalid
from app.core.text import fold
from app.domain.voice.formatting import pay_text
from app.domain.voice.guardrails import check_reply, money_cents

DEFAULT_COMPANY: Final = "Revoluna"
_MAX_CHARS: Final = 350

OpenerKind = Literal["descoberta", "oferta", "reativacao", "manual"]
FollowupStep = Literal[1, 2, 3]


@dataclass(frozen=True, slots=True)
class ShiftBrief:
    """What a message may say about one open shift."""

    hospital: str
    city: str | None
    specialty: str
    sector: str | None
    starts_at: datetime  # aware; a naive value is taken as already in the writer's tz
    ends_at: datetime
    period: str  # diurno | noturno | integral
    pay_cents: int | None
    pay_min_cents: int | None
    pay_max_cents: int | None
    pay_note: str | None  # e.g. "a combinar"


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a message may say about the doctor it goes to."""

    name: str | None  # "Dra. Ana Souza", "João", None when unknown
    specialty: str | None
    city: str | None


class TemplateError(Invalid, ValueError):
    """An operator's template that cannot be used; the message is for the operator."""


# Pieces ------------------------------------------------------------------------------------
# Placeholders inside pieces: {n} how Julia addresses the doctor, {c} the company, {v} "plantão
# de pediatria em Campinas" (as much as is known), {vp} the same in the plural, {p} the kind
# of shift ("plantão", "noturno", "diurno"), {w} " em Campinas" (the shift's city) or "".
# Pools used together must have pairwise coprime sizes (see the module docstring).

_GREETINGS_NAMED: Final = (  # 8
    "oi {n}, tudo bem?",
    "oi {n}! td bem?",
    "olá {n}, tudo bem?",
    "{n}, tudo bem?",
    "oi {n}, como vai?",
    "oi, {n}! tudo certo?",
    "oii {n}, td bem?",
    "oi {n}, tudo tranquilo?",
)
_GREETINGS_PLAIN: Final = (  # 8, same shape as the named ones
    "oi, tudo bem?",
    "oi! td bem?",
    "olá, tudo bem?",
    "opa, tudo bem?",
    "oi, como vai?",
    "oi! tudo certo?",
    "oii, td bem?",
    "oi, tudo tranquilo?",
)

_INTROS: Final = (  # 5
    "sou a Julia, escalista da {c}",
    "aqui é a Julia, da {c}",
    "me chamo Julia, trabalho com escala de plantão na {c}",
    "sou a Julia, cuido das escalas de plantão da {c}",
    "Julia aqui, escalista da {c}",
)

_DISCOVERY_HOOKS: Final = (  # 7
    "tô com umas vagas de {v} e lembrei de vc",
    "de vez em quando me aparece vaga boa de {v}",
    "tô montando a equipe de {v} pros próximos meses",
    "tem bastante hospital precisando de gente pra {v}",
    "tô ajudando uns hospitais a fechar {vp}",
    "sempre surge {v} aqui com a gente",
    "tô procurando gente boa pra {vp}",
)

_DISCOVERY_QUESTIONS: Final = (  # 9
    "vc tá pegando plantão extra?",
    "vc teria interesse?",
    "posso te mandar quando aparecer algo que combine com vc?",
    "vc costuma fazer plantão avulso?",
    "faz sentido eu te chamar quando tiver alguma coisa?",
    "como tá sua agenda pros próximos meses?",
    "se fizer sentido, te mando as vagas por aqui. pode ser?",
    "vc tem feito plantão ultimamente?",
    "tem interesse em receber umas opções por aqui?",
)

_OFFER_HOOKS: Final = (  # 7, followed by the shift line
    "apareceu um {p}{w} e lembrei de vc:",
    "tenho um {p}{w} aberto:",
    "surgiu esse {p}{w}:",
    "tô com esse {p}{w}, vê se te serve:",
    "abriu um {p}{w} que pode combinar com vc:",
    "tenho esse {p}{w} pra fechar:",
    "olha esse {p}{w}:",
)

_OFFER_QUESTIONS: Final = (  # 9
    "tem interesse?",
    "vc toparia?",
    "faz sentido pra vc?",
    "quer que eu te passe os detalhes?",
    "se te interessar, me fala",
    "te interessa?",
    "seria uma boa pra vc?",
    "dá pra vc?",
    "se quiser, te conto mais",
)

_REUNIONS: Final = (  # 5, after the greeting: she talked to this doctor months ago
    "faz tempo que a gente não se fala, aqui é a Julia da {c}",
    "quanto tempo! é a Julia, da {c}",
    "lembra de mim? sou a Julia, escalista da {c}",
    "faz um tempão que a gente não conversa, aqui é a Julia da {c}",
    "aqui é a Julia, da {c}. a gente se falou uns meses atrás",
)

_REACTIVATION_HOOKS: Final = (  # 7
    "tô passando pra saber como vc tá",
    "tô com umas vagas de {v} e lembrei de vc",
    "tem aparecido bastante coisa de {v} por aqui",
    "resolvi te chamar porque tá aparecendo bastante {v}",
    "tô organizando a escala de {v} e lembrei de vc",
    "lembrei de vc agora vendo umas vagas de {v}",
    "apareceram umas coisas boas de {v} e pensei em vc",
)

_REACTIVATION_QUESTIONS: Final = (  # 9
    "vc ainda tá pegando plantão?",
    "como tá sua agenda esses meses?",
    "se quiser, te mando o que for aparecendo",
    "ainda faz sentido pra vc receber vaga por aqui?",
    "vc continua fazendo plantão?",
    "tá com espaço na agenda pra algum plantão?",
    "quer que eu te avise quando aparecer algo?",
    "mudou alguma coisa na sua rotina de plantão?",
    "se tiver interesse, me fala",
)

# Follow-ups: greeting (8) x body (9) x closing (7) = 504 each.

_NUDGES: Final = (  # 9, step 1, ~48 h after an unanswered opener
    "passando só pra ver se vc viu minha mensagem",
    "sei que a rotina de plantão é corrida",
    "só dando um oi pra minha mensagem não se perder aí",
    "imagino que a semana esteja puxada",
    "voltando aqui rapidinho",
    "não sei se vc chegou a ver o que te mandei",
    "te mandei uma mensagem outro dia, não sei se vc viu",
    "sem querer encher, só queria saber se vc viu minha mensagem",
    "vim só puxar o assunto de novo",
)
_NUDGE_CLOSINGS: Final = (  # 7
    "quando puder, me fala",
    "se tiver interesse, é só me responder por aqui",
    "qualquer coisa me chama",
    "me fala se fizer sentido pra vc",
    "sem pressa, tá?",
    "se agora não der, sem problema",
    "se quiser, te mando as vagas que tenho",
)

_SECOND_HOOKS: Final = (  # 9, step 2 with a shift, followed by the shift line
    "apareceu esse {p}{w} e lembrei de vc:",
    "tenho um {p}{w} aberto que pode te interessar:",
    "surgiu um {p}{w} aqui:",
    "olha esse {p}{w} que abriu:",
    "tô com um {p}{w} pra fechar:",
    "vê se esse {p}{w} te serve:",
    "chegou um {p}{w} que tem a ver com vc:",
    "separei esse {p}{w} pra te mostrar:",
    "tem esse {p}{w} aqui:",
)
_SECOND_CLOSINGS: Final = (  # 7
    "tem interesse?",
    "se fizer sentido, me fala",
    "quer que eu te passe mais detalhes?",
    "vc toparia?",
    "se não der, sem problema",
    "te interessa?",
    "se quiser, é só me falar",
)
_SECOND_QUESTIONS: Final = (  # 9, step 2 without a shift
    "como tá sua agenda de plantão pras próximas semanas?",
    "vc tá com espaço pra pegar algum plantão esse mês?",
    "vc prefere diurno ou noturno? assim já separo o que combina",
    "tem algum dia da semana que fica melhor pra vc dar plantão?",
    "vc tá pegando {v}?",
    "que tipo de plantão vc curte pegar?",
    "vc faz plantão de fim de semana?",
    "vc procura plantão fixo ou avulso?",
    "vc ainda tá pegando plantão extra?",
)
_SECOND_SOFT_CLOSINGS: Final = (  # 7
    "assim já te aviso quando aparecer algo",
    "se quiser, te mando as vagas que tiver",
    "sem compromisso, tá?",
    "me fala quando puder",
    "é só pra eu saber o que te mandar",
    "pergunto pra não te mandar coisa que não serve",
    "se não for o momento, sem problema",
)

_LAST_WORDS: Final = (  # 9, step 3: she stops here
    "não quero ficar te enchendo, então essa é minha última mensagem por aqui",
    "não vou mais insistir por aqui",
    "vou parar de te mandar mensagem por enquanto",
    "não quero ser chata, então vou parar por aqui",
    "imagino que não seja o momento, sem problema nenhum",
    "vou dar um tempo nas mensagens por aqui",
    "sei que vc deve receber mensagem assim o tempo todo, então não vou insistir",
    "não vou mais te incomodar com isso",
    "imagino que a agenda esteja cheia, então vou parar por aqui",
)
_OPEN_DOORS: Final = (  # 7
    "se um dia quiser pegar {v}, é só me chamar",
    "se mudar de ideia, é só me chamar aqui",
    "quando quiser pegar plantão, me chama que eu vejo o que tenho",
    "meu contato fica aí, se precisar é só chamar",
    "se aparecer interesse em {v}, me chama",
    "qualquer hora que quiser plantão, é só mandar um oi",
    "fica meu contato pra quando precisar",
)

# When the full text would not fit in one message (very long names).
_SHORT_INTRO: Final = "sou a Julia, da {c}"
_SHORT_OFFER: Final = "tenho esse:"

_EMOJIS: Final = ("🙂", "😊")
_EMOJI_SHARE: Final = 0.15  # most texts have none


def _product(*sizes: int) -> int:
    total = 1
    for size in sizes:
        total *= size
    return total


# Distinct texts guaranteed per writer for the same inputs: 504 (the follow-ups; each
# opener has 2520).
VARIANTS: Final = min(
    _product(len(_GREETINGS_NAMED), len(_INTROS), len(_DISCOVERY_HOOKS), len(_DISCOVERY_QUESTIONS)),
    _product(len(_GREETINGS_NAMED), len(_INTROS), len(_OFFER_HOOKS), len(_OFFER_QUESTIONS)),
    _product(
        len(_GREETINGS_NAMED),
        len(_REUNIONS),
        len(_REACTIVATION_HOOKS),
        len(_REACTIVATION_QUESTIONS),
    ),
    _product(len(_GREETINGS_NAMED), len(_NUDGES), len(_NUDGE_CLOSINGS)),
    _product(len(_GREETINGS_NAMED), len(_SECOND_HOOKS), len(_SECOND_CLOSINGS)),
    _product(len(_GREETINGS_NAMED), len(_SECOND_QUESTIONS), len(_SECOND_SOFT_CLOSINGS)),
    _product(len(_GREETINGS_NAMED), len(_LAST_WORDS), len(_OPEN_DOORS)),
)


# Writers -----------------------------------------------------------------------------------


def opener(
    r: Recipient,
    *,
    kind: OpenerKind,
    shifts: Sequence[ShiftBrief],
    company: str = DEFAULT_COMPANY,
    tz: ZoneInfo,
    variant: int,
) -> str:
    """The first proactive message of a campaign to `r`.

    "descoberta": Julia introduces herself and asks lightly about interest in the doctor's
    specialty and city, no values. "oferta": the same introduction plus the first of
    `shifts` (its `shift_line`, with the published pay only); without shifts it falls back
    to "descoberta". "reativacao": for a doctor who went silent months ago, light, with the
    first shift when there is one. "manual": "oferta" when there are shifts, else
    "descoberta".
    """
    ctx = _Context.of(r, company)
    first = shifts[0] if shifts else None
    greeting = ctx.greeting(variant)
    if kind == "reativacao":
        hello = f"{greeting} {_fill(_pick(_REUNIONS, variant), ctx)}"
    elif kind in ("descoberta", "oferta", "manual"):
        hello = f"{greeting} {_fill(_pick(_INTROS, variant), ctx)}"
    else:
        raise ValueError(f"unknown opener kind: {kind!r}")
    if first is not None and kind != "descoberta":
        offer = f"{_shift_hook(_OFFER_HOOKS, first, variant)} {shift_line(first, tz)}"
        short_hello = f"{greeting} {_fill(_SHORT_INTRO, ctx)}"
        return _finish(
            variant,
            [hello, offer, _pick(_OFFER_QUESTIONS, variant)],
            [hello, offer],
            [short_hello, offer],
            [short_hello, f"{_SHORT_OFFER} {shift_line(first, tz)}"],
        )
    if kind == "reativacao":
        hook, question = (
            _pick(_REACTIVATION_HOOKS, variant),
            _pick(_REACTIVATION_QUESTIONS, variant),
        )
    else:
        hook, question = _pick(_DISCOVERY_HOOKS, variant), _pick(_DISCOVERY_QUESTIONS, variant)
    return _finish(variant, [hello, _fill(hook, ctx), question])


def followup(
    r: Recipient,
    *,
    step: FollowupStep,
    shift: ShiftBrief | None,
    company: str = DEFAULT_COMPANY,
    tz: ZoneInfo,
    variant: int,
) -> str:
    """A follow-up to an opener the doctor did not answer.

    Step 1 (~48 h): a short, friendly nudge. Step 2 (~5 days): one concrete shift when
    `shift` is given, else a soft question about availability. Step 3 (~15 days): the last
    one; Julia says she will not insist and leaves the door open. `shift` is only used in
    step 2.
    """
    ctx = _Context.of(r, company)
    greeting = ctx.greeting(variant)
    if step == 1:
        return _finish(
            variant, [f"{greeting} {_pick(_NUDGES, variant)}", _pick(_NUDGE_CLOSINGS, variant)]
        )
    if step == 2 and shift is not None:
        offer = f"{_shift_hook(_SECOND_HOOKS, shift, variant)} {shift_line(shift, tz)}"
        return _finish(
            variant,
            [greeting, offer, _pick(_SECOND_CLOSINGS, variant)],
            [greeting, offer],
            [greeting, f"{_SHORT_OFFER} {shift_line(shift, tz)}"],
        )
    if step == 2:
        return _finish(
            variant,
            [
                f"{greeting} {_fill(_pick(_SECOND_QUESTIONS, variant), ctx)}",
                _pick(_SECOND_SOFT_CLOSINGS, variant),
            ],
        )
    if step == 3:
        return _finish(
            variant,
            [f"{greeting} {_pick(_LAST_WORDS, variant)}", _fill(_pick(_OPEN_DOORS, variant), ctx)],
        )
    raise ValueError(f"unknown follow-up step: {step!r}")


# Templates ---------------------------------------------------------------------------------

PLACEHOLDERS: Final = (
    "nome",
    "especialidade",
    "cidade",
    "empresa",
    "plantao",
    "hospital",
    "data",
    "valor",
)
_SHIFT_PLACEHOLDERS: Final = frozenset({"plantao", "hospital", "data", "valor"})
# A placeholder, with the preposition before it: dropped together when the value is unknown
# ("plantão de {especialidade}" with no specialty is "plantão", not "plantão de").
_PLACEHOLDER = re.compile(
    r"(?P<prep>\b(?:de|do|da|em|no|na|pra|para|com)[ \t]+)?\{(?P<name>[^{}\n]*)\}",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"(?m)^[ \t]*---[ \t]*\r?$")
_TEMPLATE_RULES: Final = {
    "ai_disclosure": "o texto não pode falar de robô, IA, assistente virtual ou algo assim",
    "markdown": "o texto não pode ter formatação (negrito, itálico, link, título)",
    "list": "o texto não pode ter lista",
}


def check_template(template: str) -> None:
    """Raise `TemplateError` unless `template` can be used by `from_template`.

    Checks that there is at least one variant (variants are separated by a line holding
    only `---`), that every `{placeholder}` is known (`PLACEHOLDERS`; case and accents do
    not matter: "{Plantão}" is "{plantao}"), that braces are paired, that the fixed text of
    each variant fits in one message, and that it has no markdown, list or talk of bots.
    """
    variants = _variants(template)
    if not variants:
        raise TemplateError("o template está vazio")
    for text in variants:
        for match in _PLACEHOLDER.finditer(text):
            if _placeholder_key(match.group("name")) not in PLACEHOLDERS:
                known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
                raise TemplateError(
                    f"placeholder desconhecido: {{{match.group('name')}}} (use {known})"
                )
        bare = _PLACEHOLDER.sub("", text)
        if "{" in bare or "}" in bare:
            raise TemplateError(f"chave sem par no template: {_excerpt(text)}")
        if len(_tidy(bare)) > _MAX_CHARS:
            raise TemplateError(
                f"uma variação do template passa de {_MAX_CHARS} caracteres: {_excerpt(text)}"
            )
        sample = _PLACEHOLDER.sub(lambda m: f"{m.group('prep') or ''}{m.group('name')}", text)
        for violation in check_reply(sample, allowed_cents=money_cents(sample)):
            if reason := _TEMPLATE_RULES.get(violation.rule):
                raise TemplateError(f"{reason}: {_excerpt(text)}")


def from_template(
    template: str,
    r: Recipient,
    *,
    shifts: Sequence[ShiftBrief],
    company: str = DEFAULT_COMPANY,
    tz: ZoneInfo,
    variant: int,
) -> str:
    """An operator's template filled in for `r`; variant `variant % count` is used.

    Placeholders: {nome} (how Julia addresses the doctor: "Dra. Ana", "João"),
    {especialidade}, {cidade}, {empresa}, and, from the first of `shifts`, {plantao} (its
    `shift_line`), {hospital}, {data} (dd/mm) and {valor}. An unknown value is left out
    with the preposition before it. Raises `TemplateError` for an invalid template
    (`check_template`) and when a shift placeholder is used with no shifts.
    """
    check_template(template)
    variants = _variants(template)
    first = shifts[0] if shifts else None
    if first is None and (missing := sorted(_used(variants) & _SHIFT_PLACEHOLDERS)):
        names = ", ".join(f"{{{name}}}" for name in missing)
        raise TemplateError(f"o template usa {names}, mas a campanha não tem plantão")
    ctx = _Context.of(r, company)
    values: dict[str, str] = {
        "nome": ctx.name or "",
        "especialidade": ctx.specialty or "",
        "cidade": ctx.city or "",
        "empresa": ctx.company,
    }
    if first is not None:
        local = _local(first.starts_at, tz)
        values |= {
            "plantao": shift_line(first, tz),
            "hospital": _clean(first.hospital),
            "data": f"{local:%d/%m}",
            "valor": _pay_text(first),
        }

    def fill(match: re.Match[str]) -> str:
        value = values[_placeholder_key(match.group("name"))]
        return f"{match.group('prep') or ''}{value}" if value else ""

    text = variants[variant % len(variants)]
    return _tidy(_PLACEHOLDER.sub(fill, text))


def needs_shift(template: str) -> bool:
    """Whether the template names a shift ({plantao}, {hospital}, {data}, {valor}): it cannot
    be filled for a campaign with no open shift left."""
    return bool(_used(_variants(template)) & _SHIFT_PLACEHOLDERS)


def _used(variants: list[str]) -> set[str]:
    return {
        _placeholder_key(m.group("name")) for text in variants for m in _PLACEHOLDER.finditer(text)
    }


def _variants(template: str) -> list[str]:
    parts = _SEPARATOR.split(template.replace("\r\n", "\n").replace("\r", "\n"))
    return [part.strip() for part in parts if part.strip()]


def _placeholder_key(name: str) -> str:
    return fold(name).replace(" ", "")


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return f'"{flat[:60]}…"' if len(flat) > 60 else f'"{flat}"'


# Shifts ------------------------------------------------------------------------------------

_WEEKDAYS: Final = ("seg", "ter", "qua", "qui", "sex", "sáb", "dom")
# First words of places that take "na" ("na Santa Casa", "na UPA Centro"); the rest "no".
_FEMININE_PLACES: Final = frozenset(
    {
        "ama",
        "associacao",
        "beneficencia",
        "casa",
        "clinica",
        "fundacao",
        "irmandade",
        "maternidade",
        "policlinica",
        "rede",
        "santa casa",
        "sociedade",
        "ubs",
        "unidade",
        "unimed",
        "upa",
    }
)
# Cities that take an article: "no Rio de Janeiro", "no Guarujá".
_MASCULINE_CITIES: Final = frozenset(
    {"rio de janeiro", "rio", "guaruja", "crato", "cabo de santo agostinho"}
)


def shift_line(s: ShiftBrief, tz: ZoneInfo) -> str:
    """One shift as Julia writes it, e.g. "sáb 12/12, 19h às 7h, PS adulto no Hospital São
    Luiz, R$ 2.100". Times in `tz`; the pay is only what the shift publishes."""
    start, end = _local(s.starts_at, tz), _local(s.ends_at, tz)
    day = f"{_WEEKDAYS[start.weekday()]} {start:%d/%m}"
    length = end - start
    if length == timedelta(hours=24):
        when = f"24h a partir {_from_hour(start)}"
    elif length > timedelta(hours=24):
        when = f"{_hour(start)} até {_WEEKDAYS[end.weekday()]} {end:%d/%m} {_hour(end)}"
    else:
        when = f"{_hour(start)} {_to_hour(end)}"
    what = _lower_words(_clean(s.sector or "") or _clean(s.specialty))
    hospital = _clean(s.hospital)
    place = " ".join(p for p in (what, _place_article(hospital), hospital) if p)
    pay = _pay_text(s)
    if fold(pay).startswith("a combinar"):
        pay = f"valor {pay}"
    return ", ".join(p for p in (day, when, place if hospital else what, pay) if p)


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)


def _hour(moment: datetime) -> str:
    if moment.hour == 0 and moment.minute == 0:
        return "meia-noite"
    return f"{moment.hour}h{moment.minute:02d}" if moment.minute else f"{moment.hour}h"


def _to_hour(moment: datetime) -> str:
    # "às 7h", but "à 1h" and "à meia-noite" (singular hours).
    singular = moment.hour in (0, 1) and not (moment.hour == 0 and moment.minute)
    return f"{'à' if singular else 'às'} {_hour(moment)}"


def _from_hour(moment: datetime) -> str:
    singular = moment.hour in (0, 1) and not (moment.hour == 0 and moment.minute)
    return f"{'da' if singular else 'das'} {_hour(moment)}"


def _place_article(place: str) -> str:
    folded = fold(place)
    words = folded.split()
    if not words:
        return ""
    feminine = words[0] in _FEMININE_PLACES or " ".join(words[:2]) in _FEMININE_PLACES
    return "na" if feminine else "no"


def _city_phrase(city: str) -> str:
    return f"{'no' if fold(city) in _MASCULINE_CITIES else 'em'} {city}"


def _pay_text(s: ShiftBrief) -> str:
    return pay_text(s.pay_cents, s.pay_min_cents, s.pay_max_cents, note=_clean(s.pay_note or ""))


def _shift_hook(pool: Sequence[str], s: ShiftBrief, variant: int) -> str:
    period = fold(s.period)
    noun = period if period in ("noturno", "diurno") else "plantão"
    city = _clean(s.city or "")
    where = f" {_city_phrase(city)}" if city else ""
    return _pick(pool, variant).format(p=noun, w=where)


# Names -------------------------------------------------------------------------------------

_TITLES: Final[dict[str, str]] = {
    "dr": "Dr.",
    "doutor": "Dr.",
    "dra": "Dra.",
    "doutora": "Dra.",
}
# Second given names that belong to the first one ("Ana Paula", "João Pedro").
_COMPOUND_FIRST: Final = frozenset({"ana", "maria", "joao", "jose", "luiz", "luis", "carlos"})
_COMPOUND_SECOND: Final = frozenset(
    {
        "antonio",
        "augusto",
        "beatriz",
        "carla",
        "carlos",
        "carolina",
        "cecilia",
        "clara",
        "eduarda",
        "eduardo",
        "fernanda",
        "fernando",
        "gabriel",
        "gabriela",
        "henrique",
        "julia",
        "laura",
        "luiza",
        "luisa",
        "paula",
        "paulo",
        "pedro",
        "ricardo",
        "vitoria",
        "victor",
        "vitor",
    }
)
_NAME_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def first_name(name: str | None) -> str | None:
    """How Julia addresses the doctor: "Dra. Ana Souza" -> "Dra. Ana", "dr joão" -> "Dr.
    João", "joão silva" -> "João", "Ana Paula Souza" -> "Ana Paula"; None when there is no
    usable name. Names typed all in lower or upper case are capitalised."""
    title: str | None = None
    words: list[str] = []
    for token in (t.strip(".,;:!?") for t in _clean(name or "").split()):
        key = fold(token)
        if not words and key.removesuffix("(a)") in _TITLES:
            # "Dr(a)." says nothing about which one: no title rather than a wrong one.
            title = None if key.endswith("(a)") else _TITLES[key]
            continue
        letters = [ch for ch in token if ch not in "'’-"]
        if (
            not _NAME_TOKEN.fullmatch(token)
            or len(letters) < 2
            or not all(ch.isalpha() for ch in letters)
        ):
            if words:
                break
            continue  # leading noise: an emoji, a stray dot
        words.append(_capitalise(token))
        if len(words) == 2 or fold(words[0]) not in _COMPOUND_FIRST:
            break
    if len(words) == 2 and fold(words[1]) not in _COMPOUND_SECOND:
        words = words[:1]
    if not words:
        return None
    return " ".join([title, *words] if title else words)


def _capitalise(token: str) -> str:
    if not (token.islower() or token.isupper()):
        return token  # "McArthur", "DiCaprio": the doctor's own casing
    return "-".join(part[:1].upper() + part[1:].lower() for part in token.split("-"))


# Shared helpers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    name: str | None
    specialty: str | None
    city: str | None
    company: str

    @classmethod
    def of(cls, r: Recipient, company: str) -> _Context:
        specialty = _lower_words(_clean(r.specialty or "")) or None
        return cls(
            name=first_name(r.name),
            specialty=specialty,
            city=_clean(r.city or "") or None,
            company=_clean(company) or DEFAULT_COMPANY,
        )

    def greeting(self, variant: int) -> str:
        if self.name:
            return _pick(_GREETINGS_NAMED, variant).format(n=self.name)
        return _pick(_GREETINGS_PLAIN, variant)

    def target(self, *, plural: bool) -> str:
        """ "plantão de pediatria em Campinas", with what is known."""
        parts = ["plantões" if plural else "plantão"]
        if self.specialty:
            parts.append(f"de {self.specialty}")
        if self.city:
            parts.append(_city_phrase(self.city))
        return " ".join(parts)


def _pick(pool: Sequence[str], variant: int) -> str:
    return pool[variant % len(pool)]


def _fill(piece: str, ctx: _Context) -> str:
    return piece.format(
        c=ctx.company,
        v=ctx.target(plural=False),
        vp=ctx.target(plural=True),
    )


def _finish(variant: int, *options: list[str]) -> str:
    """The first of `options` (each a list of lines) that fits in one message, sometimes
    with one emoji at the end; the later options are shorter ways to say the same thing,
    for very long hospital, sector or company names. None fits: the shortest."""
    rng = random.Random(variant)  # noqa: S311 - wording, not security
    emoji = f" {rng.choice(_EMOJIS)}" if rng.random() < _EMOJI_SHARE else ""
    texts = [_tidy("\n".join(lines)) for lines in options]
    for text in texts:
        if len(text) + len(emoji) <= _MAX_CHARS:
            return text + emoji
        if len(text) <= _MAX_CHARS:
            return text
    return min(texts, key=len)


def _tidy(text: str) -> str:
    """One space between words, no space before punctuation, no stray or dangling commas,
    no blank lines (a blank line would split the text into two WhatsApp messages)."""
    lines: list[str] = []
    for raw in text.split("\n"):
        line = " ".join(raw.split())
        line = re.sub(r" ([,.;:!?])", r"\1", line)
        line = re.sub(r",+(?=[,.;:!?]|$)", "", line)
        line = re.sub(r"^[,;:.!?]+ ?", "", line)
        if line:
            lines.append(line)
    return "\n".join(lines)


def _clean(text: str) -> str:
    return " ".join(text.split())


def _lower_words(text: str) -> str:
    """ "Clínica Médica" -> "clínica médica"; acronyms stay ("UTI Adulto" -> "UTI adulto")."""
    return " ".join(
        word if word.isupper() and len(word) <= 4 else word.lower() for word in text.split()
    )
