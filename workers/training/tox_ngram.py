"""``commentmod train ngram``: the character n-gram model blended into the multilingual toxicity score.

Fits a hashed n-gram logistic regression (``workers/scoring/ngram.py``: the spam model's features on the
folded text) on the same ``training ok`` rows the multilingual model was trained on (its manifest's
``languages``; ``tox_multilingual.load_language_rows``), then chooses the blend weight ``w`` on the
held-back dev splits that training never reads (``thresholds.DEV_SETS``): the ``w`` of ``WEIGHTS`` with
the best mean ROC-AUC over the languages. Deterministic (lbfgs on fixed rows), no seed needed. With
``--write`` it writes ``ngram_toxicity.npz`` next to the model's tensors and the ``ngram`` entry of its
``manifest.json``; choose the thresholds again afterwards (``commentmod train thresholds --write``).

    commentmod train ngram --data ../shared/data [--model workers/scoring/assets/multilingual] --write
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from workers.training.thresholds import DEV_SETS, dev_rows

DIM_BITS = 18  # 262,144 hashed features: 512 KB of fp16 weights
C = 4.0  # inverse L2 strength; 4 and 10 measured within 0.003 dev AUC of each other
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def features(texts: list[str], dim_bits: int = DIM_BITS) -> Any:
    """CSR matrix of the n-gram features the scorer computes (``NgramBlend.logits``: the folded text)."""
    from service.core.normalize import fold
    from workers.training.spam import matrix

    return matrix([fold(t) for t in texts], dim_bits)


def fit(texts: list[str], labels: list[int], c: float = C) -> tuple[np.ndarray, float]:
    """Logistic-regression weights (one per hashed feature) and bias."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=3000).fit(features(texts), labels)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def choose_weight(
    dev: dict[str, tuple[list[float], np.ndarray, list[int]]],
) -> tuple[float, dict[str, dict[str, float]]]:
    """The blend weight with the best mean dev ROC-AUC; ``dev`` maps a language to the model's
    probabilities, the n-gram logits and the labels of its dev rows. Returns it with every AUC."""
    from sklearn.metrics import roc_auc_score

    from workers.scoring.ngram import blended_logits

    table: dict[str, dict[str, float]] = {}
    for w in WEIGHTS:
        row = {}
        for language, (probs, z, labels) in dev.items():
            row[language] = round(float(roc_auc_score(labels, blended_logits(probs, z, w))), 4)
        table[f"{w:g}"] = row
    best = max(WEIGHTS, key=lambda w: (np.mean(list(table[f"{w:g}"].values())), -w))
    return best, table


def _dev_scores(
    data: Path, model: Path, models_dir: Path, languages: list[str], weights: np.ndarray, bias: float
) -> dict[str, tuple[list[float], np.ndarray, list[int]]]:
    """Each language's dev rows scored by the model alone (no blend) and by the n-gram weights."""
    from workers.scoring.ngram import NgramBlend
    from workers.training.thresholds import model_scorer

    scorer = model_scorer(model, models_dir, blended=False)
    ngram = NgramBlend(weights, bias, DIM_BITS, 1.0, "")
    out = {}
    for language in languages:
        texts, labels = dev_rows(data, language)
        if texts and 0 < sum(labels) < len(labels):
            probs = [row["toxicity"] for row in scorer.score(texts)]
            out[language] = (probs, ngram.logits(texts), labels)
    return out


def train(data: Path, model: Path, models_dir: Path) -> tuple[dict[str, Any], np.ndarray, float]:
    """Fit on the model's languages' training rows and choose the weight on their dev rows: the
    manifest's ``ngram`` entry (without file hash), the weights (fp16-rounded, as shipped) and bias."""
    from workers.scoring.ngram import NGRAM_FILE
    from workers.training.tox_multilingual import load_language_rows

    languages = json.loads((model / "manifest.json").read_text(encoding="utf-8"))["languages"]
    rows = load_language_rows(data, list(languages))
    if not rows:
        raise SystemExit(f"no training rows for {languages} under {data}")
    weights, bias = fit([r.text for r in rows], [int(r.targets["toxicity"]) for r in rows])
    weights = weights.astype(np.float16).astype(np.float32)
    dev = _dev_scores(data, model, models_dir, list(languages), weights, bias)
    if not dev:
        raise SystemExit(f"no dev rows with both labels for {languages} under {data} (thresholds.DEV_SETS)")
    weight, table = choose_weight(dev)
    entry = {
        "file": NGRAM_FILE,
        "dim_bits": DIM_BITS,
        "weight": weight,
        "c": C,
        "rows": len(rows),
        "dev_sets": {code: [f"{folder}:{split}" for folder, split in DEV_SETS[code]] for code in dev},
        "dev_auc": table,
    }
    return entry, weights, bias


def run(args: argparse.Namespace) -> int:
    from workers.scoring.ngram import save_ngram

    entry, weights, bias = train(args.data, args.model, args.models_dir)
    languages = sorted(next(iter(entry["dev_auc"].values())))
    print("| w | " + " | ".join(f"{code} dev AUC" for code in languages) + " |")
    print("|---|" + "---|" * len(languages))
    for w, row in entry["dev_auc"].items():
        mark = " (chosen)" if float(w) == entry["weight"] else ""
        print(f"| {w}{mark} | " + " | ".join(f"{row[code]:.4f}" for code in languages) + " |")
    if not args.write:
        return 0
    entry["sha256"] = save_ngram(args.model, weights, bias)
    path = args.model / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["ngram"] = entry
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {entry['file']} and the ngram entry of {path}; now: commentmod train thresholds --write")
    return 0


def register(subparsers: Any) -> None:
    """Add ``ngram`` to the ``train`` subcommands."""
    from workers.scoring.multimodel import ASSETS

    parser = subparsers.add_parser("ngram", help="fit the n-gram model blended into the multilingual one")
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--model", type=Path, default=ASSETS, help="folder with the model's manifest.json")
    parser.add_argument(
        "--models-dir", type=Path, default=Path("var/models"), help="assembled models go here"
    )
    parser.add_argument("--write", action="store_true", help="write the weights and manifest entry")
    parser.set_defaults(func=run)
