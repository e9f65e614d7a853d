"""One Redis Streams consumer for every stream the worker side reads, with the work plugged in.

A ``StreamConsumer`` owns the mechanics: creating the group, reading new entries and reclaiming entries
idle past ``claim_idle_ms`` (XAUTOCLAIM: a consumer died or stalled), keeping the batch in hand claimed
while it is processed (XCLAIM JUSTID), acknowledging, dead-lettering, housekeeping (trim) and the
heartbeat. What to do with a batch is a ``Handler``: it gets the entries and answers an ``Outcome``:
the entries that are finished (acknowledged) and the ones that failed with their attempt number. A
failure at ``max_deliveries`` goes to the ``DeadLetter`` callback and is acknowledged; an earlier one
stays pending, so it is delivered again (to this consumer's next ``drain`` round, or to any consumer
once idle past ``claim_idle_ms``). Delivery is at least once: a handler must make a repeat harmless.

``run(stop)`` consumes until ``stop`` is set (the batch in hand always finishes first); ``drain()``
processes what is queued now and returns (burst mode, for tests and one-shot runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import Gauge
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.core.logs import get_logger

log = get_logger("commentmod.worker")

Entry = tuple[str, dict[str, str]]  # stream entry id, fields


@dataclass(frozen=True, slots=True)
class Failure:
    """An entry whose processing failed this time; ``attempt`` counts every delivery so far."""

    message_id: str
    fields: dict[str, str]
    attempt: int
    error: str


@dataclass(slots=True)
class Outcome:
    done: list[str] = field(default_factory=list)  # entry ids to acknowledge
    failed: list[Failure] = field(default_factory=list)
    after_ack: Callable[[], Awaitable[None]] | None = None  # work that need not delay the ack


Handler = Callable[[list[Entry]], Awaitable[Outcome]]
Ack = Callable[[list[str]], Awaitable[None]]
DeadLetter = Callable[[Failure], Awaitable[None]]
Housekeeping = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """Which stream and group, and how a consumer of it behaves."""

    stream: str
    group: str
    batch_size: int = 256
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    max_deliveries: int = 3
    housekeeping_every_s: float = 30.0


class Heartbeat:
    """Writes ``name -> unix time`` into a hash every third of ``ttl_s`` (readiness counts fresh ones)."""

    def __init__(self, redis: Redis, key: str, name: str, ttl_s: float, gauge: Gauge | None = None) -> None:
        self.redis, self.key, self.name = redis, key, name
        self.interval_s = max(ttl_s / 3, 0.2)
        self.gauge = gauge

    async def beat(self) -> None:
        now = time.time()
        await self.redis.hset(self.key, self.name, repr(now))
        if self.gauge is not None:
            self.gauge.set(now)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.beat()
            except Exception as exc:
                log.warning("heartbeat_failed", worker=self.name, error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)

    async def clear(self) -> None:
        try:
            await self.redis.hdel(self.key, self.name)
        except Exception:
            log.warning("worker_heartbeat_cleanup_failed", worker=self.name)


class StreamConsumer:
    """Reads one stream through its consumer group and hands each batch to ``handler``."""

    def __init__(
        self,
        redis: Redis,
        spec: StreamSpec,
        name: str,
        handler: Handler,
        *,
        dead_letter: DeadLetter | None = None,
        housekeeping: Housekeeping | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.redis = redis
        self.spec = spec
        self.name = name
        self.handler = handler
        self.dead_letter = dead_letter
        self.housekeeping = housekeeping
        self.heartbeat = heartbeat
        self._last_claim = 0.0
        self._last_housekeeping = 0.0
        self._in_hand: list[str] = []  # ids of the batch being processed, kept claimed

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.spec.stream, self.spec.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until ``stop`` is set; the batch in hand always finishes first."""
        await self.ensure_group()
        beat = asyncio.create_task(self.heartbeat.run(stop), name="heartbeat") if self.heartbeat else None
        try:
            while not stop.is_set():
                try:
                    await self.step()
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    log.warning("worker_redis_error", worker=self.name, error=type(exc).__name__)
                    await asyncio.sleep(1.0)
                except Exception as exc:
                    log.exception("worker_step_failed", worker=self.name, error=type(exc).__name__)
                    await asyncio.sleep(1.0)
        finally:
            if beat is not None and self.heartbeat is not None:
                beat.cancel()
                await asyncio.gather(beat, return_exceptions=True)
                await self.heartbeat.clear()

    async def step(self) -> int:
        """One batch: stale entries of dead consumers first, else new ones (blocking up to
        ``block_ms``); then housekeeping when due. Returns how many entries were handled."""
        entries = await self.claim_stale()
        if not entries:
            entries = await self.read_new(self.spec.block_ms)
        if entries:
            await self.process(entries)
        await self.maybe_housekeep()
        return len(entries)

    async def drain(self, max_rounds: int = 10_000) -> int:
        """Burst mode: process this consumer's own unacknowledged entries (retries), every new entry and
        every entry idle past ``claim_idle_ms``, until a round finds nothing; then housekeeping. Returns
        how many entries were handled (an entry retried three times counts three)."""
        await self.ensure_group()
        handled = 0
        for _ in range(max_rounds):
            entries = await self.read_own_pending() or await self.read_new(None)
            entries = entries or await self.claim_stale(force=True)
            if not entries:
                break
            await self.process(entries)
            handled += len(entries)
        if self.housekeeping is not None:
            await self.housekeeping()
        return handled

    async def process(self, entries: list[Entry], ack: Ack | None = None) -> Outcome:
        """Handle one batch, kept claimed meanwhile; dead-letter what failed its last delivery;
        acknowledge what is finished (through ``ack`` when given)."""
        self._in_hand = [mid for mid, _ in entries]
        async with self.keep_claimed(self._in_hand):
            outcome = await self.handler(entries)
        finished = list(outcome.done)
        for failure in outcome.failed:
            if failure.attempt >= self.spec.max_deliveries and self.dead_letter is not None:
                await self.dead_letter(failure)
                finished.append(failure.message_id)
        await (ack or self.ack)(finished)
        if outcome.after_ack is not None:
            await outcome.after_ack()
        return outcome

    async def ack(self, message_ids: list[str]) -> None:
        if message_ids:
            await self.redis.xack(self.spec.stream, self.spec.group, *message_ids)

    async def read_new(self, block_ms: int | None) -> list[Entry]:
        response = await self.redis.xreadgroup(
            self.spec.group, self.name, {self.spec.stream: ">"}, count=self.spec.batch_size, block=block_ms
        )
        return [(mid, fields) for _, entries in response or [] for mid, fields in entries]

    async def read_more(self) -> list[Entry]:
        """For a handler in the middle of a batch: entries that arrived meanwhile (no blocking), kept
        claimed with the rest of the batch; the handler answers for them in its ``Outcome``."""
        entries = await self.read_new(None)
        self._in_hand.extend(mid for mid, _ in entries)
        return entries

    async def read_own_pending(self) -> list[Entry]:
        """Entries delivered to this consumer and not acknowledged (a failure left for a retry, or a
        restart under the same name); deleted entries come back without fields and are acknowledged."""
        response = await self.redis.xreadgroup(
            self.spec.group, self.name, {self.spec.stream: "0"}, count=self.spec.batch_size
        )
        entries = [(mid, fields) for _, batch in response or [] for mid, fields in batch]
        await self.ack([mid for mid, fields in entries if not fields])
        return [(mid, fields) for mid, fields in entries if fields]

    async def claim_stale(self, force: bool = False) -> list[Entry]:
        """Entries idle past ``claim_idle_ms``, looked for at most every quarter of it (5 s at most)."""
        now = time.monotonic()
        if not force and now - self._last_claim < min(self.spec.claim_idle_ms / 4000, 5.0):
            return []
        self._last_claim = now
        result = await self.redis.xautoclaim(
            self.spec.stream,
            self.spec.group,
            self.name,
            min_idle_time=self.spec.claim_idle_ms,
            start_id="0-0",
            count=self.spec.batch_size,
        )
        claimed = [(mid, fields) for mid, fields in result[1] if fields]
        if claimed:
            log.info("messages_reclaimed", worker=self.name, count=len(claimed))
        return claimed

    @contextlib.asynccontextmanager
    async def keep_claimed(self, message_ids: list[str]) -> AsyncIterator[None]:
        """While a batch is in hand, reset its entries' idle time every third of ``claim_idle_ms`` (ids
        added to ``message_ids`` meanwhile too), so a long batch (large batches of long comments, a slow
        machine) is not reclaimed and processed again by a peer; a stalled or dead consumer stops
        refreshing, and its entries go to the others. An entry a peer took over meanwhile (idle under
        half the interval) is left to it."""
        interval_s = self.spec.claim_idle_ms / 3000

        async def refresh() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    await self.redis.xclaim(
                        self.spec.stream, self.spec.group, self.name, int(interval_s * 500),
                        list(message_ids), justid=True,
                    )  # fmt: skip
                except (RedisError, OSError) as exc:
                    log.warning("claim_refresh_failed", worker=self.name, error=type(exc).__name__)

        task = asyncio.create_task(refresh(), name="keep-claimed")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def maybe_housekeep(self) -> None:
        now = time.monotonic()
        if self.housekeeping is None or now - self._last_housekeeping < self.spec.housekeeping_every_s:
            return
        self._last_housekeeping = now
        await self.housekeeping()


async def trim_acknowledged(redis: Redis, stream: str) -> int:
    """Trim entries of ``stream`` that every group has acknowledged; never an undelivered or pending one."""
    try:
        groups = await redis.xinfo_groups(stream)
    except Exception:
        return 0
    if not groups:
        return 0
    floor: str | None = None
    for group in groups:
        candidates = [group["last-delivered-id"]]
        summary = await redis.xpending(stream, group["name"])
        if summary and summary.get("pending"):
            candidates.append(summary["min"])
        for candidate in candidates:
            if floor is None or _id_key(candidate) < _id_key(floor):
                floor = candidate
    if floor is None or floor == "0-0":
        return 0
    # MINID keeps entries >= floor: the oldest pending entry, and everything not yet delivered.
    return int(await redis.xtrim(stream, minid=floor, approximate=False))


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
