"""The bench table: one row per figure with its measured value, goal and PASS / FAIL (``info``: no goal)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Every row the full table has, in order (the smoke test checks for each).
ROW_KEYS = (
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


@dataclass
class Row:
    key: str
    value: float
    unit: str
    goal: str = "-"
    ok: bool | None = None  # None: informational row, no goal
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def result(self) -> str:
        return "info" if self.ok is None else ("PASS" if self.ok else "FAIL")


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (q in [0, 1])."""
    if not values:
        return math.nan
    data = sorted(values)
    pos = (len(data) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def render(rows: list[Row], header: list[str]) -> str:
    lines = [*header, ""]
    table = [("row", "measured", "goal", "result", "details")]
    table += [(r.key, f"{_fmt(r.value)} {r.unit}", r.goal, r.result, r.detail) for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(4)]
    for i, t in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(t[:4], widths, strict=True)) + "  " + t[4])
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 7)
    return "\n".join(lines)


def write_json(path: Path, rows: list[Row], meta: dict[str, Any]) -> None:
    doc = {**meta, "rows": {r.key: {**asdict(r), "result": r.result} for r in rows}}
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
