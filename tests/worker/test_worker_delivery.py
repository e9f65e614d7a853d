"""Workers against a real Redis: one decision per comment, redelivery, poison messages, SIGKILL recovery.

These use a small real Detoxify-format checkpoint (real BERT architecture) so they stay fast; the
quality of the default model is covered in the end-to-end and scoring tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from service.core.keys import Keys
from service.core.settings import Settings
from tests.kits.common import mod_headers, site_headers
from tests.kits.poison import POISON, PoisonPipeline
from tests.kits.workerkit import (
    decide_counts,
    drain_worker,
    post_many,
    spawn_worker,
    wait_decided,
    wait_for_heartbeat,
    wait_no_pending,
)
from workers.consumer import Worker
from workers.scoring.pipeline import ScoringPipeline
from workers.scoring.types import CommentText, Scores, Signal


class ExplainFailsPipeline(ScoringPipeline):
    """The real pipeline, with a fault injected in the explanation step."""

    def explain(
        self, bodies: Sequence[str], bases: Sequence[float] | None = None, languages: object = None
    ) -> Any:
        raise RuntimeError("explainer broke")


@contextlib.asynccontextmanager
async def _one_worker(settings: Settings, pipeline: ScoringPipeline, name: str) -> AsyncIterator[Worker]:
    """A worker whose group exists, for tests that hand it batches themselves."""
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    try:
        with ThreadPoolExecutor(max_workers=1) as executor:
            worker = Worker(settings, redis, pipeline, executor, name)
            await worker.ensure_group()
            yield worker
    finally:
        await redis.aclose()


async def _run_worker(settings: Settings, pipeline: ScoringPipeline, name: str) -> tuple[Any, Any, Any]:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    executor = ThreadPoolExecutor(max_workers=1)
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(settings, redis, pipeline, executor, name).run(stop))
    return stop, task, (redis, executor)


async def _stop(stop: Any, task: Any, resources: Any) -> None:
    stop.set()
    await asyncio.wait_for(task, 30)
    redis, executor = resources
    await redis.aclose()
    executor.shutdown()


async def test_every_comment_gets_exactly_one_decision(client: Any, wsettings: Settings) -> None:
    pipeline = ScoringPipeline.from_settings(wsettings)
    ids = await post_many(client, 20, site_headers())
    assert await drain_worker(wsettings, pipeline, "w-one") == 20  # post, drain, assert: no polling
    statuses = await wait_decided(wsettings, ids, 0)
    assert all(s in {"published", "held"} for s in statuses.values())
    assert set((await decide_counts(wsettings, ids)).values()) == {1}
    body = await (await client.get(f"/v1/comments/{ids[0]}", headers=site_headers())).json()
    assert set(body["scores"]) >= {"toxicity", "spam"}
    assert body["decided_by"] == "auto"
    assert body["models"]["toxicity"]


async def test_drain_processes_what_is_queued_and_returns(client: Any, wsettings: Settings) -> None:
    """``drain()`` handles every queued entry once, leaves nothing pending, and a second drain finds
    no work (it counts entries, so a redelivery would show)."""
    pipeline = CountingPipeline.from_settings(wsettings)
    ids = await post_many(client, 11, site_headers())
    assert await drain_worker(wsettings, pipeline, "w-drain") == 11
    assert pipeline.scored == 11
    assert await drain_worker(wsettings, pipeline, "w-drain") == 0
    assert pipeline.scored == 11
    keys = Keys(wsettings.stream_prefix)
    redis = aioredis.Redis.from_url(wsettings.redis_url or "", decode_responses=True)
    assert (await redis.xpending(keys.stream, keys.group))["pending"] == 0
    await redis.aclose()
    assert set((await decide_counts(wsettings, ids)).values()) == {1}


async def test_redelivered_message_does_not_create_a_second_decision(
    client: Any, wsettings: Settings
) -> None:
    ids = await post_many(client, 3, site_headers())
    async with _one_worker(wsettings, ScoringPipeline.from_settings(wsettings), "w-redeliver") as worker:
        messages = await worker.redis.xrange(worker.keys.stream)
        await worker.handle(messages)  # first delivery
        await worker.handle(messages)  # the same messages again (as after a crash before XACK)
        assert set((await decide_counts(wsettings, ids)).values()) == {1}
        assert (await worker.redis.xpending(worker.keys.stream, worker.keys.group))["pending"] == 0


async def test_poison_message_is_dead_lettered_and_held_while_others_flow(
    client: Any, wsettings: Settings
) -> None:
    pipeline = PoisonPipeline.from_settings(wsettings)
    good = await post_many(client, 5, site_headers())
    resp = await client.post(
        "/v1/comments",
        json={"name": "P", "email": "p@example.org", "body": f"{POISON} trouble"},
        headers=site_headers(),
    )
    poison_id = (await resp.json())["id"]
    more = await post_many(client, 5, site_headers())
    # 11 entries, the poison one delivered twice (max_deliveries=2) before its dead letter.
    assert await drain_worker(wsettings.with_(max_deliveries=2), pipeline, "w-poison") == 12
    statuses = await wait_decided(wsettings, [*good, poison_id, *more], 0)
    assert statuses[poison_id] == "held"
    assert all(statuses[c] in {"published", "held"} for c in good + more)
    view = await (await client.get(f"/v1/moderation/comments/{poison_id}", headers=mod_headers())).json()
    assert view["reasons"][0]["code"] == "scoring_failed"
    redis = aioredis.Redis.from_url(wsettings.redis_url or "", decode_responses=True)
    dead = await redis.xrange(Keys(wsettings.stream_prefix).dead_letters)
    await redis.aclose()
    assert [fields["id"] for _, fields in dead] == [poison_id]
    assert "model exploded" in dead[0][1]["error"]


class SlowPipeline(ScoringPipeline):
    """The real pipeline, slowed down: every batch takes longer than the test's ``claim_idle_ms``."""

    def score_batch(
        self, comments: Sequence[CommentText], history: Sequence[Sequence[Signal]] | None = None
    ) -> list[Scores]:
        time.sleep(1.5)
        return super().score_batch(comments, history)


class CountingPipeline(ScoringPipeline):
    """The real pipeline, counting the comments it scores."""

    scored: int = 0

    def score_batch(
        self, comments: Sequence[CommentText], history: Sequence[Sequence[Signal]] | None = None
    ) -> list[Scores]:
        self.scored += len(comments)
        return super().score_batch(comments, history)


async def test_a_batch_slower_than_claim_idle_stays_with_its_worker(client: Any, wsettings: Settings) -> None:
    """A live worker keeps its batch claimed: a peer polling for stale entries takes none of it."""
    settings = wsettings.with_(claim_idle_ms=400, batch_size=32)
    real = ScoringPipeline.from_settings(settings)
    ids = await post_many(client, 20, site_headers())
    keys = Keys(settings.stream_prefix)
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    slow = await _run_worker(settings, SlowPipeline(real.toxicity, real.spam), "slow")
    for _ in range(500):  # until the slow worker holds the whole batch
        with contextlib.suppress(ResponseError):  # NOGROUP until the worker has created the group
            consumers = await redis.xinfo_consumers(keys.stream, keys.group)
            if {c["name"]: c["pending"] for c in consumers}.get("slow") == len(ids):
                break
        await asyncio.sleep(0.01)
    peer_pipeline = CountingPipeline(real.toxicity, real.spam)
    peer = await _run_worker(settings, peer_pipeline, "peer")
    statuses = await wait_decided(settings, ids, 60)
    await _stop(*peer)
    await _stop(*slow)
    await redis.aclose()
    assert all(s in {"published", "held"} for s in statuses.values()), statuses
    assert peer_pipeline.scored == 0


@pytest.mark.procs
async def test_sigkilled_worker_in_mid_batch_loses_nothing(
    client: Any, wsettings: Settings, tmp_path: Path
) -> None:
    """Kill a worker holding unacknowledged messages; the peer reclaims them; one decision each."""
    victim = spawn_worker(wsettings, "victim", tmp_path / "victim.log", batch_size=16)
    await wait_for_heartbeat(wsettings, "victim", victim)
    ids = await post_many(client, 120, site_headers())
    keys = Keys(wsettings.stream_prefix)
    redis = aioredis.Redis.from_url(wsettings.redis_url or "", decode_responses=True)
    killed_with = 0
    for _ in range(2000):  # freeze it, look at what it holds, kill it only while it holds something
        os.kill(victim.pid, signal.SIGSTOP)
        consumers = {c["name"]: c["pending"] for c in await redis.xinfo_consumers(keys.stream, keys.group)}
        if consumers.get("victim", 0) > 0:
            killed_with = consumers["victim"]
            os.kill(victim.pid, signal.SIGKILL)
            break
        os.kill(victim.pid, signal.SIGCONT)
        await asyncio.sleep(0.005)
    victim.wait(10)
    assert killed_with > 0, "the victim never held a batch"
    peer = spawn_worker(wsettings, "peer", tmp_path / "peer.log")
    try:
        statuses = await wait_decided(wsettings, ids, 120)
        # Killed between storing and acknowledging, the victim leaves entries whose comments are
        # already decided: the peer reclaims them once idle past claim_idle_ms, and only acks them.
        pending = await wait_no_pending(redis, keys, 30)
    finally:
        peer.terminate()
        peer.wait(30)
    assert all(s in {"published", "held"} for s in statuses.values()), statuses
    assert set((await decide_counts(wsettings, ids)).values()) == {1}
    assert pending == 0
    await redis.aclose()


@pytest.mark.procs
async def test_sigterm_drains_and_exits_cleanly(client: Any, wsettings: Settings, tmp_path: Path) -> None:
    worker = spawn_worker(wsettings, "drainer", tmp_path / "drainer.log")
    await wait_for_heartbeat(wsettings, "drainer", worker)
    ids = await post_many(client, 30, site_headers())
    await asyncio.sleep(0.3)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    peer = spawn_worker(wsettings, "after", tmp_path / "after.log")
    try:
        statuses = await wait_decided(wsettings, ids, 90)
    finally:
        peer.terminate()
        peer.wait(30)
    assert all(s in {"published", "held"} for s in statuses.values())
    assert set((await decide_counts(wsettings, ids)).values()) == {1}


@pytest.mark.procs
async def test_worker_processes_each_consume_as_their_own_consumer_and_drain_on_sigterm(
    client: Any, wsettings: Settings, tmp_path: Path
) -> None:
    """`commentmod worker --processes 2`: two consumers (`<name>-1`, `<name>-2`) share the stream,
    every comment is decided once, and one SIGTERM to the launcher drains both and exits 0."""
    launcher = spawn_worker(wsettings, "pair", tmp_path / "pair.log", processes=2)
    for name in ("pair-1", "pair-2"):
        await wait_for_heartbeat(wsettings, name, launcher)
    children = psutil.Process(launcher.pid).children()
    assert len(children) == 2
    ids = await post_many(client, 40, site_headers())
    statuses = await wait_decided(wsettings, ids, 90)
    assert all(s in {"published", "held"} for s in statuses.values()), statuses
    assert set((await decide_counts(wsettings, ids)).values()) == {1}
    keys = Keys(wsettings.stream_prefix)
    redis = aioredis.Redis.from_url(wsettings.redis_url or "", decode_responses=True)
    consumers = {c["name"] for c in await redis.xinfo_consumers(keys.stream, keys.group)}
    await redis.aclose()
    assert {"pair-1", "pair-2"} <= consumers
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(30) == 0
    assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children)


@pytest.mark.procs
async def test_worker_launcher_stops_the_others_and_fails_when_one_process_dies(
    wsettings: Settings, tmp_path: Path
) -> None:
    launcher = spawn_worker(wsettings, "duo", tmp_path / "duo.log", processes=2)
    for name in ("duo-1", "duo-2"):
        await wait_for_heartbeat(wsettings, name, launcher)
    first, second = psutil.Process(launcher.pid).children()
    first.kill()
    assert launcher.wait(30) != 0
    assert not second.is_running() or second.status() == psutil.STATUS_ZOMBIE


async def test_prefer_wait_answers_200_with_the_decided_record(client: Any, wsettings: Settings) -> None:
    pipeline = ScoringPipeline.from_settings(wsettings)
    stop, task, res = await _run_worker(wsettings, pipeline, "w-wait")
    try:
        payload = {"name": "W", "email": "w@example.org", "body": "Waiting for my verdict."}
        resp = await client.post("/v1/comments", json=payload, headers=site_headers(Prefer="wait=10"))
        assert resp.status == 200
        assert resp.headers["Preference-Applied"] == "wait=10"
        body = await resp.json()
        assert body["status"] in {"published", "held"} and body["verdict"] in {"publish", "hold"}
        assert body["decided_at"] is not None
    finally:
        await _stop(stop, task, res)


async def test_prefer_wait_without_a_worker_answers_202_after_the_wait(client: Any) -> None:
    """No clock read: the server and this test share one event loop, so this test's 0.3 s timer fires
    before the server's 1 s wait ends however busy the machine; the answer must not have come yet."""
    payload = {"name": "W", "email": "w@example.org", "body": "Nobody scores this."}
    answer = asyncio.ensure_future(
        client.post("/v1/comments", json=payload, headers=site_headers(Prefer="wait=1"))
    )
    await asyncio.sleep(0.3)
    assert not answer.done()  # still waiting out Prefer: wait=1
    resp = await answer
    assert resp.status == 202
    assert resp.headers["Preference-Applied"] == "wait=1"
    assert (await resp.json())["status"] == "pending"


async def test_a_failed_explanation_still_stores_the_decision_and_is_counted(
    client: Any, wsettings: Settings
) -> None:
    """Spans are a nicety: when explaining fails, the held decision is stored without them, the batch
    is acknowledged, and ``commentmod_explain_failures_total`` tells operators."""
    settings = wsettings.with_(thresholds={**wsettings.thresholds, "toxicity": 0.0})  # all held for it
    ids = await post_many(client, 3, site_headers())
    async with _one_worker(settings, ExplainFailsPipeline.from_settings(settings), "w-explain") as worker:
        await worker.handle(await worker._read_new())
        assert (await worker.redis.xpending(worker.keys.stream, worker.keys.group))["pending"] == 0
    for cid in ids:
        body = await (await client.get(f"/v1/comments/{cid}", headers=site_headers())).json()
        assert body["status"] == "held"
        (toxicity,) = [r for r in body["reasons"] if r["code"] == "toxicity"]
        assert not toxicity.get("spans")
    assert "commentmod_explain_failures_total 1.0" in worker.metrics.render().decode()
