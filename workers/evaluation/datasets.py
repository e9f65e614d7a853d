"""The labelled sets the harness measures, read from a data folder (``../shared/data`` layout).

Each set says whether alt-profanity-check may fairly be scored on it: never on Davidson or the Jigsaw
slice, which are in that package's training data.
"""

from __future__ import annotations

import csv
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

UCC_VAL = "unhealthy_comments_corpus_ucc_val/val.csv"


@dataclass(frozen=True)
class EvalSet:
    name: str
    description: str
    texts: list[str]
    labels: list[int]
    profanity_fair: bool = True
    positives_only: bool = False


def read_rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _flag(row: dict[str, str], *columns: str) -> int:
    return int(any(float(row[c] or 0) >= 0.5 for c in columns))


def limit_rows(
    texts: list[str], labels: list[int], limit: int | None, seed: int = 0
) -> tuple[list[str], list[int]]:
    """A seeded sample of at most ``limit`` rows, stratified so both classes stay represented."""
    if limit is None or limit >= len(texts):
        return texts, labels
    rng = random.Random(seed)
    by_label: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(y, []).append(i)
    keep: list[int] = []
    for rows in by_label.values():
        keep += rng.sample(rows, max(1, round(limit * len(rows) / len(texts))))
    keep.sort()
    return [texts[i] for i in keep], [labels[i] for i in keep]


def _ucc(root: Path) -> list[EvalSet]:
    rows = read_rows(root / UCC_VAL)
    texts = [r["comment"] for r in rows]
    return [
        EvalSet(
            "ucc_unhealthy",
            "UCC val (news comments), unhealthy = healthy==0",
            texts,
            [1 - _flag(r, "healthy") for r in rows],
        ),
        EvalSet(
            "ucc_hostile",
            "UCC val, hostile or antagonize",
            texts,
            [_flag(r, "hostile", "antagonize") for r in rows],
        ),
    ]


def _normalized(
    folder: str,
    name: str,
    description: str,
    split: str | None = None,
    *,
    profanity_fair: bool = True,
    positives_only: bool = False,
) -> Callable[[Path], list[EvalSet]]:
    def load(root: Path) -> list[EvalSet]:
        rows = [
            r
            for r in read_rows(root / folder / "normalized.csv")
            if r["label_binary"] in {"0", "1"} and (split is None or r["split"] == split)
        ]
        return [
            EvalSet(
                name,
                description,
                [r["text"] for r in rows],
                [int(r["label_binary"]) for r in rows],
                profanity_fair,
                positives_only,
            )
        ]

    return load


TOXICITY_SETS: dict[str, Callable[[Path], list[EvalSet]]] = {
    UCC_VAL: _ucc,
    "olid_offenseval2019/normalized.csv": _normalized(
        "olid_offenseval2019", "olid_test", "OLID test split (tweets), OFF", "test"
    ),
    "tweeteval_hate/normalized.csv": _normalized(
        "tweeteval_hate", "tweeteval_hate_test", "TweetEval hate test split", "test"
    ),
    "hasoc2019_en/normalized.csv": _normalized(
        "hasoc2019_en", "hasoc2019", "HASOC 2019 EN (train+test, eval only), HOF"
    ),
    "ethos/normalized.csv": _normalized("ethos", "ethos", "ETHOS binary, isHate >= 0.5"),
    "davidson_hate_offensive/normalized.csv": _normalized(
        "davidson_hate_offensive", "davidson", "Davidson tweets, hate or offensive", profanity_fair=False
    ),
    "toxic_spans_civil_comments/normalized.csv": _normalized(
        "toxic_spans_civil_comments",
        "civil_comments_spans",
        "Civil Comments toxic posts (positives only)",
        positives_only=True,
    ),
}


def toxicity_sets(root: Path, limit: int | None = None, only_present: bool = False) -> list[EvalSet]:
    """Every toxicity set under ``root`` (``only_present``: skip missing files, for obfuscated copies)."""
    out: list[EvalSet] = []
    for path, load in TOXICITY_SETS.items():
        if only_present and not (root / path).exists():
            continue
        for s in load(root):
            texts, labels = limit_rows(s.texts, s.labels, limit)
            out.append(EvalSet(s.name, s.description, texts, labels, s.profanity_fair, s.positives_only))
    return out
