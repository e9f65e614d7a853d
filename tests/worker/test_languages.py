"""Languages end to end: every comment's language is stored and shown; one no loaded model serves is held
(or published, per site) with ``language_unsupported``, never scored as English, and counted."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis.asyncio as aioredis

from service.core.settings import Settings
from tests.kits.common import OTHER_SITE_KEY, mod_headers, site_headers
from workers.backtest import score_stream
from workers.consumer import Worker
from workers.scoring.pipeline import ScoringPipeline
from workers.scoring.types import CommentText

GERMAN = "Das ist ein sehr guter Artikel, vielen Dank für die gründliche Recherche."
KOREAN = "이 기사 정말 잘 읽었습니다. 좋은 정보 감사합니다."
ENGLISH = "Thank you for this careful, well sourced report on the city budget."


async def _post(client: Any, body: str, key: str | None = None, **extra: str) -> str:
    payload = {"name": "Reader", "email": "reader@example.org", "body": body, **extra}
    headers = site_headers(key) if key else site_headers()
    resp = await client.post("/v1/comments", json=payload, headers=headers)
    assert resp.status == 202, await resp.text()
    return str((await resp.json())["id"])


async def _drain(settings: Settings) -> Worker:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    try:
        with ThreadPoolExecutor(max_workers=1) as executor:
            worker = Worker(settings, redis, ScoringPipeline.from_settings(settings), executor, "w-lang")
            await worker.drain()
            return worker
    finally:
        await redis.aclose()


async def _get(client: Any, comment_id: str, key: str | None = None) -> dict[str, Any]:
    headers = site_headers(key) if key else site_headers()
    resp = await client.get(f"/v1/comments/{comment_id}", headers=headers)
    assert resp.status == 200
    return dict(await resp.json())


def _codes(record: dict[str, Any]) -> list[str]:
    return [reason["code"] for reason in record["reasons"]]


async def test_a_comment_in_an_unserved_language_is_held_unscored_and_counted(
    client: Any, wsettings: Settings
) -> None:
    german, korean, english = [await _post(client, body) for body in (GERMAN, KOREAN, ENGLISH)]
    worker = await _drain(wsettings)
    for comment_id, code in ((german, "de"), (korean, "ko")):
        record = await _get(client, comment_id)
        assert record["status"] == "held" and "language_unsupported" in _codes(record)
        assert record["language"]["code"] == code and record["language"]["source"] == "detected"
        assert record["language"]["confidence"] >= 0.5
        assert "toxicity" not in record["scores"] and "spam" in record["scores"]  # not scored as English
        reason = next(r for r in record["reasons"] if r["code"] == "language_unsupported")
        assert reason["signals"] == [code, "hold"]
    record = await _get(client, english)
    assert record["language"]["code"] == "en" and "toxicity" in record["scores"]
    assert "language_unsupported" not in _codes(record)
    metrics = worker.metrics.render().decode()
    assert 'commentmod_language_unsupported_total{language="de"} 1.0' in metrics
    assert 'commentmod_language_unsupported_total{language="ko"} 1.0' in metrics


async def test_the_moderator_view_shows_the_language(client: Any, wsettings: Settings) -> None:
    comment_id = await _post(client, KOREAN)
    await _drain(wsettings)
    resp = await client.get(f"/v1/moderation/comments/{comment_id}", headers=mod_headers())
    body = await resp.json()
    view = body.get("comment", body)
    assert view["language"]["code"] == "ko"


async def test_a_site_may_publish_unserved_languages(client: Any, wsettings: Settings) -> None:
    comment_id = await _post(client, GERMAN)
    await _drain(wsettings.with_(site_unsupported_language={"site-a": "publish"}))
    record = await _get(client, comment_id)
    assert record["status"] == "published"
    reason = next(r for r in record["reasons"] if r["code"] == "language_unsupported")
    assert reason["signals"] == ["de", "publish"]


async def test_the_service_wide_action_applies_to_sites_without_their_own(
    client: Any, wsettings: Settings
) -> None:
    a, b = await _post(client, GERMAN), await _post(client, GERMAN, key=OTHER_SITE_KEY)
    changes = {"unsupported_language": "publish", "site_unsupported_language": {"site-b": "hold"}}
    await _drain(wsettings.with_(**changes))
    assert (await _get(client, a))["status"] == "published"
    assert (await _get(client, b, key=OTHER_SITE_KEY))["status"] == "held"


async def test_a_declared_language_overrides_detection(client: Any, wsettings: Settings) -> None:
    on_comment = await _post(client, GERMAN, language="en")
    site_declared = await _post(client, KOREAN, key=OTHER_SITE_KEY)
    await _drain(wsettings.with_(site_languages={"site-b": ("en",)}))
    record = await _get(client, on_comment)
    assert record["language"] == {"code": "en", "confidence": 1.0, "source": "comment"}
    assert "toxicity" in record["scores"] and "language_unsupported" not in _codes(record)
    record = await _get(client, site_declared, key=OTHER_SITE_KEY)
    assert record["language"] == {"code": "en", "confidence": 1.0, "source": "site"}


async def test_a_short_comment_takes_the_site_default(client: Any, wsettings: Settings) -> None:
    plain, declared = await _post(client, "ok 👍"), await _post(client, "ok 👍", key=OTHER_SITE_KEY)
    await _drain(wsettings.with_(site_languages={"site-b": ("de", "en")}))
    record = await _get(client, plain)
    assert record["language"]["code"] == "en" and record["language"]["source"] == "default"
    assert "toxicity" in record["scores"]
    record = await _get(client, declared, key=OTHER_SITE_KEY)
    assert record["language"]["code"] == "de" and record["language"]["source"] == "default"
    assert "language_unsupported" in _codes(record)


async def test_an_invalid_declared_language_is_refused_at_intake(client: Any) -> None:
    payload = {"name": "Reader", "email": "reader@example.org", "body": ENGLISH, "language": "klingon"}
    resp = await client.post("/v1/comments", json=payload, headers=site_headers())
    assert resp.status == 422
    assert "language" in (await resp.json())["fields"]


def test_the_model_never_reads_a_comment_in_an_unserved_language(wsettings: Settings) -> None:
    pipeline = ScoringPipeline.from_settings(wsettings)
    read: list[str] = []
    score = pipeline.toxicity.score
    pipeline.toxicity.score = lambda texts: read.extend(texts) or score(texts)  # type: ignore[method-assign]
    comments = [CommentText(id=str(i), body=body) for i, body in enumerate((GERMAN, ENGLISH, KOREAN))]
    scores = pipeline.score_batch(comments)
    assert read == [ENGLISH]
    assert [s.language.code if s.language else None for s in scores] == ["de", "en", "ko"]
    assert "toxicity" not in scores[0].values and "toxicity" in scores[1].values
    assert all("spam" in s.values for s in scores)


def test_commentmod_score_writes_the_language_and_applies_the_policy(wsettings: Settings) -> None:
    lines = [
        json.dumps({"id": "de", "body": GERMAN}),
        json.dumps({"id": "en", "body": ENGLISH}),
        json.dumps({"id": "declared", "body": GERMAN, "language": "en"}),
        json.dumps({"id": "bad", "body": GERMAN, "language": "german"}),
    ]
    out = io.StringIO()
    assert score_stream(wsettings, lines, out) == 1  # the bad line
    rows = {row.get("id"): row for row in map(json.loads, out.getvalue().splitlines())}
    assert rows["de"]["verdict"] == "hold" and rows["de"]["language"]["code"] == "de"
    assert [r["code"] for r in rows["de"]["reasons"]] == ["language_unsupported"]
    assert rows["en"]["language"]["code"] == "en" and "toxicity" in rows["en"]["scores"]
    assert rows["declared"]["language"] == {"code": "en", "confidence": 1.0, "source": "comment"}
    assert "language" in rows["bad"]["error"]
