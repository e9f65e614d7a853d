"""The ``procs`` marker, checked: a test that starts a process must carry it, so ``pytest -m "not procs"``
is a fast loop that starts nothing but the session's redis-server.

While an unmarked test's function-scoped fixtures and body run, every ``subprocess.Popen`` (which
``subprocess.run`` and asyncio's subprocesses go through) and every ``os.fork`` (multiprocessing) is
recorded, and the test then errors naming what it started. Session- and module-scoped fixtures (the
session's redis-server) are set up before the watch begins, so they are not counted.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

MARK = "procs"

_watching: list[str] = []  # the node id of the unmarked test now running
_started: list[str] = []  # what it started


def _seen(what: str) -> None:
    if _watching:
        _started.append(what)


_execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]


def _watched_execute_child(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> Any:
    argv = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
    _seen(" ".join(os.fsdecode(a) for a in argv)[:160])
    return _execute_child(self, args, *rest, **kwargs)


subprocess.Popen._execute_child = _watched_execute_child  # type: ignore[attr-defined]
os.register_at_fork(before=lambda: _seen("os.fork()"))


@pytest.fixture(autouse=True)
def procs_marker_is_honest(request: pytest.FixtureRequest) -> Iterator[None]:
    """Autouse, so it is set up before the test's other function-scoped fixtures and torn down after."""
    if request.node.get_closest_marker(MARK) is not None:
        yield
        return
    _watching.append(request.node.nodeid)
    _started.clear()
    try:
        yield
    finally:
        _watching.clear()
    if _started:
        started = list(_started)
        _started.clear()
        pytest.fail(
            f"started {len(started)} process(es) without the `{MARK}` marker (add "
            f"`pytestmark = pytest.mark.{MARK}` or `@pytest.mark.{MARK}`): {started[:3]}",
            pytrace=False,
        )
