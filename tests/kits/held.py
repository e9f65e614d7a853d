"""Held comments for the moderation tests: posted through the API, decided as a worker would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.models import Decision
from service.core.settings import Settings
from service.core.store import DecisionStore
from tests.kits.common import site_headers

Post = Callable[[dict[str, Any]], Awaitable[str]]
TOXIC = [{"code": "toxicity", "score": 0.97, "threshold": 0.5}]
SPAM = [{"code": "spam", "score": 0.93, "threshold": 0.8, "signals": ["link", "spam_phrase"]}]


def comment(**fields: Any) -> dict[str, Any]:
    base = {"name": "Ada", "email": "ada@example.org", "body": "You are all idiots.", "thread": "art-1"}
    return {**base, **fields}


async def make_held(
    settings: Settings,
    post: Post,
    reasons: list[dict[str, Any]] | None = None,
    scores: dict[str, float] | None = None,
    verdict: str = "hold",
    **fields: Any,
) -> str:
    """Post a comment through the API, then store a worker's decision for it (default: held, toxic)."""
    comment_id = await post(comment(**fields))
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    try:
        store = DecisionStore(redis, Keys(settings.stream_prefix))
        record = await store.get(comment_id)
        assert record is not None
        decision = Decision(
            verdict=verdict,
            scores={"toxicity": 0.97, "spam": 0.01} if scores is None else scores,
            reasons=(TOXIC if reasons is None else reasons) if verdict == "hold" else [],
        )
        assert await store.decide(comment_id, record.created_at, decision) == "ok"
    finally:
        await redis.aclose()
    return comment_id


def client_poster(client: Any, key: str | None = None) -> Post:
    """``post`` for ``make_held`` through an aiohttp test client, with a site key."""

    async def post(payload: dict[str, Any]) -> str:
        headers = site_headers(key) if key else site_headers()
        resp = await client.post("/v1/comments", json=payload, headers=headers)
        assert resp.status == 202, await resp.text()
        return str((await resp.json())["id"])

    return post
