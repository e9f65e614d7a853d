"""DecisionStore.decide_many: the worker's one round trip per batch keeps every write fenced."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.models import Decision
from service.core.settings import Settings
from service.core.store import DecisionStore
from tests.kits.common import site_headers
from tests.kits.workerkit import post_many


async def test_decide_many_writes_each_once_and_answers_in_order(client: Any, settings: Settings) -> None:
    ids = await post_many(client, 2, site_headers())
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    store = DecisionStore(redis, Keys(settings.stream_prefix))
    records = [await store.get(cid) for cid in ids]
    items = [
        (ids[0], records[0].created_at if records[0] else 0.0, Decision("publish", {"toxicity": 0.01}, [])),
        (ids[1], records[1].created_at if records[1] else 0.0, Decision("hold", {"toxicity": 0.99}, [])),
        ("no-such-comment", 0.0, Decision("publish", {}, [])),
    ]
    assert await store.decide_many(items) == ["ok", "ok", "missing"]
    assert await store.decide_many(items) == ["published", "held", "missing"]  # fenced: no-ops
    assert await store.decide_many([]) == []
    held = await store.get(ids[1])
    assert held is not None and held.status == "held" and held.decision and held.decision.scores["toxicity"]
    await redis.aclose()
