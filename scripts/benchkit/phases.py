"""What the bench phases share: the plan, the context (processes, texts, load generator), the API."""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchkit.load import LoadGen
from benchkit.procs import LOOPBACK, ROOT, Procs, free_port, python_cmd, wait_http

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
    batch_size: int = 256  # COMMENTMOD_BATCH_SIZE
    worker_processes: int = 1  # `commentmod worker --processes`


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
            "API_KEYS": f"bench={SITE_KEY}",
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
