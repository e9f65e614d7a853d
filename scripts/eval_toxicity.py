"""Dev-set figures for the toxicity scorer: ROC-AUC / PR-AUC, the 5 %-healthy-hold threshold, speed.

    python scripts/eval_toxicity.py --data ../shared/data [--model commentmod-minilm] [--fp32]
    python scripts/eval_toxicity.py --data artifacts/obf      # the obfuscated copy

UCC val (eval only; also used to calibrate the threshold): ``label_binary`` (unhealthy = healthy==0)
and hostile-or-antagonize; OLID test split. Throughput is measured while scoring UCC (real news
comments) in batches of ``--batch-size``; RSS is the process peak.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

UCC = "unhealthy_comments_corpus_ucc_val/val.csv"
OLID = "olid_offenseval2019/normalized.csv"
HOLD_HEALTHY = 0.05


def _rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def threshold_for(scores: list[float], labels: list[int], hold: float = HOLD_HEALTHY) -> dict[str, float]:
    """Lowest threshold (score >= t holds) holding at most ``hold`` of the negatives, with P/R there."""
    negatives = sorted((s for s, y in zip(scores, labels, strict=True) if not y), reverse=True)
    allowed = int(hold * len(negatives))
    t = negatives[allowed] + 1e-6 if allowed < len(negatives) else 0.0  # just above the first not held
    t = round(t + 0.0005, 3)  # a round number that still satisfies the bound
    return at_threshold(scores, labels, t)


def at_threshold(scores: list[float], labels: list[int], threshold: float) -> dict[str, float]:
    """Share of negatives held, precision and recall when ``score >= threshold`` holds."""
    held = [y for s, y in zip(scores, labels, strict=True) if s >= threshold]
    negatives = len(labels) - sum(labels)
    return {
        "threshold": threshold,
        "healthy_held": (len(held) - sum(held)) / negatives if negatives else 0.0,
        "precision": sum(held) / len(held) if held else 0.0,
        "recall": sum(held) / sum(labels) if sum(labels) else 0.0,
    }


def _metrics(scores: list[float], labels: list[int]) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from workers.evaluation.report import auc_interval

    return {
        "roc_auc": round(float(roc_auc_score(labels, scores)), 4),
        "roc_auc_95ci": [round(v, 4) for v in auc_interval(labels, scores)],
        "pr_auc": round(float(average_precision_score(labels, scores)), 4),
        "positives": sum(labels),
        "n": len(labels),
    }


def evaluate(scorer: Any, data: Path, batch_size: int, threshold: float) -> dict[str, Any]:
    ucc = _rows(data / UCC)
    texts = [r["comment"] for r in ucc]
    started, cpu_started = time.perf_counter(), time.process_time()
    tox: list[float] = []
    for i in range(0, len(texts), batch_size):
        tox.extend(s["toxicity"] for s in scorer.score(texts[i : i + batch_size]))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    unhealthy = [int(r["healthy"] == "0") for r in ucc]
    hostile = [int(r["hostile"] == "1" or r["antagonize"] == "1") for r in ucc]
    olid = [r for r in _rows(data / OLID) if r["split"] == "test"]
    olid_scores = [s["toxicity"] for s in scorer.score([r["text"] for r in olid])]
    cut = threshold_for(tox, unhealthy)
    cut["hostile_recall"] = sum(h for s, h in zip(tox, hostile, strict=True) if s >= cut["threshold"]) / sum(
        hostile
    )
    return {
        "model": f"{scorer.name}@{scorer.version}",
        "ucc_unhealthy": _metrics(tox, unhealthy),
        "ucc_hostile_or_antagonize": _metrics(tox, hostile),
        "olid_test": _metrics(olid_scores, [int(r["label_binary"] == "1") for r in olid]),
        "threshold_5pct_healthy": {k: round(v, 4) for k, v in cut.items()},
        "at_configured_threshold": {
            k: round(v, 4) for k, v in at_threshold(tox, unhealthy, threshold).items()
        },
        "throughput_comments_per_s": round(len(texts) / elapsed, 1),
        # CPU time is less sensitive to other processes on a shared machine: comments per second if
        # the process had all its torch threads' cores to itself.
        "throughput_per_cpu_s_x_threads": round(len(texts) / cpu * _threads(), 1),
        "load_average": os.getloadavg()[0],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default="commentmod-minilm", help="toxicity_model setting")
    parser.add_argument("--models-dir", type=Path, default=Path("var/models"))
    parser.add_argument("--fp32", action="store_true", help="skip the default dynamic int8 quantisation")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    from service.core.settings import Settings
    from workers.scoring.toxicity import ToxicityScorer

    settings = Settings(toxicity_model=args.model, models_dir=args.models_dir, torch_threads=args.threads)
    scorer = ToxicityScorer.from_settings(settings, quantize=not args.fp32)
    result = evaluate(scorer, args.data, args.batch_size, settings.thresholds["toxicity"])
    result["data"] = str(args.data)
    print(json.dumps(result, indent=2))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
