"""Outreach on a fake clock (tests/support/simulation.py), small: three days of an operator's
campaign, an autonomous one and reactivation on three chips (one warming up), with nights, a
disconnected chip, PILOT_MODE (and a second operator campaign started under it), a pause,
replies, and opt-outs of doctors whose messages were already queued. Every rule holds,
checked from what left for WhatsApp, and every check saw something to check."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from app.core.resources import open_resources
from tests.support.simulation import SETTINGS, SimConfig, Simulation


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    previous = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.configure(**previous)


async def test_outreach_never_breaks_a_rule(
    make_settings: Any, database_url: str, redis_url: str, fake: Any, quiet_logs: None
) -> None:
    # Low caps, so 150 doctors keep the chips busy for the three days; the hourly cap is
    # under the daily cap's pace over the open hours, so it binds too.
    caps = {"MAX_MSGS_POR_HORA": 2, "MAX_MSGS_POR_DIA": 30}
    settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        EVOLUTION_API_URL=fake.url,
        **{**SETTINGS, **caps},
    )
    cfg = SimConfig(doctors=150, days=3, workers=4, seed=7, extra_days=2)
    async with open_resources(settings) as res:
        sim = Simulation(res, cfg, provider_sends=lambda: len(fake.evolution.sends))
        try:
            report = await sim.run()
        finally:
            await sim.close()
    print(report.table(), dict(report.deferrals), sep="\n")
    assert report.ok, report.violations_text()
    vacuous = [i.name for i in report.invariants if i.checked == 0]
    assert not vacuous, f"checked nothing: {vacuous}"
    assert report.totals["sends"] > 60
    assert report.totals["opt_outs_queued"] >= 2 and report.totals["opt_outs_waiting"] >= 1
    # The gateway was asked at every kind of moment the rules care about.
    exercised = {"pausado", "pilot_mode", "horario", "chip_desconectado", "cap_hora_chip"}
    assert exercised <= set(report.deferrals), report.deferrals
