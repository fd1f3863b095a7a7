"""The dashboard API (/api/v1) through the real app, Postgres and Valkey."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import jwt
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.core.config import Settings
from app.domain.demo import seed_if_empty
from app.main import create_app
from tests.support.julia import api_client

SECRET = "dashboard-test-secret-long-enough-for-hs512-0123456789abcdef012345"
ORIGIN = "https://painel.revoluna.com.br"
OPERATOR = "ana@revoluna.com.br"


def token(
    role: str | None = "operator",
    *,
    sub: str = OPERATOR,
    key: str = SECRET,
    expires_in: int | None = 600,
    algorithm: str = "HS256",
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": now}
    if role is not None:
        claims["role"] = role
    if expires_in is not None:
        claims["exp"] = now + expires_in
    return jwt.encode(claims, key, algorithm=algorithm)


def auth(role: str | None = "operator", **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, **kwargs)}"}


@pytest.fixture
def dashboard_settings(make_settings: Any, database_url: str, redis_url: str) -> Settings:
    result: Settings = make_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        JWT_SECRET_KEY=SECRET,
        CORS_ORIGINS=ORIGIN,
    )
    return result


async def seed(settings: Settings) -> dict[str, int]:
    """Demo hospitals, shifts and doctors, plus three conversations and a campaign."""
    conn = await asyncpg.connect(settings.database_dsn)
    try:
        await seed_if_empty(conn, tz=settings.tz, today=datetime.now(UTC))
        doctors = {r["phone"]: r["id"] for r in await conn.fetch("SELECT id, phone FROM doctors")}
        ana, bruno, carla = (
            doctors[f"55{n}"] for n in ("11987650001", "11987650002", "19987650003")
        )
        # Three hours ago, but never before today's start in São Paulo (metrics/today).
        now = datetime.now(UTC)
        today = now.astimezone(ZoneInfo("America/Sao_Paulo")).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        base = max(now - timedelta(hours=3), today)
        ids: dict[str, int] = {"ana": ana, "bruno": bruno, "carla": carla}
        ids["ana_conv"] = await conn.fetchval(
            """INSERT INTO conversations (doctor_id, last_message_at)
               VALUES ($1, $2) RETURNING id""",
            ana,
            base + timedelta(hours=2),
        )
        ids["bruno_conv"] = await conn.fetchval(
            """INSERT INTO conversations (doctor_id, control, control_changed_at, last_message_at)
               VALUES ($1, 'humano', $2, $2) RETURNING id""",
            bruno,
            base + timedelta(hours=1),
        )
        ids["carla_conv"] = await conn.fetchval(
            """INSERT INTO conversations (doctor_id, status, closed_at, last_message_at)
               VALUES ($1, 'encerrada', $2, $2) RETURNING id""",
            carla,
            base,
        )
        for i, (direction, author, body) in enumerate(
            [
                ("out", "julia", "Oi Dra. Ana, tudo bem? Sou a Julia da Revoluna"),
                ("in", "doctor", "oi! tudo sim"),
                ("out", "julia", "Tenho um plantão no São Luiz sexta"),
            ]
        ):
            await conn.execute(
                """INSERT INTO messages (conversation_id, doctor_id, direction, author, body,
                                         created_at)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                ids["ana_conv"],
                ana,
                direction,
                author,
                body,
                base + timedelta(minutes=i),
            )
        ids["campaign"] = await conn.fetchval(
            """INSERT INTO campaigns (name, kind, status, created_by)
               VALUES ('Clínica Médica Zona Sul', 'oferta', 'ativa', 'ana') RETURNING id"""
        )
        await conn.execute(
            """INSERT INTO campaign_targets (campaign_id, doctor_id, status, contacted_at)
               VALUES ($1, $2, 'enviado', now()), ($1, $3, 'pendente', NULL)""",
            ids["campaign"],
            ana,
            carla,
        )
        await conn.execute("UPDATE doctors SET opted_out_at = now() WHERE id = $1", carla)
        return ids
    finally:
        await conn.close()


@pytest.fixture
async def seeded(dashboard_settings: Settings) -> dict[str, int]:
    return await seed(dashboard_settings)


@pytest.fixture
async def client(dashboard_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(dashboard_settings) as c:
        yield c


async def fetch(settings: Settings, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not-a-jwt",
        "Basic YWRtaW46YWRtaW4=",
        f"Bearer {token(expires_in=-60)}",
        f"Bearer {token(key='another-key-that-is-also-32-bytes-long')}",
        f"Bearer {token(expires_in=None)}",
        f"Bearer {token(algorithm='none', key='')}",
        f"Bearer {token(algorithm='HS512')}",
        f"Bearer {jwt.encode({'role': 'operator', 'exp': int(time.time()) + 60}, SECRET)}",
    ],
    ids=[
        "missing",
        "empty",
        "garbage",
        "basic",
        "expired",
        "wrong-key",
        "no-exp",
        "alg-none",
        "alg-hs512",
        "no-sub",
    ],
)
async def test_bad_or_missing_tokens_get_401(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method, path in [("GET", "/api/v1/status"), ("POST", "/api/v1/status/pause")]:
        response = await client.request(method, path, headers=headers, json={"motivo": "teste"})
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_viewer_reads_and_only_operator_changes_state(
    client: httpx.AsyncClient, dashboard_settings: Settings, seeded: dict[str, int]
) -> None:
    viewer = auth("viewer")
    assert (await client.get("/api/v1/status", headers=viewer)).status_code == 200
    assert (await client.get("/api/v1/doctors", headers=viewer)).status_code == 200
    posts = [
        ("/api/v1/status/pause", {"motivo": "teste"}),
        ("/api/v1/status/resume", None),
        (f"/api/v1/conversations/{seeded['ana_conv']}/takeover", None),
        (f"/api/v1/conversations/{seeded['bruno_conv']}/handback", None),
    ]
    for path, body in posts:
        response = await client.post(path, headers=viewer, json=body)
        assert response.status_code == 403, (path, response.text)
    # A valid token without a known role reads nothing.
    for role in (None, "admin"):
        response = await client.get("/api/v1/status", headers=auth(role))
        assert response.status_code == 403
    assert await fetch(dashboard_settings, "SELECT 1 FROM julia_status") == []
    assert await fetch(dashboard_settings, "SELECT 1 FROM handoffs") == []


async def test_without_jwt_secret_the_dashboard_is_closed(
    make_settings: Any, database_url: str, redis_url: str
) -> None:
    settings = make_settings(DATABASE_URL=database_url, REDIS_URL=redis_url)
    assert settings.JWT_SECRET_KEY is None
    async with api_client(settings) as client:
        for headers in ({}, auth("operator")):
            response = await client.get("/api/v1/status", headers=headers)
            assert response.status_code == 503
            assert response.json() == {"detail": "dashboard auth not configured"}
        response = await client.post("/api/v1/status/pause", json={"motivo": "x"})
        assert response.status_code == 503


# ---------------------------------------------------------------------------------------
# Status, takeover
# ---------------------------------------------------------------------------------------


async def test_pause_and_resume_are_recorded_with_the_operator(
    client: httpx.AsyncClient, dashboard_settings: Settings
) -> None:
    response = await client.get("/api/v1/status", headers=auth("viewer"))
    assert response.status_code == 200
    assert response.json()["status"] == "ativo" and response.json()["paused"] is False

    response = await client.post(
        "/api/v1/status/pause", headers=auth(), json={"motivo": "  manutenção do chip  "}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "pausado" and body["paused"] is True
    assert body["motivo"] == "manutenção do chip" and body["alterado_via"] == "api"
    assert (await client.get("/api/v1/status", headers=auth("viewer"))).json()["paused"] is True

    response = await client.post("/api/v1/status/resume", headers=auth(sub="bruno"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ativo"

    rows = await fetch(
        dashboard_settings,
        "SELECT status, motivo, alterado_via, alterado_por FROM julia_status ORDER BY id",
    )
    assert [(r["status"], r["alterado_via"], r["alterado_por"]) for r in rows] == [
        ("pausado", "api", OPERATOR),
        ("ativo", "api", "bruno"),
    ]
    assert rows[0]["motivo"] == "manutenção do chip"


@pytest.mark.parametrize(
    "body", [{}, {"motivo": ""}, {"motivo": "   "}, {"motivo": "x" * 501}, {"motivo": "a\x00b"}]
)
async def test_pause_needs_a_reason(
    client: httpx.AsyncClient, dashboard_settings: Settings, body: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/status/pause", headers=auth(), json=body)
    assert response.status_code == 422
    assert "detail" in response.json()
    assert await fetch(dashboard_settings, "SELECT 1 FROM julia_status") == []


async def test_takeover_and_handback_change_who_speaks(
    client: httpx.AsyncClient, dashboard_settings: Settings, seeded: dict[str, int]
) -> None:
    conv = seeded["ana_conv"]
    response = await client.post(
        f"/api/v1/conversations/{conv}/takeover",
        headers=auth(),
        json={"reason": "médica pediu valores diferentes"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["changed"] is True and body["conversation"]["control"] == "humano"
    again = await client.post(f"/api/v1/conversations/{conv}/takeover", headers=auth())
    assert again.status_code == 200 and again.json()["changed"] is False

    sql = "SELECT control FROM conversations WHERE id = $1"
    assert (await fetch(dashboard_settings, sql, conv))[0]["control"] == "humano"
    handoffs = await fetch(dashboard_settings, "SELECT trigger, reason, status FROM handoffs")
    assert len(handoffs) == 1 and handoffs[0]["trigger"] == "operador"
    assert OPERATOR in handoffs[0]["reason"] and "valores" in handoffs[0]["reason"]

    listed = await client.get("/api/v1/conversations?control=humano", headers=auth("viewer"))
    assert {c["id"] for c in listed.json()["items"]} == {conv, seeded["bruno_conv"]}

    response = await client.post(f"/api/v1/conversations/{conv}/handback", headers=auth())
    assert response.status_code == 200, response.text
    assert response.json()["changed"] is True
    assert response.json()["conversation"]["control"] == "julia"
    assert (await fetch(dashboard_settings, sql, conv))[0]["control"] == "julia"
    handoff = await fetch(dashboard_settings, "SELECT status, resolved_by FROM handoffs")
    assert [(h["status"], h["resolved_by"]) for h in handoff] == [("devolvido", OPERATOR)]

    # Bruno's conversation was under a human since before: handed back too.
    response = await client.post(
        f"/api/v1/conversations/{seeded['bruno_conv']}/handback", headers=auth()
    )
    assert response.status_code == 200 and response.json()["changed"] is True


async def test_unknown_or_closed_conversations(
    client: httpx.AsyncClient, seeded: dict[str, int]
) -> None:
    for path in ("takeover", "handback"):
        response = await client.post(f"/api/v1/conversations/999999/{path}", headers=auth())
        assert response.status_code == 404
    response = await client.get("/api/v1/conversations/999999/messages", headers=auth())
    assert response.status_code == 404
    assert (await client.get("/api/v1/doctors/999999", headers=auth())).status_code == 404
    response = await client.post(
        f"/api/v1/conversations/{seeded['carla_conv']}/takeover", headers=auth()
    )
    assert response.status_code == 409
    for bad in ("0", "-1", "abc", str(2**63), "1.5"):
        response = await client.get(f"/api/v1/doctors/{bad}", headers=auth())
        assert response.status_code == 422, bad


# ---------------------------------------------------------------------------------------
# Lists
# ---------------------------------------------------------------------------------------


async def test_lists_are_paginated_with_totals(
    client: httpx.AsyncClient, seeded: dict[str, int]
) -> None:
    headers = auth("viewer")
    first = (await client.get("/api/v1/doctors?limit=2", headers=headers)).json()
    assert first["total"] == 3 and first["limit"] == 2 and first["offset"] == 0
    assert len(first["items"]) == 2
    rest = (await client.get("/api/v1/doctors?limit=2&offset=2", headers=headers)).json()
    assert rest["total"] == 3 and len(rest["items"]) == 1
    seen = {d["id"] for d in first["items"] + rest["items"]}
    assert seen == {seeded["ana"], seeded["bruno"], seeded["carla"]}
    beyond = (await client.get("/api/v1/doctors?offset=50", headers=headers)).json()
    assert beyond == {"items": [], "total": 3, "limit": 50, "offset": 50}

    for query in (
        "limit=0",
        "limit=201",
        "limit=2.0",
        "offset=-1",
        f"offset={2**63}",
        "limit=abc",
        "date_to=0",  # pydantic would read a Unix timestamp: 1970-01-01
        "date_from=2026-02-30",
        "date_from=2026-01-01T00:00:00",
        "specialty=%00",
    ):
        response = await client.get(f"/api/v1/shifts?{query}", headers=headers)
        assert response.status_code == 422, query
        assert isinstance(response.json()["detail"], list)

    conversations = (await client.get("/api/v1/conversations", headers=headers)).json()
    assert [c["id"] for c in conversations["items"]] == [
        seeded["ana_conv"],
        seeded["bruno_conv"],
        seeded["carla_conv"],
    ]
    assert conversations["items"][0]["doctor_name"] == "Dra. Ana Souza"
    closed = await client.get("/api/v1/conversations?status=encerrada", headers=headers)
    assert [c["id"] for c in closed.json()["items"]] == [seeded["carla_conv"]]

    path = f"/api/v1/conversations/{seeded['ana_conv']}/messages"
    messages = (await client.get(f"{path}?limit=2", headers=headers)).json()
    assert messages["total"] == 3
    assert [m["body"] for m in messages["items"]] == [
        "Oi Dra. Ana, tudo bem? Sou a Julia da Revoluna",
        "oi! tudo sim",
    ]
    last = (await client.get(f"{path}?limit=2&offset=2", headers=headers)).json()
    assert [m["direction"] for m in last["items"]] == ["out"]


async def test_doctor_search_and_detail(client: httpx.AsyncClient, seeded: dict[str, int]) -> None:
    headers = auth("viewer")

    async def ids(query: str) -> set[int]:
        response = await client.get(f"/api/v1/doctors?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return {d["id"] for d in response.json()["items"]}

    assert await ids("q=souza") == {seeded["ana"]}
    assert await ids("q=CARLA%20MENDES") == {seeded["carla"]}
    assert await ids("q=987650002") == {seeded["bruno"]}
    assert await ids("q=%2B55%2011%2098765-0001") == {seeded["ana"]}
    assert await ids("q=%25") == set()  # LIKE wildcards are plain text
    assert await ids("opted_out=true") == {seeded["carla"]}
    assert await ids("opted_out=false") == {seeded["ana"], seeded["bruno"]}
    for query in ("opted_out=yes", "q=", "q=a%00b", "q=" + "x" * 101):
        response = await client.get(f"/api/v1/doctors?{query}", headers=headers)
        assert response.status_code == 422, query

    response = await client.get(f"/api/v1/doctors/{seeded['ana']}", headers=headers)
    assert response.status_code == 200
    doctor = response.json()
    assert doctor["name"] == "Dra. Ana Souza" and doctor["specialty"] == "Clínica Médica"
    assert doctor["active_conversation_id"] == seeded["ana_conv"]
    assert doctor["preferences"] == {}


async def test_shift_filters_and_campaigns(
    client: httpx.AsyncClient, dashboard_settings: Settings, seeded: dict[str, int]
) -> None:
    headers = auth("viewer")
    everything = (await client.get("/api/v1/shifts", headers=headers)).json()
    assert everything["total"] == 6
    starts = [s["starts_at"] for s in everything["items"]]
    assert starts == sorted(starts)

    clinica = (
        await client.get("/api/v1/shifts?specialty=clinica%20medica", headers=headers)
    ).json()
    assert clinica["total"] == 3 and {s["specialty"] for s in clinica["items"]} == {
        "Clínica Médica"
    }

    today = datetime.now(dashboard_settings.tz).date()
    day3 = (today + timedelta(days=3)).isoformat()
    window = await client.get(f"/api/v1/shifts?date_from={day3}&date_to={day3}", headers=headers)
    assert window.json()["total"] == 2  # the day and the night shift of day 3
    far = await client.get(
        "/api/v1/shifts?date_from=9999-12-31&date_to=9999-12-31", headers=headers
    )
    assert far.status_code == 200 and far.json()["total"] == 0
    reserved = await client.get("/api/v1/shifts?status=reservado", headers=headers)
    assert reserved.json()["total"] == 0
    bad = await client.get("/api/v1/shifts?status=perdido", headers=headers)
    assert bad.status_code == 422

    campaigns = (await client.get("/api/v1/campaigns", headers=headers)).json()
    assert campaigns["total"] == 1
    campaign = campaigns["items"][0]
    assert campaign["id"] == seeded["campaign"] and campaign["status"] == "ativa"
    assert (campaign["targets"], campaign["contacted"], campaign["responded"]) == (2, 1, 0)


async def test_metrics_today(client: httpx.AsyncClient, seeded: dict[str, int]) -> None:
    response = await client.get("/api/v1/metrics/today", headers=auth("viewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tz"] == "America/Sao_Paulo"
    assert body["inbound_messages"] == 1 and body["conversations_active"] >= 1
    assert body["cache_read_share"] is None


# ---------------------------------------------------------------------------------------
# CORS
# ---------------------------------------------------------------------------------------


async def test_cors_only_for_the_configured_origin(client: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    allowed = await client.options("/api/v1/status/pause", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()

    for origin in ("https://evil.example.com", "http://painel.revoluna.com.br", "null"):
        denied = await client.options(
            "/api/v1/status/pause", headers={"Origin": origin, **preflight}
        )
        assert denied.status_code >= 400
        assert not [h for h in denied.headers if h.lower().startswith("access-control-")]

    simple = await client.get("/api/v1/status", headers={"Origin": ORIGIN, **auth("viewer")})
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    other = await client.get(
        "/api/v1/status", headers={"Origin": "https://evil.example.com", **auth("viewer")}
    )
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers


# ---------------------------------------------------------------------------------------
# The whole API against its own OpenAPI schema
# ---------------------------------------------------------------------------------------


# The schema is the app's own, read once at import; the app that answers each generated
# request is built per test on its own database (schemathesis runs its lifespan on its own
# event-loop thread).
schema = schemathesis.openapi.from_dict(create_app().openapi()).include(path_regex="^/api/v1/")
# Each call carries a valid operator token (added below); FastAPI ignores unknown query
# parameters, as HTTP APIs do.
schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)


@pytest.fixture
async def api_app(dashboard_settings: Settings) -> AsyncIterator[FastAPI]:
    await seed(dashboard_settings)
    yield create_app(dashboard_settings)
    schemathesis_asgi.shutdown_lifespans()


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_schema(case: Any, api_app: FastAPI) -> None:
    # The operation answers through this test's app, including the checks that re-send the
    # request (e.g. without the token, expecting a 401).
    case.operation.app = case.operation.schema.app = api_app
    headers = auth("operator")
    response = case.call(headers=headers)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    # A documented 400 is a refusal the schema cannot express (an unknown specialty, no
    # open shift matching a new campaign's filters): schema-valid data may get it.
    documented = case.operation.definition.raw.get("responses", {})
    refused = response.status_code == 400 and "400" in documented
    case.validate_response(
        response, headers=headers, excluded_checks=[positive_data_acceptance] if refused else None
    )
