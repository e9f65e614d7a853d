"""Intake faults: one Idempotency-Key raced ten times, and SIGTERM to the API and the workers under load.

Each test prints one ``FAULT name: ...`` count line (see ``tests/faultkit.py``).
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.settings import Settings
from tests.kits.common import SITE_KEY, site_headers
from tests.kits.faultkit import (
    InProcessWorker,
    PostResult,
    Report,
    payload,
    post_concurrently,
    spawn_api,
    statuses,
)
from tests.kits.workerkit import decide_counts, spawn_worker, wait_decided, wait_for_heartbeat

pytestmark = pytest.mark.procs


async def test_one_idempotency_key_raced_ten_times(client: Any, fsettings: Settings, figures: Report) -> None:
    """Fault 7: the same comment posted 10 times at once with one Idempotency-Key: one comment, one
    stream entry, one decision; the key reused with another payload: 422 (also when raced)."""
    headers = site_headers(**{"Idempotency-Key": "race-1"})
    body = payload(1, "idem")

    async def post(b: dict[str, Any], h: dict[str, str]) -> tuple[int, dict[str, Any]]:
        async with client.post("/v1/comments", json=b, headers=h) as resp:
            return resp.status, await resp.json()

    same = await asyncio.gather(*(post(body, headers) for _ in range(10)))
    ids = {b.get("id") for _, b in same}
    reused_status, reused = await post(payload(2, "idem"), headers)
    # Ten different payloads raced on one fresh key: one wins, nine are told the key was reused.
    raced = await asyncio.gather(
        *(post(payload(i, "race"), site_headers(**{"Idempotency-Key": "race-2"})) for i in range(10))
    )
    redis = aioredis.Redis.from_url(fsettings.redis_url or "", decode_responses=True)
    keys = Keys(fsettings.stream_prefix)
    xlen = await redis.xlen(keys.stream)
    comments = len([k async for k in redis.scan_iter(match=keys.comment("*"), count=1000)])
    await redis.aclose()
    async with InProcessWorker(fsettings, "w-idem"):
        final = await wait_decided(fsettings, [*ids], 60)  # type: ignore[list-item]
    counts = await decide_counts(fsettings, [*ids])  # type: ignore[list-item]
    figures(
        "idempotency",
        same_key_posts=10,
        statuses=",".join(sorted({str(s) for s, _ in same})),
        distinct_ids=len(ids),
        stream_entries=xlen,
        comment_records=comments,
        decisions=sum(counts.values()),
        reused_key_other_payload=f"{reused_status}/{reused.get('error')}",
        raced_other_payloads="/".join(
            f"{s}x{[x for x, _ in raced].count(s)}" for s in sorted({x for x, _ in raced})
        ),
    )
    assert {s for s, _ in same} == {202} and len(ids) == 1
    assert xlen == 2 and comments == 2  # race-1's comment and race-2's winner, nothing else
    assert list(final.values()) == ["published"] or list(final.values()) == ["held"]
    assert list(counts.values()) == [1]
    assert reused_status == 422 and reused["error"] == "idempotency_key_reused"
    assert sorted(s for s, _ in raced) == [202] + [422] * 9


async def test_sigterm_to_api_and_worker_while_posting(
    fsettings: Settings, tmp_path: Path, figures: Report
) -> None:
    """Fault 9: SIGTERM to ``commentmod api`` and to a worker while 40 requests are in flight: requests
    already being handled finish with an answer, the API and the worker exit 0, no accepted comment is
    lost, and a request cut off by the shutdown can be retried safely with its Idempotency-Key."""
    s = fsettings.with_(drain_timeout_s=10.0)
    api = await spawn_api(s, tmp_path / "api.log")
    worker = spawn_worker(s, "graceful", tmp_path / "graceful.log")
    await wait_for_heartbeat(s, "graceful", worker)
    accepted_seen = 0
    signalled = asyncio.Event()

    def maybe_signal(result: PostResult) -> None:
        nonlocal accepted_seen
        accepted_seen += result.status == 202
        if accepted_seen == 150 and not signalled.is_set():
            api.process.send_signal(signal.SIGTERM)
            worker.send_signal(signal.SIGTERM)
            signalled.set()

    connector = aiohttp.TCPConnector(limit=40)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await post_concurrently(
            session.post,
            600,
            concurrency=40,
            path=f"{api.base}/v1/comments",
            tag="graceful",
            idempotency=True,
            on_result=maybe_signal,
        )
    api_rc = api.process.wait(30)
    worker_rc = worker.wait(30)
    by_kind: dict[str, int] = {}
    for r in results:
        kind = str(r.status) if r.status else r.error
        by_kind[kind] = by_kind.get(kind, 0) + 1
    accepted = [r.comment_id for r in results if r.status == 202 and r.comment_id]
    cut_off = [r for r in results if r.status == 0 and r.error != "ClientConnectorError"]
    # A second API and worker: retry every request that got no answer, with its Idempotency-Key.
    api2 = await spawn_api(s, tmp_path / "api2.log")
    retry_started_ms = int(time.time() * 1000)
    peer = spawn_worker(s, "after", tmp_path / "after.log")
    try:
        async with aiohttp.ClientSession() as session:
            retries = await asyncio.gather(
                *(_retry(session, api2.base, r.index) for r in results if r.status == 0 or r.status >= 500)
            )
        retried_ids = [cid for _, cid in retries if cid]
        final = await wait_decided(s, accepted + retried_ids, 120)
    finally:
        api2.stop()
        peer.terminate()
        peer.wait(30)
    present = statuses(s.redis_url or "", s.stream_prefix, accepted)
    counts = await decide_counts(s, accepted + retried_ids)
    # An id minted before the retries began: the cut-off request had been written (the retry is safe).
    written_before_retry = [cid for cid in retried_ids if int(cid[:12], 16) < retry_started_ms]
    figures(
        "graceful_shutdown",
        posted=len(results),
        answers=",".join(f"{k}={v}" for k, v in sorted(by_kind.items())),
        accepted=len(accepted),
        cut_off_after_sending=len(cut_off),
        api_exit=api_rc,
        worker_exit=worker_rc,
        accepted_missing=sum(1 for c in accepted if present[c] is None),
        retried=len(retries),
        retried_202=sum(1 for st, _ in retries if st == 202),
        retry_returned_existing=len(written_before_retry),
        decided=sum(1 for c in accepted + retried_ids if final[c] in {"published", "held"}),
        duplicates=sum(1 for n in counts.values() if n > 1),
    )
    assert signalled.is_set()
    assert api_rc == 0 and worker_rc == 0
    assert all(present[c] is not None for c in accepted)
    assert all(r.status in (0, 202, 503) for r in results)
    assert all(st == 202 for st, _ in retries)
    assert all(final[c] in {"published", "held"} for c in accepted + retried_ids)
    assert set(counts.values()) == {1}


async def _retry(session: aiohttp.ClientSession, base: str, index: int) -> tuple[int, str | None]:
    headers = {"Authorization": f"Bearer {SITE_KEY}", "Idempotency-Key": f"graceful-{index}"}
    async with session.post(f"{base}/v1/comments", json=payload(index, "graceful"), headers=headers) as resp:
        return resp.status, (await resp.json()).get("id")
