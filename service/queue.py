"""Durable intake: each accepted comment is written (record + stream entry) by one atomic Lua script.

Concurrent requests are batched: a single writer task drains whatever is waiting and sends all the
scripts in one pipeline round trip, so throughput grows with concurrency while every request still
gets its own answer only after its own write has been acknowledged by Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from service.keys import Keys
from service.models import CommentFields

# KEYS: comment hash, stream, idempotency key, site rate key, client rate key ('' when unused)
# ARGV: id, site, comment json, created_at, request_id, payload hash, idempotency ttl,
#       site limit, client limit, rate window seconds
# Returns {1, entry id} when written, {0, "id hash"} for a replayed Idempotency-Key,
# {2, seconds} when a rate limit is reached (nothing written).
_ENQUEUE = """
if KEYS[3] ~= '' then
  local existing = redis.call('GET', KEYS[3])
  if existing then return {0, existing} end
end
local limits = {{KEYS[4], tonumber(ARGV[8])}, {KEYS[5], tonumber(ARGV[9])}}
for _, rl in ipairs(limits) do
  if rl[1] ~= '' and tonumber(redis.call('GET', rl[1]) or '0') >= rl[2] then
    local ttl = redis.call('TTL', rl[1])
    if ttl < 1 then ttl = 1 end
    return {2, tostring(ttl)}
  end
end
for _, rl in ipairs(limits) do
  if rl[1] ~= '' and redis.call('INCR', rl[1]) == 1 then
    redis.call('EXPIRE', rl[1], tonumber(ARGV[10]))
  end
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
MAX_BACKLOG = 10_000  # requests waiting for Redis, at most
MAX_BACKLOG_BYTES = 32 * 1024 * 1024  # and at most this much comment data


@dataclass(frozen=True, slots=True)
class EnqueueRequest:
    comment_id: str
    site: str
    fields: CommentFields
    created_at: float
    request_id: str
    idempotency_key: str | None = None  # already hashed
    payload_hash: str = ""
    client_key: str = ""  # hash of the commenter's IP, for the per-client rate limit
    fields_json: str = ""  # fields.to_json(), computed once by the caller


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Comments allowed per window, per site (by key) and per commenter IP within a site; 0: off."""

    window_s: int = 60
    site: int = 0
    client: int = 0
    per_site: dict[str, int] | None = None

    def for_site(self, site: str) -> int:
        return (self.per_site or {}).get(site, self.site)


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    created: bool  # False: the Idempotency-Key was seen before (or rate limited)
    comment_id: str
    payload_hash: str = ""
    retry_after: int = 0  # > 0: a rate limit was reached and nothing was written


class QueueUnavailable(Exception):
    """Redis did not acknowledge the write in time; the comment was not accepted."""


class Enqueuer:
    """Batches concurrent enqueue calls into pipelined, atomic writes."""

    def __init__(self, redis: Redis, keys: Keys, timeout_s: float, limits: RateLimits | None = None) -> None:
        self._redis = redis
        self._limits = limits or RateLimits()
        self._keys = keys
        self._timeout = timeout_s
        self._sha: str | None = None  # SCRIPT LOADed once, then EVALSHA (no per-batch SCRIPT EXISTS)
        self._pending: asyncio.Queue[tuple[EnqueueRequest, asyncio.Future[EnqueueResult]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._pending_bytes = 0

    def _release(self, size: int) -> None:
        self._pending_bytes -= size

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
        size = len(request.fields_json) + 512
        if self._pending.qsize() >= MAX_BACKLOG or self._pending_bytes + size > MAX_BACKLOG_BYTES:
            raise QueueUnavailable("intake backlog full")  # bounded memory while Redis is away
        self._pending_bytes += size
        future.add_done_callback(lambda _: self._release(size))
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
        try:
            results = await self._execute([req for req, _ in batch])
        except Exception as exc:  # connection errors: every request in the batch fails the same way
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(QueueUnavailable(str(exc)))
            return
        for (req, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                self._resolve(req, fut, result)

    async def _execute(self, requests: list[EnqueueRequest]) -> list[Any]:
        """One pipelined EVALSHA per request; reload the script once if Redis lost it (a restart)."""
        results: list[Any] = [None] * len(requests)
        todo = list(range(len(requests)))
        for _ in range(2):
            if self._sha is None:
                self._sha = await self._redis.script_load(_ENQUEUE)
            pipe = self._redis.pipeline(transaction=False)
            for i in todo:
                keys = self._script_keys(requests[i])
                pipe.evalsha(self._sha, len(keys), *keys, *self._script_args(requests[i]))
            for i, result in zip(todo, await pipe.execute(raise_on_error=False), strict=True):
                results[i] = result
            todo = [i for i in todo if isinstance(results[i], NoScriptError)]
            if not todo:
                break
            self._sha = None  # nothing of a NOSCRIPT command ran: retrying it is safe
        return results

    def _resolve(self, req: EnqueueRequest, fut: asyncio.Future[EnqueueResult], result: Any) -> None:
        if isinstance(result, Exception):
            fut.set_exception(QueueUnavailable(str(result)))
        elif int(result[0]) == 1:
            fut.set_result(EnqueueResult(True, req.comment_id, req.payload_hash))
        elif int(result[0]) == 2:
            fut.set_result(EnqueueResult(False, "", retry_after=int(result[1])))
        else:
            existing_id, _, existing_hash = str(result[1]).partition(" ")
            fut.set_result(EnqueueResult(False, existing_id, existing_hash))

    def _script_keys(self, req: EnqueueRequest) -> list[str]:
        window = int(req.created_at // self._limits.window_s)
        site_limited = self._limits.for_site(req.site) > 0
        client_limited = self._limits.client > 0 and req.client_key
        return [
            self._keys.comment(req.comment_id),
            self._keys.stream,
            self._keys.idempotency(req.site, req.idempotency_key) if req.idempotency_key else "",
            self._keys.rate_site(req.site, window) if site_limited else "",
            self._keys.rate_client(req.site, req.client_key, window) if client_limited else "",
        ]

    def _script_args(self, req: EnqueueRequest) -> list[str | int]:
        return [
            req.comment_id,
            req.site,
            req.fields_json or req.fields.to_json(),
            repr(req.created_at),
            req.request_id,
            req.payload_hash,
            IDEMPOTENCY_TTL_S,
            self._limits.for_site(req.site),
            self._limits.client,
            self._limits.window_s,
        ]
