"""One error base: every expected error carries its HTTP status and a stable code."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter

from app.core.config import ConfigError
from app.core.errors import Conflict, JuliaError, NotFound, Unavailable
from app.domain.imports.parsing import ImportFileError
from app.domain.inbox.evolution import WebhookError
from app.domain.outreach.campaigns import CampaignConflict, CampaignError, CampaignNotFound
from app.integrations.protocols import LLMUnavailable, SendError
from app.main import create_app


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (CampaignError("x"), 400, "campaign_error"),
        (CampaignNotFound("x"), 404, "campaign_not_found"),
        (CampaignConflict("x"), 409, "campaign_conflict"),
        (WebhookError("x"), 422, "webhook_error"),
        (ImportFileError("x"), 422, "import_file_error"),
        (LLMUnavailable("x"), 503, "llm_unavailable"),
        (SendError("x", retryable=True), 503, "send_error"),
        (ConfigError("x"), 500, "config_error"),
    ],
)
def test_each_error_has_its_status_and_code(error: JuliaError, status: int, code: str) -> None:
    assert isinstance(error, JuliaError)
    assert (error.status_code, error.code, str(error)) == (status, code, "x")


def test_callers_that_catch_value_error_still_do() -> None:
    for error in (CampaignNotFound("x"), WebhookError("x"), ImportFileError("x")):
        assert isinstance(error, ValueError)
    assert isinstance(CampaignNotFound("x"), NotFound) and isinstance(
        CampaignConflict("x"), Conflict
    )


async def test_the_api_answers_a_julia_error_with_its_status_and_code() -> None:
    class Busy(Unavailable):
        code = "ocupado"

    app = create_app()
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise Busy("tente de novo")

    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://julia") as client:
        response = await client.get("/boom")
    assert response.status_code == 503
    assert response.json() == {"detail": "tente de novo", "code": "ocupado"}
    assert response.headers["X-Request-ID"]
