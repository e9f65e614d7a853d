"""Personal data at rest (issue 17): sealed in Redis under COMMENTMOD_HASH_KEY, held comments expire
too, and ``DELETE /v1/authors/{author}`` erases an author. Every check reads what Redis really holds:
each key of the test's prefix and each value in it, whatever its type."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from service.core.keys import Keys
from service.core.models import Decision
from service.core.sealing import PREFIX, use_key
from service.core.settings import Settings
from service.core.store import DecisionStore
from service.http.app import create_app
from tests.kits.common import mod_headers, site_headers

HASH_KEY = "test-hash-key-0123456789"
EMAIL = "erin.private@example.net"
IP = "203.0.113.77"
USER_AGENT = "PrivateBrowser/9.9 (marker-ua)"
REFERRER = "https://ref.example/private-path"
PERSON = {"name": "Erin Marker", "email": EMAIL, "ip": IP, "user_agent": USER_AGENT, "referrer": REFERRER}


async def redis_dump(redis: Any, prefix: str) -> str:
    """Every key of ``prefix`` and every value in it, as one text (keys and values alike)."""
    parts: list[str] = []
    async for name in redis.scan_iter(match=f"{prefix}:*", count=1000):
        kind = await redis.type(name)
        parts.append(name)
        if kind == "string":
            parts.append(str(await redis.get(name)))
        elif kind == "hash":
            parts.extend(f"{k}={v}" for k, v in (await redis.hgetall(name)).items())
        elif kind == "list":
            parts.extend(await redis.lrange(name, 0, -1))
        elif kind == "set":
            parts.extend(await redis.smembers(name))
        elif kind == "zset":
            parts.extend(str(m) for m in await redis.zrange(name, 0, -1))
        elif kind == "stream":
            parts.extend(f"{eid} {fields}" for eid, fields in await redis.xrange(name, "-", "+"))
    return "\n".join(parts)


@pytest.fixture
def sealed_settings(settings: Settings) -> Settings:
    return settings.with_(hash_key=HASH_KEY)


@pytest.fixture
async def sealed_client(sealed_settings: Settings) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(create_app(sealed_settings))) as client:
        yield client
    use_key(b"")  # the next test's app sets its own


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Any]:
    client = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    yield client
    await client.aclose()


async def post_held(client: Any, redis: Any, settings: Settings, body: str, **fields: str) -> str:
    payload = {**PERSON, "body": body, **fields}
    resp = await client.post("/v1/comments", json=payload, headers=site_headers())
    assert resp.status == 202, await resp.text()
    comment_id = str((await resp.json())["id"])
    store = DecisionStore(redis, Keys(settings.stream_prefix), settings.retention_s)
    record = await store.get(comment_id)
    assert record is not None
    reasons = [{"code": "toxicity", "score": 0.9, "threshold": 0.44}]
    await store.decide(comment_id, record.created_at, Decision("hold", {"toxicity": 0.9}, reasons))
    return comment_id


async def test_email_ip_user_agent_and_referrer_are_sealed_in_redis(
    sealed_client: Any, redis: Any, sealed_settings: Settings
) -> None:
    comment_id = await post_held(sealed_client, redis, sealed_settings, "A calm remark on sealing.")
    dump = await redis_dump(redis, sealed_settings.stream_prefix)
    assert comment_id in dump and PREFIX in dump
    for value in (EMAIL, IP, USER_AGENT, REFERRER, "erin.private", "marker-ua"):
        assert value not in dump, value
    path = f"/v1/moderation/comments/{comment_id}?include=email"
    resp = await sealed_client.get(path, headers=mod_headers())
    assert resp.status == 200
    assert (await resp.json())["email"] == EMAIL  # the moderator view opens it again


async def test_without_a_key_values_are_stored_as_before(client: Any, redis: Any, settings: Settings) -> None:
    await post_held(client, redis, settings, "A calm remark without a key.")
    dump = await redis_dump(redis, settings.stream_prefix)
    assert EMAIL in dump and PREFIX not in dump


async def test_held_comments_expire_after_the_retention_too(
    client: Any, redis: Any, settings: Settings
) -> None:
    retained = settings.with_(retention_days=1.0)
    comment_id = await post_held(client, redis, retained, "A calm remark to expire.")
    keys = Keys(settings.stream_prefix)
    assert 0 < await redis.ttl(keys.comment(comment_id)) <= 86400
    assert 0 < await redis.ttl(keys.audit(comment_id)) <= 86400
    # Once the record has expired (deleted here), the held queue's index loses its id too.
    short = DecisionStore(redis, keys, retention_s=1)
    await redis.delete(keys.comment(comment_id))
    deadline = time.monotonic() + 120
    while await redis.zscore(keys.held, comment_id) is not None:
        await short.trim_indexes()
        assert time.monotonic() < deadline, "the held index kept an expired comment"
        await asyncio.sleep(0.2)
