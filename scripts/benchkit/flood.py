"""Issue 17's rows: one comment's cost, and one site's flood against another site's latency.

* ``cost_max_vs_typical``: model work to score and explain (as held) a maximum-length body (10,000
  characters of insults and short random words) against a typical held comment, in this process with the
  default model: model windows scored, texts scored, and CPU seconds (median of a few runs, each with a
  fresh word cache, the worst case for the explanation).
* ``flood_latency_site_a``: one durable Redis, one API, ``commentmod worker --processes P``; site A posts
  ordinary comments at a steady rate, first alone (the baseline), then while site B posts 10,000-character
  bodies (insults among common English words, so language detection hands them to the model) as fast as
  the API takes them (every B comment from its own IP: the per-IP limit is no defence here). Decision
  latency of A's comments (server timestamps), against the goal of a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import statistics
import time
from typing import Any

import aiohttp
import redis as redis_sync

from benchkit.phases import PREFIX, SITE_KEY, Ctx
from benchkit.procs import LOOPBACK, free_port, python_cmd, start_redis, wait_http
from benchkit.report import Row, percentile
from benchkit.scoring import wait_decided

FLOOD_KEY = "bench-flood-site-key-0123456789"
TYPICAL = "I read the whole report on the new bridge and you are a complete idiot."
ORDINARY = "Thanks for the clear write-up of the council budget; the chart helped."
GOAL_S = 5.0


_ENGLISH_TEXT = (
    "the a and to of in is it you that he was for on are with as they be at one have this from or had by "
    "not word but what some we can out other were all there when up use your how said an each she which "
    "do their time if will way about many then them write would like so these her long make thing see"
)
_ENGLISH = _ENGLISH_TEXT.split(" ")


def long_body(seed: int, english: bool = False) -> str:
    """10,000 characters of insults and short random words (the issue's flood), or with ``english`` of
    insults among common English words (read as English by language detection, so the model scores it)."""
    rng = random.Random(seed)
    words: list[str] = []
    size = 0
    while size < 10_000:
        if rng.random() < 0.3:
            words.append(rng.choice(["idiot", "moron", "loser"]))
        elif english:
            words.append(rng.choice(_ENGLISH))
        else:
            words.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 5))))
        size += len(words[-1]) + 1
    return " ".join(words)[:10_000]


def _cost_of(pipeline: Any, body: str, runs: int) -> dict[str, float]:
    """Windows, texts and CPU seconds to score ``body`` and explain it from its own score."""
    from workers.scoring.explain import WordScores, toxic_spans

    scorer = pipeline.toxicity

    class Counting:
        texts = windows = 0

        def score(self, texts: Any) -> list[dict[str, float]]:
            Counting.texts += len(texts)
            Counting.windows += sum(len(scorer.windows(t)) for t in texts)
            return scorer.score(texts)  # type: ignore[no-any-return]

    cpu: list[float] = []
    for _ in range(runs):
        Counting.texts = Counting.windows = 0
        counting = Counting()
        started = time.process_time()
        (row,) = counting.score([body])
        toxic_spans(counting, [body], words=WordScores(), bases=[row["toxicity"]])
        cpu.append(time.process_time() - started)
    return {"windows": Counting.windows, "texts": Counting.texts, "cpu_s": statistics.median(cpu)}


def cost_row(ctx: Ctx) -> Row:
    from service.core.settings import Settings
    from workers.scoring.pipeline import ScoringPipeline

    settings = Settings.from_env({}, models_dir=ctx.models_dir, torch_threads=1)
    pipeline = ScoringPipeline.from_settings(settings)
    pipeline.warm_up()
    runs = 3 if ctx.plan.quick else 7
    typical = _cost_of(pipeline, TYPICAL, runs)
    longest = _cost_of(pipeline, long_body(1), runs)
    ratio = longest["cpu_s"] / max(typical["cpu_s"], 1e-9)
    detail = (f"score + explain, 1 torch thread, median of {runs}: 10,000-character body "
              f"{1000 * longest['cpu_s']:.0f} ms CPU, {longest['windows']:.0f} model windows, "
              f"{longest['texts']:.0f} texts; typical held comment ({len(TYPICAL)} characters) "
              f"{1000 * typical['cpu_s']:.1f} ms, {typical['windows']:.0f} windows, {typical['texts']:.0f} "
              f"texts; windows ratio {longest['windows'] / max(typical['windows'], 1):.1f}x")  # fmt: skip
    return Row("cost_max_vs_typical", ratio, "x CPU", "<= 10 x", ratio <= 10, detail,
               {"max": longest, "typical": typical})  # fmt: skip


async def _post(session: aiohttp.ClientSession, base: str, key: str, body: dict[str, Any]) -> str:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with session.post(base + "/v1/comments", data=json.dumps(body), headers=headers) as resp:
        answer = await resp.json()
        if resp.status != 202:
            raise RuntimeError(f"POST /v1/comments answered {resp.status}: {answer.get('error')}")
        return str(answer["id"])


async def _traffic(base: str, ordinary: int, rate: float, flood: int) -> tuple[list[str], list[str]]:
    """Site B's ``flood`` long bodies (16 at a time, as fast as accepted) while site A posts ``ordinary``
    comments at ``rate`` per second; returns (A's ids, B's ids)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        gate = asyncio.Semaphore(16)

        async def flood_one(i: int) -> str:
            async with gate:
                text = long_body(100 + i, english=True)
                body = {"name": "B", "email": f"b{i % 5}@example.org", "body": text,
                        "ip": f"198.51.{i // 250}.{i % 250 + 1}"}  # fmt: skip
                return await _post(session, base, FLOOD_KEY, body)

        flooding = [asyncio.create_task(flood_one(i)) for i in range(flood)]
        a_ids = []
        for i in range(ordinary):
            await asyncio.sleep(1 / rate)
            body = {"name": f"A{i}", "email": f"a{i}@example.org", "body": f"{ORDINARY} ({i})",
                    "ip": f"203.0.113.{i % 250 + 1}"}  # fmt: skip
            a_ids.append(await _post(session, base, SITE_KEY, body))
        return a_ids, list(await asyncio.gather(*flooding))


def _latencies(times: dict[str, tuple[float, float]], ids: list[str]) -> list[float]:
    return [times[cid][1] - times[cid][0] for cid in ids]


def flood_row(ctx: Ctx) -> Row:
    plan = ctx.plan
    redis_dir = ctx.work_dir / "redis-flood"
    redis_proc, url = start_redis(ctx.procs, redis_dir, "everysec", "redis-flood")
    client = redis_sync.Redis.from_url(url, decode_responses=True)
    env = ctx.env(url, "warning", API_KEYS=f"bench={SITE_KEY},flood={FLOOD_KEY}", WORKER_NAME="bench-flood")
    flood, ordinary, rate = (20, 10, 5.0) if plan.quick else (200, 100, 5.0)
    try:
        port = free_port()
        api = ctx.procs.start("api-flood", python_cmd("-m", "service.cli", "api", "--host", LOOPBACK,
                                                      "--port", str(port)), env)  # fmt: skip
        base = f"http://{LOOPBACK}:{port}"
        wait_http(base + "/healthz", api, ctx.procs, "api-flood")
        command = python_cmd("-m", "service.cli", "worker", "--processes", str(plan.worker_processes))
        worker = ctx.procs.start("worker-flood", command, env)
        wait_http(base + "/readyz", worker, ctx.procs, "worker-flood", timeout_s=300)
        ctx.say(f"flood: site A alone, {ordinary // 2} comments at {rate:g}/s")
        alone, _ = asyncio.run(_traffic(base, ordinary // 2, rate, 0))
        ctx.say(f"flood: site A at {rate:g}/s while site B posts {flood} bodies of 10,000 characters")
        started = time.monotonic()
        a_ids, b_ids = asyncio.run(_traffic(base, ordinary, rate, flood))
        times = wait_decided(client, alone + a_ids + b_ids, 600, worker, ctx, "worker-flood")
        drained_s = time.monotonic() - started
        ctx.procs.stop(worker, 30)
        ctx.procs.stop(api)
    finally:
        client.close()
        ctx.procs.stop(redis_proc)
        shutil.rmtree(redis_dir, ignore_errors=True)
    return _flood_figures(times, alone, a_ids, b_ids, drained_s, plan.worker_processes, rate)


def _flood_figures(
    times: dict[str, tuple[float, float]], alone: list[str], a_ids: list[str], b_ids: list[str],
    drained_s: float, processes: int, rate: float,
) -> Row:  # fmt: skip
    base, during, b = _latencies(times, alone), _latencies(times, a_ids), _latencies(times, b_ids)
    p95 = percentile(during, 0.95)
    detail = (f"site A {len(a_ids)} ordinary comments at {rate:g}/s while site B posted {len(b_ids)} "
              f"10,000-character bodies, `worker --processes {processes}`: A decided p50 "
              f"{percentile(during, 0.5):.2f} s, p95 {p95:.2f} s, max {max(during):.2f} s (alone: p50 "
              f"{percentile(base, 0.5):.2f} s, max {max(base):.2f} s); B p50 {percentile(b, 0.5):.1f} s, "
              f"max {max(b):.1f} s; all decided {drained_s:.0f} s after the flood began")  # fmt: skip
    return Row("flood_latency_site_a", p95, "s", f"<= {GOAL_S:g} s", p95 <= GOAL_S, detail,
               {"a_s": during, "alone_s": base, "b_s": b, "prefix": PREFIX})  # fmt: skip


def flood_rows(ctx: Ctx) -> list[Row]:
    ctx.say("cost: score + explain of a 10,000-character body vs a typical held comment")
    rows = [cost_row(ctx)]
    rows.append(flood_row(ctx))
    return rows
