"""Dead letters and stream housekeeping.

A message whose scoring failed ``max_deliveries`` times is copied to the dead-letter stream with its
last error, its comment is held with reason ``scoring_failed`` (a human decides), and it is acknowledged.
Operators list dead letters and re-queue them with ``commentmod deadletters``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from service.core.keys import Keys
from service.core.logs import get_logger
from service.core.models import Decision, StreamJob
from workers.policy import scoring_failed

if TYPE_CHECKING:
    from workers.consumer import Worker

log = get_logger("commentmod.deadletter")


async def dead_letter(worker: Worker, job: StreamJob, attempt: int, error: str) -> None:
    """Record the dead letter, hold the comment for a human (fenced: a decided comment stays decided)."""
    await worker.redis.xadd(
        worker.keys.dead_letters,
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
    worker.metrics.dead.inc()
    verdict = scoring_failed(error)
    decision = Decision(
        verdict=verdict.verdict,
        scores={},
        reasons=[r.to_json() for r in verdict.reasons],
        models=worker.pipeline.models,
        attempt=attempt,
    )
    record = await worker.store.get(job.comment_id)
    created_at = record.created_at if record else time.time()
    stored = await worker.store.decide(job.comment_id, created_at, decision)
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
    """Trim stream entries that every consumer has acknowledged; never an undelivered or pending one."""
    try:
        groups = await redis.xinfo_groups(keys.stream)
    except Exception:
        return 0
    if not groups:
        return 0
    floor: str | None = None
    for group in groups:
        candidates = [group["last-delivered-id"]]
        summary = await redis.xpending(keys.stream, group["name"])
        if summary and summary.get("pending"):
            candidates.append(summary["min"])
        for candidate in candidates:
            if floor is None or _id_key(candidate) < _id_key(floor):
                floor = candidate
    if floor is None or floor == "0-0":
        return 0
    # MINID keeps entries >= floor: the oldest pending entry, and everything not yet delivered.
    return int(await redis.xtrim(keys.stream, minid=floor, approximate=False))


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
