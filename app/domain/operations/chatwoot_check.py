"""Evolution's own Chatwoot integration next to Julia's mirror: a warning, not a failure.

Evolution can mirror an instance into Chatwoot itself and send agent replies straight to
WhatsApp. With Julia's mirror on too, every message appears twice in Chatwoot and an
agent's reply reaches the doctor twice (once from each). The scheduler asks Evolution
(`GET /chatwoot/find/{instance}`) for every instance Julia uses and keeps the answer in
Redis for /health/deep.
"""

from __future__ import annotations

import json
from typing import Any

from app.core.logging import get_logger
from app.core.redis import CHATWOOT_CONFLICT_KEY
from app.core.resources import Resources
from app.domain.outbound import chips_repository as chips_repo

log = get_logger(__name__)

# Kept past a few missed checks, gone soon after the scheduler stops checking.
CONFLICT_TTL_SECONDS = 3600


async def check_evolution_integration(res: Resources) -> list[str]:
    """The instances whose Evolution Chatwoot integration is on (logged and kept for the
    health check); an instance Evolution cannot tell about is skipped."""
    probe = res.evolution_chatwoot
    if probe is None or res.chatwoot is None:
        return []
    instances = sorted({res.settings.EVOLUTION_INSTANCE} | await chips_repo.known_instances(res.db))
    enabled: list[str] = []
    for instance in instances:
        try:
            if await probe.chatwoot_enabled(instance):
                enabled.append(instance)
        except Exception as exc:  # one instance Evolution cannot answer for
            log.info("chatwoot.evolution_check_failed", instance=instance, error=type(exc).__name__)
    if enabled:
        log.warning(
            "chatwoot.evolution_integration_enabled",
            instances=enabled,
            hint="desligue a integração Chatwoot do Evolution: as mensagens aparecem em dobro",
        )
        await res.redis.set(CHATWOOT_CONFLICT_KEY, json.dumps(enabled), ex=CONFLICT_TTL_SECONDS)
    else:
        await res.redis.delete(CHATWOOT_CONFLICT_KEY)
    return enabled


async def conflict_warning(res: Resources) -> dict[str, Any] | None:
    """What /health/deep shows when the last check found Evolution's integration on."""
    raw = await res.redis.get(CHATWOOT_CONFLICT_KEY)
    if raw is None:
        return None
    instances = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    return {
        "instances": instances,
        "detail": (
            "Evolution's own Chatwoot integration is enabled on an instance Julia mirrors: "
            "every message appears twice in Chatwoot and agent replies reach the doctor twice"
        ),
    }
