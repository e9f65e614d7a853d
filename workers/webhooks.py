"""Decision callbacks: every decision (automatic or by a moderator) is POSTed to the site's URL.

The event is written to ``cm:stream:webhooks`` by the same Lua script that stores the decision, so a
decision makes exactly one event and a redelivered comment (already decided) makes none. Senders read
that stream with the worker side's stream consumer and route each event into its site's outbox
(workers/stream_outbox.py), its body built from the decision's snapshot. Each site's outbox is
delivered on its own (at most ``PER_SITE`` requests in flight per sender process), so a failing or slow
receiver delays only its own site; a failed attempt is rescheduled with exponential backoff, holding
nothing while it waits, until ``webhook_max_age_s`` after the first attempt. Every attempt reads the
site's current URL and secret (a deleted URL gets nothing more), checks the URL and every address it
resolves to (service/core/webhook_urls.py), and is recorded in Redis whatever happens, an exception
included. Events of one comment go out in decision order (``seq`` in the body), across restarts too.
Receivers deduplicate on ``event_id`` (delivery is at least once: a sender that dies mid-attempt leaves
the event to be attempted again when its lease ends).

Signature header: ``X-Commentmod-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from redis.asyncio import Redis

from service.core.keys import Keys
from service.core.logs import get_logger
from service.core.settings import Settings
from service.core.webhook_urls import UrlRefused, check_url, is_public_address
from workers.stream import Entry, Outcome, StreamConsumer, StreamSpec
from workers.stream_outbox import Event, Outbox

log = get_logger("commentmod.webhooks")

MAX_BACKOFF_S = 300.0
ATTEMPTS_KEPT = 50
PER_SITE = 4  # requests in flight per site and sender process
ORDER_WAIT_S = 30.0  # an event waiting for an earlier one of its comment looks again this late at most
POLL_S = 0.25  # how often a sender looks for due events, besides when an attempt ends or events arrive


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


class AddressNotPublic(OSError):
    """The webhook's host resolved to a loopback, link-local, private or otherwise non-public address."""


class PublicResolver(AbstractResolver):
    """aiohttp's resolver, refusing any host with a non-public address (checked on what is connected
    to, so a name that resolves differently later cannot slip through)."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if not found or not all(is_public_address(item["host"]) for item in found):
            raise AddressNotPublic(f"{host} resolves to an address that is not public")
        return found

    async def close(self) -> None:
        await self._inner.close()


def _error_name(exc: BaseException) -> str:
    """What an attempt's record says went wrong."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, AddressNotPublic):
            return "address_not_public"
        if isinstance(cause, UrlRefused):
            return "url_refused"
        cause = cause.__cause__ or getattr(cause, "os_error", None)
    return type(exc).__name__


class WebhookSender:
    """Routes the webhook stream into per-site outboxes and delivers them."""

    def __init__(
        self, settings: Settings, redis: Redis, name: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = keys = Keys(settings.stream_prefix)
        self.name = name
        self.clock = clock
        self.outbox = Outbox(redis, keys, settings, lambda: self.clock())
        spec = StreamSpec(
            keys.webhook_stream, keys.webhook_group, batch_size=256, block_ms=min(settings.block_ms, 500),
            claim_idle_ms=settings.claim_idle_ms, max_deliveries=1_000_000,
        )  # fmt: skip
        self.consumer = StreamConsumer(redis, spec, name, self._route)
        self._inflight: dict[str, set[asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()  # an attempt ended or events arrived: look for due events now

    @property
    def in_flight(self) -> int:
        """Attempts running now (a retry waiting for its time is not one)."""
        return sum(len(tasks) for tasks in self._inflight.values())

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        resolver = None if self.settings.webhook_allow_private else PublicResolver()
        connector = aiohttp.TCPConnector(limit=0, resolver=resolver)
        timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            yield session

    async def run(self, stop: asyncio.Event) -> None:
        """Route and deliver until ``stop`` is set; attempts in flight finish (each is bounded by
        ``webhook_timeout_s``), retries stay scheduled in Redis for any sender."""
        await self.consumer.ensure_group()
        router = asyncio.create_task(self.consumer.run(stop), name="webhook-router")
        async with self._session() as session:
            try:
                while not stop.is_set():
                    try:
                        await self.dispatch(session)
                    except Exception as exc:
                        log.warning("webhook_step_failed", error=type(exc).__name__)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), POLL_S)
                    self._wake.clear()
            finally:
                await asyncio.gather(router, *self._tasks(), return_exceptions=True)

    async def drain(self) -> int:
        """Burst mode: route every queued event, then attempt every event due now (by ``clock``), round
        after round, until none is due. Returns how many due events were taken up (each attempted once,
        or put back to wait for an earlier event of its comment); retries scheduled later stay in their
        outbox."""
        await self.consumer.drain()
        taken = 0
        async with self._session() as session:
            while started := await self.dispatch(session):
                await asyncio.gather(*started, return_exceptions=True)
                taken += len(started)
        return taken

    async def _route(self, entries: list[Entry]) -> Outcome:
        outcome = await self.outbox.route(entries)
        self._wake.set()
        return outcome

    def _tasks(self) -> list[asyncio.Task[None]]:
        return [task for tasks in self._inflight.values() for task in tasks]

    async def dispatch(self, session: aiohttp.ClientSession) -> list[asyncio.Task[None]]:
        """Lease each site's due events up to its free places, and start one task per event."""
        sites = await self.outbox.sites()
        wanted = {site: PER_SITE - len(self._inflight.get(site, ())) for site in sites}
        lease_s = self.settings.webhook_timeout_s + 30
        started: list[asyncio.Task[None]] = []
        for site, ids in (await self.outbox.lease(wanted, lease_s)).items():
            tasks = self._inflight.setdefault(site, set())
            for event_id in ids:
                task = asyncio.create_task(self._deliver(session, site, event_id))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                task.add_done_callback(lambda _: self._wake.set())
                started.append(task)
        return started

    async def _deliver(self, session: aiohttp.ClientSession, site: str, event_id: str) -> None:
        try:
            await self.deliver(session, site, event_id)
        except Exception as exc:  # Redis away: the lease ends and the event is attempted again
            log.warning("webhook_step_failed", event_id=event_id, error=type(exc).__name__)

    async def deliver(self, session: aiohttp.ClientSession, site: str, event_id: str) -> None:
        """One attempt of one leased event, with the site's current URL and secret; the event is then
        finished (delivered, given up, nothing to send) or rescheduled."""
        event = await self.outbox.load(event_id)
        if event is None:
            await self.outbox.forget(site, event_id)  # finished by another sender
            return
        if not await self.outbox.is_turn(event):
            await self.outbox.reschedule(event, ORDER_WAIT_S, only_sooner=True)
            return
        target = await self.outbox.target(site)
        if target is None:
            log.info("webhook_dropped", event_id=event_id, comment_id=event.comment_id, site=site)
            await self.outbox.finish(event)
            return
        attempts, started = await self.outbox.first_attempt_at(event_id)
        if started is not None and self.clock() - started >= self.settings.webhook_max_age_s:
            log.warning("webhook_gave_up", event_id=event_id, comment_id=event.comment_id, attempts=attempts)
            await self.outbox.finish(event)
            return
        if await self._attempt(session, target, event, attempts + 1):
            await self.outbox.finish(event)
        else:
            delay = min(self.settings.webhook_backoff_s * 2**attempts, MAX_BACKOFF_S)
            await self.outbox.reschedule(event, delay)

    async def _attempt(
        self, session: aiohttp.ClientSession, target: tuple[str, str], event: Event, attempt: int
    ) -> bool:
        """POST the event once; whatever happens (an answer, a network error, a refused URL, any other
        exception) is recorded as the attempt's outcome."""
        url, secret = target
        started = time.perf_counter()
        outcome: dict[str, Any] = {"at": self.clock(), "attempt": attempt}
        try:
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "commentmod-webhooks",
                "X-Commentmod-Event-Id": event.event_id,
                "X-Commentmod-Signature": sign(secret, int(time.time()), event.body),
            }
            check_url(url, self.settings.webhook_allow_private)
            async with session.post(url, data=event.body, headers=headers, allow_redirects=False) as resp:
                outcome["status"] = resp.status
        except Exception as exc:
            outcome["error"] = _error_name(exc)
        outcome["ms"] = round((time.perf_counter() - started) * 1000, 1)
        await self.outbox.record_attempt(event.event_id, outcome, ATTEMPTS_KEPT)
        ok = 200 <= int(outcome.get("status", 0)) < 300
        log.info(
            "webhook_attempt", event_id=event.event_id, site=event.site, attempt=attempt,
            status=outcome.get("status"), error=outcome.get("error"), ms=outcome["ms"], delivered=ok,
        )  # fmt: skip
        return ok
