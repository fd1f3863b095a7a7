"""Vendor clients chosen from settings and handed to the domain (DESIGN rules 9 and 10)."""

from __future__ import annotations

from app.core.circuit import CircuitBreaker
from app.core.resources import Resources
from app.domain.agent.turn import TurnServices
from app.domain.outbound.gateway import Gateway
from app.domain.outbound.limiter import Limiter
from app.domain.outbound.status import StatusReader
from app.integrations.anthropic_llm import AnthropicLLM
from app.integrations.evolution import EvolutionSender, SandboxSender
from app.integrations.protocols import LLM, Embedder, MessageSender, Notifier
from app.integrations.slack import SlackWebhookNotifier
from app.integrations.voyage import VoyageEmbedder
from app.workers.jobs import requeue


def llm_breaker(res: Resources) -> CircuitBreaker:
    settings = res.settings
    return CircuitBreaker(
        res.redis,
        "anthropic",
        threshold=settings.LLM_CIRCUIT_THRESHOLD,
        cooldown_s=settings.LLM_CIRCUIT_COOLDOWN_SECONDS,
    )


def sender(res: Resources) -> MessageSender:
    settings = res.settings
    if settings.EVOLUTION_API_URL is None:
        # Only reachable outside production: there EVOLUTION_API_URL is required.
        return SandboxSender(res.redis)
    api_key = settings.EVOLUTION_API_KEY.get_secret_value() if settings.EVOLUTION_API_KEY else ""
    return EvolutionSender(res.http, str(settings.EVOLUTION_API_URL), api_key)


def notifier(res: Resources) -> Notifier | None:
    url = res.settings.SLACK_WEBHOOK_URL
    return SlackWebhookNotifier(url.get_secret_value(), res.settings.SLACK_CHANNEL) if url else None


def gateway(res: Resources, status: StatusReader | None = None) -> Gateway:
    return Gateway(
        db=res.db,
        sender=sender(res),
        status=status or StatusReader(res.db),
        settings=res.settings,
        limiter=Limiter(res.redis, res.db),
    )


def turn_services(res: Resources) -> TurnServices:
    settings = res.settings
    breaker = llm_breaker(res)
    llm: LLM | None = None
    if settings.ANTHROPIC_API_KEY is not None:
        llm = AnthropicLLM(
            api_key=settings.ANTHROPIC_API_KEY.get_secret_value(),
            base_url=str(settings.ANTHROPIC_BASE_URL).rstrip("/")
            if settings.ANTHROPIC_BASE_URL
            else None,
            timeout_s=settings.LLM_TIMEOUT_SECONDS,
            max_retries=settings.LLM_MAX_RETRIES,
            breaker=breaker,
        )
    embedder: Embedder | None = None
    if settings.VOYAGE_API_KEY is not None:
        embedder = VoyageEmbedder(
            settings.VOYAGE_API_KEY.get_secret_value(),
            model=settings.VOYAGE_MODEL,
            base_url=str(settings.VOYAGE_BASE_URL).rstrip("/")
            if settings.VOYAGE_BASE_URL
            else None,
        )
    status = StatusReader(res.db)
    return TurnServices(
        settings=settings,
        db=res.db,
        redis=res.redis,
        gateway=gateway(res, status),
        status=status,
        llm=llm,
        breaker=breaker,
        embedder=embedder,
        notifier=notifier(res),
        enqueue=requeue(res.redis, settings),
    )
