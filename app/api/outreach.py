"""Dashboard API for outreach: create, start, pause, resume, cancel and follow campaigns;
see the chips. Same auth as the rest of `/api/v1` (viewer reads, operator changes)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from app.api.dashboard import (
    _BAD_BODY,
    _NO_NUL,
    _NOT_FOUND,
    _SOME_TEXT,
    ErrorOut,
    Id,
    Limit,
    Offset,
    OperatorDep,
    Page,
    ViewerDep,
    _page,
)
from app.api.dashboard import router as dashboard_router
from app.api.deps import ResourcesDep
from app.core.db import Conn, transaction
from app.core.logging import get_logger
from app.domain.dashboard import repository as dashboard_repo
from app.domain.outreach import admin, campaigns
from app.domain.outreach import repository as repo

log = get_logger(__name__)

router = APIRouter(prefix="/api/v1", tags=["outreach"], responses=dashboard_router.responses)

_Name = Annotated[str, Field(min_length=1, max_length=100, pattern=_SOME_TEXT)]


class CampaignIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=_SOME_TEXT)
    kind: Literal["oferta", "descoberta", "reativacao", "manual"] = "oferta"
    specialties: list[_Name] = Field(
        default_factory=list, max_length=20, description="names or aliases"
    )
    regions: list[_Name] = Field(default_factory=list, max_length=50)
    states: list[Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]] = Field(
        default_factory=list, max_length=27, description="UFs, e.g. SP"
    )
    date_from: date | None = Field(default=None, description="first shift day")
    date_to: date | None = Field(default=None, description="last shift day")
    instructions: str | None = Field(
        default=None, max_length=2000, pattern=_NO_NUL, description="manager's note for Julia"
    )
    template: str | None = Field(
        default=None,
        max_length=2000,
        pattern=_SOME_TEXT,
        description="opener template with {placeholders}; default: Julia writes each opener",
    )
    autonomous: bool = Field(default=False, description="autonomous: stands still in PILOT_MODE")
    start: bool = Field(default=False, description="start right away")


class ProgressOut(BaseModel):
    id: int
    name: str
    status: str = Field(description="rascunho, ativa, pausada, concluida or cancelada")
    autonomous: bool
    shifts_open: int = Field(description="open shifts the campaign offers")
    targets: int = Field(description="doctors selected")
    targets_by_status: dict[str, int] = Field(
        description="pendente, adiado, enviado, respondeu, cancelado, bloqueado, ..."
    )
    sends_by_status: dict[str, int] = Field(description="the ledger: sent, deferred, ...")
    deferred_by_reason: dict[str, int] = Field(description="why messages are waiting")

    @classmethod
    def of(cls, p: repo.Progress) -> ProgressOut:
        return cls(
            id=p.campaign_id,
            name=p.name,
            status=p.status,
            autonomous=p.autonomous,
            shifts_open=p.shifts_open,
            targets=p.targets,
            targets_by_status=p.by_status,
            sends_by_status=p.sends_by_status,
            deferred_by_reason=p.deferred_by_reason,
        )


class ChipOut(BaseModel):
    instance: str
    state: str = Field(description="open, connecting, close, or desconhecido (never reported)")
    enabled: bool
    usable: bool = Field(description="may send proactive messages now")
    why_not: str | None
    hourly_cap: int
    daily_cap: int = Field(description="today's cap (lower while warming up)")
    sent_today: int
    warming_up: bool
    warmup_started_at: datetime | None
    benched_until: datetime | None
    doctors: int = Field(description="doctors who hear from this number")


_CHANGE: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: {"model": ErrorOut, "description": "the campaign's status does not allow it"},
}


async def _progress(conn: Conn, campaign_id: int) -> ProgressOut:
    progress = await repo.progress(conn, campaign_id)
    if progress is None:
        raise HTTPException(404, "campaign not found")
    return ProgressOut.of(progress)


@router.post(
    "/campaigns",
    status_code=201,
    summary="Create a campaign for the matching open shifts (a draft unless `start`)",
    responses={
        **_BAD_BODY,
        400: {
            "model": ErrorOut,
            "description": "not doable: unknown specialty, no open shift matches, a bad "
            "template, dates reversed (Portuguese message); nothing was created",
        },
    },
)
async def create_campaign(
    body: CampaignIn, operator: OperatorDep, res: ResourcesDep
) -> ProgressOut:
    now = datetime.now(UTC)
    spec = campaigns.CampaignSpec(
        name=body.name,
        kind=body.kind,
        specialties=list(body.specialties),
        regions=list(body.regions),
        states=list(body.states),
        date_from=body.date_from,
        date_to=body.date_to,
        instructions=body.instructions,
        template=body.template,
        autonomous=body.autonomous,
        created_by=operator.sub,
    )
    # A CampaignError answers with its own status (400/404/409) through the app's handler.
    async with transaction(res.db) as conn:
        campaign = await campaigns.create(conn, spec, now=now, tz=res.settings.tz)
        if body.start:
            await campaigns.start(conn, campaign.id, now=now)
        out = await _progress(conn, campaign.id)
    log.info("dashboard.campaign_created", campaign_id=out.id, by=operator.sub)
    return out


@router.get("/campaigns", summary="Outreach campaigns, newest first")
async def list_campaigns(
    _: ViewerDep,
    res: ResourcesDep,
    status: Annotated[
        Literal["rascunho", "ativa", "pausada", "concluida", "cancelada"] | None, Query()
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[dashboard_repo.CampaignItem]:
    async with transaction(res.db) as conn:
        listing = await dashboard_repo.list_campaigns(
            conn, status=status, limit=limit, offset=offset
        )
    return _page(listing, limit, offset)


@router.get("/campaigns/{campaign_id}", summary="A campaign's progress", responses=_NOT_FOUND)
async def get_campaign(campaign_id: Id, _: ViewerDep, res: ResourcesDep) -> ProgressOut:
    async with transaction(res.db) as conn:
        return await _progress(conn, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/{action}",
    summary="Start (selects the doctors), pause, resume or cancel a campaign",
    description="`pause`: messages already written wait; `cancel`: unsent ones are cancelled.",
    responses=_CHANGE,
)
async def change_campaign(
    campaign_id: Id,
    action: Annotated[campaigns.Action, Path()],
    operator: OperatorDep,
    res: ResourcesDep,
) -> ProgressOut:
    async with transaction(res.db) as conn:
        await campaigns.change(conn, campaign_id, action, now=datetime.now(UTC))
        out = await _progress(conn, campaign_id)
    log.info("dashboard.campaign_changed", campaign_id=campaign_id, action=action, by=operator.sub)
    return out


@router.get("/chips", summary="WhatsApp numbers: state, caps, today's sends, doctors")
async def list_chips(_: ViewerDep, res: ResourcesDep) -> list[ChipOut]:
    async with transaction(res.db) as conn:
        views = await admin.chip_views(conn, res.settings, now=datetime.now(UTC))
    return [ChipOut(**asdict(v)) for v in views]
