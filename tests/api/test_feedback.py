"""Moderator decisions become labels: export-labels and calibrate read the service's own Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.models import Decision
from service.core.redis_server import EmbeddedRedis
from service.core.settings import Settings
from service.core.store import DecisionStore
from tests.kits.common import mod_headers, site_headers
from workers.feedback import threshold_for_rate

pytestmark = pytest.mark.procs


async def _held(client: Any, settings: Settings, body: str, toxicity: float) -> str:
    resp = await client.post(
        "/v1/comments", json={"name": "R", "email": "r@example.org", "body": body}, headers=site_headers()
    )
    cid = str((await resp.json())["id"])
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    store = DecisionStore(redis, Keys(settings.stream_prefix))
    record = await store.get(cid)
    assert record is not None
    reasons = [{"code": "toxicity", "score": toxicity, "threshold": 0.5}]
    await store.decide(cid, record.created_at, Decision("hold", {"toxicity": toxicity, "spam": 0.1}, reasons))
    await redis.aclose()
    return cid


def _cli(*args: str, **changes: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], capture_output=True, text=True, timeout=120,
        env=Settings.from_env().with_(log_format="json", **changes).to_env(),
    )  # fmt: skip


async def test_export_labels_writes_each_moderator_decision_as_json_lines(
    client: Any, settings: Settings, tmp_path: Path
) -> None:
    approved = await _held(client, settings, "Sharp but fair criticism.", 0.6)
    rejected = await _held(client, settings, "Vile abuse here.", 0.95)
    untouched = await _held(client, settings, "Still waiting.", 0.7)
    await client.post(f"/v1/moderation/comments/{approved}/approve", headers=mod_headers())
    await client.post(f"/v1/moderation/comments/{rejected}/reject", headers=mod_headers())
    out = tmp_path / "labels.jsonl"
    proc = _cli("export-labels", "--out", str(out), redis_url=settings.redis_url or "",
                stream_prefix=settings.stream_prefix)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    labels = {row["comment_id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert set(labels) == {approved, rejected}
    assert untouched not in labels
    assert labels[approved]["moderator_decision"] == "approve"
    assert labels[rejected]["moderator_decision"] == "reject"
    assert labels[rejected]["text"] == "Vile abuse here."
    assert labels[rejected]["scores"]["toxicity"] == 0.95
    assert labels[rejected]["moderator"] == "alice" and labels[rejected]["verdict"] == "hold"


async def test_calibrate_reports_precision_recall_and_a_suggested_threshold(
    client: Any, settings: Settings
) -> None:
    for i, tox in enumerate([0.55, 0.6, 0.9, 0.95]):
        cid = await _held(client, settings, f"comment {i}", tox)
        action = "reject" if tox > 0.8 else "approve"
        await client.post(f"/v1/moderation/comments/{cid}/{action}", headers=mod_headers())
    proc = _cli("calibrate", "--json", "--target-hold-rate", "0.5", "--min-labels", "4",
                redis_url=settings.redis_url or "", stream_prefix=settings.stream_prefix,
                thresholds={"toxicity": 0.8})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = {row["score"]: row for row in json.loads(proc.stdout)}
    tox = rows["toxicity"]
    assert (tox["precision"], tox["recall"], tox["labels"]) == (1.0, 1.0, 4)
    assert tox["suggested_threshold"] == threshold_for_rate([0.55, 0.6, 0.9, 0.95], 0.5)
    assert 0.6 < tox["suggested_threshold"] <= 0.9


async def test_calibrate_withholds_a_suggestion_from_too_few_labels_with_a_warning(
    client: Any, settings: Settings
) -> None:
    for i, tox in enumerate([0.55, 0.6, 0.9, 0.95]):
        cid = await _held(client, settings, f"comment {i}", tox)
        await client.post(f"/v1/moderation/comments/{cid}/approve", headers=mod_headers())
    url, prefix = settings.redis_url or "", settings.stream_prefix
    proc = _cli("calibrate", "--json", redis_url=url, stream_prefix=prefix)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows and all(row["suggested_threshold"] is None for row in rows)
    assert all(row["warning"] == "only 4 moderator decisions, 50 needed to suggest" for row in rows)
    assert "warning: only 4 moderator decisions" in proc.stderr


def test_threshold_for_rate_holds_at_most_the_target_share() -> None:
    values = [i / 100 for i in range(100)]
    t = threshold_for_rate(values, 0.05)
    assert t is not None
    assert sum(v >= t for v in values) <= 5


async def test_export_labels_reads_the_embedded_redis_of_a_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    embedded = EmbeddedRedis(data_dir)
    url = embedded.start()
    try:
        redis = aioredis.Redis.from_url(url, decode_responses=True)
        keys = Keys("cm")
        await redis.hset(keys.comment("0" * 28), mapping={
            "site": "s", "status": "rejected", "created_at": "1",
            "decided_by": "moderator:bo", "decided_at": "2",
            "comment": json.dumps({"name": "n", "email": "e@example.org", "body": "kept"}),
            "decision": Decision("hold", {"toxicity": 0.9}, []).to_json(),
        })  # fmt: skip
        await redis.zadd(keys.by_status("rejected"), {"0" * 28: 2})
        await redis.aclose()
    finally:
        embedded.stop()
    proc = _cli("export-labels", "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["text"] == "kept"
