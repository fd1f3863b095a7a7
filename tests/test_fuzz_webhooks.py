"""Fuzzing the three webhook routes (Evolution, Slack, Chatwoot) against the real api and
worker processes: whatever a caller posts, the answer is a 2xx for what was stored or a 4xx
that says why not, never a 5xx; nothing refused is stored; what is stored is applied by the
worker without a failure; and afterwards a doctor's ordinary message is still answered.

The Evolution bodies start from real-shaped deliveries (tests/domain/evolution_payloads.py,
written from Evolution 2.3.6's `prepareMessage` and `webhook.controller.ts`) and hypothesis
bends them: values replaced by any JSON, keys dropped, strings mangled. Slack and Chatwoot
bodies are signed as their senders sign them, so the fuzz reaches past authentication.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Services, create_database
from tests.domain import evolution_payloads as p
from tests.support.fake_chatwoot import FakeChatwoot
from tests.support.fake_vendors import FakeVendors, text_reply
from tests.support.julia import WEBHOOK_SECRET, text_message, vendor_settings
from tests.support.processes import Proc, base_env, free_port

pytestmark = pytest.mark.slow

SLACK_SECRET = "fuzz-slack-signing-secret"
CHATWOOT_SECRET = "fuzz-chatwoot-secret-0123456789"
EXAMPLES = 60

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)

BASES = [
    p.PLAIN_TEXT,
    p.EXTENDED_TEXT,
    p.IMAGE_WITH_CAPTION,
    p.VOICE_NOTE,
    p.QUOTED_REPLY,
    p.LID_WITH_ALT,
    p.FROM_ME,
    p.SEND_MESSAGE,
    p.CONNECTION_UPDATE,
    p.CONNECTION_REFUSED,
    p.MESSAGES_UPDATE,
    p.reaction("3EB0FUZZTARGET0001", "👍"),
    p.deleted("3EB0FUZZTARGET0002"),
]


@st.composite
def bent(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """`value` with a few of its parts replaced by any JSON, dropped or mangled (rarely
    enough that many bodies still pass validation and reach the worker)."""
    roll = draw(st.integers(0, 39))
    if roll == 0 and depth > 0:
        return draw(JSON)
    if isinstance(value, dict):
        return {
            key: draw(bent(item, depth + 1))
            for key, item in value.items()
            if draw(st.integers(0, 49)) != 0  # else dropped
        }
    if isinstance(value, list):
        return [draw(bent(item, depth + 1)) for item in value]
    if isinstance(value, str) and roll < 4:
        return draw(st.sampled_from(["", " ", "\x00", "🙂" * 3, value * 3, value[:3]]))
    return value


@st.composite
def evolution_bodies(draw: st.DrawFn) -> Any:
    base = copy.deepcopy(draw(st.sampled_from(BASES)))
    # Message ids unique per example, so each accepted delivery is a new row.
    data = base.get("data")
    if isinstance(data, dict) and isinstance(data.get("key"), dict):
        data["key"]["id"] = f"3EB0FUZZ{draw(st.integers(0, 10**12)):013d}"
    return draw(bent(base))


class Running:
    def __init__(self, url: str, database: str, fake: FakeVendors) -> None:
        self.url = url
        self.database = database
        self.fake = fake
        self.answers: dict[int, int] = {}

    def count(self, sql: str) -> int:
        async def run() -> int:
            conn = await asyncpg.connect(self.database)
            try:
                return int(await conn.fetchval(sql))
            finally:
                await conn.close()

        return asyncio.run(run())


@pytest.fixture(scope="module")
def running(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    database = asyncio.run(create_database(services))
    port = free_port()
    with FakeVendors() as fake, FakeChatwoot() as chatwoot:
        fake.anthropic.default = lambda body: text_reply("oi! tudo bem?")
        env = base_env(
            DATABASE_URL=database,
            REDIS_URL=services.redis_url,
            JULIA_DATA_DIR=str(tmp_path_factory.mktemp("fuzz") / ".julia"),
            SLACK_SIGNING_SECRET=SLACK_SECRET,
            SLACK_BOT_TOKEN="xoxb-fuzz",
            SLACK_API_BASE_URL=fake.url + "/slack/api/",
            CHATWOOT_URL=chatwoot.url,
            CHATWOOT_API_KEY="cw-fuzz-token",
            CHATWOOT_ACCOUNT_ID="1",
            CHATWOOT_INBOX_ID="1",
            CHATWOOT_WEBHOOK_SECRET=CHATWOOT_SECRET,
            **{k: str(v) for k, v in vendor_settings(fake.url).items()},
        )
        api = Proc([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)], env)
        worker = Proc([sys.executable, "-m", "app.workers.fila_worker"], env)
        try:
            api.wait_for("Uvicorn running on", timeout=60)
            worker.wait_for("Worker started", timeout=60)
            yield Running(f"http://127.0.0.1:{port}", database, fake)
        finally:
            api.stop()
            worker.stop()
    assert not [line for line in api.lines if "Traceback" in line], api.output


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


@FUZZ
@given(body=evolution_bodies())
def test_evolution_never_answers_5xx_and_keeps_only_what_it_accepts(
    running: Running, body: Any
) -> None:
    before = running.count("SELECT count(*) FROM webhook_events WHERE source = 'evolution'")
    response = httpx.post(
        f"{running.url}/webhook/evolution",
        content=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code in (200, 400, 403, 422), response.text
    after = running.count("SELECT count(*) FROM webhook_events WHERE source = 'evolution'")
    stored = response.status_code == 200 and response.json()["status"] == "stored"
    assert after - before == (1 if stored else 0), response.text


@FUZZ
@given(body=st.one_of(JSON, st.binary(max_size=200)))
def test_slack_never_answers_5xx_signed_or_not(running: Running, body: Any) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ts = str(int(time.time()))
    # Slack's scheme (api.slack.com/authentication/verifying-requests-from-slack): v0= HMAC-
    # SHA256 of "v0:{timestamp}:{body}", over the raw bytes (slack_sdk's signer only takes
    # UTF-8 text, and a fuzzed body need not be).
    digest = hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:".encode() + raw, hashlib.sha256)
    signed = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest.hexdigest()}"}
    for headers in (signed, {}):
        response = httpx.post(f"{running.url}/slack/events", content=raw, headers=headers)
        assert response.status_code < 500, response.text
        if not headers:
            assert response.status_code == 401


@FUZZ
@given(body=st.one_of(JSON, st.fixed_dictionaries({"event": JSON, "id": JSON}, optional={})))
def test_chatwoot_never_answers_5xx_signed_or_not(running: Running, body: Any) -> None:
    raw, headers = FakeChatwoot.signed(body, CHATWOOT_SECRET)
    for sent in (headers, {"Content-Type": "application/json"}):
        response = httpx.post(f"{running.url}/webhook/chatwoot", content=raw, headers=sent)
        assert response.status_code < 500, response.text
        if "X-Chatwoot-Signature" not in sent:
            assert response.status_code == 401


def test_after_the_fuzz_every_stored_delivery_was_applied_and_a_doctor_is_answered(
    running: Running,
) -> None:
    # Runs after the fuzz tests above (file order): what they stored has been applied.
    deadline = time.monotonic() + 30
    while running.count("SELECT count(*) FROM webhook_events WHERE status = 'received'"):
        assert time.monotonic() < deadline, "the worker did not apply every stored delivery"
        time.sleep(0.2)
    failed = running.count("SELECT count(*) FROM webhook_events WHERE status = 'failed'")
    assert failed == 0
    # The bent deliveries did reach the worker: many were accepted and applied.
    applied = running.count(
        "SELECT count(*) FROM webhook_events WHERE source = 'evolution' AND status = 'done'"
    )
    assert applied >= 5, applied
    phone = "5511987009988"
    response = httpx.post(
        f"{running.url}/webhook/evolution",
        json=text_message(phone, "oi, ainda tem plantão?"),
        headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 30
    while not running.fake.evolution.texts_to(phone):
        assert time.monotonic() < deadline, "the doctor was not answered after the fuzz"
        time.sleep(0.1)
