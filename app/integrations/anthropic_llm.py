"""Claude through the Anthropic SDK, behind the shared circuit breaker.

The SDK retries connection errors, timeouts, 429 and 5xx/529 with exponential backoff
(`max_retries`); what still fails counts against the circuit. While the circuit is open no
request is made at all.
"""

from __future__ import annotations

import re
from typing import Any

import anthropic

from app.core.circuit import CircuitBreaker
from app.core.logging import get_logger
from app.integrations.protocols import LLMResponse, LLMUnavailable, Usage

log = get_logger(__name__)


class AnthropicLLM:
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        timeout_s: float,
        max_retries: int,
        breaker: CircuitBreaker,
    ) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries
        )
        self.breaker = breaker

    async def create(
        self,
        *,
        model: str,
        system: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        max_tokens: int,
    ) -> LLMResponse:
        if await self.breaker.is_open():
            raise LLMUnavailable("circuit open")
        try:
            message = await self._client.messages.create(
                model=model,
                system=system,  # type: ignore[arg-type]
                messages=messages,  # type: ignore[arg-type]
                tools=tools,  # type: ignore[arg-type]
                max_tokens=max_tokens,
            )
        except (anthropic.APIConnectionError, anthropic.RateLimitError) as exc:
            await self._failed(exc)
            raise LLMUnavailable(type(exc).__name__) from exc
        except anthropic.APIStatusError as exc:
            if exc.status_code >= 500 or exc.status_code == 408:
                await self._failed(exc)
            else:
                # Our request was refused (400, 401, 404): not an outage, but no answer either.
                log.error("llm.rejected", status=exc.status_code, error=type(exc).__name__)
            raise LLMUnavailable(f"{type(exc).__name__} ({exc.status_code})") from exc
        await self.breaker.record_success()
        usage = message.usage
        return LLMResponse(
            model=message.model,
            content=[block.model_dump(exclude_none=True) for block in message.content],
            stop_reason=message.stop_reason,
            usage=Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_input_tokens or 0,
                cache_write_tokens=usage.cache_creation_input_tokens or 0,
            ),
        )

    async def _failed(self, exc: Exception) -> None:
        opened = await self.breaker.record_failure()
        log.warning("llm.failed", error=type(exc).__name__, circuit_opened=opened)


# USD per million tokens: (input, output, cache write 5 min, cache read). Public list prices,
# by family and version; a version not listed takes the newest listed one below it.
_PRICES: dict[str, dict[tuple[int, int], tuple[float, float, float, float]]] = {
    "haiku": {
        (3, 0): (0.25, 1.25, 0.30, 0.03),
        (3, 5): (0.80, 4.0, 1.0, 0.08),
        (4, 5): (1.0, 5.0, 1.25, 0.10),
    },
    "sonnet": {(3, 0): (3.0, 15.0, 3.75, 0.30)},
    "opus": {
        (3, 0): (15.0, 75.0, 18.75, 1.50),
        (4, 5): (5.0, 25.0, 6.25, 0.50),
    },
}
_DEFAULT_PRICE = _PRICES["sonnet"][(3, 0)]
# Both spellings of a model id: "claude-haiku-4-5[-date]" and "claude-3-5-haiku-20241022".
_MODEL_ID = re.compile(
    r"(?:(?P<fam1>haiku|sonnet|opus)-(?P<v1>\d+)(?:-(?P<m1>\d{1,2})(?!\d))?)"
    r"|(?:(?P<v2>\d+)(?:-(?P<m2>\d{1,2}))?-(?P<fam2>haiku|sonnet|opus))"
)


def price_of(model: str) -> tuple[float, float, float, float]:
    """The list price of a model id; an unknown family is priced as Sonnet (the safe side)."""
    match = _MODEL_ID.search(model.lower())
    if match is None:
        return _DEFAULT_PRICE
    family = match["fam1"] or match["fam2"]
    major = int(match["v1"] or match["v2"])
    minor = int(match["m1"] or match["m2"] or 0)
    listed = sorted(v for v in _PRICES[family] if v <= (major, minor))
    return _PRICES[family][listed[-1]] if listed else _DEFAULT_PRICE


def cost_usd(model: str, usage: Usage) -> float:
    """List-price cost of one call (see `price_of`)."""
    per_token = [p / 1_000_000 for p in price_of(model)]
    return (
        usage.input_tokens * per_token[0]
        + usage.output_tokens * per_token[1]
        + usage.cache_write_tokens * per_token[2]
        + usage.cache_read_tokens * per_token[3]
    )
