"""The API's request stats are plain numbers exported on scrape: same series as prometheus_client's."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from service.core.metrics import LATENCY_BUCKETS, ApiMetrics, WorkerMetrics
from service.core.settings import Settings

OBSERVATIONS = [
    ("/v1/comments", "POST", 202, 0.003),
    ("/v1/comments", "POST", 202, 0.001),  # on a bucket bound: counted in that bucket
    ("/v1/comments", "POST", 422, 0.0004),
    ("/v1/comments/{comment_id}", "GET", 404, 0.02),
    ("unmatched", "GET", 404, 42.0),  # beyond the last bound: +Inf only
    ("/v1/comments", "POST", 202, 0.25),
]


def _without_created(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "_created" not in line)


def _http_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "commentmod_http_" in line]


def test_request_stats_render_like_a_prometheus_counter_and_histogram() -> None:
    registry = CollectorRegistry()
    requests = Counter(
        "commentmod_http_requests", "HTTP requests", ["route", "method", "status"], registry=registry
    )
    latency = Histogram(
        "commentmod_http_request_seconds", "HTTP request latency", ["route"],
        buckets=LATENCY_BUCKETS, registry=registry,
    )  # fmt: skip
    metrics = ApiMetrics()
    for route, method, status, seconds in OBSERVATIONS:
        requests.labels(route, method, str(status)).inc()
        latency.labels(route).observe(seconds)
        metrics.observe_request(route, method, status, seconds)
    expected = _http_lines(_without_created(generate_latest(registry).decode()))
    ours = metrics.render().decode()
    assert _http_lines(_without_created(ours)) == expected
    # the _created series are there too, one per labelled child, as prometheus_client writes them
    created = [line for line in ours.splitlines() if line.startswith("commentmod_http_request")]
    assert sum("_created{" in line for line in created) == 4 + 3  # (route, method, status) + routes
    assert re.search(r'commentmod_http_request_seconds_created\{route="unmatched"\} \d', ours)
    assert "commentmod_comments_accepted_total 0.0" in ours


def test_a_full_batch_at_the_default_size_lands_in_a_finite_bucket() -> None:
    """Batch-size buckets reach past the default batch size: full batches are not all "+Inf"."""
    size = Settings().batch_size
    metrics = WorkerMetrics()
    metrics.batch.observe(size)
    text = metrics.render().decode()
    assert f'commentmod_batch_size_bucket{{le="{float(size)}"}} 1.0' in text
    assert f'commentmod_batch_size_bucket{{le="{float(size) / 2}"}} 0.0' in text
