"""Opener templates from Google Drive: the real google-api-python-client against the local
Drive fake (service-account JWT grant, files.list, files.export), the real Postgres, and
the openers as Evolution received them."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from app.core.config import Settings
from app.core.resources import Resources, open_resources
from app.domain.outbound.gateway import Gateway
from app.domain.outreach import campaigns, dispatch, templates, writing
from app.domain.outreach import repository as outreach_repo
from app.domain.outreach.campaigns import CampaignSpec
from app.integrations.google_drive import GoogleDrive
from app.integrations.protocols import DriveError
from app.workers.outreach_jobs import SKIPPED, sincronizar_modelos
from app.workers.scheduler import JobSpec, JuliaScheduler
from tests.support.fake_vendors import GOOGLE_DOC, GOOGLE_FOLDER
from tests.support.julia import vendor_settings
from tests.support.outreach import SP, WEDNESDAY_10H, FakeClock, gateway, phone, seed_world

FOLDER = "1TemplatesFolder_Revoluna"
OFERTA = (
    "Oi {nome}, tudo bem? Aqui é a Julia, da {empresa}.\n"
    "Tenho um plantão pra você: {plantao}. Te interessa?\n"
    "---\n"
    "{nome}, bom dia! Julia da {empresa} aqui.\n"
    "Surgiu um plantão no {hospital} dia {data}, {valor}. Posso te passar os detalhes?"
)
REATIVACAO = "Oi {nome}, quanto tempo! Aqui é a Julia, da {empresa}. Posso te mandar as vagas?"


@pytest.fixture
def credentials(fake: Any, tmp_path: Path) -> Path:
    path: Path = fake.drive.service_account_file(tmp_path / "google-sa.json")
    return path


@pytest.fixture
def drive_settings(
    make_settings: Any, database_url: str, redis_url: str, fake: Any, credentials: Path
) -> Settings:
    settings: Settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        MULTI_CHIP_ENABLED=True,
        GOOGLE_APPLICATION_CREDENTIALS=credentials,
        GOOGLE_TEMPLATES_FOLDER_ID=FOLDER,
        GOOGLE_DRIVE_API_URL=f"{fake.url}/drive/v3/",
        **vendor_settings(fake.url),
    )
    return settings


@pytest.fixture
async def res(drive_settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(drive_settings) as resources:
        yield resources


@pytest.fixture
async def drive(fake: Any, credentials: Path) -> AsyncIterator[GoogleDrive]:
    client = GoogleDrive(credentials, api_url=f"{fake.url}/drive/v3/", timeout_s=5)
    yield client
    await client.aclose()


async def stored(db: asyncpg.Pool) -> dict[str, tuple[str, str]]:
    rows = await db.fetch("SELECT kind, file_name, body FROM opener_templates ORDER BY kind")
    return {r["kind"]: (r["file_name"], r["body"]) for r in rows}


def key_lines(credentials: Path) -> list[str]:
    """The lines of the service account's private key, as they sit in the JSON file."""
    return [line for line in credentials.read_text().split("\\n") if len(line) > 40]


async def run_job(res: Resources) -> asyncpg.Record:
    """One tick of `sincronizar_modelos` as the scheduler runs it; its job_runs row."""
    spec = JobSpec("sincronizar_modelos", sincronizar_modelos, 3600)
    scheduler = JuliaScheduler(res, [spec])
    assert await scheduler.lease.refresh()
    try:
        await scheduler.run_job(spec)
    finally:
        await scheduler.lease.release()
    row: asyncpg.Record = await res.db.fetchrow(
        """SELECT status, error FROM job_runs WHERE job_name = 'sincronizar_modelos'
           ORDER BY started_at DESC LIMIT 1"""
    )
    return row


# Sync ---------------------------------------------------------------------------------------


async def test_sync_keeps_the_newest_doc_of_each_kind_and_reports_the_others(
    res: Resources, drive: GoogleDrive, fake: Any
) -> None:
    fake.drive.add_doc(FOLDER, "Oferta - novembro", "Oi {nome}, plantão {plantao}.")
    oferta = fake.drive.add_doc(FOLDER, "Oferta - dezembro", OFERTA)
    fake.drive.add_doc(FOLDER, "Reativação", REATIVACAO)
    fake.drive.add_doc(FOLDER, "Planilha de contatos", "nada a ver")
    # Not in the folder's listing: another folder, the bin, a PDF, a subfolder.
    fake.drive.add_doc("1OtherFolder", "Descoberta", "Oi {nome}!")
    fake.drive.trash(fake.drive.add_doc(FOLDER, "Descoberta (antiga)", "Oi {nome}!"))
    fake.drive.add_file(FOLDER, "Oferta impressa.pdf", "application/pdf")
    fake.drive.add_file(FOLDER, "Manual", GOOGLE_FOLDER)
    fake.drive.max_page_size = 2  # Drive may answer fewer files than asked: paging

    result = await templates.sync(res.db, drive, FOLDER)

    assert result.updated == ["oferta", "reativacao"]
    assert result.ignored == ["Planilha de contatos"]
    assert result.unchanged == result.removed == [] and result.rejected == {}
    assert await stored(res.db) == {
        "oferta": ("Oferta - dezembro", OFERTA),
        "reativacao": ("Reativação", REATIVACAO),
    }
    assert await outreach_repo.template_for(res.db, "oferta") == OFERTA
    assert await outreach_repo.template_for(res.db, "descoberta") is None
    listings = [r for r in fake.drive.requests if r.path == "/drive/v3/files"]
    assert len(listings) == 2 and listings[1].params.get("pageToken")

    # Nothing changed in Drive: nothing is exported again.
    exported = fake.drive.exports()
    again = await templates.sync(res.db, drive, FOLDER)
    assert again.unchanged == ["oferta", "reativacao"] and not again.changed
    assert fake.drive.exports() == exported

    # An edit is picked up.
    fake.drive.edit(oferta, text=OFERTA.replace("Te interessa?", "Topa?"))
    edited = await templates.sync(res.db, drive, FOLDER)
    assert edited.updated == ["oferta"] and edited.unchanged == ["reativacao"]
    assert "Topa?" in (await stored(res.db))["oferta"][1]


def test_a_title_names_its_kind_whatever_the_case_and_accents() -> None:
    assert templates.kinds_named("Oferta - dezembro") == ["oferta"]
    assert templates.kinds_named("REATIVAÇÃO de inverno") == ["reativacao"]
    assert templates.kinds_named("modelo reativacao") == ["reativacao"]
    assert templates.kinds_named("Descoberta") == ["descoberta"]
    assert templates.kinds_named("Campanha Manual") == ["manual"]
    assert templates.kinds_named("Oferta ou reativação?") == ["oferta", "reativacao"]
    assert templates.kinds_named("Planilha") == []


# Campaigns ----------------------------------------------------------------------------------


async def deliver_due(res: Resources, gw: Gateway, clock: FakeClock) -> None:
    """One minute of the scheduler and the workers, as the real jobs run them."""
    now = clock()
    await campaigns.process(res.db, res.settings, now=now, rng=random.Random(now.timestamp()))
    for send_id, _ in await dispatch.due(res.db, now):
        await gw.deliver(send_id)
        async with res.db.acquire() as conn, conn.transaction():
            await dispatch.settle(conn, send_id, doctor_gap=timedelta(hours=48))


async def test_an_oferta_campaign_writes_its_openers_from_the_drive_template(
    res: Resources, drive: GoogleDrive, fake: Any
) -> None:
    clock = FakeClock(WEDNESDAY_10H)
    world = await seed_world(res.db, now=clock(), chips=("chip-a", "chip-b"))
    names = {1: "Dra. Ana Souza", 2: "Dra. Ana Lima", 3: "Dr. Bruno Costa", 4: "carla dias"}
    for n, name in names.items():
        await res.db.execute(
            """INSERT INTO doctors (phone, name, specialty_id, city, state, region)
               VALUES ($1, $2, $3, 'São Paulo', 'SP', 'Zona Sul')""",
            phone(n),
            name,
            world.specialties["Clínica Médica"],
        )
    fake.drive.add_doc(FOLDER, "Oferta - dezembro", OFERTA)
    await templates.sync(res.db, drive, FOLDER)
    async with res.db.acquire() as conn, conn.transaction():
        campaign = await campaigns.create(
            conn,
            CampaignSpec(name="Dezembro", kind="oferta", specialties=["clinica medica"]),
            now=clock(),
            tz=SP,
        )
        await campaigns.start(conn, campaign.id, now=clock())

    gw = gateway(res, clock)
    for _ in range(60):
        await deliver_due(res, gw, clock)
        if len(fake.evolution.sends) == len(names):
            break
        clock.advance(timedelta(minutes=1))

    sent = {s.number: s.text for s in fake.evolution.sends}
    assert set(sent) == {phone(n) for n in names}
    used = set()
    for n, addressed in ((1, "Dra. Ana"), (2, "Dra. Ana"), (3, "Dr. Bruno"), (4, "Carla")):
        text = sent[phone(n)]
        if text.startswith(f"Oi {addressed}, tudo bem? Aqui é a Julia, da Revoluna.\n"):
            used.add("first")
            assert "Tenho um plantão pra você: sáb 05/12, 19h às 7h" in text
            assert text.endswith("Hospital São Luiz, R$ 1.830. Te interessa?")
        else:
            assert text.startswith(f"{addressed}, bom dia! Julia da Revoluna aqui.\n"), text
            used.add("second")
            assert "no Hospital São Luiz dia 05/12, R$ 1.830. Posso" in text
    assert used == {"first", "second"}, "both variants are used"
    assert sent[phone(1)] != sent[phone(2)], "two doctors got the same opener"
    bodies = await res.db.fetch(
        "SELECT body FROM outbound_sends WHERE campaign_id = $1", campaign.id
    )
    assert sorted(r["body"] for r in bodies) == sorted(sent.values())


async def test_a_campaign_template_wins_and_a_shift_template_needs_shifts(
    res: Resources, drive: GoogleDrive, fake: Any
) -> None:
    fake.drive.add_doc(FOLDER, "Oferta", OFERTA)
    fake.drive.add_doc(FOLDER, "Descoberta", "Oi {nome}! Aqui é a Julia, da {empresa}.")
    await templates.sync(res.db, drive, FOLDER)
    # Without open shifts, a template that quotes one cannot be filled: Julia's words.
    oferta = await outreach_repo.template_for(res.db, "oferta")
    assert oferta is not None and writing.needs_shift(oferta)
    descoberta = await outreach_repo.template_for(res.db, "descoberta")
    assert descoberta is not None and not writing.needs_shift(descoberta)

    clock = FakeClock(WEDNESDAY_10H)
    world = await seed_world(res.db, now=clock(), chips=("chip-a",))
    await res.db.execute(
        """INSERT INTO doctors (phone, name, specialty_id, city, state, region)
           VALUES ($1, 'Dra. Ana Souza', $2, 'São Paulo', 'SP', 'Zona Sul')""",
        phone(1),
        world.specialties["Clínica Médica"],
    )
    own = "Oi {nome}, a Julia aqui. Tenho plantão {plantao}, quer?"
    async with res.db.acquire() as conn, conn.transaction():
        campaign = await campaigns.create(
            conn,
            CampaignSpec(name="Própria", specialties=["clinica medica"], template=own),
            now=clock(),
            tz=SP,
        )
        await campaigns.start(conn, campaign.id, now=clock())
    await campaigns.process(res.db, res.settings, now=clock(), rng=random.Random(1))
    body = await res.db.fetchval(
        "SELECT body FROM outbound_sends WHERE campaign_id = $1", campaign.id
    )
    assert body.startswith("Oi Dra. Ana, a Julia aqui. Tenho plantão")


# Refusals and removals ----------------------------------------------------------------------


async def test_an_invalid_template_is_refused_and_the_previous_one_stays(
    res: Resources, drive: GoogleDrive, fake: Any
) -> None:
    oferta = fake.drive.add_doc(FOLDER, "Oferta - dezembro", OFERTA)
    await templates.sync(res.db, drive, FOLDER)

    fake.drive.edit(oferta, text="Oi {nome}, tenho um {desconto} pra você.")
    fake.drive.add_doc(FOLDER, "Reativação", "Oi {nome}! Plantão {plantao}, bora?")
    result = await templates.sync(res.db, drive, FOLDER)

    assert result.updated == [] and set(result.rejected) == {"oferta", "reativacao"}
    assert "placeholder desconhecido: {desconto}" in result.rejected["oferta"]
    assert "não tem plantão" in result.rejected["reativacao"]
    assert await stored(res.db) == {"oferta": ("Oferta - dezembro", OFERTA)}
    refusals = await res.db.fetch(
        "SELECT kind, file_id, reason FROM opener_template_rejections ORDER BY kind"
    )
    assert (refusals[0]["kind"], refusals[0]["file_id"]) == ("oferta", oferta)

    # The refused version is not fetched again; it is still reported.
    exported = fake.drive.exports()
    again = await templates.sync(res.db, drive, FOLDER)
    assert again.rejected == result.rejected and fake.drive.exports() == exported

    # Fixed in Drive: taken, and the refusal is forgotten.
    fake.drive.edit(oferta, text=OFERTA.replace("Julia", "Julia Mendes"))
    fixed = await templates.sync(res.db, drive, FOLDER)
    assert fixed.updated == ["oferta"] and list(fixed.rejected) == ["reativacao"]
    assert "Julia Mendes" in (await stored(res.db))["oferta"][1]
    assert await res.db.fetchval("SELECT array_agg(kind) FROM opener_template_rejections") == [
        "reativacao"
    ]


async def test_a_doc_removed_from_the_folder_takes_its_kind_away(
    res: Resources, drive: GoogleDrive, fake: Any
) -> None:
    oferta = fake.drive.add_doc(FOLDER, "Oferta", OFERTA)
    reativacao = fake.drive.add_doc(FOLDER, "Reativação", REATIVACAO)
    await templates.sync(res.db, drive, FOLDER)

    fake.drive.delete(reativacao)
    result = await templates.sync(res.db, drive, FOLDER)
    assert result.removed == ["reativacao"] and result.unchanged == ["oferta"]
    assert await outreach_repo.template_for(res.db, "reativacao") is None

    fake.drive.trash(oferta)
    result = await templates.sync(res.db, drive, FOLDER)
    assert result.removed == ["oferta"]
    assert await stored(res.db) == {}


# Drive down ---------------------------------------------------------------------------------


async def test_drive_failing_changes_nothing_and_says_what_failed(
    res: Resources, drive: GoogleDrive, fake: Any, credentials: Path
) -> None:
    oferta = fake.drive.add_doc(FOLDER, "Oferta", OFERTA)
    await templates.sync(res.db, drive, FOLDER)
    before = await stored(res.db)

    fake.drive.fail_next(500)
    with pytest.raises(DriveError, match="answered 500 when listing the folder") as err:
        await templates.sync(res.db, drive, FOLDER)
    assert err.value.status == 500

    # Two documents changed; the first exports fine, the second fails: neither is taken.
    fake.drive.edit(oferta, text=OFERTA.replace("Julia", "Julia Mendes"))
    fake.drive.fail_exports_of(fake.drive.add_doc(FOLDER, "Reativação", REATIVACAO), 503)
    with pytest.raises(DriveError, match="answered 503 when exporting a document"):
        await templates.sync(res.db, drive, FOLDER)
    assert len(fake.drive.exports()) == 3  # the first sync's, then oferta's and reativação's
    assert await stored(res.db) == before

    fake.drive.hang_next(2)
    slow = GoogleDrive(credentials, api_url=f"{fake.url}/drive/v3/", timeout_s=0.5)
    with pytest.raises(DriveError, match="unreachable when listing the folder: TimeoutError"):
        await templates.sync(res.db, slow, FOLDER)
    await slow.aclose()
    assert await stored(res.db) == before


async def test_the_job_fails_when_google_refuses_the_key_and_leaks_nothing(
    res: Resources, fake: Any, credentials: Path
) -> None:
    fake.drive.add_doc(FOLDER, "Oferta", OFERTA)
    fake.drive.refuse_tokens(times=3)
    with capture_logs() as logs:
        run = await run_job(res)
    assert run["status"] == "failed"
    assert "refused the service account's access token request" in run["error"]
    assert "invalid_grant" in run["error"]
    lines = key_lines(credentials)
    assert lines and not any(line in run["error"] or line in str(logs) for line in lines)
    assert "PRIVATE KEY" not in run["error"] and "PRIVATE KEY" not in str(logs)
    assert await stored(res.db) == {}


async def test_the_job_syncs_and_logs_what_changed(res: Resources, fake: Any) -> None:
    fake.drive.add_doc(FOLDER, "Oferta - dezembro", OFERTA)
    fake.drive.add_doc(FOLDER, "Descoberta", "Oi {nome}, tenho um {desconto}.")
    fake.drive.add_doc(FOLDER, "Planilha", "x")
    with capture_logs() as logs:
        run = await run_job(res)
    assert run["status"] == "ok", run["error"]
    assert set(await stored(res.db)) == {"oferta"}
    events = {entry["event"]: entry for entry in logs}
    assert events["templates.synced"]["updated"] == ["oferta"]
    assert events["templates.rejected"]["kind"] == "descoberta"
    assert events["templates.ignored"]["documents"] == ["Planilha"]


@pytest.mark.parametrize(
    "missing", ["GOOGLE_TEMPLATES_FOLDER_ID", "GOOGLE_APPLICATION_CREDENTIALS"]
)
async def test_the_job_is_skipped_without_its_settings(
    drive_settings: Settings, fake: Any, missing: str
) -> None:
    settings = drive_settings.model_copy(update={missing: None})
    async with open_resources(settings) as res:
        assert await sincronizar_modelos(res) == SKIPPED
        run = await run_job(res)
    assert run["status"] == "skipped"
    assert fake.drive.requests == []


async def test_export_of_an_unknown_or_non_doc_file_is_a_drive_error(
    drive: GoogleDrive, fake: Any
) -> None:
    with pytest.raises(DriveError, match="404 when exporting a document: File not found") as err:
        await drive.export_text("1NoSuchFile")
    assert err.value.status == 404
    pdf = fake.drive.add_file(FOLDER, "Oferta.pdf", "application/pdf")
    with pytest.raises(DriveError, match=r"403 .*Export only supports Docs Editors files"):
        await drive.export_text(pdf)
    doc = fake.drive.add_doc(FOLDER, "Oferta", "linha 1\nlinha 2 ção")
    assert await drive.export_text(doc) == "linha 1\nlinha 2 ção"
    assert [d.name for d in await drive.list_docs(FOLDER)] == ["Oferta"]
    assert [(d.name, d.id) for d in await drive.list_docs("1Empty")] == []
    assert {r.params.get("mimeType") for r in fake.drive.requests} >= {"text/plain"}
    assert GOOGLE_DOC in fake.drive.requests[-1].params["q"]
