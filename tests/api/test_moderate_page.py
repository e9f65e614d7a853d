"""The moderators' page over HTTP: sign-in, session cookie, CSRF, security headers, and its JSON endpoints."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import redis.asyncio as aioredis
import structlog
from aiohttp.test_utils import TestClient, TestServer

from service.core.keys import Keys
from service.core.settings import Settings
from service.http.app import create_app
from service.http.common import SETTINGS
from service.http.web.pages import CSP
from service.http.web.session import COOKIE, SESSION_TTL_S
from tests.kits.common import MOD_KEY, SITE_KEY, mod_headers, site_headers
from tests.kits.held import SPAM, TOXIC, Post, make_held


def poster(client: Any) -> Post:
    async def post(payload: dict[str, Any]) -> str:
        resp = await client.post("/v1/comments", json=payload, headers=site_headers())
        assert resp.status == 202, await resp.text()
        return str((await resp.json())["id"])

    return post


async def sign_in(client: Any) -> tuple[Any, str]:
    """Sign in with the form; returns the redirect response and the page's CSRF token."""
    resp = await client.post("/moderate/login", data={"key": MOD_KEY}, allow_redirects=False)
    assert resp.status == 303
    page = await (await client.get("/moderate")).text()
    match = re.search(r'data-csrf="([^"]+)"', page)
    assert match, page
    return resp, match.group(1)


def set_cookie_header(resp: Any) -> str:
    cookies = [c for c in resp.headers.getall("Set-Cookie", []) if c.startswith(COOKIE + "=")]
    assert len(cookies) == 1
    return str(cookies[0])


async def test_signed_out_page_is_the_login_form_with_security_headers(client: Any) -> None:
    resp = await client.get("/moderate")
    assert resp.status == 200
    html = await resp.text()
    assert '<form method="post" action="/moderate/login">' in html
    assert "<script" not in html and "style=" not in html
    assert resp.headers["Content-Security-Policy"] == CSP
    assert "unsafe-inline" not in CSP
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"


async def test_login_with_an_unknown_key_or_a_site_key_fails_without_a_cookie(client: Any) -> None:
    for key in ["wrong-key-0123456789", SITE_KEY, "", MOD_KEY + "x"]:
        resp = await client.post("/moderate/login", data={"key": key}, allow_redirects=False)
        assert resp.status == 401, key
        assert "not a moderator key" in await resp.text()
        assert "Set-Cookie" not in resp.headers
        assert resp.headers["Content-Security-Policy"] == CSP


async def test_login_sets_an_httponly_samesite_strict_cookie_stored_hashed_with_a_ttl(
    client: Any, settings: Settings
) -> None:
    resp, _ = await sign_in(client)
    assert resp.headers["Location"] == "/moderate"
    header = set_cookie_header(resp)
    attrs = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attrs
    assert "samesite=strict" in header.lower()
    assert "secure" not in attrs  # plain http in this test
    session_id = header.split(";")[0].split("=", 1)[1]
    assert len(session_id) >= 40
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    key = Keys(settings.stream_prefix).session(hashlib.sha256(session_id.encode()).hexdigest())
    assert (await redis.hget(key, "moderator")) == "alice"
    assert 0 < await redis.ttl(key) <= SESSION_TTL_S
    assert not [k async for k in redis.scan_iter(f"*{session_id}*")]
    await redis.aclose()


async def test_cookie_is_secure_when_the_request_came_over_tls_via_a_proxy(client: Any) -> None:
    headers = {"X-Forwarded-Proto": "https"}
    resp = await client.post("/moderate/login", data={"key": MOD_KEY}, headers=headers, allow_redirects=False)
    assert resp.status == 303
    attrs = {part.strip().lower() for part in set_cookie_header(resp).split(";")}
    assert "secure" in attrs and "httponly" in attrs


async def test_login_form_posted_from_another_origin_is_refused(client: Any) -> None:
    for headers in [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ]:
        resp = await client.post(
            "/moderate/login", data={"key": MOD_KEY}, headers=headers, allow_redirects=False
        )
        assert resp.status == 403, headers
        assert "Set-Cookie" not in resp.headers
    own = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}  # our form, sent under no-referrer
    resp = await client.post("/moderate/login", data={"key": MOD_KEY}, headers=own, allow_redirects=False)
    assert resp.status == 303


async def test_signed_in_shell_carries_csrf_token_and_no_inline_script(client: Any) -> None:
    await sign_in(client)
    resp = await client.get("/moderate")
    html = await resp.text()
    assert resp.headers["Content-Security-Policy"] == CSP
    assert '<script src="/moderate/static/app.js" defer></script>' in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/moderate/static/app.js" defer>']
    assert 'data-moderator="alice"' in html
    toxicity = client.server.app[SETTINGS].thresholds["toxicity"]
    assert f"&quot;toxicity&quot;: {toxicity}" in html  # thresholds from Settings, attribute-escaped


async def test_session_write_without_or_with_a_wrong_csrf_token_is_403(
    client: Any, settings: Settings
) -> None:
    cid = await make_held(settings, poster(client))
    _, csrf = await sign_in(client)
    body = {"action": "reject", "ids": [cid]}
    for headers in [{}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": csrf[:-1]}, {"X-CSRF-Token": ""}]:
        resp = await client.post("/v1/moderation/decisions", json=body, headers=headers)
        assert resp.status == 403, headers
        assert (await resp.json())["error"] == "csrf_failed"
    listed = await (await client.get("/v1/moderation/comments?status=held")).json()
    assert [i["id"] for i in listed["items"]] == [cid]  # reads need no token, and nothing changed
    resp = await client.post("/v1/moderation/decisions", json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    assert (await resp.json())["results"] == [{"id": cid, "ok": True, "status": "rejected"}]


async def test_logout_needs_the_csrf_token_and_deletes_the_session(client: Any) -> None:
    _, csrf = await sign_in(client)
    assert (await client.post("/moderate/logout")).status == 403
    assert (await client.get("/v1/moderation/queue/counts")).status == 200
    resp = await client.post("/moderate/logout", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert (await client.get("/v1/moderation/queue/counts")).status == 401
    assert 'action="/moderate/login"' in await (await client.get("/moderate")).text()


async def test_stolen_cookie_value_is_useless_after_logout(client: Any) -> None:
    resp, csrf = await sign_in(client)
    session_id = set_cookie_header(resp).split(";")[0].split("=", 1)[1]
    await client.post("/moderate/logout", headers={"X-CSRF-Token": csrf})
    replay = await client.get("/v1/moderation/queue/counts", cookies={COOKIE: session_id})
    assert replay.status == 401


async def test_removing_a_moderator_key_ends_the_sessions_signed_in_with_it(
    client: Any, settings: Settings
) -> None:
    resp, _ = await sign_in(client)
    session_id = set_cookie_header(resp).split(";")[0].split("=", 1)[1]
    rotated = settings.with_(moderator_keys={"new-mod-key-0123456789": "alice"})
    async with TestClient(TestServer(create_app(rotated))) as other:
        assert (await other.get("/v1/moderation/queue/counts", cookies={COOKIE: session_id})).status == 401
    async with TestClient(TestServer(create_app(settings))) as same:
        assert (await same.get("/v1/moderation/queue/counts", cookies={COOKIE: session_id})).status == 200


async def test_static_files_are_served_with_nosniff_and_nothing_else_is(client: Any) -> None:
    js = await client.get("/moderate/static/app.js")
    assert js.status == 200
    assert js.headers["Content-Type"].startswith("text/javascript")
    assert js.headers["X-Content-Type-Options"] == "nosniff"
    assert "innerHTML" not in await js.text()
    css = await client.get("/moderate/static/app.css")
    assert css.headers["Content-Type"].startswith("text/css")
    for bad in ["../pages.py", "..%2Fpages.py", "pages.py", "app.js.map", "%2e%2e%2f__init__.py"]:
        assert (await client.get(f"/moderate/static/{bad}")).status == 404, bad


async def test_page_endpoints_need_a_moderator_key_or_session(client: Any) -> None:
    cid = "0" * 28
    for method, path in [
        ("GET", "/v1/moderation/comments"),
        ("GET", "/v1/moderation/queue/counts"),
        ("GET", f"/v1/moderation/comments/{cid}/history"),
        ("POST", "/v1/moderation/decisions"),
    ]:
        assert (await client.request(method, path)).status == 401, path
        bad = {"Authorization": "Bearer wrong-key-123456"}
        assert (await client.request(method, path, headers=bad)).status == 401, path
        assert (await client.request(method, path, headers=site_headers())).status == 403, path
    assert (await client.get("/v1/moderation/queue/counts", headers=mod_headers())).status == 200


async def test_held_list_is_oldest_first_and_filters_by_reason_thread_and_site(
    client: Any, settings: Settings
) -> None:
    post = poster(client)
    toxic = await make_held(settings, post, thread="art-1")
    spam = await make_held(settings, post, reasons=SPAM, thread="art-2")
    both = await make_held(settings, post, reasons=TOXIC + SPAM, thread="art-2")
    await make_held(settings, post, verdict="publish")

    async def ids(query: str) -> list[str]:
        resp = await client.get(f"/v1/moderation/comments?{query}", headers=mod_headers())
        assert resp.status == 200
        return [item["id"] for item in (await resp.json())["items"]]

    assert await ids("status=held") == [toxic, spam, both]
    assert await ids("reason=spam") == [spam, both]
    assert await ids("thread=art-2&reason=toxicity") == [both]
    assert await ids("site=site-a") == [toxic, spam, both]
    assert await ids("site=site-b") == []
    counts = await (await client.get("/v1/moderation/queue/counts", headers=mod_headers())).json()
    assert counts == {
        "held_total": 3, "reasons": {"toxicity": 2, "spam": 2}, "sites": {"site-a": 3}, "complete": True,
    }  # fmt: skip


async def test_list_pages_with_cursors_without_gaps_or_repeats(client: Any, settings: Settings) -> None:
    post = poster(client)
    made = [await make_held(settings, post, body=f"held {i}") for i in range(5)]
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        page = await (
            await client.get(f"/v1/moderation/comments?limit=2&cursor={cursor}", headers=mod_headers())
        ).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"] or ""
        if not cursor:
            break
    assert seen == made


async def test_decided_lists_are_newest_first_and_searchable(client: Any, settings: Settings) -> None:
    post = poster(client)
    first = await make_held(settings, post, body="The first needle comment")
    second = await make_held(settings, post, body="Another one", name="Needle Fan")
    third = await make_held(settings, post, body="Nothing to see")
    for cid, action in [(first, "reject"), (second, "reject"), (third, "approve")]:
        body = {"action": action, "ids": [cid], "note": "checked"}
        assert (await client.post("/v1/moderation/decisions", json=body, headers=mod_headers())).status == 200

    async def ids(query: str) -> list[str]:
        page = await (await client.get(f"/v1/moderation/comments?{query}", headers=mod_headers())).json()
        return [item["id"] for item in page["items"]]

    assert await ids("status=rejected") == [second, first]
    assert await ids("status=rejected&q=NEEDLE") == [second, first]  # body or name, any case
    assert await ids("status=rejected&q=first") == [first]
    assert await ids("status=published") == [third]
    assert await ids("status=published&q=needle") == []
    assert await ids("status=held") == []


async def test_bulk_decision_reports_each_comment_and_writes_the_audit(
    client: Any, settings: Settings
) -> None:
    post = poster(client)
    a, b = await make_held(settings, post), await make_held(settings, post)
    published = await make_held(settings, post, verdict="publish")
    unknown = "f" * 28
    body = {"action": "reject", "ids": [a, b, published, unknown, a], "note": "abuse"}
    resp = await client.post("/v1/moderation/decisions", json=body, headers=mod_headers())
    assert resp.status == 200
    assert (await resp.json())["results"] == [
        {"id": a, "ok": True, "status": "rejected"},
        {"id": b, "ok": True, "status": "rejected"},
        {"id": published, "ok": False, "error": "conflict", "status": "published"},
        {"id": unknown, "ok": False, "error": "not_found"},
    ]
    detail = await (await client.get(f"/v1/moderation/comments/{a}/history", headers=mod_headers())).json()
    last = detail["audit"][-1]
    assert (last["actor"], last["action"], last["to"], last["note"]) == (
        "moderator:alice",
        "reject",
        "rejected",
        "abuse",
    )
    assert "email" not in detail


async def test_bad_decision_bodies_are_rejected_with_every_field_named(client: Any) -> None:
    url = "/v1/moderation/decisions"
    bad = {"action": "delete", "ids": ["../x"], "note": 5, "as": "bob"}
    resp = await client.post(url, json=bad, headers=mod_headers())
    assert resp.status == 422
    assert set((await resp.json())["fields"]) == {"action", "ids", "note", "as"}
    assert (
        await client.post(url, json={"action": "approve", "ids": []}, headers=mod_headers())
    ).status == 422
    assert (await client.post(url, data="action=approve", headers=mod_headers())).status == 415
    for query in ["status=pending", "limit=0", "limit=201", "cursor=x", "q=" + "a" * 201]:
        resp = await client.get(f"/v1/moderation/comments?{query}", headers=mod_headers())
        assert resp.status == 422, query


async def test_history_shows_the_email_only_on_demand(client: Any, settings: Settings) -> None:
    cid = await make_held(settings, poster(client))
    await sign_in(client)
    plain = await (await client.get(f"/v1/moderation/comments/{cid}/history")).json()
    assert "email" not in plain and plain["audit"][0]["to"] == "held"
    shown = await (await client.get(f"/v1/moderation/comments/{cid}/history?include=email")).json()
    assert shown["email"] == "ada@example.org"
    assert (await client.get(f"/v1/moderation/comments/{'0' * 28}/history")).status == 404


async def test_page_requests_log_no_comment_text_name_email_or_key(client: Any, settings: Settings) -> None:
    marker = "Zyxwv-private-marker"
    with structlog.testing.capture_logs() as logs:
        cid = await make_held(
            settings, poster(client), body=f"{marker} body", name=f"{marker} name", email="zyxwv@example.org"
        )
        _, csrf = await sign_in(client)
        await client.post("/moderate/login", data={"key": "wrong-" + MOD_KEY})
        await client.get(f"/v1/moderation/comments?q={marker}")
        await client.get(f"/v1/moderation/comments/{cid}/history?include=email")
        body = {"action": "reject", "ids": [cid], "note": f"{marker} note"}
        await client.post("/v1/moderation/decisions", json=body, headers={"X-CSRF-Token": csrf})
    text = repr(logs)
    assert logs and "moderate_login" in text
    for secret in [marker, "zyxwv", MOD_KEY, csrf]:
        assert secret not in text
