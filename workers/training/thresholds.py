"""``commentmod train thresholds``: per-language toxicity thresholds for the multilingual model.

Thresholds apply to the score the worker records: with the n-gram blend when the manifest has one
(``commentmod train ngram`` first, then this).

Like the English threshold (chosen on UCC val), each language's is chosen on dev data: the lowest
threshold at which at most ``--max-clean-held`` (5 %) of that language's clean dev comments would be held.
Dev data are the held-back splits of the ``training ok`` sets, which training never reads (``DEV_SETS``).
The command prints precision and recall at the chosen thresholds on the dev splits and writes them into the
model's ``manifest.json`` (``thresholds``) with ``--write``; the manifest's sha256 checks cover the
trained tensors, not this field, so thresholds can be re-chosen without retraining.

    commentmod train thresholds --data ../shared/data [--model workers/scoring/assets/multilingual] --write
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from workers.training.tox_data import _rows

# language -> (folder, split) pairs of held-back dev rows
DEV_SETS: dict[str, tuple[tuple[str, str], ...]] = {
    "de": (("germeval2018_offense_de", "test"),),
    "pt": (("told_br_pt", "val"),),
    "ko": (("kmhas_ko", "val"), ("korean_curse_ko", "val")),
}
MAX_CLEAN_HELD = 0.05


def choose_threshold(clean: list[float], max_clean_held: float = MAX_CLEAN_HELD) -> float:
    """The lowest threshold (3 decimals, rounded up) holding at most ``max_clean_held`` of ``clean``."""
    if not clean:
        raise ValueError("no clean rows to choose a threshold on")
    ordered = sorted(clean, reverse=True)
    allowed = math.floor(max_clean_held * len(ordered))
    above = ordered[allowed] if allowed < len(ordered) else 0.0  # the highest score that must publish
    return min(1.0, math.floor(above * 1000) / 1000 + 0.001)


def precision_recall(scores: list[float], labels: list[int], threshold: float) -> dict[str, float]:
    """Precision, recall and the share of clean rows held at ``threshold``."""
    held = [label for score, label in zip(scores, labels, strict=True) if score >= threshold]
    positives = sum(labels)
    clean = len(labels) - positives
    return {
        "precision": round(sum(held) / len(held), 3) if held else float("nan"),
        "recall": round(sum(held) / positives, 3) if positives else float("nan"),
        "clean_held": round((len(held) - sum(held)) / clean, 3) if clean else float("nan"),
        "rows": len(labels),
    }


def dev_rows(data: Path, language: str) -> tuple[list[str], list[int]]:
    """A language's dev texts and labels; none for a language without dev sets."""
    texts: list[str] = []
    labels: list[int] = []
    for folder, split in DEV_SETS.get(language, ()):
        path = data / folder / "normalized.csv"
        for row in _rows(path) if path.is_file() else ():
            if row["split"] == split and row["text"].strip():
                texts.append(row["text"])
                labels.append(int(row["label_binary"] == "1"))
    return texts, labels


def model_scorer(model: Path, models_dir: Path, blended: bool = True) -> Any:
    """A ``ToxicityScorer`` for the multilingual model in ``model`` (assembled under ``models_dir``), with
    the n-gram blend its manifest names when ``blended``."""
    from workers.scoring.multimodel import NAME, builtin_e5
    from workers.scoring.ngram import load_blend
    from workers.scoring.toxicity import ToxicityScorer, load_detoxify

    manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    checkpoint, config_dir = builtin_e5(models_dir, assets=model)
    blend = load_blend(model, manifest) if blended else None
    return ToxicityScorer(load_detoxify(checkpoint, config_dir), NAME, manifest["version"], blend=blend)


def calibrate(data: Path, model: Path, models_dir: Path, max_clean_held: float) -> dict[str, Any]:
    """Score each language's dev rows with the model in ``model`` and choose its threshold."""
    languages = json.loads((model / "manifest.json").read_text(encoding="utf-8"))["languages"]
    scorer = model_scorer(model, models_dir)
    out: dict[str, Any] = {}
    for language in languages:
        texts, labels = dev_rows(data, language)
        if not texts:
            continue
        scores = [row["toxicity"] for row in scorer.score(texts)]
        threshold = choose_threshold(
            [s for s, y in zip(scores, labels, strict=True) if not y], max_clean_held
        )
        out[language] = {"toxicity": threshold, **precision_recall(scores, labels, threshold)}
    return out


def run(args: argparse.Namespace) -> int:
    chosen = calibrate(args.data, args.model, args.models_dir, args.max_clean_held)
    print("| language | dev rows | threshold | precision | recall | clean held |\n|---|---|---|---|---|---|")
    for language, row in chosen.items():
        print(
            f"| {language} | {row['rows']} | {row['toxicity']:.3f} | {row['precision']:.3f} "
            f"| {row['recall']:.3f} | {row['clean_held']:.1%} |"
        )
    if args.write:
        path = args.model / "manifest.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["thresholds"] = {code: {"toxicity": row["toxicity"]} for code, row in chosen.items()}
        manifest["threshold_dev"] = {
            "max_clean_held": args.max_clean_held,
            "sets": {code: [f"{folder}:{split}" for folder, split in DEV_SETS[code]] for code in chosen},
            "measured": chosen,
        }
        path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        print(f"wrote thresholds into {path}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``thresholds`` to the ``train`` subcommands."""
    from workers.scoring.multimodel import ASSETS

    parser = subparsers.add_parser(
        "thresholds", help="choose the multilingual model's per-language thresholds"
    )
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--model", type=Path, default=ASSETS, help="folder with the model's manifest.json")
    parser.add_argument(
        "--models-dir", type=Path, default=Path("var/models"), help="assembled models go here"
    )
    parser.add_argument("--max-clean-held", type=float, default=MAX_CLEAN_HELD)
    parser.add_argument("--write", action="store_true", help="write the thresholds into the manifest")
    parser.set_defaults(func=run)
