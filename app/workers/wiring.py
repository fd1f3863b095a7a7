"""Domain services assembled from the resources' clients (DESIGN rules 9 and 10)."""

from __future__ import annotations

import uuid

from app.core.queue import enqueue_mirror
from app.core.resources import Resources
from app.domain.agent.turn import TurnServices
from app.domain.media.service import MediaServices
from app.domain.outbound.gateway import AfterSent, Gateway
from app.domain.outbound.limiter import Limiter
from app.domain.outbound.status import StatusReader
from app.domain.outreach.freshness import Freshener
from app.workers.jobs import requeue, scheduler


def gateway(res: Resources, status: StatusReader | None = None) -> Gateway:
    return Gateway(
        db=res.db,
        sender=res.sender,
        status=status or StatusReader(res.db),
        settings=res.settings,
        limiter=Limiter(res.redis, res.db),
        after_sent=_mirror_after_send(res),
        freshen=Freshener(res.db, res.settings),
    )


def _mirror_after_send(res: Resources) -> AfterSent | None:
    """With Chatwoot configured, every message that went out is mirrored after it."""
    if not res.settings.chatwoot_configured:
        return None

    async def after_sent(conversation_id: int) -> None:
        await enqueue_mirror(res.redis, conversation_id, reason=f"sent:{uuid.uuid4().hex[:12]}")

    return after_sent


def turn_services(res: Resources) -> TurnServices:
    status = StatusReader(res.db)
    return TurnServices(
        settings=res.settings,
        db=res.db,
        redis=res.redis,
        gateway=gateway(res, status),
        status=status,
        llm=res.llm,
        breaker=res.breaker,
        embedder=res.embedder,
        notifier=res.notifier,
        enqueue=requeue(res.redis, res.settings),
        schedule=scheduler(res.redis),
        media_store=res.media_store,
    )


def media_services(res: Resources) -> MediaServices:
    return MediaServices(
        settings=res.settings,
        db=res.db,
        redis=res.redis,
        source=res.media_source,
        store=res.media_store,
        transcriber=res.transcriber,
    )
