"""Wait for a comment's decision (``Prefer: wait=N``) via one shared pub/sub subscription."""

from __future__ import annotations

import asyncio
import contextlib
import time

from redis.asyncio import Redis

from service.core.keys import Keys
from service.core.logs import get_logger
from service.core.models import CommentRecord
from service.core.store import DecisionStore

log = get_logger("commentmod.waiter")


class DecisionWaiter:
    """One subscriber connection per API process; requests register futures keyed by comment id."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="decision-listener")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def register(self, comment_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(comment_id, []).append(future)
        return future

    def unregister(self, comment_id: str, future: asyncio.Future[None]) -> None:
        futures = self._waiting.get(comment_id, [])
        if future in futures:
            futures.remove(future)
        if not futures:
            self._waiting.pop(comment_id, None)

    def _notify(self, comment_id: str) -> None:
        for future in self._waiting.pop(comment_id, []):
            if not future.done():
                future.set_result(None)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._keys.decided_channel)
                    async for message in pubsub.listen():
                        if message and message.get("type") == "message":
                            self._notify(str(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: retry; waiters fall back to their timeout
                log.warning("decision_listener_error", error=type(exc).__name__)
                await asyncio.sleep(1.0)


async def wait_decided(
    store: DecisionStore, waiter: DecisionWaiter, comment_id: str, wait: float
) -> CommentRecord | None:
    """The record once a worker (or a moderator) decided it, or as it stands after ``wait`` seconds.

    A pub/sub nudge wakes the wait early; a slow poll (every second) covers a lost nudge."""
    deadline = time.monotonic() + wait
    while True:
        future = waiter.register(comment_id)
        try:
            record = await store.get(comment_id)
            remaining = deadline - time.monotonic()
            if (record is not None and record.status != "pending") or remaining <= 0:
                return record
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, min(remaining, 1.0))
        finally:
            waiter.unregister(comment_id, future)
