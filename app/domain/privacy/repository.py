"""SQL for LGPD: the suppression list, the audit, a data subject's rows (export, erasure)
and a contact's provenance."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.db import Conn, Executor


async def phone_key(conn: Executor, phone: str) -> str:
    """The suppression key of a phone (`julia_phone_key`, migration 0014)."""
    key: str = await conn.fetchval("SELECT julia_phone_key($1)", phone)
    return key


async def suppress(conn: Executor, phone: str, reason: str) -> None:
    """Add the number to the suppression list; an erasure outranks an opt-out."""
    await conn.execute(
        """INSERT INTO opt_out_suppressions (phone_sha256, reason)
           VALUES (julia_phone_key($1), $2)
           ON CONFLICT (phone_sha256) DO UPDATE
           SET reason = CASE WHEN EXCLUDED.reason = 'apagamento' THEN 'apagamento'
                             ELSE opt_out_suppressions.reason END""",
        phone,
        reason,
    )


async def suppression(conn: Executor, phone: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """SELECT reason, created_at FROM opt_out_suppressions
           WHERE phone_sha256 = julia_phone_key($1)""",
        phone,
    )
    return dict(row.items()) if row else None


async def audit(
    conn: Executor,
    *,
    action: str,
    phone: str,
    found: bool,
    via: str,
    operator: str | None,
    detail: dict[str, Any],
) -> None:
    await conn.execute(
        """INSERT INTO lgpd_audit (action, phone_sha256, found, via, operator, detail)
           VALUES ($1, julia_phone_key($2), $3, $4, $5, $6::jsonb)""",
        action,
        phone,
        found,
        via,
        operator,
        json.dumps(detail),
    )


async def audit_trail(conn: Executor, phone: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT action, found, via, operator, detail, created_at FROM lgpd_audit
           WHERE phone_sha256 = julia_phone_key($1) ORDER BY id""",
        phone,
    )
    return [_plain(r) for r in rows]


def _plain(row: Any) -> dict[str, Any]:
    out = dict(row.items())
    for key, value in out.items():
        if isinstance(value, str) and key in ("detail", "row"):
            out[key] = json.loads(value)
    return out


# Export ------------------------------------------------------------------------------------

# Each section of a data subject's export: the rows of one table that are about the doctor.
# Every statement takes $1 the doctor id, $2 both spellings of the number, $3 the patterns
# that find the number in raw deliveries (each typed, so a statement may leave some unused).
_ARGS = "WITH args AS (SELECT $1::bigint AS doctor, $2::text[] AS phones, $3::text[] AS pats) "
_EXPORT: dict[str, str] = {
    "conversas": """SELECT to_jsonb(t) AS row FROM conversations t, args
                    WHERE t.doctor_id = args.doctor ORDER BY t.id""",
    "mensagens": """SELECT to_jsonb(t) AS row FROM messages t, args
                    WHERE t.doctor_id = args.doctor
                       OR (t.doctor_id IS NULL
                           AND split_part(t.remote_jid, '@', 1) = ANY(args.phones))
                    ORDER BY t.id""",
    "memorias": """SELECT to_jsonb(t) - 'embedding' AS row FROM memories t, args
                   WHERE t.doctor_id = args.doctor ORDER BY t.id""",
    "handoffs": """SELECT to_jsonb(t) AS row FROM handoffs t, args
                   WHERE t.doctor_id = args.doctor ORDER BY t.id""",
    "followups": """SELECT to_jsonb(t) AS row FROM followups t, args
                    WHERE t.doctor_id = args.doctor ORDER BY t.id""",
    "envios": """SELECT to_jsonb(t) AS row FROM outbound_sends t, args
                 WHERE t.doctor_id = args.doctor OR t.to_phone = ANY(args.phones)
                 ORDER BY t.id""",
    "campanhas": """SELECT to_jsonb(t) || jsonb_build_object('campaign_name', c.name) AS row
                    FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id, args
                    WHERE t.doctor_id = args.doctor ORDER BY t.id""",
    "plantoes_reservados": """SELECT jsonb_build_object('shift_id', s.id, 'status', s.status,
                                     'starts_at', s.starts_at) AS row
                              FROM shifts s, args
                              WHERE s.reserved_doctor_id = args.doctor ORDER BY s.id""",
    "entregas_brutas": """SELECT jsonb_build_object('source', w.source, 'event', w.event,
                                 'received_at', w.received_at, 'payload', w.payload) AS row
                          FROM webhook_events w, args
                          WHERE w.payload::text LIKE ANY(args.pats) ORDER BY w.id""",
}


async def doctor_row(conn: Executor, doctor_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT to_jsonb(d) AS row FROM doctors d WHERE id = $1", doctor_id)
    return json.loads(row["row"]) if row else None


async def export_sections(
    conn: Executor, doctor_id: int, phones: list[str], patterns: list[str]
) -> dict[str, list[Any]]:
    sections: dict[str, list[Any]] = {}
    for name, sql in _EXPORT.items():
        rows = await conn.fetch(_ARGS + sql, doctor_id, phones, patterns)
        sections[name] = [json.loads(r["row"]) for r in rows]
    return sections


# Erasure -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subject:
    doctor_id: int | None
    phones: list[str]  # both spellings of the number
    lid: str | None
    names: list[str]  # name and WhatsApp name, as stored


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def erase(conn: Conn, subject: Subject, patterns: list[str]) -> dict[str, int]:
    """Delete every row about the subject; the doctor's row last, which cascades to their
    conversations, turns, messages, memories, handoffs, follow-ups, sends and campaign
    targets. Raw deliveries naming the number are deleted; an operator's Slack command that
    named it keeps its audit row with the text removed. Returns rows touched per table."""
    counts: dict[str, int] = {}
    doctor_id = subject.doctor_id
    conversation_ids: list[int] = []
    if doctor_id is not None:
        conversation_ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM conversations WHERE doctor_id = $1", doctor_id
            )
        ]
    name_patterns = [f"%{_like(n)}%" for n in subject.names if n and len(n.strip()) >= 3]
    counts["notifications"] = _count(
        await conn.execute(
            """DELETE FROM notifications
               WHERE payload::text LIKE ANY($1::text[])
                  OR payload::text ILIKE ANY($2::text[])
                  OR payload->>'doctor_id' = $3::text
                  OR (payload->>'conversation_id')::text = ANY($4::text[])
                  OR key = ANY($5::text[])""",
            patterns,
            name_patterns,
            str(doctor_id) if doctor_id is not None else None,
            [str(c) for c in conversation_ids],
            [f"handoff:{c}" for c in conversation_ids],
        )
    )
    # An operator's Slack command naming the number (`optout +55 11 ...`): the event stays
    # as the audit of who asked what and when, without its text.
    national = sorted({p[2:] if p.startswith("55") else p for p in subject.phones})
    counts["slack_events_redacted"] = _count(
        await conn.execute(
            """UPDATE webhook_events
               SET payload = (payload - 'event') || jsonb_build_object('event',
                   jsonb_build_object('type', payload->'event'->>'type',
                                      'user', payload->'event'->>'user',
                                      'channel', payload->'event'->>'channel',
                                      'ts', payload->'event'->>'ts',
                                      'text', '[apagado a pedido do titular (LGPD)]'))
               WHERE source = 'slack'
                 AND (payload::text LIKE ANY($1::text[])
                      OR regexp_replace(payload->'event'->>'text', '[^0-9]', '', 'g')
                         LIKE ANY($2::text[]))""",
            patterns,
            [f"%{n}%" for n in national],
        )
    )
    counts["webhook_events"] = _count(
        await conn.execute(
            """DELETE FROM webhook_events
               WHERE source <> 'slack' AND payload::text LIKE ANY($1::text[])""",
            patterns,
        )
    )
    counts["unlinked_messages"] = _count(
        await conn.execute(
            """DELETE FROM messages WHERE doctor_id IS NULL
                 AND (split_part(remote_jid, '@', 1) = ANY($1)
                      OR ($2::text IS NOT NULL AND remote_jid = $2 || '@lid'))""",
            subject.phones,
            subject.lid,
        )
    )
    counts["outbound_sends"] = _count(
        await conn.execute("DELETE FROM outbound_sends WHERE to_phone = ANY($1)", subject.phones)
    )
    if doctor_id is not None:
        for table in ("messages", "memories"):
            counts[table] = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE doctor_id = $1",
                doctor_id,
            )
        counts["conversations"] = len(conversation_ids)
        # A reservation waiting for an operator's confirmation is offered to others again;
        # a confirmed shift keeps its history, without the doctor.
        counts["shifts_reopened"] = _count(
            await conn.execute(
                """UPDATE shifts SET status = 'aberto', reserved_doctor_id = NULL,
                          reserved_at = NULL
                   WHERE reserved_doctor_id = $1 AND status = 'reservado'""",
                doctor_id,
            )
        )
        counts["doctors"] = _count(
            await conn.execute("DELETE FROM doctors WHERE id = $1", doctor_id)
        )
    return counts


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def number_patterns(phones: list[str], lid: str | None) -> list[str]:
    """LIKE patterns that find the number (either spelling) or the WhatsApp lid in text."""
    found = [f"%{p}%" for p in phones]
    if lid:
        found.append(f"%{_like(lid)}@lid%")
    return found


# Provenance --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Provenance:
    source: str | None  # doctors.source: 'inbound', 'csv:<file>', ...
    added_at: datetime
    first_inbound_at: datetime | None
    first_campaign: str | None  # the campaign that opened the first conversation
    first_campaign_at: datetime | None


async def provenance(conn: Executor, doctor_id: int) -> Provenance | None:
    row = await conn.fetchrow(
        """SELECT d.source, d.created_at AS added_at,
                  (SELECT min(m.created_at) FROM messages m
                   WHERE m.doctor_id = d.id AND m.direction = 'in') AS first_inbound_at,
                  first.name AS first_campaign, first.created_at AS first_campaign_at
           FROM doctors d
           LEFT JOIN LATERAL (
               SELECT c.name, v.created_at FROM conversations v
               JOIN campaigns c ON c.id = v.campaign_id
               WHERE v.doctor_id = d.id ORDER BY v.created_at LIMIT 1
           ) first ON true
           WHERE d.id = $1""",
        doctor_id,
    )
    return Provenance(**dict(row.items())) if row else None
