"""What the worker and scheduler entry points share: settings or a one-line exit."""

from __future__ import annotations

import sys

from app.core.config import ConfigError, RunMode, Settings, load_settings


def settings_or_exit(mode: RunMode) -> Settings:
    """Load and check settings for `mode`; on error print one line and exit 1."""
    try:
        settings = load_settings()
        settings.require_for(mode)
    except ConfigError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    return settings
