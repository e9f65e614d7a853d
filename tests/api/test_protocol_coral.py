"""Coral's External Moderation Phase (issue 13): requests signed and shaped exactly as Coral builds them
(its external moderation phase: JSON.stringify of the request, ``X-Coral-Signature: sha256=HEX`` per
active signing secret, comma-separated), a rotated secret, a bad signature, and the no-worker fallback."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from service.core.settings import Settings, SettingsError
from tests.kits.common import mod_headers
from tests.kits.protocolkit import redis_holds, running_worker, six_class_model

__all__ = ["six_class_model"]

OLD, NEW = "old-signing-secret-1", "new-signing-secret-2"
URL = "/v1/integrations/coral/site-a"
BODY_HTML = (
    "<p>Thanks for this piece on the <b>council budget</b>.</p><p>The chart helped &amp; so did the map.</p>"
)
BODY_TEXT = "Thanks for this piece on the council budget.\nThe chart helped & so did the map."


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(
        protocol_wait_s=30.0,
        coral_secrets={"site-a": (OLD, NEW), "site-b": (NEW,)},
        coral_fallback={"site-b": "pass"},
    )


def coral_request(body: str = BODY_HTML, comment_id: str = "c-1", action: str = "NEW") -> bytes:
    """The ExternalModerationRequest Coral sends, serialised as JSON.stringify does (no spaces)."""
    request = {
        "action": action,
        "comment": {"id": comment_id, "body": body, "parentID": None},
        "author": {"id": "u-42", "role": "COMMENTER", "createdAt": "2026-01-02T03:04:05.000Z",
                   "username": "ada", "email": "ada@example.org", "badges": []},
        "story": {"id": "s-7", "url": "https://news.example.org/2026/12/budget/"},
        "site": {"id": "site-uuid-1"},
        "tenantID": "tenant-1",
        "tenantDomain": "comments.news.example.org",
    }  # fmt: skip
    return json.dumps(request, separators=(",", ":")).encode()


def signed(raw: bytes, *secrets: str) -> dict[str, str]:
    signatures = ",".join(f"sha256={hmac.new(s.encode(), raw, hashlib.sha256).hexdigest()}" for s in secrets)
    return {"Content-Type": "application/json", "User-Agent": "Coral", "X-Coral-Signature": signatures}


async def test_a_clean_comment_is_published_with_204(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    async with running_worker(settings, six_class_model, thresholds={"toxicity": 1.0, "spam": 1.0}):
        raw = coral_request()
        resp = await client.post(URL, data=raw, headers=signed(raw, OLD, NEW))
        assert resp.status == 204, await resp.text()
        comment_id = resp.headers["X-Commentmod-Comment-Id"]
    record = await (await client.get(f"/v1/moderation/comments/{comment_id}", headers=mod_headers())).json()
    assert record["status"] == "published" and record["body"] == BODY_TEXT
    assert record["thread"] == "https://news.example.org/2026/12/budget/" and record["client_ref"] == "c-1"


async def test_a_toxic_comment_is_system_withheld_and_flagged(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    async with running_worker(settings, six_class_model, thresholds={"toxicity": 0.01, "spam": 1.0}):
        raw = coral_request("You are an idiot.", comment_id="c-2")
        resp = await client.post(URL, data=raw, headers=signed(raw, NEW))  # only the new secret: rotated
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {
            "status": "SYSTEM_WITHHELD",
            "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}],
        }


async def test_a_site_rule_reject_is_rejected(client: Any, settings: Settings, six_class_model: Path) -> None:
    rules = {"banned": [{"pattern": "swindle", "action": "reject"}]}
    resp = await client.put("/v1/moderation/rules/site-a", json=rules, headers=mod_headers())
    assert resp.status == 200, await resp.text()
    async with running_worker(settings, six_class_model, thresholds={"toxicity": 1.0, "spam": 1.0}):
        raw = coral_request("What a swindle this is.", comment_id="c-3")
        resp = await client.post(URL, data=raw, headers=signed(raw, OLD))
        assert resp.status == 200
        assert (await resp.json())["status"] == "REJECTED"


async def test_bad_or_missing_signature_is_401_and_nothing_is_stored(client: Any, settings: Settings) -> None:
    raw = coral_request("A comment nobody signed for.")
    for headers in (
        {"Content-Type": "application/json"},
        signed(raw, "wrong-secret-9999"),
        signed(raw + b" ", OLD),
        {"X-Coral-Signature": "sha256=zz"},
        signed(raw, NEW)
        | {"X-Coral-Signature": signed(raw, NEW)["X-Coral-Signature"].replace("sha256=", "md5=")},
    ):
        resp = await client.post(URL, data=raw, headers=headers)
        assert resp.status == 401
        assert (await resp.json())["error"] == "unauthorized"
    resp = await client.post("/v1/integrations/coral/no-such-site", data=raw, headers=signed(raw, OLD))
    assert resp.status == 401
    assert await redis_holds(settings, "nobody signed") == []


async def test_without_a_worker_the_sites_fallback_answers(client: Any) -> None:
    raw = coral_request(comment_id="c-4")
    resp = await client.post(URL, data=raw, headers=signed(raw, OLD))
    assert resp.status == 200 and await resp.json() == {"status": "PREMOD"}  # hold: the default
    resp = await client.post("/v1/integrations/coral/site-b", data=raw, headers=signed(raw, NEW))
    assert resp.status == 204  # site-b: pass


async def test_a_signed_but_malformed_request_is_422_naming_the_field(client: Any) -> None:
    raw = json.dumps({"action": "NEW", "comment": {"id": "c-5", "body": 7}, "author": {"id": "u"}}).encode()
    resp = await client.post(URL, data=raw, headers=signed(raw, OLD))
    assert resp.status == 422
    assert (await resp.json())["fields"] == {"comment.body": "must be a string"}
    raw = b"[1,2]"
    resp = await client.post(URL, data=raw, headers=signed(raw, OLD))
    assert resp.status == 400


def test_coral_settings_from_the_environment() -> None:
    env = {
        "COMMENTMOD_CORAL_SECRETS": f"site-a={OLD}, site-a={NEW},site-b=with=equals-1",
        "COMMENTMOD_CORAL_FALLBACK": "site-b=pass",
        "COMMENTMOD_PROTOCOL_WAIT_S": "1.5",
    }
    settings = Settings.from_env(env)
    assert settings.coral_secrets == {"site-a": (OLD, NEW), "site-b": ("with=equals-1",)}
    assert settings.coral_fallback == {"site-b": "pass"} and settings.protocol_wait_s == 1.5
    assert Settings.from_env(settings.to_env({})) == settings
    assert OLD not in repr(settings)  # secrets stay out of reprs (and so of logs)
    for bad in ({"COMMENTMOD_CORAL_FALLBACK": "site-b=maybe"}, {"COMMENTMOD_CORAL_SECRETS": "site-a=short"}):
        with pytest.raises(SettingsError):
            Settings.from_env(bad)
