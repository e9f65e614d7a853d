"""The moderators' desk API: reversible decisions, context, author filter, the audit of all actions,
activity and the moderator metrics."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.settings import Settings
from tests.kits.common import MOD_KEY, mod_headers, site_headers
from tests.kits.held import client_poster, make_held


def _url(cid: str, action: str) -> str:
    return f"/v1/moderation/comments/{cid}/{action}"


async def _act(client: Any, cid: str, action: str, note: str | None = None, **headers: str) -> Any:
    body = {"note": note} if note else None
    return await client.post(_url(cid, action), json=body, headers=headers or mod_headers())


async def _webhook_events(settings: Settings, cid: str) -> list[str]:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    try:
        rows = await redis.xrange(Keys(settings.stream_prefix).webhook_stream)
    finally:
        await redis.aclose()
    return [fields["status"] for _, fields in rows if fields["id"] == cid]


async def test_reject_then_reinstate_publishes_with_audit_site_view_and_webhook(
    client: Any, settings: Settings
) -> None:
    cid = await make_held(settings, client_poster(client))
    assert (await _act(client, cid, "reject", "abuse")).status == 200
    resp = await _act(client, cid, "reinstate", "reader complained: it was satire")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "published" and body["decided_by"] == "moderator:alice"
    last = body["audit"][-1]
    assert (last["action"], last["from"], last["to"], last["note"]) == (
        "reinstate", "rejected", "published", "reader complained: it was satire",
    )  # fmt: skip
    site_view = await (await client.get(f"/v1/comments/{cid}", headers=site_headers())).json()
    assert site_view["status"] == "published"
    assert await _webhook_events(settings, cid) == ["held", "rejected", "published"]
    listed = await (
        await client.get("/v1/moderation/comments?status=published", headers=mod_headers())
    ).json()
    assert [i["id"] for i in listed["items"]] == [cid]
    rejected = await (
        await client.get("/v1/moderation/comments?status=rejected", headers=mod_headers())
    ).json()
    assert rejected["items"] == []


async def test_unpublish_rejects_a_published_comment_and_acting_twice_is_409(
    client: Any, settings: Settings
) -> None:
    cid = await make_held(settings, client_poster(client), verdict="publish")
    resp = await _act(client, cid, "unpublish", "doxxing")
    assert resp.status == 200
    assert (await resp.json())["status"] == "rejected"
    again = await _act(client, cid, "unpublish")
    assert again.status == 409
    assert (await again.json())["status"] == "rejected"
    site_view = await (await client.get(f"/v1/comments/{cid}", headers=site_headers())).json()
    assert site_view["status"] == "rejected"
    assert await _webhook_events(settings, cid) == ["published", "rejected"]


async def test_reinstating_a_held_or_pending_comment_is_a_conflict(client: Any, settings: Settings) -> None:
    held = await make_held(settings, client_poster(client))
    resp = await _act(client, held, "reinstate")
    assert resp.status == 409
    assert (await resp.json())["status"] == "held"
    assert (await _act(client, held, "unpublish")).status == 409
    assert (await _act(client, "f" * 28, "reinstate")).status == 404


async def test_two_moderators_acting_at_once_one_wins_the_other_gets_409(
    client: Any, settings: Settings
) -> None:
    cid = await make_held(settings, client_poster(client))
    first, second = await asyncio.gather(_act(client, cid, "approve"), _act(client, cid, "reject"))
    assert sorted([first.status, second.status]) == [200, 409]
    loser = first if first.status == 409 else second
    winner_status = (await (first if first.status == 200 else second).json())["status"]
    assert (await loser.json())["status"] == winner_status


async def test_bulk_decisions_take_the_reversing_actions(client: Any, settings: Settings) -> None:
    post = client_poster(client)
    a, b = await make_held(settings, post), await make_held(settings, post)
    await client.post(
        "/v1/moderation/decisions", json={"action": "reject", "ids": [a, b]}, headers=mod_headers()
    )
    resp = await client.post(
        "/v1/moderation/decisions",
        json={"action": "reinstate", "ids": [a], "note": "ok"},
        headers=mod_headers(),
    )
    assert (await resp.json())["results"] == [{"id": a, "ok": True, "status": "published"}]


async def test_context_shows_parent_with_verdict_and_the_authors_recent_comments_without_email(
    client: Any, settings: Settings
) -> None:
    post = client_poster(client)
    parent = await make_held(
        settings, post, verdict="publish", name="Bo", email="bo@example.org", body="Parent"
    )
    older = await make_held(settings, post, body="My older comment")
    other = await make_held(settings, post, email="someone@example.org", body="Not by Ada")
    cid = await make_held(settings, post, parent_id=parent, body="Reply to Bo")
    resp = await client.get(f"/v1/moderation/comments/{cid}/context", headers=mod_headers())
    assert resp.status == 200
    body = await resp.json()
    assert body["thread"] == "art-1"
    assert body["parent"]["id"] == parent and body["parent"]["verdict"] == "publish"
    assert body["parent"]["status"] == "published" and body["parent"]["body"] == "Parent"
    assert [c["id"] for c in body["author_recent"]] == [older]
    assert body["author"]["standing"] == "normal" and body["author"]["name"] == "Ada"
    assert "example.org" not in json.dumps(body)
    by_author = await client.get(
        f"/v1/moderation/comments?status=held&author={body['author']['id']}", headers=mod_headers()
    )
    assert [i["id"] for i in (await by_author.json())["items"]] == [older, cid]
    assert other not in json.dumps(await by_author.json())
    bad = await client.get("/v1/moderation/comments?author=ada@example.org", headers=mod_headers())
    assert bad.status == 422 and set((await bad.json())["fields"]) == {"author"}


async def test_author_standing_from_the_page_session_needs_csrf_and_is_audited(
    client: Any, settings: Settings
) -> None:
    cid = await make_held(settings, client_poster(client))
    author = (await (await client.get(f"/v1/moderation/comments/{cid}", headers=mod_headers())).json())[
        "author"
    ]
    await client.post("/moderate/login", data={"key": MOD_KEY}, allow_redirects=False)
    page = await (await client.get("/moderate")).text()
    csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    url = f"/v1/moderation/authors/site-a/{author}"
    assert (await client.put(url, json={"standing": "banned"})).status == 403
    resp = await client.put(url, json={"standing": "banned"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await resp.json())["standing"] == "banned"
    ctx = await (await client.get(f"/v1/moderation/comments/{cid}/context")).json()
    assert ctx["author"]["standing"] == "banned"
    audit = await (await client.get("/v1/moderation/audit")).json()
    assert audit["items"][0]["action"] == "standing" and audit["items"][0]["to"] == "banned"
    assert audit["items"][0]["author"] == author


async def test_audit_lists_every_action_newest_first_by_actor_and_since_with_pages(
    client: Any, settings: Settings
) -> None:
    post = client_poster(client)
    ids = [await make_held(settings, post, body=f"c{i}") for i in range(5)]
    start = time.time()
    for cid in ids:
        assert (await _act(client, cid, "reject")).status == 200
    assert (await _act(client, ids[0], "reinstate", "mistake")).status == 200
    seen: list[tuple[str | None, str]] = []
    cursor = ""
    for _ in range(10):
        page = await (
            await client.get(f"/v1/moderation/audit?limit=4&cursor={cursor}", headers=mod_headers())
        ).json()
        seen += [(item["id"], item["action"]) for item in page["items"]]
        cursor = page["next_cursor"] or ""
        if not cursor:
            break
    assert seen == [(ids[0], "reinstate")] + [(cid, "reject") for cid in reversed(ids)]
    other = await (await client.get("/v1/moderation/audit?actor=bob", headers=mod_headers())).json()
    assert other["items"] == []
    mine = await (await client.get("/v1/moderation/audit?actor=alice", headers=mod_headers())).json()
    assert len(mine["items"]) == 6
    later = await (
        await client.get(f"/v1/moderation/audit?since={time.time() + 60}", headers=mod_headers())
    ).json()
    assert later["items"] == []
    assert (
        len(
            (
                await (
                    await client.get(f"/v1/moderation/audit?since={start - 1}", headers=mod_headers())
                ).json()
            )["items"]
        )
        == 6
    )
    for query in ["since=yesterday", "actor=a%20b", "cursor=1:2", "limit=0"]:
        resp = await client.get(f"/v1/moderation/audit?{query}", headers=mod_headers())
        assert resp.status == 422, query
    assert (await client.get("/v1/moderation/audit")).status == 401


async def test_activity_and_metrics_count_moderator_actions_and_the_oldest_hold(
    client: Any, settings: Settings
) -> None:
    post = client_poster(client)
    a, b = await make_held(settings, post), await make_held(settings, post)
    await _act(client, a, "reject")
    await _act(client, a, "reinstate")
    activity = await (await client.get("/v1/moderation/activity", headers=mod_headers())).json()
    assert activity["held_now"] == 1 and activity["decided_today"] == 2
    assert activity["per_moderator"] == {"alice": 2}
    assert activity["oldest_held_age_s"] >= 0
    text = await (await client.get("/metrics")).text()
    assert 'commentmod_moderator_actions_total{action="reinstate"} 1.0' in text
    assert 'commentmod_moderator_actions_total{action="reject"} 1.0' in text
    assert re.search(r"^commentmod_held_oldest_age_seconds \d", text, re.M)
    assert b


async def test_highlights_fall_on_whole_words_as_folding_reads_them(client: Any, settings: Settings) -> None:
    body = "you are s t u p i d i d i o t, ok"
    inner = body.index("d i d")  # a stored span on "d i" in the middle of the spaced-out word
    reasons = [{"code": "toxicity", "score": 0.97, "threshold": 0.5, "spans": [[inner, inner + 3], [0, 3]]}]
    cid = await make_held(settings, client_poster(client), reasons=reasons, body=body)
    view = await (await client.get(f"/v1/moderation/comments/{cid}", headers=mod_headers())).json()
    spans = view["reasons"][0]["spans"]
    assert [body[a:b] for a, b in spans] == ["s t u p i d i d i o t", "you"]
    listed = await (await client.get("/v1/moderation/comments", headers=mod_headers())).json()
    assert listed["items"][0]["reasons"][0]["spans"] == spans


async def test_the_desk_script_is_served_like_the_page_script_and_builds_no_html(client: Any) -> None:
    desk = await client.get("/moderate/static/desk.js")
    assert desk.status == 200
    assert desk.headers["Content-Type"].startswith("text/javascript")
    assert desk.headers["X-Content-Type-Options"] == "nosniff"
    text = await desk.text()
    assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "eval(" not in text
