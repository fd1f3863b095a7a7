"""Opener templates from Google Drive: one Google Doc per campaign kind.

The managers keep a folder (GOOGLE_TEMPLATES_FOLDER_ID) of Google Docs whose titles name a
campaign kind ("Oferta - dezembro", "Reativação"). The hourly `sincronizar_modelos` job
copies the newest document of each kind into `opener_templates`, and a campaign without a
template of its own writes its openers from the one of its kind. A document whose text is
not a usable template is refused (the reason is kept in `opener_template_rejections`) and the
kind keeps what it had; a kind whose documents all left the folder loses its template, and
Julia goes back to her own words.

Drive is read completely before anything is written: if it fails half-way, the stored
templates stay exactly as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from app.core.db import transaction
from app.core.text import fold
from app.domain.outreach import repository as repo
from app.domain.outreach import writing
from app.domain.outreach.repository import TemplateVersion
from app.integrations.protocols import DocumentFolder, DriveDoc

KINDS = ("oferta", "descoberta", "reativacao", "manual")
# Reactivation campaigns offer no shift: their template cannot use the shift placeholders.
_WITHOUT_SHIFTS = frozenset({"reativacao"})


@dataclass
class SyncResult:
    """What one sync did, by campaign kind."""

    updated: list[str] = field(default_factory=list)  # a new or edited document was stored
    unchanged: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # kind -> why (pt-BR)
    removed: list[str] = field(default_factory=list)  # no document any more
    ignored: list[str] = field(default_factory=list)  # titles naming no kind, or several

    @property
    def changed(self) -> bool:
        return bool(self.updated or self.removed or self.rejected)


def kinds_named(title: str) -> list[str]:
    """The campaign kinds a document title names, case and accents aside:
    "Oferta - dezembro" -> ["oferta"], "REATIVAÇÃO" -> ["reativacao"]."""
    folded = fold(title)
    return [kind for kind in KINDS if kind in folded]


async def sync(db: asyncpg.Pool, drive: DocumentFolder, folder_id: str) -> SyncResult:
    """Bring `opener_templates` in line with the Google Docs of `folder_id`.

    Per kind, the most recently modified document wins; it is exported only when it is not
    the version already stored (or already refused). Raises `DriveError` when Drive cannot
    be read; nothing is written then.
    """
    result = SyncResult()
    newest: dict[str, DriveDoc] = {}
    for doc in await drive.list_docs(folder_id):
        kinds = kinds_named(doc.name)
        if len(kinds) != 1:
            result.ignored.append(doc.name)
            continue
        current = newest.get(kinds[0])
        if current is None or _recency(doc) > _recency(current):
            newest[kinds[0]] = doc

    stored = await repo.stored_templates(db)
    refused = await repo.refused_templates(db)
    accepted: dict[str, tuple[DriveDoc, str]] = {}
    rejected: dict[str, tuple[DriveDoc, str]] = {}
    for kind, doc in sorted(newest.items()):
        if _same_version(stored.get(kind), doc):
            result.unchanged.append(kind)
            continue
        if _same_version(refused.get(doc.id), doc):
            rejected[kind] = (doc, refused[doc.id].reason or "")
            continue
        body = _tidy(await drive.export_text(doc.id))
        reason = problem(kind, body)
        if reason is None:
            accepted[kind] = (doc, body)
        else:
            rejected[kind] = (doc, reason)

    gone = sorted(set(stored) - set(newest))
    async with transaction(db) as conn:
        for kind, (doc, body) in accepted.items():
            await repo.store_template(
                conn,
                kind,
                file_id=doc.id,
                file_name=doc.name,
                body=body,
                modified_time=doc.modified_time,
            )
        for kind, (doc, reason) in rejected.items():
            await repo.refuse_template(
                conn,
                kind,
                file_id=doc.id,
                file_name=doc.name,
                modified_time=doc.modified_time,
                reason=reason,
            )
        # Only the refusals of documents that are still the newest of their kind matter.
        await repo.keep_refusals_of(conn, [doc.id for doc, _ in rejected.values()])
        if gone:
            await repo.delete_templates(conn, gone)

    result.updated = sorted(accepted)
    result.rejected = {kind: reason for kind, (_, reason) in sorted(rejected.items())}
    result.removed = gone
    return result


def problem(kind: str, body: str) -> str | None:
    """Why `body` cannot be the opener template of `kind` (pt-BR), or None when it can."""
    try:
        writing.check_template(body)
    except writing.TemplateError as exc:
        return str(exc)
    if kind in _WITHOUT_SHIFTS and writing.needs_shift(body):
        return "o template usa um plantão, mas a campanha não tem plantão (reativação)"
    return None


_NEVER = datetime.min.replace(tzinfo=UTC)


def _recency(doc: DriveDoc) -> tuple[datetime, str]:
    # Same modification time: the greater id wins, so every run picks the same document.
    return (doc.modified_time or _NEVER, doc.id)


def _same_version(row: TemplateVersion | None, doc: DriveDoc) -> bool:
    return (
        row is not None
        and row.file_id == doc.id
        and doc.modified_time is not None
        and row.modified_time == doc.modified_time
    )


def _tidy(text: str) -> str:
    """The exported text without trailing spaces on lines and blank lines at the ends."""
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()
