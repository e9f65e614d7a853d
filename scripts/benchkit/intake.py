"""Intake rows: closed-loop POST load against the bare handler and against the API on a durable Redis."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_sync

from benchkit.load import LoadResult
from benchkit.phases import PREFIX, Ctx, preflight, start_api
from benchkit.procs import LOOPBACK, RssSampler, cpu_seconds, free_port, python_cmd, start_redis, wait_http

BARE_SERVER = Path(__file__).resolve().parent / "bare_server.py"


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
    from service.core.keys import Keys

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
