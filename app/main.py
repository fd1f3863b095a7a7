"""API entry point: `uvicorn app.main:app` (RUN_MODE=api)."""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api import chatwoot, dashboard, evolution, health, outreach, slack
from app.api.middleware import RequestIdMiddleware, WebhookTallyMiddleware
from app.core.config import APP_VERSION_DEFAULT, ConfigError, Settings, get_settings
from app.core.embedded import embedded_defaults
from app.core.errors import JuliaError
from app.core.logging import configure_logging, get_logger
from app.core.resources import open_resources
from app.domain.operations import webhook_tally
from app.domain.operations.watchdog import watching

log = get_logger(__name__)

_HTTP_METHODS = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 with an `Allow` header naming every method of the path, not only those of the
    first route Starlette tried (a path served by two routes, e.g. GET and POST
    /api/v1/campaigns, would otherwise advertise one of them)."""
    assert isinstance(exc, StarletteHTTPException)
    allowed = set((exc.headers or {}).get("Allow", "").replace(" ", "").split(",")) - {""}
    path = request.url.path
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "[^/]+".join(re.escape(part) for part in re.split(r"\{[^/]+?\}", template))
        if re.fullmatch(pattern, path):
            allowed |= {m.upper() for m in operations if m.upper() in _HTTP_METHODS}
    headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
    return JSONResponse({"detail": exc.detail}, status_code=405, headers=headers)


async def _julia_error(request: Request, exc: Exception) -> Response:
    """Every expected error answers with its own status and stable code (DESIGN rule 12)."""
    assert isinstance(exc, JuliaError)
    return JSONResponse({"detail": str(exc), "code": exc.code}, status_code=exc.status_code)


def _lifespan(preset: Settings | None) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # _ConfigGuard has already validated these settings for RUN_MODE=api.
        settings = preset or get_settings()
        configure_logging(settings, service="api")
        with embedded_defaults(settings) as resolved:
            async with (
                open_resources(resolved) as resources,
                watching("api", resolved, resources.notifier),
                webhook_tally.flushing(resources.redis),
            ):
                app.state.settings = resolved
                app.state.resources = resources
                # What start-up built lives as long as the app: moved out of the collector's
                # generations, a full collection no longer walks it (the webhook's p99 had
                # full-collection pauses in it; docs/benchmarks.md). Given back at shutdown.
                gc.freeze()
                log.info("API started", environment=resolved.environment)
                try:
                    yield
                finally:
                    gc.unfreeze()
        log.info("API stopped")

    return lifespan


class _ConfigGuard:
    """Turn a configuration error at start-up into one clear line instead of a traceback.

    Starlette reports lifespan failures with a full traceback; an operator who set
    MAX_MSGS_POR_HORA=-1 needs the variable's name, not a stack. Settings are validated
    here, before the lifespan runs, and a failure is reported as uvicorn expects.
    """

    def __init__(self, app: ASGIApp, preset: Settings | None = None) -> None:
        self.app = app
        self.preset = preset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            try:
                (self.preset or get_settings()).require_for("api")
            except ConfigError as exc:
                await receive()  # lifespan.startup
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. Settings are read at start-up (lifespan), not at import."""
    app = FastAPI(
        title="Julia",
        version=settings.APP_VERSION if settings else APP_VERSION_DEFAULT,
        lifespan=_lifespan(settings),
    )
    app.include_router(health.router)
    app.include_router(evolution.router)
    app.include_router(chatwoot.router)
    app.include_router(dashboard.router)
    app.include_router(outreach.router)
    app.include_router(slack.router)
    app.add_exception_handler(405, _method_not_allowed)
    app.add_exception_handler(JuliaError, _julia_error)
    app.add_middleware(dashboard.DashboardCORS, preset=settings)
    app.add_middleware(_ConfigGuard, preset=settings)
    app.add_middleware(WebhookTallyMiddleware)
    app.add_middleware(RequestIdMiddleware)  # outermost: CORS preflights carry the id too
    return app


app = create_app()
