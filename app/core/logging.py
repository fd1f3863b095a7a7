"""structlog for the whole process: JSON in production, readable console elsewhere.

The standard library's loggers (uvicorn, arq, apscheduler, asyncpg) are routed through the
same processors, so every line of a process has one format. The sentences the runbook greps
for ("Worker started", "Job executed: <name>") are logged as the event itself, verbatim.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from app.core.config import Settings

# Keys are split into words (snake_case, camelCase, kebab-case): a key holding one of these
# words is masked. Whole words, so `bot_token`/`access_token` are masked and the counts
# `input_tokens`/`max_tokens` are not.
_SECRET_WORDS = frozenset(
    {"apikey", "token", "jwt", "password", "passwd", "secret", "authorization", "cookie"}
)
_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key"), ("secret", "key")})
# Keys naming a connection string: only the password inside the URL is masked.
_URL_WORDS = frozenset({"dsn", "url", "uri"})
_URL_PASSWORD = re.compile(r"(?<=://)([^:/?#@\s]*):[^@/?#\s]*@")
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|[^A-Za-z0-9]+")

# A secret carried in the URL (`/webhook/evolution/token/<secret>`): masked wherever a path
# may be logged, uvicorn's access log included.
_PATH_TOKEN = re.compile(r"(/token/)[^/\s?#\"']+")

# Routes that log their own line per accepted request (see PathTokenFilter).
_QUIET_ACCESS_PREFIX = "/webhook/evolution"

# Third-party loggers whose own handlers would bypass our format.
_ADOPTED = ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "apscheduler")


@functools.lru_cache(maxsize=1024)
def _sensitivity(key: str) -> str | None:
    """How a key's value is masked: "secret" (all of it), "url" (the password in it)."""
    words = [w.lower() for w in _WORD_BOUNDARY.split(key) if w]
    if _SECRET_WORDS.intersection(words) or _SECRET_PAIRS.intersection(itertools.pairwise(words)):
        return "secret"
    if _URL_WORDS.intersection(words):
        return "url"
    return None


def mask_path_token(text: str) -> str:
    """`/token/<anything>` -> `/token/***`."""
    return _PATH_TOKEN.sub(r"\1***", text) if "/token/" in text else text


class PathTokenFilter(logging.Filter):
    """uvicorn's access log: masks the `/token/<secret>` path segment, whose path travels in
    `record.args` (`'%s - "%s %s HTTP/%s" %d'`), before any handler formats it; and leaves
    out the 2xx answers to Evolution's webhook, whose route logs one line of its own per
    delivery (`webhook.stored`, with the event and the row), so a delivery is one line, not
    two, at thousands a second. Refused deliveries (4xx/5xx) keep their access line."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple):
            if (
                len(args) == 5
                and args[1] == "POST"
                and isinstance(args[2], str)
                and args[2].startswith(_QUIET_ACCESS_PREFIX)
                and isinstance(args[4], int)
                and 200 <= args[4] < 300
            ):
                return False
            record.args = tuple(mask_path_token(a) if isinstance(a, str) else a for a in args)
        if isinstance(record.msg, str):
            record.msg = mask_path_token(record.msg)
        return True


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event_dict.pop("color_message", None)  # uvicorn's ANSI copy of the message
    for key in list(event_dict):
        kind = _sensitivity(key) if isinstance(key, str) else None
        value = event_dict[key]
        if kind == "secret":
            event_dict[key] = "***"
        elif kind == "url" and isinstance(value, str):
            event_dict[key] = mask_path_token(_URL_PASSWORD.sub(r"\1:***@", value))
        elif isinstance(value, str):
            event_dict[key] = mask_path_token(value)
    return event_dict


def configure_logging(
    settings: Settings,
    *,
    service: str | None = None,
    stream: TextIO | None = None,
    level: str | None = None,
) -> None:
    """Route every logger of this process through structlog. Safe to call again.

    Services log to stdout at LOG_LEVEL; the `julia` command passes stderr and its own
    level, so what it prints on stdout is its result alone."""
    out = stream or sys.stdout
    json_output = settings.is_production

    def add_service(
        _: Any, __: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if service:
            event_dict.setdefault("service", service)
        return event_dict

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        # Plain tracebacks: rich's would print every frame's locals, message bodies and
        # phone numbers among them.
        else structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json_output:
        final.append(structlog.processors.format_exc_info)
    final.append(renderer)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=final,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level or settings.LOG_LEVEL)
    for name in _ADOPTED:
        adopted = logging.getLogger(name)
        adopted.handlers = []
        adopted.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, PathTokenFilter) for f in access.filters):
        access.addFilter(PathTokenFilter())
    # asyncpg and httpx are chatty at INFO; their warnings still show.
    for name in ("httpx", "httpcore", "httpx2", "httpcore2", "asyncio"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str | None = None) -> Any:
    return structlog.stdlib.get_logger(name)
