"""Outreach on a fake clock: campaigns pick the right doctors, the gateway holds every rule,
follow-ups stop on a reply, and one opener goes all the way through the real worker.

The clock is fake; everything else is real: Postgres, Valkey (the limiter's Lua script),
the Evolution client against the local fake server, whose log is what "was sent".
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import jwt
import pytest

from app.core.config import Settings
from app.core.resources import Resources, open_resources
from app.domain.doctors import repository as doctors
from app.domain.inbox.drain import drain
from app.domain.operations import commands
from app.domain.outbound import chips_repository as chips_repo
from app.domain.outbound import repository as sends
from app.domain.outbound.gateway import Gateway, Outcome
from app.domain.outreach import admin, campaigns, dispatch, followups
from app.domain.outreach import repository as repo
from app.domain.outreach.campaigns import CampaignSpec
from app.workers import outreach_jobs
from tests.support.julia import running_julia, vendor_settings
from tests.support.outreach import SP, WEDNESDAY_10H, FakeClock, World, gateway, phone, seed_world
from tests.support.processes import Proc, base_env

CHIPS = ("chip-a", "chip-b", "chip-c")


@pytest.fixture
def outreach_settings(make_settings: Any, database_url: str, redis_url: str, fake: Any) -> Settings:
    settings: Settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        MULTI_CHIP_ENABLED=True,
        **vendor_settings(fake.url),
    )
    return settings


@pytest.fixture
async def res(outreach_settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(outreach_settings) as resources:
        yield resources


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(WEDNESDAY_10H)


async def tick(
    res: Resources, gw: Gateway, clock: FakeClock, settings: Settings | None = None
) -> list[Outcome]:
    """One minute of the scheduler and the workers, as the real jobs run them (the jobs
    with `settings` when given, as the gateway was built with them)."""
    now = clock()
    settings = settings or res.settings
    rng = random.Random(now.timestamp())
    await campaigns.process(res.db, settings, now=now, rng=rng)
    await followups.process(res.db, settings, now=now, rng=rng)
    return [await deliver(res, gw, send_id) for send_id, _ in await dispatch.due(res.db, now)]


async def deliver(res: Resources, gw: Gateway, send_id: int) -> Outcome:
    """What the `send_outbound` worker job does: decide, send, settle."""
    outcome = await gw.deliver(send_id)
    async with res.db.acquire() as conn, conn.transaction():
        await dispatch.settle(conn, send_id, doctor_gap=timedelta(hours=48))
    return outcome


async def run_for(
    res: Resources,
    gw: Gateway,
    clock: FakeClock,
    minutes: int,
    *,
    start: datetime | None = None,
    settings: Settings | None = None,
) -> None:
    if start is not None:
        clock.set(start)
    for _ in range(minutes):
        await tick(res, gw, clock, settings)
        clock.advance(timedelta(minutes=1))


async def start_campaign(
    res: Resources, clock: FakeClock, *, autonomous: bool = False, name: str = "Noturnos SP"
) -> int:
    async with res.db.acquire() as conn, conn.transaction():
        campaign = await campaigns.create(
            conn,
            CampaignSpec(name=name, specialties=["clinica medica"], autonomous=autonomous),
            now=clock(),
            tz=SP,
        )
        await campaigns.start(conn, campaign.id, now=clock())
    return campaign.id


def numbers(fake: Any) -> Counter[str]:
    return Counter(s.number for s in fake.evolution.sends)


# Campaigns ----------------------------------------------------------------------------------


async def add_doctor(res: Resources, n: int, specialty_id: int, **columns: Any) -> int:
    values = {"city": "São Paulo", "state": "SP", "region": "Zona Sul", **columns}
    doctor: int = await res.db.fetchval(
        """INSERT INTO doctors (phone, name, specialty_id, city, state, region)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        phone(n),
        f"Dra. Número {n}",
        specialty_id,
        values["city"],
        values["state"],
        values["region"],
    )
    return doctor


async def ineligible_doctors(res: Resources, world: World, now: datetime) -> dict[str, str]:
    """One Clínica Médica doctor for each reason a campaign leaves someone out."""
    clinica = world.specialties["Clínica Médica"]
    out: dict[str, str] = {}

    async def doctor(n: int, reason: str, **columns: Any) -> int:
        out[phone(n)] = reason
        return await add_doctor(res, n, columns.pop("specialty_id", clinica), **columns)

    opted = await doctor(100, "opted out")
    await res.db.execute("UPDATE doctors SET opted_out_at = $2 WHERE id = $1", opted, now)
    recent = await doctor(101, "contacted two days ago")
    await res.db.execute(
        "UPDATE doctors SET last_proactive_at = $2 WHERE id = $1", recent, now - timedelta(days=2)
    )
    await doctor(102, "another specialty", specialty_id=world.specialties["Pediatria"])
    await doctor(103, "another region", city="Campinas", region="Campinas")
    finished = await doctor(106, "got the last follow-up 20 days ago")
    await res.db.execute(
        "UPDATE doctors SET last_proactive_at = $2 WHERE id = $1",
        finished,
        now - timedelta(days=20),
    )
    conversation = await res.db.fetchval(
        """INSERT INTO conversations (doctor_id, last_message_at) VALUES ($1, $2)
           RETURNING id""",
        finished,
        now - timedelta(days=20),
    )
    for step in (1, 2, 3):
        await res.db.execute(
            """INSERT INTO followups (doctor_id, conversation_id, kind, step, due_at, status,
                                      sent_at)
               VALUES ($1, $2, 'cadencia', $3, $4, 'enviado', $4)""",
            finished,
            conversation,
            step,
            now - timedelta(days=35 - 5 * step),
        )
    for n, reason, control, idle in (
        (104, "in a live conversation", "julia", timedelta(hours=2)),
        (105, "under human control", "humano", timedelta(days=9)),
    ):
        busy = await doctor(n, reason)
        await res.db.execute(
            "INSERT INTO conversations (doctor_id, control, last_message_at) VALUES ($1, $2, $3)",
            busy,
            control,
            now - idle,
        )
    return out


async def test_a_campaign_reaches_every_eligible_doctor_once_with_an_opener_of_their_own(
    res: Resources, clock: FakeClock, fake: Any
) -> None:
    world = await seed_world(res.db, now=clock(), doctors=12, chips=CHIPS)
    left_out = await ineligible_doctors(res, world, clock())
    campaign_id = await start_campaign(res, clock)
    progress = await repo.progress(res.db, campaign_id)
    assert progress is not None and progress.targets == 12 and progress.shifts_open == 4

    await run_for(res, gateway(res, clock), clock, 90)

    assert numbers(fake) == Counter({phone(n): 1 for n in range(1, 13)})
    assert not set(left_out) & set(numbers(fake)), "a doctor who must be left out was written"
    texts = [s.text for s in fake.evolution.sends]
    assert len(set(texts)) == len(texts), "two doctors got the same opener"
    assert all("São Luiz" in t or "plant" in t.lower() for t in texts)
    # The three numbers share the work, and each doctor heard from the chip now theirs.
    by_chip = Counter(s.instance for s in fake.evolution.sends)
    assert set(by_chip) == set(CHIPS) and max(by_chip.values()) - min(by_chip.values()) <= 1
    assigned = dict(
        await res.db.fetch(
            """SELECT d.phone, c.instance FROM doctors d
               JOIN chips c ON c.id = d.assigned_chip_id"""
        )
    )
    assert all(assigned[s.number] == s.instance for s in fake.evolution.sends)
    progress = await repo.progress(res.db, campaign_id)
    assert progress is not None and progress.by_status == {"enviado": 12}
    # The conversations it opened know the campaign, for the replies to come.
    note = await campaigns.note_for(res.db, campaign_id, now=clock(), tz=SP)
    assert note is not None and "Noturnos SP" in note and "Hospital São Luiz" in note
    assert (
        await res.db.fetchval(
            "SELECT count(*) FROM conversations WHERE campaign_id = $1", campaign_id
        )
        == 12
    )


async def test_a_campaign_that_cannot_be_run_says_why(res: Resources, clock: FakeClock) -> None:
    await seed_world(res.db, now=clock())
    bad = (
        (CampaignSpec(name="x", specialties=["cardiologia"]), "especialidade desconhecida"),
        (CampaignSpec(name="x", specialties=[]), "ao menos uma especialidade"),
        (
            CampaignSpec(name="x", specialties=["pediatria"], regions=["Zona Norte"]),
            "nenhum plantão aberto",
        ),
        (CampaignSpec(name="x", specialties=["pediatria"], template="oi {apelido}"), "modelo"),
    )
    for spec, message in bad:
        async with res.db.acquire() as conn:
            with pytest.raises(campaigns.CampaignError, match=message):
                await campaigns.create(conn, spec, now=clock(), tz=SP)
    assert await res.db.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_a_campaign_by_state_reaches_only_that_state(
    res: Resources, clock: FakeClock
) -> None:
    world = await seed_world(res.db, now=clock(), doctors=2)
    clinica = world.specialties["Clínica Médica"]
    rio = await add_doctor(res, 60, clinica, city="Rio de Janeiro", state="RJ", region="Centro")
    async with res.db.acquire() as conn, conn.transaction():
        campaign = await campaigns.create(
            conn,
            CampaignSpec(
                name="RJ", kind="descoberta", specialties=["clinica medica"], states=["rj"]
            ),
            now=clock(),
            tz=SP,
        )
        await campaigns.start(conn, campaign.id, now=clock())
    targets = await res.db.fetch(
        "SELECT doctor_id FROM campaign_targets WHERE campaign_id = $1", campaign.id
    )
    assert [r["doctor_id"] for r in targets] == [rio]


# The gateway's rules ------------------------------------------------------------------------


async def proactive(res: Resources, doctor_id: int, key: str, now: datetime) -> int:
    """A follow-up written for `doctor_id`, due now."""
    row = await sends.create(
        res.db,
        key=key,
        kind="followup",
        proactive=True,
        doctor_id=doctor_id,
        to_phone=await res.db.fetchval("SELECT phone FROM doctors WHERE id = $1", doctor_id),
        body=f"mensagem {key}",
        not_before=now,
    )
    return row.id


async def test_outside_business_hours_a_message_waits_for_the_opening_and_then_goes(
    res: Resources, fake: Any
) -> None:
    clock = FakeClock(datetime(2026, 12, 5, 10, 0, tzinfo=SP))  # a Saturday
    world = await seed_world(res.db, now=clock(), doctors=1, chips=CHIPS[:1])
    gw = gateway(res, clock)
    send_id = await proactive(res, world.doctors[0], "sabado", clock())

    outcome = await gw.deliver(send_id)
    assert (outcome.status, outcome.reason) == ("deferred", "horario")
    waiting = await sends.get(res.db, send_id)
    monday_8 = datetime(2026, 12, 7, 8, 0, tzinfo=SP)
    assert waiting is not None and monday_8 <= waiting.not_before <= monday_8 + timedelta(
        minutes=20
    )
    # Nothing is handed to the workers before that moment...
    for moment in (datetime(2026, 12, 6, 23, 0, tzinfo=SP), monday_8 - timedelta(minutes=1)):
        assert send_id not in dict(await dispatch.due(res.db, clock.set(moment)))
    # ...and then it goes, once.
    assert send_id in dict(await dispatch.due(res.db, clock.set(waiting.not_before)))
    assert (await gw.deliver(send_id)).sent
    assert (await gw.deliver(send_id)).status == "sent"  # a second delivery sends nothing
    assert fake.evolution.texts_to(phone(1)) == ["mensagem sabado"]
    history = await res.db.fetch(
        """SELECT status, reason FROM outbound_decisions WHERE outbound_send_id = $1
           ORDER BY id""",
        send_id,
    )
    assert [tuple(r) for r in history] == [("deferred", "horario"), ("sent", None)]


async def test_pause_campaign_pause_pilot_mode_and_opt_out_stop_messages_already_queued(
    res: Resources, outreach_settings: Settings, clock: FakeClock, fake: Any
) -> None:
    world = await seed_world(res.db, now=clock(), doctors=3, chips=CHIPS)
    pediatras = [
        await add_doctor(res, n, world.specialties["Pediatria"], city="Campinas", region="Campinas")
        for n in (50, 51)
    ]
    by_hand = await start_campaign(res, clock)
    async with res.db.acquire() as conn, conn.transaction():
        auto = await campaigns.create(
            conn,
            CampaignSpec(name="Pediatria auto", specialties=["pediatria"], autonomous=True),
            now=clock(),
            tz=SP,
        )
        await campaigns.start(conn, auto.id, now=clock())
    written = await campaigns.process(res.db, res.settings, now=clock(), rng=random.Random(1))
    queued = {
        row.doctor_id: row.id
        for row in [await sends.get(res.db, send_id) for send_id in written.written]
        if row is not None
    }
    assert set(queued) == {*world.doctors, *pediatras}
    gw = gateway(res, clock)
    a, b, c = world.doctors

    # Doctor a opts out after their opener was queued: it is cancelled, never sent.
    async with res.db.acquire() as conn:
        await doctors.mark_opted_out(conn, a, "pedido do médico", clock())
    assert (await deliver(res, gw, queued[a])).reason == "opt_out"
    assert (await sends.get(res.db, queued[a])).status == "cancelled"  # type: ignore[union-attr]

    # Julia paused: proactive messages wait (not dropped) until she is resumed.
    await commands.pause(res, motivo="teste", via="api", by="ana")
    outcome = await deliver(res, gw, queued[b])
    assert (outcome.status, outcome.reason) == ("deferred", "pausado")
    await commands.resume(res, via="api", by="ana")

    # The campaign paused: the same.
    async with res.db.acquire() as conn:
        await campaigns.pause(conn, by_hand, now=clock())
    assert (await deliver(res, gw, queued[b])).reason == "campanha_pausada"
    async with res.db.acquire() as conn:
        await campaigns.resume(conn, by_hand, now=clock())

    # PILOT_MODE holds the autonomous campaign's openers; the operator's campaign goes on.
    pilot_settings = outreach_settings.model_copy(update={"PILOT_MODE": True})
    pilot = gateway(res, clock, settings=pilot_settings)
    for doctor in pediatras:
        assert (await deliver(res, pilot, queued[doctor])).reason == "pilot_mode"
    assert (await deliver(res, pilot, queued[b])).sent
    held = await campaigns.process(res.db, pilot_settings, now=clock(), rng=random.Random())
    assert held.written == []
    assert numbers(fake) == Counter({phone(2): 1})

    # Pilot over: within the hour everyone allowed has their opener; doctor a never.
    await run_for(res, gw, clock, 60, start=clock() + timedelta(hours=1))
    assert numbers(fake) == Counter({phone(n): 1 for n in (2, 3, 50, 51)})
    reasons = dict(
        await res.db.fetch(
            "SELECT doctor_id, status FROM campaign_targets WHERE campaign_id = $1", by_hand
        )
    )
    assert reasons == {a: "cancelado", b: "enviado", c: "enviado"}


async def test_a_doctor_gets_at_most_one_proactive_message_in_48h_and_three_a_week(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DIAS_ENVIO="seg-dom",
        **vendor_settings(fake.url),
    )
    clock = FakeClock(WEDNESDAY_10H)
    async with open_resources(settings) as res:
        world = await seed_world(res.db, now=clock(), doctors=1)
        gw = gateway(res, clock)
        doctor = world.doctors[0]
        assert (await gw.deliver(await proactive(res, doctor, "qua", clock()))).sent

        soon = await proactive(res, doctor, "qua-11h", clock.advance(timedelta(hours=1)))
        outcome = await gw.deliver(soon)
        assert (outcome.status, outcome.reason) == ("deferred", "intervalo_medico")
        row = await sends.get(res.db, soon)
        assert row is not None and row.not_before == WEDNESDAY_10H + timedelta(hours=48)
        assert (await gw.deliver(soon)).reason == "intervalo_medico"  # asked early: waits on

        clock.set(row.not_before)  # Friday 10:00
        assert (await gw.deliver(soon)).sent
        sunday = await proactive(res, doctor, "dom", clock.advance(timedelta(hours=48)))
        assert (await gw.deliver(sunday)).sent
        tuesday = await proactive(res, doctor, "ter", clock.advance(timedelta(hours=48)))
        outcome = await gw.deliver(tuesday)
        assert (outcome.status, outcome.reason) == ("deferred", "cap_semana_medico")
        row = await sends.get(res.db, tuesday)
        assert row is not None and row.not_before == WEDNESDAY_10H + timedelta(days=7)
        clock.set(row.not_before)
        assert (await gw.deliver(tuesday)).sent
    assert fake.evolution.texts_to(phone(1)) == [
        "mensagem qua",
        "mensagem qua-11h",
        "mensagem dom",
        "mensagem ter",
    ]


# Chips --------------------------------------------------------------------------------------


async def test_a_doctor_keeps_their_chip_a_disconnected_chip_holds_its_doctors_until_it_returns(
    res: Resources, clock: FakeClock, fake: Any
) -> None:
    await seed_world(res.db, now=clock(), doctors=6, chips=CHIPS)
    await start_campaign(res, clock)
    await campaigns.process(res.db, res.settings, now=clock(), rng=random.Random(1))
    chip_of = {
        r["phone"]: r["instance"]
        for r in await res.db.fetch(
            "SELECT d.phone, c.instance FROM doctors d JOIN chips c ON c.id = d.assigned_chip_id"
        )
    }
    assert Counter(chip_of.values()) == Counter({chip: 2 for chip in CHIPS})
    of = {chip: sorted(p for p, c in chip_of.items() if c == chip) for chip in CHIPS}

    # chip-b drops (Evolution's connection.update); chip-c is retired by an operator.
    await chips_repo.set_chip_state(res.db, "chip-b", "close")
    async with res.db.acquire() as conn:
        _, moved = await admin.set_enabled(conn, "chip-c", False)
    assert moved == 2
    gw = gateway(res, clock)
    await run_for(res, gw, clock, 60)
    # chip-b's doctors wait for their number; chip-c's moved to the one usable chip.
    assert {s.number: s.instance for s in fake.evolution.sends} == {
        **{p: "chip-a" for p in of["chip-a"]},
        **{p: "chip-a" for p in of["chip-c"]},
    }
    waiting = await res.db.fetch(
        "SELECT status, reason FROM outbound_sends WHERE to_phone = ANY($1::text[])", of["chip-b"]
    )
    assert [tuple(r) for r in waiting] == [("deferred", "chip_desconectado")] * 2

    await chips_repo.set_chip_state(res.db, "chip-b", "open")
    await run_for(res, gw, clock, 60)
    heard_from = {s.number: s.instance for s in fake.evolution.sends}
    assert {p: heard_from[p] for p in of["chip-b"]} == {p: "chip-b" for p in of["chip-b"]}
    assert numbers(fake) == Counter({phone(n): 1 for n in range(1, 7)})
    views = {v.instance: v for v in await admin.chip_views(res.db, res.settings, now=clock())}
    assert views["chip-c"].why_not == "chip_desativado" and views["chip-c"].doctors == 0
    assert views["chip-a"].sent_today == 4 and views["chip-b"].sent_today == 2


async def test_a_chip_whose_sends_keep_failing_is_benched_and_its_messages_wait(
    res: Resources, clock: FakeClock, fake: Any
) -> None:
    world = await seed_world(res.db, now=clock(), doctors=4, chips=CHIPS[:1])
    gw = gateway(res, clock)
    fake.evolution.fail_next(503, times=3)
    ids = [await proactive(res, d, f"f{d}", clock()) for d in world.doctors[:3]]
    for send_id in ids:
        assert (await gw.deliver(send_id)).reason == "envio_falhou"
        clock.advance(timedelta(minutes=11))  # past the chip's gap between two sends
    chip = await chips_repo.chip_by_instance(res.db, "chip-a")
    assert chip is not None and chip.unusable(clock()) == "chip_em_pausa"
    outcome = await gw.deliver(ids[0])
    assert (outcome.status, outcome.reason) == ("deferred", "chip_em_pausa")
    assert fake.evolution.sends == []
    # After the cooldown the chip sends again, the failed messages included.
    clock.advance(timedelta(minutes=31))
    assert (await gw.deliver(ids[0])).sent


# Follow-ups ---------------------------------------------------------------------------------


async def test_follow_ups_come_after_48h_and_5_days_and_stop_when_the_doctor_answers(
    res: Resources, clock: FakeClock, fake: Any
) -> None:
    await seed_world(res.db, now=clock(), doctors=2, chips=CHIPS[:1])
    campaign_id = await start_campaign(res, clock)
    gw = gateway(res, clock)
    await run_for(res, gw, clock, 30)
    assert numbers(fake) == Counter({phone(1): 1, phone(2): 1})

    # Thursday: nothing yet. Friday, 48 h after the opener: the first follow-up.
    await run_for(res, gw, clock, 10, start=WEDNESDAY_10H + timedelta(days=1))
    assert len(fake.evolution.sends) == 2
    await run_for(res, gw, clock, 60, start=WEDNESDAY_10H + timedelta(hours=48))
    assert numbers(fake) == Counter({phone(1): 2, phone(2): 2})
    first, nudge = fake.evolution.texts_to(phone(1))
    assert nudge != first

    # Doctor 1 answers through the real webhook: their cadence stops there.
    async with running_julia(res.settings, worker=False) as julia:
        await julia.say(phone(1), "oi julia, me manda mais detalhes")
        await drain(julia.res)  # what the worker's inbox drainer does with the stored delivery
    await run_for(res, gw, clock, 60, start=WEDNESDAY_10H + timedelta(days=5))
    assert numbers(fake) == Counter({phone(1): 2, phone(2): 3})
    steps = await res.db.fetch(
        """SELECT d.phone, f.step, f.status FROM followups f JOIN doctors d ON d.id = f.doctor_id
           WHERE f.kind = 'cadencia' ORDER BY d.phone, f.step"""
    )
    assert [tuple(r) for r in steps] == [
        (phone(1), 1, "enviado"),
        (phone(1), 2, "cancelado"),
        (phone(2), 1, "enviado"),
        (phone(2), 2, "enviado"),
        (phone(2), 3, "agendado"),
    ]
    targets = dict(
        await res.db.fetch(
            """SELECT d.phone, t.status FROM campaign_targets t
               JOIN doctors d ON d.id = t.doctor_id WHERE t.campaign_id = $1""",
            campaign_id,
        )
    )
    assert targets == {phone(1): "respondeu", phone(2): "enviado"}


async def test_under_pilot_mode_an_autonomous_cadence_waits_but_a_requested_reminder_goes(
    res: Resources, outreach_settings: Settings, clock: FakeClock, fake: Any
) -> None:
    await seed_world(res.db, now=clock(), doctors=2, chips=CHIPS[:1])
    await start_campaign(res, clock, autonomous=True)
    gw = gateway(res, clock)
    await run_for(res, gw, clock, 30)
    pilot_settings = outreach_settings.model_copy(update={"PILOT_MODE": True})
    pilot = gateway(res, clock, settings=pilot_settings)
    doctor, conversation = await res.db.fetchrow(
        """SELECT doctor_id, id FROM conversations
           WHERE doctor_id = (SELECT id FROM doctors WHERE phone = $1)""",
        phone(2),
    )
    await repo.schedule_reminder(
        res.db,
        doctor_id=doctor,
        conversation_id=conversation,
        due_at=WEDNESDAY_10H + timedelta(hours=49),
        note="pediu para chamar sexta",
    )
    await run_for(
        res, pilot, clock, 90, start=WEDNESDAY_10H + timedelta(hours=48), settings=pilot_settings
    )
    assert numbers(fake) == Counter({phone(1): 1, phone(2): 2})
    reminders = {followups.reminder_text("Dr. Médico 2", v) for v in range(4)}
    assert fake.evolution.texts_to(phone(2))[-1] in reminders


# Through the real worker, the CLI and the dashboard API ---------------------------------------


def bearer(secret: str, role: str = "operator") -> dict[str, str]:
    claims = {"sub": "ana@revoluna.com.br", "role": role, "exp": int(time.time()) + 600}
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}


async def test_an_opener_goes_out_through_the_worker_and_the_reply_knows_the_campaign(
    make_settings: Any, database_url: str, redis_url: str, fake: Any
) -> None:
    secret = "outreach-test-secret-0123456789abcdef0123456789abcdef"
    settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        JWT_SECRET_KEY=secret,
        # Open all day, every day: this test runs on the wall clock.
        HORARIO_INICIO="00:00",
        HORARIO_FIM="23:59",
        DIAS_ENVIO="seg-dom",
        **vendor_settings(fake.url),
    )
    async with running_julia(settings) as julia:
        await seed_world(julia.res.db, now=datetime.now(SP), doctors=1)
        created = await julia.client.post(
            "/api/v1/campaigns",
            json={"name": "Noturnos SP", "specialties": ["Clínica Médica"], "start": True},
            headers=bearer(secret),
        )
        assert created.status_code == 201, created.text
        campaign = created.json()
        assert (campaign["status"], campaign["targets"]) == ("ativa", 1)

        # The scheduler's job writes the opener and hands it to the worker, which sends it.
        await outreach_jobs.processar_campanhas(julia.res)
        await asyncio.to_thread(fake.wait_until, lambda: len(fake.evolution.sends) == 1)
        assert fake.evolution.sends[0].instance == settings.EVOLUTION_INSTANCE

        # The doctor answers; Julia's turn is told which campaign this is.
        await julia.say(phone(1), "oi! qual hospital?")
        await asyncio.to_thread(fake.wait_until, lambda: len(fake.evolution.sends) >= 2, 20)
        request = json.dumps(fake.anthropic.requests[0], ensure_ascii=False)
        assert "Campanha: esta conversa começou pela campanha 'Noturnos SP'" in request
        assert "Hospital São Luiz" in request
        # ...and sees its own opener as the start of the conversation.
        assert json.dumps(fake.evolution.sends[0].text, ensure_ascii=False)[1:-1] in request

        progress = await julia.client.get(
            f"/api/v1/campaigns/{campaign['id']}", headers=bearer(secret, "viewer")
        )
        assert progress.json()["targets_by_status"] == {"respondeu": 1}
        # A viewer may look but not steer; an operator pauses, resumes and cancels.
        path = f"/api/v1/campaigns/{campaign['id']}"
        assert (
            await julia.client.post(f"{path}/pause", headers=bearer(secret, "viewer"))
        ).status_code == 403
        paused = await julia.client.post(f"{path}/pause", headers=bearer(secret))
        assert paused.json()["status"] == "pausada"
        resumed = await julia.client.post(f"{path}/resume", headers=bearer(secret))
        assert resumed.json()["status"] == "ativa"
        cancelled = await julia.client.post(f"{path}/cancel", headers=bearer(secret))
        assert cancelled.json()["status"] == "cancelada"
        again = await julia.client.post(f"{path}/start", headers=bearer(secret))
        assert again.status_code == 409 and "cancelada" in again.json()["detail"]
        missing = await julia.client.post("/api/v1/campaigns/999/start", headers=bearer(secret))
        assert missing.status_code == 404
        refused = await julia.client.post(
            "/api/v1/campaigns",
            json={"name": "x", "specialties": ["cardiologia"]},
            headers=bearer(secret),
        )
        assert refused.status_code == 400
        assert refused.json()["detail"] == "especialidade desconhecida: cardiologia"
        chips = await julia.client.get("/api/v1/chips", headers=bearer(secret, "viewer"))
        assert [(c["instance"], c["sent_today"], c["doctors"]) for c in chips.json()] == [
            (settings.EVOLUTION_INSTANCE, 1, 1)
        ]


def julia_cli(database_url: str, *args: str) -> tuple[int, str]:
    proc = Proc(["python", "-m", "app", *args], base_env(DATABASE_URL=database_url))
    return proc.wait(timeout=60), proc.output


@pytest.mark.slow
async def test_campaigns_and_chips_from_the_terminal(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await seed_world(conn, now=datetime.now(SP), doctors=3)
    finally:
        await conn.close()
    run = functools.partial(asyncio.to_thread, julia_cli, database_url)

    code, out = await run("chips", "add", "chip-novo")
    assert code == 0 and "chip-novo" in out and "(aquecendo)" in out, out
    code, out = await run("chips", "add", "chip velho")
    assert code == 1 and "ERROR: nome de instância inválido" in out

    code, out = await run(
        "campaign", "create", "--name", "Noturnos SP", "--specialty", "clinica medica", "--start"
    )
    assert code == 0 and "Campanha 1 — Noturnos SP (ativa, manual)" in out, out
    assert "médicos-alvo: 3 (pendente 3)" in out and "plantões abertos: 4" in out
    code, out = await run("campaign", "pause", "1")
    assert code == 0 and "(pausada, manual)" in out
    code, out = await run("campaign", "resume", "7")
    assert code == 1 and "ERROR: campanha 7 não existe" in out
    code, out = await run("campaign", "list")
    assert code == 0 and "pausada" in out and "Noturnos SP" in out


async def test_an_offer_whose_shifts_are_all_taken_concludes_without_writing_more(
    res: Resources, clock: FakeClock, fake: Any
) -> None:
    await seed_world(res.db, now=clock(), doctors=20, chips=CHIPS[:1])
    campaign_id = await start_campaign(res, clock)
    await run_for(res, gateway(res, clock), clock, 15)
    reached = len(fake.evolution.sends)
    assert 0 < reached < 20
    await res.db.execute(
        """UPDATE shifts SET status = 'preenchido'
           WHERE id IN (SELECT shift_id FROM campaign_shifts WHERE campaign_id = $1)""",
        campaign_id,
    )
    await run_for(res, gateway(res, clock), clock, 60)
    progress = await repo.progress(res.db, campaign_id)
    assert progress is not None and progress.status == "concluida"
    # Nobody was offered a taken shift: what was written before and had not gone yet was
    # dropped at send time, and nothing new was written.
    assert len(fake.evolution.sends) == reached
    assert progress.by_status.get("cancelado", 0) >= 20 - reached - 2


# Nothing stale goes out ---------------------------------------------------------------------


async def written_openers(res: Resources, campaign_id: int) -> list[asyncpg.Record]:
    return await res.db.fetch(
        """SELECT id, body, shift_id, to_phone FROM outbound_sends WHERE campaign_id = $1
           ORDER BY id""",
        campaign_id,
    )


async def test_an_opener_whose_shift_is_taken_before_it_goes_is_rewritten_or_dropped(
    res: Resources, clock: FakeClock, fake: Any
) -> None:
    world = await seed_world(res.db, now=clock(), doctors=2, chips=CHIPS[:1])
    clinica = world.shifts[0::2]  # Hospital São Luiz, days 3, 5, 9 and 12
    campaign_id = await start_campaign(res, clock)
    await campaigns.process(res.db, res.settings, now=clock(), rng=random.Random(1))
    first, second = await written_openers(res, campaign_id)
    assert first["shift_id"] == second["shift_id"] == clinica[0]  # each quotes the soonest

    # The quoted shift is filled while the opener waits: it goes out quoting the next one.
    await res.db.execute("UPDATE shifts SET status = 'preenchido' WHERE id = $1", clinica[0])
    gw = gateway(res, clock)
    assert (await gw.deliver(first["id"])).sent
    (sent,) = fake.evolution.texts_to(first["to_phone"])
    rewritten = await sends.get(res.db, first["id"])
    assert rewritten is not None and rewritten.shift_id == clinica[1]
    assert sent == rewritten.body != first["body"]

    # Every shift of the offer is gone: the other opener is dropped, never sent as is.
    await res.db.execute(
        "UPDATE shifts SET status = 'cancelado' WHERE id = ANY($1::bigint[])", clinica
    )
    clock.advance(timedelta(hours=1))
    outcome = await gw.deliver(second["id"])
    assert (outcome.status, outcome.reason) == ("cancelled", "plantao_indisponivel")
    assert fake.evolution.texts_to(second["to_phone"]) == []


async def test_a_second_follow_up_whose_shift_started_names_the_next_one(
    res: Resources, clock: FakeClock, fake: Any
) -> None:
    world = await seed_world(res.db, now=clock(), doctors=1, chips=CHIPS[:1])
    clinica = world.shifts[0::2]
    doctor = world.doctors[0]
    row = await sends.create(
        res.db,
        key="followup:4242",
        kind="followup",
        proactive=True,
        doctor_id=doctor,
        to_phone=phone(1),
        body="e aquele plantão de sábado no São Luiz, ainda te interessa?",
        not_before=clock(),
        shift_id=clinica[0],
    )
    # It waited for its moment, and meanwhile the quoted shift started.
    await res.db.execute(
        "UPDATE shifts SET starts_at = $2 WHERE id = $1", clinica[0], clock() + timedelta(hours=1)
    )
    clock.advance(timedelta(hours=2))
    assert (await gateway(res, clock).deliver(row.id)).sent
    fresh = await sends.get(res.db, row.id)
    assert fresh is not None and fresh.shift_id == clinica[1]
    assert fake.evolution.texts_to(phone(1)) == [fresh.body]
    assert fresh.body != row.body


async def test_the_ledger_holds_no_more_openers_than_the_chips_can_send_today(
    make_settings: Any, outreach_settings: Settings, clock: FakeClock, fake: Any
) -> None:
    settings = outreach_settings.model_copy(update={"MAX_MSGS_POR_DIA": 4})
    async with open_resources(settings) as capped:
        await seed_world(capped.db, now=clock(), doctors=20, chips=CHIPS[:1])
        campaign_id = await start_campaign(capped, clock)
        await run_for(
            capped, gateway(capped, clock, settings=settings), clock, 3, settings=settings
        )
        written = await written_openers(capped, campaign_id)
    # One went; the chip's gap holds the rest, and nothing more is written than the day's cap.
    assert len(fake.evolution.sends) >= 1 and len(written) <= 4


async def test_a_send_rewritten_by_another_process_is_never_claimed_with_the_old_text(
    res: Resources, clock: FakeClock
) -> None:
    """Two deliveries of one opener meet: one saw the quoted shift gone and rewrote the
    text, the other had read it before. The claim takes the text as read, so the stale copy
    cannot be the one that goes (the ledger keeps what went out)."""
    world = await seed_world(res.db, now=clock(), doctors=1, chips=CHIPS[:1])
    row = await sends.create(
        res.db,
        key="campaign:1:1",
        kind="followup",
        proactive=True,
        doctor_id=world.doctors[0],
        to_phone=phone(1),
        body="o texto antigo",
        not_before=clock(),
        shift_id=world.shifts[0],
    )
    rewritten = await sends.rewrite(
        res.db, row.id, body="o texto novo", shift_id=world.shifts[2], attempts=0
    )
    assert rewritten is not None
    assert not await sends.claim_attempt(res.db, row.id, 0, clock(), seen_body="o texto antigo")
    assert await sends.claim_attempt(res.db, row.id, 0, clock(), seen_body="o texto novo")
