"""Dead letters and stream housekeeping.

A message whose scoring failed ``max_deliveries`` times is copied to the dead-letter stream with its
last error, its comment is held with reason ``scoring_failed`` (a human decides), and it is acknowledged.
Operators list dead letters and re-queue them with ``commentmod deadletters``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import WatchError

from service.core.keys import Keys
from service.core.logs import get_logger
from service.core.models import Decision, StreamJob
from service.core.store import DecisionStore
from workers import stream
from workers.policy import scoring_failed

log = get_logger("commentmod.deadletter")


@dataclass(frozen=True, slots=True)
class DeadLetters:
    """The scoring stream's dead-letter callback, with what it writes to passed in."""

    redis: Redis
    keys: Keys
    store: DecisionStore
    counter: Counter  # commentmod_dead_letters_total
    models: dict[str, str]

    async def __call__(self, failure: stream.Failure) -> None:
        fields = failure.fields
        job = StreamJob(fields.get("id", ""), fields.get("request_id", ""), failure.message_id)
        await self.dead_letter(job, failure.attempt, failure.error)

    async def dead_letter(self, job: StreamJob, attempt: int, error: str) -> None:
        """Record the dead letter, hold the comment for a human (fenced: a decided comment stays decided)."""
        await self.redis.xadd(
            self.keys.dead_letters,
            {
                "id": job.comment_id,
                "request_id": job.request_id,
                "message_id": job.message_id,
                "attempts": str(attempt),
                "error": error[:500],
                "at": repr(time.time()),
            },
            maxlen=100_000,
            approximate=True,
        )
        self.counter.inc()
        verdict = scoring_failed(error)
        decision = Decision(
            verdict=verdict.verdict,
            scores={},
            reasons=[r.to_json() for r in verdict.reasons],
            models=self.models,
            attempt=attempt,
        )
        record = await self.store.get(job.comment_id)
        created_at = record.created_at if record else time.time()
        stored = await self.store.decide(job.comment_id, created_at, decision)
        log.error(
            "comment_dead_lettered",
            comment_id=job.comment_id,
            request_id=job.request_id,
            attempt=attempt,
            error=error[:200],
            stored=stored,
        )


async def list_dead(redis: Redis, keys: Keys, count: int = 100) -> list[dict[str, Any]]:
    entries = await redis.xrange(keys.dead_letters, count=count)
    return [{"dead_letter_id": mid, **fields} for mid, fields in entries]


async def requeue(redis: Redis, keys: Keys, dead_ids: list[str] | None = None) -> int:
    """Put dead-lettered comments back on the intake stream as pending; returns how many."""
    entries = await redis.xrange(keys.dead_letters)
    chosen = [(mid, f) for mid, f in entries if dead_ids is None or mid in dead_ids]
    count = 0
    for mid, fields in chosen:
        count += await _requeue_one(redis, keys, mid, fields)
    return count


async def _requeue_one(redis: Redis, keys: Keys, mid: str, fields: dict[str, str]) -> int:
    """Re-queue one still-held comment; WATCH makes a moderator's decision in between win."""
    comment_id = fields["id"]
    comment_key = keys.comment(comment_id)
    while True:
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(comment_key)
                if await pipe.hget(comment_key, "status") != "held":
                    await redis.xdel(keys.dead_letters, mid)  # decided by a moderator: resolved
                    return 0
                pipe.multi()
                pipe.hset(comment_key, mapping={"status": "pending"})
                pipe.hdel(comment_key, "decision", "decided_at", "decided_by")
                pipe.zrem(keys.held, comment_id)
                pipe.hdel(keys.attempts, comment_id)
                pipe.xadd(keys.stream, {"id": comment_id, "request_id": fields.get("request_id", "")})
                pipe.xdel(keys.dead_letters, mid)
                await pipe.execute()
                return 1
            except WatchError:
                continue  # the comment changed while we looked: look again


async def trim_acknowledged(redis: Redis, keys: Keys) -> int:
    """Trim intake-stream entries every consumer acknowledged; never an undelivered or pending one."""
    return await stream.trim_acknowledged(redis, keys.stream)
