"""A real worker's rule hold, as the moderator sees it: the rule named, its match placed on whole words."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.settings import Settings
from tests.kits.common import mod_headers, site_headers
from tests.kits.tiny_model import build_tiny_checkpoint
from workers.consumer import Worker
from workers.scoring.pipeline import ScoringPipeline

LENIENT = {"toxicity": 0.99, "spam": 0.99}  # the tiny model's scores never hold: only the rules do


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> ScoringPipeline:
    folder = tmp_path_factory.mktemp("tiny-rule-holds")
    build_tiny_checkpoint(folder)
    return ScoringPipeline.from_settings(
        Settings.from_env({}, multilingual_model="none", toxicity_model=str(folder))
    )


async def _drain(settings: Settings, pipeline: ScoringPipeline) -> None:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    keys = Keys(settings.stream_prefix)
    with ThreadPoolExecutor(max_workers=1) as executor:
        worker = Worker(settings, redis, pipeline, executor, "w-rule-holds")
        await worker.ensure_group()
        while got := await redis.xreadgroup(keys.group, "w-rule-holds", {keys.stream: ">"}, count=50):
            await worker.handle([m for _, entries in got for m in entries])
    await redis.aclose()


async def test_a_worker_rule_hold_names_the_rule_and_spans_the_folded_words(
    client: Any, settings: Settings, tiny_pipeline: ScoringPipeline
) -> None:
    rules = {"banned": ["swindle"], "suspect": ["scam"], "thresholds": LENIENT}
    resp = await client.put("/v1/moderation/rules/site-a", json=rules, headers=mod_headers())
    assert resp.status == 200
    body = "Total s w i n d l e, and a sc4m too."
    payload = {"name": "Reader", "email": "reader@example.org", "body": body}
    posted = await client.post("/v1/comments", json=payload, headers=site_headers())
    cid = (await posted.json())["id"]
    await _drain(settings.with_(thresholds=LENIENT), tiny_pipeline)
    view = await (await client.get(f"/v1/moderation/comments/{cid}", headers=mod_headers())).json()
    assert view["status"] == "held"
    placed = {r["code"]: (r.get("rule"), [body[a:b] for a, b in r.get("spans", [])]) for r in view["reasons"]}
    assert placed == {"banned_pattern": ("swindle", ["s w i n d l e"]), "suspect_word": ("scam", ["sc4m"])}
