"""The conversations nobody is answering, as the sweep and the resume queue them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.core.redis import QUEUE_NAME
from app.core.resources import Resources
from app.domain.agent.waiting import Enqueued, enqueue_waiting


async def conversation(res: Resources, phone: str, *, message_age: timedelta | None) -> int:
    doctor_id = await res.db.fetchval(
        "INSERT INTO doctors (phone, name) VALUES ($1, 'Dra. Ana') RETURNING id", phone
    )
    conversation_id: int = await res.db.fetchval(
        "INSERT INTO conversations (doctor_id) VALUES ($1) RETURNING id", doctor_id
    )
    if message_age is not None:
        await res.db.execute(
            """INSERT INTO messages (conversation_id, doctor_id, direction, author, body,
                                     created_at)
               VALUES ($1, $2, 'in', 'doctor', 'oi', now() - $3::interval)""",
            conversation_id,
            doctor_id,
            message_age,
        )
    return conversation_id


async def due_reply(res: Resources, conversation_id: int, phone: str) -> None:
    turn_id = await res.db.fetchval(
        "INSERT INTO turns (conversation_id) VALUES ($1) RETURNING id", conversation_id
    )
    await res.db.execute(
        """INSERT INTO outbound_sends (idempotency_key, kind, proactive, to_phone,
                                       conversation_id, turn_id, body, status, not_before)
           VALUES ($1, 'reply', false, $2, $3, $4, 'oi', 'deferred', now() - interval '1 s')""",
        f"turn:{turn_id}:0",
        phone,
        conversation_id,
        turn_id,
    )


async def test_one_turn_per_waiting_conversation_older_than_the_cutoff(
    resources: Resources,
) -> None:
    res = resources
    old = await conversation(res, "5511987000011", message_age=timedelta(minutes=5))
    recent = await conversation(res, "5511987000012", message_age=timedelta(seconds=1))
    both = await conversation(res, "5511987000013", message_age=timedelta(minutes=10))
    await due_reply(res, both, "5511987000013")
    replying = await conversation(res, "5511987000014", message_age=None)
    await due_reply(res, replying, "5511987000014")

    async def sweep() -> Enqueued:
        return await enqueue_waiting(
            res,
            older_than=datetime.now(UTC) - timedelta(minutes=1),
            delay=0,
            job_prefix="sweep",
            batch="7",
        )

    assert await sweep() == Enqueued(unanswered=2, due=2, turns=3)
    newest = {
        r["conversation_id"]: r["id"]
        for r in await res.db.fetch("SELECT conversation_id, id FROM messages")
    }
    jobs = await res.redis.queued_jobs(queue_name=QUEUE_NAME)
    assert sorted((job.job_id, job.function, job.args) for job in jobs) == sorted(
        [
            (f"sweep:{old}:{newest[old]}:7", "run_turn", (old, newest[old])),
            (f"sweep:{both}:{newest[both]}:7", "run_turn", (both, newest[both])),
            (f"sweep:{replying}:resume:7", "run_turn", (replying, None)),
        ]
    )
    assert recent not in [job.args[0] for job in jobs]

    # The same batch again queues nothing new.
    await sweep()
    assert len(await res.redis.queued_jobs(queue_name=QUEUE_NAME)) == 3
