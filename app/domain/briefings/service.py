"""The weekly briefing sync: the newest Google Doc of GOOGLE_BRIEFINGS_FOLDER_ID, read into
directives that enter Julia's instructions.

A change is detected by Drive's file `version` (and id) remembered in `briefing_sync`: an
unchanged document is not even exported, so a restart announces nothing. A changed one is
exported as text and parsed; if it parses and says something new it becomes the active
briefing, its priority lines mark real shifts, and Slack gets a summary of what changed.
If it does not parse, Slack gets the reason and the previous briefing stays active. A
version whose text is the same as the active briefing's (Drive bumps `version` on edits
nobody sees) is remembered silently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import asyncpg

from app.core.db import transaction
from app.core.logging import get_logger
from app.core.resources import Resources
from app.domain.briefings import repository as repo
from app.domain.briefings.parsing import (
    BriefingError,
    Directives,
    Priority,
    parse,
)
from app.domain.notices.service import notify
from app.domain.voice.formatting import format_brl
from app.integrations.protocols import DocumentFolder, DriveDoc, Notifier

log = get_logger(__name__)

Outcome = Literal["applied", "refused", "unchanged", "empty_folder"]
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class SyncResult:
    """What one sync did; `summary` is the text Slack got (or would get), pt-BR."""

    outcome: Outcome
    title: str | None = None
    reason: str | None = None  # why a refused document was refused
    summary: str = ""
    marked: dict[str, int] = field(default_factory=dict)  # priority line -> shifts marked


async def sync(
    db: asyncpg.Pool,
    drive: DocumentFolder,
    notifier: Notifier | None,
    *,
    folder_id: str,
    now: datetime,
    tz: ZoneInfo,
) -> SyncResult:
    """Bring the active briefing in line with the newest Google Doc of `folder_id`.

    Raises `DriveError` when Drive cannot be read; nothing changes then.
    """
    docs = await drive.list_docs(folder_id)
    if not docs:
        return SyncResult("empty_folder", summary="A pasta de briefings está vazia.")
    doc = max(docs, key=lambda d: (d.modified_time or _NEVER, d.id))
    state = await repo.sync_state(db, folder_id)
    if _same_revision(state, doc):
        return await _refresh(db, tz, title=doc.name)

    text = _tidy(await drive.export_text(doc.id))
    digest = hashlib.sha256(text.encode()).hexdigest()
    modified = doc.modified_time or now
    today = now.astimezone(tz).date()
    try:
        directives: Directives | None = parse(text, today=today)
        reason = None
    except BriefingError as exc:
        directives, reason = None, str(exc)

    async with transaction(db) as conn:
        await repo.lock(conn)
        if _same_revision(await repo.sync_state(conn, folder_id), doc):
            return SyncResult("unchanged", title=doc.name)  # another sync got here first
        await repo.save_sync_state(
            conn,
            folder_id,
            file_id=doc.id,
            version=doc.version,
            modified_time=doc.modified_time,
            now=now,
        )
        previous = await repo.active(conn)
        if directives is not None and previous is not None and previous.content_hash == digest:
            return SyncResult("unchanged", title=doc.name)
        briefing_id = await repo.store_version(
            conn,
            file_id=doc.id,
            title=doc.name,
            modified_time=modified,
            version=doc.version,
            content=text,
            content_hash=digest,
            directives=directives,
            error=reason,
            now=now,
        )
        if directives is None:
            assert reason is not None
            result = SyncResult(
                "refused", title=doc.name, reason=reason, summary=_refusal(doc, reason, previous)
            )
        else:
            marked = await repo.mark_priorities(conn, briefing_id, directives.priorities, tz=tz.key)
            result = SyncResult(
                "applied",
                title=doc.name,
                marked=marked,
                summary=changes(
                    previous.directives if previous else None, directives, marked, doc.name
                ),
            )
    log.info("briefing.synced", outcome=result.outcome, file_id=doc.id, version=doc.version)
    await notify(
        db,
        notifier,
        key="briefing",
        kind="briefing" if result.outcome == "applied" else "briefing_refused",
        severity="info" if result.outcome == "applied" else "warning",
        text=result.summary,
        payload={"file_id": doc.id, "version": doc.version, "outcome": result.outcome},
    )
    return result


async def _refresh(db: asyncpg.Pool, tz: ZoneInfo, *, title: str) -> SyncResult:
    """Nothing new in Drive: re-mark the active briefing's priority shifts (shifts imported
    since the last sync get their mark), silently."""
    async with transaction(db) as conn:
        await repo.lock(conn)
        current = await repo.active(conn)
        marked: dict[str, int] = {}
        if current is not None:
            marked = await repo.mark_priorities(
                conn, current.id, current.directives.priorities, tz=tz.key
            )
    return SyncResult("unchanged", title=title, marked=marked)


def _same_revision(state: repo.SyncState | None, doc: DriveDoc) -> bool:
    if state is None or state.file_id != doc.id:
        return False
    if doc.version is not None:
        return state.version == doc.version
    return doc.modified_time is not None and state.modified_time == doc.modified_time


def _tidy(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


# Slack texts (pt-BR) ----------------------------------------------------------------------


def describe_priority(priority: Priority) -> str:
    parts = [priority.hospital, f"{priority.day:%d/%m}"]
    if priority.period:
        parts.append(priority.period)
    if priority.detail:
        parts.append(priority.detail)
    if priority.pay_cap_cents is not None:
        parts.append(f"até {format_brl(priority.pay_cap_cents)}")
    return " – ".join(parts)


_FIELDS = (
    ("Foco", "focus"),
    ("Tom", "tone"),
    ("Margem de negociação", "margin"),
    ("Observações", "notes"),
)


def _field(directives: Directives | None, key: str) -> str | None:
    if directives is None:
        return None
    if key == "margin":
        return directives.margin.describe() if directives.margin else None
    value: str | None = getattr(directives, key)
    return value


def changes(
    before: Directives | None, after: Directives, marked: dict[str, int], title: str
) -> str:
    """The Slack summary of a newly applied briefing: what changed, and what each priority
    line matched."""
    lines = [f"Briefing da semana atualizado: “{title}”. A Julia já segue as novas diretrizes."]
    for label, key in _FIELDS:
        new, old = _field(after, key), _field(before, key)
        if new != old:
            shown = " ".join(new.split()) if new else "(removido)"
            lines.append(f"• {label}: {shown}")
    old_lines = {describe_priority(p) for p in before.priorities} if before else set()
    for priority in after.priorities:
        count = marked.get(priority.line, 0)
        found = (
            f"{count} plantão marcado como prioridade"
            if count == 1
            else f"{count} plantões marcados como prioridade"
            if count
            else "nenhum plantão aberto encontrado"
        )
        new = "" if describe_priority(priority) in old_lines else " (nova)"
        lines.append(f"• Vaga prioritária{new}: {describe_priority(priority)}: {found}")
    new_lines = {describe_priority(p) for p in after.priorities}
    for gone in sorted(old_lines - new_lines):
        lines.append(f"• Deixou de ser prioridade: {gone}")
    if len(lines) == 1:
        lines.append("• Nenhuma diretriz mudou em relação ao briefing anterior.")
    return "\n".join(lines)


def _refusal(doc: DriveDoc, reason: str, previous: repo.StoredBriefing | None) -> str:
    kept = (
        f"Continua valendo o briefing anterior, “{previous.title or 'sem título'}”."
        if previous is not None
        else "Nenhum briefing está ativo."
    )
    return (
        f"Não apliquei o briefing “{doc.name}”: {reason}. {kept} "
        "Corrija o documento no Drive; a próxima sincronização (a cada hora, ou "
        "`@julia sincronizar briefing`) tenta de novo."
    )


async def sync_configured(res: Resources, *, now: datetime) -> SyncResult | None:
    """`sync` on the configured folder with the shared Drive client; None when
    GOOGLE_BRIEFINGS_FOLDER_ID or GOOGLE_APPLICATION_CREDENTIALS is not set. Raises
    `DriveError` when Drive cannot be read."""
    folder = res.settings.GOOGLE_BRIEFINGS_FOLDER_ID
    drive = res.drive if folder else None
    if not folder or drive is None:
        return None
    try:
        return await sync(
            res.db, drive, res.notifier, folder_id=folder, now=now, tz=res.settings.tz
        )
    finally:
        # The next run is an hour away: httplib2's connections would only go stale.
        await drive.aclose()
