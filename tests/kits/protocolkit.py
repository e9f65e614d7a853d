"""A scoring worker running in the test's event loop, for the protocol endpoints that wait for one.

The model is the tiny real checkpoint of ``tiny_model`` with all six toxicity classes (its scores are
meaningless but deterministic); thresholds passed to ``running_worker`` pick hold or publish.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.settings import Settings
from tests.kits.tiny_model import build_tiny_checkpoint

CLASSES = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")


@pytest.fixture(scope="session")
def six_class_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-six")
    build_tiny_checkpoint(folder, classes=CLASSES)
    return folder


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, model: Path, name: str = "w-proto", **changes: Any
) -> AsyncIterator[Settings]:
    """A real ``Worker`` on the test's Redis and prefix until the block ends; yields its settings."""
    from workers.consumer import Worker
    from workers.scoring.pipeline import ScoringPipeline

    wsettings = settings.with_(toxicity_model=str(model), batch_size=8, **changes)
    pipeline = await asyncio.to_thread(ScoringPipeline.from_settings, wsettings)
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    stop = asyncio.Event()
    with ThreadPoolExecutor(max_workers=1) as executor:
        task = asyncio.create_task(Worker(wsettings, redis, pipeline, executor, name).run(stop))
        try:
            while not await redis.hexists(Keys(settings.stream_prefix).workers, name):
                assert not task.done(), task.exception()
                await asyncio.sleep(0.05)
            yield wsettings
        finally:
            stop.set()
            await task
            await redis.aclose()


async def redis_holds(settings: Settings, needle: str) -> list[str]:
    """The keys of this test's prefix whose value (any type) contains ``needle``."""
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    found = []
    try:
        async for key in redis.scan_iter(match=f"{settings.stream_prefix}:*", count=1000):
            kind = await redis.type(key)
            if kind == "string":
                value: Any = await redis.get(key)
            elif kind == "hash":
                value = await redis.hgetall(key)
            elif kind == "list":
                value = await redis.lrange(key, 0, -1)
            elif kind == "zset":
                value = await redis.zrange(key, 0, -1)
            elif kind == "stream":
                value = await redis.xrange(key)
            else:
                value = await redis.smembers(key)
            if needle in repr(value):
                found.append(key)
    finally:
        await redis.aclose()
    return found
