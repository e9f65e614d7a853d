"""Character-level span F1 of the toxicity explanations against SemEval-2021 Task 5 gold spans.

    python scripts/eval_spans.py --data ../shared/data --split test
    python scripts/eval_spans.py --data ../shared/data --split trial --grid   # choose RATIO/MIN_DROP

Reads ``toxic_spans_civil_comments/tsd_<split>.csv`` (columns ``spans``, ``text``) and prints the mean
per-text F1 (the task's metric) with the default model and explanation settings.
"""

from __future__ import annotations

import argparse
import ast
import csv
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.core.settings import Settings
from workers.scoring.explain import MIN_DROP, RATIO, WordScores, merge, occlusion_drops, pick, span_f1
from workers.scoring.toxicity import ToxicityScorer


def load(data: Path, split: str, limit: int) -> list[tuple[set[int], str]]:
    csv.field_size_limit(sys.maxsize)
    path = data / "toxic_spans_civil_comments" / f"tsd_{split}.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [(set(ast.literal_eval(r["spans"])), r["text"]) for r in csv.DictReader(fh)]
    return rows[:limit] if limit else rows


def drops_for(
    scorer: ToxicityScorer, texts: list[str], batch: int
) -> list[tuple[list[tuple[int, int]], list[float]]]:
    """The worker's occlusion drops: each text's decision score from batches of ``batch`` (the worker's
    ``COMMENTMOD_BATCH_SIZE``) is the base, then its variants one text at a time (as held comments
    come), one word cache."""
    bases = [
        row["toxicity"] for i in range(0, len(texts), batch) for row in scorer.score(texts[i : i + batch])
    ]
    words = WordScores()
    return [
        occlusion_drops(scorer, [text], words, bases=[base])[0]
        for text, base in zip(texts, bases, strict=True)
    ]


def mean_f1(rows: list[tuple[set[int], str]], drops: list, ratio: float, min_drop: float) -> float:
    f1s = []
    for (gold, text), (offsets, d) in zip(rows, drops, strict=True):
        spans = merge(text, [offsets[i] for i in pick(d, ratio, min_drop)])
        predicted = {c for s, e in spans for c in range(s, e)}
        f1s.append(span_f1(predicted, gold))
    return statistics.fmean(f1s)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test", choices=["test", "trial", "train"])
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--grid", action="store_true", help="print F1 over a grid of RATIO and MIN_DROP")
    args = parser.parse_args()
    rows = load(args.data, args.split, args.limit)
    settings = Settings.from_env({}, torch_threads=2)
    scorer = ToxicityScorer.from_settings(settings)
    started = time.perf_counter()
    drops = drops_for(scorer, [text for _, text in rows], settings.batch_size)
    seconds = time.perf_counter() - started
    print(f"split={args.split} texts={len(rows)} model={scorer.name}@{scorer.version} seconds={seconds:.0f}")
    print(f"span F1 (RATIO={RATIO}, MIN_DROP={MIN_DROP}): {mean_f1(rows, drops, RATIO, MIN_DROP):.4f}")
    if args.grid:
        for ratio in (0.2, 0.3, 0.35, 0.4, 0.5, 0.6):
            for min_drop in (0.05, 0.1, 0.2, 0.4):
                f1 = mean_f1(rows, drops, ratio, min_drop)
                print(f"  ratio={ratio:<5} min_drop={min_drop:<5} F1={f1:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
