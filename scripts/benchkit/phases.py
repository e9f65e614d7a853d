"""The bench phases: intake load (bare vs durable), worker throughput vs the raw model, latency, memory."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import redis as redis_sync

from benchkit.load import LoadGen, LoadResult
from benchkit.procs import (
    LOOPBACK,
    ROOT,
    Procs,
    RssSampler,
    cpu_seconds,
    free_port,
    python_cmd,
    rss_now,
    start_redis,
    wait_http,
)
from benchkit.texts import payload

BARE_SERVER = Path(__file__).resolve().parent / "bare_server.py"
PREFIX = "bench"
SITE_KEY = "bench-site-key-0123456789"


@dataclass
class Plan:
    quick: bool
    intake_seconds: int
    warmup_seconds: int
    connections: int
    wrk_threads: int
    comments: int  # worker throughput: comments posted before the worker starts
    latency_seconds: float
    rate: float  # comments per second in the latency phase
    batch_size: int = 32


@dataclass
class Ctx:
    plan: Plan
    procs: Procs
    work_dir: Path
    texts: list[str]
    bodies: list[str]  # JSON payloads the intake load cycles through
    loadgen: LoadGen
    models_dir: Path
    notes: list[str] = field(default_factory=list)

    def say(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def env(self, redis_url: str, log_level: str, **extra: str) -> dict[str, str]:
        """The service's environment: rate limits off, loopback only, no worker metrics port."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        values = {
            "REDIS_URL": redis_url,
            "API_KEYS": f"bench:{SITE_KEY}",
            "SITE_RATE_LIMIT": "0",
            "CLIENT_RATE_LIMIT": "0",
            "SITE_RATE_LIMITS": "",
            "LOG_LEVEL": log_level,
            "LOG_FORMAT": "json",
            "DRAIN_TIMEOUT_S": "3",
            "STREAM_PREFIX": PREFIX,
            "DATA_DIR": str(self.work_dir / "data"),
            "MODELS_DIR": str(self.models_dir),
            "METRICS_PORT": "0",
            "BATCH_SIZE": str(self.plan.batch_size),
            **extra,
        }
        env.update({f"COMMENTMOD_{k}": v for k, v in values.items()})
        return env


# --- intake ---------------------------------------------------------------------------------------


def _wait_listeners(pid: int, port: int, count: int, timeout_s: float = 30) -> None:
    """With ``--processes N`` every child must listen before the load starts."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
            listening = sum(
                1
                for p in procs
                for c in p.net_connections("tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
            )
        except psutil.Error:
            listening = 0
        if listening >= count:
            return
        time.sleep(0.1)
    raise RuntimeError(f"only some of the {count} API processes listen on {port}")


def start_api(ctx: Ctx, redis_url: str, processes: int, log_level: str, name: str) -> tuple[Any, str]:
    port = free_port()
    args = python_cmd(
        "-m", "service.cli", "api", "--host", LOOPBACK, "--port", str(port), "--processes", str(processes)
    )
    proc = ctx.procs.start(name, args, ctx.env(redis_url, log_level))
    base = f"http://{LOOPBACK}:{port}"
    wait_http(base + "/healthz", proc, ctx.procs, name)
    _wait_listeners(proc.pid, port, processes)
    return proc, base


def preflight(base: str, bodies: list[str]) -> None:
    """The load must be accepted (202), not rejected: check a few bodies before measuring."""
    for body in bodies:
        request = urllib.request.Request(
            base + "/v1/comments",
            data=body.encode(),
            method="POST",
            headers={"Authorization": f"Bearer {SITE_KEY}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        if status != 202:
            raise RuntimeError(f"preflight POST answered {status}, not 202")


@dataclass
class IntakeRun:
    load: LoadResult
    rss_peak: int = 0
    rss_by_pid: dict[int, int] = field(default_factory=dict)
    accepted: int = 0  # stream entries written (XLEN)
    cpu_us_per_request: float = 0.0  # server CPU (all its processes) per completed request
    redis_cpu_us_per_request: float = 0.0


def intake_bare(ctx: Ctx, name: str) -> IntakeRun:
    port = free_port()
    proc = ctx.procs.start(name, python_cmd(str(BARE_SERVER), "--port", str(port)))
    base = f"http://{LOOPBACK}:{port}"
    try:
        wait_http(base + "/healthz", proc, ctx.procs, name)
        return _load(ctx, proc.pid, base, name)
    finally:
        ctx.procs.stop(proc)


def intake_api(ctx: Ctx, name: str, fsync: str, processes: int = 1, log_level: str = "warning") -> IntakeRun:
    redis_dir = ctx.work_dir / f"redis-{name}"
    redis_proc, url = start_redis(ctx.procs, redis_dir, fsync, f"redis-{name}")
    try:
        api, base = start_api(ctx, url, processes, log_level, f"api-{name}")
        try:
            preflight(base, ctx.bodies[:5])
            return _load(ctx, api.pid, base, name, url, redis_proc.pid)
        finally:
            ctx.procs.stop(api)
    finally:
        ctx.procs.stop(redis_proc)
        shutil.rmtree(redis_dir, ignore_errors=True)


def _xlen(redis_url: str | None) -> int:
    if not redis_url:
        return 0
    from service.keys import Keys

    with redis_sync.Redis.from_url(redis_url, decode_responses=True) as client:
        return int(client.xlen(Keys(PREFIX).stream))


def _load(
    ctx: Ctx, pid: int, base: str, name: str, redis_url: str | None = None, redis_pid: int = 0
) -> IntakeRun:
    plan = ctx.plan
    if plan.warmup_seconds:
        ctx.loadgen.run(ctx.procs, base, plan.warmup_seconds, f"load-{name}-warmup")
    ctx.say(f"intake {name}: {plan.connections} connections, {plan.intake_seconds} s")
    before = _xlen(redis_url)
    cpu, redis_cpu = cpu_seconds(pid), cpu_seconds(redis_pid) if redis_pid else 0.0
    with RssSampler(pid) as rss:
        result = ctx.loadgen.run(ctx.procs, base, plan.intake_seconds, f"load-{name}")
    cpu = cpu_seconds(pid) - cpu
    redis_cpu = (cpu_seconds(redis_pid) - redis_cpu) if redis_pid else 0.0
    run = IntakeRun(result, rss.peak, dict(rss.peak_by_pid), _xlen(redis_url) - before)
    run.cpu_us_per_request = cpu * 1e6 / max(result.requests, 1)
    run.redis_cpu_us_per_request = redis_cpu * 1e6 / max(result.requests, 1)
    return run


# --- workers, latency, memory ---------------------------------------------------------------------


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
    """Poll until no comment is pending; returns id -> (created_at, decided_at), server clock seconds."""
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
            time.sleep(0.05)
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

    def measure(self, texts: list[str]) -> float:
        """Comments per second."""
        self.scorer.score(texts[:8])  # warm-up
        started = time.perf_counter()
        for i in range(0, len(texts), self.batch_size):
            self.scorer.score(texts[i : i + self.batch_size])
        return len(texts) / (time.perf_counter() - started)

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
        raw_first = raw.measure(texts)
        ctx.say("workers: starting one worker")
        launched = time.time()
        worker = ctx.procs.start("worker", python_cmd("-m", "service.cli", "worker"), worker_env)
        started = _first_heartbeat(client, Keys(PREFIX).workers, "bench-worker", worker, ctx)
        times = wait_decided(client, ids, max(120.0, len(ids) / 5), worker, ctx, "worker")
        finished = max(d for _, d in times.values())
        out["worker"] = {
            "comments": len(ids),
            "seconds": finished - started,
            "rate": len(ids) / (finished - started),
            "startup_s": started - launched,
        }
        trim_acknowledged(client)
        mem_decided = used_memory(client)
        rss_after_batch = rss_now(worker.pid)
        ctx.say("workers: raw model again, second of two")
        raw_last = raw.measure(texts)
        out["raw"] = {
            "rate": (raw_first + raw_last) / 2, "first": raw_first, "last": raw_last, **raw.describe()
        }
        del raw
        count = max(1, int(plan.latency_seconds * plan.rate))
        ctx.say(f"latency: {plan.rate:g} comments/s for {plan.latency_seconds:g} s")
        offset = plan.comments
        bodies = [payload(offset + i, ctx.texts[(offset + i) % len(ctx.texts)]) for i in range(count)]
        mem_before_paced = used_memory(client)
        with RssSampler(worker.pid, 0.2) as worker_rss, RssSampler(api.pid, 0.2) as api_rss:
            paced = asyncio.run(post_comments(base, bodies, rate=plan.rate))
            times = wait_decided(client, [cid for cid, _ in paced], 60.0, worker, ctx, "worker")
        out["latency"] = {
            "comments": count,
            "rate": plan.rate,
            "decision_ms": [(d - c) * 1000 for c, d in times.values()],
            "post_ms": [s * 1000 for _, s in paced],
        }
        trim_acknowledged(client)
        out["redis"] = {
            "comments": count,
            "decided_bytes": (used_memory(client) - mem_before_paced) / count,
            "first_batch": {
                "comments": len(ids),
                "pending_bytes": (mem_pending - mem0) / len(ids),
                "decided_bytes": (mem_decided - mem0) / len(ids),
            },
            "families": key_families(client),
            "total_comments": count + len(ids),
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
