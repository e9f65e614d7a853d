"""Prometheus metrics. Each process owns one registry (no globals shared across apps or tests)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Metric, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.utils import floatToGoString
from redis.asyncio import Redis

from service.core.keys import Keys

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class HttpStats:
    """Request counts by (route, method, status) and a latency histogram by route, kept as plain numbers
    on the request path (one event loop per process: no locks) and exported on scrape by ``collect``
    with the series a prometheus ``Counter`` and ``Histogram`` would write."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self._bounds = buckets
        self._counts: dict[tuple[str, str, int], list[float]] = {}  # key -> [count, created]
        self._latency: dict[str, list[float]] = {}  # route -> per-bucket counts (+Inf last), sum, created

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = [0, time.time()]
        count[0] += 1
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = [0.0] * (len(self._bounds) + 1) + [0.0, time.time()]
        latency[bisect_left(self._bounds, seconds)] += 1  # the first bucket with seconds <= bound
        latency[-2] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = Metric("commentmod_http_requests", "HTTP requests", "counter")
        for (route, method, status), (count, created) in self._counts.items():
            labels = {"route": route, "method": method, "status": str(status)}
            requests.add_sample("commentmod_http_requests_total", labels, count)
            requests.add_sample("commentmod_http_requests_created", labels, created)
        latency = Metric("commentmod_http_request_seconds", "HTTP request latency", "histogram")
        name, bounds = "commentmod_http_request_seconds", [*map(floatToGoString, self._bounds), "+Inf"]
        for route, values in self._latency.items():
            cumulative = 0.0
            for bound, in_bucket in zip(bounds, values, strict=False):
                cumulative += in_bucket
                latency.add_sample(name + "_bucket", {"route": route, "le": bound}, cumulative)
            latency.add_sample(name + "_count", {"route": route}, cumulative)
            latency.add_sample(name + "_sum", {"route": route}, values[-2])
            latency.add_sample(name + "_created", {"route": route}, values[-1])
        yield requests
        yield latency


class ApiMetrics:
    """The API's registry: HTTP request stats, comments accepted, and the queue gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http = HttpStats()
        self.registry.register(self.http)
        self.accepted = Counter(
            "commentmod_comments_accepted", "Comments durably accepted", registry=self.registry
        )
        self.moderator_actions = Counter(
            "commentmod_moderator_actions",
            "Moderator actions on comments and authors",
            ["action"],
            registry=self.registry,
        )
        self.queue = QueueGauges(self.registry)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http.observe(route, method, status, seconds)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


# Up to COMMENTMOD_BATCH_SIZE's useful range (the default is 256), so full batches are not all "+Inf".
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass
class WorkerMetrics:
    model: str = ""
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.decisions = Counter(
            "commentmod_decisions", "Automatic decisions", ["verdict", "model"], registry=r
        )
        self.reasons = Counter(
            "commentmod_decision_reasons", "Reasons of held decisions", ["code"], registry=r
        )
        self.scoring = Histogram(
            "commentmod_scoring_seconds", "Model time per batch", buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch = Histogram(
            "commentmod_batch_size", "Messages per batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.explain_failures = Counter(
            "commentmod_explain_failures",
            "Batches whose held comments were stored without spans: the explanation step failed",
            registry=r,
        )
        self.dead = Counter("commentmod_dead_letters", "Messages sent to the dead-letter stream", registry=r)
        self.language_unsupported = Counter(
            "commentmod_language_unsupported",
            "Comments in a language no loaded toxicity model serves (not scored for toxicity)",
            ["language"],
            registry=r,
        )
        self.heartbeat = Gauge("commentmod_worker_heartbeat_timestamp", "Last heartbeat", registry=r)
        self.queue = QueueGauges(r)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class QueueGauges:
    """Stream length, consumer-group lag and pending entries, refreshed from Redis on each scrape."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.length = Gauge("commentmod_stream_length", "Entries in the intake stream", registry=r)
        self.pending = Gauge("commentmod_stream_pending", "Delivered, unacknowledged entries", registry=r)
        self.lag = Gauge("commentmod_stream_lag", "Entries not yet delivered to the group", registry=r)
        self.dead = Gauge("commentmod_dead_letter_length", "Entries in the dead-letter stream", registry=r)
        self.held = Gauge("commentmod_held_comments", "Comments waiting for a moderator", registry=r)
        self.workers = Gauge("commentmod_workers_alive", "Workers with a heartbeat", registry=r)
        self.oldest = Gauge(
            "commentmod_held_oldest_age_seconds", "Age of the oldest held comment (0: none)", registry=r
        )

    async def refresh(self, redis: Redis, keys: Keys) -> None:
        pipe = redis.pipeline(transaction=False)
        pipe.xlen(keys.stream)
        pipe.xlen(keys.dead_letters)
        pipe.zcard(keys.held)
        pipe.hlen(keys.workers)
        pipe.zrange(keys.held, 0, 0, withscores=True)
        length, dead, held, workers, oldest = await pipe.execute()
        self.oldest.set(max(0.0, time.time() - oldest[0][1] / 1_000_000) if oldest else 0)
        self.length.set(length)
        self.dead.set(dead)
        self.held.set(held)
        self.workers.set(workers)
        try:
            groups = await redis.xinfo_groups(keys.stream)
        except Exception:  # no stream yet
            groups = []
        for group in groups:
            if group["name"] != keys.group:
                continue
            self.pending.set(group.get("pending", 0))
            lag = group.get("lag")  # Redis 7+ (null when it cannot tell); 6.2 has no lag field
            if lag is None:
                lag = await undelivered(redis, keys.stream, str(group.get("last-delivered-id", "0-0")))
            self.lag.set(lag)


LAG_COUNT_MAX = 100_000  # a larger backlog reads as this many (the count walks the entries)


async def undelivered(redis: Redis, stream: str, last_delivered: str, page: int = 1000) -> int:
    """Entries after the group's last-delivered id, counted with exclusive ``XRANGE`` pages (Redis 6.2+),
    for Redis versions whose ``XINFO GROUPS`` has no ``lag``. Stream entries are ids only, so a page
    is small."""
    start, count = f"({last_delivered}", 0
    while count < LAG_COUNT_MAX:
        entries = await redis.xrange(stream, min=start, max="+", count=page)
        count += len(entries)
        if len(entries) < page:
            break
        start = f"({entries[-1][0]}"
    return min(count, LAG_COUNT_MAX)
