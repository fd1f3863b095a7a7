from __future__ import annotations

import pytest

from app.domain.doctors.phones import brazil_variants, canonical_brazil, normalize_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+55 (11) 98765-4321", "5511987654321"),
        ("11987654321", "5511987654321"),
        ("(11) 98765-4321", "5511987654321"),
        ("5511987654321", "5511987654321"),
        ("  55 11 98765 4321 ", "5511987654321"),
        ("3188887777", "553188887777"),  # 10 digits: landline or legacy mobile
        ("011987654321", "5511987654321"),  # trunk prefix 0
        ("005511987654321", "5511987654321"),  # international prefix 00
        ("+1 (415) 555-2671", "14155552671"),
        ("+351 912 345 678", "351912345678"),
        ("+55.11.98765.4321", "5511987654321"),
    ],
)
def test_normalize_phone_accepts(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "11 9876-abcd",
        "98765-4321",  # no area code
        "12345",
        "+1234567890123456",  # 16 digits: over the E.164 maximum
        "+55 11 98765 43210",  # Brazil with too many digits
        "+55 11 8765 432",  # Brazil with too few digits
        "+55 (01) 98765-4321",  # no area code starts with 0
        "5511887654321",  # 13 digits without the mobile 9
        "+",
        "١١٩٨٧٦٥٤٣٢١",  # non-ASCII digits
        "5511987654321@s.whatsapp.net",
    ],
)
def test_normalize_phone_rejects(raw: str) -> None:
    assert normalize_phone(raw) is None


def test_normalize_phone_rejects_non_strings() -> None:
    assert normalize_phone(None) is None  # type: ignore[arg-type]
    assert normalize_phone(11987654321) is None  # type: ignore[arg-type]


def test_normalize_phone_other_default_country() -> None:
    assert normalize_phone("4155552671", default_country="1") == "14155552671"


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("5531988887777", ("5531988887777", "553188887777")),
        ("553188887777", ("5531988887777", "553188887777")),
        ("5511987654321", ("5511987654321", "551187654321")),
        ("556199996666", ("5561999996666", "556199996666")),
        ("551133334444", ("551133334444",)),  # landline: starts with 3
        ("552125554444", ("552125554444",)),  # landline: starts with 2
        ("14155552671", ("14155552671",)),
        ("351912345678", ("351912345678",)),
        ("not-a-phone", ("not-a-phone",)),
    ],
)
def test_brazil_variants(phone: str, expected: tuple[str, ...]) -> None:
    assert brazil_variants(phone) == expected


def test_variants_of_both_forms_are_the_same_set() -> None:
    assert set(brazil_variants("5531988887777")) == set(brazil_variants("553188887777"))


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("553188887777", "5531988887777"),
        ("5531988887777", "5531988887777"),
        ("551133334444", "551133334444"),
        ("14155552671", "14155552671"),
    ],
)
def test_canonical_brazil(phone: str, expected: str) -> None:
    assert canonical_brazil(phone) == expected
