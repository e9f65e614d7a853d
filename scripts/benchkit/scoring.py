"""Workers, latency and memory: N comments posted, then `worker --processes P` timed against the raw
model (see benchkit.raw); then a steady paced load for decision latency; RSS of the API and of each
worker process; Redis bytes per comment."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from typing import Any

import aiohttp
import redis as redis_sync

from benchkit.phases import PREFIX, SITE_KEY, Ctx, start_api
from benchkit.procs import RssSampler, cpu_seconds, python_cmd, start_redis
from benchkit.raw import RawModel, RawPool
from benchkit.texts import payload
from service.core.keys import Keys
from service.launcher import threads_per_worker, worker_names


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
    """Wait until no comment is pending; returns id -> (created_at, decided_at), server clock seconds.
    The figures come from the stored timestamps, not from when a poll saw them, so the wait polls one
    cheap command (has the group been handed every entry, and acknowledged them all?) and reads the
    comments only then: a poll of thousands of HGETs costs CPU the measured worker shares."""
    keys = Keys(PREFIX)
    deadline = time.monotonic() + timeout_s
    left = list(ids)
    while left:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}:\n{ctx.procs.log_tail(name)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(left)} of {len(ids)} comments still pending after {timeout_s:.0f} s")
        if _group_busy(client, keys):
            time.sleep(0.2)
            continue
        pipe = client.pipeline(transaction=False)
        for cid in left:
            pipe.hget(keys.comment(cid), "status")
        left = [cid for cid, status in zip(left, pipe.execute(), strict=True) if status in (None, "pending")]
        if left:
            time.sleep(0.5)  # a retry waits for its claim: poll the records themselves, slowly
    pipe = client.pipeline(transaction=False)
    for cid in ids:
        pipe.hmget(keys.comment(cid), "created_at", "decided_at")
    return {cid: (float(c), float(d)) for cid, (c, d) in zip(ids, pipe.execute(), strict=True)}


def _group_busy(client: redis_sync.Redis, keys: Keys) -> bool:
    """The scoring group still has entries to read or to acknowledge."""
    last = client.xinfo_stream(keys.stream)["last-generated-id"]
    for group in client.xinfo_groups(keys.stream):
        if group["name"] == keys.group:
            return bool(group["last-delivered-id"] != last or int(group["pending"]) > 0)
    return True  # the workers have not created their group yet


def trim_acknowledged(client: redis_sync.Redis) -> None:
    """Drop stream entries every group has acknowledged, as workers do every 30 s, so the memory
    deltas count what stays per comment (record, audit, indexes, history), not a transient entry."""
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
    """One durable Redis (appendfsync always), one API process, ``commentmod worker --processes P``:
    N comments posted first, then the workers start and are timed; then a steady paced load."""
    plan = ctx.plan
    redis_dir = ctx.work_dir / "redis-scoring"
    redis_proc, url = start_redis(ctx.procs, redis_dir, "always", "redis-scoring")
    client = redis_sync.Redis.from_url(url, decode_responses=True)
    try:
        api, base = start_api(ctx, url, 1, "warning", "api-scoring")
        texts = ctx.texts[: plan.comments]
        memory = {"start": used_memory(client)}
        ctx.say(f"workers: posting {len(texts)} comments")
        posted = asyncio.run(post_comments(base, [payload(i, t) for i, t in enumerate(texts)]))
        ids = [cid for cid, _ in posted]
        memory["pending"] = used_memory(client)
        worker_env = ctx.env(url, "warning", WORKER_NAME="bench-worker", HEARTBEAT_TTL_S="120")
        worker, out = timed_worker_run(ctx, client, worker_env, texts, ids, redis_proc.pid)
        trim_acknowledged(client)
        memory["decided"] = used_memory(client)
        with RssSampler(worker.pid, 0.2) as worker_rss:
            out.update(paced_run(ctx, client, base, worker, api.pid, out["worker"]["rate"], memory))
        out["redis"] = redis_figures(client, memory, len(ids), out["latency"]["comments"])
        out["worker_rss"] = max(out["worker"]["rss"], max(worker_rss.peak_by_pid.values(), default=0))
        ctx.procs.stop(worker, 30)
        ctx.procs.stop(api)
    finally:
        client.close()
        ctx.procs.stop(redis_proc)
        shutil.rmtree(redis_dir, ignore_errors=True)
    return out


def timed_worker_run(
    ctx: Ctx, client: redis_sync.Redis, env: dict[str, str], texts: list[str], ids: list[str], redis_pid: int
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """The raw model on ``texts`` (both ways, before and after), and between the two the workers on the
    posted ``ids``: comments/s over the window in which every worker process is consuming, and the CPU
    the workers and the redis-server spent per comment meanwhile."""
    parts = ctx.plan.worker_processes
    ctx.say("workers: raw model on the same texts, first of two")
    raw = RawModel(env, ctx.plan.batch_size)
    threads = threads_per_worker(parts)
    pool = RawPool(ctx.procs, env, texts, parts, ctx.plan.batch_size, threads) if parts > 1 else None
    first = _raw_rates(raw, pool, texts)
    ctx.say(f"workers: starting `commentmod worker --processes {parts}`")
    launched = time.time()
    command = python_cmd("-m", "service.cli", "worker", "--processes", str(parts))
    worker = ctx.procs.start("worker", command, env)
    names = worker_names("bench-worker", parts)
    with RssSampler(worker.pid, 0.2) as rss:
        beats = first_heartbeats(client, Keys(PREFIX).workers, names, worker, ctx)
        cpu_before, redis_before = cpu_seconds(worker.pid), cpu_seconds(redis_pid)  # after the model loads
        timeout_s = 120 + 3 * len(ids) / max(rate for rate, _ in first.values())
        times = wait_decided(client, ids, timeout_s, worker, ctx, "worker")
        cpu, redis_cpu = cpu_seconds(worker.pid) - cpu_before, cpu_seconds(redis_pid) - redis_before
    ctx.say("workers: raw model again, second of two")
    last = _raw_rates(raw, pool, texts)
    if pool is not None:
        pool.close(ctx.procs)
    described = raw.describe()
    del raw
    worker_figures = window_rate(times, beats)
    worker_figures.update(
        cpu_s_per_comment=cpu / len(ids), redis_cpu_s_per_comment=redis_cpu / len(ids),
        startup_s=min(beats) - launched, processes=parts,
        rss=max(rss.peak_by_pid.values(), default=0), rss_total=rss.peak,
    )  # fmt: skip
    return worker, {"worker": worker_figures, "raw": _raw_summary(first, last, described, parts, threads)}


def _raw_rates(raw: RawModel, pool: RawPool | None, texts: list[str]) -> dict[str, tuple[float, float]]:
    """(comments/s, CPU s per comment) of the raw model in this process and split over the pool."""
    rates = {"in_process": raw.measure(texts)}
    if pool is not None:
        rates["pool"] = pool.measure(len(texts))
    return rates


def _raw_summary(
    first: dict[str, tuple[float, float]], last: dict[str, tuple[float, float]], described: dict[str, Any],
    parts: int, threads: int,
) -> dict[str, Any]:  # fmt: skip
    """Mean of before and after per way; ``rate`` is the faster way, the baseline the workers face."""
    ways = {
        way: {"rate": (first[way][0] + last[way][0]) / 2, "first": first[way][0], "last": last[way][0],
              "cpu_s_per_comment": (first[way][1] + last[way][1]) / 2}
        for way in first
    }  # fmt: skip
    best = max(ways, key=lambda way: ways[way]["rate"])
    label = f"1 process x {described['torch_threads']} torch threads"
    if best == "pool":
        label = f"{parts} processes x {threads} torch thread{'s' if threads > 1 else ''}"
    return {**ways[best], "way": best, "label": label, "ways": ways, **described}


def window_rate(times: dict[str, tuple[float, float]], beats: list[float]) -> dict[str, Any]:
    """Comments decided per second from the moment the last worker process joined to the last
    decision; with too few decisions in that window (smoke runs), from the first one's join."""
    finished = max(d for _, d in times.values())
    start = max(beats)
    decided = sum(1 for _, d in times.values() if d >= start)
    if decided < 2 or finished <= start:
        start, decided = min(beats), len(times)
    seconds = max(finished - start, 1e-6)
    return {"comments": decided, "seconds": seconds, "rate": decided / seconds, "posted": len(times)}


def paced_run(
    ctx: Ctx, client: redis_sync.Redis, base: str, worker: Any, api_pid: int, worker_rate: float,
    memory: dict[str, int],
) -> dict[str, Any]:  # fmt: skip
    """A steady open-loop load at ``plan.rate``: POST latency and POST-to-decision latency; Redis's
    used memory just before it goes to ``memory["paced"]``."""
    plan = ctx.plan
    count = max(1, int(plan.latency_seconds * plan.rate))
    ctx.say(f"latency: {plan.rate:g} comments/s for {plan.latency_seconds:g} s")
    offset = plan.comments
    bodies = [payload(offset + i, ctx.texts[(offset + i) % len(ctx.texts)]) for i in range(count)]
    trim_acknowledged(client)  # the baseline must not include entries the trim below would remove
    memory["paced"] = used_memory(client)
    with RssSampler(api_pid, 0.2) as api_rss:
        paced = asyncio.run(post_comments(base, bodies, rate=plan.rate))
        drain_s = 120 + 3 * count / worker_rate
        times = wait_decided(client, [cid for cid, _ in paced], drain_s, worker, ctx, "worker")
    return {
        "latency": {
            "comments": count,
            "rate": plan.rate,
            "decision_ms": [(d - c) * 1000 for c, d in times.values()],
            "post_ms": [s * 1000 for _, s in paced],
        },
        "api_rss_paced": api_rss.peak,
    }


def redis_figures(client: redis_sync.Redis, memory: dict[str, int], batch: int, paced: int) -> dict[str, Any]:
    """Redis bytes per decided comment (MEMORY USAGE of every key: stable; the used_memory deltas are
    allocator-noisy and reported beside it), after trimming acknowledged stream entries."""
    trim_acknowledged(client)
    families = key_families(client)
    total = paced + batch
    return {
        "comments": paced,
        "decided_bytes": sum(families.values()) / total,
        "used_memory_delta_bytes": (used_memory(client) - memory["paced"]) / paced,
        "first_batch": {
            "comments": batch,
            "pending_bytes": (memory["pending"] - memory["start"]) / batch,
            "decided_bytes": (memory["decided"] - memory["start"]) / batch,
        },
        "families": families,
        "total_comments": total,
    }


def first_heartbeats(
    client: redis_sync.Redis, key: str, names: list[str], worker: Any, ctx: Ctx, name: str = "worker"
) -> list[float]:
    """Each worker process's first heartbeat (written as it starts consuming, after its model load)."""
    deadline = time.monotonic() + 300
    beats: dict[str, float] = {}
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}:\n{ctx.procs.log_tail(name)}")
        for consumer, beat in zip(names, client.hmget(key, names), strict=True):
            if beat and consumer not in beats:
                beats[consumer] = float(beat)
        if len(beats) == len(names):
            return list(beats.values())
        time.sleep(0.02)
    raise RuntimeError(f"only {len(beats)} of {len(names)} worker processes sent a heartbeat in 300 s")
