"""Akismet-compatible spam checking (issue 13), driven by the real ``akismet`` client from PyPI (its
``SyncClient`` and ``AsyncClient``) whose httpx transport sends Akismet's URLs to the test server."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import akismet
import httpx
import pytest
import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.privacy import author_hash
from service.core.settings import Settings
from tests.kits.common import SITE_KEY, mod_headers
from tests.kits.protocolkit import redis_holds, running_worker, six_class_model
from workers.feedback import _export

__all__ = ["six_class_model"]

BLOG = "https://news.example.org"
TEXT = "Thanks for the clear explanation of the council budget; the chart on page two helped."
COMMENT = {
    "comment_type": "comment",
    "comment_author": "Ada Lovelace",
    "comment_author_email": "ada@example.org",
    "comment_author_url": "www.example.org",
    "comment_content": TEXT,
    "permalink": "https://news.example.org/2026/12/budget/",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "referrer": "https://news.example.org/",
    "blog_lang": "en",
    "comment_date_gmt": "2026-12-05T08:00:00Z",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(protocol_wait_s=30.0)


def _rewrite(request: httpx.Request, base: httpx.URL) -> None:
    request.url = request.url.copy_with(scheme="http", host=base.host, port=base.port)


class ToTestServer(httpx.AsyncBaseTransport):
    """Akismet's https://rest.akismet.com/... sent to the test server, Host header as Akismet's."""

    def __init__(self, base: str) -> None:
        self._base, self._inner = httpx.URL(base), httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _rewrite(request, self._base)
        return await self._inner.handle_async_request(request)


class SyncToTestServer(httpx.BaseTransport):
    def __init__(self, base: str) -> None:
        self._base, self._inner = httpx.URL(base), httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _rewrite(request, self._base)
        return self._inner.handle_request(request)


def _base(client: Any) -> str:
    return str(client.make_url("/"))


def async_client(
    client: Any, key: str = SITE_KEY, http: httpx.AsyncClient | None = None
) -> akismet.AsyncClient:
    http = http or httpx.AsyncClient(transport=ToTestServer(_base(client)), timeout=60)
    return akismet.AsyncClient(config=akismet.Config(key=key, url=BLOG), http_client=http)


def sync_client(client: Any, key: str = SITE_KEY) -> akismet.SyncClient:
    http = httpx.Client(transport=SyncToTestServer(_base(client)), timeout=60)
    return akismet.SyncClient(config=akismet.Config(key=key, url=BLOG), http_client=http)


async def test_verify_key_with_both_clients(client: Any) -> None:
    async with async_client(client) as good:
        assert await good.verify_key() is True
    async with httpx.AsyncClient(transport=ToTestServer(_base(client))) as http:
        bad = async_client(client, key="not-a-site-key-123", http=http)  # entering it would validate
        assert await bad.verify_key() is False
        with pytest.raises(akismet.APIKeyError):
            await bad.comment_check(user_ip="203.0.113.7", **COMMENT)
    sync = sync_client(client)
    assert await asyncio.to_thread(sync.verify_key) is True
    validated = await akismet.AsyncClient.validated_client(
        config=akismet.Config(key=SITE_KEY, url=BLOG),
        http_client=httpx.AsyncClient(transport=ToTestServer(_base(client))),
    )
    await validated.__aexit__(None, None, None)  # type: ignore[arg-type]


async def test_comment_check_ham_and_spam(client: Any, settings: Settings, six_class_model: Path) -> None:
    async with (
        running_worker(settings, six_class_model, thresholds={"toxicity": 1.0, "spam": 1.0}),
        async_client(client) as ak,
    ):
        assert (await ak.usage_limit())["usage"] == 0
        assert await ak.comment_check(user_ip="203.0.113.7", **COMMENT) == akismet.CheckResponse.HAM
        assert await ak.usage_limit() == {
            "limit": "none",
            "usage": 1,
            "percentage": "0.00",
            "throttled": False,
        }
    async with running_worker(
        settings, six_class_model, name="w-2", thresholds={"toxicity": 1.0, "spam": 0.01}
    ):
        other = {**COMMENT, "comment_content": "Cheap pills at http://pills.example click here"}
        sync = sync_client(client)
        result = await asyncio.to_thread(lambda: sync.comment_check(user_ip="203.0.113.8", **other))
        assert result in {akismet.CheckResponse.SPAM, akismet.CheckResponse.DISCARD}


async def test_comment_check_answers_and_records_like_the_site_api(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    async with running_worker(settings, six_class_model, thresholds={"toxicity": 0.01, "spam": 1.0}):
        resp = await client.post(
            "/1.1/comment-check",
            data={"api_key": SITE_KEY, "blog": BLOG, "user_ip": "203.0.113.7", **COMMENT},
        )
        assert resp.status == 200 and await resp.text() == "true"  # held for toxicity
        guid = resp.headers["X-akismet-guid"]
        assert "X-akismet-pro-tip" not in resp.headers
        record = await (await client.get(f"/v1/moderation/comments/{guid}", headers=mod_headers())).json()
        assert (
            record["status"] == "held" and record["body"] == TEXT and record["thread"] == COMMENT["permalink"]
        )
        assert record["author_url"] == "http://www.example.org"
        # A recheck of the same comment finds the same record.
        resp = await client.post(
            "/1.1/comment-check",
            data={
                "api_key": SITE_KEY,
                "blog": BLOG,
                "user_ip": "203.0.113.7",
                "recheck_reason": "edit",
                **COMMENT,
            },
        )
        assert resp.headers["X-akismet-guid"] == guid


async def test_key_as_the_hosts_first_label(client: Any, settings: Settings) -> None:
    async with httpx.AsyncClient(transport=ToTestServer(_base(client))) as http:
        resp = await http.post(f"https://{SITE_KEY}.rest.akismet.com/1.1/verify-key", data={"blog": BLOG})
        assert resp.text == "valid"
        resp = await http.post(
            "https://nope1234567.rest.akismet.com/1.1/comment-check",
            data={"blog": BLOG, "user_ip": "1.2.3.4", **COMMENT},
        )
        assert resp.text == "invalid" and resp.headers["X-akismet-debug-help"]


async def test_missing_required_fields_are_named(client: Any) -> None:
    resp = await client.post("/1.1/comment-check", data={"api_key": SITE_KEY, "blog": BLOG, **COMMENT})
    assert resp.status == 200
    assert await resp.text() == "Missing required field: user_ip."
    assert resp.headers["X-akismet-debug-help"] == "Missing required field: user_ip."


async def test_without_a_worker_comment_check_is_a_503_the_client_reports(
    client: Any, settings: Settings
) -> None:
    async with async_client(client) as ak:
        with pytest.raises(akismet.RequestError):
            await ak.comment_check(user_ip="203.0.113.7", **COMMENT)
    assert await redis_holds(settings, TEXT) == []


async def test_submissions_become_moderator_labels(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    spam = {**COMMENT, "comment_content": "Buy cheap watches at http://watches.example today"}
    async with (
        running_worker(settings, six_class_model, thresholds={"toxicity": 1.0, "spam": 1.0}),
        async_client(client) as ak,
    ):
        assert await ak.comment_check(user_ip="203.0.113.7", **spam) == akismet.CheckResponse.HAM
        assert await ak.submit_spam(user_ip="203.0.113.7", **spam) is True
        sync = sync_client(client)
        assert await asyncio.to_thread(lambda: sync.submit_ham(user_ip="203.0.113.9", **COMMENT)) is True
        # The site's label is the answer from now on.
        assert await ak.comment_check(user_ip="203.0.113.7", **spam) == akismet.CheckResponse.SPAM
    out = io.StringIO()
    assert await _export(settings, settings.redis_url or "", out) == 2
    labels = {label["text"]: label for label in map(json.loads, out.getvalue().splitlines())}
    assert labels[spam["comment_content"]]["moderator_decision"] == "reject"
    assert labels[spam["comment_content"]]["moderator"] == "akismet:site-a"
    assert labels[TEXT]["moderator_decision"] == "approve"


async def test_is_test_leaves_no_text_and_the_authors_standing(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    author = author_hash(COMMENT["comment_author_email"], settings.hash_secret)
    url = f"/v1/moderation/authors/site-a/{author}"
    assert (await client.put(url, json={"standing": "trusted"}, headers=mod_headers())).status == 200
    async with running_worker(settings, six_class_model), async_client(client) as ak:
        await ak.comment_check(user_ip="203.0.113.7", is_test=True, **COMMENT)
    assert await redis_holds(settings, TEXT) == []
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    try:
        standing = await redis.hget(Keys(settings.stream_prefix).author("site-a", author), "standing")
    finally:
        await redis.aclose()
    assert standing == "trusted"
