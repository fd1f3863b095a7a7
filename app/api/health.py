"""Health endpoints: `/health` is cheap (no I/O), `/health/deep` checks the dependencies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.deps import ResourcesDep
from app.core.config import Settings
from app.domain.operations.health import deep_health

router = APIRouter(tags=["health"])


def _build_info(settings: Settings) -> dict[str, Any]:
    return {
        "version": settings.APP_VERSION,
        "environment": settings.environment,
        "git_sha": settings.git_sha,
        "build_time": settings.BUILD_TIME,
    }


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return {"status": "healthy", "version": settings.APP_VERSION}


@router.get("/health/deep")
async def health_deep(resources: ResourcesDep) -> JSONResponse:
    report = await deep_health(resources)
    body = {
        "status": "healthy" if report.healthy else "unhealthy",
        **_build_info(resources.settings),
        "checks": report.checks,
        "processes": report.processes,
        "versions": report.versions,
    }
    if report.warnings:
        body["warnings"] = report.warnings
    return JSONResponse(body, status_code=200 if report.healthy else 503)
