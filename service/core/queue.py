"""Durable intake: accepted comments are written (record + stream entry) by one atomic Lua script.

Concurrent requests are batched: a single writer task drains whatever is waiting and writes the whole
batch with one script call (one round trip, one command to pack and parse), so throughput grows with
concurrency while every request still gets its own answer only after its own write has been
acknowledged by Redis. Deadlines are kept in arrival order and checked by one timer, not one per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from service.core.keys import Keys
from service.core.models import CommentFields
from service.core.privacy import canonical_ip, client_hash
from service.core.scripts import ENQUEUE_BATCH

IDEMPOTENCY_TTL_S = 24 * 3600
MAX_BATCH = 256
MAX_BACKLOG = 10_000  # requests waiting for Redis, at most
MAX_BACKLOG_BYTES = 32 * 1024 * 1024  # and at most this much comment data
_TIMED_OUT = "redis did not acknowledge the write in time"


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each field through object.__setattr__
class EnqueueRequest:
    comment_id: str
    site: str
    fields: CommentFields
    created_at: float
    request_id: str
    idempotency_key: str | None = None  # already hashed
    payload_hash: str = ""  # needed with an idempotency key only
    comment_json: bytes = b""  # fields.stored_json(); ``enqueue`` fills it when the caller did not


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Comments allowed per window, per site (by key) and per commenter IP within a site; 0: off."""

    window_s: int = 60
    site: int = 0
    client: int = 0
    per_site: dict[str, int] | None = None
    hash_key: bytes = b""  # the pseudonym secret for the per-client key (service.core.privacy)

    def for_site(self, site: str) -> int:
        return self.per_site.get(site, self.site) if self.per_site else self.site


@dataclass(slots=True)
class EnqueueResult:
    created: bool  # False: the Idempotency-Key was seen before (or rate limited)
    comment_id: str
    payload_hash: str = ""
    retry_after: int = 0  # > 0: a rate limit was reached and nothing was written


Waiting = tuple[EnqueueRequest, "asyncio.Future[EnqueueResult]", int]  # request, its answer, its bytes


class QueueUnavailable(Exception):
    """Redis did not acknowledge the write in time; the comment was not accepted."""


class Deadlines:
    """Fails each waiting call at its deadline with one timer for all of them (arrival order is
    deadline order, since every call gets the same timeout)."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = timeout_s
        self._queue: deque[tuple[float, asyncio.Future[EnqueueResult]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[EnqueueResult]) -> None:
        deadline = loop.time() + self._timeout
        self._queue.append((deadline, future))
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire, loop)

    def forget_done(self) -> None:
        """Drop answered calls from the front (writes complete in arrival order)."""
        queue = self._queue
        while queue and queue[0][1].done():
            queue.popleft()

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        now, queue = loop.time(), self._queue
        while queue and (queue[0][0] <= now or queue[0][1].done()):
            _, future = queue.popleft()
            if not future.done():  # not yet sent: the writer skips it; already sent: Redis keeps it
                future.set_exception(QueueUnavailable(_TIMED_OUT))
        self._timer = loop.call_at(queue[0][0], self._expire, loop) if queue else None

    def fail_all(self, reason: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queue:
            _, future = self._queue.popleft()
            if not future.done():
                future.set_exception(QueueUnavailable(reason))


class Enqueuer:
    """Batches concurrent enqueue calls into one atomic script call per batch."""

    def __init__(self, redis: Redis, keys: Keys, timeout_s: float, limits: RateLimits | None = None) -> None:
        self._redis = redis
        self._limits = limits or RateLimits()
        self._keys = keys
        self._timeout = timeout_s
        # EVALSHA outside a pipeline (no per-batch SCRIPT EXISTS); redis-py reloads it after a NOSCRIPT
        self._script = ENQUEUE_BATCH.on(redis)
        self._pending: list[Waiting] = []  # arrival order; the writer takes up to MAX_BATCH at a time
        self._wakeup: asyncio.Future[None] | None = None  # set while the writer waits for work
        self._deadlines = Deadlines(timeout_s)
        self._task: asyncio.Task[None] | None = None
        self._pending_bytes = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="enqueue-writer")

    async def close(self) -> None:
        if self._task is not None:
            # Let writes already queued finish, then stop the writer.
            deadline = asyncio.get_running_loop().time() + self._timeout
            while self._pending and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._deadlines.fail_all("intake stopped")

    async def enqueue(self, request: EnqueueRequest) -> EnqueueResult:
        """Write one comment durably; raises ``QueueUnavailable`` if Redis does not answer in time."""
        if not request.comment_json:
            request.comment_json = request.fields.stored_json()
        size = len(request.comment_json) + 512
        pending = self._pending
        if len(pending) >= MAX_BACKLOG or self._pending_bytes + size > MAX_BACKLOG_BYTES:
            raise QueueUnavailable("intake backlog full")  # bounded memory while Redis is away
        loop = asyncio.get_running_loop()
        future: asyncio.Future[EnqueueResult] = loop.create_future()
        self._pending_bytes += size
        pending.append((request, future, size))
        self._deadlines.watch(loop, future)
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._wakeup = loop.create_future()
                await self._wakeup
            batch = self._pending[:MAX_BATCH]
            del self._pending[:MAX_BATCH]
            try:
                live = [(req, fut) for req, fut, _ in batch if not fut.done()]
                if live:
                    await self._write(live)
            finally:
                self._pending_bytes -= sum(size for _, _, size in batch)
                self._deadlines.forget_done()

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
                _resolve(req, fut, result)

    async def _execute(self, requests: list[EnqueueRequest]) -> list[Any]:
        """One EVALSHA for the batch (reloaded once if Redis lost the script, e.g. after a restart)."""
        keys, args = self._script_call(requests)
        results: list[Any] = json.loads(await self._script(keys=keys, args=args))
        return results

    def _script_call(self, requests: list[EnqueueRequest]) -> tuple[list[str], list[str | int | bytes]]:
        keys: list[str] = [self._keys.stream]
        specs: list[list[Any]] = []
        comments: list[bytes] = []
        for req in requests:
            specs.append(self._spec(req, keys))
            comments.append(req.comment_json)
        limits = self._limits
        args: list[str | int | bytes] = [IDEMPOTENCY_TTL_S, limits.client, limits.window_s, json.dumps(specs)]
        return keys, args + comments

    def _spec(self, req: EnqueueRequest, keys: list[str]) -> list[Any]:
        """The request's script entry; its keys are appended to ``keys`` (entries index them)."""
        site_limit = self._limits.for_site(req.site)
        window = int(req.created_at // self._limits.window_s)
        keys.append(self._keys.comment(req.comment_id))
        record, idem, site_rate, client_rate = len(keys), 0, 0, 0
        if req.idempotency_key:
            keys.append(self._keys.idempotency(req.site, req.idempotency_key))
            idem = len(keys)
        if site_limit > 0:
            keys.append(self._keys.rate_site(req.site, window))
            site_rate = len(keys)
        if self._limits.client > 0 and req.fields.ip:
            client = client_hash(req.site, _ip_identity(req.fields.ip), self._limits.hash_key)
            keys.append(self._keys.rate_client(req.site, client, window))
            client_rate = len(keys)
        return [
            record, idem, site_rate, client_rate, req.comment_id, req.site, repr(req.created_at),
            req.request_id, req.payload_hash, site_limit,
        ]  # fmt: skip


def _ip_identity(ip: str) -> str:
    """The IP as the per-client limit counts it: ``canonical_ip`` (IPv6 by /64). The API refuses a
    value that is no IP with a 422 naming ``ip``; anything else (a direct caller) counts as sent."""
    try:
        return canonical_ip(ip)
    except ValueError:
        return ip.strip().lower()


def _resolve(req: EnqueueRequest, fut: asyncio.Future[EnqueueResult], result: Any) -> None:
    code, value = int(result[0]), str(result[1])
    if code == 1:
        fut.set_result(EnqueueResult(True, req.comment_id, req.payload_hash))
    elif code == 2:
        fut.set_result(EnqueueResult(False, "", retry_after=int(value)))
    elif code == 0:
        existing_id, _, existing_hash = value.partition(" ")
        fut.set_result(EnqueueResult(False, existing_id, existing_hash))
    else:
        fut.set_exception(QueueUnavailable(value))
