from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.domain.outreach.writing import (
    VARIANTS,
    Recipient,
    ShiftBrief,
    TemplateError,
    check_template,
    first_name,
    followup,
    from_template,
    opener,
    shift_line,
)
from app.domain.voice.guardrails import check_reply, money_cents

SP = ZoneInfo("America/Sao_Paulo")
KINDS: tuple[Literal["descoberta", "oferta", "reativacao", "manual"], ...] = (
    "descoberta",
    "oferta",
    "reativacao",
    "manual",
)
STEPS: tuple[Literal[1, 2, 3], ...] = (1, 2, 3)


def shift(**overrides: Any) -> ShiftBrief:
    fields: dict[str, Any] = {
        "hospital": "Hospital São Luiz",
        "city": "Campinas",
        "specialty": "Clínica Médica",
        "sector": "PS adulto",
        "starts_at": datetime(2026, 12, 12, 19, tzinfo=SP),  # a Saturday
        "ends_at": datetime(2026, 12, 13, 7, tzinfo=SP),
        "period": "noturno",
        "pay_cents": 210_000,
        "pay_min_cents": None,
        "pay_max_cents": None,
        "pay_note": None,
    }
    fields.update(overrides)
    return ShiftBrief(**fields)


def allowed(*shifts: ShiftBrief) -> set[int]:
    return {
        cents
        for s in shifts
        for cents in (s.pay_cents, s.pay_min_cents, s.pay_max_cents)
        if cents is not None
    }


ANA = Recipient(name="Dra. Ana Souza", specialty="Pediatria", city="Campinas")
JOAO = Recipient(name="joão silva", specialty=None, city="Rio de Janeiro")
NOBODY = Recipient(name=None, specialty=None, city=None)
ONLY_SPECIALTY = Recipient(name=None, specialty="Clínica Médica", city=None)
RECIPIENTS = (ANA, JOAO, NOBODY, ONLY_SPECIALTY)

FIXED = shift()
RANGE = shift(
    pay_cents=None,
    pay_min_cents=180_000,
    pay_max_cents=220_000,
    period="diurno",
    city=None,
    starts_at=datetime(2026, 12, 14, 7, tzinfo=SP),
    ends_at=datetime(2026, 12, 14, 19, tzinfo=SP),
)
TO_AGREE = shift(pay_cents=None, pay_note="a combinar", sector=None, period="integral")
WITH_CENTS = shift(pay_cents=180_050, hospital="Santa Casa de Santos", city="Santos")
SHIFTS = (FIXED, RANGE, TO_AGREE, WITH_CENTS)


def emojis(text: str) -> int:
    return sum(1 for ch in text if unicodedata.category(ch) == "So")


def assert_clean(text: str, *, allowed_cents: set[int]) -> None:
    """What every proactive text must satisfy."""
    assert text == text.strip()
    assert 0 < len(text) <= 350, text
    lines = text.split("\n")
    assert len(lines) <= 3, text
    assert all(line.strip() for line in lines), f"blank line splits the message: {text!r}"
    for bad in ("None", "none", "  ", " ,", ",,", ",\n", " .", " ?", "{", "}", "\t"):
        assert bad not in text, f"{bad!r} in {text!r}"
    assert not text.endswith(","), text
    assert not any(line.startswith((",", ".", "?")) for line in lines), text
    assert emojis(text) <= 1, text
    assert check_reply(text, allowed_cents=allowed_cents) == [], text


# Variation and determinism -----------------------------------------------------------------


def test_variants_constant() -> None:
    assert VARIANTS >= 500


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("recipient", RECIPIENTS)
@pytest.mark.parametrize("shifts", [(), (FIXED,), (RANGE, FIXED)], ids=["none", "one", "two"])
def test_openers_give_variants_distinct_texts(
    kind: Literal["descoberta", "oferta", "reativacao", "manual"],
    recipient: Recipient,
    shifts: tuple[ShiftBrief, ...],
) -> None:
    texts = {
        opener(recipient, kind=kind, shifts=shifts, company="Revoluna", tz=SP, variant=v)
        for v in range(VARIANTS)
    }
    assert len(texts) == VARIANTS


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("recipient", RECIPIENTS)
@pytest.mark.parametrize("with_shift", [False, True])
def test_followups_give_variants_distinct_texts(
    step: Literal[1, 2, 3], recipient: Recipient, with_shift: bool
) -> None:
    s = FIXED if with_shift else None
    texts = {
        followup(recipient, step=step, shift=s, company="Revoluna", tz=SP, variant=v)
        for v in range(VARIANTS)
    }
    assert len(texts) == VARIANTS


def test_openers_are_deterministic_and_vary_with_the_variant() -> None:
    def write(v: int) -> str:
        return opener(ANA, kind="oferta", shifts=[FIXED], company="Revoluna", tz=SP, variant=v)

    assert write(7) == write(7)
    assert write(7) != write(8)
    # Consecutive variants (consecutive doctors of a campaign) differ in every line.
    for v in range(50):
        a, b = write(v).split("\n"), write(v + 1).split("\n")
        assert all(x != y for x, y in zip(a, b, strict=False))


def test_followups_are_deterministic() -> None:
    for step in STEPS:
        a = followup(ANA, step=step, shift=FIXED, company="Revoluna", tz=SP, variant=123)
        b = followup(ANA, step=step, shift=FIXED, company="Revoluna", tz=SP, variant=123)
        assert a == b


def test_large_and_negative_variants_are_fine() -> None:
    for v in (-1, 10**12, 2**63 + 5):
        text = opener(ANA, kind="descoberta", shifts=[], company="Revoluna", tz=SP, variant=v)
        assert_clean(text, allowed_cents=set())


# Guardrails and hygiene over every variant -------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("recipient", RECIPIENTS)
def test_openers_pass_guardrails(
    kind: Literal["descoberta", "oferta", "reativacao", "manual"], recipient: Recipient
) -> None:
    # Every variant with one shift, a sample with the other pay kinds (every piece of every
    # pool still shows up: pool sizes are coprime with the stride).
    for s, stride in ((FIXED, 1), (RANGE, 11), (TO_AGREE, 11), (WITH_CENTS, 11)):
        for v in range(0, VARIANTS, stride):
            text = opener(recipient, kind=kind, shifts=[s], company="Revoluna", tz=SP, variant=v)
            cents = set() if kind == "descoberta" else allowed(s)
            assert_clean(text, allowed_cents=cents)
    for v in range(VARIANTS):
        text = opener(recipient, kind=kind, shifts=[], company="Revoluna", tz=SP, variant=v)
        assert_clean(text, allowed_cents=set())


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("recipient", RECIPIENTS)
def test_followups_pass_guardrails(step: Literal[1, 2, 3], recipient: Recipient) -> None:
    for s, stride in ((None, 1), (FIXED, 1), (RANGE, 11), (TO_AGREE, 11), (WITH_CENTS, 11)):
        for v in range(0, VARIANTS, stride):
            text = followup(recipient, step=step, shift=s, company="Revoluna", tz=SP, variant=v)
            # Only step 2 may quote money, and only the shift's own.
            cents = allowed(s) if step == 2 and s is not None else set()
            assert_clean(text, allowed_cents=cents)


def test_emoji_in_a_minority_of_texts() -> None:
    texts = [
        opener(ANA, kind=kind, shifts=[FIXED], company="Revoluna", tz=SP, variant=v)
        for kind in KINDS
        for v in range(VARIANTS)
    ]
    with_emoji = sum(1 for t in texts if emojis(t))
    assert 0 < with_emoji < len(texts) * 0.3


def test_long_names_still_fit_in_one_message() -> None:
    long_shift = shift(
        hospital="Hospital Municipal Doutor Fulano de Tal Beltrano da Silva Sauro Unidade Norte",
        sector="Pronto Socorro Adulto e Pediátrico de Referência Regional",
        city="São José dos Campos",
        pay_cents=None,
        pay_min_cents=180_000,
        pay_max_cents=220_000,
    )
    who = Recipient("Dra. Maria Eduarda Albuquerque", "Ginecologia e Obstetrícia", "São José")
    company = "Revoluna Gestão de Escalas Médicas"
    for v in range(0, VARIANTS, 5):
        for kind in KINDS:
            text = opener(who, kind=kind, shifts=[long_shift], company=company, tz=SP, variant=v)
            assert_clean(text, allowed_cents=allowed(long_shift))
        text = followup(who, step=2, shift=long_shift, company=company, tz=SP, variant=v)
        assert_clean(text, allowed_cents=allowed(long_shift))


# What each kind and step says --------------------------------------------------------------


def test_descoberta_introduces_julia_and_quotes_no_value() -> None:
    for v in range(VARIANTS):
        text = opener(ANA, kind="descoberta", shifts=[FIXED], company="Acme", tz=SP, variant=v)
        assert "Julia" in text
        assert "Acme" in text
        assert "Dra. Ana" in text
        assert "Souza" not in text
        assert "R$" not in text
        assert money_cents(text) == set()
        assert "São Luiz" not in text


def test_descoberta_mentions_what_is_known_of_the_doctor() -> None:
    texts = [
        opener(ANA, kind="descoberta", shifts=[], company="Revoluna", tz=SP, variant=v)
        for v in range(VARIANTS)
    ]
    assert all("pediatria em Campinas" in t for t in texts)
    rio = opener(JOAO, kind="descoberta", shifts=[], company="Revoluna", tz=SP, variant=0)
    assert "no Rio de Janeiro" in rio
    assert "João" in rio
    assert "silva" not in rio.lower()


def test_company_defaults_to_revoluna() -> None:
    text = opener(ANA, kind="descoberta", shifts=[], tz=SP, variant=0)
    assert "Revoluna" in text
    blank = opener(ANA, kind="descoberta", shifts=[], company="  ", tz=SP, variant=0)
    assert blank == text


@pytest.mark.parametrize("s", SHIFTS)
def test_oferta_quotes_the_first_shift(s: ShiftBrief) -> None:
    line = shift_line(s, SP)
    for v in range(0, VARIANTS, 7):
        text = opener(ANA, kind="oferta", shifts=[s, RANGE], company="Revoluna", tz=SP, variant=v)
        assert line in text
        assert "Julia" in text
        assert money_cents(text) == allowed(s)


def test_oferta_without_shifts_is_descoberta() -> None:
    for v in range(0, VARIANTS, 5):
        assert opener(ANA, kind="oferta", shifts=[], company="R", tz=SP, variant=v) == opener(
            ANA, kind="descoberta", shifts=[], company="R", tz=SP, variant=v
        )


def test_manual_is_oferta_with_shifts_and_descoberta_without() -> None:
    for v in range(0, VARIANTS, 5):
        assert opener(ANA, kind="manual", shifts=[FIXED], company="R", tz=SP, variant=v) == opener(
            ANA, kind="oferta", shifts=[FIXED], company="R", tz=SP, variant=v
        )
        assert opener(ANA, kind="manual", shifts=[], company="R", tz=SP, variant=v) == opener(
            ANA, kind="descoberta", shifts=[], company="R", tz=SP, variant=v
        )


def test_reativacao_recalls_the_earlier_talk() -> None:
    cues = ("tempo", "lembra", "uns meses", "tempão")
    for shifts in ((), (FIXED,)):
        for v in range(VARIANTS):
            text = opener(ANA, kind="reativacao", shifts=shifts, company="R", tz=SP, variant=v)
            first_line = text.split("\n")[0]
            assert any(cue in first_line for cue in cues), text
            assert "Julia" in first_line
            if shifts:
                assert shift_line(FIXED, SP) in text
            else:
                assert "R$" not in text


def test_followup_step_2_brings_the_shift() -> None:
    line = shift_line(RANGE, SP)
    for v in range(VARIANTS):
        text = followup(ANA, step=2, shift=RANGE, company="R", tz=SP, variant=v)
        assert line in text
        without = followup(ANA, step=2, shift=None, company="R", tz=SP, variant=v)
        assert "R$" not in without
        assert without.rstrip(" 🙂😊").endswith(("?", "a", "e", "o", "r", "m", "s")), without


def test_followups_do_not_quote_shifts_outside_step_2() -> None:
    for step in (1, 3):
        for v in range(0, VARIANTS, 3):
            text = followup(ANA, step=step, shift=FIXED, company="R", tz=SP, variant=v)  # type: ignore[arg-type]
            assert "R$" not in text
            assert "São Luiz" not in text


def test_followups_never_guilt_trip() -> None:
    guilt = (
        "não me respondeu",
        "nao me respondeu",
        "sem resposta",
        "ignor",
        "esperando sua resposta",
        "última chance",
        "urgente",
        "você sumiu",
        "vc sumiu",
    )
    for step in STEPS:
        for v in range(VARIANTS):
            text = followup(ANA, step=step, shift=FIXED, company="R", tz=SP, variant=v).lower()
            assert not any(g in text for g in guilt), text


def test_last_followup_leaves_the_door_open() -> None:
    for v in range(VARIANTS):
        text = followup(NOBODY, step=3, shift=None, company="R", tz=SP, variant=v)
        assert "?" not in text.split("\n")[-1]
        assert any(w in text for w in ("chamar", "chama", "oi", "contato")), text


def test_name_is_used_when_known_and_skipped_when_not() -> None:
    for v in range(0, VARIANTS, 11):
        for step in STEPS:
            text = followup(ANA, step=step, shift=FIXED, company="R", tz=SP, variant=v)
            assert "Dra. Ana" in text
        text = opener(NOBODY, kind="descoberta", shifts=[], company="R", tz=SP, variant=v)
        assert "Dr" not in text


def test_unknown_kind_and_step_raise() -> None:
    with pytest.raises(ValueError, match="kind"):
        opener(ANA, kind="spam", shifts=[], company="R", tz=SP, variant=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step"):
        followup(ANA, step=4, shift=None, company="R", tz=SP, variant=0)  # type: ignore[arg-type]


# shift_line --------------------------------------------------------------------------------


def test_shift_line_example() -> None:
    assert shift_line(FIXED, SP) == "sáb 12/12, 19h às 7h, PS adulto no Hospital São Luiz, R$ 2.100"


def test_shift_line_converts_to_the_local_zone() -> None:
    utc = shift(
        starts_at=datetime(2026, 12, 12, 22, tzinfo=UTC),
        ends_at=datetime(2026, 12, 13, 10, tzinfo=UTC),
    )
    assert shift_line(utc, SP) == shift_line(FIXED, SP)
    # Late on Saturday in UTC is still Saturday in São Paulo, early on Sunday is not.
    early = shift(
        starts_at=datetime(2026, 12, 13, 2, 30, tzinfo=UTC),
        ends_at=datetime(2026, 12, 13, 14, 30, tzinfo=UTC),
    )
    assert shift_line(early, SP).startswith("sáb 12/12, 23h30 às 11h30,")


@pytest.mark.parametrize(
    ("overrides", "pay"),
    [
        ({"pay_cents": 180_000}, "R$ 1.800"),
        ({"pay_cents": 180_050}, "R$ 1.800,50"),
        ({"pay_cents": 95_000}, "R$ 950"),
        ({"pay_cents": 1_234_567}, "R$ 12.345,67"),
        ({"pay_cents": 180_005}, "R$ 1.800,05"),
        ({"pay_cents": None, "pay_min_cents": 180_000, "pay_max_cents": 220_000}, None),
        ({"pay_cents": None, "pay_min_cents": 220_000, "pay_max_cents": 180_000}, None),
        ({"pay_cents": None, "pay_min_cents": 200_000, "pay_max_cents": 200_000}, "R$ 2.000"),
        ({"pay_cents": None, "pay_min_cents": 180_000}, "a partir de R$ 1.800"),
        ({"pay_cents": None, "pay_max_cents": 220_000}, "até R$ 2.200"),
        ({"pay_cents": None, "pay_note": "a combinar"}, "valor a combinar"),
        ({"pay_cents": None, "pay_note": "A combinar"}, "valor A combinar"),
        ({"pay_cents": None, "pay_note": "pago em 30 dias"}, "pago em 30 dias"),
        ({"pay_cents": None}, "valor a combinar"),
        ({"pay_cents": 210_000, "pay_min_cents": 1, "pay_max_cents": 2}, "R$ 2.100"),
    ],
)
def test_shift_line_pay(overrides: dict[str, Any], pay: str | None) -> None:
    s = shift(**overrides)
    line = shift_line(s, SP)
    expected = pay or "R$ 1.800 a R$ 2.200"
    assert line.endswith(f", {expected}"), line
    assert check_reply(line, allowed_cents=allowed(s)) == []
    if s.pay_cents is not None:
        assert money_cents(line) == {s.pay_cents}


@pytest.mark.parametrize(
    ("start", "end", "when"),
    [
        ((19, 0), (7, 0), "19h às 7h"),
        ((7, 0), (19, 0), "7h às 19h"),
        ((19, 30), (7, 30), "19h30 às 7h30"),
        ((13, 0), (1, 0), "13h à 1h"),
        ((12, 0), (0, 0), "12h à meia-noite"),
        ((0, 0), (12, 0), "meia-noite às 12h"),
        ((18, 0), (0, 30), "18h às 0h30"),
        ((7, 5), (13, 0), "7h05 às 13h"),
    ],
)
def test_shift_line_hours(start: tuple[int, int], end: tuple[int, int], when: str) -> None:
    starts_at = datetime(2026, 12, 12, *start, tzinfo=SP)
    ends_at = datetime(2026, 12, 12, *end, tzinfo=SP)
    if ends_at <= starts_at:
        ends_at += timedelta(days=1)
    line = shift_line(shift(starts_at=starts_at, ends_at=ends_at), SP)
    assert line.startswith(f"sáb 12/12, {when}, "), line


def test_shift_line_long_shifts() -> None:
    start = datetime(2026, 12, 12, 7, tzinfo=SP)
    day = shift(starts_at=start, ends_at=start + timedelta(hours=24))
    assert shift_line(day, SP).startswith("sáb 12/12, 24h a partir das 7h, ")
    longer = shift(starts_at=start, ends_at=start + timedelta(hours=36))
    assert shift_line(longer, SP).startswith("sáb 12/12, 7h até dom 13/12 19h, ")


def test_shift_line_weekdays() -> None:
    days = []
    for offset in range(7):
        start = datetime(2026, 12, 7, 7, tzinfo=SP) + timedelta(days=offset)  # a Monday
        s = shift(starts_at=start, ends_at=start + timedelta(hours=12))
        days.append(shift_line(s, SP).split(" ")[0])
    assert days == ["seg", "ter", "qua", "qui", "sex", "sáb", "dom"]


@pytest.mark.parametrize(
    ("overrides", "place"),
    [
        ({"sector": None}, "clínica médica no Hospital São Luiz"),
        ({"sector": "UTI Adulto"}, "UTI adulto no Hospital São Luiz"),
        ({"hospital": "Santa Casa de Santos"}, "PS adulto na Santa Casa de Santos"),
        ({"hospital": "UPA Centro"}, "PS adulto na UPA Centro"),
        ({"hospital": "Hospital  Vida   Nova "}, "PS adulto no Hospital Vida Nova"),
        ({"hospital": "Santa Marcelina"}, "PS adulto no Santa Marcelina"),
    ],
)
def test_shift_line_place(overrides: dict[str, Any], place: str) -> None:
    assert f", {place}, " in shift_line(shift(**overrides), SP)


def test_naive_datetimes_are_taken_as_local() -> None:
    naive = shift(starts_at=datetime(2026, 12, 12, 19), ends_at=datetime(2026, 12, 13, 7))
    assert shift_line(naive, SP) == shift_line(FIXED, SP)


# first_name --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Dra. Ana Souza", "Dra. Ana"),
        ("Dra Ana Souza", "Dra. Ana"),
        ("DRA. ANA SOUZA", "Dra. Ana"),
        ("dr. joão silva", "Dr. João"),
        ("Doutora Beatriz Lima", "Dra. Beatriz"),
        ("Doutor Paulo", "Dr. Paulo"),
        ("Dr(a). Carla Mendes", "Carla"),
        ("João", "João"),
        ("joão silva", "João"),
        ("JOÃO SILVA", "João"),
        ("  ana   paula  souza ", "Ana Paula"),
        ("Maria da Silva", "Maria"),
        ("José Carlos Pereira", "José Carlos"),
        ("ana-maria costa", "Ana-Maria"),
        ("Ângela", "Ângela"),
        ("McArthur Lopes", "McArthur"),
        ("🩺 Renata Alves", "Renata"),
        ("🩺 Dra. Renata Alves", "Dra. Renata"),
        ("Dr. Dr. Paulo", "Dr. Paulo"),
        ("A¹ Bruno", "Bruno"),
        ("O'Neil Santos", "O'Neil"),
        ("Dra.", None),
        ("Dr", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("11999998888", None),
        ("...", None),
    ],
)
def test_first_name(name: str | None, expected: str | None) -> None:
    assert first_name(name) == expected


@given(st.text(max_size=40))
def test_first_name_never_breaks(name: str) -> None:
    result = first_name(name)
    if result is not None:
        assert result == result.strip()
        assert "  " not in result
        assert not any(ch.isdigit() for ch in result)
        assert len(result.split()) <= 3


# Templates ---------------------------------------------------------------------------------


def test_template_placeholders() -> None:
    template = (
        "oi {nome}, aqui é a Julia da {empresa}\n"
        "tenho plantão de {especialidade} em {cidade}: {plantao}\n"
        "{hospital}, dia {data}, {valor}. topa?"
    )
    text = from_template(template, ANA, shifts=[FIXED, RANGE], company="Revoluna", tz=SP, variant=0)
    assert text == (
        "oi Dra. Ana, aqui é a Julia da Revoluna\n"
        "tenho plantão de pediatria em Campinas: "
        "sáb 12/12, 19h às 7h, PS adulto no Hospital São Luiz, R$ 2.100\n"
        "Hospital São Luiz, dia 12/12, R$ 2.100. topa?"
    )
    assert check_reply(text, allowed_cents=allowed(FIXED)) == []


def test_template_value_formats() -> None:
    text = from_template("{valor} | {data}", ANA, shifts=[RANGE], company="R", tz=SP, variant=0)
    assert text == "R$ 1.800 a R$ 2.200 | 14/12"
    agree = from_template("{valor}", ANA, shifts=[TO_AGREE], company="R", tz=SP, variant=0)
    assert agree == "a combinar"


def test_template_placeholders_ignore_case_accents_and_spaces() -> None:
    text = from_template(
        "{Nome}, {PLANTÃO} { empresa }", ANA, shifts=[FIXED], company="R", tz=SP, variant=0
    )
    assert text == f"Dra. Ana, {shift_line(FIXED, SP)} R"


def test_template_unknown_values_leave_no_gaps() -> None:
    template = "oi {nome}, tudo bem? tenho plantão de {especialidade} em {cidade} pra vc"
    text = from_template(template, NOBODY, shifts=[], company="R", tz=SP, variant=0)
    assert text == "oi, tudo bem? tenho plantão pra vc"
    text = from_template("{nome}, tudo bem?", NOBODY, shifts=[], company="R", tz=SP, variant=0)
    assert text == "tudo bem?"
    text = from_template(template, ONLY_SPECIALTY, shifts=[], company="R", tz=SP, variant=0)
    assert text == "oi, tudo bem? tenho plantão de clínica médica pra vc"


def test_template_variants() -> None:
    template = "oi {nome}!\n---\nolá {nome}, tudo bem?\n  ---  \n\n{nome}, td bem?\n"
    texts = [
        from_template(template, ANA, shifts=[], company="R", tz=SP, variant=v) for v in range(6)
    ]
    assert texts[:3] == ["oi Dra. Ana!", "olá Dra. Ana, tudo bem?", "Dra. Ana, td bem?"]
    assert texts[3:] == texts[:3]
    assert from_template(template, ANA, shifts=[], company="R", tz=SP, variant=-1) == texts[2]


def test_template_blank_lines_do_not_split_the_message() -> None:
    text = from_template("oi {nome}\n\n\ntudo bem?", ANA, shifts=[], company="R", tz=SP, variant=0)
    assert text == "oi Dra. Ana\ntudo bem?"


def test_template_unknown_placeholder_is_named() -> None:
    with pytest.raises(TemplateError, match=r"\{telefone\}"):
        check_template("oi {nome}, me passa seu {telefone}?")
    with pytest.raises(TemplateError, match=r"\{telefone\}"):
        from_template("oi {telefone}", ANA, shifts=[FIXED], company="R", tz=SP, variant=0)
    # Any variant, not only the one that would be picked.
    with pytest.raises(TemplateError, match=r"\{nme\}"):
        from_template("oi {nome}\n---\noi {nme}", ANA, shifts=[], company="R", tz=SP, variant=0)


@pytest.mark.parametrize("placeholder", ["plantao", "hospital", "data", "valor", "Plantão"])
def test_template_shift_placeholders_need_shifts(placeholder: str) -> None:
    template = f"oi {{nome}}, olha esse: {{{placeholder}}}"
    check_template(template)  # the template itself is fine
    with pytest.raises(TemplateError, match="plantão"):
        from_template(template, ANA, shifts=[], company="R", tz=SP, variant=0)
    assert from_template(template, ANA, shifts=[FIXED], company="R", tz=SP, variant=0)


@pytest.mark.parametrize(
    "template",
    [
        "",
        "  \n---\n  ",
        "oi {nome",
        "oi nome}",
        "oi {}",
        "oi {{nome}}",
        "oi **{nome}**, tudo bem?",
        "oi {nome}\n- plantão 1\n- plantão 2",
        "oi, sou a assistente virtual da {empresa}",
        "oi {nome}, " + "muito texto " * 40,
    ],
)
def test_check_template_rejects(template: str) -> None:
    with pytest.raises(TemplateError):
        check_template(template)


def test_template_error_is_a_value_error() -> None:
    assert issubclass(TemplateError, ValueError)


@given(
    name=st.one_of(st.none(), st.text(max_size=30)),
    specialty=st.one_of(st.none(), st.text(max_size=20)),
    city=st.one_of(st.none(), st.text(max_size=20)),
    variant=st.integers(),
)
def test_template_never_leaves_none_or_braces(
    name: str | None, specialty: str | None, city: str | None, variant: int
) -> None:
    # A name like "none" is rightly capitalised to "None": only the literal Python None is a bug.
    assume(not any(v and "none" in v.lower() for v in (name, specialty, city)))
    r = Recipient(name, specialty, city)
    template = "oi {nome}, plantão de {especialidade} em {cidade}?\n---\n{nome}, {plantao}"
    text = from_template(template, r, shifts=[FIXED], company="R", tz=SP, variant=variant)
    assert "None" not in text
    assert "  " not in text
    assert " ," not in text
