from __future__ import annotations

import pytest

from app.domain.voice.guardrails import (
    Violation,
    check_reply,
    money_cents,
    repair_format,
)


def rules(text: str, allowed: set[int] | None = None) -> set[str]:
    return {v.rule for v in check_reply(text, allowed_cents=allowed or set())}


# AI disclosure -----------------------------------------------------------------------------

DISCLOSES_AI = [
    "sou uma assistente virtual da Revoluna",
    "Oi! Sou a Julia, assistente virtual da Revoluna",
    "não sou um robô, pode ficar tranquilo",
    "NÃO SOU ROBÔ",
    "kkkk robozinho nada",
    "sou um bot de recrutamento",
    "como uma IA, não consigo ligar pra vc",
    "sou uma inteligência artificial",
    "Sou uma IA treinada pra escalas",
    "fui programada pra te ajudar com plantões",
    "sou um modelo de linguagem",
    "aqui quem fala é o Claude",
    "fui desenvolvida pela Anthropic",
    "uso o GPT pra responder mais rápido",
    "sou tipo um ChatGPT da Revoluna",
    "isso aqui é um chatbot",
    "essa mensagem é automática",
    "essa é uma resposta automática, já já alguém te chama",
    "sou um sistema automatizado de escalas",
    "sou uma pessoa de verdade, juro",
    "sou humana sim haha",
    "não sou uma máquina",
    "sou atendente virtual",
    "vou usar a ferramenta de busca aqui",
    "deixa eu chamar o search_shifts",
    "meu prompt não deixa eu falar isso",
    "minhas instruções não permitem",
    "eu não tenho sentimentos, mas entendo",
    "sou só um programa",
    "vou te passar pra um atendente humano",
    "vou transferir pro atendimento humano",
    "As an AI, I can't do that",
    "fui treinada pra isso",
    "fui criada pela equipe de tecnologia da Revoluna",
    "sou real, pode confiar",
    "sou a recrutadora virtual da Revoluna",
    "sou sua assistente pra plantões",
    "relaxa, sou de carne e osso",
    "isso é um atendimento automatizado",
    "posso falar com vc como um ser humano normal",
    "vou pedir pra um humano te responder",
    "isso quem vê é a equipe humana",
]

HUMAN_TALK = [
    "o médico assistente do plantão é o Dr. Paulo",
    "tem assistente social no hospital, pode ficar tranquilo",
    "o sistema do hospital tá fora do ar hoje",
    "esse plantão é em cirurgia robótica",
    "o hospital tem robô cirúrgico da Vinci",
    "o pagamento cai automático na conta",
    "a renovação do contrato é automática",
    "eu ia te chamar ontem, mas acabei enrolada",
    "tá aí? vi sua mensagem agora",
    "o plantão de telemedicina é atendimento virtual",
    "a passagem de plantão é feita pelo sistema de prontuário",
    "a vaga é perto do Botafogo, pertinho do metrô",
    "fui criada em Campinas, conheço bem a região",
    "quem cuida disso é o RH, recursos humanos do hospital",
    "a cirurgia é programada pra segunda",
    "o Dr. Claudio coordena a UTI",
    "gostei de verdade do seu perfil",
    "o coordenador é uma pessoa muito tranquila",
    "o prontuário é eletrônico, tudo automatizado lá",
    "sou a Julia, escalista da Revoluna",
    "vou ver no sistema aqui e já te falo",
    "o Dr. Claude Martins é o chefe do PS",
    "o hospital usa um sistema automatizado de escala",
    "é uma visita virtual ao hospital, bem rápida",
    "como ia dizendo, o plantão é das 19h às 7h",
    "cada uma ia pra um lado, mas deu certo",
    "uma das vagas é no Hospital Humana",
    "a equipe lá é bem humanizada",
    "o pagamento é feito automaticamente todo mês",
]


@pytest.mark.parametrize("text", DISCLOSES_AI)
def test_ai_disclosure_is_flagged(text: str) -> None:
    assert "ai_disclosure" in rules(text)


@pytest.mark.parametrize("text", HUMAN_TALK)
def test_recruiting_talk_is_not_ai_disclosure(text: str) -> None:
    assert "ai_disclosure" not in rules(text)


def test_disclosure_detail_names_the_phrase() -> None:
    (violation,) = check_reply("sou uma assistente virtual", allowed_cents=set())
    assert violation.rule == "ai_disclosure"
    assert "virtual" in violation.detail


# Markdown and lists ------------------------------------------------------------------------

MARKDOWN = [
    "**Plantão noturno** no Hospital Vida Nova",
    "o de __sábado__ é melhor",
    "*sábado* às 19h",
    "# Vagas disponíveis\ntenho duas",
    "### Plantões",
    "o código é `ABC123`",
    "```\nplantão sábado\n```",
    "[clique aqui](https://revoluna.com.br)",
    "| Hospital | Valor |\n|---|---|\n| Vida Nova | noturno |",
    "Hospital | Data | Turno",
    "> vaga no Vida Nova",
    "oi\n\n---\n\ntchau",
]
NOT_MARKDOWN = [
    "plantão de 12h, das 7h às 19h",
    "tem vaga sábado e domingo",
    "noturno 19h-7h, blz?",
    "2*3 plantões? não entendi kkk",
    "meu email é julia_mendes@revoluna.com.br",
    "#partiu plantão",
    "vc faz 12h ou 24h? :)",
    "a vaga é na ala C/D",
    "sábado - noturno - Vida Nova",
]
LISTS = [
    "tenho essas:\n- sábado noturno\n- domingo diurno",
    "1. Hospital Vida Nova\n2. Hospital Santa Clara",
    "1) sábado\n2) domingo",
    "• sábado\n• domingo",
    "* sábado\n* domingo",
    "a) sábado\nb) domingo",
    "📍 Hospital Vida Nova\n📅 sábado, 19h às 7h",
    "✅ sábado\n✅ domingo",
]
NOT_LISTS = [
    "- ok, pode ser",
    "tenho duas vagas: sábado e domingo",
    "19h às 7h\nnoturno\nHospital Vida Nova",
    "2 plantões no sábado\n3 no domingo",
    "das 7h às 19h - diurno\nsábado",
    "😊 oi, tudo bem?",
]


@pytest.mark.parametrize("text", MARKDOWN)
def test_markdown_is_flagged(text: str) -> None:
    assert "markdown" in rules(text)


@pytest.mark.parametrize("text", NOT_MARKDOWN)
def test_plain_text_is_not_markdown(text: str) -> None:
    assert "markdown" not in rules(text)


@pytest.mark.parametrize("text", LISTS)
def test_lists_are_flagged(text: str) -> None:
    assert "list" in rules(text)


@pytest.mark.parametrize("text", NOT_LISTS)
def test_prose_is_not_a_list(text: str) -> None:
    assert "list" not in rules(text)


# Money -------------------------------------------------------------------------------------

MONEY = [
    ("R$ 2.500", {250_000}),
    ("R$2500", {250_000}),
    ("r$ 2500", {250_000}),
    ("2.500 reais", {250_000}),
    ("paga 2,5 mil", {250_000}),
    ("R$ 1.800,00 o plantão", {180_000}),
    ("1800 reais", {180_000}),
    ("R$ 2500.00", {250_000}),
    ("R$ 150/h", {15_000}),
    ("R$ 2 mil", {200_000}),
    ("paga uns 2k", {200_000}),
    ("1,8 mil reais", {180_000}),
    ("R$ 1.234.567,89", {123_456_789}),
    ("R$ 99,90", {9_990}),
    ("dois mil e quinhentos reais", {250_000}),
    ("mil reais", {100_000}),
    ("2 mil e 500", {250_000}),
    ("2 mil e quinhentos reais", {250_000}),
    ("entre R$ 1.800 e R$ 2.200", {180_000, 220_000}),
    ("de R$ 2.000 a 2.500", {200_000, 250_000}),
    ("R$ 2.500,00 (dois mil e quinhentos reais)", {250_000}),
    ("Hospital São Luiz – 12/03 – até R$ 2.500", {250_000}),
    # Not money.
    ("dia 12/03 às 19h", set()),
    ("plantão de 12 horas", set()),
    ("das 7h às 19h, 24h no fim de semana", set()),
    ("CRM 123456-SP", set()),
    ("meu número é 11 98765-4321", set()),
    ("em 2026", set()),
    ("30 dias de antecedência", set()),
    ("fica a 5 km do centro", set()),
    ("mil desculpas pela demora", set()),
    ("somos 2 mil médicos cadastrados", set()),
    ("um plantão e duas folgas", set()),
    ("R$ 1.800 e 12 horas de descanso", {180_000}),
    ("R$ 1.800 e um plantão extra", {180_000}),
]


@pytest.mark.parametrize(("text", "cents"), MONEY)
def test_money_cents(text: str, cents: set[int]) -> None:
    assert money_cents(text) == cents


def test_value_from_tools_is_allowed() -> None:
    tool_result = '{"hospital": "Vida Nova", "valor": "R$ 1.800,00", "margem_max": "R$ 2.000"}'
    allowed = money_cents(tool_result)
    assert rules("tem um noturno no Vida Nova, R$ 1.800", allowed) == set()
    assert rules("consigo chegar em 2 mil nesse", allowed) == set()


def test_same_value_in_another_spelling_is_allowed() -> None:
    allowed = money_cents("R$ 2.500,00")
    for reply in ("paga 2,5 mil", "2500 reais", "R$2.500", "dois mil e quinhentos reais"):
        assert rules(reply, allowed) == set(), reply


def test_invented_value_is_flagged() -> None:
    allowed = money_cents("valor: R$ 1.800")
    violations = check_reply("consigo R$ 2.500 pra vc", allowed_cents=allowed)
    assert [v.rule for v in violations] == ["invented_value"]
    assert "R$ 2.500,00" in violations[0].detail


def test_doctors_own_value_may_be_quoted() -> None:
    doctor = "1800 tá baixo, faz 2200?"
    assert money_cents(doctor) == set()
    allowed = money_cents("R$ 1.800") | money_cents(doctor, bare_numbers=True)
    assert rules("2200 reais não consigo, o máximo é R$ 1.800", allowed) == set()


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("1800 tá baixo, faz 2200?", {180_000, 220_000}),
        ("topo por 2.500", {250_000}),
        ("só faço 12 horas, dia 15/03 às 19h", set()),
        ("faço por 2 mil", {200_000}),
        ("faço 200 plantões por ano", set()),
    ],
)
def test_bare_numbers_for_the_doctors_messages(text: str, cents: set[int]) -> None:
    assert money_cents(text, bare_numbers=True) == cents


def test_non_money_numbers_never_count_as_invented() -> None:
    assert rules("sábado 14/03, das 19h às 7h, 12 horas, CRM 123456", set()) == set()


# Length and emptiness ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\n \t"])
def test_empty(text: str) -> None:
    assert check_reply(text, allowed_cents=set()) == [
        Violation("empty", "nothing left after stripping")
    ]


def test_too_many_messages() -> None:
    assert "too_long" in rules("oi\n\ntudo bem?\n\ntenho vaga\n\nsábado\n\ntopa?")
    assert "too_long" not in rules("oi\n\ntudo bem?\n\ntenho vaga\n\ntopa?")


def test_too_many_characters() -> None:
    long_reply = "tenho um plantão noturno no sábado que combina com vc. " * 14
    assert len(long_reply.strip()) > 700
    assert "too_long" in rules(long_reply)


def test_a_good_reply_passes() -> None:
    reply = (
        "oi, tudo bem? sou a Julia, escalista da Revoluna\n\n"
        "tenho um noturno no Vida Nova sábado, das 19h às 7h, R$ 1.800\n\n"
        "vc costuma fazer noturno?"
    )
    assert check_reply(reply, allowed_cents={180_000}) == []


# Repair ------------------------------------------------------------------------------------

MODEL_OUTPUTS = [
    (
        "Tenho essas vagas pra vc:\n\n"
        "- **Hospital Vida Nova** – sábado, 19h às 7h – R$ 1.800\n"
        "- **Hospital Santa Clara** – domingo, 7h às 19h – R$ 1.600\n\n"
        "Qual te interessa mais?"
    ),
    (
        "Olha só:\n"
        "1. Hospital Vida Nova (noturno)\n"
        "2. Hospital Santa Clara (diurno)\n"
        "Me fala qual prefere"
    ),
    "**Plantão:** Hospital Vida Nova\n**Valor:** R$ 1.800\n**Turno:** noturno",
    "# Vagas da semana\n\n* sábado noturno\n* domingo diurno",
    "📍 Hospital Vida Nova\n📅 sábado, 19h às 7h\n💰 R$ 1.800",
    "o endereço tá [aqui](https://maps.example.com/vida-nova), é o `bloco B`",
    "| Hospital | Turno |\n|---|---|\n| Vida Nova | noturno |\n| Santa Clara | diurno |",
    "tem vaga *sábado* e _domingo_, qual vc prefere?",
]


@pytest.mark.parametrize("text", MODEL_OUTPUTS)
def test_repair_removes_markdown_and_lists(text: str) -> None:
    repaired = repair_format(text)
    assert rules(repaired, money_cents(text)) & {"markdown", "list", "empty"} == set()


@pytest.mark.parametrize("text", MODEL_OUTPUTS)
def test_repair_keeps_the_words(text: str) -> None:
    repaired = repair_format(text)
    for word in ("Vida", "Nova", "sábado", "noturno", "1.800", "domingo", "Santa", "Clara"):
        if word in text:
            assert word in repaired


@pytest.mark.parametrize("text", MODEL_OUTPUTS)
def test_repair_is_idempotent_and_deterministic(text: str) -> None:
    repaired = repair_format(text)
    assert repair_format(text) == repaired
    assert repair_format(repaired) == repaired


def test_repair_turns_items_into_messages() -> None:
    repaired = repair_format(MODEL_OUTPUTS[0])
    assert repaired.split("\n\n") == [
        "Tenho essas vagas pra vc:",
        "Hospital Vida Nova – sábado, 19h às 7h – R$ 1.800",
        "Hospital Santa Clara – domingo, 7h às 19h – R$ 1.600",
        "Qual te interessa mais?",
    ]


def test_repair_of_bold_fields() -> None:
    assert repair_format(MODEL_OUTPUTS[2]) == (
        "Plantão: Hospital Vida Nova\nValor: R$ 1.800\nTurno: noturno"
    )


def test_repair_of_link_and_table() -> None:
    assert repair_format(MODEL_OUTPUTS[5]) == (
        "o endereço tá aqui (https://maps.example.com/vida-nova), é o bloco B"
    )
    assert repair_format(MODEL_OUTPUTS[6]) == (
        "Hospital, Turno\nVida Nova, noturno\nSanta Clara, diurno"
    )


def test_repair_leaves_plain_text_alone() -> None:
    text = "oi, tudo bem?\n\n- ok, pode ser sábado então\n\nR$ 1.800, das 19h às 7h"
    assert repair_format(text) == text


def test_the_guardrails_know_every_tool_name() -> None:
    """A reply naming a tool leaks the machinery; the voice keeps its own list of them."""
    from app.domain.agent.tools import TOOL_DEFINITIONS
    from app.domain.voice.guardrails import TOOL_NAMES

    assert set(TOOL_NAMES) == {tool["name"] for tool in TOOL_DEFINITIONS}
    assert check_reply("vou usar o reserve_shift agora", allowed_cents=set())
