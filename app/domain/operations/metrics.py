"""Today's numbers for the operators: one local calendar day in TZ, read from the ledgers.

Each figure comes from the table that records the fact: messages (inbound), outbound_sends
(replies and outreach, with the gateway's reason), handoffs, turns (outcome, tokens, cost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.core.db import Executor
from app.domain.operations import metrics_repository as repository


@dataclass(frozen=True, slots=True)
class DailyMetrics:
    day: date
    tz: str
    conversations_active: int
    inbound_messages: int
    replies_sent: int
    outreach_sent: int
    # gateway reason -> rows (horario, cap_hora_chip, pausado, ...)
    outreach_deferred: dict[str, int] = field(default_factory=dict)
    outreach_blocked: dict[str, int] = field(default_factory=dict)
    handoffs_opened: int = 0
    turns_ok: int = 0
    turns_failed: int = 0
    llm_cost_usd: float = 0.0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    # media, next to the model's cost
    transcription_seconds: int = 0
    image_tokens: int = 0

    @property
    def cache_read_share(self) -> float | None:
        """Share of prompt tokens served from the cache; None before the first model call."""
        total = self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
        return self.cache_read_tokens / total if total else None

    @property
    def outreach_deferred_total(self) -> int:
        return sum(self.outreach_deferred.values())

    @property
    def outreach_blocked_total(self) -> int:
        return sum(self.outreach_blocked.values())


def day_bounds(tz: ZoneInfo, now: datetime) -> tuple[date, datetime, datetime]:
    """The local calendar day containing `now`, as [start, end) instants."""
    day = now.astimezone(tz).date()
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return day, start, end


async def daily_metrics(db: Executor, *, tz: ZoneInfo, now: datetime) -> DailyMetrics:
    """The numbers of the local day (in `tz`) that contains `now`."""
    day, start, end = day_bounds(tz, now)
    counts = await repository.day_counts(db, start, end)
    reasons = await repository.proactive_decisions(db, start, end)
    turns = await repository.turn_totals(db, start, end)
    return DailyMetrics(
        day=day,
        tz=tz.key,
        conversations_active=counts.conversations_active,
        inbound_messages=counts.inbound,
        replies_sent=counts.replies_sent,
        outreach_sent=counts.outreach_sent,
        outreach_deferred={r.reason: r.n for r in reasons if r.status == "deferred"},
        outreach_blocked={r.reason: r.n for r in reasons if r.status == "blocked"},
        handoffs_opened=counts.handoffs_opened,
        turns_ok=turns.ok,
        turns_failed=turns.failed,
        llm_cost_usd=float(turns.cost),
        input_tokens=int(turns.input_tokens),
        cache_read_tokens=int(turns.cache_read),
        cache_write_tokens=int(turns.cache_write),
        transcription_seconds=int(turns.transcription_seconds),
        image_tokens=int(turns.image_tokens),
    )


def _by_reason(counts: dict[str, int]) -> str:
    if not counts:
        return ""
    return " (" + ", ".join(f"{reason}: {n}" for reason, n in counts.items()) + ")"


def format_metrics(m: DailyMetrics) -> str:
    """The day's numbers as a short Portuguese report for Slack or the terminal."""
    share = m.cache_read_share
    cache = f"{share:.0%}" if share is not None else "sem chamadas"
    cost = f"US$ {m.llm_cost_usd:.2f}".replace(".", ",")
    audio = f"{m.transcription_seconds // 60}min{m.transcription_seconds % 60:02d}s"
    return "\n".join(
        [
            f"Métricas de hoje ({m.day:%d/%m/%Y}, {m.tz}):",
            f"• Conversas com atividade: {m.conversations_active}",
            f"• Mensagens recebidas: {m.inbound_messages}",
            f"• Respostas enviadas: {m.replies_sent}",
            f"• Prospecção enviada: {m.outreach_sent}",
            f"• Prospecção adiada: {m.outreach_deferred_total}{_by_reason(m.outreach_deferred)}",
            f"• Prospecção bloqueada: {m.outreach_blocked_total}{_by_reason(m.outreach_blocked)}",
            f"• Handoffs abertos: {m.handoffs_opened}",
            f"• Turnos: {m.turns_ok} ok, {m.turns_failed} com falha",
            f"• Custo do modelo: {cost}",
            f"• Leitura do cache de prompt: {cache}",
            f"• Áudio transcrito: {audio}; imagens lidas: {m.image_tokens} tokens",
        ]
    )
