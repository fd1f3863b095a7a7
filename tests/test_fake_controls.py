"""The drills' vendor faults (tests/support/fake_controls.py) do what the drills report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import fake_controls
from tests.support.fake_vendors import FakeVendors

PHONE = "5511987001234"


@pytest.fixture
def faulty() -> Iterator[tuple[FakeVendors, fake_controls.Faults]]:
    fake = FakeVendors()
    faults = fake_controls.install(fake)
    with fake:
        yield fake, faults


async def send_text(fake: FakeVendors, wait: float = 5.0) -> httpx.Response:
    async with httpx.AsyncClient(timeout=wait) as client:
        return await client.post(
            f"{fake.url}/message/sendText/Revoluna",
            json={"number": PHONE, "text": "oi doutor"},
            headers={"apikey": "evo-key"},
        )


async def test_an_evolution_error_window_answers_500_and_delivers_nothing(faulty: Any) -> None:
    fake, faults = faulty
    fault = fake_controls.evolution_error(faults, 500, seconds=30)

    response = await send_text(fake)

    assert response.status_code == 500
    assert response.json()["response"]["message"] == ["fake outage"]
    assert fake.evolution.texts_to(PHONE) == []
    assert fault.hits == 1
    faults.clear()
    assert (await send_text(fake)).status_code == 201
    assert fake.evolution.texts_to(PHONE) == ["oi doutor"]


async def test_a_held_send_times_out_for_the_sender_and_is_still_delivered(faulty: Any) -> None:
    fake, faults = faulty
    fake_controls.evolution_timeout(faults, seconds=30, hold=1.0)

    with pytest.raises(httpx.ReadTimeout):
        await send_text(fake, wait=0.3)

    await fake.await_until(lambda: fake.evolution.texts_to(PHONE) == ["oi doutor"], timeout=5)


async def test_an_anthropic_overload_says_when_to_retry(faulty: Any) -> None:
    fake, faults = faulty
    fake_controls.anthropic_error(faults, 529, "overloaded_error", seconds=30, retry_after=2)

    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{fake.url}/v1/messages",
            json={"model": "claude-haiku-4-5", "max_tokens": 10, "messages": []},
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        )

    assert response.status_code == 529
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["type"] == "overloaded_error"
    assert fake.anthropic.requests == []
