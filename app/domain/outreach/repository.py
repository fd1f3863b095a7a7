"""SQL for outreach: campaigns and their targets, follow-ups and reminders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from app.core.db import Conn, Executor

# Campaigns --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    kind: str
    status: str
    filters: dict[str, Any]
    instructions: str | None
    template: str | None
    autonomous: bool
    created_by: str | None
    started_at: datetime | None
    paused_at: datetime | None
    finished_at: datetime | None
    targets_refreshed_at: datetime | None
    created_at: datetime


_CAMPAIGN = """SELECT id, name, kind, status, filters, instructions, template, autonomous,
                      created_by, started_at, paused_at, finished_at, targets_refreshed_at,
                      created_at FROM campaigns"""


def _campaign(row: asyncpg.Record) -> Campaign:
    values = dict(row.items())
    if isinstance(values["filters"], str):
        values["filters"] = json.loads(values["filters"])
    return Campaign(**values)


async def create_campaign(
    conn: Executor,
    *,
    name: str,
    kind: str,
    filters: dict[str, Any],
    instructions: str | None,
    template: str | None,
    autonomous: bool,
    created_by: str | None,
) -> Campaign:
    campaign_id: int = await conn.fetchval(
        """INSERT INTO campaigns (name, kind, filters, instructions, template, autonomous,
                                  created_by)
           VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7)
           RETURNING id""",
        name,
        kind,
        json.dumps(filters),
        instructions,
        template,
        autonomous,
        created_by,
    )
    campaign = await get_campaign(conn, campaign_id)
    assert campaign is not None
    return campaign


async def get_campaign(conn: Executor, campaign_id: int) -> Campaign | None:
    row = await conn.fetchrow(_CAMPAIGN + " WHERE id = $1", campaign_id)
    return _campaign(row) if row else None


async def campaign_by_name(conn: Executor, name: str) -> Campaign | None:
    row = await conn.fetchrow(_CAMPAIGN + " WHERE name = $1 ORDER BY id DESC LIMIT 1", name)
    return _campaign(row) if row else None


async def active_campaigns(conn: Executor) -> list[Campaign]:
    rows = await conn.fetch(_CAMPAIGN + " WHERE status = 'ativa' ORDER BY id")
    return [_campaign(r) for r in rows]


async def set_campaign_status(
    conn: Executor, campaign_id: int, status: str, now: datetime, *, allowed_from: tuple[str, ...]
) -> bool:
    """Move a campaign to `status` if it is in one of `allowed_from`; stamps the moment."""
    result: str = await conn.execute(
        """UPDATE campaigns SET status = $2,
                  started_at = CASE WHEN $2 = 'ativa' THEN coalesce(started_at, $3)
                                    ELSE started_at END,
                  paused_at = CASE WHEN $2 = 'pausada' THEN $3 ELSE paused_at END,
                  finished_at = CASE WHEN $2 IN ('concluida', 'cancelada') THEN $3
                                     ELSE finished_at END
           WHERE id = $1 AND status = ANY($4::text[])""",
        campaign_id,
        status,
        now,
        list(allowed_from),
    )
    return result.endswith(" 1")


async def link_shifts(conn: Executor, campaign_id: int, shift_ids: list[int]) -> None:
    await conn.execute(
        """INSERT INTO campaign_shifts (campaign_id, shift_id)
           SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING""",
        campaign_id,
        shift_ids,
    )


async def matching_open_shifts(
    conn: Executor,
    *,
    specialty_ids: list[int],
    regions: list[str],
    states: list[str],
    starts_from: datetime,
    starts_before: datetime | None,
    limit: int = 500,
) -> list[int]:
    """Open shifts a campaign offers: the specialties, within the dates, in the regions or
    states (when given), soonest and highest priority first."""
    rows = await conn.fetch(
        """SELECT s.id FROM shifts s JOIN hospitals h ON h.id = s.hospital_id
           WHERE s.status = 'aberto' AND s.specialty_id = ANY($1::bigint[])
             AND s.starts_at >= $4 AND ($5::timestamptz IS NULL OR s.starts_at < $5)
             AND (cardinality($2::text[]) = 0 OR h.region = ANY($2::text[]))
             AND (cardinality($3::text[]) = 0 OR h.state = ANY($3::text[]))
           ORDER BY s.priority DESC, s.starts_at
           LIMIT $6""",
        specialty_ids,
        regions,
        states,
        starts_from,
        starts_before,
        limit,
    )
    return [r["id"] for r in rows]


@dataclass(frozen=True, slots=True)
class OfferedShift:
    id: int
    hospital: str
    city: str | None
    region: str | None
    state: str
    specialty: str
    specialty_id: int
    sector: str | None
    starts_at: datetime
    ends_at: datetime
    period: str
    pay_cents: int | None
    pay_min_cents: int | None
    pay_max_cents: int | None
    pay_note: str | None


_OFFERED = """SELECT s.id, h.name AS hospital, h.city, h.region, h.state, sp.name AS specialty,
                     s.specialty_id, s.sector, s.starts_at, s.ends_at, s.period, s.pay_cents,
                     s.pay_min_cents, s.pay_max_cents, s.pay_note
              FROM shifts s JOIN hospitals h ON h.id = s.hospital_id
                            JOIN specialties sp ON sp.id = s.specialty_id"""


async def campaign_shifts(
    conn: Executor, campaign_id: int, *, now: datetime, only_open: bool = True
) -> list[OfferedShift]:
    rows = await conn.fetch(
        _OFFERED
        + """ JOIN campaign_shifts cs ON cs.shift_id = s.id
              WHERE cs.campaign_id = $1 AND (NOT $3 OR (s.status = 'aberto' AND s.starts_at > $2))
              ORDER BY s.priority DESC, s.starts_at""",
        campaign_id,
        now,
        only_open,
    )
    return [OfferedShift(**dict(r.items())) for r in rows]


async def shift_offered(conn: Executor, shift_id: int, *, now: datetime) -> bool:
    """Whether a shift can still be offered: open and not started."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM shifts
                              WHERE id = $1 AND status = 'aberto' AND starts_at > $2)""",
            shift_id,
            now,
        )
    )


async def open_shift_for_doctor(
    conn: Executor, doctor_id: int, *, now: datetime, campaign_id: int | None
) -> OfferedShift | None:
    """One concrete open shift to mention to a doctor: the campaign's first, else the
    soonest in the doctor's specialty (and region when known)."""
    row = await conn.fetchrow(
        _OFFERED
        + """ JOIN doctors d ON d.id = $1
              LEFT JOIN campaign_shifts cs ON cs.shift_id = s.id AND cs.campaign_id = $3
              WHERE s.status = 'aberto' AND s.starts_at > $2 AND s.specialty_id = d.specialty_id
                AND (d.region IS NULL OR h.region IS NULL OR h.region = d.region
                     OR cs.shift_id IS NOT NULL)
              ORDER BY cs.shift_id IS NULL, s.priority DESC, s.starts_at
              LIMIT 1""",
        doctor_id,
        now,
        campaign_id,
    )
    return OfferedShift(**dict(row.items())) if row else None


# Targets ----------------------------------------------------------------------------------

# Not contacted recently, not in a live conversation: the windows targeting uses.
RECENT_CONTACT = timedelta(days=7)
LIVE_CONVERSATION = timedelta(hours=72)

# After the last follow-up step, a doctor who never answered is left alone this long.
SILENCE_AFTER_CADENCE = timedelta(days=60)


def eligibility(*, campaign: str, recent: str, live: str, silence: str) -> dict[str, str]:
    """The conditions a campaign target must meet, by name, as SQL on `doctors d`: nobody
    opted out, contacted recently, under human control or in a live conversation,
    mid-cadence or just past its last step, or waiting for another campaign's opener.
    Arguments are the query's parameters."""
    return {
        "opted_out": "d.opted_out_at IS NULL",
        "recent_contact": f"(d.last_proactive_at IS NULL OR d.last_proactive_at < {recent})",
        "live_or_human": f"""NOT EXISTS (SELECT 1 FROM conversations c
                    WHERE c.doctor_id = d.id AND c.status = 'ativa'
                      AND (c.control = 'humano' OR c.last_message_at > {live}))""",
        "mid_cadence": """NOT EXISTS (SELECT 1 FROM followups f
                    WHERE f.doctor_id = d.id AND f.status = 'agendado' AND f.kind = 'cadencia')""",
        "after_cadence": f"""NOT EXISTS (SELECT 1 FROM followups f
                    WHERE f.doctor_id = d.id AND f.kind = 'cadencia' AND f.status = 'enviado'
                      AND f.step >= 3 AND f.sent_at > {silence})""",
        "other_campaign": f"""NOT EXISTS (SELECT 1 FROM campaign_targets t
                    JOIN campaigns k ON k.id = t.campaign_id
                    WHERE t.doctor_id = d.id AND t.campaign_id <> {campaign}
                      AND k.status IN ('ativa', 'pausada')
                      AND t.status IN ('pendente', 'adiado'))""",
    }


def _eligible(**params: str) -> str:
    return "\n    AND ".join(eligibility(**params).values())


# Place: in one of the states (none given: any), and in one of the regions (none given:
# any), a doctor without a region matching by state alone. Region names repeat across
# states ("Centro"), hence the state check with them.
TARGET_SQL = f"""
INSERT INTO campaign_targets (campaign_id, doctor_id)
SELECT $1, d.id FROM doctors d
WHERE d.specialty_id = ANY($2::bigint[])
  AND (cardinality($6::text[]) = 0 OR d.state = ANY($6::text[]))
  AND (cardinality($5::text[]) = 0 OR d.region = ANY($5::text[])
       OR (d.region IS NULL AND cardinality($6::text[]) > 0))
  AND {_eligible(campaign="$1", recent="$3", live="$4", silence="$8")}
ORDER BY d.last_proactive_at NULLS FIRST, d.id
LIMIT $7
ON CONFLICT (campaign_id, doctor_id) DO NOTHING
"""

REACTIVATION_SQL = f"""
INSERT INTO campaign_targets (campaign_id, doctor_id)
SELECT $1, d.id FROM doctors d
WHERE d.last_inbound_at < $2
  AND {_eligible(campaign="$1", recent="$3", live="$4", silence="$6")}
ORDER BY d.last_inbound_at, d.id
LIMIT $5
ON CONFLICT (campaign_id, doctor_id) DO NOTHING
"""


async def add_targets(
    conn: Executor,
    campaign_id: int,
    *,
    specialty_ids: list[int],
    regions: list[str],
    states: list[str],
    now: datetime,
    limit: int,
) -> int:
    """Select eligible doctors of the specialties (and regions; a doctor without a region
    matches by state) into the campaign; returns how many were added."""
    status: str = await conn.execute(
        TARGET_SQL,
        campaign_id,
        specialty_ids,
        now - RECENT_CONTACT,
        now - LIVE_CONVERSATION,
        regions,
        states,
        limit,
        now - SILENCE_AFTER_CADENCE,
    )
    return int(status.split()[-1])


async def add_reactivation_targets(
    conn: Executor, campaign_id: int, *, silent_since: datetime, now: datetime, limit: int
) -> int:
    """Doctors who talked to Julia before and have been silent (and not contacted) since
    `silent_since`."""
    status: str = await conn.execute(
        REACTIVATION_SQL,
        campaign_id,
        silent_since,
        silent_since,
        now - LIVE_CONVERSATION,
        limit,
        now - SILENCE_AFTER_CADENCE,
    )
    return int(status.split()[-1])


async def mark_targets_refreshed(conn: Executor, campaign_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE campaigns SET targets_refreshed_at = $2 WHERE id = $1", campaign_id, now
    )


@dataclass(frozen=True, slots=True)
class TargetToWrite:
    id: int
    campaign_id: int
    doctor_id: int
    phone: str
    name: str | None
    specialty: str | None
    city: str | None
    assigned_chip_id: int | None


async def claim_targets(conn: Conn, campaign_id: int, limit: int) -> list[TargetToWrite]:
    """Targets nobody has written a message for yet, locked for this transaction (another
    scheduler replica skips them)."""
    rows = await conn.fetch(
        """SELECT t.id, t.campaign_id, t.doctor_id, d.phone, d.name, sp.name AS specialty,
                  d.city, d.assigned_chip_id
           FROM campaign_targets t JOIN doctors d ON d.id = t.doctor_id
                LEFT JOIN specialties sp ON sp.id = d.specialty_id
           WHERE t.campaign_id = $1 AND t.status = 'pendente' AND t.outbound_send_id IS NULL
           ORDER BY t.id
           LIMIT $2
           FOR UPDATE OF t SKIP LOCKED""",
        campaign_id,
        limit,
    )
    return [TargetToWrite(**dict(r.items())) for r in rows]


async def attach_send(conn: Executor, target_id: int, send_id: int) -> None:
    await conn.execute(
        """UPDATE campaign_targets SET outbound_send_id = $2, attempts = attempts + 1
           WHERE id = $1""",
        target_id,
        send_id,
    )


async def set_target(
    conn: Executor,
    target_id: int,
    status: str,
    reason: str | None,
    *,
    next_attempt_at: datetime | None = None,
    contacted_at: datetime | None = None,
) -> None:
    await conn.execute(
        """UPDATE campaign_targets SET status = $2, last_reason = $3, next_attempt_at = $4,
                  contacted_at = coalesce($5, contacted_at)
           WHERE id = $1 AND status NOT IN ('respondeu', 'cancelado')""",
        target_id,
        status,
        reason,
        next_attempt_at,
        contacted_at,
    )


async def target_of_send(conn: Executor, send_id: int) -> int | None:
    target_id: int | None = await conn.fetchval(
        "SELECT id FROM campaign_targets WHERE outbound_send_id = $1", send_id
    )
    return target_id


async def cancel_open_targets(conn: Executor, campaign_id: int) -> None:
    """A cancelled campaign's targets still waiting are cancelled with it."""
    await conn.execute(
        """UPDATE campaign_targets SET status = 'cancelado', last_reason = 'campanha_cancelada'
           WHERE campaign_id = $1 AND status IN ('pendente', 'adiado')""",
        campaign_id,
    )


async def cancel_unwritten_targets(conn: Executor, campaign_id: int, reason: str) -> None:
    """A concluded campaign leaves alone the doctors it has not written to yet."""
    await conn.execute(
        """UPDATE campaign_targets SET status = 'cancelado', last_reason = $2
           WHERE campaign_id = $1 AND status = 'pendente' AND outbound_send_id IS NULL""",
        campaign_id,
        reason,
    )


async def opener_taken(conn: Executor, campaign_id: int, body: str) -> bool:
    """Whether the campaign already wrote this exact opener to someone."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM outbound_sends WHERE campaign_id = $1 AND body = $2)",
            campaign_id,
            body,
        )
    )


@dataclass(frozen=True, slots=True)
class DueSend:
    id: int
    attempts: int
    not_before: datetime


async def due_sends(conn: Executor, now: datetime, limit: int) -> list[DueSend]:
    """Proactive messages waiting whose moment has come, the longest waiting first; also
    the reservation loop's messages and manager notices (deferred by a pause, or written by
    the scheduler for later), which no turn carries along."""
    rows = await conn.fetch(
        """SELECT id, attempts, not_before FROM outbound_sends
           WHERE (proactive OR kind IN ('reserva', 'gestor'))
             AND status IN ('pending', 'deferred') AND not_before <= $1
           ORDER BY not_before
           LIMIT $2""",
        now,
        limit,
    )
    return [DueSend(**dict(r.items())) for r in rows]


async def campaign_has_open_work(conn: Executor, campaign_id: int) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM campaign_targets
                              WHERE campaign_id = $1 AND status IN ('pendente', 'adiado'))""",
            campaign_id,
        )
    )


async def open_proactive_due(conn: Executor, before: datetime | None) -> int:
    """Proactive messages written and due before `before` (None: whenever) but not yet
    decided for good; not those held by PILOT_MODE or a paused campaign, which take no
    chip's time."""
    n: int = await conn.fetchval(
        """SELECT count(*) FROM outbound_sends
           WHERE proactive AND status IN ('pending', 'deferred')
             AND ($1::timestamptz IS NULL OR not_before <= $1)
             AND reason IS DISTINCT FROM 'pilot_mode'
             AND reason IS DISTINCT FROM 'campanha_pausada'""",
        before,
    )
    return n


@dataclass(frozen=True, slots=True)
class Progress:
    campaign_id: int
    name: str
    status: str
    autonomous: bool
    targets: int
    by_status: dict[str, int]
    sends_by_status: dict[str, int]
    deferred_by_reason: dict[str, int]
    shifts_open: int


async def progress(conn: Executor, campaign_id: int) -> Progress | None:
    campaign = await get_campaign(conn, campaign_id)
    if campaign is None:
        return None
    targets = await conn.fetch(
        "SELECT status, count(*) AS n FROM campaign_targets WHERE campaign_id = $1 GROUP BY 1",
        campaign_id,
    )
    sends = await conn.fetch(
        """SELECT status, reason, count(*) AS n FROM outbound_sends
           WHERE campaign_id = $1 GROUP BY 1, 2""",
        campaign_id,
    )
    shifts_open: int = await conn.fetchval(
        """SELECT count(*) FROM campaign_shifts cs JOIN shifts s ON s.id = cs.shift_id
           WHERE cs.campaign_id = $1 AND s.status = 'aberto'""",
        campaign_id,
    )
    by_send: dict[str, int] = {}
    deferred: dict[str, int] = {}
    for row in sends:
        by_send[row["status"]] = by_send.get(row["status"], 0) + row["n"]
        if row["status"] == "deferred":
            deferred[row["reason"] or "?"] = row["n"]
    by_status = {r["status"]: r["n"] for r in targets}
    return Progress(
        campaign_id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        autonomous=campaign.autonomous,
        targets=sum(by_status.values()),
        by_status=by_status,
        sends_by_status=by_send,
        deferred_by_reason=deferred,
        shifts_open=shifts_open,
    )


# Follow-ups and reminders -------------------------------------------------------------------


async def schedule_reminder(
    conn: Executor,
    *,
    doctor_id: int,
    conversation_id: int,
    due_at: datetime,
    note: str,
) -> int:
    """A reminder the doctor asked for ("me chama segunda"); returns the followup id."""
    followup_id: int = await conn.fetchval(
        """
        INSERT INTO followups (doctor_id, conversation_id, kind, due_at, note, status)
        VALUES ($1, $2, 'lembrete', $3, $4, 'agendado')
        RETURNING id
        """,
        doctor_id,
        conversation_id,
        due_at,
        note,
    )
    return followup_id


async def schedule_step(
    conn: Executor,
    *,
    doctor_id: int,
    conversation_id: int,
    campaign_id: int | None,
    step: int,
    due_at: datetime,
) -> int | None:
    """A cadence step; a step already scheduled for the conversation and campaign is left
    alone."""
    followup_id: int | None = await conn.fetchval(
        """INSERT INTO followups (doctor_id, conversation_id, campaign_id, kind, step, due_at)
           VALUES ($1, $2, $3, 'cadencia', $4, $5)
           ON CONFLICT (conversation_id, (coalesce(campaign_id, 0)), step)
               WHERE kind = 'cadencia' DO NOTHING
           RETURNING id""",
        doctor_id,
        conversation_id,
        campaign_id,
        step,
        due_at,
    )
    return followup_id


@dataclass(frozen=True, slots=True)
class DueFollowup:
    id: int
    kind: str
    step: int | None
    doctor_id: int
    conversation_id: int
    campaign_id: int | None
    note: str | None
    phone: str
    name: str | None
    specialty: str | None
    city: str | None
    chip_id: int | None
    autonomous: bool  # a cadence step of an autonomous campaign (or of none)


async def claim_due_followups(
    conn: Conn, now: datetime, *, include_autonomous: bool, limit: int
) -> list[DueFollowup]:
    rows = await conn.fetch(
        """SELECT f.id, f.kind, f.step, f.doctor_id, f.conversation_id, f.campaign_id, f.note,
                  d.phone, d.name, sp.name AS specialty, d.city,
                  coalesce(c.chip_id, d.assigned_chip_id) AS chip_id,
                  f.kind = 'cadencia' AND coalesce(k.autonomous, true) AS autonomous
           FROM followups f JOIN doctors d ON d.id = f.doctor_id
                JOIN conversations c ON c.id = f.conversation_id
                LEFT JOIN campaigns k ON k.id = f.campaign_id
                LEFT JOIN specialties sp ON sp.id = d.specialty_id
           WHERE f.status = 'agendado' AND f.due_at <= $1 AND f.outbound_send_id IS NULL
             AND ($2 OR NOT (f.kind = 'cadencia' AND coalesce(k.autonomous, true)))
           ORDER BY f.due_at
           LIMIT $3
           FOR UPDATE OF f SKIP LOCKED""",
        now,
        include_autonomous,
        limit,
    )
    return [DueFollowup(**dict(r.items())) for r in rows]


async def attach_followup_send(conn: Executor, followup_id: int, send_id: int) -> None:
    await conn.execute(
        "UPDATE followups SET outbound_send_id = $2 WHERE id = $1", followup_id, send_id
    )


async def cancel_followup(conn: Executor, followup_id: int, reason: str) -> None:
    await conn.execute(
        """UPDATE followups SET status = 'cancelado', cancel_reason = $2
           WHERE id = $1 AND status = 'agendado'""",
        followup_id,
        reason,
    )


@dataclass(frozen=True, slots=True)
class FollowupOfSend:
    id: int
    kind: str
    step: int | None
    doctor_id: int
    conversation_id: int
    campaign_id: int | None


async def followup_of_send(conn: Executor, send_id: int) -> FollowupOfSend | None:
    row = await conn.fetchrow(
        """SELECT id, kind, step, doctor_id, conversation_id, campaign_id FROM followups
           WHERE outbound_send_id = $1""",
        send_id,
    )
    return FollowupOfSend(**dict(row.items())) if row else None


async def mark_followup_sent(conn: Executor, followup_id: int, at: datetime) -> None:
    await conn.execute(
        """UPDATE followups SET status = 'enviado', sent_at = $2
           WHERE id = $1 AND status = 'agendado'""",
        followup_id,
        at,
    )


async def opener_sent_at(
    conn: Executor, conversation_id: int, campaign_id: int | None
) -> datetime | None:
    """When the campaign's opener in this conversation went out (its cadence counts from
    it)."""
    at: datetime | None = await conn.fetchval(
        """SELECT max(sent_at) FROM outbound_sends
           WHERE conversation_id = $1 AND kind IN ('campaign', 'reactivation')
             AND status = 'sent' AND campaign_id IS NOT DISTINCT FROM $2""",
        conversation_id,
        campaign_id,
    )
    return at


# A doctor's answer, opt-out or handoff stops outreach ---------------------------------------


async def stop_for_doctor(conn: Executor, doctor_id: int, reason: str, *, at: datetime) -> None:
    """Stop every proactive thing waiting for the doctor: queued messages, the follow-up
    cadence (reminders the doctor asked for survive a reply) and campaign targets. One
    statement: every inbound message of a doctor runs it.

    `reason` is 'respondeu', 'opt_out' or 'handoff'."""
    await conn.execute(
        """WITH sends AS (
               UPDATE outbound_sends SET status = 'cancelled', reason = $2, decided_at = $3
               WHERE doctor_id = $1 AND proactive
                 AND (status = 'deferred' OR (status = 'pending' AND attempts = 0))),
           cadence AS (
               UPDATE followups SET status = 'cancelado', cancel_reason = $2
               WHERE doctor_id = $1 AND status = 'agendado'
                 AND (kind = 'cadencia' OR $2 <> 'respondeu'))
           UPDATE campaign_targets
              SET status = CASE WHEN $2 = 'respondeu' THEN 'respondeu' ELSE 'cancelado' END,
                  responded_at = CASE WHEN $2 = 'respondeu' THEN $3 ELSE responded_at END,
                  last_reason = CASE WHEN $2 = 'respondeu' THEN last_reason ELSE $2 END
            WHERE doctor_id = $1 AND status IN ('enviado', 'pendente', 'adiado')""",
        doctor_id,
        reason,
        at,
    )


# Opener templates (from Google Drive) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateVersion:
    """The Drive document version a stored template (or a refusal) was made from."""

    file_id: str
    modified_time: datetime | None
    reason: str | None = None  # why it was refused; None for a stored template


async def stored_templates(conn: Executor) -> dict[str, TemplateVersion]:
    """The stored template of each campaign kind, by kind."""
    rows = await conn.fetch("SELECT kind, file_id, modified_time FROM opener_templates")
    return {r["kind"]: TemplateVersion(r["file_id"], r["modified_time"]) for r in rows}


async def refused_templates(conn: Executor) -> dict[str, TemplateVersion]:
    """The refused documents, by Drive file id."""
    rows = await conn.fetch("SELECT file_id, modified_time, reason FROM opener_template_rejections")
    return {
        r["file_id"]: TemplateVersion(r["file_id"], r["modified_time"], r["reason"]) for r in rows
    }


async def store_template(
    conn: Executor,
    kind: str,
    *,
    file_id: str,
    file_name: str,
    body: str,
    modified_time: datetime | None,
) -> None:
    await conn.execute(
        """INSERT INTO opener_templates (kind, file_id, file_name, body, modified_time)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (kind) DO UPDATE
               SET file_id = EXCLUDED.file_id, file_name = EXCLUDED.file_name,
                   body = EXCLUDED.body, modified_time = EXCLUDED.modified_time,
                   synced_at = now()""",
        kind,
        file_id,
        file_name,
        body,
        modified_time,
    )


async def refuse_template(
    conn: Executor,
    kind: str,
    *,
    file_id: str,
    file_name: str,
    modified_time: datetime | None,
    reason: str,
) -> None:
    """Keep why a document was refused; the refusal's time moves only when something
    changed."""
    await conn.execute(
        """INSERT INTO opener_template_rejections
               (file_id, kind, file_name, modified_time, reason)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (file_id) DO UPDATE
               SET kind = EXCLUDED.kind, file_name = EXCLUDED.file_name,
                   modified_time = EXCLUDED.modified_time, reason = EXCLUDED.reason,
                   rejected_at = CASE
                       WHEN opener_template_rejections.reason = EXCLUDED.reason
                        AND opener_template_rejections.modified_time
                            IS NOT DISTINCT FROM EXCLUDED.modified_time
                       THEN opener_template_rejections.rejected_at
                       ELSE now() END""",
        file_id,
        kind,
        file_name,
        modified_time,
        reason,
    )


async def keep_refusals_of(conn: Executor, file_ids: list[str]) -> None:
    """Forget the refusals of every document but `file_ids`."""
    await conn.execute(
        "DELETE FROM opener_template_rejections WHERE NOT (file_id = ANY($1::text[]))",
        file_ids,
    )


async def delete_templates(conn: Executor, kinds: list[str]) -> None:
    await conn.execute("DELETE FROM opener_templates WHERE kind = ANY($1::text[])", kinds)


async def template_for(conn: Executor, kind: str) -> str | None:
    """The Drive template of campaign kind `kind`, or None (Julia writes her own opener)."""
    body: str | None = await conn.fetchval(
        "SELECT body FROM opener_templates WHERE kind = $1", kind
    )
    return body
