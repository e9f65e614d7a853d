"""Auth on every endpoint, the site-scoped read, the held queue, approve/reject with audit, fencing."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.models import Decision
from service.core.settings import Settings
from service.core.store import DecisionStore
from tests.kits.common import OTHER_SITE_KEY, mod_headers, site_headers

GOOD = {"name": "Ada", "email": "ada@example.org", "body": "You are all idiots.", "thread": "art-1"}


async def _post(client: Any, **extra: Any) -> str:
    resp = await client.post("/v1/comments", json={**GOOD, **extra}, headers=site_headers())
    assert resp.status == 202
    return str((await resp.json())["id"])


async def _hold(settings: Settings, comment_id: str, verdict: str = "hold") -> str:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    store = DecisionStore(redis, Keys(settings.stream_prefix))
    record = await store.get(comment_id)
    assert record is not None
    reasons = [{"code": "toxicity", "score": 0.97, "threshold": 0.5}] if verdict == "hold" else []
    decision = Decision(verdict=verdict, scores={"toxicity": 0.97, "spam": 0.01}, reasons=reasons)
    result = await store.decide(comment_id, record.created_at, decision)
    await redis.aclose()
    return result


async def test_every_endpoint_without_a_key_answers_401(client: Any) -> None:
    cid = "0" * 28
    for method, path in [
        ("POST", "/v1/comments"),
        ("GET", f"/v1/comments/{cid}"),
        ("GET", "/v1/moderation/queue"),
        ("GET", f"/v1/moderation/comments/{cid}"),
        ("POST", f"/v1/moderation/comments/{cid}/approve"),
        ("POST", f"/v1/moderation/comments/{cid}/reject"),
    ]:
        resp = await client.request(method, path)
        assert resp.status == 401, path
        assert (await resp.json())["error"] == "unauthorized"
        resp = await client.request(method, path, headers={"Authorization": "Bearer wrong-key-123456"})
        assert resp.status == 401, path


async def test_site_key_on_moderation_endpoints_answers_403(client: Any) -> None:
    resp = await client.get("/v1/moderation/queue", headers=site_headers())
    assert resp.status == 403
    resp = await client.post(f"/v1/moderation/comments/{'0' * 28}/approve", headers=site_headers())
    assert resp.status == 403


async def test_moderator_key_on_site_endpoints_answers_403(client: Any) -> None:
    resp = await client.post("/v1/comments", json=GOOD, headers=mod_headers())
    assert resp.status == 403


async def test_another_sites_comment_is_not_found(client: Any) -> None:
    cid = await _post(client)
    assert (await client.get(f"/v1/comments/{cid}", headers=site_headers())).status == 200
    resp = await client.get(f"/v1/comments/{cid}", headers=site_headers(OTHER_SITE_KEY))
    assert resp.status == 404


async def test_path_tricks_on_ids_are_not_found(client: Any) -> None:
    for bad in ["..%2F..%2Fetc", "x" * 28, "0" * 27, "%00", "0" * 28 + "0"]:
        resp = await client.get(f"/v1/comments/{bad}", headers=site_headers())
        assert resp.status == 404, bad


async def test_pending_comment_reads_as_pending_with_no_verdict(client: Any) -> None:
    cid = await _post(client)
    body = await (await client.get(f"/v1/comments/{cid}", headers=site_headers())).json()
    assert body["status"] == "pending"
    assert body["verdict"] is None
    assert body["decided_at"] is None
    assert "email" not in body and "body" not in body


async def test_held_queue_lists_oldest_first_with_pages(client: Any, settings: Settings) -> None:
    ids = [await _post(client, body=f"held comment {i}") for i in range(5)]
    for cid in ids:
        assert await _hold(settings, cid) == "ok"
    seen: list[str] = []
    cursor = None
    while True:
        url = "/v1/moderation/queue?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (await client.get(url, headers=mod_headers())).json()
        seen += [item["id"] for item in page["items"]]
        assert all(item["name"] == "Ada" and item["reasons"] for item in page["items"])
        assert all("email" not in item for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids


async def test_approve_publishes_and_records_audit(client: Any, settings: Settings) -> None:
    cid = await _post(client)
    await _hold(settings, cid)
    resp = await client.post(
        f"/v1/moderation/comments/{cid}/approve", json={"note": "satire"}, headers=mod_headers()
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "published"
    assert body["decided_by"] == "moderator:alice"
    last = body["audit"][-1]
    assert (last["actor"], last["action"], last["from"], last["to"], last["note"]) == (
        "moderator:alice", "approve", "held", "published", "satire",
    )  # fmt: skip
    site_view = await (await client.get(f"/v1/comments/{cid}", headers=site_headers())).json()
    assert site_view["status"] == "published"
    assert site_view["verdict"] == "hold"
    queue = await (await client.get("/v1/moderation/queue", headers=mod_headers())).json()
    assert cid not in [item["id"] for item in queue["items"]]


async def test_reject_then_acting_again_answers_409(client: Any, settings: Settings) -> None:
    cid = await _post(client)
    await _hold(settings, cid)
    resp = await client.post(f"/v1/moderation/comments/{cid}/reject", headers=mod_headers())
    assert resp.status == 200
    assert (await resp.json())["status"] == "rejected"
    again = await client.post(f"/v1/moderation/comments/{cid}/approve", headers=mod_headers())
    assert again.status == 409
    assert (await again.json())["status"] == "rejected"


async def test_acting_on_a_published_or_pending_comment_answers_409(client: Any, settings: Settings) -> None:
    pending = await _post(client)
    assert (
        await client.post(f"/v1/moderation/comments/{pending}/approve", headers=mod_headers())
    ).status == 409
    published = await _post(client)
    await _hold(settings, published, verdict="publish")
    assert (
        await client.post(f"/v1/moderation/comments/{published}/reject", headers=mod_headers())
    ).status == 409


async def test_moderator_decision_is_never_overwritten_by_a_worker(client: Any, settings: Settings) -> None:
    cid = await _post(client)
    await _hold(settings, cid)
    await client.post(f"/v1/moderation/comments/{cid}/reject", headers=mod_headers())
    assert await _hold(settings, cid, verdict="publish") == "rejected"  # late worker write: a no-op
    body = await (await client.get(f"/v1/moderation/comments/{cid}", headers=mod_headers())).json()
    assert body["status"] == "rejected"
    assert [a["action"] for a in body["audit"]] == ["decide", "reject"]


async def test_moderator_sees_email_only_on_demand(client: Any, settings: Settings) -> None:
    cid = await _post(client)
    plain = await (await client.get(f"/v1/moderation/comments/{cid}", headers=mod_headers())).json()
    assert "email" not in plain
    url = f"/v1/moderation/comments/{cid}?include=email"
    assert (await (await client.get(url, headers=mod_headers())).json())["email"] == "ada@example.org"


async def test_unknown_fields_in_a_moderation_note_are_rejected(client: Any, settings: Settings) -> None:
    cid = await _post(client)
    await _hold(settings, cid)
    resp = await client.post(
        f"/v1/moderation/comments/{cid}/approve", json={"note": 5, "as": "bob"}, headers=mod_headers()
    )
    assert resp.status == 422
    assert set((await resp.json())["fields"]) == {"note", "as"}


async def test_bad_queue_parameters_are_rejected(client: Any) -> None:
    for query in ["limit=0", "limit=500", "limit=abc", "cursor=../../x"]:
        resp = await client.get(f"/v1/moderation/queue?{query}", headers=mod_headers())
        assert resp.status == 422, query


async def test_healthz_is_ok_and_readyz_needs_a_worker_heartbeat(client: Any, settings: Settings) -> None:
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["redis"] is True
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    import time

    await redis.hset(Keys(settings.stream_prefix).workers, "w1", repr(time.time()))
    await redis.aclose()
    assert (await client.get("/readyz")).status == 200


async def test_retention_expires_decided_records_held_ones_too(client: Any, settings: Settings) -> None:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    keys = Keys(settings.stream_prefix)
    store = DecisionStore(redis, keys, retention_s=3600)
    published, held = await _post(client), await _post(client)
    for cid, verdict in ((published, "publish"), (held, "hold")):
        record = await store.get(cid)
        assert record is not None
        await store.decide(cid, record.created_at, Decision(verdict=verdict, scores={}, reasons=[]))
    assert 3500 < await redis.ttl(keys.comment(published)) <= 3600
    assert 3500 < await redis.ttl(keys.comment(held)) <= 3600  # held ones expire too (issue 17)
    await store.moderate(held, "alice", approve=False, note=None)
    assert 3500 < await redis.ttl(keys.comment(held)) <= 3600
    await redis.aclose()
