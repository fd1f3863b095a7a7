"""Dashboard API under `/api/v1`: verify the operator's token, call the domain, answer.

Auth is a Bearer JWT (HS256, signed with JWT_SECRET_KEY, `exp` required) with the claims
`sub` (the operator's id or e-mail, recorded as who changed what) and `role`: `viewer` may
read, `operator` may also change state. Without JWT_SECRET_KEY every route answers 503:
the dashboard is never open by default.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

import jwt
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, BeforeValidator, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import ResourcesDep
from app.core.config import Settings, get_settings
from app.core.db import transaction
from app.core.logging import get_logger
from app.core.resources import Resources
from app.domain.dashboard import repository as repo
from app.domain.handoff import service as handoff
from app.domain.imports.parsing import Kind as ImportKind
from app.domain.imports.service import ImportFileError, import_csv
from app.domain.media import service as media
from app.domain.operations import commands, metrics
from app.domain.outbound import status_repository as julia_status
from app.domain.outbound.status_repository import JuliaStatus
from app.domain.privacy import service as privacy
from app.domain.reservations import service as reservations
from app.domain.reservations.repository import Reservation

log = get_logger(__name__)

Role = Literal["viewer", "operator"]
_RANK: dict[str, int] = {"viewer": 0, "operator": 1}

# Postgres bigint: a larger id or offset is a 422, not a driver overflow (500).
MAX_BIGINT = 2**63 - 1
# Postgres text cannot hold NUL; the pattern keeps it out (and a blank reason out).
_NO_NUL = r"^[^\x00]*$"
_SOME_TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"


def _exactly(pattern: str, what: str) -> BeforeValidator:
    """Refuse query/path text pydantic would coerce: `limit=2.0`, `opted_out=yes`, and
    `date_to=0` (a Unix timestamp, i.e. 1970-01-01)."""
    regex = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, str) and not regex.fullmatch(value):
            raise ValueError(f"must be {what}")
        return value

    return BeforeValidator(check)


_INTEGER = _exactly(r"-?[0-9]{1,20}", "an integer")
_BOOLEAN = _exactly(r"true|false", "true or false")
_DATE = _exactly(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "a date as YYYY-MM-DD")

# ---------------------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operator:
    sub: str
    role: str | None


_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="HS256 JWT signed with JWT_SECRET_KEY; claims: sub, role (viewer|operator), exp.",
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def authenticate(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> Operator:
    """The operator a valid token names; 503 when auth is not configured, else 401."""
    if settings.JWT_SECRET_KEY is None:
        raise HTTPException(503, "dashboard auth not configured")
    if credentials is None:
        raise _unauthorized("missing bearer token")
    try:
        claims: dict[str, Any] = jwt.decode(
            credentials.credentials,
            settings.JWT_SECRET_KEY.get_secret_value(),
            algorithms=["HS256"],
            options={"require": ["exp", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise _unauthorized("invalid or expired token") from exc
    sub = claims.get("sub")
    # `sub` is stored as alterado_por / resolved_by: a usable, storable name only.
    if not isinstance(sub, str) or not sub.strip() or len(sub) > 200 or "\x00" in sub:
        raise _unauthorized("invalid token subject")
    role = claims.get("role")
    return Operator(sub=sub, role=role if isinstance(role, str) else None)


def require(minimum: Role) -> Callable[..., Awaitable[Operator]]:
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Operator:
        operator = authenticate(request.app.state.settings, credentials)
        if operator.role not in _RANK or _RANK[operator.role] < _RANK[minimum]:
            raise HTTPException(403, f"role '{minimum}' required")
        return operator

    return dependency


ViewerDep = Annotated[Operator, Depends(require("viewer"))]
OperatorDep = Annotated[Operator, Depends(require("operator"))]


class DashboardCORS:
    """Starlette's CORSMiddleware for the origins in CORS_ORIGINS, and nothing for others.

    Built on the first request, since settings are read at start-up, not at import. A
    request from an origin not listed goes straight to the app: no CORS headers at all,
    so a browser on that origin can neither preflight nor read a response.
    """

    def __init__(self, app: ASGIApp, preset: Settings | None = None) -> None:
        self.app = app
        self.preset = preset
        self._origins: frozenset[str] | None = None
        self._cors: ASGIApp | None = None

    def _build(self) -> tuple[frozenset[str], ASGIApp]:
        if self._origins is None or self._cors is None:
            settings = self.preset or get_settings()
            self._origins = frozenset(str(o).rstrip("/") for o in settings.CORS_ORIGINS)
            self._cors = CORSMiddleware(
                self.app,
                allow_origins=sorted(self._origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
                max_age=600,
            )
        return self._origins, self._cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
        if origin is not None:
            origins, cors = self._build()
            if origin.decode("latin-1").rstrip("/") in origins:
                await cors(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ---------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="rows matching the filters, across all pages")
    limit: int
    offset: int


class ErrorOut(BaseModel):
    detail: str


class StatusOut(BaseModel):
    status: str = Field(description="ativo or pausado (more values may be added)")
    paused: bool
    motivo: str | None
    alterado_via: str | None
    created_at: datetime | None = Field(description="when it was set; null = never set (ativo)")

    @classmethod
    def of(cls, s: JuliaStatus) -> StatusOut:
        return cls(
            status=s.status,
            paused=s.paused,
            motivo=s.motivo,
            alterado_via=s.alterado_via,
            created_at=s.created_at,
        )


class PauseIn(BaseModel):
    motivo: str = Field(min_length=1, max_length=500, pattern=_SOME_TEXT)


class ResumeIn(BaseModel):
    motivo: str | None = Field(default=None, min_length=1, max_length=500, pattern=_SOME_TEXT)


class TakeoverIn(BaseModel):
    reason: str | None = Field(default=None, min_length=1, max_length=500, pattern=_SOME_TEXT)


class ControlChange(BaseModel):
    changed: bool = Field(description="false when the conversation already was in that control")
    conversation: repo.ConversationItem


class MetricsOut(BaseModel):
    day: date
    tz: str
    conversations_active: int
    inbound_messages: int
    replies_sent: int
    outreach_sent: int
    outreach_deferred: dict[str, int]
    outreach_blocked: dict[str, int]
    outreach_deferred_total: int
    outreach_blocked_total: int
    handoffs_opened: int
    turns_ok: int
    turns_failed: int
    llm_cost_usd: float
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    transcription_seconds: int
    image_tokens: int
    cache_read_share: float | None


# ---------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------

router = APIRouter(
    prefix="/api/v1",
    tags=["dashboard"],
    responses={
        401: {"model": ErrorOut, "description": "missing, invalid or expired token"},
        403: {"model": ErrorOut, "description": "the token's role may not do this"},
        503: {"model": ErrorOut, "description": "dashboard auth not configured"},
    },
)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such id"}
}
_BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "the body could not be read (not UTF-8 JSON)"}
}

# Query/Path before the validator, or FastAPI drops their bounds from the OpenAPI schema.
Limit = Annotated[int, Query(ge=1, le=200, description="page size"), _INTEGER]
Offset = Annotated[int, Query(ge=0, le=MAX_BIGINT, description="rows to skip"), _INTEGER]
Id = Annotated[int, Path(ge=1, le=MAX_BIGINT), _INTEGER]


def _page(listing: repo.Listing[T], limit: int, offset: int) -> Page[T]:
    return Page(items=listing.items, total=listing.total, limit=limit, offset=offset)


@router.get("/status", summary="Julia's current status (the newest julia_status row)")
async def get_status(_: ViewerDep, res: ResourcesDep) -> StatusOut:
    return StatusOut.of(await julia_status.current(res.db))


@router.post(
    "/status/pause",
    summary="Pause Julia: every send path stops within seconds",
    responses=_BAD_BODY,
)
async def pause(body: PauseIn, operator: OperatorDep, res: ResourcesDep) -> StatusOut:
    result = await commands.pause(res, motivo=body.motivo.strip(), via="api", by=operator.sub)
    log.info("dashboard.paused", by=operator.sub)
    return StatusOut.of(result)


@router.post("/status/resume", summary="Resume Julia after a pause", responses=_BAD_BODY)
async def resume(
    operator: OperatorDep, res: ResourcesDep, body: ResumeIn | None = None
) -> StatusOut:
    motivo = body.motivo.strip() if body and body.motivo else None
    result = await commands.resume(res, via="api", by=operator.sub, motivo=motivo)
    log.info("dashboard.resumed", by=operator.sub)
    return StatusOut.of(result)


@router.get("/conversations", summary="Conversations, newest activity first")
async def list_conversations(
    _: ViewerDep,
    res: ResourcesDep,
    control: Annotated[Literal["julia", "humano"] | None, Query()] = None,
    status: Annotated[Literal["ativa", "encerrada"] | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[repo.ConversationItem]:
    async with transaction(res.db) as conn:
        listing = await repo.list_conversations(
            conn, control=control, status=status, limit=limit, offset=offset
        )
    return _page(listing, limit, offset)


@router.get(
    "/conversations/{conversation_id}/messages",
    summary="A conversation's messages, oldest first",
    responses=_NOT_FOUND,
)
async def list_messages(
    conversation_id: Id,
    _: ViewerDep,
    res: ResourcesDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[repo.MessageItem]:
    async with transaction(res.db) as conn:
        if await repo.get_conversation(conn, conversation_id) is None:
            raise HTTPException(404, "conversation not found")
        listing = await repo.list_messages(conn, conversation_id, limit=limit, offset=offset)
    linked = [
        item.model_copy(update={"media_url": await _media_url(res, conversation_id, item)})
        for item in listing.items
    ]
    return _page(repo.Listing(linked, listing.total), limit, offset)


async def _media_url(res: Resources, conversation_id: int, item: repo.MessageItem) -> str | None:
    if not item.media or not item.media.get("storage_key"):
        return None
    signed = await media.signed_url(
        res.media_store, item.media, res.settings.MEDIA_SIGNED_URL_SECONDS
    )
    return signed or f"/api/v1/conversations/{conversation_id}/messages/{item.id}/media"


@router.get(
    "/conversations/{conversation_id}/messages/{message_id}/media",
    summary="A message's stored attachment (the local store; Supabase answers signed URLs)",
    response_class=Response,
    responses=_NOT_FOUND,
)
async def message_attachment(
    conversation_id: Id, message_id: Id, _: ViewerDep, res: ResourcesDep
) -> Response:
    async with transaction(res.db) as conn:
        found = await repo.message_media(conn, conversation_id, message_id)
    if not found or not found.get("storage_key") or found.get("store") != res.media_store.name:
        raise HTTPException(404, "attachment not found")
    data = await media.load(res.media_store, found)
    if data is None:
        raise HTTPException(404, "attachment not found")
    return Response(data, media_type=str(found.get("mimetype") or "application/octet-stream"))


@router.post(
    "/conversations/{conversation_id}/takeover",
    summary="A human takes the conversation over: Julia stays silent in it",
    responses={
        **_NOT_FOUND,
        **_BAD_BODY,
        409: {"model": ErrorOut, "description": "the conversation is closed"},
    },
)
async def takeover(
    conversation_id: Id,
    operator: OperatorDep,
    res: ResourcesDep,
    body: TakeoverIn | None = None,
) -> ControlChange:
    reason = f"assumida por {operator.sub}"
    if body and body.reason:
        reason += f": {body.reason.strip()}"
    async with transaction(res.db) as conn:
        conversation = await repo.get_conversation(conn, conversation_id)
        if conversation is None:
            raise HTTPException(404, "conversation not found")
        if conversation.status != "ativa":
            raise HTTPException(409, "conversation is closed")
        changed = await handoff.hand_to_human(
            conn,
            conversation_id=conversation_id,
            doctor_id=conversation.doctor_id,
            trigger="operador",
            reason=reason,
        )
        conversation = await repo.get_conversation(conn, conversation_id)
    assert conversation is not None
    log.info("dashboard.takeover", conversation_id=conversation_id, by=operator.sub)
    return ControlChange(changed=changed, conversation=conversation)


@router.post(
    "/conversations/{conversation_id}/handback",
    summary="Hand the conversation back to Julia",
    responses=_NOT_FOUND,
)
async def handback(conversation_id: Id, operator: OperatorDep, res: ResourcesDep) -> ControlChange:
    async with transaction(res.db) as conn:
        if await repo.get_conversation(conn, conversation_id) is None:
            raise HTTPException(404, "conversation not found")
        changed = await handoff.hand_back(conn, conversation_id=conversation_id, by=operator.sub)
        conversation = await repo.get_conversation(conn, conversation_id)
    assert conversation is not None
    log.info("dashboard.handback", conversation_id=conversation_id, by=operator.sub)
    return ControlChange(changed=changed, conversation=conversation)


@router.get("/doctors", summary="Doctors, newest first; search by name or phone")
async def list_doctors(
    _: ViewerDep,
    res: ResourcesDep,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            pattern=_NO_NUL,
            description="part of the name (accents and case ignored) or of the phone digits",
        ),
    ] = None,
    opted_out: Annotated[
        bool | None, Query(description="only (not) opted-out doctors"), _BOOLEAN
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[repo.DoctorItem]:
    async with transaction(res.db) as conn:
        listing = await repo.list_doctors(
            conn, q=q, opted_out=opted_out, limit=limit, offset=offset
        )
    return _page(listing, limit, offset)


@router.get("/doctors/{doctor_id}", summary="One doctor's profile", responses=_NOT_FOUND)
async def get_doctor(doctor_id: Id, _: ViewerDep, res: ResourcesDep) -> repo.DoctorDetail:
    doctor = await repo.get_doctor(res.db, doctor_id)
    if doctor is None:
        raise HTTPException(404, "doctor not found")
    return doctor


@router.get("/shifts", summary="Shifts (plantões), soonest first")
async def list_shifts(
    _: ViewerDep,
    res: ResourcesDep,
    status: Annotated[
        Literal["aberto", "reservado", "confirmado", "cancelado", "preenchido"] | None, Query()
    ] = None,
    specialty: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            pattern=_NO_NUL,
            description="specialty name or alias (accents and case ignored)",
        ),
    ] = None,
    date_from: Annotated[
        date | None, Query(description="first local day (TZ), inclusive"), _DATE
    ] = None,
    date_to: Annotated[
        date | None, Query(description="last local day (TZ), inclusive"), _DATE
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[repo.ShiftItem]:
    async with transaction(res.db) as conn:
        listing = await repo.list_shifts(
            conn,
            tz_name=res.settings.TZ,
            status=status,
            specialty=specialty,
            date_from=date_from,
            date_to=date_to,
            limit=limit,
            offset=offset,
        )
    return _page(listing, limit, offset)


@router.get("/metrics/today", summary="Today's numbers (local day in TZ)")
async def metrics_today(_: ViewerDep, res: ResourcesDep) -> MetricsOut:
    m = await metrics.daily_metrics(res.db, tz=res.settings.tz, now=datetime.now(UTC))
    return MetricsOut(
        **asdict(m),
        outreach_deferred_total=m.outreach_deferred_total,
        outreach_blocked_total=m.outreach_blocked_total,
        cache_read_share=m.cache_read_share,
    )


# ---------------------------------------------------------------------------------------
# Reservations
# ---------------------------------------------------------------------------------------


class ReservationOut(BaseModel):
    code: str = Field(description="the short code operators type (`@julia confirmar <code>`)")
    status: Literal["pendente", "confirmada", "liberada", "expirada"]
    shift_id: int
    doctor_id: int
    doctor_name: str | None
    doctor_phone: str
    hospital: str
    specialty: str
    starts_at: datetime
    ends_at: datetime
    reserved_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decided_via: str | None = Field(description="slack, api, cli, or prazo (window passed)")
    motivo: str | None
    outcome: Literal["realizado", "nao_ocorreu"] | None = Field(
        description="whether the confirmed shift happened, once the team said so"
    )

    @classmethod
    def of(cls, r: Reservation) -> ReservationOut:
        return cls(
            code=r.code,
            status=r.status,
            shift_id=r.shift_id,
            doctor_id=r.doctor_id,
            doctor_name=r.doctor_name,
            doctor_phone=r.doctor_phone,
            hospital=r.hospital,
            specialty=r.specialty,
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            reserved_at=r.reserved_at,
            decided_at=r.decided_at,
            decided_by=r.decided_by,
            decided_via=r.decided_via,
            motivo=r.motivo,
            outcome=r.outcome,
        )


class ReservationDecisionOut(BaseModel):
    changed: bool = Field(description="false when it already was in that state")
    message: str = Field(description="what happened, in Portuguese (as Slack shows it)")
    reservation: ReservationOut


class ReleaseIn(BaseModel):
    motivo: str = Field(min_length=1, max_length=300, pattern=_SOME_TEXT)


class OutcomeIn(BaseModel):
    outcome: Literal["realizado", "nao_ocorreu"]


Code = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{4,8}$", description="reservation code")]
_RESERVATION_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no reservation with this code"},
    409: {"model": ErrorOut, "description": "the reservation's state does not allow it"},
}


def _decision(d: reservations.Decision) -> ReservationDecisionOut:
    return ReservationDecisionOut(
        changed=d.changed, message=d.reply, reservation=ReservationOut.of(d.reservation)
    )


@router.get(
    "/reservations",
    summary="Pending reservations, confirmed shifts ahead, ended ones without an answer",
)
async def list_reservations(_: ViewerDep, res: ResourcesDep) -> list[ReservationOut]:
    items = await reservations.listing(res, now=datetime.now(UTC))
    return [ReservationOut.of(r) for r in items]


@router.post(
    "/reservations/{code}/confirm",
    summary="Confirm a reservation: the shift is the doctor's, Julia tells them",
    responses=_RESERVATION_ERRORS,
)
async def confirm_reservation(
    code: Code, operator: OperatorDep, res: ResourcesDep
) -> ReservationDecisionOut:
    decision = await reservations.confirm(
        res, code, by=operator.sub, via="api", now=datetime.now(UTC)
    )
    log.info("dashboard.reservation_confirmed", code=code.upper(), by=operator.sub)
    return _decision(decision)


@router.post(
    "/reservations/{code}/release",
    summary="Release a reservation: the shift reopens, Julia tells the doctor kindly and "
    "offers the nearest alternative",
    responses={**_RESERVATION_ERRORS, **_BAD_BODY},
)
async def release_reservation(
    code: Code, body: ReleaseIn, operator: OperatorDep, res: ResourcesDep
) -> ReservationDecisionOut:
    decision = await reservations.release(
        res, code, motivo=body.motivo, by=operator.sub, via="api", now=datetime.now(UTC)
    )
    log.info("dashboard.reservation_released", code=code.upper(), by=operator.sub)
    return _decision(decision)


@router.post(
    "/reservations/{code}/outcome",
    summary="Record whether a confirmed shift happened (after it started)",
    responses={**_RESERVATION_ERRORS, **_BAD_BODY},
)
async def reservation_outcome(
    code: Code, body: OutcomeIn, operator: OperatorDep, res: ResourcesDep
) -> ReservationDecisionOut:
    decision = await reservations.record_outcome(
        res, code, body.outcome, by=operator.sub, via="api", now=datetime.now(UTC)
    )
    return _decision(decision)


# ---------------------------------------------------------------------------------------
# CSV import
# ---------------------------------------------------------------------------------------

MAX_IMPORT_BYTES = 5 * 1024 * 1024
_CSV_TYPES = ("text/csv", "text/plain")


class RejectionOut(BaseModel):
    line: int = Field(description="line in the file (the header is line 1)")
    reason: str = Field(description="why the row was refused (Portuguese, names the column)")


class ImportOut(BaseModel):
    kind: ImportKind
    dry_run: bool = Field(description="true: nothing was written; the counts are a preview")
    error: str | None = Field(
        description="set when the file could not be used at all (empty, a required column "
        "missing from the header, not a CSV): nothing was imported (Portuguese)"
    )
    total: int = Field(description="data rows in the file (blank lines not counted)")
    inserted: int
    updated: int
    unchanged: int = Field(description="rows already stored exactly so (not touched)")
    rejected: list[RejectionOut]
    ignored_columns: list[str] = Field(description="header cells matching no known column")


async def _read_csv_body(request: Request) -> str:
    """The body as text: 415 unless text/csv or text/plain, 413 past 5 MB, 400 unless UTF-8."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in _CSV_TYPES:
        raise HTTPException(415, "send the CSV as text/csv or text/plain")
    too_large = HTTPException(413, "arquivo maior que 5 MB; divida-o em partes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_IMPORT_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_IMPORT_BYTES:
            raise too_large
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            400,
            f"o arquivo não está em UTF-8 (byte inválido na posição {exc.start}); "
            "no Excel, salve como 'CSV UTF-8'",
        ) from exc


@router.post(
    "/import/{kind}",
    summary="Import doctors, hospitals or shifts from a CSV (upsert by natural key)",
    description="The body is the CSV file itself (see docs/import.md for the columns). "
    "Rows that cannot be imported are listed in `rejected`; the others are written. A file "
    "that cannot be used at all (e.g. a required column missing) is answered with `error` "
    "set and nothing imported: the text was received, its content is what is reported on.",
    responses={
        400: {"model": ErrorOut, "description": "the body is not UTF-8: nothing was imported"},
        413: {"model": ErrorOut, "description": "the file is larger than 5 MB"},
        415: {"model": ErrorOut, "description": "the body is not text/csv or text/plain"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            # Any value: on the wire it is text either way, and every text gets a report.
            "content": {t: {"schema": {"description": "the CSV file (UTF-8)"}} for t in _CSV_TYPES},
        }
    },
)
async def import_file(
    kind: Annotated[ImportKind, Path(description="what the file has")],
    request: Request,
    operator: OperatorDep,
    res: ResourcesDep,
    dry_run: Annotated[
        bool, Query(description="check and report without writing anything"), _BOOLEAN
    ] = False,
) -> ImportOut:
    text = await _read_csv_body(request)
    try:
        async with transaction(res.db) as conn:
            report = await import_csv(
                conn,
                kind,
                text,
                source=f"dashboard:{operator.sub}",
                tz=res.settings.tz,
                dry_run=dry_run,
            )
    except ImportFileError as exc:
        return ImportOut(
            kind=kind,
            dry_run=dry_run,
            error=str(exc),
            total=0,
            inserted=0,
            updated=0,
            unchanged=0,
            rejected=[],
            ignored_columns=[],
        )
    log.info("dashboard.imported", kind=kind, dry_run=dry_run, by=operator.sub)
    return ImportOut(
        kind=report.kind,
        dry_run=report.dry_run,
        error=None,
        total=report.total,
        inserted=report.inserted,
        updated=report.updated,
        unchanged=report.unchanged,
        rejected=[RejectionOut(line=r.line, reason=r.reason) for r in report.rejected],
        ignored_columns=list(report.ignored_columns),
    )


# ---------------------------------------------------------------------------------------
# LGPD: opt-out recorded by an operator, data-subject export and erasure
# ---------------------------------------------------------------------------------------

_PHONE = Field(
    min_length=8,
    max_length=40,
    pattern=_SOME_TEXT,
    description="the doctor's number as typed: +55 11 98700-1122, 11987001122, 5511987001122",
)
_BAD_PHONE: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "the body could not be read, or `phone` is not a phone number",
    },
}


class PhoneIn(BaseModel):
    phone: str = _PHONE


class EraseIn(BaseModel):
    phone: str = _PHONE
    confirm: Literal[True] = Field(description="must be true: the erasure cannot be undone")


class OptOutOut(BaseModel):
    phone: str = Field(description="the number as stored (E.164 digits)")
    found: bool = Field(description="a doctor with this number exists")
    newly: bool = Field(description="false when the doctor was already opted out")


class ErasureOut(BaseModel):
    phone: str
    found: bool = Field(description="a doctor with this number existed")
    erased: dict[str, int] = Field(description="rows removed (or redacted) per table")
    suppressed: bool = Field(description="always true: the number stays on the suppression list")


@asynccontextmanager
async def _lgpd_transaction(res: Resources) -> AsyncIterator[Any]:
    """The LGPD routes' unit of work: a number that is not a phone is 400."""
    try:
        async with transaction(res.db) as conn:
            yield conn
    except privacy.InvalidPhone as exc:
        raise HTTPException(400, str(exc)) from exc


@router.post(
    "/lgpd/optout",
    summary="Record an opt-out a doctor asked for: nothing automatic reaches the number again",
    responses=_BAD_PHONE,
)
async def lgpd_opt_out(body: PhoneIn, operator: OperatorDep, res: ResourcesDep) -> OptOutOut:
    async with _lgpd_transaction(res) as conn:
        result = await privacy.record_opt_out(
            conn, body.phone, via="api", operator=operator.sub, now=datetime.now(UTC)
        )
    return OptOutOut(phone=result.phone, found=result.found, newly=result.newly)


@router.post(
    "/lgpd/export",
    summary="Everything held about a data subject (LGPD art. 18), as JSON; audited",
    responses=_BAD_PHONE,
)
async def lgpd_export(body: PhoneIn, operator: OperatorDep, res: ResourcesDep) -> dict[str, Any]:
    async with _lgpd_transaction(res) as conn:
        return await privacy.export_subject(
            conn, body.phone, via="api", operator=operator.sub, now=datetime.now(UTC)
        )


@router.post(
    "/lgpd/erase",
    summary="Erase a data subject; only the suppression record of the number is kept; audited",
    responses=_BAD_PHONE,
)
async def lgpd_erase(body: EraseIn, operator: OperatorDep, res: ResourcesDep) -> ErasureOut:
    async with _lgpd_transaction(res) as conn:
        result = await privacy.erase_subject(
            conn, body.phone, via="api", operator=operator.sub, now=datetime.now(UTC)
        )
    log.info("dashboard.lgpd_erased", by=operator.sub, found=result.found)
    return ErasureOut(phone=result.phone, found=result.found, erased=result.erased, suppressed=True)
