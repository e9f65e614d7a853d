"""`commentmod score`: JSON lines in, verdicts out, with the default model and policy, no Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from service.core.settings import Settings

pytestmark = pytest.mark.procs


def _score(lines: list[str], **changes: Any) -> tuple[int, list[dict[str, object]], str]:
    env = Settings.from_env().with_(redis_url=None, log_format="json", torch_threads=1, **changes).to_env()
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", "score"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def test_score_reads_json_lines_and_writes_one_verdict_per_line_in_order() -> None:
    lines = [
        json.dumps({"id": "a", "body": "Thank you for this careful, well sourced report."}),
        json.dumps({"id": "b", "body": "You are a pathetic idiot, shut up you moron."}),
        json.dumps(
            {
                "id": "c",
                "body": "FREE iPhone!!! click http://bit.ly/x http://win.example now",
                "name": "Cheap Deals http://win.example",
            }
        ),
    ]
    code, out, _ = _score(lines)
    assert code == 0
    assert [o["id"] for o in out] == ["a", "b", "c"]
    by_id = {o["id"]: o for o in out}
    assert by_id["a"]["verdict"] == "publish" and by_id["a"]["reasons"] == []
    assert by_id["b"]["verdict"] == "hold"
    assert "toxicity" in [r["code"] for r in by_id["b"]["reasons"]]  # type: ignore[union-attr,index]
    assert by_id["c"]["verdict"] == "hold"
    for o in out:
        scores = o["scores"]
        assert isinstance(scores, dict) and 0 <= scores["toxicity"] <= 1 and 0 <= scores["spam"] <= 1


def test_score_thresholds_come_from_settings() -> None:
    line = json.dumps({"id": "x", "body": "Thank you for this careful, well sourced report."})
    _, out, _ = _score([line], thresholds={"toxicity": 0.000001})
    assert out[0]["verdict"] == "hold"


def test_score_reports_bad_lines_and_keeps_going() -> None:
    surrogate = '{"id": "s", "body": "bad \\ud800 text"}'  # a lone surrogate, as JSON allows
    lines = ["{not json", json.dumps({"id": "ok", "body": "Fine article."}), json.dumps({"x": 1}), surrogate]
    code, out, _ = _score(lines)
    assert code == 1
    assert out[0]["error"] == "invalid JSON"
    assert out[1]["id"] == "ok" and out[1]["verdict"] in {"publish", "hold"}
    assert "error" in out[2]
    assert out[3]["id"] == "s" and "error" in out[3]
