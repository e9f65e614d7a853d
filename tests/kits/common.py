"""Constants and helpers every test kit and test uses: the test keys, request headers, a redis-server."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis as redis_sync

from service.core.redis_server import find_redis_server

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


def site_headers(key: str = SITE_KEY, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


def mod_headers(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {MOD_KEY}", **extra}
