"""Durable intake: each accepted comment is written (record + stream entry) by one atomic Lua script.

Concurrent requests are batched: a single writer task drains whatever is waiting and sends all the
scripts in one pipeline round trip, so throughput grows with concurrency while every request still
gets its own answer only after its own write has been acknowledged by Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from redis.asyncio import Redis

from service.keys import Keys
from service.models import CommentFields

# KEYS: comment hash, stream, idempotency key ('' if none)
# ARGV: id, site, comment json, created_at, request_id, payload hash, idempotency ttl
_ENQUEUE = """
if KEYS[3] ~= '' then
  local existing = redis.call('GET', KEYS[3])
  if existing then return {0, existing} end
end
redis.call('HSET', KEYS[1], 'site', ARGV[2], 'comment', ARGV[3], 'status', 'pending',
           'created_at', ARGV[4], 'request_id', ARGV[5])
local entry = redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 'request_id', ARGV[5])
if KEYS[3] ~= '' then
  redis.call('SET', KEYS[3], ARGV[1] .. ' ' .. ARGV[6], 'EX', tonumber(ARGV[7]))
end
return {1, entry}
"""

IDEMPOTENCY_TTL_S = 24 * 3600
MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class EnqueueRequest:
    comment_id: str
    site: str
    fields: CommentFields
    created_at: float
    request_id: str
    idempotency_key: str | None = None  # already hashed
    payload_hash: str = ""


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    created: bool  # False: the Idempotency-Key was seen before
    comment_id: str
    payload_hash: str = ""


class QueueUnavailable(Exception):
    """Redis did not acknowledge the write in time; the comment was not accepted."""


class Enqueuer:
    """Batches concurrent enqueue calls into pipelined, atomic writes."""

    def __init__(self, redis: Redis, keys: Keys, timeout_s: float) -> None:
        self._redis = redis
        self._keys = keys
        self._timeout = timeout_s
        self._script = redis.register_script(_ENQUEUE)
        self._pending: asyncio.Queue[tuple[EnqueueRequest, asyncio.Future[EnqueueResult]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="enqueue-writer")

    async def close(self) -> None:
        if self._task is not None:
            # Let writes already queued finish, then stop the writer.
            deadline = asyncio.get_running_loop().time() + self._timeout
            while not self._pending.empty() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def enqueue(self, request: EnqueueRequest) -> EnqueueResult:
        """Write one comment durably; raises ``QueueUnavailable`` if Redis does not answer in time."""
        future: asyncio.Future[EnqueueResult] = asyncio.get_running_loop().create_future()
        if self._pending.qsize() > 10_000:  # bounded memory while Redis is away
            raise QueueUnavailable("intake backlog full")
        self._pending.put_nowait((request, future))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except TimeoutError as exc:
            future.cancel()  # not yet sent: the writer skips it; already sent: Redis keeps it
            raise QueueUnavailable("redis did not acknowledge the write in time") from exc

    async def _run(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < MAX_BATCH and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            live = [(req, fut) for req, fut in batch if not fut.done()]
            if live:
                await self._write(live)

    async def _write(self, batch: list[tuple[EnqueueRequest, asyncio.Future[EnqueueResult]]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for req, _ in batch:
            idem = self._keys.idempotency(req.site, req.idempotency_key) if req.idempotency_key else ""
            await self._script(
                keys=[self._keys.comment(req.comment_id), self._keys.stream, idem],
                args=[
                    req.comment_id,
                    req.site,
                    req.fields.to_json(),
                    repr(req.created_at),
                    req.request_id,
                    req.payload_hash,
                    IDEMPOTENCY_TTL_S,
                ],
                client=pipe,
            )
        try:
            results = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # connection errors: every request in the batch fails the same way
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(QueueUnavailable(str(exc)))
            return
        for (req, fut), result in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, Exception):
                fut.set_exception(QueueUnavailable(str(result)))
            elif int(result[0]) == 1:
                fut.set_result(EnqueueResult(True, req.comment_id, req.payload_hash))
            else:
                existing_id, _, existing_hash = str(result[1]).partition(" ")
                fut.set_result(EnqueueResult(False, existing_id, existing_hash))
