"""Decision callbacks: every decision (automatic or by a moderator) is POSTed to the site's URL.

The event is written to ``cm:stream:webhooks`` by the same Lua script that stores the decision, so a
decision makes exactly one event and a redelivered comment (already decided) makes none. Senders read
that stream through a consumer group; each delivery is signed, retried with exponential backoff for a
bounded time, and every attempt is recorded in Redis. Receivers deduplicate on ``event_id`` (delivery
is at least once: a sender that dies mid-delivery leaves the event for another to reclaim).

Signature header: ``X-Commentmod-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from service.core.keys import Keys
from service.core.logs import get_logger
from service.core.settings import Settings
from service.core.store import DecisionStore

log = get_logger("commentmod.webhooks")

MAX_BACKOFF_S = 300.0
ATTEMPTS_KEPT = 50


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """What a receiver does: check the HMAC in constant time and the timestamp's freshness."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected, header) and abs(time.time() - timestamp) <= tolerance_s


class WebhookSender:
    def __init__(self, settings: Settings, redis: Redis, name: str) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = Keys(settings.stream_prefix)
        self.store = DecisionStore(redis, self.keys)
        self.name = name
        self._slots = asyncio.Semaphore(16)
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: dict[str, asyncio.Task[None]] = {}  # comment id -> its latest delivery task

    async def run(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self.redis.xgroup_create(
                self.keys.webhook_stream, self.keys.webhook_group, "0", mkstream=True
            )
        timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            # Our own unfinished events first (a restart under the same name resumes them).
            own = await self.redis.xreadgroup(
                self.keys.webhook_group, self.name, {self.keys.webhook_stream: "0"}, count=1000
            )
            await self._spawn(session, stop, [(mid, f) for _, batch in own or [] for mid, f in batch if f])
            while not stop.is_set():
                try:
                    await self._step(session, stop)
                except Exception as exc:
                    log.warning("webhook_step_failed", error=type(exc).__name__)
                    await asyncio.sleep(1.0)
            # Deliveries in flight stop at their next wait; their events stay pending for a peer.
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _step(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        claimed = await self.redis.xautoclaim(
            self.keys.webhook_stream, self.keys.webhook_group, self.name,
            min_idle_time=self._reclaim_idle_ms, start_id="0-0", count=16,
        )  # fmt: skip
        entries = [(mid, f) for mid, f in claimed[1] if f]
        if not entries:
            response = await self.redis.xreadgroup(
                self.keys.webhook_group, self.name, {self.keys.webhook_stream: ">"}, count=16, block=500
            )
            entries = [(mid, f) for _, batch in response or [] for mid, f in batch]
        await self._spawn(session, stop, entries)

    @property
    def _reclaim_idle_ms(self) -> int:
        """A sender in its longest backoff still refreshes its claim well within this."""
        return int((MAX_BACKOFF_S + self.settings.webhook_timeout_s + 60) * 1000)

    async def _spawn(
        self, session: aiohttp.ClientSession, stop: asyncio.Event, entries: list[tuple[str, dict[str, str]]]
    ) -> None:
        for mid, fields in await self._finish_untargeted(entries):
            await self._slots.acquire()
            comment_id = fields.get("id", "")
            before = self._last.get(comment_id)
            task = asyncio.create_task(self._deliver_and_release(session, stop, mid, fields, before))
            self._last[comment_id] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(functools.partial(self._forget, comment_id))

    def _forget(self, comment_id: str, task: asyncio.Task[None]) -> None:
        if self._last.get(comment_id) is task:
            del self._last[comment_id]

    async def _deliver_and_release(
        self,
        session: aiohttp.ClientSession,
        stop: asyncio.Event,
        mid: str,
        fields: dict[str, str],
        before: asyncio.Task[None] | None,
    ) -> None:
        """Events of one comment are delivered in order: wait for the previous one first."""
        try:
            if before is not None:
                await asyncio.gather(before, return_exceptions=True)
            if await self.deliver(session, stop, mid, fields):
                pipe = self.redis.pipeline(transaction=True)
                pipe.xack(self.keys.webhook_stream, self.keys.webhook_group, mid)
                pipe.xdel(self.keys.webhook_stream, mid)
                await pipe.execute()
        finally:
            self._slots.release()

    async def _finish_untargeted(
        self, entries: list[tuple[str, dict[str, str]]]
    ) -> list[tuple[str, dict[str, str]]]:
        """Finish, in two round trips for the lot, the events with nothing to send (the comment is gone or
        its site has no webhook: what ``deliver`` would find one by one); return the others. Events of a
        comment with a delivery in flight wait their turn as usual."""
        free = [(mid, f) for mid, f in entries if f.get("id", "") not in self._last]
        if not free:
            return entries
        pipe = self.redis.pipeline(transaction=False)
        for _, fields in free:
            pipe.hget(self.keys.comment(fields.get("id", "")), "site")
        sites = await pipe.execute()
        targets = await self._targets({site for site in sites if site})
        finished = [mid for (mid, _), site in zip(free, sites, strict=True) if not site or not targets[site]]
        if finished:
            pipe = self.redis.pipeline(transaction=True)
            pipe.xack(self.keys.webhook_stream, self.keys.webhook_group, *finished)
            pipe.xdel(self.keys.webhook_stream, *finished)
            await pipe.execute()
        done = set(finished)
        return [(mid, f) for mid, f in entries if mid not in done]

    async def _targets(self, sites: set[str]) -> dict[str, tuple[str, str] | None]:
        ordered = sorted(sites)
        pipe = self.redis.pipeline(transaction=False)
        for site in ordered:
            pipe.hmget(self.keys.webhook(site), "url", "secret")
        rows = await pipe.execute() if ordered else []
        return {site: self._target_of(site, row) for site, row in zip(ordered, rows, strict=True)}

    async def _target(self, site: str) -> tuple[str, str] | None:
        return self._target_of(site, await self.redis.hmget(self.keys.webhook(site), "url", "secret"))

    def _target_of(self, site: str, row: list[str | None]) -> tuple[str, str] | None:
        if row[0]:
            return row[0], row[1] or ""
        url = self.settings.webhooks.get(site)
        return (url, self.settings.webhook_secrets.get(site, "")) if url else None

    async def deliver(
        self, session: aiohttp.ClientSession, stop: asyncio.Event, mid: str, fields: dict[str, str]
    ) -> bool:
        """Deliver one event; True when it is finished (delivered, given up, or nothing to send)."""
        record = await self.store.get(fields.get("id", ""))
        target = await self._target(record.site) if record else None
        if record is None or target is None:
            return True
        url, secret = target
        body = json.dumps({"event": "comment.decided", "event_id": mid, "status": fields.get("status"),
                           "comment": record.public()}, ensure_ascii=False).encode()  # fmt: skip
        attempts_key = self.keys.webhook_attempts(mid)
        first = await self.redis.lindex(attempts_key, 0)
        started = json.loads(first)["at"] if first else time.time()
        attempt = int(await self.redis.llen(attempts_key))
        while True:
            if attempt and time.time() - started >= self.settings.webhook_max_age_s:
                log.warning("webhook_gave_up", event_id=mid, comment_id=record.id, attempts=attempt)
                return True
            attempt += 1
            if await self._attempt(session, url, secret, mid, body, attempt):
                return True
            delay = min(self.settings.webhook_backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
            # Refresh our claim so peers don't take over an event we are still retrying.
            await self.redis.xclaim(
                self.keys.webhook_stream, self.keys.webhook_group, self.name, 0, [mid], justid=True
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return False  # stays pending; a peer (or our restart) resumes with the recorded attempts

    async def _attempt(
        self, session: aiohttp.ClientSession, url: str, secret: str, mid: str, body: bytes, attempt: int
    ) -> bool:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "commentmod-webhooks",
            "X-Commentmod-Event-Id": mid,
            "X-Commentmod-Signature": sign(secret, int(time.time()), body),
        }
        started = time.perf_counter()
        outcome: dict[str, Any] = {"at": time.time(), "attempt": attempt}
        try:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                outcome["status"] = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome["error"] = type(exc).__name__
        outcome["ms"] = round((time.perf_counter() - started) * 1000, 1)
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(self.keys.webhook_attempts(mid), json.dumps(outcome))
        pipe.ltrim(self.keys.webhook_attempts(mid), -ATTEMPTS_KEPT, -1)
        pipe.expire(self.keys.webhook_attempts(mid), int(self.settings.webhook_max_age_s) + 7 * 86400)
        await pipe.execute()
        ok = 200 <= int(outcome.get("status", 0)) < 300
        log.info("webhook_attempt", event_id=mid, attempt=attempt, status=outcome.get("status"),
                 error=outcome.get("error"), ms=outcome["ms"], delivered=ok)  # fmt: skip
        return ok
