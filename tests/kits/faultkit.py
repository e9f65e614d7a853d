"""Helpers for the fault-injection tests: count reports, private Redis servers, API subprocesses,
concurrent posting, and a TCP proxy that can delay, stall or refuse Redis traffic.

Every fault test reports its counts with the ``figures`` fixture: one ``FAULT name: k=v ...`` line on
stdout, and ``<basetemp>/fault-figures/<name>.json`` for the README. ``figures`` reaches every test
through ``pytest_plugins`` in tests/conftest.py; the fault tests' model and worker settings
(``fault_model``, ``fsettings``) are in tests/faults/conftest.py.
"""

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
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis as redis_sync
import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.redis_server import free_port
from service.core.settings import Settings
from tests.kits.common import MOD_KEY, OTHER_SITE_KEY, SITE_KEY, start_redis
from workers.consumer import Worker
from workers.scoring.pipeline import ScoringPipeline

Report = Callable[..., dict[str, Any]]


# --- count reports ------------------------------------------------------------------------------
@pytest.fixture(name="figures")
def figures_fixture(capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory) -> Report:
    """``figures("sigkill", posted=500, lost=0)`` prints one line and writes a JSON file."""
    folder = tmp_path_factory.getbasetemp() / "fault-figures"
    folder.mkdir(parents=True, exist_ok=True)

    def report(name: str, **counts: Any) -> dict[str, Any]:
        line = f"FAULT {name}: " + " ".join(f"{k}={v}" for k, v in counts.items())
        with capsys.disabled():
            print("\n" + line, flush=True)
        (folder / f"{name}.json").write_text(json.dumps({"fault": name, **counts}, indent=2, default=str))
        return counts

    return report


# --- payloads -----------------------------------------------------------------------------------
def payload(i: int, tag: str = "fault") -> dict[str, Any]:
    """A valid, harmless comment (no name, email or text the log scan looks for)."""
    return {"name": f"Tester {i}", "email": f"t{i}@example.org", "body": f"Calm remark {tag} number {i}."}


# --- Redis --------------------------------------------------------------------------------------
@dataclass
class OwnRedis:
    """A private redis-server on a fixed port, restartable from its data folder."""

    folder: Path
    extra: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        self.process = start_redis(self.folder, self.port, self.extra)
        client = redis_sync.Redis(port=self.port)
        deadline = time.monotonic() + 30
        while True:  # replaying an append-only file answers LOADING until done
            try:
                client.ping()
                if int(client.info("persistence").get("loading", 0)) == 0:
                    break
            except (redis_sync.ConnectionError, redis_sync.exceptions.BusyLoadingError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis did not finish loading")
            time.sleep(0.05)
        client.close()
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def own_redis(folder: Path, *extra: str) -> Iterator[OwnRedis]:
    server = OwnRedis(folder, list(extra)).start()
    try:
        yield server
    finally:
        server.stop()


def fresh_settings(base: Settings, redis_url: str, **changes: Any) -> Settings:
    return base.with_(redis_url=redis_url, stream_prefix="f" + secrets.token_hex(6), **changes)


# --- the API as a real process ------------------------------------------------------------------
def api_env(settings: Settings, port: int, **changes: Any) -> dict[str, str]:
    """The environment of a ``commentmod api`` child running with ``settings`` (plus ``changes``)."""
    child = settings.with_(
        api_keys={SITE_KEY: "site-a", OTHER_SITE_KEY: "site-b"},
        moderator_keys={MOD_KEY: "alice"},
        host="127.0.0.1",
        port=port,
        log_format="json",
        metrics_port=0,
    )
    return child.with_(**changes).to_env()


@dataclass
class ApiProcess:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


async def spawn_api(settings: Settings, log_path: Path, **changes: Any) -> ApiProcess:
    """``commentmod api`` on a free port, logging JSON to ``log_path`` (a ``.log`` file: it is scanned)."""
    port = free_port()
    log = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "api", "--port", str(port), "--host", "127.0.0.1"],
        env=api_env(settings, port, **changes),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = ApiProcess(process, port)
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"commentmod api exited with {process.returncode}; see {log_path}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(f"{api.base}/healthz") as resp:
                    if resp.status == 200:
                        return api
            if time.monotonic() > deadline:
                api.stop()
                raise TimeoutError("commentmod api did not answer /healthz")
            await asyncio.sleep(0.1)


# --- concurrent posting -------------------------------------------------------------------------
@dataclass
class PostResult:
    index: int
    status: int  # 0: no HTTP answer
    comment_id: str | None = None
    error: str = ""
    elapsed_s: float = 0.0
    retry_after: str | None = None


async def post_one(
    post: Callable[..., Any], index: int, headers: dict[str, str], body: dict[str, Any], path: str
) -> PostResult:
    started = time.monotonic()
    try:
        async with post(path, json=body, headers=headers) as resp:
            data = await resp.json(content_type=None)
            cid = data.get("id") if isinstance(data, dict) else None
            return PostResult(
                index, resp.status, cid, "", time.monotonic() - started, resp.headers.get("Retry-After")
            )
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return PostResult(index, 0, None, type(exc).__name__, time.monotonic() - started)


async def post_concurrently(
    post: Callable[..., Any],
    count: int,
    concurrency: int = 50,
    headers: dict[str, str] | None = None,
    path: str = "/v1/comments",
    tag: str = "fault",
    idempotency: bool = False,
    pace_s: float = 0.0,
    on_result: Callable[[PostResult], Awaitable[None] | None] | None = None,
) -> list[PostResult]:
    """POST ``count`` comments with at most ``concurrency`` in flight; ``post`` is ``session.post`` or
    ``client.post`` (TestClient). With ``idempotency`` each request carries ``Idempotency-Key: tag-i``."""
    gate = asyncio.Semaphore(concurrency)
    base = {"Authorization": f"Bearer {SITE_KEY}", **(headers or {})}

    async def one(i: int) -> PostResult:
        async with gate:
            if pace_s:
                await asyncio.sleep(pace_s)
            hdrs = dict(base)
            if idempotency:
                hdrs["Idempotency-Key"] = f"{tag}-{i}"
            result = await post_one(post, i, hdrs, payload(i, tag), path)
            if on_result is not None:
                maybe = on_result(result)
                if asyncio.iscoroutine(maybe):
                    await maybe
            return result

    return list(await asyncio.gather(*(one(i) for i in range(count))))


# --- Redis inspection ---------------------------------------------------------------------------
def statuses(url: str, prefix: str, ids: list[str]) -> dict[str, str | None]:
    client = redis_sync.Redis.from_url(url, decode_responses=True)
    keys = Keys(prefix)
    pipe = client.pipeline(transaction=False)
    for cid in ids:
        pipe.hget(keys.comment(cid), "status")
    out = dict(zip(ids, pipe.execute(), strict=True))
    client.close()
    return out


def stream_ids(url: str, prefix: str) -> list[str]:
    """Comment ids of every entry still in the intake stream."""
    client = redis_sync.Redis.from_url(url, decode_responses=True)
    entries = client.xrange(Keys(prefix).stream)
    client.close()
    return [fields.get("id", "") for _, fields in entries]


def consumer_pending(url: str, prefix: str) -> dict[str, int]:
    client = redis_sync.Redis.from_url(url, decode_responses=True)
    keys = Keys(prefix)
    try:
        return {c["name"]: int(c["pending"]) for c in client.xinfo_consumers(keys.stream, keys.group)}
    except redis_sync.ResponseError:
        return {}
    finally:
        client.close()


def pending_ids_of(url: str, prefix: str, consumer: str) -> list[str]:
    """Message ids in the group's pending list owned by ``consumer``."""
    client = redis_sync.Redis.from_url(url, decode_responses=True)
    keys = Keys(prefix)
    rows = client.xpending_range(keys.stream, keys.group, "-", "+", 10_000, consumername=consumer)
    client.close()
    return [r["message_id"] for r in rows]


# --- a TCP proxy in front of Redis --------------------------------------------------------------
class FaultProxy:
    """127.0.0.1 TCP proxy. ``mode``: ``pass`` (forward), ``delay`` (hold each chunk ``delay_s``),
    ``stall`` (accept, forward nothing), ``refuse`` (accept and close at once). ``cut()`` drops every
    open connection (as when Redis goes away)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.mode = "pass"
        self.delay_s = 0.0
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await src.read(65536)
                if not data:
                    break
                while self.mode == "stall":
                    await asyncio.sleep(0.02)
                if self.mode == "delay" and self.delay_s:
                    await asyncio.sleep(self.delay_s)
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.transport.abort()
            self._writers.discard(dst)


class InProcessWorker:
    """A real ``Worker`` running in this event loop (scoring in its own thread)."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings, self.name = settings, name

    async def __aenter__(self) -> InProcessWorker:
        self.redis = aioredis.Redis.from_url(self.settings.redis_url or "", decode_responses=True)
        self.executor = ThreadPoolExecutor(max_workers=1)
        self.stop = asyncio.Event()
        pipeline = ScoringPipeline.from_settings(self.settings)
        worker = Worker(self.settings, self.redis, pipeline, self.executor, self.name)
        self.task = asyncio.create_task(worker.run(self.stop))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)
        await self.redis.aclose()
        self.executor.shutdown()


# --- the tiny real model ------------------------------------------------------------------------
async def freeze_holding(
    pid: int,
    url: str,
    prefix: str,
    name: str,
    accept: Callable[[list[str]], bool] | None = None,
    timeout_s: float = 60.0,
    settle_s: float = 0.0,
) -> list[str]:
    """SIGSTOP ``pid`` at a moment it holds unacknowledged messages (and ``accept(held)`` is true);
    returns their message ids and leaves it stopped. [] if that never happened in time. With
    ``settle_s``, a batch seen in hand is let run that long more before the final stop (so the worker
    has loaded and started scoring it rather than just received it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        os.kill(pid, signal.SIGSTOP)
        held = pending_ids_of(url, prefix, name)
        if held and settle_s:
            os.kill(pid, signal.SIGCONT)
            time.sleep(settle_s)  # blocking on purpose: exactly this long
            os.kill(pid, signal.SIGSTOP)
            held = [mid for mid in pending_ids_of(url, prefix, name) if mid in set(held)]
        if held and (accept is None or accept(held)):
            return held
        os.kill(pid, signal.SIGCONT)
        await asyncio.sleep(0.003)
    return []


def comment_ids_of(url: str, prefix: str, message_ids: list[str]) -> list[str]:
    client = redis_sync.Redis.from_url(url, decode_responses=True)
    stream = Keys(prefix).stream
    out = []
    for mid in message_ids:
        rows = client.xrange(stream, mid, mid)
        if rows:
            out.append(rows[0][1]["id"])
    client.close()
    return out
