"""``commentmod up`` supervises its children, owns its data dir, and stops in order (issue 17, point 7).

One real ``commentmod up`` (embedded redis-server, worker process with the tiny real model, API) is
started in its own process group with stdout and stderr in one file, exactly as a terminal or
``commentmod up 2>&1 | jq`` would see them. Then, in order: a second ``up`` on the same data dir is
refused and changes nothing; ``kill -9`` of the worker and of Redis are each followed by a restart
and comments still get decided; and SIGINT to the whole process group (a terminal's Ctrl-C) drains the
API and the worker before Redis stops, exit status 0, with no traceback and only JSON lines written.
Every wait polls with a generous deadline that raises; nothing asserts on elapsed time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from service.core.redis_server import URL_FILE, free_port
from service.core.settings import Settings
from service.core.supervise import DataDirBusy, DataDirLock, Supervisor
from tests.kits.common import MOD_KEY, SITE_KEY
from tests.kits.workerkit import worker_env

pytestmark = pytest.mark.procs

DEADLINE_S = 180.0


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    metrics_port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def mark(self) -> int:
        return self.log_path.stat().st_size

    def text_since(self, mark: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(mark)
            return log.read().decode("utf-8", "replace")

    def pid_of(self, role: str) -> int:
        """The pid of the current ``role`` child, from the newest start/restart event."""
        started = [e for e in self.events() if e.get("event") in {"child_started", "child_restarted"}]
        return int([e for e in started if e["role"] == role][-1]["pid"])


def wait_until(what: str, check: Callable[[], Any], up: Up | None = None) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        result = check()
        if result:
            return result
        if up is not None and up.process.poll() is not None:
            raise AssertionError(f"commentmod up exited ({up.process.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def up_env(fault_model: Path, metrics_port: int) -> dict[str, str]:
    settings = Settings.from_env({}).with_(
        api_keys={SITE_KEY: "site-a"},
        moderator_keys={MOD_KEY: "alice"},
        toxicity_model=str(fault_model),
        torch_threads=1,
        metrics_port=metrics_port,
        log_format="auto",  # not a TTY: JSON lines, as for `commentmod up 2>&1 | jq`
        drain_grace_s=0.2,
        claim_idle_ms=1500,
        block_ms=200,
    )
    return settings.to_env()  # no COMMENTMOD_REDIS_URL: `up` starts its embedded Redis


def start_up(data_dir: Path, log_path: Path, fault_model: Path) -> Up:
    port, metrics_port = free_port(), free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "up", "--port", str(port), "--data-dir", str(data_dir)],
            env=up_env(fault_model, metrics_port),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a shell job
        )
    return Up(process, port, data_dir, log_path, metrics_port)


def post(up: Up, i: int) -> requests.Response:
    return requests.post(
        f"{up.base}/v1/comments",
        json={"name": f"Sup {i}", "email": f"s{i}@example.org", "body": f"Calm remark number {i}."},
        headers={"Authorization": f"Bearer {SITE_KEY}", "Prefer": "wait=5"},
        timeout=30,
    )


def decided(up: Up, comment_id: str) -> bool:
    resp = requests.get(
        f"{up.base}/v1/comments/{comment_id}", headers={"Authorization": f"Bearer {SITE_KEY}"}, timeout=30
    )
    return resp.status_code == 200 and resp.json().get("status") != "pending"


def accepted(up: Up, i: int) -> str | None:
    try:
        resp = post(up, i)
    except requests.ConnectionError:
        return None
    return str(resp.json()["id"]) if resp.status_code in {200, 202} else None


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, fault_model: Path) -> Iterator[Up]:
    folder = tmp_path_factory.mktemp("supervision")
    running = start_up(folder / "var", folder / "up.log", fault_model)
    try:
        wait_until("the API", lambda: _healthy(running), running)
        wait_until("the worker", lambda: _started(running), running)
        yield running
    finally:
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGTERM)
            running.process.wait(120)


def _started(up: Up) -> bool:
    return any(e.get("event") == "worker_started" for e in up.events())


def _healthy(up: Up) -> bool:
    try:
        return requests.get(f"{up.base}/healthz", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def test_second_up_on_the_same_data_dir_is_refused_and_touches_nothing(up: Up, fault_model: Path) -> None:
    url_before = (up.data_dir / URL_FILE).read_text()
    redis_pid = up.pid_of("redis")
    second = start_up(up.data_dir, up.log_path.with_name("second.log"), fault_model)
    assert second.process.wait(120) != 0
    output = second.log_path.read_text()
    assert "another `commentmod up`" in output and str(up.data_dir) in output
    assert f"pid {up.process.pid}" in output
    assert "Traceback" not in output
    assert (up.data_dir / URL_FILE).read_text() == url_before
    # redis-server runs in its --dir: exactly one runs in this data dir's, the first up's.
    servers = [p for p in psutil.process_iter(["name", "cwd"]) if "redis-server" in (p.info["name"] or "")]
    on_dir = [p.pid for p in servers if p.info["cwd"] == str((up.data_dir / "redis").resolve())]
    assert on_dir == [redis_pid]
    comment_id = wait_until("a comment accepted", lambda: accepted(up, 1), up)
    wait_until("its decision", lambda: decided(up, comment_id), up)


def test_worker_metrics_listen_on_the_given_host_only(up: Up) -> None:
    """``up --host 127.0.0.1`` (the default): the worker's metrics port is not open on 0.0.0.0."""
    worker = psutil.Process(up.pid_of("worker"))

    def listening() -> list[str]:
        return [
            c.laddr.ip
            for c in worker.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == up.metrics_port
        ]

    assert wait_until("the metrics port", listening, up) == ["127.0.0.1"]


def test_a_killed_worker_is_restarted(up: Up) -> None:
    mark = up.mark()
    old = up.pid_of("worker")
    os.kill(old, signal.SIGKILL)
    wait_until("the worker restarted", lambda: up.pid_of("worker") != old, up)
    exited = [e for e in up.events() if e.get("event") == "child_exited" and e.get("role") == "worker"]
    assert exited and exited[-1]["status"] == -signal.SIGKILL and exited[-1]["restart_in_s"] > 0
    comment_id = wait_until("a comment accepted", lambda: accepted(up, 2), up)
    wait_until("its decision by the new worker", lambda: decided(up, comment_id), up)
    assert "Traceback" not in up.text_since(mark)


def test_a_killed_redis_is_restarted_and_keeps_its_data(up: Up) -> None:
    mark = up.mark()
    before = wait_until("a comment accepted", lambda: accepted(up, 3), up)
    old = up.pid_of("redis")
    os.kill(old, signal.SIGKILL)
    wait_until("redis restarted", lambda: up.pid_of("redis") != old, up)
    after = wait_until("a comment accepted again", lambda: accepted(up, 4), up)
    wait_until("the decisions", lambda: decided(up, before) and decided(up, after), up)
    assert "Traceback" not in up.text_since(mark)


def test_sigint_to_the_process_group_drains_api_and_worker_before_redis(up: Up) -> None:
    ids = [wait_until("a comment accepted", lambda i=i: accepted(up, 10 + i), up) for i in range(5)]
    mark = up.mark()
    os.killpg(up.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    assert up.process.wait(DEADLINE_S) == 0
    text = up.text_since(mark)
    events = [json.loads(line) for line in text.splitlines() if line]
    names = [e.get("event") for e in events]
    stopped = {e["role"]: (i, e["status"]) for i, e in enumerate(events) if e.get("event") == "child_stopped"}
    assert names.index("api_stopped") < stopped["redis"][0]
    assert names.index("worker_stopped") < stopped["redis"][0]
    assert stopped["worker"][1] == 0 and stopped["redis"][1] == 0
    assert "Traceback" not in text
    assert [e for e in events if e.get("level") in {"error", "critical"}] == []
    assert not (up.data_dir / URL_FILE).exists()
    aof = b"".join(path.read_bytes() for path in (up.data_dir / "redis").rglob("appendonly*"))
    assert all(comment_id.encode() in aof for comment_id in ids)  # accepted before: kept on disk


def test_up_writes_only_json_lines_for_jq(up: Up) -> None:
    """``commentmod up 2>&1 | jq`` (the README's recipe) reads every line: no plain-text banner."""
    text = up.log_path.read_text(encoding="utf-8")
    assert text
    for line in text.splitlines():
        assert isinstance(json.loads(line), dict), line
    assert any(e.get("event") == "up_ready" for e in up.events())


def test_a_child_that_keeps_dying_makes_the_supervisor_give_up() -> None:
    """``up`` exits non-zero (``_supervise`` stops it) once a child exhausted its restarts."""
    supervisor = Supervisor(max_restarts=3, first_backoff_s=0.01)
    spawned: list[subprocess.Popen[bytes]] = []

    def spawn() -> subprocess.Popen[bytes]:
        spawned.append(subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]))
        return spawned[-1]

    supervisor.start("flaky", spawn)
    assert wait_until("the supervisor to give up", supervisor.check) == "flaky"
    assert len(spawned) == 4  # the first start and three restarts
    assert all(process.wait(30) == 3 for process in spawned)


def test_the_data_dir_lock_admits_one_holder(tmp_path: Path) -> None:
    first, second = DataDirLock(tmp_path), DataDirLock(tmp_path)
    first.acquire()
    with pytest.raises(DataDirBusy, match=f"pid {os.getpid()}"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_sigint_to_the_group_of_worker_processes_drains_each_once(
    fsettings: Settings, fault_model: Path, tmp_path: Path
) -> None:
    """``worker --processes 2`` and Ctrl-C: each worker got the signal twice (the terminal's and the
    launcher's), and a second signal is a forced exit; now only the launcher signals them."""
    log_path = tmp_path / "workers.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker", "--processes", "2"],
            env=worker_env(fsettings, "grp"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        text = lambda: log_path.read_text(encoding="utf-8", errors="replace")  # noqa: E731
        deadline = time.monotonic() + DEADLINE_S
        while text().count('"worker_started"') < 2:
            assert process.poll() is None, text()
            assert time.monotonic() < deadline, "the two workers did not start"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(DEADLINE_S) == 0, text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
    assert text().count('"worker_stopped"') == 2
    assert "worker_forced_exit" not in text() and "Traceback" not in text()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_children_of_a_killed_up_stop_and_the_next_up_starts_cleanly(
    tmp_path: Path, fault_model: Path
) -> None:
    """SIGKILL to ``up`` itself: its Redis and worker get SIGTERM from the kernel (PDEATHSIG) and stop,
    so no orphan keeps the append-only file, and the next ``up`` on the data dir starts."""
    first = start_up(tmp_path / "var", tmp_path / "first.log", fault_model)
    try:
        wait_until("the first up", lambda: _healthy(first) and _started(first), first)
        children = [first.pid_of("redis"), first.pid_of("worker")]
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(60)
        wait_until("its children to stop", lambda: all(_gone(pid) for pid in children))
    finally:
        if first.process.poll() is None:
            os.killpg(first.process.pid, signal.SIGKILL)
    second = start_up(tmp_path / "var", tmp_path / "second.log", fault_model)
    try:
        wait_until("the next up", lambda: _healthy(second), second)
        comment_id = wait_until("a comment accepted", lambda: accepted(second, 1), second)
        assert comment_id
    finally:
        os.killpg(second.process.pid, signal.SIGTERM)
        assert second.process.wait(DEADLINE_S) == 0
