"""POST /v1/comments: every validation rule answers a clear 4xx with a JSON body naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.settings import Settings
from tests.kits.common import site_headers

GOOD = {"name": "Ada Lovelace", "email": "ada@example.org", "body": "A thoughtful article, thank you."}


async def post(client: Any, payload: Any, **headers: str) -> Any:
    return await client.post("/v1/comments", json=payload, headers=site_headers(**headers))


async def test_valid_comment_is_accepted_with_pending_status_and_id(client: Any, settings: Settings) -> None:
    resp = await post(client, GOOD)
    assert resp.status == 202
    body = await resp.json()
    assert body["status"] == "pending"
    assert len(body["id"]) == 28
    assert resp.headers["Location"] == f"/v1/comments/{body['id']}"
    # Durable before the answer: the record and the stream entry are in Redis already.
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    keys = Keys(settings.stream_prefix)
    assert await redis.hget(keys.comment(body["id"]), "status") == "pending"
    entries = await redis.xrange(keys.stream)
    assert [e[1]["id"] for e in entries] == [body["id"]]
    await redis.aclose()


async def test_missing_required_fields_are_all_named_at_once(client: Any) -> None:
    resp = await post(client, {})
    assert resp.status == 422
    body = await resp.json()
    assert body["error"] == "validation_failed"
    assert set(body["fields"]) == {"name", "email", "body"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "   "),
        ("name", "x" * 101),
        ("name", "Bad\x07Name"),
        ("name", "Evil\u202eName"),
        ("name", 42),
        ("email", "not-an-email"),
        ("email", "a" * 250 + "@example.org"),
        ("email", "ada@"),
        ("body", ""),
        ("body", "   \n "),
        ("body", "\u200b\u200d\u2060"),
        ("body", "x" * 10_001),
        ("body", "nul\x00byte"),
        ("body", ["list"]),
        ("ip", "999.1.1.1"),
        ("author_url", "javascript:alert(1)"),
        ("thread", "t" * 2049),
        ("form_elapsed_ms", -5),
        ("form_elapsed_ms", True),
    ],
)
async def test_each_bad_field_is_rejected_and_named(client: Any, field: str, value: Any) -> None:
    resp = await post(client, {**GOOD, field: value})
    assert resp.status == 422
    body = await resp.json()
    assert list(body["fields"]) == [field]


async def test_name_is_trimmed_and_hundred_characters_is_allowed(client: Any) -> None:
    resp = await post(client, {**GOOD, "name": "  " + "n" * 100 + "  "})
    assert resp.status == 202


async def test_body_of_exactly_ten_thousand_characters_is_allowed(client: Any) -> None:
    resp = await post(client, {**GOOD, "body": "y" * 10_000})
    assert resp.status == 202


async def test_unknown_fields_such_as_status_or_verdict_are_rejected(client: Any) -> None:
    resp = await post(client, {**GOOD, "status": "published", "verdict": "publish", "scores": {}})
    assert resp.status == 422
    fields = (await resp.json())["fields"]
    assert set(fields) == {"status", "verdict", "scores"}


async def test_lone_surrogate_in_json_is_rejected_not_a_server_error(client: Any) -> None:
    raw = '{"name": "A\\ud800", "email": "ada@example.org", "body": "hi"}'
    resp = await client.post(
        "/v1/comments", data=raw, headers=site_headers(**{"Content-Type": "application/json"})
    )
    assert resp.status == 422
    assert "name" in (await resp.json())["fields"]


async def test_malformed_json_gets_400(client: Any) -> None:
    resp = await client.post(
        "/v1/comments", data="{not json", headers=site_headers(**{"Content-Type": "application/json"})
    )
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_json"


async def test_json_array_body_gets_400(client: Any) -> None:
    resp = await post(client, [GOOD])
    assert resp.status == 400


async def test_deeply_nested_json_gets_400_not_500(client: Any) -> None:
    raw = "[" * 50_000 + "]" * 50_000
    resp = await client.post(
        "/v1/comments", data=raw[:60_000], headers=site_headers(**{"Content-Type": "application/json"})
    )
    assert resp.status == 400


async def test_invalid_utf8_gets_400(client: Any) -> None:
    resp = await client.post(
        "/v1/comments",
        data=b'{"name": "\xff\xfe"}',
        headers=site_headers(**{"Content-Type": "application/json"}),
    )
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_encoding"


async def test_other_content_types_get_415(client: Any) -> None:
    resp = await client.post(
        "/v1/comments", data="name=a", headers=site_headers(**{"Content-Type": "text/plain"})
    )
    assert resp.status == 415
    assert (await resp.json())["error"] == "unsupported_media_type"


async def test_request_over_64_kib_gets_413(client: Any) -> None:
    resp = await post(client, {**GOOD, "body": "z" * (70 * 1024)})
    assert resp.status == 413
    assert (await resp.json())["error"] == "payload_too_large"


async def test_chunked_body_over_limit_without_length_gets_413(client: Any) -> None:
    async def chunks() -> Any:
        for _ in range(80):
            yield b"x" * 1024

    resp = await client.post(
        "/v1/comments", data=chunks(), headers=site_headers(**{"Content-Type": "application/json"})
    )
    assert resp.status == 413


async def test_html_form_fields_forwarded_as_they_came_are_accepted(client: Any) -> None:
    form = {"name": "Ada", "email": "ada@example.org", "body": "Nice piece.", "thread": "article-7"}
    resp = await client.post("/v1/comments", data=form, headers=site_headers())
    assert resp.status == 202


async def test_wordpress_form_field_names_are_mapped(client: Any) -> None:
    form = {
        "author": "Ada",
        "email": "ada@example.org",
        "url": "https://ada.example.org",
        "comment": "Nice piece.",
        "comment_post_ID": "17",
        "comment_parent": "0",
        "submit": "Post Comment",
    }
    resp = await client.post("/v1/comments", data=form, headers=site_headers())
    assert resp.status == 202


async def test_form_with_missing_required_fields_names_them(client: Any) -> None:
    resp = await client.post("/v1/comments", data={"comment": "hi"}, headers=site_headers())
    assert resp.status == 422
    assert set((await resp.json())["fields"]) == {"author", "email"}  # a WordPress form: its names


async def test_idempotency_key_returns_the_same_id(client: Any) -> None:
    first = await post(client, GOOD, **{"Idempotency-Key": "abc-1"})
    second = await post(client, GOOD, **{"Idempotency-Key": "abc-1"})
    assert first.status == 202
    assert second.status == 202
    assert (await first.json())["id"] == (await second.json())["id"]


async def test_idempotency_key_with_another_payload_gets_422(client: Any) -> None:
    await post(client, GOOD, **{"Idempotency-Key": "abc-2"})
    resp = await post(client, {**GOOD, "body": "something else"}, **{"Idempotency-Key": "abc-2"})
    assert resp.status == 422
    assert (await resp.json())["error"] == "idempotency_key_reused"


async def test_concurrent_posts_with_one_idempotency_key_make_one_comment(
    client: Any, settings: Settings
) -> None:
    import asyncio

    responses = await asyncio.gather(*(post(client, GOOD, **{"Idempotency-Key": "same"}) for _ in range(10)))
    ids = {(await r.json())["id"] for r in responses}
    assert len(ids) == 1
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    assert await redis.xlen(Keys(settings.stream_prefix).stream) == 1
    await redis.aclose()


async def test_errors_are_json_for_unknown_routes(client: Any) -> None:
    resp = await client.get("/nope")
    assert resp.status == 404
    assert json.loads(await resp.text())["error"] == "not_found"


async def test_rate_limit_per_commenter_ip_answers_429_with_retry_after(
    client: Any, settings: Settings
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from service.http.app import create_app

    limited = settings.with_(client_rate_limit=3, site_rate_limit=0)
    async with TestClient(TestServer(create_app(limited))) as c:
        answers = [(await post(c, {**GOOD, "ip": "203.0.113.9"})).status for _ in range(4)]
        assert answers == [202, 202, 202, 429]
        resp = await post(c, {**GOOD, "ip": "203.0.113.9"})
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) >= 1
        assert (await resp.json())["error"] == "rate_limited"
        assert (await post(c, {**GOOD, "ip": "203.0.113.10"})).status == 202  # another commenter


IPV6_SPELLINGS = [
    "2001:db8::1", "2001:DB8::1", "2001:0db8::1", "2001:db8:0:0:0:0:0:1",
    "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1%eth0", "2001:db8:0::1", " 2001:db8::0:1 ",
]  # fmt: skip


async def test_rate_limit_keys_on_the_canonical_ip_and_ipv6_by_its_64(settings: Settings) -> None:
    """Issue 17 point 6: eight spellings of one IPv6 address share one per-IP limit (they got 8 x the
    limit in), as do two addresses of one /64 and an IPv4-mapped address with its IPv4; another /64 is
    another commenter, and text that is no IP is a 422 naming ``ip``."""
    from aiohttp.test_utils import TestClient, TestServer

    from service.http.app import create_app

    limited = settings.with_(client_rate_limit=len(IPV6_SPELLINGS), site_rate_limit=0)
    async with TestClient(TestServer(create_app(limited))) as c:
        answers = [(await post(c, {**GOOD, "ip": ip})).status for ip in IPV6_SPELLINGS]
        assert answers == [202] * len(IPV6_SPELLINGS)
        assert (await post(c, {**GOOD, "ip": "2001:db8::1"})).status == 429
        assert (await post(c, {**GOOD, "ip": "2001:db8::abcd:42"})).status == 429  # same /64
        assert (await post(c, {**GOOD, "ip": "2001:db8:0:1::1"})).status == 202  # the next /64
        for _ in range(len(IPV6_SPELLINGS)):
            assert (await post(c, {**GOOD, "ip": "198.51.100.7"})).status == 202
        assert (await post(c, {**GOOD, "ip": "::ffff:198.51.100.7"})).status == 429
        bad = await post(c, {**GOOD, "ip": "2001:db8::1::2"})
        assert bad.status == 422 and "ip" in (await bad.json())["fields"]


async def test_rate_limit_per_site_uses_the_site_override(client: Any, settings: Settings) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from service.http.app import create_app
    from tests.kits.common import OTHER_SITE_KEY

    limited = settings.with_(site_rate_limit=100, site_rate_limits={"site-a": 2}, client_rate_limit=0)
    async with TestClient(TestServer(create_app(limited))) as c:
        assert [(await post(c, GOOD)).status for _ in range(3)] == [202, 202, 429]
        other = await c.post("/v1/comments", json=GOOD, headers=site_headers(OTHER_SITE_KEY))
        assert other.status == 202


async def test_intake_survives_redis_losing_its_script_cache(client: Any, settings: Settings) -> None:
    assert (await post(client, GOOD)).status == 202
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    await redis.script_flush()  # what a Redis restart does
    await redis.aclose()
    resp = await post(client, {**GOOD, "body": "after the flush"})
    assert resp.status == 202
    assert (await resp.json())["status"] == "pending"


async def test_a_draining_api_is_not_ready_and_closes_connections(client: Any) -> None:
    from service.http.common import DRAINING

    client.server.app[DRAINING].set()
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["status"] == "draining"
    resp = await post(client, GOOD)
    assert resp.status == 202  # still served while draining, but the connection is not kept alive
    assert resp.headers["Connection"] == "close"
    refused = await client.post("/v1/comments", json=GOOD)  # no key: an ApiError, raised not returned
    assert refused.status == 401
    assert refused.headers["Connection"] == "close" and refused.headers["X-Request-Id"]
    invalid = await post(client, {"body": "no name or email"})
    assert invalid.status == 422
    assert invalid.headers["Connection"] == "close"
