"""The one place where long-lived resources are built (DESIGN rule 10).

The API lifespan, the worker's start-up hook and the scheduler all call `open_resources`;
nothing is opened at import time. The vendor clients hang off `Resources`, typed by the
protocols the domain uses (DESIGN rule 9); each is built from settings on first use, once
per `Resources`, and is None when its settings are absent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import asyncpg
import httpx
from arq.connections import ArqRedis

from app.core import db, redis
from app.core.circuit import CircuitBreaker
from app.core.config import Settings
from app.core.logging import get_logger
from app.integrations.protocols import (
    LLM,
    Chatwoot,
    DocumentFolder,
    Embedder,
    EvolutionChatwootProbe,
    MediaSource,
    MediaStore,
    MessageSender,
    Notifier,
    SlackReplier,
    Transcriber,
)

if TYPE_CHECKING:
    from app.integrations.slack import SlackBot

log = get_logger(__name__)


# The vendor modules are imported where the client is built: their SDKs cost the API (which
# uses few of them) up to seconds of start-up, and an unconfigured vendor costs nothing.
@dataclass
class Resources:
    settings: Settings
    db: asyncpg.Pool
    redis: ArqRedis
    http: httpx.AsyncClient

    @cached_property
    def sender(self) -> MessageSender:
        """WhatsApp through Evolution; without EVOLUTION_API_URL (never in production, where
        it is required) the sandbox outbox that `julia chat` reads."""
        from app.integrations.evolution import EvolutionSender, SandboxSender

        settings = self.settings
        if settings.EVOLUTION_API_URL is None:
            return SandboxSender(self.redis)
        key = settings.EVOLUTION_API_KEY
        api_key = key.get_secret_value() if key else ""
        return EvolutionSender(
            self.http,
            str(settings.EVOLUTION_API_URL),
            api_key,
            timeout_s=settings.EVOLUTION_TIMEOUT_SECONDS,
        )

    @cached_property
    def breaker(self) -> CircuitBreaker:
        """The Anthropic circuit; its state is in Redis, shared by every process."""
        return CircuitBreaker(
            self.redis,
            "anthropic",
            threshold=self.settings.LLM_CIRCUIT_THRESHOLD,
            cooldown_s=self.settings.LLM_CIRCUIT_COOLDOWN_SECONDS,
        )

    @cached_property
    def llm(self) -> LLM | None:
        """Claude behind `breaker`; None without ANTHROPIC_API_KEY."""
        settings = self.settings
        if settings.ANTHROPIC_API_KEY is None:
            return None
        from app.integrations.anthropic_llm import AnthropicLLM

        base_url = settings.ANTHROPIC_BASE_URL
        return AnthropicLLM(
            api_key=settings.ANTHROPIC_API_KEY.get_secret_value(),
            base_url=str(base_url).rstrip("/") if base_url else None,
            timeout_s=settings.LLM_TIMEOUT_SECONDS,
            max_retries=settings.LLM_MAX_RETRIES,
            breaker=self.breaker,
        )

    @cached_property
    def embedder(self) -> Embedder | None:
        """Voyage embeddings; None without VOYAGE_API_KEY."""
        settings = self.settings
        if settings.VOYAGE_API_KEY is None:
            return None
        from app.integrations.voyage import VoyageEmbedder

        base_url = settings.VOYAGE_BASE_URL
        return VoyageEmbedder(
            settings.VOYAGE_API_KEY.get_secret_value(),
            model=settings.VOYAGE_MODEL,
            base_url=str(base_url).rstrip("/") if base_url else None,
        )

    @cached_property
    def notifier(self) -> Notifier | None:
        """The managers' Slack channel: SLACK_WEBHOOK_URL's incoming webhook, else the bot
        (SLACK_BOT_TOKEN) posting to SLACK_CHANNEL; None without either."""
        url = self.settings.SLACK_WEBHOOK_URL
        if url is not None:
            from app.integrations.slack import SlackWebhookNotifier

            return SlackWebhookNotifier(url.get_secret_value(), self.settings.SLACK_CHANNEL)
        bot = self._slack_bot
        if bot is None:
            return None
        from app.integrations.slack import SlackChannelNotifier

        return SlackChannelNotifier(bot, self.settings.SLACK_CHANNEL)

    @cached_property
    def slack(self) -> SlackReplier | None:
        """The Slack bot that answers operator commands; None without SLACK_BOT_TOKEN."""
        return self._slack_bot

    @cached_property
    def _slack_bot(self) -> SlackBot | None:
        token = self.settings.SLACK_BOT_TOKEN
        if token is None:
            return None
        from app.integrations.slack import SlackBot

        base_url = self.settings.SLACK_API_BASE_URL
        return SlackBot(token.get_secret_value(), base_url=str(base_url) if base_url else None)

    @cached_property
    def drive(self) -> DocumentFolder | None:
        """Google Drive (read-only), where the opener templates live; None without
        GOOGLE_APPLICATION_CREDENTIALS."""
        settings = self.settings
        if settings.GOOGLE_APPLICATION_CREDENTIALS is None:
            return None
        # The Google client libraries add ~0.15 s to the import alone.
        from app.integrations.google_drive import GoogleDrive

        api_url = settings.GOOGLE_DRIVE_API_URL
        return GoogleDrive(
            settings.GOOGLE_APPLICATION_CREDENTIALS, api_url=str(api_url) if api_url else None
        )

    @cached_property
    def chatwoot(self) -> Chatwoot | None:
        """Chatwoot's Application API; None unless CHATWOOT_URL, CHATWOOT_API_KEY,
        CHATWOOT_ACCOUNT_ID and CHATWOOT_INBOX_ID are all set."""
        settings = self.settings
        if not settings.chatwoot_configured:
            return None
        from app.integrations.chatwoot import ChatwootClient

        assert settings.CHATWOOT_API_KEY is not None
        assert settings.CHATWOOT_ACCOUNT_ID is not None and settings.CHATWOOT_INBOX_ID is not None
        return ChatwootClient(
            self.http,
            base_url=str(settings.CHATWOOT_URL),
            api_key=settings.CHATWOOT_API_KEY.get_secret_value(),
            account_id=settings.CHATWOOT_ACCOUNT_ID,
            inbox_id=settings.CHATWOOT_INBOX_ID,
        )

    @cached_property
    def evolution_chatwoot(self) -> EvolutionChatwootProbe | None:
        """Asks Evolution whether its own Chatwoot integration is on; None without
        EVOLUTION_API_URL."""
        settings = self.settings
        if settings.EVOLUTION_API_URL is None:
            return None
        from app.integrations.evolution import EvolutionChatwootFinder

        key = settings.EVOLUTION_API_KEY
        return EvolutionChatwootFinder(
            self.http, str(settings.EVOLUTION_API_URL), key.get_secret_value() if key else ""
        )

    @cached_property
    def media_source(self) -> MediaSource | None:
        """Attachments fetched from Evolution; None without EVOLUTION_API_URL."""
        settings = self.settings
        if settings.EVOLUTION_API_URL is None:
            return None
        from app.integrations.evolution import EvolutionMediaSource

        key = settings.EVOLUTION_API_KEY
        return EvolutionMediaSource(
            self.http, str(settings.EVOLUTION_API_URL), key.get_secret_value() if key else ""
        )

    @cached_property
    def media_store(self) -> MediaStore:
        """Supabase Storage when SUPABASE_URL and SUPABASE_SERVICE_KEY are set, else the
        folder JULIA_DATA_DIR/media."""
        settings = self.settings
        if settings.SUPABASE_URL is not None and settings.SUPABASE_SERVICE_KEY is not None:
            from app.integrations.media_store import SupabaseMediaStore

            return SupabaseMediaStore(
                str(settings.SUPABASE_URL),
                settings.SUPABASE_SERVICE_KEY.get_secret_value(),
                settings.SUPABASE_STORAGE_BUCKET,
            )
        from app.integrations.media_store import LocalMediaStore

        return LocalMediaStore(settings.JULIA_DATA_DIR.resolve() / "media")

    @cached_property
    def transcriber(self) -> Transcriber | None:
        """Speech to text (OpenAI-compatible); None without TRANSCRIPTION_API_URL."""
        settings = self.settings
        if settings.TRANSCRIPTION_API_URL is None:
            return None
        from app.integrations.transcription import OpenAICompatibleTranscriber

        key = settings.TRANSCRIPTION_API_KEY
        return OpenAICompatibleTranscriber(
            self.http,
            str(settings.TRANSCRIPTION_API_URL),
            api_key=key.get_secret_value() if key else None,
            model=settings.TRANSCRIPTION_MODEL,
            language=settings.TRANSCRIPTION_LANGUAGE or None,
            timeout_s=settings.TRANSCRIPTION_TIMEOUT_SECONDS,
        )

    async def _close_vendors(self) -> None:
        # Only what was built: reading the property would build it now.
        drive = self.__dict__.get("drive")
        if drive is not None:
            await drive.aclose()
        store = self.__dict__.get("media_store")
        if store is not None:
            await store.aclose()


def build_notifier(settings: Settings) -> Notifier | None:
    """The managers' Slack channel as `Resources.notifier` builds it (the incoming webhook,
    else the bot posting to SLACK_CHANNEL; None without either), from settings alone: the
    watchdogs alarm with it while Postgres and Redis are down."""
    from app.integrations.slack import SlackBot, SlackChannelNotifier, SlackWebhookNotifier

    url = settings.SLACK_WEBHOOK_URL
    if url is not None:
        return SlackWebhookNotifier(url.get_secret_value(), settings.SLACK_CHANNEL)
    token = settings.SLACK_BOT_TOKEN
    if token is None or not settings.SLACK_CHANNEL:
        return None
    base_url = settings.SLACK_API_BASE_URL
    bot = SlackBot(token.get_secret_value(), base_url=str(base_url) if base_url else None)
    return SlackChannelNotifier(bot, settings.SLACK_CHANNEL)


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Open the pool, Redis and the shared HTTP client; close them (and the vendor clients
    that were built) in reverse order.

    `settings` must already carry DATABASE_URL and REDIS_URL (see `embedded_defaults`).
    """
    async with AsyncExitStack() as stack:
        pool = await db.create_pool(settings.database_dsn)
        stack.push_async_callback(pool.close)
        client = await redis.connect(settings.redis_dsn)
        stack.push_async_callback(client.aclose)
        http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0))
        stack.push_async_callback(http.aclose)
        res = Resources(settings=settings, db=pool, redis=client, http=http)
        stack.push_async_callback(res._close_vendors)
        log.debug("resources.opened")
        yield res
