"""`julia chat`: talk to Julia as a doctor, through the real webhook, queue and worker.

Each line typed is posted to the running API as an Evolution `messages.upsert`; Julia's
replies are read from the sandbox outbox (development without EVOLUTION_API_URL).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from typing import Any

import httpx
from redis.asyncio import Redis

from app.core.config import Settings
from app.core.embedded import EmbeddedValkey
from app.core.errors import JuliaError
from app.integrations.evolution import SANDBOX_OUTBOX_KEY


class ChatError(JuliaError):
    pass


def message_payload(settings: Settings, phone: str, name: str, text: str) -> dict[str, Any]:
    return {
        "event": "messages.upsert",
        "instance": settings.EVOLUTION_INSTANCE,
        "data": {
            "key": {
                "remoteJid": f"{phone}@s.whatsapp.net",
                "fromMe": False,
                "id": "CHAT" + secrets.token_hex(8).upper(),
            },
            "pushName": name,
            "message": {"conversation": text},
            "messageType": "conversation",
            "messageTimestamp": int(time.time()),
            "source": "julia-chat",
        },
        "date_time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "sender": f"{phone}@s.whatsapp.net",
    }


def redis_url(settings: Settings) -> str:
    if settings.REDIS_URL is not None:
        return settings.redis_dsn
    url = EmbeddedValkey(settings.JULIA_DATA_DIR.resolve() / "valkey").running_url()
    if url is None:
        raise ChatError("Julia is not running here: start it with `make run` (julia dev) first")
    return url


async def _print_replies(redis: Redis, phone: str, out: Any) -> None:
    last_id = "$"
    while True:
        streams = await redis.xread({SANDBOX_OUTBOX_KEY: last_id}, block=1000, count=50)
        for _, entries in streams or []:
            for entry_id, fields in entries:
                last_id = entry_id
                entry = json.loads(fields[b"json"])
                if entry.get("number") != phone:
                    continue
                if "text" in entry:
                    print(f"Julia: {entry['text']}", file=out, flush=True)
                else:
                    print("(Julia está digitando...)", file=out, flush=True)


async def run_chat(settings: Settings, *, url: str, phone: str, name: str) -> int:
    out = sys.stdout
    if settings.EVOLUTION_API_URL is not None:
        print("Aviso: EVOLUTION_API_URL está definido; as respostas vão pro WhatsApp, não aqui.")
    if settings.ANTHROPIC_API_KEY is None:
        print(
            "Aviso: ANTHROPIC_API_KEY não está definido. Sem o modelo, a Julia manda uma "
            "mensagem de espera e passa a conversa pra uma pessoa."
        )
    redis = Redis.from_url(redis_url(settings))
    headers = {}
    if settings.EVOLUTION_WEBHOOK_SECRET is not None:
        headers["Authorization"] = f"Bearer {settings.EVOLUTION_WEBHOOK_SECRET.get_secret_value()}"
    printer = asyncio.create_task(_print_replies(redis, phone, out))
    print(f"Você é {name} (+{phone}). Escreva e tecle Enter; /sair pra terminar.", flush=True)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            while True:
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line or line.strip() == "/sair":
                    break
                text = line.strip()
                if not text:
                    continue
                try:
                    response = await client.post(
                        "/webhook/evolution",
                        json=message_payload(settings, phone, name, text),
                        headers=headers,
                    )
                except httpx.HTTPError as exc:
                    raise ChatError(f"the API at {url} is not answering: {exc}") from exc
                if response.status_code != 200:
                    print(
                        f"(webhook respondeu {response.status_code}: {response.text})", flush=True
                    )
        # Let replies that are already on their way arrive before leaving.
        await asyncio.sleep(0.5)
    finally:
        printer.cancel()
        await redis.aclose()
    return 0
