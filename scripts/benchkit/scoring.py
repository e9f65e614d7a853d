"""Workers, latency and memory: N comments posted, then one worker timed against the raw model; then a
steady paced load for decision latency; RSS of the API and the worker; Redis bytes per comment."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import aiohttp
import redis as redis_sync

from benchkit.phases import PREFIX, SITE_KEY, Ctx, start_api
from benchkit.procs import RssSampler, cpu_seconds, python_cmd, rss_now, start_redis
from benchkit.texts import payload


async def post_comments(
    base: str, payloads: list[str], concurrency: int = 32, rate: float | None = None
) -> list[tuple[str, float]]:
    """POST every payload (all at once with ``concurrency``, or paced at ``rate`` per second: open loop);
    returns (comment id, POST latency seconds) per payload, in order."""
    headers = {"Authorization": f"Bearer {SITE_KEY}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency if rate is None else 256)
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(body: str) -> tuple[str, float]:
            async with gate if rate is None else _nullcontext():
                started = time.perf_counter()
                async with session.post(base + "/v1/comments", data=body.encode(), headers=headers) as r:
                    answer = await r.json()
                    if r.status != 202:
                        raise RuntimeError(f"POST /v1/comments answered {r.status}: {answer.get('error')}")
                return str(answer["id"]), time.perf_counter() - started

        if rate is None:
            return list(await asyncio.gather(*(one(p) for p in payloads)))
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for i, body in enumerate(payloads):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body)))
        return list(await asyncio.gather(*tasks))


class _nullcontext:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def wait_decided(
    client: redis_sync.Redis, ids: list[str], timeout_s: float, worker: Any, ctx: Ctx, name: str
) -> dict[str, tuple[float, float]]:
    """Poll until no comment is pending; returns id -> (created_at, decided_at), server clock seconds.
    The figures come from the stored timestamps, not from when a poll saw them, so polling is slow
    (every 0.5 s): a poll of ~1,000 HGETs costs CPU that the measured worker shares on small machines."""
    from service.keys import Keys

    keys = Keys(PREFIX)
    deadline = time.monotonic() + timeout_s
    left = list(ids)
    while left:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}:\n{ctx.procs.log_tail(name)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(left)} of {len(ids)} comments still pending after {timeout_s:.0f} s")
        pipe = client.pipeline(transaction=False)
        for cid in left:
            pipe.hget(keys.comment(cid), "status")
        left = [cid for cid, status in zip(left, pipe.execute(), strict=True) if status in (None, "pending")]
        if left:
            time.sleep(0.5)
    pipe = client.pipeline(transaction=False)
    for cid in ids:
        pipe.hmget(keys.comment(cid), "created_at", "decided_at")
    return {cid: (float(c), float(d)) for cid, (c, d) in zip(ids, pipe.execute(), strict=True)}


class RawModel:
    """``ToxicityScorer.score`` alone, in this process, on the worker's texts in its batch size (warm)."""

    def __init__(self, env: dict[str, str], batch_size: int) -> None:
        from service.settings import Settings
        from workers.scoring.toxicity import ToxicityScorer

        self.scorer = ToxicityScorer.from_settings(Settings.from_env(env))
        self.batch_size = batch_size

    def measure(self, texts: list[str]) -> tuple[float, float]:
        """(comments per second, CPU seconds per comment of this process: all its threads)."""
        self.scorer.score(texts[:8])  # warm-up
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(texts), self.batch_size):
            self.scorer.score(texts[i : i + self.batch_size])
        cpu = time.process_time() - cpu
        return len(texts) / (time.perf_counter() - started), cpu / len(texts)

    def describe(self) -> dict[str, Any]:
        import torch

        return {
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "model": f"{self.scorer.name}@{self.scorer.version}",
        }


def trim_acknowledged(client: redis_sync.Redis) -> None:
    """Drop stream entries every group has acknowledged, as workers do every 30 s, so the memory
    deltas count what stays per comment (record, audit, indexes, history), not a transient entry."""
    from service.keys import Keys

    stream = Keys(PREFIX).stream
    for group in client.xinfo_groups(stream):
        if int(group["pending"]) == 0:
            client.xtrim(stream, minid=group["last-delivered-id"], approximate=False)


def key_families(client: redis_sync.Redis) -> dict[str, int]:
    """Bytes per key family (``bench:<family>:...``) by MEMORY USAGE, largest first."""
    sizes: dict[str, int] = {}
    cursor = 0
    while True:
        cursor, names = client.scan(cursor, match=f"{PREFIX}:*", count=1000)
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.memory_usage(name, samples=0)
        for name, size in zip(names, pipe.execute(), strict=True):
            family = name.split(":")[1] if ":" in name else name
            sizes[family] = sizes.get(family, 0) + int(size or 0)
        if cursor == 0:
            return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def used_memory(client: redis_sync.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def scoring_phase(ctx: Ctx) -> dict[str, Any]:
    """One durable Redis (appendfsync always), one API process, one worker:
    N comments posted first, then the worker starts and is timed; then a steady paced load."""
    from service.keys import Keys

    plan = ctx.plan
    out: dict[str, Any] = {}
    redis_dir = ctx.work_dir / "redis-scoring"
    redis_proc, url = start_redis(ctx.procs, redis_dir, "always", "redis-scoring")
    client = redis_sync.Redis.from_url(url, decode_responses=True)
    try:
        api, base = start_api(ctx, url, 1, "warning", "api-scoring")
        texts = ctx.texts[: plan.comments]
        mem0 = used_memory(client)
        ctx.say(f"workers: posting {len(texts)} comments")
        posted = asyncio.run(post_comments(base, [payload(i, t) for i, t in enumerate(texts)]))
        ids = [cid for cid, _ in posted]
        mem_pending = used_memory(client)
        ctx.say("workers: raw model on the same texts (in the bench process), first of two")
        worker_env = ctx.env(url, "warning", WORKER_NAME="bench-worker", HEARTBEAT_TTL_S="120")
        raw = RawModel(worker_env, plan.batch_size)
        raw_first, raw_cpu_first = raw.measure(texts)
        ctx.say("workers: starting one worker")
        launched = time.time()
        worker = ctx.procs.start("worker", python_cmd("-m", "service.cli", "worker"), worker_env)
        started = _first_heartbeat(client, Keys(PREFIX).workers, "bench-worker", worker, ctx)
        worker_cpu = cpu_seconds(worker.pid)  # the model load is behind it
        # Generous bounds from the measured model speed: a slow machine is a slow figure, not an error.
        times = wait_decided(client, ids, 120 + 3 * len(ids) / raw_first, worker, ctx, "worker")
        finished = max(d for _, d in times.values())
        worker_cpu = cpu_seconds(worker.pid) - worker_cpu
        out["worker"] = {
            "cpu_s_per_comment": worker_cpu / len(ids),
            "comments": len(ids),
            "seconds": finished - started,
            "rate": len(ids) / (finished - started),
            "startup_s": started - launched,
        }
        trim_acknowledged(client)
        mem_decided = used_memory(client)
        rss_after_batch = rss_now(worker.pid)
        ctx.say("workers: raw model again, second of two")
        raw_last, raw_cpu_last = raw.measure(texts)
        out["raw"] = {
            "rate": (raw_first + raw_last) / 2,
            "first": raw_first,
            "last": raw_last,
            "cpu_s_per_comment": (raw_cpu_first + raw_cpu_last) / 2,
            **raw.describe(),
        }
        del raw
        count = max(1, int(plan.latency_seconds * plan.rate))
        ctx.say(f"latency: {plan.rate:g} comments/s for {plan.latency_seconds:g} s")
        offset = plan.comments
        bodies = [payload(offset + i, ctx.texts[(offset + i) % len(ctx.texts)]) for i in range(count)]
        trim_acknowledged(client)  # the baseline must not include entries the trim below would remove
        mem_before_paced = used_memory(client)
        with RssSampler(worker.pid, 0.2) as worker_rss, RssSampler(api.pid, 0.2) as api_rss:
            paced = asyncio.run(post_comments(base, bodies, rate=plan.rate))
            drain_s = 120 + 3 * count / out["worker"]["rate"]
            times = wait_decided(client, [cid for cid, _ in paced], drain_s, worker, ctx, "worker")
        out["latency"] = {
            "comments": count,
            "rate": plan.rate,
            "decision_ms": [(d - c) * 1000 for c, d in times.values()],
            "post_ms": [s * 1000 for _, s in paced],
        }
        trim_acknowledged(client)
        families = key_families(client)
        total = count + len(ids)
        out["redis"] = {
            "comments": count,
            # MEMORY USAGE of every key, per comment: stable; the used_memory delta is allocator-noisy.
            "decided_bytes": sum(families.values()) / total,
            "used_memory_delta_bytes": (used_memory(client) - mem_before_paced) / count,
            "first_batch": {
                "comments": len(ids),
                "pending_bytes": (mem_pending - mem0) / len(ids),
                "decided_bytes": (mem_decided - mem0) / len(ids),
            },
            "families": families,
            "total_comments": total,
        }
        out["worker_rss"] = max(rss_after_batch, worker_rss.peak, rss_now(worker.pid))
        out["api_rss_paced"] = api_rss.peak
        ctx.procs.stop(worker, 30)
        ctx.procs.stop(api)
    finally:
        client.close()
        ctx.procs.stop(redis_proc)
        shutil.rmtree(redis_dir, ignore_errors=True)
    return out


def _first_heartbeat(client: redis_sync.Redis, key: str, name: str, worker: Any, ctx: Ctx) -> float:
    """The worker's first heartbeat (written as it starts consuming, after the model load)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}:\n{ctx.procs.log_tail('worker')}")
        beat = client.hget(key, name)
        if beat:
            return float(beat)
        time.sleep(0.02)
    raise RuntimeError("the worker sent no heartbeat in 300 s")
