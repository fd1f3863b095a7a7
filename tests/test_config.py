"""Settings: typed, validated, and a bad value names the variable without leaking secrets."""

from __future__ import annotations

from datetime import time

import pytest

from app.core.config import ConfigError, load_settings

SECRET = "sk-ant-api03-very-secret-value"


def test_defaults_outside_production_need_no_services() -> None:
    settings = load_settings(ENVIRONMENT="development")
    assert settings.DATABASE_URL is None and settings.REDIS_URL is None
    assert time(8) == settings.HORARIO_INICIO and time(20) == settings.HORARIO_FIM
    assert settings.MAX_MSGS_POR_HORA == 20 and settings.MAX_MSGS_POR_DIA == 100
    assert settings.sandbox_outbox
    settings.require_for("worker")  # nothing is required outside production


def test_app_env_is_the_fallback_for_environment() -> None:
    assert load_settings(APP_ENV="production").is_production
    assert load_settings(ENVIRONMENT="staging", APP_ENV="production").environment == "staging"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("HORARIO_INICIO", "25:00", "HH:MM"),
        ("HORARIO_FIM", "8h", "HH:MM"),
        ("MAX_MSGS_POR_HORA", "-1", "greater than 0"),
        ("MAX_MSGS_POR_DIA", "0", "greater than 0"),
        ("PORT", "70000", "less than or equal"),
        ("TZ", "Mars/Olympus", "IANA"),
        ("RUN_MODE", "web", "'api', 'worker' or 'scheduler'"),
        ("CORS_ORIGINS", "not a url", "URL"),
        ("GESTOR_WHATSAPP", "12", "phone"),
        ("PILOT_MODE", "talvez", "boolean"),
        ("RESERVA_JANELA_HORAS", "0", "greater than 0"),
        ("RESERVA_REANUNCIO_HORAS", "duas", "number"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert name in message and says in message
    assert "\n" not in message


def test_secrets_never_appear_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"mysql://admin:{SECRET}@db.example.com/x")
    monkeypatch.setenv("REDIS_URL", f"http://:{SECRET}@redis")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"ftp://{SECRET}")
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert "DATABASE_URL" in message and "REDIS_URL" in message
    assert "SLACK_WEBHOOK_URL" in message
    assert SECRET not in message


def test_business_hours_must_be_ordered() -> None:
    with pytest.raises(ConfigError, match="HORARIO_INICIO must be earlier than HORARIO_FIM"):
        load_settings(HORARIO_INICIO="20:00", HORARIO_FIM="08:00")


def test_a_reservation_is_reannounced_before_it_is_released() -> None:
    with pytest.raises(ConfigError, match="RESERVA_REANUNCIO_HORAS must be shorter"):
        load_settings(RESERVA_REANUNCIO_HORAS=12, RESERVA_JANELA_HORAS=12)
    settings = load_settings(ENVIRONMENT="development")
    assert (settings.RESERVA_REANUNCIO_HORAS, settings.RESERVA_JANELA_HORAS) == (2, 12)


def test_cors_origins_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://dashboard.revoluna.app, http://localhost:3000")
    origins = [str(o).rstrip("/") for o in load_settings().CORS_ORIGINS]
    assert origins == ["https://dashboard.revoluna.app", "http://localhost:3000"]


@pytest.mark.parametrize(
    ("mode", "missing"),
    [
        ("api", ["DATABASE_URL", "EVOLUTION_WEBHOOK_SECRET", "SUPABASE_PROJECT_REF"]),
        ("worker", ["ANTHROPIC_API_KEY", "EVOLUTION_API_URL", "EVOLUTION_API_KEY"]),
        ("scheduler", ["DATABASE_URL", "REDIS_URL"]),
    ],
)
def test_production_requires_what_each_mode_needs(mode: str, missing: list[str]) -> None:
    settings = load_settings(ENVIRONMENT="production")
    with pytest.raises(ConfigError) as err:
        settings.require_for(mode)  # type: ignore[arg-type]
    for name in missing:
        assert name in str(err.value)


def test_production_is_satisfied_by_real_settings() -> None:
    settings = load_settings(
        ENVIRONMENT="production",
        DATABASE_URL="postgresql://postgres.abc:pw@aws-0-sa-east-1.pooler.supabase.com:5432/postgres",
        REDIS_URL="redis://:pw@redis.railway.internal:6379",
        EVOLUTION_WEBHOOK_SECRET="s",
        JWT_SECRET_KEY="k",
        SUPABASE_PROJECT_REF="abc",
        SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T0/B0/x",
    )
    settings.require_for("api")
    settings.require_for("scheduler")
    assert not settings.sandbox_outbox


PRODUCTION_SERVICES = {
    "DATABASE_URL": "postgresql://postgres.abc:pw@aws-0-sa-east-1.pooler.supabase.com:5432/postgres",
    "REDIS_URL": "redis://:pw@redis.railway.internal:6379",
    "EVOLUTION_WEBHOOK_SECRET": "s",
    "JWT_SECRET_KEY": "k",
    "SUPABASE_PROJECT_REF": "abc",
    "ANTHROPIC_API_KEY": "sk-ant",
    "EVOLUTION_API_URL": "https://evolution.example.com",
    "EVOLUTION_API_KEY": "evo",
}


@pytest.mark.parametrize("mode", ["api", "worker", "scheduler"])
def test_production_refuses_to_start_without_a_way_to_alert(mode: str) -> None:
    settings = load_settings(ENVIRONMENT="production", **PRODUCTION_SERVICES)
    with pytest.raises(ConfigError) as err:
        settings.require_for(mode)  # type: ignore[arg-type]
    assert "SLACK_WEBHOOK_URL" in str(err.value)
    assert "SLACK_BOT_TOKEN and SLACK_CHANNEL" in str(err.value)


def test_a_slack_bot_and_channel_are_a_way_to_alert() -> None:
    settings = load_settings(
        ENVIRONMENT="production",
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_CHANNEL="#julia-gestao",
        **PRODUCTION_SERVICES,
    )
    for mode in ("api", "worker", "scheduler"):
        settings.require_for(mode)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        load_settings(
            ENVIRONMENT="production",
            SLACK_BOT_TOKEN="xoxb-1",
            SLACK_CHANNEL="",
            **PRODUCTION_SERVICES,
        ).require_for("worker")


def test_the_watchdog_is_on_outside_tests_unless_turned_off() -> None:
    assert load_settings(ENVIRONMENT="production").watchdog_on
    assert load_settings(ENVIRONMENT="development").watchdog_on
    assert not load_settings(ENVIRONMENT="test").watchdog_on
    assert load_settings(ENVIRONMENT="test", WATCHDOG_ENABLED=True).watchdog_on


def test_git_sha_falls_back_to_railway() -> None:
    assert load_settings(RAILWAY_GIT_COMMIT_SHA="abc123").git_sha == "abc123"
    assert load_settings(GIT_SHA="def", RAILWAY_GIT_COMMIT_SHA="abc").git_sha == "def"


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET_KEY", "")
    monkeypatch.setenv("MAX_MSGS_POR_HORA", "")
    settings = load_settings(ENVIRONMENT="production")
    assert settings.MAX_MSGS_POR_HORA == 20
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        settings.require_for("api")
