"""``commentmod train spam``: fit the hashed n-gram spam model and write its assets + manifest.

Trains on the three ``training ok`` spam sets (YouTube comments, SMS, SpamAssassin). Cross-validation
gives out-of-fold logits: YouTube grouped by video (leave one video out), SMS and SpamAssassin in 5 folds
grouped by normalised text (their duplicates must not straddle folds). The out-of-fold logits fit the
Platt calibration, with the body-only signals added as an offset so that the combined score stays
calibrated. Heavy libraries are imported inside functions.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SETS = {"youtube": "youtube_spam_collection", "sms": "sms_spam_collection", "spamassassin": "spamassassin"}
# Share of the total training weight per set: YouTube comments are the closest to our domain.
SET_WEIGHT = {"youtube": 0.5, "sms": 0.25, "spamassassin": 0.25}
DEFAULT_C = 8.0


@dataclass
class SpamData:
    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


def load_set(data_dir: Path, name: str, limit: int | None = None) -> SpamData:
    """Rows with a binary label from ``<data>/<folder>/normalized.csv``; group = video or text hash."""
    from workers.scoring.spam import normalise

    csv.field_size_limit(sys.maxsize)
    out = SpamData()
    with (data_dir / SETS[name] / "normalized.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["label_binary"] not in {"0", "1"}:
                continue
            text = row["text"]
            out.texts.append(text)
            out.labels.append(int(row["label_binary"]))
            out.sets.append(name)
            key = normalise(text).lower()
            out.groups.append(
                row["split"] if name == "youtube" else hashlib.sha256(key.encode()).hexdigest()[:16]
            )
    if limit is not None and limit < len(out.texts):
        out = _subsample(out, limit)
    return out


def _subsample(d: SpamData, limit: int) -> SpamData:
    import numpy as np

    keep = sorted(np.random.default_rng(0).choice(len(d.texts), size=limit, replace=False).tolist())
    return SpamData(*([col[i] for i in keep] for col in (d.texts, d.labels, d.sets, d.groups)))


def load_all(data_dir: Path, limit: int | None = None) -> SpamData:
    out = SpamData()
    for name in SETS:
        part = load_set(data_dir, name, limit)
        for attr in ("texts", "labels", "sets", "groups"):
            getattr(out, attr).extend(getattr(part, attr))
    return out


def sample_weights(sets: list[str]) -> Any:
    import numpy as np

    arr = np.asarray(sets)
    w = np.zeros(len(arr))
    for name, share in SET_WEIGHT.items():
        mask = arr == name
        if mask.any():
            w[mask] = share / mask.sum()
    return w * len(arr) / w.sum()


def matrix(texts: list[str], dim_bits: int) -> Any:
    from scipy.sparse import csr_matrix

    from workers.scoring.spam import featurise_many

    indptr, indices, data = featurise_many(texts, dim_bits)
    return csr_matrix((data, indices, indptr), shape=(len(texts), 1 << dim_bits))


def fit(x: Any, y: Any, w: Any, c: float, seed: int) -> tuple[Any, float]:
    """L2 logistic regression; returns (weights, bias)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, solver="liblinear", max_iter=200, random_state=seed)
    model.fit(x, y, sample_weight=w)
    return model.coef_[0].astype("float32"), float(model.intercept_[0])


def folds(d: SpamData, seed: int) -> list[tuple[Any, Any]]:
    """(train_idx, test_idx) pairs: each row is tested exactly once, always against other sets too."""
    import numpy as np
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    sets, groups = np.asarray(d.sets), np.asarray(d.groups)
    out = []
    for name in SETS:
        rows = np.flatnonzero(sets == name)
        if len(rows) == 0:
            continue
        splitter: Any = LeaveOneGroupOut() if name == "youtube" else GroupKFold(n_splits=5)
        for _, test in splitter.split(rows, groups=groups[rows]):
            test_idx = rows[test]
            out.append((np.setdiff1d(np.arange(len(sets)), test_idx), test_idx))
    return out


def oof_logits(d: SpamData, x: Any, c: float, seed: int, dim_bits: int) -> Any:
    """Out-of-fold raw logits for every row of ``d``."""
    import numpy as np

    y, w = np.asarray(d.labels), sample_weights(d.sets)
    z = np.zeros(len(y))
    for train, test in folds(d, seed):
        coef, bias = fit(x[train], y[train], w[train], c, seed)
        z[test] = x[test] @ coef + bias
    return z


def body_offsets(texts: list[str]) -> Any:
    import numpy as np

    from workers.scoring.spam import body_signals

    return np.asarray([sum(s.weight for s in body_signals(t)) for t in texts])


def platt(z: Any, offset: Any, y: Any, w: Any, iters: int = 50) -> tuple[float, float]:
    """Fit p = sigmoid(a*z + b + offset) by weighted Newton steps on the log loss."""
    import numpy as np

    a, b = 1.0, 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(a * z + b + offset)))
        g = np.array([np.sum(w * (p - y) * z), np.sum(w * (p - y))])
        s = w * p * (1 - p)
        h = np.array([[np.sum(s * z * z), np.sum(s * z)], [np.sum(s * z), np.sum(s)]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(a), float(b)


def combined(z: Any, offset: Any, a: float, b: float) -> Any:
    import numpy as np

    return 1.0 / (1.0 + np.exp(-(a * z + b + offset)))


def metrics(y: Any, score: Any, threshold: float) -> dict[str, float]:
    """ROC-AUC, PR-AUC, precision and recall at ``threshold``."""
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, score = np.asarray(y), np.asarray(score)
    pred = score >= threshold
    tp = float(np.sum(pred & (y == 1)))
    both = len(set(y.tolist())) == 2
    return {
        "rows": float(len(y)),
        "positive_rate": float(np.mean(y)) if len(y) else 0.0,
        "roc_auc": float(roc_auc_score(y, score)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, score)) if both else float("nan"),
        "precision": tp / pred.sum() if pred.sum() else float("nan"),
        "recall": tp / (y == 1).sum() if (y == 1).sum() else float("nan"),
    }


def precision_at_prevalence(y: Any, score: Any, threshold: float, prevalence: float) -> float:
    """Precision if spam made up ``prevalence`` of the traffic (reweights TPR and FPR)."""
    import numpy as np

    y, pred = np.asarray(y), np.asarray(score) >= threshold
    tpr = float(np.mean(pred[y == 1])) if (y == 1).any() else 0.0
    fpr = float(np.mean(pred[y == 0])) if (y == 0).any() else 0.0
    hit = tpr * prevalence + fpr * (1 - prevalence)
    return tpr * prevalence / hit if hit else float("nan")


def choose_threshold(y: Any, score: Any, prevalence: float = 0.1, target: float = 0.9) -> float:
    """Lowest threshold on a 0.05 grid whose precision at ``prevalence`` reaches ``target``."""
    grid = [round(0.05 * i, 2) for i in range(2, 20)]
    for t in grid:
        if precision_at_prevalence(y, score, t, prevalence) >= target:
            return t
    return grid[-1]


def cross_validate(d: SpamData, c: float, seed: int, dim_bits: int) -> dict[str, Any]:
    """Out-of-fold logits, body offsets, calibration and per-set metrics."""
    import numpy as np

    x = matrix(d.texts, dim_bits)
    z = oof_logits(d, x, c, seed, dim_bits)
    offset = body_offsets(d.texts)
    y, w = np.asarray(d.labels), sample_weights(d.sets)
    a, b = platt(z, offset, y, w)
    score = combined(z, offset, a, b)
    yt = np.asarray(d.sets) == "youtube"
    threshold = choose_threshold(y[yt], score[yt]) if yt.any() else 0.8
    sets = np.asarray(d.sets)
    per_set = {}
    for name in SETS:
        m = sets == name
        if m.any():
            per_set[name] = metrics(y[m], score[m], threshold)
            per_set[name]["roc_auc_text_only"] = metrics(y[m], z[m], 0.0)["roc_auc"]
    groups = np.asarray(d.groups)
    per_video = {
        g: metrics(y[yt & (groups == g)], score[yt & (groups == g)], threshold)["roc_auc"]
        for g in sorted(set(groups[yt].tolist()))
    }
    return {
        "x": x,
        "z": z,
        "offset": offset,
        "score": score,
        "a": a,
        "b": b,
        "threshold": threshold,
        "per_set": per_set,
        "youtube_per_video_roc_auc": per_video,
    }


def write_assets(out: Path, coef: Any, bias: float, info: dict[str, Any]) -> Path:
    """Write ``spam_weights.npz`` (no pickle) and ``spam_manifest.json`` with its sha256."""
    import numpy as np

    from workers.scoring.spam import MANIFEST, sha256_file

    out.mkdir(parents=True, exist_ok=True)
    weights = out / "spam_weights.npz"
    np.savez_compressed(weights, weights=coef.astype(np.float32), bias=np.asarray([bias], np.float32))
    digest = sha256_file(weights)
    manifest = {
        "version": f"spam-hashlr-{digest[:12]}",
        "weights_file": weights.name,
        "weights_sha256": digest,
        **info,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out / MANIFEST


def train(
    data_dir: Path, out: Path, seed: int, c: float = DEFAULT_C, limit: int | None = None
) -> dict[str, Any]:
    """Cross-validate, fit on everything, write the assets; returns the manifest's info part."""
    import numpy as np

    from workers.scoring.spam import DIM_BITS

    started = time.time()
    d = load_all(data_dir, limit)
    cv = cross_validate(d, c, seed, DIM_BITS)
    coef, bias = fit(cv["x"], np.asarray(d.labels), sample_weights(d.sets), c, seed)
    info = {
        "dim_bits": DIM_BITS,
        "C": c,
        "seed": seed,
        "set_weight": SET_WEIGHT,
        "calibration": {"a": cv["a"], "b": cv["b"], "fit_on": "out-of-fold logits + body-signal offsets"},
        "recommended_threshold": cv["threshold"],
        "cv": {
            "scheme": "youtube: leave-one-video-out; sms, spamassassin: 5-fold grouped by text",
            "per_set": cv["per_set"],
            "youtube_per_video_roc_auc": cv["youtube_per_video_roc_auc"],
        },
        "rows": {name: d.sets.count(name) for name in SETS},
        "trained_seconds": round(time.time() - started, 1),
    }
    write_assets(out, coef, bias, info)
    return info


def _run(args: argparse.Namespace) -> int:
    info = train(Path(args.data), Path(args.out), args.seed, args.C, args.limit)
    print(f"threshold (precision >= 0.9 at 10% prevalence, YouTube OOF): {info['recommended_threshold']}")
    for name, m in info["cv"]["per_set"].items():
        print(
            f"{name:13s} rows={int(m['rows']):5d} roc_auc={m['roc_auc']:.4f} "
            f"(text only {m['roc_auc_text_only']:.4f}) pr_auc={m['pr_auc']:.4f} "
            f"precision={m['precision']:.3f} recall={m['recall']:.3f}"
        )
    videos = info["cv"]["youtube_per_video_roc_auc"].items()
    print("youtube per held-out video: " + ", ".join(f"{v} {auc:.4f}" for v, auc in videos))
    print(f"wrote {args.out}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``spam`` to the ``train`` subparsers."""
    from workers.scoring.spam import ASSETS

    p = subparsers.add_parser("spam", help="train the spam text model (YouTube, SMS, SpamAssassin)")
    p.add_argument("--data", required=True, help="folder with the labelled data sets (../shared/data)")
    p.add_argument("--out", default=str(ASSETS), help="where to write spam_weights.npz + spam_manifest.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--C", type=float, default=DEFAULT_C, help="inverse L2 strength")
    p.add_argument("--limit", type=int, default=None, help="rows per set (smoke runs)")
    p.set_defaults(func=_run)
