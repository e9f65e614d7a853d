"""Decision callbacks against a local receiver: signed, retried with backoff, every attempt recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from service.core.keys import Keys
from service.core.models import Decision
from service.core.settings import Settings
from service.core.store import DecisionStore
from service.http.app import create_app
from tests.kits.common import OTHER_SITE_KEY, SITE_KEY, mod_headers, site_headers
from tests.kits.workerkit import Clock, Receiver, drain_sender, receiving
from workers.webhooks import PER_SITE, AddressNotPublic, PublicResolver, WebhookSender, verify


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving(failures=2) as recv:
        yield recv


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receivers here listen on 127.0.0.1: private addresses allowed (the default refuses them,
    as ``test_private_and_malformed_webhook_urls_are_refused_at_the_api_and_at_delivery`` shows)."""
    return settings.with_(webhook_allow_private=True)


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


async def _post(client: Any, key: str = SITE_KEY, body: str = "hello") -> str:
    posted = await client.post(
        "/v1/comments", json={"name": "A", "email": "a@example.org", "body": body}, headers=site_headers(key)
    )
    return str((await posted.json())["id"])


async def _outbox(settings: Settings, site: str) -> list[tuple[str, float]]:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    try:
        return list(
            await redis.zrange(Keys(settings.stream_prefix).webhook_due(site), 0, -1, withscores=True)
        )
    finally:
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
    await drain_sender(settings, lambda: len(receiver.calls) >= 3)
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

    assert await drain_sender(settings) == 0
    assert int(await redis.xlen(keys.webhook_stream)) == 0
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
    await drain_sender(settings, lambda: len(receiver.calls) >= 2)
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

    clock = Clock()
    await drain_sender(settings, clock=clock)  # until given up: nothing left in the outbox
    calls = len(receiver.calls)
    assert 2 <= calls <= 12
    clock.advance(settings.webhook_max_age_s)
    await drain_sender(settings, clock=clock)  # given up: nothing left to send
    assert len(receiver.calls) == calls
    assert await pending() == 0
    await redis.aclose()


async def test_webhook_url_must_be_http(client: Any) -> None:
    resp = await client.put("/v1/webhook", json={"url": "file:///etc/passwd"}, headers=site_headers())
    assert resp.status == 422
    assert (await client.put("/v1/webhook", json={"url": "http://x"}, headers=mod_headers())).status == 403


async def test_a_failing_site_delays_only_its_own_events_and_its_retries_hold_nothing(
    client: Any, settings: Settings
) -> None:
    """Site B's receiver answers 503 to everything: one drain delivers every one of site A's events and
    attempts each of B's exactly once; B's retries then wait in B's outbox, with no attempt in flight."""
    async with receiving(failures=0) as good, receiving(failures=10_000) as bad:
        assert (await client.put("/v1/webhook", json={"url": good.url}, headers=site_headers())).status == 200
        headers_b = site_headers(OTHER_SITE_KEY)
        assert (await client.put("/v1/webhook", json={"url": bad.url}, headers=headers_b)).status == 200
        b_ids = [await _post(client, OTHER_SITE_KEY, f"b {i}") for i in range(40)]  # B's events come first
        a_ids = [await _post(client, SITE_KEY, f"a {i}") for i in range(5)]
        for cid in b_ids + a_ids:
            assert await _decide(settings, cid, "publish") == "ok"
        clock = Clock()
        redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
        sender = WebhookSender(settings, redis, "sender-1", clock=clock)
        taken = await sender.drain()
        assert sender.in_flight == 0
        await redis.aclose()
        assert taken == 45  # every event attempted once
        assert sorted(json.loads(body)["comment"]["id"] for _, body in good.calls) == sorted(a_ids)
        assert len(bad.calls) == 40  # each once: a failure is rescheduled, not retried in a held slot
        assert await _outbox(settings, "site-a") == []
        waiting = await _outbox(settings, "site-b")
        assert len(waiting) == 40 and all(due > clock.now * 1000 for _, due in waiting)


async def test_a_slow_receiver_holds_only_its_own_sites_places(client: Any, settings: Settings) -> None:
    """Site B's receiver does not answer: a running sender still delivers all of site A's events, with at
    most ``PER_SITE`` of B's requests open meanwhile."""
    async with receiving(failures=0) as good, receiving(failures=0) as slow:
        slow.gate = asyncio.Event()
        await client.put("/v1/webhook", json={"url": good.url}, headers=site_headers())
        await client.put("/v1/webhook", json={"url": slow.url}, headers=site_headers(OTHER_SITE_KEY))
        b_ids = [await _post(client, OTHER_SITE_KEY, f"b {i}") for i in range(20)]
        a_ids = [await _post(client, SITE_KEY, f"a {i}") for i in range(5)]
        for cid in b_ids + a_ids:
            await _decide(settings, cid, "publish")
        redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
        stop = asyncio.Event()
        task = asyncio.create_task(WebhookSender(settings, redis, "sender-1").run(stop))
        for _ in range(600):  # until A's events are in (bounded; nothing here measures time)
            if len(good.calls) == len(a_ids):
                break
            await asyncio.sleep(0.05)
        open_b = slow.waiting
        slow.gate.set()
        stop.set()
        await asyncio.wait_for(task, 30)
        await redis.aclose()
        assert len(good.calls) == len(a_ids)
        assert 1 <= open_b <= PER_SITE


async def test_every_attempt_uses_the_current_url_and_secret(client: Any, settings: Settings) -> None:
    """A changed URL gets the next attempt, signed with the new secret; after DELETE /v1/webhook the old
    URL gets nothing more and the event is dropped."""
    async with receiving(failures=10_000) as old, receiving(failures=10_000) as new:
        await client.put("/v1/webhook", json={"url": old.url}, headers=site_headers())
        cid = await _post(client)
        await _decide(settings, cid, "publish")
        clock = Clock()
        await drain_sender(settings, clock=clock, rounds=1)
        assert len(old.calls) == 1
        resp = await client.put("/v1/webhook", json={"url": new.url}, headers=site_headers())
        secret = (await resp.json())["secret"]
        clock.advance(settings.webhook_backoff_s)
        await drain_sender(settings, clock=clock, rounds=1)
        assert len(old.calls) == 1 and len(new.calls) == 1
        headers, body = new.calls[0]
        assert verify(secret, headers["X-Commentmod-Signature"], body)
        assert (await client.delete("/v1/webhook", headers=site_headers())).status == 200
        clock.advance(settings.webhook_max_age_s / 2)
        await drain_sender(settings, clock=clock)
        assert len(old.calls) == 1 and len(new.calls) == 1
        assert await _outbox(settings, "site-a") == []


async def test_events_of_a_comment_arrive_in_decision_order_across_a_restart(
    client: Any, settings: Settings, receiver: Receiver
) -> None:
    """Held, then published by a moderator, both before any sender ran: the first sender's ``held``
    attempt fails and it stops; a new sender (a restart) delivers ``held`` before ``published``, each
    body as of its own decision (a body built at delivery time would say ``published`` twice)."""
    receiver.failures = 1
    await client.put("/v1/webhook", json={"url": receiver.url}, headers=site_headers())
    cid = await _post(client)
    await _decide(settings, cid, "hold")
    assert (await client.post(f"/v1/moderation/comments/{cid}/approve", headers=mod_headers())).status == 200
    clock = Clock()
    # Both events taken up; ``published`` waits for ``held``, whose one attempt fails.
    assert await drain_sender(settings, clock=clock, rounds=1, name="before-restart") == 2
    assert len(receiver.calls) == 1
    await drain_sender(settings, lambda: len(receiver.calls) >= 3, clock=clock, name="after-restart")
    events = [json.loads(body) for _, body in receiver.calls]
    assert [(e["status"], e["seq"]) for e in events] == [("held", 1), ("held", 1), ("published", 2)]
    assert all(e["comment"]["status"] == e["status"] for e in events)
    assert events[0]["comment"]["decided_by"] == "auto"
    assert events[2]["comment"]["decided_by"] == "moderator:alice"


async def test_an_exception_in_delivery_is_a_recorded_attempt_and_retried(
    client: Any, settings: Settings, receiver: Receiver
) -> None:
    """A URL stored before the check existed, with a 64-character host label (it crashed delivery with
    UnicodeError): each attempt is recorded with its error and rescheduled; other sites flow."""
    keys = Keys(settings.stream_prefix)
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    await redis.hset(keys.webhook("site-a"), mapping={"url": f"http://{'a' * 64}.example/h", "secret": "s"})
    receiver.failures = 0
    await client.put("/v1/webhook", json={"url": receiver.url}, headers=site_headers(OTHER_SITE_KEY))
    bad_id, good_id = await _post(client), await _post(client, OTHER_SITE_KEY)
    await _decide(settings, bad_id, "publish")
    await _decide(settings, good_id, "publish")
    clock = Clock()
    assert await drain_sender(settings, clock=clock, rounds=1) == 2
    clock.advance(settings.webhook_backoff_s)
    assert await drain_sender(settings, clock=clock, rounds=1) == 1
    ((event_id, _),) = await _outbox(settings, "site-a")
    attempts = [json.loads(a) for a in await redis.lrange(keys.webhook_attempts(event_id), 0, -1)]
    await redis.aclose()
    assert [(a["attempt"], a.get("error")) for a in attempts] == [(1, "url_refused"), (2, "url_refused")]
    assert [json.loads(body)["comment"]["id"] for _, body in receiver.calls] == [good_id]


async def test_private_and_malformed_webhook_urls_are_refused_at_the_api_and_at_delivery(
    settings: Settings, receiver: Receiver
) -> None:
    """By default (``COMMENTMOD_WEBHOOK_ALLOW_PRIVATE`` off) a webhook may not point at loopback,
    link-local or private addresses, nor have a host label over 63 characters: 422 naming ``url``; a
    URL already stored is refused again at delivery, and so is a name resolving to such an address."""
    strict = settings.with_(webhook_allow_private=False)
    async with TestClient(TestServer(create_app(strict))) as api:
        for url in (
            receiver.url, "http://169.254.169.254/latest/meta-data", "http://[::1]:8080/h",
            "http://10.1.2.3/h", "http://localhost:9000/h", f"https://{'a' * 64}.example/h",
        ):  # fmt: skip
            resp = await api.put("/v1/webhook", json={"url": url}, headers=site_headers())
            assert resp.status == 422, url
            assert set((await resp.json())["fields"]) == {"url"}
        ok = await api.put("/v1/webhook", json={"url": "https://news.example/hook"}, headers=site_headers())
        assert ok.status == 200
    keys = Keys(strict.stream_prefix)
    redis = aioredis.Redis.from_url(strict.redis_url or "", decode_responses=True)
    await redis.hset(keys.webhook("site-a"), mapping={"url": receiver.url, "secret": "s"})
    async with TestClient(TestServer(create_app(strict))) as api:
        await _decide(strict, await _post(api), "publish")
    assert await drain_sender(strict, rounds=1) == 1
    assert receiver.calls == []
    ((event_id, _),) = await _outbox(strict, "site-a")
    (attempt,) = [json.loads(a) for a in await redis.lrange(keys.webhook_attempts(event_id), 0, -1)]
    await redis.aclose()
    assert attempt["error"] == "url_refused"
    resolver = PublicResolver()
    with pytest.raises(AddressNotPublic):
        await resolver.resolve("localhost", 80)
    await resolver.close()
