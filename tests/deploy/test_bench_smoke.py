"""`scripts/bench.py --quick` (the CI smoke run of `make bench`) runs end to end, prints its table with
every row and a number in each, writes the same figures as JSON, and leaves no process behind.

Behaviour only: the figures of a smoke run on a shared CI machine say nothing about speed.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.procs

ROOT = Path(__file__).resolve().parents[2]
ROWS = (
    "intake_bare",
    "intake_fsync_always",
    "intake_fsync_everysec",
    "intake_everysec_log_info",
    "intake_processes_2_vs_1",
    "worker_throughput",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "api_rss",
    "worker_rss",
    "redis_per_comment",
    "protocols_no_worker",
    "protocol_analyze_p95",
    "protocol_coral_p95",
    "protocol_comment_check_p95",
    "cost_max_vs_typical",
    "flood_latency_site_a",
    "mixed_language_throughput",
    "mixed_language_worker_rss",
    "language_detection_us",
)
ROW_LINE = re.compile(r"^(?P<key>[a-z0-9_]+)\s+(?P<value>\S+) (?P<unit>.+?)\s{2,}(?P<goal>.+?)\s{2,}"
                      r"(?P<result>PASS|FAIL|info)\s{2,}(?P<details>.*)$")  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bench_quick_prints_every_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    work = tmp_path / "work"
    done = subprocess.run(
        [sys.executable, "scripts/bench.py", "--quick", "--json", str(out), "--work-dir", str(work)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    lines = done.stdout.splitlines()
    assert any(line.startswith("command: ") and "--quick" in line for line in lines)
    assert any(line.startswith("machine: ") and "cores" in line for line in lines)
    rows = {m["key"]: m for m in map(ROW_LINE.match, lines) if m}
    assert list(rows) == list(ROWS), done.stdout
    for key, match in rows.items():
        value = float(match["value"])
        assert math.isfinite(value) and value > 0, (key, match.group(0))
        if match["result"] != "info":
            assert match["goal"].strip() not in ("", "-", "info"), key

    worker = rows["worker_throughput"]["details"]
    assert re.search(r"CPU per comment \d+\.\d\d ms vs raw \d+\.\d\d ms", worker), worker
    assert re.search(r"redis-server \d+\.\d\d ms on the same cores", worker), worker

    figures = json.loads(out.read_text())
    assert figures["error"] is None
    assert figures["machine"]["cores"] >= 1
    assert set(figures["rows"]) == set(ROWS)
    for key, row in figures["rows"].items():
        assert isinstance(row["value"], int | float) and math.isfinite(row["value"]), key
        assert row["result"] in ("PASS", "FAIL", "info"), key

    # Everything it started is gone (redis-server ran with --dir under the work dir).
    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if str(work) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []


PHASES = (
    "model passes (decisions)",
    "explanations",
    "spam text model",
    "rest of score_batch",
    "heap trim",
    "event loop",
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_profile_worker_splits_the_worker_cpu_into_phases() -> None:
    """`scripts/profile_worker.py` (where the README's per-phase figures come from) decides every comment
    and prints one row per phase plus the total; its redis-server is gone afterwards."""
    done = subprocess.run(
        [sys.executable, "scripts/profile_worker.py", "--comments", "48"],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    decided = re.match(r"48 comments \((?P<counts>[^)]*)\); raw model", lines[0])
    assert decided, lines[0]
    counts = {status: int(n) for n, status in (part.split() for part in decided["counts"].split(", "))}
    assert set(counts) <= {"published", "held"} and sum(counts.values()) == 48, counts
    shown = {line[:28].strip(): float(line[28:].split()[0]) for line in lines[2:]}
    assert list(shown) == [*PHASES, "worker in all", "redis-server (apart)"]
    assert shown["redis-server (apart)"] >= 0
    assert shown["model passes (decisions)"] > 0 and shown["event loop"] > 0
    assert shown["worker in all"] == pytest.approx(sum(shown[p] for p in PHASES), abs=0.01)


def test_pass_budget_prints_a_rate_per_shape_and_budget() -> None:
    """`scripts/pass_budget.py` (where the README's BERT-base pass-budget figures come from) runs."""
    done = subprocess.run(
        [sys.executable, "scripts/pass_budget.py", "--shapes", "minilm-l6", "--budgets", "128,256",
         "--comments", "64"],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    header, row = done.stdout.splitlines()[-2:]
    assert header.split()[1:] == ["128", "256"]
    name, *rates = row.split()
    assert name == "minilm-l6" and len(rates) == 2 and all(float(r) > 0 for r in rates)
