"""Issue 17 point 2: a flood of long comments from one site or author cannot hold other sites' comments
back. Counted in model work and in the order decisions are stored, never in wall-clock time."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync
import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.settings import Settings
from tests.kits.common import OTHER_SITE_KEY, mod_headers, site_headers
from tests.kits.tiny_model import build_tiny_checkpoint
from tests.kits.workerkit import drain_worker
from workers.consumer import Worker
from workers.scoring.fairness import MAX_COST, ROUND_COST, comment_cost, fair_order, fair_rounds
from workers.scoring.pipeline import ScoringPipeline
from workers.scoring.types import CommentText, Language, Scores, Signal

ENGLISH = ("the", "a", "and", "to", "of", "in", "is", "it", "you", "that", "was", "for", "on", "are", "with")


@functools.cache
def long_body(seed: int) -> str:
    """10,000 characters of insults among common English words (the issue's flood, in a language every
    detector hands to the model)."""
    rng = random.Random(seed)
    words: list[str] = []
    size = 0
    while size < 10_000:
        insult = rng.random() < 0.3
        words.append(rng.choice(["idiot", "moron", "loser"] if insult else ENGLISH))
        size += len(words[-1]) + 1
    return " ".join(words)[:10_000]


Item = tuple[str, str, str]  # site, author, body


def test_another_sites_comment_goes_in_the_first_round_after_a_flood() -> None:
    flood: list[Item] = [("b", f"spammer{i % 2}", long_body(i % 7)) for i in range(200)]
    ordinary: list[Item] = [("a", f"reader{i}", "A fair point about the budget.") for i in range(5)]
    rounds = fair_rounds(flood + ordinary, lambda i: i[0], lambda i: i[1], lambda i: comment_cost(i[2]))
    assert set(ordinary) <= set(rounds[0])  # arrived last, decided in the first round
    assert all(sum(comment_cost(i[2]) for i in r) <= ROUND_COST for r in rounds)
    assert sorted(map(id, (i for r in rounds for i in r))) == sorted(map(id, flood + ordinary))
    assert comment_cost(long_body(1)) == MAX_COST and comment_cost("Thanks!") == 1


def test_one_author_cannot_hold_back_the_rest_of_a_site_and_ordinary_batches_stay_one_round() -> None:
    items: list[Item] = [("a", "loud", long_body(i % 7)) for i in range(30)] + [("a", "quiet", "Nice.")]
    ordered = fair_order(items, lambda i: i[0], lambda i: i[1], lambda i: comment_cost(i[2]))
    assert ordered.index(items[-1]) <= 1
    typical: list[Item] = [("a", f"r{i}", "An ordinary remark " * 5) for i in range(256)]
    assert len(fair_rounds(typical, lambda i: i[0], lambda i: i[1], lambda i: comment_cost(i[2]))) == 1


class Recording(ScoringPipeline):
    """The real (tiny) model, recording the bodies of every ``score_batch`` call and the model windows
    each call scored."""

    calls: list[tuple[list[str], int]]
    on_explain: Callable[[], object] | None = None

    def score_batch(
        self, comments: Sequence[CommentText], history: Sequence[Sequence[Signal]] | None = None
    ) -> list[Scores]:
        windows = sum(len(self.toxicity.windows(c.body)) for c in comments)
        self.calls.append(([c.body for c in comments], windows))
        return super().score_batch(comments, history)

    def explain(
        self,
        bodies: Sequence[str],
        bases: Sequence[float] | None = None,
        languages: Sequence[Language | None] | None = None,
    ) -> list[list[list[int]]]:
        if self.on_explain is not None:
            self.on_explain()
        return super().explain(bodies, bases, languages)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    folder: Path = tmp_path_factory.mktemp("tiny-fair")
    build_tiny_checkpoint(folder)
    base = ScoringPipeline.from_settings(
        Settings.from_env({}, multilingual_model="none", toxicity_model=str(folder))
    )
    pipeline = Recording(base.toxicity, base.spam)
    pipeline.calls = []
    return pipeline


async def test_a_flood_of_long_comments_on_one_site_does_not_hold_back_another_sites(
    client: Any, settings: Settings, recording: Recording
) -> None:
    """Site B posts 60 maximum-length bodies (from 60 IPs), then site A an ordinary comment, all in one
    batch: A's comment is scored in the worker's first model call and stored before most of B's, and the
    model work done before A's decision is a fraction of the batch's (it was all of it)."""
    for i in range(60):
        ip, body = f"198.51.100.{i}", long_body(i)
        payload = {"name": "B", "email": f"b{i}@example.org", "body": body, "ip": ip}
        resp = await client.post("/v1/comments", json=payload, headers=site_headers(OTHER_SITE_KEY))
        assert resp.status == 202
    ordinary = "Thanks for the clear write-up of the council budget."
    resp = await client.post("/v1/comments", json={"name": "A", "email": "a@example.org", "body": ordinary},
                             headers=site_headers())  # fmt: skip
    a_id = (await resp.json())["id"]
    recording.calls.clear()
    lenient = settings.with_(thresholds={"toxicity": 0.99, "spam": 0.99}, client_rate_limit=0)
    assert await drain_worker(lenient, recording) == 61
    first_bodies, first_windows = recording.calls[0]
    assert ordinary in first_bodies and len(first_bodies) < 61 // 2
    total_windows = sum(w for _, w in recording.calls)
    assert len(recording.calls) >= 3 and first_windows <= total_windows // 2
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    keys = Keys(settings.stream_prefix)
    published = await redis.zrange(keys.by_status("published"), 0, -1)
    await redis.aclose()
    assert published.index(a_id) < 61 // 2  # among the first decided


async def test_a_comment_arriving_while_a_flood_is_in_hand_waits_for_one_round_not_the_batch(
    client: Any, settings: Settings, recording: Recording
) -> None:
    """The worker has read site B's 60 long comments when site A's ordinary comment arrives: it joins the
    batch between rounds (a non-blocking read) and is scored in the second model call, not after B's
    whole batch (it used to wait for the next batch)."""
    for i in range(60):
        ip, body = f"198.51.100.{i}", long_body(100 + i)
        payload = {"name": "B", "email": f"b{i}@example.org", "body": body, "ip": ip}
        resp = await client.post("/v1/comments", json=payload, headers=site_headers(OTHER_SITE_KEY))
        assert resp.status == 202
    lenient = settings.with_(thresholds={"toxicity": 0.99, "spam": 0.99}, client_rate_limit=0)
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    try:
        with ThreadPoolExecutor(max_workers=1) as executor:
            worker = Worker(lenient, redis, recording, executor, "w-fair")
            await worker.ensure_group()
            flood = await worker.consumer.read_new(None)
            assert len(flood) == 60
            ordinary = "A short remark on the transit plan."
            one = {"name": "A", "email": "a@example.org", "body": ordinary}
            resp = await client.post("/v1/comments", json=one, headers=site_headers())
            assert resp.status == 202
            recording.calls.clear()
            await worker.handle(flood)
        assert ordinary not in recording.calls[0][0] and ordinary in recording.calls[1][0]
        assert len(recording.calls) >= 3
        status = await redis.hget(Keys(settings.stream_prefix).comment((await resp.json())["id"]), "status")
        assert status == "published"
    finally:
        await redis.aclose()


async def test_a_published_comment_is_stored_before_its_rounds_held_comments_are_explained(
    client: Any, settings: Settings, recording: Recording
) -> None:
    """In one round, site B's long comment is held (its rules: any toxicity) and explained, site A's is
    published: A's decision is already stored when the explanation starts (read from Redis then)."""
    rules = {"thresholds": {"toxicity": 0.000001}}
    assert (await client.put("/v1/moderation/rules/site-b", json=rules, headers=mod_headers())).status == 200
    payload = {"name": "B", "email": "b@example.org", "body": long_body(7), "ip": "198.51.100.7"}
    resp = await client.post("/v1/comments", json=payload, headers=site_headers(OTHER_SITE_KEY))
    assert resp.status == 202
    one = {"name": "A", "email": "a@example.org", "body": "A calm remark on the budget."}
    resp = await client.post("/v1/comments", json=one, headers=site_headers())
    a_key = Keys(settings.stream_prefix).comment((await resp.json())["id"])
    seen: list[str | None] = []
    sync = redis_sync.Redis.from_url(settings.redis_url or "", decode_responses=True)
    recording.on_explain = lambda: seen.append(sync.hget(a_key, "status"))
    try:
        lenient = settings.with_(thresholds={"toxicity": 0.99, "spam": 0.99})
        assert await drain_worker(lenient, recording) == 2
    finally:
        recording.on_explain = None
        sync.close()
    assert seen == ["published"]
