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
from service.core.privacy import history_hash
from service.core.sealing import PREFIX, use_key
from service.core.settings import Settings
from service.core.store import DecisionStore
from service.http.app import create_app
from tests.kits.common import OTHER_SITE_KEY, mod_headers, site_headers
from tests.kits.faultkit import InProcessWorker
from tests.kits.tiny_model import build_tiny_checkpoint
from tests.kits.workerkit import wait_decided

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


# --- DELETE /v1/authors/{author} ------------------------------------------------------------------
OTTO = {"name": "Otto Keeper", "email": "otto.keeper@example.org", "ip": "198.51.100.23"}


@pytest.fixture
def fsettings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings a real in-process worker can run: the tiny real model (tests/kits/tiny_model.py)."""
    folder = tmp_path_factory.getbasetemp() / "fault-tiny-model"
    if not (folder / "checkpoint.ckpt").exists():
        build_tiny_checkpoint(folder)
    return settings.with_(toxicity_model=str(folder), batch_size=8)


async def test_deleting_an_author_erases_everything_of_theirs_from_redis(
    fsettings: Settings, redis: Any
) -> None:
    """Comments decided by a real worker (history, near-duplicate memory), moderated (audit stream,
    reputation) and given a standing, on two sites; then erased: no key or value in Redis holds the
    author's email, IP, name, bodies or pseudonyms, and another author's data is untouched."""
    async with TestClient(TestServer(create_app(fsettings))) as client:
        bodies = [f"Erin's calm remark number {i} zqx{i}" for i in range(3)]
        ids = [await _post(client, {**PERSON, "body": body}, site_headers()) for body in bodies]
        ids.append(await _post(client, {**PERSON, "body": "On site b zqx9"}, site_headers(OTHER_SITE_KEY)))
        otto = await _post(client, {**OTTO, "body": "Otto stays here."}, site_headers())
        async with InProcessWorker(fsettings, "w-erase"):
            statuses = await wait_decided(fsettings, [*ids, otto])
        assert "pending" not in statuses.values()
        view = await (await client.get(f"/v1/moderation/comments/{ids[0]}", headers=mod_headers())).json()
        author = view["author"]
        for comment_id in ids:
            if statuses[comment_id] == "held":
                await client.post(f"/v1/moderation/comments/{comment_id}/approve", headers=mod_headers())
        standing = await client.put(
            f"/v1/moderation/authors/site-a/{author}", json={"standing": "trusted"}, headers=mod_headers()
        )
        assert standing.status == 200, await standing.text()
        before = await redis_dump(redis, fsettings.stream_prefix)
        assert EMAIL in before and author in before
        assert history_hash("email", EMAIL, b"") in before  # the worker's history remembered them
        resp = await client.delete(f"/v1/authors/{author}", headers=mod_headers())
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["erased_comments"] == 4
        gone = await client.get(f"/v1/comments/{ids[0]}", headers=site_headers())
        assert gone.status == 404
    after = await redis_dump(redis, fsettings.stream_prefix)
    email_hash = history_hash("email", EMAIL, b"")
    for value in [EMAIL, IP, "Erin Marker", "zqx", author, email_hash, "erin.private"]:
        assert value not in after, value
    assert OTTO["email"] in after and "Otto stays here." in after


async def _post(client: Any, payload: dict[str, str], headers: dict[str, str]) -> str:
    resp = await client.post("/v1/comments", json=payload, headers=headers)
    assert resp.status == 202, await resp.text()
    return str((await resp.json())["id"])


async def test_deleting_an_author_needs_a_moderator_key_and_an_author_id(client: Any) -> None:
    somebody = f"/v1/authors/{'a' * 32}"
    assert (await client.delete(somebody, headers=site_headers())).status == 403
    assert (await client.delete(somebody)).status == 401
    resp = await client.delete("/v1/authors/not-an-id", headers=mod_headers())
    assert resp.status == 422 and list((await resp.json())["fields"]) == ["author"]
    nobody = await client.delete(somebody, headers=mod_headers())
    assert nobody.status == 200 and (await nobody.json())["erased_comments"] == 0
