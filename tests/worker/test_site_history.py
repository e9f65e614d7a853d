"""Issue 17 point 4, through a real worker: site B's spam does not change site A's verdict; once both
sites opt in to the shared spam-domain network (rule ``share_spam_domains``), it does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.core.settings import Settings
from tests.kits.common import OTHER_SITE_KEY, mod_headers, site_headers
from tests.kits.workerkit import drain_worker
from workers.scoring.pipeline import ScoringPipeline

SPAM = "BEST DEAL!!! Buy cheap pills now http://cheap-pills.example/buy click here FREE FREE"
ORDINARY = "The council report is worth reading, more at https://cheap-pills.example/report today"


@pytest.fixture(scope="module")
def pipeline(tiny_model: Path) -> ScoringPipeline:
    return ScoringPipeline.from_settings(
        Settings.from_env({}, multilingual_model="none", toxicity_model=str(tiny_model))
    )


async def _post(client: Any, body: str, key: str | None = None, i: int = 0) -> str:
    payload = {
        "name": f"Reader {i}",
        "email": f"reader{i}@example.org",
        "body": body,
        "ip": f"192.0.2.{i + 1}",
    }
    resp = await client.post(
        "/v1/comments", json=payload, headers=site_headers(key) if key else site_headers()
    )
    assert resp.status == 202
    return str((await resp.json())["id"])


async def _decision(client: Any, cid: str) -> tuple[str, set[str]]:
    view = await (await client.get(f"/v1/moderation/comments/{cid}", headers=mod_headers())).json()
    signals = {s["code"] for s in view["signals"]}
    return view["status"], signals


async def test_another_sites_spam_changes_a_verdict_only_when_both_sites_share_spam_domains(
    client: Any, wsettings: Settings, pipeline: ScoringPipeline
) -> None:
    settings = wsettings.with_(thresholds={"toxicity": 0.99, "spam": 0.5})
    spam = await _post(client, SPAM, OTHER_SITE_KEY, 1)
    await drain_worker(settings, pipeline)
    status, _ = await _decision(client, spam)
    assert status == "held"  # site B's spam, its link domain remembered for site B
    before = await _post(client, ORDINARY, i=2)
    await drain_worker(settings, pipeline)
    before_status, signals = await _decision(client, before)
    assert "spam_domain" not in signals
    for site in ("site-a", "site-b"):
        resp = await client.put(f"/v1/moderation/rules/{site}", json={"share_spam_domains": True},
                                headers=mod_headers())  # fmt: skip
        assert resp.status == 200
    again = await _post(client, SPAM.replace("buy", "offer"), OTHER_SITE_KEY, 3)
    await drain_worker(settings, pipeline)
    assert (await _decision(client, again))[0] == "held"  # now also fed to the network
    after = await _post(client, ORDINARY + " and more", i=4)
    await drain_worker(settings, pipeline)
    status, signals = await _decision(client, after)
    assert "spam_domain" in signals
    assert (before_status, status) == ("published", "held")  # the same link: B's spam changed A's verdict
