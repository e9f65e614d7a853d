"""``POST /v1/score`` (same verdict as ``POST /v1/comments``, nothing kept) and ``GET /v1/comments?since=``
(the site's own decisions in order, verdict changes included) — issue 13."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.models import Decision
from service.core.privacy import author_hash
from service.core.settings import Settings
from service.core.store import DecisionStore
from tests.kits.common import OTHER_SITE_KEY, mod_headers, site_headers
from tests.kits.protocolkit import redis_holds, running_worker, six_class_model
from tests.kits.workerkit import wait_decided

__all__ = ["six_class_model"]

COMMENT = {"name": "Ada", "email": "ada@example.org", "body": "A careful, well sourced piece on the budget."}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(protocol_wait_s=30.0, wait_max_s=30.0)


async def _approved(settings: Settings, email: str) -> str | None:
    keys = Keys(settings.stream_prefix)
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    try:
        found = await redis.hgetall(keys.author("site-a", author_hash(email, settings.hash_secret)))
        return None if not found else str(found)
    finally:
        await redis.aclose()


async def test_score_gives_the_sites_verdict_and_keeps_nothing(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    async with running_worker(settings, six_class_model, thresholds={"toxicity": 1.0, "spam": 1.0}):
        scored = []
        for _ in range(2):
            resp = await client.post("/v1/score", json=COMMENT, headers=site_headers())
            assert resp.status == 200, await resp.text()
            scored.append(await resp.json())
        assert await redis_holds(settings, "well sourced piece") == []
        assert await _approved(settings, COMMENT["email"]) is None  # no author record either
        resp = await client.post("/v1/comments", json=COMMENT, headers=site_headers(Prefer="wait=30"))
        own = await resp.json()
    assert scored[0]["verdict"] == own["verdict"] == "publish"
    assert scored[0]["scores"] == own["scores"]
    assert set(scored[0]) >= {"verdict", "status", "scores", "reasons", "models"} and "id" not in scored[0]


async def test_score_validates_like_the_site_api(client: Any) -> None:
    resp = await client.post("/v1/score", json={**COMMENT, "email": "nope", "x": 1}, headers=site_headers())
    assert resp.status == 422
    assert set((await resp.json())["fields"]) == {"email", "x"}
    assert (await client.post("/v1/score", json=COMMENT)).status == 401
    resp = await client.post("/v1/score", json=COMMENT, headers=site_headers())
    assert resp.status == 503 and (await resp.json())["error"] == "no_workers"


async def test_the_decisions_feed_in_order_paged_by_thread_and_with_changes(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    async with running_worker(settings, six_class_model, thresholds={"toxicity": 0.01, "spam": 1.0}):
        ids = []
        for i, thread in enumerate(["t1", "t2", "t1"]):
            comment = {**COMMENT, "body": f"Comment {i}", "thread": thread}
            resp = await client.post("/v1/comments", json=comment, headers=site_headers())
            ids.append((await resp.json())["id"])
        resp = await client.post("/v1/comments", json={**COMMENT, "body": "Other site"},
                                 headers=site_headers(OTHER_SITE_KEY))  # fmt: skip
        other = (await resp.json())["id"]
        await wait_decided(settings, [*ids, other])
    resp = await client.get("/v1/comments", headers=site_headers())
    body = await resp.json()
    assert [item["id"] for item in body["items"]] == ids  # held, in order; not the other site's
    assert {item["status"] for item in body["items"]} == {"held"}
    first = await (await client.get("/v1/comments?limit=2", headers=site_headers())).json()
    assert [i["id"] for i in first["items"]] == ids[:2]
    rest = await (
        await client.get(f"/v1/comments?since={first['next_cursor']}", headers=site_headers())
    ).json()
    assert [i["id"] for i in rest["items"]] == ids[2:]
    by_thread = await (await client.get("/v1/comments?thread=t1", headers=site_headers())).json()
    assert [i["id"] for i in by_thread["items"]] == [ids[0], ids[2]]
    # A moderator's decision comes again after the cursor, with its new status.
    resp = await client.post(f"/v1/moderation/comments/{ids[1]}/approve", headers=mod_headers())
    assert resp.status == 200
    later = await (
        await client.get(f"/v1/comments?since={body['next_cursor']}", headers=site_headers())
    ).json()
    assert [(i["id"], i["status"]) for i in later["items"]] == [(ids[1], "published")]
    nothing = await (
        await client.get(f"/v1/comments?since={later['next_cursor']}", headers=site_headers())
    ).json()
    assert nothing["items"] == [] and nothing["next_cursor"] == later["next_cursor"]


async def test_the_feed_rejects_a_bad_cursor_or_limit(client: Any) -> None:
    for query in ("since=abc", "since=1:xyz", "limit=0", "limit=x"):
        resp = await client.get(f"/v1/comments?{query}", headers=site_headers())
        assert resp.status == 422
        assert set((await resp.json())["fields"]) <= {"since", "limit"}


async def test_a_comment_held_after_the_cursor_is_not_passed(client: Any, settings: Settings) -> None:
    """B is posted before A, but decided (held) after a reader's cursor passed A's decision: the held
    index orders by creation, the feed by decision, so B still comes next."""
    ids = []
    for body in ("Comment B", "Comment A"):
        resp = await client.post("/v1/comments", json={**COMMENT, "body": body}, headers=site_headers())
        ids.append((await resp.json())["id"])
    b, a = ids
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    store = DecisionStore(redis, Keys(settings.stream_prefix))
    try:
        held = Decision("hold", {"toxicity": 0.9}, [{"code": "toxicity", "score": 0.9, "threshold": 0.44}])
        created = {cid: record.created_at for cid, record in (await store.get_many([a, b])).items()}
        assert await store.decide(a, created[a], held) == "ok"
        first = await (await client.get("/v1/comments", headers=site_headers())).json()
        assert [i["id"] for i in first["items"]] == [a]
        assert await store.decide(b, created[b], held) == "ok"  # indexed by creation: before the cursor
    finally:
        await redis.aclose()
    later = await (
        await client.get(f"/v1/comments?since={first['next_cursor']}", headers=site_headers())
    ).json()
    assert [i["id"] for i in later["items"]] == [b]
