"""The outbound gateway and a turn's leftovers: every message once, none against a rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.core.resources import Resources, open_resources
from app.domain.agent import turn
from app.domain.agent.turn import TurnServices
from app.domain.outbound import repository as sends
from app.workers.wiring import turn_services
from tests.support.julia import vendor_settings

PHONE = "5511987004455"


@pytest.fixture
async def res(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> AsyncIterator[Resources]:
    settings = make_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, **vendor_settings(fake.url)
    )
    async with open_resources(settings) as resources:
        yield resources


@pytest.fixture
def svc(res: Resources) -> TurnServices:
    return turn_services(res)


async def conversation(res: Resources) -> tuple[int, int]:
    doctor = await res.db.fetchval(
        "INSERT INTO doctors (phone, name) VALUES ($1, 'Dr. Teste') RETURNING id", PHONE
    )
    conv = await res.db.fetchval(
        "INSERT INTO conversations (doctor_id) VALUES ($1) RETURNING id", doctor
    )
    return doctor, conv


async def plan(
    res: Resources,
    doctor: int,
    conv: int,
    texts: list[str],
    *,
    kind: str = "reply",
    proactive: bool = False,
    turn_id: int | None = None,
) -> list[int]:
    if turn_id is None:
        turn_id = await res.db.fetchval(
            "INSERT INTO turns (conversation_id, status) VALUES ($1, 'ok') RETURNING id", conv
        )
    rows = [
        await sends.create(
            res.db,
            key=f"turn:{turn_id}:{i}",
            kind=kind,
            proactive=proactive,
            doctor_id=doctor,
            to_phone=PHONE,
            body=text,
            conversation_id=conv,
            turn_id=turn_id,
            instance="Revoluna",
        )
        for i, text in enumerate(texts)
    ]
    return [r.id for r in rows]


async def test_a_dead_turns_planned_messages_are_delivered_once(
    res: Resources, svc: TurnServices, fake: Any
) -> None:
    doctor, conv = await conversation(res)
    await plan(res, doctor, conv, ["oi dr!", "tenho um plantão sábado"])
    assert await turn.handle(svc, conv, None) == "nothing"
    assert fake.evolution.texts_to(PHONE) == ["oi dr!", "tenho um plantão sábado"]
    # Running the same job again (ARQ is at-least-once) sends nothing more.
    await turn.handle(svc, conv, None)
    assert len(fake.evolution.sends) == 2
    assert await res.db.fetchval("SELECT count(*) FROM messages WHERE direction = 'out'") == 2


async def test_a_send_whose_outcome_is_unknown_is_never_repeated(
    res: Resources, svc: TurnServices, fake: Any
) -> None:
    doctor, conv = await conversation(res)
    [send_id] = await plan(res, doctor, conv, ["oi dr!"])
    # A worker claimed it and died before recording what Evolution answered.
    await res.db.execute("UPDATE outbound_sends SET attempts = 1 WHERE id = $1", send_id)
    outcome = await svc.gateway.deliver(send_id)
    assert (outcome.status, outcome.reason) == ("failed", "resultado_incerto")
    assert fake.evolution.sends == []


async def test_the_gateway_enforces_pause_human_control_and_opt_out(
    res: Resources, svc: TurnServices, fake: Any
) -> None:
    doctor, conv = await conversation(res)
    [paused, human, relay] = await plan(res, doctor, conv, ["a", "b", "c"])
    await res.db.execute(
        "INSERT INTO julia_status (status, motivo, alterado_via) VALUES ('pausado', 'x', 'manual')"
    )
    svc.status._max_age = 0  # read the switch on every send in this test
    assert (await svc.gateway.deliver(paused)).reason == "pausado"
    await res.db.execute(
        "INSERT INTO julia_status (status, motivo, alterado_via) VALUES ('ativo', 'x', 'manual')"
    )
    await res.db.execute("UPDATE conversations SET control = 'humano' WHERE id = $1", conv)
    assert (await svc.gateway.deliver(human)).reason == "humano"
    await res.db.execute("UPDATE outbound_sends SET kind = 'relay' WHERE id = $1", relay)
    assert (await svc.gateway.deliver(relay)).sent

    # A campaign message queued before the doctor opted out never goes.
    [campaign] = await plan(res, doctor, conv, ["oferta"], kind="campaign", proactive=True)
    await res.db.execute("UPDATE conversations SET control = 'julia' WHERE id = $1", conv)
    await res.db.execute("UPDATE doctors SET opted_out_at = now() WHERE id = $1", doctor)
    assert (await svc.gateway.deliver(campaign)).reason == "opt_out"
    assert fake.evolution.texts_to(PHONE) == ["c"]
    reasons = await res.db.fetch("SELECT status, reason FROM outbound_sends ORDER BY id")
    assert [(r["status"], r["reason"]) for r in reasons][:2] == [
        ("blocked", "pausado"),
        ("cancelled", "humano"),
    ]


async def test_evolution_failures_are_recorded_and_retried_only_when_safe(
    res: Resources, svc: TurnServices, fake: Any
) -> None:
    doctor, conv = await conversation(res)
    [refused, unreachable] = await plan(res, doctor, conv, ["x", "y"])
    fake.evolution.fail_next(400)
    outcome = await svc.gateway.deliver(refused)
    assert (outcome.status, outcome.reason) == ("failed", "envio_falhou")
    fake.evolution.fail_next(503)
    outcome = await svc.gateway.deliver(unreachable)
    assert outcome.status == "deferred"
    # The retry of a deferred send goes out once.
    assert (await svc.gateway.deliver(unreachable)).sent
    assert fake.evolution.texts_to(PHONE) == ["y"]
