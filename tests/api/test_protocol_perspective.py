"""Perspective-compatible scoring (issue 13): requests built as Coral builds them, answers read as Coral
reads them, doNotStore honoured, Google-shaped errors, suggestscore as moderator labels."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from service.core.settings import Settings
from tests.kits.common import MOD_KEY, SITE_KEY, mod_headers, site_headers
from tests.kits.protocolkit import redis_holds, running_worker, six_class_model
from workers.feedback import _export

__all__ = ["six_class_model"]  # the fixture, used by name


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A generous wait: the tests assert answers, not latency, on a shared machine."""
    return settings.with_(protocol_wait_s=30.0)


TEXT = "You are a complete idiot and everyone here is sick of your stupid lies."
ANALYZE = f"/v1alpha1/comments:analyze?key={SITE_KEY}"


def coral_analyze(
    text: str, model: str = "TOXICITY", do_not_store: bool = True, lang: str = "en"
) -> dict[str, Any]:
    """Exactly what Coral's toxic phase sends (src/core/server/services/perspective)."""
    return {
        "comment": {"text": text},
        "doNotStore": do_not_store,
        "requestedAttributes": {model: {}},
        "languages": [lang],
    }


def coral_feedback(text: str, rejected: bool) -> dict[str, Any]:
    """What Coral sends to comments:suggestscore when a moderator approves or rejects a comment."""
    return {
        "comment": {"text": text},
        "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1 if rejected else 0}}},
        "languages": ["en"],
        "communityId": "Coral:tenant-1",
        "clientToken": "comment:c-123",
    }


async def google_error(resp: Any, code: int, status: str) -> str:
    assert resp.status == code, await resp.text()
    body = await resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["status"] == status
    return str(body["error"]["message"])


async def test_coral_request_gets_the_workers_score_and_leaves_no_text(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    async with running_worker(settings, six_class_model):
        resp = await client.post(ANALYZE, json=coral_analyze(TEXT))
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        value = body["attributeScores"]["TOXICITY"]["summaryScore"]["value"]  # what Coral reads
        assert 0.0 <= value <= 1.0
        assert body["attributeScores"]["TOXICITY"]["summaryScore"]["type"] == "PROBABILITY"
        assert body["languages"] == ["en"] and body["detectedLanguages"] == ["en"]
        assert "X-Commentmod-Comment-Id" not in resp.headers
        assert await redis_holds(settings, "sick of your stupid lies") == []
        # The same text through the site API: the same score and verdict.
        resp = await client.post(
            "/v1/comments",
            json={"name": "Reader", "email": "reader@example.org", "body": TEXT},
            headers=site_headers(Prefer="wait=5"),
        )
        own = await resp.json()
        assert own["scores"]["toxicity"] == value


async def test_every_attribute_alias_threshold_and_spans(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    async with running_worker(settings, six_class_model, thresholds={"toxicity": 0.01, "spam": 0.99}):
        attributes: dict[str, Any] = {
            name: {}
            for name in (
                "TOXICITY",
                "SEVERE_TOXICITY",
                "IDENTITY_ATTACK",
                "INSULT",
                "PROFANITY",
                "THREAT",
                "SPAM",
            )
        }
        attributes["INSULT_EXPERIMENTAL"] = {"scoreType": "PROBABILITY"}
        attributes["THREAT"] = {"scoreThreshold": 1.0}
        payload = {
            "comment": {"text": TEXT},
            "requestedAttributes": attributes,
            "spanAnnotations": True,
            "doNotStore": False,
            "clientToken": "tok-1",
        }
        resp = await client.post("/v1alpha1/comments:analyze", json=payload, headers=site_headers())
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        scores = body["attributeScores"]
        assert set(scores) == set(attributes) - {"THREAT"}  # under its scoreThreshold: left out
        assert body["clientToken"] == "tok-1"
        spans = scores["TOXICITY"]["spanScores"]
        assert spans and all(0 <= s["begin"] < s["end"] <= len(TEXT) for s in spans)
        assert resp.headers["X-Commentmod-Verdict"] == "hold"
        # Stored: moderators see it, held for toxicity, with the same spans.
        comment_id = resp.headers["X-Commentmod-Comment-Id"]
        record = await (
            await client.get(f"/v1/moderation/comments/{comment_id}", headers=mod_headers())
        ).json()
        assert record["status"] == "held" and record["body"] == TEXT
        held_spans = [s for r in record["reasons"] if r["code"] == "toxicity" for s in r.get("spans", [])]
        assert [[s["begin"], s["end"]] for s in spans] == (held_spans or [[0, len(TEXT)]]), record["reasons"]


async def test_suggestscore_becomes_a_moderator_label(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    async with running_worker(settings, six_class_model):
        resp = await client.post(ANALYZE, json=coral_analyze(TEXT, do_not_store=False))
        assert resp.status == 200
        comment_id = resp.headers["X-Commentmod-Comment-Id"]
        resp = await client.post(
            f"/v1alpha1/comments:suggestscore?key={SITE_KEY}", json=coral_feedback(TEXT, True)
        )
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {"clientToken": "comment:c-123"}
        other = "What a thoughtful and well sourced piece, thank you."
        resp = await client.post(
            f"/v1alpha1/comments:suggestscore?key={SITE_KEY}", json=coral_feedback(other, False)
        )
        assert resp.status == 200
    out = io.StringIO()
    assert await _export(settings, settings.redis_url or "", out) == 2
    labels = {label["text"]: label for label in map(__import__("json").loads, out.getvalue().splitlines())}
    assert labels[TEXT]["moderator_decision"] == "reject" and labels[TEXT]["comment_id"] == comment_id
    assert labels[TEXT]["scores"]["toxicity"] >= 0 and labels[TEXT]["moderator"] == "perspective:site-a"
    assert labels[other]["moderator_decision"] == "approve"


async def test_unknown_attribute_and_unsupported_language_are_400_naming_them(client: Any) -> None:
    resp = await client.post(ANALYZE, json=coral_analyze(TEXT, model="FLIRTATION"))
    assert "FLIRTATION" in await google_error(resp, 400, "INVALID_ARGUMENT")
    resp = await client.post(ANALYZE, json=coral_analyze(TEXT, lang="de"))
    assert "de" in (await google_error(resp, 400, "INVALID_ARGUMENT")).split(": ")[-1]
    resp = await client.post(ANALYZE, json={**coral_analyze(TEXT), "bogus": 1})
    assert '"bogus"' in await google_error(resp, 400, "INVALID_ARGUMENT")
    resp = await client.post(ANALYZE, json={"requestedAttributes": {"TOXICITY": {}}})
    await google_error(resp, 400, "INVALID_ARGUMENT")
    resp = await client.post(ANALYZE, data=b"{nope", headers={"Content-Type": "application/json"})
    await google_error(resp, 400, "INVALID_ARGUMENT")


async def test_keys_as_google_checks_them(client: Any) -> None:
    resp = await client.post("/v1alpha1/comments:analyze", json=coral_analyze(TEXT))
    await google_error(resp, 403, "PERMISSION_DENIED")
    resp = await client.post("/v1alpha1/comments:analyze?key=wrong-key-123456", json=coral_analyze(TEXT))
    assert "API key not valid" in await google_error(resp, 400, "INVALID_ARGUMENT")
    resp = await client.post(f"/v1alpha1/comments:analyze?key={MOD_KEY}", json=coral_analyze(TEXT))
    await google_error(resp, 400, "INVALID_ARGUMENT")


async def test_without_a_worker_analyze_is_a_clear_503_and_stores_nothing(
    client: Any, settings: Settings
) -> None:
    resp = await client.post(ANALYZE, json=coral_analyze(TEXT, do_not_store=False))
    assert "worker" in await google_error(resp, 503, "UNAVAILABLE")
    assert resp.headers["Retry-After"]
    assert await redis_holds(settings, "sick of your stupid lies") == []
