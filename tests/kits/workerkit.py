"""Helpers for tests that run real workers: in-process or as `commentmod worker` child processes, and
webhook receivers with a sender drained on a clock the test moves."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from service.core.keys import Keys
from service.core.redis_server import free_port
from service.core.settings import Settings
from workers.consumer import Worker
from workers.scoring.pipeline import ScoringPipeline
from workers.webhooks import WebhookSender


def worker_env(settings: Settings, name: str, **changes: Any) -> dict[str, str]:
    """The environment of a ``commentmod worker`` child running with ``settings`` (plus ``changes``)."""
    child = settings.with_(worker_name=name, log_format="json", torch_threads=1, metrics_port=0)
    return child.with_(**changes).to_env()


async def drain_worker(settings: Settings, pipeline: ScoringPipeline, name: str = "w-drain") -> int:
    """Run a real in-process worker over everything queued, once (``Worker.drain``); returns how many
    stream entries it handled. Tests post, drain, then assert: no background worker, no polling."""
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    try:
        with ThreadPoolExecutor(max_workers=1) as executor:
            return await Worker(settings, redis, pipeline, executor, name).drain()
    finally:
        await redis.aclose()


def spawn_worker(
    settings: Settings, name: str, log_path: Path, processes: int = 1, **changes: Any
) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker", "--processes", str(processes)],
        env=worker_env(settings, name, **changes),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def wait_for_heartbeat(
    settings: Settings, name: str, process: subprocess.Popen[bytes], timeout_s: float = 90.0
) -> None:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"worker {name} exited with {process.returncode}")
            if await redis.hexists(Keys(settings.stream_prefix).workers, name):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"worker {name} never sent a heartbeat")
    finally:
        await redis.aclose()


async def wait_decided(settings: Settings, ids: list[str], timeout_s: float = 120.0) -> dict[str, str]:
    """Wait until every comment has left ``pending``; returns id -> status."""
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    keys = Keys(settings.stream_prefix)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            pipe = redis.pipeline(transaction=False)
            for cid in ids:
                pipe.hget(keys.comment(cid), "status")
            statuses = dict(zip(ids, await pipe.execute(), strict=True))
            if all(s not in (None, "pending") for s in statuses.values()) or time.monotonic() > deadline:
                return statuses
            await asyncio.sleep(0.1)
    finally:
        await redis.aclose()


async def wait_no_pending(redis: Any, keys: Keys, timeout_s: float) -> int:
    """Wait until the scoring group has no unacknowledged entry; returns how many are left."""
    deadline = time.monotonic() + timeout_s
    while True:
        pending = int((await redis.xpending(keys.stream, keys.group))["pending"])
        if pending == 0 or time.monotonic() > deadline:
            return pending
        await asyncio.sleep(0.1)


async def decide_counts(settings: Settings, ids: list[str]) -> dict[str, int]:
    """How many automatic ``decide`` audit entries each comment has (exactly one is correct)."""
    import json

    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    keys = Keys(settings.stream_prefix)
    try:
        out = {}
        for cid in ids:
            entries = [json.loads(e) for e in await redis.lrange(keys.audit(cid), 0, -1)]
            out[cid] = sum(1 for e in entries if e["action"] == "decide")
        return out
    finally:
        await redis.aclose()


async def post_many(client: Any, count: int, headers: dict[str, str], body: str = "Good read.") -> list[str]:
    ids = []
    for i in range(count):
        payload = {"name": f"Reader {i}", "email": f"reader{i}@example.org", "body": f"{body} #{i}"}
        resp = await client.post("/v1/comments", json=payload, headers=headers)
        assert resp.status == 202
        ids.append((await resp.json())["id"])
    return ids


# --- webhooks ------------------------------------------------------------------------------------
class Receiver:
    """A site's endpoint that fails its first ``failures`` requests with 503 (``gate``: answers only
    once it is set, a slow receiver)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.port = free_port()
        self.gate: asyncio.Event | None = None
        self.waiting = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        if self.gate is not None:
            self.waiting += 1
            await self.gate.wait()
        if len(self.calls) <= self.failures:
            return web.Response(status=503)
        return web.Response(status=204)


@contextlib.asynccontextmanager
async def receiving(failures: int) -> AsyncIterator[Receiver]:
    recv = Receiver(failures=failures)
    app = web.Application()
    app.router.add_post("/hook", recv.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", recv.port).start()
    try:
        yield recv
    finally:
        if recv.gate is not None:
            recv.gate.set()
        await runner.cleanup()


class Clock:
    """The sender's clock, moved on by the tests: retries become due without waiting."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def drain_sender(
    settings: Settings, until: Callable[[], bool] = lambda: False, clock: Clock | None = None,
    name: str = "sender-1", rounds: int = 200,
) -> int:  # fmt: skip
    """Drain a sender round after round, moving its clock on by the first retry delay whenever nothing
    is due, until ``until()`` or nothing is left in any outbox; returns the events taken up."""
    clock = clock or Clock()
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    sender = WebhookSender(settings, redis, name, clock=clock)
    attempts = 0
    try:
        for _ in range(rounds):
            made = await sender.drain()
            attempts += made
            if until() or not await sender.outbox.sites():
                break
            if not made:
                clock.advance(settings.webhook_backoff_s)
        assert sender.in_flight == 0
    finally:
        await redis.aclose()
    return attempts
