"""Process wiring for the CLI: the embedded Redis, dev keys, the API server and ``commentmod up``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from service.core.connections import redis_client
from service.core.keys import Keys
from service.core.logs import get_logger
from service.core.redis_server import URL_FILE, EmbeddedRedis, running_redis_url
from service.core.settings import Settings
from service.core.supervise import DataDirBusy, DataDirLock, Supervisor, child_options
from service.http.app import create_app
from service.http.common import DRAINING

log = get_logger("commentmod.launcher")

DEV_KEYS_FILE = "dev-keys.json"


def resolve_redis_url(settings: Settings) -> str:
    url = running_redis_url(settings)
    if url is None:
        raise SystemExit(
            "commentmod: set COMMENTMOD_REDIS_URL, or start `commentmod up` with this --data-dir first"
        )
    return url


def dev_keys(data_dir: Path) -> dict[str, dict[str, str]]:
    """Create (once) and return a dev site key and a dev moderator key stored under the data dir."""
    path = data_dir / DEV_KEYS_FILE
    if path.exists():
        return dict(json.loads(path.read_text()))
    keys = {
        "site": {"name": "dev-site", "key": "site_" + secrets.token_urlsafe(24)},
        "moderator": {"name": "dev-moderator", "key": "mod_" + secrets.token_urlsafe(24)},
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys, fh, indent=2)
    return keys


def _with_dev_keys(settings: Settings) -> tuple[Settings, dict[str, dict[str, str]] | None]:
    if settings.api_keys or settings.moderator_keys:
        return settings, None
    keys = dev_keys(settings.data_dir)
    return (
        settings.with_(
            api_keys={keys["site"]["key"]: keys["site"]["name"]},
            moderator_keys={keys["moderator"]["key"]: keys["moderator"]["name"]},
        ),
        keys,
    )


def _banner(settings: Settings, keys: dict[str, dict[str, str]] | None) -> str:
    base = f"http://{settings.host}:{settings.port}"
    site_key = keys["site"]["key"] if keys else "<your site key>"
    mod_key = keys["moderator"]["key"] if keys else "<your moderator key>"
    lines = [
        f"commentmod is up on {base}  (Redis: {settings.redis_url})",
    ]
    if keys:
        lines.append(f"dev keys (stored in {settings.data_dir / DEV_KEYS_FILE}):")
        lines.append(f"  site key:      {site_key}")
        lines.append(f"  moderator key: {mod_key}")
    lines += [
        "try:",
        f"  curl -s -X POST {base}/v1/comments -H 'Authorization: Bearer {site_key}' \\",
        "    -H 'Content-Type: application/json' -H 'Prefer: wait=5' \\",
        """    -d '{"name": "Ada", "email": "you@example.com", "body": "Thanks, a clear article."}'""",
        f"  curl -s {base}/v1/moderation/queue -H 'Authorization: Bearer {mod_key}'",
    ]
    return "\n".join(lines)


Watch = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def _serve(settings: Settings, reuse_port: bool = False, watch: Watch | None = None) -> None:
    asyncio.run(_serve_until_signal(settings, reuse_port, watch))


async def _serve_until_signal(settings: Settings, reuse_port: bool, watch: Watch | None = None) -> None:
    """Serve until SIGTERM/SIGINT (or until ``watch`` sets the stop event), then drain: first announce
    it (``/readyz`` 503, every response ``Connection: close``) for ``drain_grace_s`` so balancers and
    keep-alive clients move away, then stop accepting and let in-flight requests finish within
    ``drain_timeout_s``."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.drain_timeout_s)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port).start()
    log.info("api_listening", host=settings.host, port=settings.port, pid=os.getpid())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = asyncio.create_task(watch(stop)) if watch is not None else None
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    app[DRAINING].set()
    log.info("api_draining", grace_s=settings.drain_grace_s)
    await asyncio.sleep(settings.drain_grace_s)
    await runner.cleanup()
    log.info("api_stopped")


def run_api(settings: Settings, processes: int = 1, reuse_port: bool = False) -> int:
    """Serve the API; with ``processes`` > 1, that many processes share the port (SO_REUSEPORT)."""
    settings = settings.with_(redis_url=resolve_redis_url(settings))
    if processes <= 1:
        _serve(settings, reuse_port=reuse_port)
        return 0
    command = [sys.executable, "-m", "service.cli", "api", "--processes", "1", "--reuse-port"]
    env = settings.to_env()
    children = [subprocess.Popen(command, env=env, **child_options()) for _ in range(processes)]
    return _wait_children(children)


def run_workers(settings: Settings, processes: int = 1) -> int:
    """Scoring workers. With ``processes`` > 1, that many worker processes, each a consumer of its
    own (``<name>-1`` ...), metrics on ``metrics_port + i``, and ``cores // processes`` torch threads
    unless COMMENTMOD_TORCH_THREADS says otherwise: single-threaded processes score ~20 % more per
    core than one process whose threads wait on each other (``make bench``)."""
    from workers.run import default_worker_name, run_worker

    settings = settings.with_(redis_url=resolve_redis_url(settings))
    if processes <= 1:
        return run_worker(settings)
    names = worker_names(settings.worker_name or default_worker_name(), processes)
    threads = settings.torch_threads or threads_per_worker(processes)
    command = [sys.executable, "-m", "service.cli", "worker", "--processes", "1"]
    children = []
    for i, name in enumerate(names):
        port = settings.metrics_port + i if settings.metrics_port else 0
        env = settings.with_(worker_name=name, torch_threads=threads, metrics_port=port).to_env()
        children.append(subprocess.Popen(command, env=env, **child_options()))
    return _wait_children(children)


def worker_names(name: str, processes: int) -> list[str]:
    """The consumer names of ``worker --processes N``: the name itself for one, ``<name>-1`` ... else."""
    return [name] if processes <= 1 else [f"{name}-{i + 1}" for i in range(processes)]


def threads_per_worker(processes: int) -> int:
    """Torch threads each of ``processes`` worker processes gets by default: its share of the cores."""
    return max(1, len(os.sched_getaffinity(0)) // processes)


def _wait_children(children: list[subprocess.Popen[bytes]]) -> int:
    """Wait for the child processes (each in its own session, so a terminal's Ctrl-C reaches them only
    through here, once); SIGTERM or SIGINT here is passed on to each (they drain). A child
    that dies on its own takes the others down too (SIGTERM, so they drain), and this exits with its
    status: an orchestrator restarts the whole set instead of running on at part capacity unnoticed."""
    stopping = False

    def forward(signum: int, _: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while not stopping:
        exited = next((child for child in children if child.poll() is not None), None)
        if exited is not None:
            log.error("child_process_exited", status=exited.returncode, processes=len(children))
            forward(signal.SIGTERM, None)
            for child in children:
                child.wait()
            return max(1, abs(exited.returncode))
        time.sleep(0.2)
    return max(child.wait() for child in children)


def run_up(settings: Settings) -> int:
    """Embedded Redis (unless COMMENTMOD_REDIS_URL) + one worker process, supervised, + the API in
    this process; one instance per data dir. Exits non-zero when a child keeps dying."""
    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire()
        _refuse_live_redis(settings)
    except DataDirBusy as exc:
        lock.release()
        print(f"commentmod: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        return _up_locked(settings)
    finally:
        lock.release()


def _refuse_live_redis(settings: Settings) -> None:
    """An embedded Redis of an earlier ``up`` still serving this dir (its parent was killed: it gets
    SIGTERM and is finishing its append-only file) is waited for, never joined by a second server."""
    if settings.redis_url or not (settings.data_dir / URL_FILE).exists():
        return
    deadline = time.monotonic() + 15
    while running_redis_url(settings) is not None:
        if time.monotonic() > deadline:
            raise DataDirBusy(
                f"a redis-server of an earlier `commentmod up` still serves {settings.data_dir}: "
                "stop it first"
            )
        time.sleep(0.2)


def _up_locked(settings: Settings) -> int:
    supervisor = Supervisor()
    embedded = EmbeddedRedis(settings.data_dir, settings.redis_fsync) if not settings.redis_url else None
    gave_up: list[str] = []
    try:
        if embedded is not None:
            supervisor.start("redis", embedded.spawn)
            settings = settings.with_(redis_url=embedded.url)
            (settings.data_dir / URL_FILE).write_text(embedded.url)
        settings, keys = _with_dev_keys(settings)
        env = settings.to_env()
        command = [sys.executable, "-m", "service.cli", "worker"]
        supervisor.start("worker", lambda: subprocess.Popen(command, env=env, **child_options()))
        _announce(settings, keys)
        _serve(settings, watch=lambda stop: _supervise(supervisor, stop, gave_up))
    finally:
        # The API has drained (or never started); then the worker drains; Redis stops last.
        supervisor.stop("worker", settings.drain_timeout_s + 5)
        if embedded is not None:
            (settings.data_dir / URL_FILE).unlink(missing_ok=True)
            supervisor.stop("redis", 30)
    log.info("up_stopped", gave_up=gave_up[0] if gave_up else None)
    return 1 if gave_up else 0


async def _supervise(supervisor: Supervisor, stop: asyncio.Event, gave_up: list[str]) -> None:
    """Every half second: restart dead children (with backoff); one that keeps dying stops ``up``."""
    while not stop.is_set():
        role = supervisor.check()
        if role is not None:
            gave_up.append(role)
            stop.set()
            return
        await asyncio.sleep(0.5)


def _announce(settings: Settings, keys: dict[str, dict[str, str]] | None) -> None:
    """``up_ready`` as a log event (no key in it); the banner with the dev keys only on a terminal,
    so ``commentmod up 2>&1 | jq`` reads nothing but JSON lines."""
    keys_file = str(settings.data_dir / DEV_KEYS_FILE) if keys else None
    log.info("up_ready", url=f"http://{settings.host}:{settings.port}", dev_keys_file=keys_file)
    if sys.stderr.isatty():
        print(_banner(settings, keys), file=sys.stderr, flush=True)


def deadletters(settings: Settings, action: str, ids: list[str]) -> int:
    from workers import deadletter

    url = resolve_redis_url(settings)

    async def go() -> int:
        redis = redis_client(url, 10)
        keys = Keys(settings.stream_prefix)
        try:
            if action == "list":
                for entry in await deadletter.list_dead(redis, keys, count=10_000):
                    print(json.dumps(entry))
                return 0
            print(json.dumps({"requeued": await deadletter.requeue(redis, keys, ids or None)}))
            return 0
        finally:
            await redis.aclose()

    return asyncio.run(go())
