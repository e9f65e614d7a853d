"""Child processes of the bench (redis-server, API, worker, servers, load generators), always stopped."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
import redis as redis_sync

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class Procs:
    """Starts children in their own process group and stops every one of them, bounded in time."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.live: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, args: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            list(args), env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self.live.append((name, proc))
        return proc

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
        """SIGTERM to the whole group (``api --processes N`` has children), SIGKILL after ``timeout_s``."""
        for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(wait)
                _kill_group_leftovers(proc.pid)
                break
            except subprocess.TimeoutExpired:
                continue
        self.live = [(n, p) for n, p in self.live if p is not proc]

    def stop_all(self) -> None:
        for _, proc in reversed(list(self.live)):
            self.stop(proc)


def _kill_group_leftovers(pgid: int) -> None:
    """Children of a group leader that exited (e.g. ``api --processes 2`` after SIGTERM) still go."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def find_redis_server() -> str:
    from service.core.redis_server import find_redis_server as find

    return find()


def start_redis(procs: Procs, data_dir: Path, fsync: str, name: str) -> tuple[subprocess.Popen[bytes], str]:
    """A private, durable redis-server: append-only file with ``appendfsync`` = ``fsync``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [
        find_redis_server(), "--bind", LOOPBACK, "--port", str(port), "--dir", str(data_dir),
        "--appendonly", "yes", "--appendfsync", fsync, "--save", "", "--protected-mode", "yes",
        "--loglevel", "warning",
    ]  # fmt: skip
    proc = procs.start(name, args)
    client = redis_sync.Redis(host=LOOPBACK, port=port, socket_timeout=1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}: {procs.log_tail(name)}")
        try:
            if client.ping():
                client.close()
                return proc, f"redis://{LOOPBACK}:{port}/0"
        except (redis_sync.ConnectionError, redis_sync.exceptions.BusyLoadingError):
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start in 20 s")


def wait_http(
    url: str, proc: subprocess.Popen[bytes], procs: Procs, name: str, timeout_s: float = 60
) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{procs.log_tail(name)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not answer {url} in {timeout_s:.0f} s:\n{procs.log_tail(name)}")


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]


class RssSampler:
    """Samples the RSS of a process and its children every ``interval_s``; keeps the peak (bytes)."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak = 0
        self.peak_by_pid: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> int:
        try:
            root = psutil.Process(self.pid)
            total = 0
            for proc in [root, *root.children(recursive=True)]:
                rss = proc.memory_info().rss
                self.peak_by_pid[proc.pid] = max(self.peak_by_pid.get(proc.pid, 0), rss)
                total += rss
        except psutil.Error:
            return 0
        self.peak = max(self.peak, total)
        return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far."""
    try:
        root = psutil.Process(pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


def rss_now(pid: int) -> int:
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _filesystem(path: Path) -> str:
    best, fstype = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and str(path.resolve()).startswith(parts[1]) and len(parts[1]) > len(best):
                best, fstype = parts[1], parts[2]
    except OSError:
        pass
    return fstype


def _version(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"


def machine_info(data_dir: Path, loadgen: str) -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(load1, 2), round(load5, 2)],
        "os": platform.platform(),
        "python": platform.python_version(),
        "redis": _version([find_redis_server(), "--version"]),
        "loadgen": _version(["wrk", "-v"]) if loadgen == "wrk" else "aiohttp client (benchkit/loadgen.py)",
        "aof_filesystem": f"{data_dir} ({_filesystem(data_dir)})",
    }
