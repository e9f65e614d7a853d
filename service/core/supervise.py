"""The children of ``commentmod up``: one instance per data dir, children that cannot outlive it, and
restarts with backoff.

* ``DataDirLock``: an ``fcntl`` lock on ``<data-dir>/up.lock`` held for the life of ``up``; a second
  ``up`` on the same folder fails before it touches anything (the kernel drops the lock when the
  holder dies, even by SIGKILL).
* ``child_options()``: each child runs in its own session, so a terminal's Ctrl-C (SIGINT to the
  foreground process group) reaches only ``up``, which stops them in order; on Linux each child also
  gets SIGTERM if ``up`` dies without stopping it (``PR_SET_PDEATHSIG``).
* ``Supervisor``: a child that exits on its own is restarted after 0.5 s, doubling up to 30 s;
  ``MAX_RESTARTS`` restarts within ``RESTART_WINDOW_S`` and it gives up, and ``up`` exits non-zero.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.core.logs import get_logger

log = get_logger("commentmod.supervisor")

LOCK_FILE = "up.lock"
MAX_RESTARTS = 5
RESTART_WINDOW_S = 300.0
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class DataDirBusy(RuntimeError):
    """Another ``commentmod up`` holds this data dir."""


class DataDirLock:
    """An exclusive, non-blocking ``flock`` on ``<data-dir>/up.lock``; the file records the holder's pid."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by children (PEP 446)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirBusy(
                f"another `commentmod up` (pid {holder}) is running on {self.path.parent}: "
                "stop it first, or use another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _die_with_parent() -> None:
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def child_options() -> dict[str, Any]:
    """``Popen`` options of a supervised child: its own session, SIGTERM when ``up`` dies."""
    return {"start_new_session": True, "preexec_fn": _die_with_parent}


def stop_child(process: subprocess.Popen[bytes], timeout_s: float) -> int:
    """SIGTERM (the child drains or fsyncs), then SIGKILL after ``timeout_s``; its exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


@dataclass
class Child:
    role: str
    spawn: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None
    restarts: list[float] = field(default_factory=list)


class Supervisor:
    """Start children and keep them running; ``check()`` is called every half second by ``up``."""

    def __init__(self, max_restarts: int = MAX_RESTARTS, first_backoff_s: float = FIRST_BACKOFF_S) -> None:
        self.children: dict[str, Child] = {}
        self.max_restarts = max_restarts
        self.first_backoff_s = first_backoff_s

    def start(self, role: str, spawn: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        child = Child(role, spawn, spawn())
        self.children[role] = child
        assert child.process is not None
        log.info("child_started", role=role, pid=child.process.pid)
        return child.process

    def check(self) -> str | None:
        """Restart what is due; the role of a child that exhausted its restarts, else ``None``."""
        now = time.monotonic()
        for child in self.children.values():
            dead = child.process is None or child.process.poll() is not None
            if child.restart_at is None and dead and self._schedule(child, now):
                return child.role
            if child.restart_at is not None and now >= child.restart_at:
                self._restart(child)
        return None

    def _schedule(self, child: Child, now: float) -> bool:
        child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW_S]
        status = child.process.returncode if child.process is not None else None
        pid = child.process.pid if child.process is not None else None
        if len(child.restarts) >= self.max_restarts:
            log.error("child_gave_up", role=child.role, status=status, restarts=len(child.restarts))
            return True
        delay = min(MAX_BACKOFF_S, self.first_backoff_s * 2 ** len(child.restarts))
        log.error("child_exited", role=child.role, pid=pid, status=status, restart_in_s=delay)
        child.restart_at = now + delay
        child.restarts.append(now)
        return False

    def _restart(self, child: Child) -> None:
        child.restart_at = None
        try:
            child.process = child.spawn()
        except (OSError, RuntimeError) as exc:
            log.error("child_restart_failed", role=child.role, error=str(exc))
            child.process = None  # the next check counts it as another exit
            return
        log.info("child_restarted", role=child.role, pid=child.process.pid, restarts=len(child.restarts))

    def stop(self, role: str, timeout_s: float) -> None:
        child = self.children.pop(role, None)
        if child is not None and child.process is not None:
            status = stop_child(child.process, timeout_s)
            log.info("child_stopped", role=role, status=status)
