"""Worker faults injected for real: SIGKILL with in-flight messages, a crash between store and XACK,
a stalled (SIGSTOPped) worker that wakes up late, poison messages and dead letters.

Each test prints one ``FAULT name: ...`` count line (see ``tests/faultkit.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.models import Decision
from service.core.settings import Settings
from service.core.store import DecisionStore
from tests.kits.common import mod_headers, site_headers
from tests.kits.faultkit import (
    Report,
    comment_ids_of,
    freeze_holding,
    post_concurrently,
    statuses,
)
from tests.kits.poison import POISON, PoisonPipeline
from tests.kits.workerkit import (
    decide_counts,
    spawn_worker,
    wait_decided,
    wait_for_heartbeat,
    wait_no_pending,
)
from workers.consumer import Worker
from workers.scoring.pipeline import ScoringPipeline

pytestmark = pytest.mark.procs

ALL_HELD = {"toxicity": 0.0001, "spam": 0.8}  # every comment is held, so a moderator can act on it


async def _in_process_worker(
    settings: Settings, pipeline: ScoringPipeline, name: str
) -> tuple[asyncio.Event, asyncio.Task[None], Any, ThreadPoolExecutor]:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    executor = ThreadPoolExecutor(max_workers=1)
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(settings, redis, pipeline, executor, name).run(stop))
    return stop, task, redis, executor


async def _stop_in_process(parts: tuple[asyncio.Event, asyncio.Task[None], Any, ThreadPoolExecutor]) -> None:
    stop, task, redis, executor = parts
    stop.set()
    await asyncio.wait_for(task, 30)
    await redis.aclose()
    executor.shutdown()


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


async def test_sigkill_worker_with_inflight_messages_while_500_are_posted(
    client: Any, fsettings: Settings, tmp_path: Path, figures: Report
) -> None:
    """Fault 1: a worker is SIGKILLed while it holds unacknowledged messages and 500 comments are being
    posted concurrently; the peer reclaims them after ``claim_idle_ms``; one decision each, none lost."""
    s = fsettings
    victim = spawn_worker(s, "victim", tmp_path / "victim.log", batch_size=16)
    peer = spawn_worker(s, "peer", tmp_path / "peer.log")
    try:
        await asyncio.gather(wait_for_heartbeat(s, "victim", victim), wait_for_heartbeat(s, "peer", peer))
        posting = asyncio.create_task(post_concurrently(client.post, 500, concurrency=40, tag="sigkill"))
        url = s.redis_url or ""
        # Kill it mid-batch (a moment after it took one), preferring a batch of 4 or more.
        held = await freeze_holding(
            victim.pid, url, s.stream_prefix, "victim", lambda h: len(h) >= 4, 20, 0.012
        ) or await freeze_holding(victim.pid, url, s.stream_prefix, "victim", None, 20, 0.012)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        results = await posting
        assert held, "the victim never held a batch"
        accepted = [r.comment_id for r in results if r.status == 202 and r.comment_id]
        in_flight = comment_ids_of(s.redis_url or "", s.stream_prefix, held)
        final = await wait_decided(s, accepted, 120)
    finally:
        _end(victim)
        _end(peer)
    counts = await decide_counts(s, accepted)
    redis = aioredis.Redis.from_url(s.redis_url or "", decode_responses=True)
    keys = Keys(s.stream_prefix)
    pending = (await redis.xpending(keys.stream, keys.group))["pending"]
    await redis.aclose()
    lost = [c for c in accepted if final.get(c) in (None, "pending")]
    duplicates = [c for c, n in counts.items() if n > 1]
    reclaimed = sum(1 for c in in_flight if final.get(c) not in (None, "pending"))
    peer_lines = [
        json.loads(x) for x in (tmp_path / "peer.log").read_text().splitlines() if x.startswith("{")
    ]
    claimed_by_peer = sum(x.get("count", 0) for x in peer_lines if x.get("event") == "messages_reclaimed")
    figures(
        "sigkill",
        posted=len(results),
        accepted=len(accepted),
        non_2xx=len(results) - len(accepted),
        in_flight_at_kill=len(held),
        xautoclaimed_by_peer=claimed_by_peer,
        reclaimed_and_decided=reclaimed,
        decided=sum(1 for c in accepted if final[c] in {"published", "held"}),
        duplicates=len(duplicates),
        lost=len(lost),
        pel_after=pending,
    )
    assert len(accepted) == 500
    assert not lost and not duplicates
    assert set(counts.values()) == {1}
    assert reclaimed == len(in_flight) == len(held)
    assert claimed_by_peer >= len(held)  # the peer took them over with XAUTOCLAIM after claim_idle_ms
    assert pending == 0


async def test_crash_between_store_and_xack_redelivers_without_a_second_decision(
    client: Any, fsettings: Settings, figures: Report
) -> None:
    """Fault 2: a worker stores its decisions, then dies before XACK (its ``_ack`` never runs). A peer
    reclaims the entries: no second decision, no second ``decided`` notification, nothing rewritten."""
    s = fsettings
    results = await post_concurrently(client.post, 40, concurrency=20, tag="noack")
    ids = [r.comment_id for r in results if r.status == 202 and r.comment_id]
    assert len(ids) == 40
    keys = Keys(s.stream_prefix)
    redis = aioredis.Redis.from_url(s.redis_url or "", decode_responses=True)
    notified: dict[str, int] = {}
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(keys.decided_channel)

    async def listen() -> None:
        async for message in pubsub.listen():
            notified[message["data"]] = notified.get(message["data"], 0) + 1

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.1)
    pipeline = ScoringPipeline.from_settings(s)
    with ThreadPoolExecutor(max_workers=1) as executor:
        crashy = Worker(s, redis, pipeline, executor, "crashy")

        async def crash_before_ack(jobs: Any) -> None:  # the process "dies" here: no XACK
            return None

        crashy._ack = crash_before_ack  # type: ignore[method-assign]
        await crashy.ensure_group()
        handled = 0
        while handled < len(ids):
            batch = await crashy._read_new()
            await crashy.handle(batch)
            handled += len(batch)
    first = {cid: await redis.hgetall(keys.comment(cid)) for cid in ids}
    unacked = (await redis.xpending(keys.stream, keys.group))["pending"]
    assert all(row["status"] in {"published", "held"} for row in first.values())
    assert unacked == len(ids)
    await asyncio.sleep(s.claim_idle_ms / 1000)
    peer = await _in_process_worker(s, pipeline, "peer")
    await wait_no_pending(redis, keys, 30)
    await _stop_in_process(peer)
    await asyncio.sleep(0.2)
    listener.cancel()
    await asyncio.gather(listener, return_exceptions=True)
    await pubsub.aclose()
    after = {cid: await redis.hgetall(keys.comment(cid)) for cid in ids}
    pending = (await redis.xpending(keys.stream, keys.group))["pending"]
    events = await _webhook_events(redis, keys)
    await redis.aclose()
    counts = await decide_counts(s, ids)
    rewritten = [c for c in ids if after[c] != first[c]]
    figures(
        "crash_before_xack",
        comments=len(ids),
        decided_before_crash=len(ids),
        unacked_at_crash=unacked,
        redelivered_and_acked=unacked - pending,
        second_decisions=sum(1 for n in counts.values() if n > 1),
        records_rewritten=len(rewritten),
        decided_notifications=sum(notified.values()),
        extra_notifications=sum(max(n - 1, 0) for n in notified.values()),
        webhook_events=sum(events.get(c, 0) for c in ids),
        extra_webhook_events=sum(max(events.get(c, 0) - 1, 0) for c in ids),
    )
    assert pending == 0
    assert set(counts.values()) == {1}
    assert not rewritten
    assert notified == dict.fromkeys(ids, 1)
    assert {c: events.get(c, 0) for c in ids} == dict.fromkeys(ids, 1)  # one webhook event each


async def _webhook_events(redis: Any, keys: Keys) -> dict[str, int]:
    """Comment id -> events in the webhook outbox stream (written by the decide/moderate scripts)."""
    counts: dict[str, int] = {}
    for _, fields in await redis.xrange(keys.webhook_stream):
        counts[fields["id"]] = counts.get(fields["id"], 0) + 1
    return counts


async def test_sigstopped_worker_wakes_after_the_peer_and_a_moderator_decided(
    client: Any, fsettings: Settings, tmp_path: Path, figures: Report
) -> None:
    """Fault 3: a worker is SIGSTOPped with a batch in hand past ``claim_idle_ms``; the peer reclaims and
    decides; a moderator approves those comments; then SIGCONT: the stale worker's late writes are
    fenced (no-ops), the moderator's decisions stand, one ``decide`` per comment."""
    s = fsettings.with_(thresholds=dict(ALL_HELD))
    url = s.redis_url or ""
    stale = spawn_worker(s, "stale", tmp_path / "stale.log", batch_size=16)
    peer: subprocess.Popen[bytes] | None = None
    try:
        await wait_for_heartbeat(s, "stale", stale)
        posting = asyncio.create_task(post_concurrently(client.post, 120, concurrency=20, tag="sigstop"))

        def all_pending(held: list[str]) -> bool:
            cids = comment_ids_of(url, s.stream_prefix, held)
            return all(v == "pending" for v in statuses(url, s.stream_prefix, cids).values())

        # Freeze it a moment after it took a batch (loaded and scoring, nothing stored yet); prefer a
        # fuller batch, take any undecided one after 20 s.
        held = await freeze_holding(
            stale.pid, url, s.stream_prefix, "stale", lambda h: len(h) >= 4 and all_pending(h), 20, 0.012
        ) or await freeze_holding(stale.pid, url, s.stream_prefix, "stale", all_pending, 30, 0.012)
        results = await posting
        assert held, "the worker never held an undecided batch"
        frozen_ids = comment_ids_of(url, s.stream_prefix, held)
        ids = [r.comment_id for r in results if r.status == 202 and r.comment_id]
        peer = spawn_worker(s, "peer", tmp_path / "peer.log")
        final = await wait_decided(s, ids, 120)
        assert all(v == "held" for v in final.values()), final
        peer_lines = [
            json.loads(x) for x in (tmp_path / "peer.log").read_text().splitlines() if x.startswith("{")
        ]
        # The peer took the frozen batch over with XAUTOCLAIM (once idle past claim_idle_ms): counted.
        reclaimed = sum(x.get("count", 0) for x in peer_lines if x.get("event") == "messages_reclaimed")
        assert reclaimed >= len(held)
        approved = 0
        for cid in frozen_ids:
            resp = await client.post(f"/v1/moderation/comments/{cid}/approve", headers=mod_headers())
            assert resp.status == 200
            approved += 1
        before_wake = {
            cid: (await (await client.get(f"/v1/comments/{cid}", headers=site_headers())).json())
            for cid in ids
        }
        os.kill(stale.pid, signal.SIGCONT)
        log = tmp_path / "stale.log"
        woke = time.monotonic()
        late: list[dict[str, Any]] = []
        size, quiet_since = -1, woke
        while time.monotonic() - woke < 20:  # until it logged its late batch, or went quiet
            lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
            late = [
                x for x in lines if x.get("event") == "comment_scored" and x.get("comment_id") in frozen_ids
            ]
            if len(late) >= len(frozen_ids):
                break
            if len(lines) != size:
                size, quiet_since = len(lines), time.monotonic()
            elif time.monotonic() - woke > 3 and time.monotonic() - quiet_since > 1.5:
                break
            await asyncio.sleep(0.2)
        stale.terminate()
        assert stale.wait(30) == 0
    finally:
        _end(stale)
        if peer is not None:
            _end(peer)
    after = {
        cid: (await (await client.get(f"/v1/comments/{cid}", headers=site_headers())).json()) for cid in ids
    }
    counts = await decide_counts(s, ids)
    overwritten = [c for c in ids if after[c] != before_wake[c]]
    late_ok = [x for x in late if x.get("stored") == "ok"]
    # The fence itself, deterministically: a worker's decision on a moderated comment is a no-op.
    redis = aioredis.Redis.from_url(url, decode_responses=True)
    store = DecisionStore(redis, Keys(s.stream_prefix))
    fenced = await store.decide(frozen_ids[0], time.time(), Decision("publish", {"toxicity": 0.0}, []))
    await redis.aclose()
    figures(
        "sigstop",
        posted=len(results),
        accepted=len(ids),
        frozen_with=len(held),
        peer_decided=len(ids),
        moderator_approved=approved,
        late_writes_attempted=len(late),
        late_writes_fenced=len(late) - len(late_ok),
        late_writes_applied=len(late_ok),
        records_overwritten=len(overwritten),
        duplicates=sum(1 for n in counts.values() if n > 1),
    )
    assert fenced == "published"
    assert not late_ok
    assert not overwritten
    assert set(counts.values()) == {1}
    assert all(
        after[c]["status"] == "published" and after[c]["decided_by"] == "moderator:alice" for c in frozen_ids
    )


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = settings.with_(log_format="json").to_env()
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "deadletters", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_poison_and_absurd_input_dead_letters_and_cli(
    client: Any, fsettings: Settings, figures: Report
) -> None:
    """Fault 4: a model that raises on a marker, plus absurd bodies through the real model (10,000
    combining marks; only zero-width characters). After ``max_deliveries`` the poison is dead-lettered
    with its error and held with ``scoring_failed``; other traffic flows; the CLI lists and requeues."""
    s = fsettings.with_(max_deliveries=2)
    absurd = {
        "combining_flood": "\u0301" * 10_000,
        "zero_width_then_text": "\u200b\u200c\u200d\u2060\ufeff" * 200 + "ok",  # only-invisible: 422
        "combining_on_letters": ("x" + "\u0336\u0337\u0338" * 3) * 1000,
    }
    ids: dict[str, str] = {}
    posts = [("poison", {"name": "P", "email": "p@example.org", "body": f"{POISON} trouble"})]
    posts += [(k, {"name": "A", "email": "a@example.org", "body": v}) for k, v in absurd.items()]
    good_before = await post_concurrently(client.post, 10, concurrency=10, tag="before")
    for kind, body in posts:
        resp = await client.post("/v1/comments", json=body, headers=site_headers())
        assert resp.status == 202, (kind, await resp.text())
        ids[kind] = (await resp.json())["id"]
    good_after = await post_concurrently(client.post, 10, concurrency=10, tag="after")
    good = [r.comment_id for r in good_before + good_after if r.comment_id]
    assert len(good) == 20
    started = time.monotonic()
    worker = await _in_process_worker(s, PoisonPipeline.from_settings(s), "w-poison")
    try:
        final = await wait_decided(s, [*good, *ids.values()], 90)
    finally:
        await _stop_in_process(worker)
    elapsed = time.monotonic() - started
    redis = aioredis.Redis.from_url(s.redis_url or "", decode_responses=True)
    keys = Keys(s.stream_prefix)
    dead = await redis.xrange(keys.dead_letters)
    dead_ids = {f["id"]: f for _, f in dead}
    reasons = {}
    for kind, cid in ids.items():
        view = await (await client.get(f"/v1/moderation/comments/{cid}", headers=mod_headers())).json()
        reasons[kind] = [r["code"] for r in view["reasons"]]
    listed = _cli(s, "list")
    assert listed.returncode == 0, listed.stderr
    listed_rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    requeued = _cli(s, "requeue")
    assert requeued.returncode == 0, requeued.stderr
    requeue_count = json.loads(requeued.stdout)["requeued"]
    after_requeue = await redis.hget(keys.comment(ids["poison"]), "status")
    dead_after_requeue = await redis.xlen(keys.dead_letters)
    await redis.aclose()
    healthy = await _in_process_worker(s, ScoringPipeline.from_settings(s), "w-healthy")
    try:
        rescored = await wait_decided(s, [ids["poison"]], 60)
    finally:
        await _stop_in_process(healthy)
    view = await (await client.get(f"/v1/moderation/comments/{ids['poison']}", headers=mod_headers())).json()
    figures(
        "poison",
        good=len(good),
        good_decided=sum(1 for c in good if final[c] in {"published", "held"}),
        poison_status=final[ids["poison"]],
        poison_reasons=",".join(reasons["poison"]),
        dead_letters=len(dead),
        dead_error=dead_ids.get(ids["poison"], {}).get("error", ""),
        absurd_outcomes=";".join(f"{k}={final[ids[k]]}/{','.join(reasons[k]) or '-'}" for k in absurd),
        absurd_dead_lettered=sum(1 for k in absurd if ids[k] in dead_ids),
        cli_listed=len(listed_rows),
        cli_requeued=requeue_count,
        status_after_requeue=after_requeue,
        rescored_status=rescored[ids["poison"]],
        seconds=round(elapsed, 1),
    )
    assert all(final[c] in {"published", "held"} for c in good)
    assert final[ids["poison"]] == "held" and reasons["poison"] == ["scoring_failed"]
    assert "model exploded" in dead_ids[ids["poison"]]["error"]
    assert int(dead_ids[ids["poison"]]["attempts"]) == 2
    for kind in absurd:  # absurd but valid bodies are scored by the real model, not dead-lettered
        assert final[ids[kind]] in {"published", "held"}
        assert ids[kind] not in dead_ids, (kind, dead_ids.get(ids[kind]))
    assert {row["id"] for row in listed_rows} == set(dead_ids)
    assert requeue_count == len(dead_ids) and after_requeue == "pending" and dead_after_requeue == 0
    assert rescored[ids["poison"]] in {"published", "held"}
    assert view["decided_by"] == "auto" and "scoring_failed" not in [r["code"] for r in view["reasons"]]
