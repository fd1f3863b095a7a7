"""Settings: every environment variable of the spec and the contract, typed and validated.

A bad value stops start-up with one line naming the variable (never its value, which may be
a secret). In production, what a run mode needs is required; elsewhere the embedded
defaults (Postgres, Valkey, sandbox outbox) fill in.
"""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    Field,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.errors import JuliaError

Environment = Literal["development", "test", "staging", "production"]
RunMode = Literal["api", "worker", "scheduler"]

APP_VERSION_DEFAULT = "1.0.0"

# What each run mode cannot do without in production. DATABASE_URL and REDIS_URL are
# needed by all three; the rest by the process that uses them.
REQUIRED_IN_PRODUCTION: dict[str, tuple[str, ...]] = {
    # SUPABASE_PROJECT_REF lets /health/deep catch a deploy pointed at the wrong project.
    "api": (
        "DATABASE_URL",
        "REDIS_URL",
        "EVOLUTION_WEBHOOK_SECRET",
        "JWT_SECRET_KEY",
        "SUPABASE_PROJECT_REF",
    ),
    "worker": (
        "DATABASE_URL",
        "REDIS_URL",
        "ANTHROPIC_API_KEY",
        "EVOLUTION_API_URL",
        "EVOLUTION_API_KEY",
    ),
    "scheduler": ("DATABASE_URL", "REDIS_URL"),
}


_WEEKDAYS = ("seg", "ter", "qua", "qui", "sex", "sab", "dom")


def parse_weekdays(text: str) -> frozenset[int]:
    """ "seg-sex" / "seg,qua,sex" / "sab-dom" -> weekday numbers (Monday = 0)."""
    days: set[int] = set()
    folded = text.strip().lower().replace("á", "a")
    for item in filter(None, (part.strip() for part in folded.split(","))):
        first, _, last = (piece.strip()[:3] for piece in item.partition("-"))
        if first not in _WEEKDAYS or (last and last not in _WEEKDAYS):
            raise ValueError("must list weekdays like seg-sex or seg,qua,sex")
        start, end = _WEEKDAYS.index(first), _WEEKDAYS.index(last or first)
        if end < start:
            raise ValueError("a range of weekdays must go forward, like seg-sex")
        days.update(range(start, end + 1))
    if not days:
        raise ValueError("must name at least one weekday, like seg-sex")
    return frozenset(days)


class ConfigError(JuliaError):
    """A setting is missing or invalid. The message names variables, never values."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _check_dsn(value: SecretStr | None, schemes: tuple[str, ...]) -> SecretStr | None:
    if value is None or not value.get_secret_value().strip():
        return None
    parts = urlsplit(value.get_secret_value())
    if parts.scheme not in schemes:
        raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value


class Settings(BaseSettings):
    """All configuration, read from the environment (and `.env` if present)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=True,
        hide_input_in_errors=True,
        # An empty variable (JWT_SECRET_KEY=) is unset, not an empty secret.
        env_ignore_empty=True,
    )

    # App
    APP_NAME: str = "Agente Julia"
    ENVIRONMENT: Environment | None = None
    APP_ENV: Environment | None = None
    DEBUG: bool = False
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    TZ: str = "America/Sao_Paulo"
    RUN_MODE: RunMode | None = None
    PORT: int = Field(default=8000, ge=1, le=65535)

    # Security
    JWT_SECRET_KEY: SecretStr | None = None
    CORS_ORIGINS: Annotated[list[AnyHttpUrl], NoDecode] = Field(default_factory=list)

    # Store and queue
    DATABASE_URL: SecretStr | None = None
    REDIS_URL: SecretStr | None = None
    SUPABASE_URL: AnyHttpUrl | None = None
    SUPABASE_SERVICE_KEY: SecretStr | None = None
    SUPABASE_PROJECT_REF: str | None = None

    # Anthropic
    ANTHROPIC_API_KEY: SecretStr | None = None
    ANTHROPIC_BASE_URL: AnyHttpUrl | None = None
    LLM_MODEL: str = "claude-haiku-4-5"
    LLM_MODEL_COMPLEX: str = "claude-sonnet-4-6"

    # Voyage AI
    VOYAGE_API_KEY: SecretStr | None = None
    VOYAGE_MODEL: str = "voyage-3.5-lite"
    VOYAGE_BASE_URL: AnyHttpUrl | None = None

    # Evolution API
    EVOLUTION_API_URL: AnyHttpUrl | None = None
    EVOLUTION_API_KEY: SecretStr | None = None
    EVOLUTION_INSTANCE: str = "Revoluna"
    EVOLUTION_WEBHOOK_SECRET: SecretStr | None = None
    # Evolution signs one JWT per delivery (exp = iat + 600 s) and reuses it for every retry:
    # a signed token is accepted while its iat is this recent, past its exp.
    EVOLUTION_WEBHOOK_JWT_MAX_AGE_SECONDS: int = Field(default=3600, ge=600, le=86400)
    MULTI_CHIP_ENABLED: bool = False

    # Chatwoot
    CHATWOOT_URL: AnyHttpUrl | None = None
    CHATWOOT_API_KEY: SecretStr | None = None
    CHATWOOT_ACCOUNT_ID: PositiveInt | None = None
    CHATWOOT_INBOX_ID: PositiveInt | None = None
    CHATWOOT_WEBHOOK_SECRET: SecretStr | None = None
    # Where an operator opens a doctor's record; the Chatwoot contact links to
    # `{DASHBOARD_URL}/medicos/{doctor_id}` (no link when unset).
    DASHBOARD_URL: AnyHttpUrl | None = None
    # A mirror job that finds Chatwoot down tries again after this many seconds (growing
    # with each try); the scheduler's `espelhar_chatwoot` picks up whatever is still left.
    CHATWOOT_RETRY_SECONDS: float = Field(default=10.0, gt=0, le=600)
    # Chatwoot does not retry webhooks: `reconciliar_chatwoot` reads the agent messages of
    # the conversations that moved in this window and relays any the webhook missed.
    CHATWOOT_RECONCILE_MINUTES: PositiveInt = 30

    # Slack
    SLACK_WEBHOOK_URL: SecretStr | None = None
    SLACK_CHANNEL: str = "#julia-gestao"
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_SIGNING_SECRET: SecretStr | None = None
    # Slack user ids allowed to pausar/retomar (empty = everyone in the channel)
    SLACK_ALLOWED_USER_IDS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Web API base URL override (tests, proxies); default Slack's own
    SLACK_API_BASE_URL: AnyHttpUrl | None = None

    # Google Drive
    GOOGLE_APPLICATION_CREDENTIALS: Path | None = None
    GOOGLE_BRIEFINGS_FOLDER_ID: str | None = None
    GOOGLE_TEMPLATES_FOLDER_ID: str | None = None
    # Drive v3 base URL override (tests, proxies); default Google's own,
    # https://www.googleapis.com/drive/v3/ (the client keeps the path as given)
    GOOGLE_DRIVE_API_URL: AnyHttpUrl | None = None

    # Rate limiting and business hours
    MAX_MSGS_POR_HORA: PositiveInt = 20
    MAX_MSGS_POR_DIA: PositiveInt = 100
    HORARIO_INICIO: time = time(8, 0)
    HORARIO_FIM: time = time(20, 0)
    PILOT_MODE: bool = False
    # Weekdays open for proactive messages: "seg-sex" (default), "seg,qua,sex", "seg-sab".
    DIAS_ENVIO: Annotated[frozenset[int], NoDecode] = frozenset(range(5))
    # Per doctor: at most one proactive message per MEDICO_INTERVALO_HORAS, and
    # MEDICO_MAX_POR_SEMANA in any 7 days (opener + follow-ups).
    MEDICO_INTERVALO_HORAS: PositiveInt = 48
    MEDICO_MAX_POR_SEMANA: PositiveInt = 3
    # A young number (chips.warmup_started_at) starts low and reaches the full caps after
    # CHIP_AQUECIMENTO_DIAS; a chip whose sends fail CHIP_FALHAS_PARA_PAUSA times in a row
    # rests for CHIP_PAUSA_MINUTOS.
    CHIP_AQUECIMENTO_DIAS: int = Field(default=28, ge=0, le=365)
    CHIP_FALHAS_PARA_PAUSA: PositiveInt = 3
    CHIP_PAUSA_MINUTOS: PositiveInt = 30

    # Company
    NOME_EMPRESA: str = "Revoluna"
    # The manager's WhatsApp (digits with country code): short notices of handoffs and of
    # reservations nobody confirmed in time. Never a doctor's number.
    GESTOR_WHATSAPP: str | None = None

    # Reservations: one still pending after RESERVA_REANUNCIO_HORAS is announced again in
    # Slack; after RESERVA_JANELA_HORAS it is released and the doctor is told.
    RESERVA_REANUNCIO_HORAS: float = Field(default=2.0, gt=0, le=168)
    RESERVA_JANELA_HORAS: float = Field(default=12.0, gt=0, le=336)

    # Conversation timing
    INBOUND_DEBOUNCE_SECONDS: float = Field(default=4.0, ge=0, le=120)
    HUMAN_DELAY_SCALE: float = Field(default=1.0, ge=0, le=10)

    # LLM resilience: the SDK retries with backoff; the breaker (shared through Redis) opens
    # after LLM_CIRCUIT_THRESHOLD failed calls within the cool-down window.
    LLM_TIMEOUT_SECONDS: float = Field(default=60.0, gt=0, le=600)
    LLM_MAX_RETRIES: int = Field(default=2, ge=0, le=10)
    LLM_CIRCUIT_THRESHOLD: PositiveInt = 3
    LLM_CIRCUIT_COOLDOWN_SECONDS: PositiveInt = 60

    # Turn safety: the per-conversation lock's lease, and when the sweep re-enqueues a message
    # nobody answered (killed worker, lost job).
    TURN_LOCK_SECONDS: PositiveInt = 30
    SWEEP_AFTER_SECONDS: PositiveInt = 45

    # The Evolution inbox: the edge stores each delivery (bodies up to
    # EVOLUTION_WEBHOOK_MAX_BYTES, base64 media included; over it 422, which Evolution does
    # not retry) and wakes the worker, which drains the stored rows in batches of
    # INBOX_BATCH_SIZE and also polls every INBOX_POLL_SECONDS. The scheduler's sweep drains
    # rows left `received` longer than INBOX_STALE_SECONDS. The edge's list of known
    # instances is at most INSTANCE_CACHE_SECONDS old.
    EVOLUTION_WEBHOOK_MAX_BYTES: int = Field(default=16_000_000, ge=100_000, le=100_000_000)
    INBOX_BATCH_SIZE: int = Field(default=100, ge=1, le=1000)
    INBOX_POLL_SECONDS: float = Field(default=2.0, gt=0, le=60)
    INBOX_STALE_SECONDS: PositiveInt = 5
    INSTANCE_CACHE_SECONDS: float = Field(default=5.0, gt=0, le=300)

    # The emergency stop: every worker reads julia_status this often to notice a resume
    # written by the runbook's SQL (a pause needs no polling: every send re-reads it).
    JULIA_STATUS_POLL_SECONDS: float = Field(default=2.0, gt=0, le=60)

    # Retention (the scheduler's `limpar_retencao` job): finished inbox rows and job runs
    # older than these windows are deleted. At least a day, so a late Evolution retry (its
    # backoff spans about 25 minutes) still finds its dedup key.
    WEBHOOK_RETENTION_DAYS: int = Field(default=30, ge=1, le=3650)
    JOB_RUNS_RETENTION_DAYS: int = Field(default=30, ge=1, le=3650)

    # Media (voice notes, photos, PDFs), fetched and kept by the worker. Voice notes are
    # transcribed by an OpenAI-compatible endpoint (`POST {TRANSCRIPTION_API_URL}/audio/
    # transcriptions`: OpenAI, Groq, a self-hosted Whisper server); without it Julia asks for
    # a text. Files over the caps are refused (logged `media.refused`). A turn waits at most
    # MEDIA_WAIT_SECONDS for its media. The edge keeps a delivery's inline base64 in Redis for
    # MEDIA_INLINE_TTL_SECONDS for the worker. Files go to Supabase Storage (private bucket
    # SUPABASE_STORAGE_BUCKET) when SUPABASE_URL and SUPABASE_SERVICE_KEY are set, else under
    # JULIA_DATA_DIR/media; the dashboard's signed links last MEDIA_SIGNED_URL_SECONDS.
    TRANSCRIPTION_API_URL: AnyHttpUrl | None = None
    TRANSCRIPTION_API_KEY: SecretStr | None = None
    TRANSCRIPTION_MODEL: str = "whisper-1"
    TRANSCRIPTION_LANGUAGE: str = "pt"
    TRANSCRIPTION_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0, le=300)
    MEDIA_MAX_AUDIO_BYTES: int = Field(default=16_000_000, ge=10_000, le=100_000_000)
    MEDIA_MAX_IMAGE_BYTES: int = Field(default=5_000_000, ge=10_000, le=100_000_000)
    MEDIA_MAX_DOCUMENT_BYTES: int = Field(default=10_000_000, ge=10_000, le=100_000_000)
    MEDIA_WAIT_SECONDS: float = Field(default=30.0, ge=0, le=300)
    MEDIA_INLINE_TTL_SECONDS: int = Field(default=3600, ge=60, le=86400)
    SUPABASE_STORAGE_BUCKET: str = Field(default="julia-media", min_length=3, max_length=63)
    MEDIA_SIGNED_URL_SECONDS: int = Field(default=3600, ge=60, le=604800)

    # Alerts (the scheduler's `alertas` job): the failure rate of each kind of work (turns,
    # sends, webhooks answered, scheduled jobs) over the window, alerted only with a minimum
    # volume of that kind (and at least two failures); due jobs piling up in the queue; a
    # doctor message unanswered. docs/operations.md explains the choice of 30 min and 10.
    ALERT_ERROR_RATE: float = Field(default=0.05, gt=0, lt=1)
    ALERT_MIN_VOLUME: PositiveInt = 10
    ALERT_WINDOW_MINUTES: PositiveInt = 30
    ALERT_QUEUE_BACKLOG: PositiveInt = 50
    ALERT_WAITING_MINUTES: PositiveInt = 5

    # Sends that hiccup (app/domain/outbound/gateway.py): Evolution's answer is awaited
    # EVOLUTION_TIMEOUT_SECONDS (after that the outcome is unknown: never resent, a person is
    # told). A send that surely did not leave (refused, 5xx, "Connection Closed") is retried
    # after SEND_RETRY_FIRST_SECONDS, doubling up to SEND_RETRY_MAX_SECONDS; a reply still
    # not out REPLY_FRESH_SECONDS after it was planned goes to a person instead.
    EVOLUTION_TIMEOUT_SECONDS: float = Field(default=15.0, gt=0, le=120)
    SEND_RETRY_FIRST_SECONDS: float = Field(default=5.0, gt=0, le=600)
    SEND_RETRY_MAX_SECONDS: float = Field(default=60.0, gt=0, le=3600)
    REPLY_FRESH_SECONDS: float = Field(default=600.0, gt=0, le=86400)

    # Processes
    HEARTBEAT_SECONDS: PositiveInt = 10
    # The worker and the scheduler outlive a Redis or Postgres outage: they retry with a
    # backoff that doubles up to this many seconds, for as long as the outage lasts.
    RECONNECT_MAX_SECONDS: float = Field(default=10.0, gt=0, le=300)

    # The watchdog of every process (app/domain/operations/watchdog.py): every
    # WATCHDOG_SECONDS it probes Postgres and Redis, beats, and reads its peers' beats and
    # the backlog; a condition bad for ALARM_AFTER_SECONDS posts one Slack alarm. A peer is
    # gone after PROCESS_GONE_SECONDS without a beat; the worker is not consuming when a due
    # job or a stored delivery waits longer than ALARM_BACKLOG_SECONDS. API_HEALTH_URL, when
    # set, is probed by the worker and the scheduler. Off by default only in tests.
    WATCHDOG_ENABLED: bool | None = None
    WATCHDOG_SECONDS: float = Field(default=15.0, gt=0, le=300)
    ALARM_AFTER_SECONDS: float = Field(default=30.0, ge=0, le=3600)
    PROCESS_GONE_SECONDS: float = Field(default=45.0, gt=0, le=3600)
    ALARM_BACKLOG_SECONDS: float = Field(default=90.0, gt=0, le=3600)
    API_HEALTH_URL: AnyHttpUrl | None = None
    SCHEDULER_LEASE_SECONDS: PositiveInt = 15
    JULIA_DATA_DIR: Path = Path(".julia")

    # Build information, shown by the health endpoints
    APP_VERSION: str = APP_VERSION_DEFAULT
    GIT_SHA: str | None = None
    RAILWAY_GIT_COMMIT_SHA: str | None = None
    BUILD_TIME: str | None = None

    _split_cors = field_validator("CORS_ORIGINS", mode="before")(_split_csv)
    _split_slack_users = field_validator("SLACK_ALLOWED_USER_IDS", mode="before")(_split_csv)

    @field_validator("DIAS_ENVIO", mode="before")
    @classmethod
    def _valid_days(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_weekdays(value)
        return value

    @field_validator("TZ")
    @classmethod
    def _valid_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("must be an IANA time zone such as America/Sao_Paulo") from exc
        return value

    @field_validator("HORARIO_INICIO", "HORARIO_FIM", mode="before")
    @classmethod
    def _valid_hhmm(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?", value.strip()):
                raise ValueError("must be a time of day as HH:MM (00:00 to 23:59)")
            return value.strip()
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _valid_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_dsn(value, ("postgres", "postgresql"))

    @field_validator("REDIS_URL")
    @classmethod
    def _valid_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_dsn(value, ("redis", "rediss", "unix"))

    @field_validator("SLACK_WEBHOOK_URL")
    @classmethod
    def _valid_slack_webhook(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_dsn(value, ("https", "http"))

    @field_validator("GESTOR_WHATSAPP")
    @classmethod
    def _valid_phone(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        digits = re.sub(r"\D", "", value)
        if not 10 <= len(digits) <= 15:
            raise ValueError("must be a phone number with country code, e.g. 5511999999999")
        return digits

    @model_validator(mode="after")
    def _business_hours(self) -> Settings:
        if self.HORARIO_INICIO >= self.HORARIO_FIM:
            raise ValueError("HORARIO_INICIO must be earlier than HORARIO_FIM")
        return self

    @model_validator(mode="after")
    def _reservation_windows(self) -> Settings:
        if self.RESERVA_REANUNCIO_HORAS >= self.RESERVA_JANELA_HORAS:
            raise ValueError("RESERVA_REANUNCIO_HORAS must be shorter than RESERVA_JANELA_HORAS")
        return self

    # Derived values -------------------------------------------------------------

    @property
    def environment(self) -> Environment:
        """ENVIRONMENT wins; APP_ENV (the spec sets both) is the fallback."""
        return self.ENVIRONMENT or self.APP_ENV or "development"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.TZ)

    @property
    def chatwoot_configured(self) -> bool:
        """Julia mirrors into Chatwoot only with all four of its settings."""
        return None not in (
            self.CHATWOOT_URL,
            self.CHATWOOT_API_KEY,
            self.CHATWOOT_ACCOUNT_ID,
            self.CHATWOOT_INBOX_ID,
        )

    @property
    def git_sha(self) -> str | None:
        return self.GIT_SHA or self.RAILWAY_GIT_COMMIT_SHA

    @property
    def database_dsn(self) -> str:
        if self.DATABASE_URL is None:
            raise ConfigError("DATABASE_URL is not set and no embedded Postgres was started")
        return self.DATABASE_URL.get_secret_value()

    @property
    def redis_dsn(self) -> str:
        if self.REDIS_URL is None:
            raise ConfigError("REDIS_URL is not set and no embedded Valkey was started")
        return self.REDIS_URL.get_secret_value()

    @property
    def watchdog_on(self) -> bool:
        if self.WATCHDOG_ENABLED is not None:
            return self.WATCHDOG_ENABLED
        return self.environment != "test"

    @property
    def can_alert(self) -> bool:
        """Is there a way to reach the managers' Slack channel?"""
        return self.SLACK_WEBHOOK_URL is not None or (
            self.SLACK_BOT_TOKEN is not None and bool(self.SLACK_CHANNEL)
        )

    @property
    def sandbox_outbox(self) -> bool:
        """Outside production without Evolution, WhatsApp goes to a local outbox."""
        return self.EVOLUTION_API_URL is None and not self.is_production

    def require_for(self, mode: RunMode) -> None:
        """In production, fail fast when a setting the mode needs is missing."""
        if not self.is_production:
            return
        missing = [name for name in REQUIRED_IN_PRODUCTION[mode] if getattr(self, name) is None]
        if missing:
            raise ConfigError(
                f"Missing required setting(s) for RUN_MODE={mode} in production: "
                + ", ".join(missing)
            )
        # Every alarm goes to Slack: without a way there, an outage would go unheard.
        if not self.can_alert:
            raise ConfigError(
                f"No way to alert for RUN_MODE={mode} in production: set SLACK_WEBHOOK_URL, "
                "or SLACK_BOT_TOKEN and SLACK_CHANNEL"
            )


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        name = ".".join(str(p) for p in item["loc"]) or "settings"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{name}: {message}")
    return "Invalid configuration: " + "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings, turning validation errors into one safe line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
