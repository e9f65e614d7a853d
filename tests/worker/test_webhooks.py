"""Decision callbacks against a local receiver: signed, retried with backoff, every attempt recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from service.core.keys import Keys
from service.core.models import Decision
from service.core.redis_server import free_port
from service.core.settings import Settings
from service.core.store import DecisionStore
from tests.kits.common import mod_headers, site_headers
from workers.webhooks import WebhookSender, verify


class Receiver:
    """A site's endpoint that fails its first ``failures`` requests with 503."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        if len(self.calls) <= self.failures:
            return web.Response(status=503)
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver(failures=2)
    app = web.Application()
    app.router.add_post("/hook", recv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", recv.port).start()
    yield recv
    await runner.cleanup()


async def _decide(settings: Settings, comment_id: str, verdict: str) -> str:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    store = DecisionStore(redis, Keys(settings.stream_prefix))
    record = await store.get(comment_id)
    assert record is not None
    result = await store.decide(
        comment_id, record.created_at, Decision(verdict=verdict, scores={}, reasons=[])
    )
    await redis.aclose()
    return result


async def _run_sender(settings: Settings, until: Any, timeout: float = 20.0) -> None:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    stop = asyncio.Event()
    task = asyncio.create_task(WebhookSender(settings, redis, "sender-1").run(stop))
    try:
        for _ in range(int(timeout / 0.05)):
            if until():
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await redis.aclose()


async def test_each_decision_is_posted_signed_and_retried_until_accepted(
    client: Any, settings: Settings, receiver: Receiver
) -> None:
    settings = settings.with_(webhook_backoff_s=0.05)
    resp = await client.put("/v1/webhook", json={"url": receiver.url}, headers=site_headers())
    assert resp.status == 200
    secret = (await resp.json())["secret"]
    posted = await client.post(
        "/v1/comments", json={"name": "A", "email": "a@example.org", "body": "hello"}, headers=site_headers()
    )
    cid = (await posted.json())["id"]
    assert await _decide(settings, cid, "hold") == "ok"
    assert await _decide(settings, cid, "hold") == "held"  # a redelivery: no second event
    await _run_sender(settings, lambda: len(receiver.calls) >= 3)
    assert len(receiver.calls) == 3  # two 503s, then accepted; nothing more
    headers, body = receiver.calls[-1]
    assert verify(secret, headers["X-Commentmod-Signature"], body)
    assert not verify("wrong-secret", headers["X-Commentmod-Signature"], body)
    event = json.loads(body)
    assert event["comment"]["id"] == cid and event["status"] == "held"
    assert "email" not in event["comment"] and "body" not in event["comment"]
    assert len({h["X-Commentmod-Event-Id"] for h, _ in receiver.calls}) == 1
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    attempts = [json.loads(a) for a in await redis.lrange(Keys(settings.stream_prefix).webhook_attempts(
        headers["X-Commentmod-Event-Id"]), 0, -1)]  # fmt: skip
    await redis.aclose()
    assert [a.get("status") for a in attempts] == [503, 503, 204]


async def test_events_with_nothing_to_send_are_finished_without_a_request(
    client: Any, settings: Settings, receiver: Receiver
) -> None:
    """No webhook for the site: the sender acknowledges and drops the events in bulk, sends nothing."""
    ids = []
    for i in range(20):
        posted = await client.post(
            "/v1/comments",
            json={"name": "A", "email": f"a{i}@example.org", "body": "hi"},
            headers=site_headers(),
        )
        ids.append((await posted.json())["id"])
    for cid in ids:
        assert await _decide(settings, cid, "publish") == "ok"
    keys = Keys(settings.stream_prefix)
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    assert await redis.xlen(keys.webhook_stream) == 20

    async def drained() -> bool:
        return int(await redis.xlen(keys.webhook_stream)) == 0

    done = asyncio.Event()

    async def watch() -> None:
        while not await drained():
            await asyncio.sleep(0.05)
        done.set()

    watcher = asyncio.create_task(watch())
    await _run_sender(settings, done.is_set)
    await asyncio.wait_for(watcher, 5)
    assert (await redis.xpending(keys.webhook_stream, keys.webhook_group))["pending"] == 0
    await redis.aclose()
    assert receiver.calls == []


async def test_moderator_decisions_are_posted_too(
    client: Any, settings: Settings, receiver: Receiver
) -> None:
    receiver.failures = 0
    settings = settings.with_(webhooks={"site-a": receiver.url}, webhook_secrets={"site-a": "s3cret-value"})
    posted = await client.post(
        "/v1/comments", json={"name": "A", "email": "a@example.org", "body": "hello"}, headers=site_headers()
    )
    cid = (await posted.json())["id"]
    await _decide(settings, cid, "hold")
    assert (await client.post(f"/v1/moderation/comments/{cid}/approve", headers=mod_headers())).status == 200
    await _run_sender(settings, lambda: len(receiver.calls) >= 2)
    statuses = [json.loads(body)["status"] for _, body in receiver.calls]
    assert statuses == ["held", "published"]
    assert all(verify("s3cret-value", h["X-Commentmod-Signature"], b) for h, b in receiver.calls)


async def test_delivery_gives_up_after_the_bounded_time(
    client: Any, settings: Settings, receiver: Receiver
) -> None:
    receiver.failures = 10_000
    settings = settings.with_(
        webhooks={"site-a": receiver.url}, webhook_backoff_s=0.05, webhook_max_age_s=0.5
    )
    posted = await client.post(
        "/v1/comments", json={"name": "A", "email": "a@example.org", "body": "hello"}, headers=site_headers()
    )
    await _decide(settings, (await posted.json())["id"], "publish")
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    keys = Keys(settings.stream_prefix)

    async def pending() -> int:
        return int((await redis.xpending(keys.webhook_stream, keys.webhook_group))["pending"])

    await _run_sender(settings, lambda: len(receiver.calls) >= 4, timeout=5)
    await asyncio.sleep(1.0)
    calls = len(receiver.calls)
    assert 2 <= calls <= 12
    await _run_sender(settings, lambda: False, timeout=0.5)  # given up: nothing left to send
    assert len(receiver.calls) == calls
    assert await pending() == 0
    await redis.aclose()


async def test_webhook_url_must_be_http(client: Any) -> None:
    resp = await client.put("/v1/webhook", json={"url": "file:///etc/passwd"}, headers=site_headers())
    assert resp.status == 422
    assert (await client.put("/v1/webhook", json={"url": "http://x"}, headers=mod_headers())).status == 403
