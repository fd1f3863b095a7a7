"""LLM cost per call, as the daily report and the turns table show it."""

from __future__ import annotations

import pytest

from app.integrations.anthropic_llm import cost_usd, price_of
from app.integrations.protocols import Usage

HAIKU_3_5 = (0.80, 4.0, 1.0, 0.08)
HAIKU_4_5 = (1.0, 5.0, 1.25, 0.10)
SONNET = (3.0, 15.0, 3.75, 0.30)


@pytest.mark.parametrize(
    ("model", "price"),
    [
        # The spec's example ids put the version before the family.
        ("claude-3-5-haiku-20241022", HAIKU_3_5),
        ("claude-3-5-sonnet-20241022", SONNET),
        ("claude-3-haiku-20240307", (0.25, 1.25, 0.30, 0.03)),
        ("claude-haiku-4-5", HAIKU_4_5),
        ("claude-haiku-4-5-20251001", HAIKU_4_5),
        ("claude-sonnet-4-6", SONNET),
        ("claude-sonnet-4-5-20250929", SONNET),
        ("claude-opus-4-1", (15.0, 75.0, 18.75, 1.50)),
        ("claude-opus-4-5", (5.0, 25.0, 6.25, 0.50)),
        # Unknown: priced as Sonnet, so the report never understates cost.
        ("some-gateway-model", SONNET),
    ],
)
def test_each_model_id_gets_its_list_price(model: str, price: tuple[float, ...]) -> None:
    assert price_of(model) == price


def test_a_haiku_turn_costs_what_haiku_costs() -> None:
    usage = Usage(
        input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=0, cache_write_tokens=0
    )
    # 0.80 input + 0.40 output, not Sonnet's 3.00 + 1.50.
    assert cost_usd("claude-3-5-haiku-20241022", usage) == pytest.approx(1.20)
