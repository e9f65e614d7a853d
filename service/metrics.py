"""Prometheus metrics. Each process owns one registry (no globals shared across apps or tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.asyncio import Redis

from service.keys import Keys

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass
class ApiMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "commentmod_http_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "commentmod_http_request_seconds", "HTTP request latency", ["route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.accepted = Counter("commentmod_comments_accepted", "Comments durably accepted", registry=r)
        self.queue = QueueGauges(r)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request and its latency (the labelled series are looked up once, then reused)."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(route, method, str(status)), self.latency.labels(route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


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
            "commentmod_batch_size", "Messages per batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r
        )
        self.dead = Counter("commentmod_dead_letters", "Messages sent to the dead-letter stream", registry=r)
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

    async def refresh(self, redis: Redis, keys: Keys) -> None:
        pipe = redis.pipeline(transaction=False)
        pipe.xlen(keys.stream)
        pipe.xlen(keys.dead_letters)
        pipe.zcard(keys.held)
        pipe.hlen(keys.workers)
        length, dead, held, workers = await pipe.execute()
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
            lag = group.get("lag")  # Redis 7+; 6.2 has no lag field
            if lag is not None:
                self.lag.set(lag)
