"""Bugs the fuzz run and the bad-input campaign found (all fixed), each pinned by one request."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kits.common import mod_headers, site_headers

UNICODE_DIGIT = "\u00b2"  # "²": str.isdigit() is True, int() raises ValueError


async def _json_error(resp: Any) -> dict[str, Any]:
    body = await resp.json()
    assert isinstance(body, dict) and "error" in body
    return body


async def test_queue_limit_with_a_unicode_digit_is_422(client: Any) -> None:
    resp = await client.get(f"/v1/moderation/queue?limit={UNICODE_DIGIT}", headers=mod_headers())
    assert resp.status == 422
    await _json_error(resp)


async def test_moderation_list_limit_with_a_unicode_digit_is_422(client: Any) -> None:
    resp = await client.get(f"/v1/moderation/comments?limit={UNICODE_DIGIT}", headers=mod_headers())
    assert resp.status == 422
    await _json_error(resp)


@pytest.mark.parametrize("as_form", [False, True], ids=["json", "form"])
async def test_form_elapsed_ms_with_a_unicode_digit_is_422(client: Any, as_form: bool) -> None:
    fields = {
        "name": "Tester",
        "email": "t@example.org",
        "body": "Calm remark.",
        "form_elapsed_ms": "1" + UNICODE_DIGIT,
    }
    if as_form:
        resp = await client.post("/v1/comments", data=fields, headers=site_headers())
    else:
        resp = await client.post("/v1/comments", json=fields, headers=site_headers())
    assert resp.status == 422
    assert "form_elapsed_ms" in (await _json_error(resp))["fields"]


@pytest.mark.parametrize("action", [[], {}, ["approve"]], ids=["list", "object", "list-of-action"])
async def test_bulk_decision_with_a_non_string_action_is_422(client: Any, action: Any) -> None:
    body = {"action": action, "ids": ["0" * 28]}
    resp = await client.post("/v1/moderation/decisions", json=body, headers=mod_headers())
    assert resp.status == 422
    await _json_error(resp)


@pytest.mark.parametrize("body", [5, [[1]], {"url": "http://["}], ids=["number", "nested-list", "bad-ipv6"])
async def test_webhook_with_a_malformed_body_is_4xx(client: Any, body: Any) -> None:
    resp = await client.put("/v1/webhook", json=body, headers=site_headers())
    assert 400 <= resp.status < 500
    await _json_error(resp)


async def test_a_4xx_is_counted_as_a_4xx_in_metrics(client: Any) -> None:
    resp = await client.get(f"/v1/comments/{'0' * 28}")  # no key: 401
    assert resp.status == 401
    metrics = await (await client.get("/metrics")).text()
    lines = [
        x for x in metrics.splitlines() if x.startswith("commentmod_http_requests") and "comment_id" in x
    ]
    assert any('status="401"' in x for x in lines), lines
    assert not any('status="500"' in x for x in lines), lines


async def test_email_local_part_over_64_characters_is_422(client: Any) -> None:
    body = {"name": "Tester", "email": "l" * 65 + "@example.org", "body": "Calm remark."}
    resp = await client.post("/v1/comments", json=body, headers=site_headers())
    assert resp.status == 422
    assert "email" in (await _json_error(resp))["fields"]


async def test_an_unknown_field_named_with_a_lone_surrogate_is_422(client: Any) -> None:
    """The 422 body names each unknown field; a name holding a lone surrogate (valid JSON escape, not
    encodable UTF-8) made building that body fail with a 500."""
    raw = '{"action": "approve", "ids": ["' + "0" * 28 + '"], "x\\ud82a": 1}'
    headers = {**mod_headers(), "Content-Type": "application/json"}
    resp = await client.post("/v1/moderation/decisions", data=raw.encode(), headers=headers)
    assert resp.status == 422
    assert (await _json_error(resp))["fields"] == {"x\ud82a": "unknown field"}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"banned": [{"kind": "word", "pattern": "x\\ud82a"}]}', "banned"),
        ('{"suspect": ["x\\ud82a"]}', "suspect"),
        ('{"premoderate_threads": ["x\\ud82a"]}', "premoderate_threads"),
        ('{"thresholds": {"x\\ud82a": 0.5}}', "thresholds"),
    ],
    ids=["banned", "suspect", "threads", "threshold-name"],
)
async def test_site_rules_holding_a_lone_surrogate_are_422(client: Any, raw: str, field: str) -> None:
    """Rules are stored in Redis as UTF-8: a lone surrogate (a valid JSON escape) made the write fail
    with a 500."""
    headers = {**mod_headers(), "Content-Type": "application/json"}
    resp = await client.put("/v1/moderation/rules/dev-site", data=raw.encode(), headers=headers)
    assert resp.status == 422
    assert "lone surrogate" in (await _json_error(resp))["fields"][field]


@pytest.mark.parametrize(
    "url", ["https://x\\ud82a.example/h", "https://example.com/\\ud82a"], ids=["host", "path"]
)
async def test_a_webhook_url_holding_a_lone_surrogate_is_422(client: Any, url: str) -> None:
    """The URL is stored in Redis as UTF-8: a lone surrogate made the write fail with a 500."""
    headers = {**site_headers(), "Content-Type": "application/json"}
    resp = await client.put("/v1/webhook", data=('{"url": "' + url + '"}').encode(), headers=headers)
    assert resp.status == 422
    assert (await _json_error(resp))["fields"] == {"url": "an http(s) URL"}
