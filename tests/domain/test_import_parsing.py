"""CSV parsing for `julia import`: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.domain.imports.parsing import (
    ImportFileError,
    Rejection,
    derive_period,
    detect_delimiter,
    header_key,
    normalize_key,
    parse_date,
    parse_doctors,
    parse_hospitals,
    parse_money,
    parse_shifts,
    parse_time,
    parse_uf,
)

SP = ZoneInfo("America/Sao_Paulo")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def reasons(rejected: list[Rejection]) -> list[str]:
    return [str(r) for r in rejected]


# ---------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cents"),
    [
        ("R$ 1.800,00", 180000),
        ("r$1800", 180000),
        ("1800", 180000),
        ("1800,5", 180050),
        ("1800.50", 180050),
        ("1.800", 180000),  # Brazilian thousands
        ("1.800.000,99", 180000099),
        ("1,800.00", 180000),
        ("0,50", 50),
        ("12.5", 1250),
        ("0", 0),
        ("R$\u00a02.500,00", 250000),  # Excel's non-breaking space
    ],
)
def test_money_is_read_as_cents(raw: str, cents: int) -> None:
    assert parse_money(raw) == cents


@pytest.mark.parametrize(
    "raw",
    ["", "abc", "-100", "1,800", "1.8.00", "1800,", "1800,555", "R$", "1 800x", "99999999999"],
)
def test_money_refuses_what_is_not_a_value(raw: str) -> None:
    assert parse_money(raw) is None


def test_dates_times_and_ufs() -> None:
    assert parse_date("05/03/2026") == date(2026, 3, 5)
    assert parse_date("5/3/2026") == date(2026, 3, 5)
    assert parse_date("2026-03-05") == date(2026, 3, 5)
    for bad in ("31/02/2026", "2026-13-01", "05-03-2026", "03/05/26", "amanhã"):
        assert parse_date(bad) is None, bad

    assert parse_time("07:00") == (time(7), False)
    assert parse_time("7h") == (time(7), False)
    assert parse_time("19h30") == (time(19, 30), False)
    assert parse_time("19:30:00") == (time(19, 30), False)
    assert parse_time("24:00") is None
    assert parse_time("24:00", allow_24=True) == (time(0), True)
    for bad in ("25:00", "7:60", "sete", "7:5"):
        assert parse_time(bad) is None, bad

    assert parse_uf("sp") == "SP"
    assert parse_uf("São Paulo") == "SP"
    assert parse_uf("minas gerais") == "MG"
    assert parse_uf("XX") is None
    assert parse_uf("S1") is None


def test_headers_ignore_case_accents_and_punctuation() -> None:
    assert header_key("  Observação Valor ") == "observacao_valor"
    assert header_key("Início") == "inicio"
    assert header_key("CRM-UF") == "crm_uf"
    assert normalize_key("  Clínica   Médica ") == "clinica medica"


def test_delimiter_is_the_one_the_header_uses() -> None:
    assert detect_delimiter("nome;telefone;cidade") == ";"
    assert detect_delimiter("nome,telefone") == ","
    assert detect_delimiter('"Silva, Ana";telefone') == ";"  # commas inside quotes do not count
    assert detect_delimiter("nome\ttelefone") == "\t"
    assert detect_delimiter("telefone") == ","


@pytest.mark.parametrize(
    ("start", "hours", "period"),
    [
        (time(7), 12, "diurno"),
        (time(6), 6, "diurno"),
        (time(17, 59), 6, "diurno"),
        (time(18), 12, "noturno"),
        (time(19), 12, "noturno"),
        (time(5, 59), 6, "noturno"),
        (time(7), 24, "integral"),
        (time(19), 20, "integral"),
    ],
)
def test_period_from_the_times(start: time, hours: int, period: str) -> None:
    assert derive_period(start, timedelta(hours=hours)) == period


# ---------------------------------------------------------------------------------------
# Doctors
# ---------------------------------------------------------------------------------------

DOCTORS = """\
Nome,Telefone,CRM,CRM_UF,Especialidade,Cidade,UF,Região,Observações,Email
Dra. Ana Souza,(11) 98765-4321,123.456,sp,Clínica Médica,São Paulo,SP,Zona Sul,noturnos,a@x
Dr. Bruno Lima,1234,234567,SP,Pediatria,São Paulo,SP,,,
Dra. Carla,+55 19 8765-0003,345678,SP,Pediatria,Campinas,XX,,,
Dr. Davi,5511987654321,,,,,,,,
,+55 31 98888-7777,,,,Belo Horizonte,minas gerais,,,
Dr. Eduardo,31 98888 7777,CRM ABC,,,,,,,
"""


def test_doctors_rows_and_rejections() -> None:
    parsed = parse_doctors(DOCTORS)
    assert parsed.total == 6
    assert parsed.ignored_columns == ("Email",)
    assert reasons(parsed.rejected) == [
        "linha 3: telefone inválido: '1234'",
        "linha 4: uf inválida: 'XX'",
        "linha 5: duplicado da linha 2",
        "linha 7: crm inválido: 'CRM ABC'",
    ]
    ana, minas = parsed.rows
    assert ana.line == 2
    assert ana.phone == "5511987654321"
    assert (ana.name, ana.crm, ana.crm_uf, ana.specialty) == (
        "Dra. Ana Souza",
        "123456",
        "SP",
        "Clínica Médica",
    )
    assert (ana.city, ana.state, ana.region, ana.notes) == (
        "São Paulo",
        "SP",
        "Zona Sul",
        "noturnos",
    )
    assert minas.line == 6 and minas.name is None
    assert minas.phone == "5531988887777" and minas.state == "MG"


def test_legacy_mobile_numbers_get_the_ninth_digit() -> None:
    parsed = parse_doctors("telefone\n+55 31 8888-7777\n")
    assert [r.phone for r in parsed.rows] == ["5531988887777"]


def test_several_problems_in_one_row_are_all_named() -> None:
    parsed = parse_doctors("telefone;uf;crm_uf\n123;XX;Y1\n")
    assert reasons(parsed.rejected) == [
        "linha 2: telefone inválido: '123'; crm_uf inválida: 'Y1'; uf inválida: 'XX'"
    ]


def test_semicolons_bom_and_portuguese_headers() -> None:
    text = (
        "\ufeffNOME;Celular;Especialidade;Cidade;Estado\r\n"
        "Dra. Ana;11 98765-4321;Pediatria;Campinas;SP\r\n"
    )
    parsed = parse_doctors(text)
    assert parsed.rejected == []
    assert [(r.name, r.phone, r.specialty, r.state) for r in parsed.rows] == [
        ("Dra. Ana", "5511987654321", "Pediatria", "SP")
    ]
    assert parsed.columns == {"name", "phone", "specialty", "city", "state"}


def test_line_numbers_count_blank_lines_and_quoted_newlines() -> None:
    text = 'telefone,observacoes\n\n11987650001,"duas\nlinhas"\n\n11987650002,ok\n1,x\n'
    parsed = parse_doctors(text)
    assert [r.line for r in parsed.rows] == [3, 6]
    assert parsed.rows[0].notes == "duas\nlinhas"
    assert reasons(parsed.rejected) == ["linha 7: telefone inválido: '1'"]
    assert parsed.total == 3


def test_a_row_wider_than_the_header_is_refused() -> None:
    parsed = parse_doctors("telefone,nome\n11987650001,Ana,R$ 1.800,00\n11987650002,Bia,,\n")
    assert [r.line for r in parsed.rows] == [3]
    assert parsed.rejected[0].line == 2
    assert "4 colunas e o cabeçalho 2" in parsed.rejected[0].reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "arquivo vazio"),
        ("\ufeff\n\n  \n", "arquivo vazio"),
        ("nome,cidade\nAna,SP\n", "faltam colunas obrigatórias no cabeçalho: telefone"),
        ("telefone,celular\n1,2\n", "as colunas 'telefone' e 'celular' são a mesma coisa"),
        ("telefone\n11987650001\x00\n", "caracteres nulos"),
        ('telefone\n"11987650001' + "x" * 200_000 + "\n", "CSV malformado"),
    ],
)
def test_files_that_cannot_be_used(text: str, message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        parse_doctors(text)


def test_overlong_text_is_refused_not_truncated() -> None:
    parsed = parse_doctors(f"telefone,nome\n11987650001,{'A' * 201}\n")
    assert reasons(parsed.rejected) == ["linha 2: nome longo demais (máximo 200 caracteres)"]


# ---------------------------------------------------------------------------------------
# Hospitals
# ---------------------------------------------------------------------------------------


def test_hospitals_rows_duplicates_and_required_cells() -> None:
    text = """\
codigo;nome;cidade;uf;regiao;endereco;obs
H1;Hospital São Luiz;São Paulo;SP;Zona Sul;Rua A, 1;estacionamento no subsolo
H2;HOSPITAL SAO LUIZ;sao  paulo;SP;;;
H3;Hospital São Luiz;Campinas;SP;;;
H1;Hospital Vera Cruz;Campinas;SP;;;
;Santa Casa;;SP;;;
;Santa Casa;Santos;São Paulo;;;
"""
    parsed = parse_hospitals(text)
    assert reasons(parsed.rejected) == [
        "linha 3: duplicado da linha 2",
        "linha 5: duplicado da linha 2",
        "linha 6: cidade em branco",
    ]
    assert [(r.line, r.name, r.city, r.state, r.external_ref) for r in parsed.rows] == [
        (2, "Hospital São Luiz", "São Paulo", "SP", "H1"),
        (4, "Hospital São Luiz", "Campinas", "SP", "H3"),
        (7, "Santa Casa", "Santos", "SP", None),
    ]
    assert parsed.rows[0].notes == "estacionamento no subsolo"
    assert parsed.rows[0].address == "Rua A, 1"


def test_hospitals_need_name_city_and_uf_columns() -> None:
    with pytest.raises(ImportFileError, match="faltam colunas obrigatórias no cabeçalho: uf"):
        parse_hospitals("nome,cidade\nX,Y\n")


# ---------------------------------------------------------------------------------------
# Shifts
# ---------------------------------------------------------------------------------------

SHIFTS = """\
id;hospital;cidade;especialidade;setor;data;data_fim;inicio;fim;periodo;valor;valor_min;valor_max;observacao_valor;margem;prioridade;observacoes
P1;São Luiz;São Paulo;Clínica Médica;PS;15/03/2026;;07:00;19:00;;R$ 1.800,00;;;;R$ 200;1;sem RQE
P2;São Luiz;;Clínica Médica;PS adulto;2026-03-15;;19:00;07:00;;2100;;;;;;
P3;São Luiz;;Pediatria;;16/03/2026;;07:00;07:00;;;1.500;2.000;;;;
;São Luiz;;Pediatria;UTI;17/03/2026;;13:00;19:00;noturno;a combinar;;;;;;
P5;São Luiz;;Pediatria;;31/02/2026;;07:00;19:00;;;;;;;;
P6;São Luiz;;Pediatria;;18/03/2026;17/03/2026;07:00;19:00;;;;;;;;
P7;São Luiz;;Pediatria;;18/03/2026;;7h;19h;manhã;abc;2000;1000;;;alta;
P1;São Luiz;;Pediatria;;19/03/2026;;07:00;19:00;;;;;;;;
P9;;;;;19/03/2026;;25:00;;;;;;;;;
P10;São Luiz;;Pediatria;;18/03/2026;20/03/2026;07:00;19:00;;;;;;;;
P11;São Luiz;;Pediatria;;18/03/1999;;07:00;19:00;;;;;;;;
P12;São Luiz;;Pediatria;;18/03/2026;;19:00;24:00;;;;;;;;
"""


def test_shifts_rows_times_and_pay() -> None:
    parsed = parse_shifts(SHIFTS, tz=SP)
    assert reasons(parsed.rejected) == [
        "linha 6: data inválida: '31/02/2026'",
        "linha 7: fim antes do início",
        "linha 8: período inválido (use diurno, noturno ou integral): 'manhã'; "
        "valor inválido: 'abc'; valor_min maior que valor_max; prioridade inválida: 'alta'",
        "linha 9: duplicado da linha 2",
        "linha 10: hospital em branco; especialidade em branco; início inválido: '25:00'; "
        "fim em branco",
        "linha 11: plantão com mais de 48 horas",
        "linha 12: data inválida: '18/03/1999'",
    ]
    day, night, full, range_, midnight = parsed.rows

    # São Paulo is UTC-3: local 07:00 is 10:00 UTC.
    assert (day.starts_at, day.ends_at, day.period) == (
        utc(2026, 3, 15, 10),
        utc(2026, 3, 15, 22),
        "diurno",
    )
    assert (day.external_ref, day.hospital_city, day.sector) == ("P1", "São Paulo", "PS")
    assert (day.pay_cents, day.negotiation_margin_cents, day.priority) == (180000, 20000, 1)
    assert day.notes == "sem RQE"

    # An end before the start is the next morning.
    assert (night.starts_at, night.ends_at, night.period) == (
        utc(2026, 3, 15, 22),
        utc(2026, 3, 16, 10),
        "noturno",
    )
    assert night.hospital_city is None and night.pay_cents == 210000

    # Equal times: 24 hours.
    assert full.ends_at - full.starts_at == timedelta(hours=24) and full.period == "integral"
    assert (full.pay_cents, full.pay_min_cents, full.pay_max_cents) == (None, 150000, 200000)

    # No id (the service derives one); the period column wins over the times.
    assert range_.external_ref is None and range_.period == "noturno"
    assert (range_.pay_cents, range_.pay_note) == (None, "a combinar")
    assert range_.negotiation_margin_cents == 0 and range_.priority == 0

    assert midnight.ends_at == utc(2026, 3, 19, 3)  # 24:00 local = 03:00 UTC next day
    assert "pay" in parsed.columns and "end_date" in parsed.columns


def test_shift_times_follow_the_zone_rules_of_the_day() -> None:
    # São Paulo had daylight saving time until 2019: on 2018-11-04 clocks jumped 00:00 -> 01:00.
    text = "hospital,especialidade,data,inicio,fim\nH,Pediatria,03/11/2018,19:00,07:00\n"
    (row,) = parse_shifts(text, tz=SP).rows
    assert row.starts_at == utc(2018, 11, 3, 22)
    assert row.ends_at == utc(2018, 11, 4, 9)  # 07:00 at UTC-2
    assert row.ends_at - row.starts_at == timedelta(hours=11)


def test_shifts_need_their_columns() -> None:
    with pytest.raises(ImportFileError) as info:
        parse_shifts("hospital;especialidade;data\nX;Y;01/01/2026\n", tz=SP)
    assert str(info.value).startswith("faltam colunas obrigatórias no cabeçalho: inicio, fim")
