"""Score texts with Jigsaw-trained teachers for distillation; their mean per label is the soft target.

Two MIT-licensed PyPI packages trained on the 160k-comment Jigsaw data: ``tox-block`` (BiLSTM + GloVe)
and ``toxic-comment-classifier`` (BiLSTM). Training time only, never a runtime dependency. They need
TensorFlow, so each runs in its own subprocess of a separate virtual environment::

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu tf-keras keras-preprocessing pandas scikit-learn joblib h5py
    /tmp/tfenv/bin/pip install --no-deps tox-block==0.1.2 toxic-comment-classifier==0.3.0
    /tmp/tfenv/bin/python -m workers.training.tox_teacher tox-block IN.jsonl OUT.jsonl

tox-block needs the legacy Keras 2 API (``TF_USE_LEGACY_KERAS=1``), toxic-comment-classifier Keras 3,
hence one process each. Both load their bundled files in their own formats (joblib, a pickled Keras
tokenizer); none of that ends up in our artifacts. IN has one JSON string per line; OUT gets one JSON
object per line with the Detoxify label names, rounded to 4 decimals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

TEACHER_LABELS = {
    "toxic": "toxicity",
    "severe_toxic": "severe_toxicity",
    "obscene": "obscene",
    "threat": "threat",
    "insult": "insult",
    "identity_hate": "identity_attack",
}
# name -> extra environment of its subprocess
TEACHERS: dict[str, dict[str, str]] = {
    "tox-block": {"TF_USE_LEGACY_KERAS": "1"},
    "toxic-comment-classifier": {},
}
Scorer = Callable[[list[str]], list[dict[str, float]]]  # texts -> the teacher's own label names
DESCRIPTION = "mean of tox-block 0.1.2 and toxic-comment-classifier 0.3.0 (Jigsaw BiLSTMs)"


def run_teacher(texts: list[str], python: str, work: Path) -> list[dict[str, float]]:
    """Mean teacher scores for ``texts``, running each teacher in ``python``; cached in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    src = work / "teacher_in.jsonl"
    payload = "".join(json.dumps(t) + "\n" for t in texts)
    fresh = not src.exists() or src.read_text(encoding="utf-8") != payload
    if fresh:
        src.write_text(payload, encoding="utf-8")
    per_teacher = []
    for name, extra in TEACHERS.items():
        dst = work / f"teacher_{name}.jsonl"
        if fresh or not dst.exists():
            _run_one(name, extra, python, src, dst)
        per_teacher.append(_read_scores(dst))
    return mean_scores(per_teacher)


def mean_scores(per_teacher: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Label-wise mean over teachers, row by row."""
    rows = len(per_teacher[0])
    if any(len(scores) != rows for scores in per_teacher):
        raise ValueError("teachers scored different numbers of texts")
    labels = TEACHER_LABELS.values()
    return [
        {label: sum(scores[i][label] for scores in per_teacher) / len(per_teacher) for label in labels}
        for i in range(rows)
    ]


def _run_one(name: str, extra: dict[str, str], python: str, src: Path, dst: Path) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **extra)
    root = Path(__file__).resolve().parents[2]
    cmd = [python, "-m", "workers.training.tox_teacher", name, str(src), str(dst)]
    subprocess.run(cmd, check=True, env=env, cwd=root, stdout=subprocess.DEVNULL)


def _read_scores(path: Path) -> list[dict[str, float]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _tox_block() -> Scorer:
    from tox_block.prediction import make_predictions  # the teacher venv only

    def score(texts: list[str]) -> list[dict[str, float]]:
        result = make_predictions(texts, rescale=False)
        return [{old: float(result[i][old]) for old in TEACHER_LABELS} for i in range(len(texts))]

    return score


def _toxic_comment_classifier() -> Scorer:
    from tensorflow.keras.preprocessing.sequence import pad_sequences  # the teacher venv only
    from toxic_classifier.model import LIST_CLASSES, MAXLEN, ToxicCommentClassifier
    from toxic_classifier.utils import clean_text

    teacher = ToxicCommentClassifier()  # loaded once per file

    def score(texts: list[str]) -> list[dict[str, float]]:
        sequences = teacher.tokenizer.texts_to_sequences([clean_text(t) for t in texts])
        probs = teacher.model.predict(pad_sequences(sequences, maxlen=MAXLEN), batch_size=1024, verbose=0)
        return [{label: float(row[j]) for j, label in enumerate(LIST_CLASSES)} for row in probs]

    return score


def _score_file(name: str, src: Path, dst: Path, batch: int = 4096) -> None:
    score = {"tox-block": _tox_block, "toxic-comment-classifier": _toxic_comment_classifier}[name]()
    with src.open(encoding="utf-8") as handle:
        texts = [json.loads(line) for line in handle]
    with dst.open("w", encoding="utf-8") as out:
        for start in range(0, len(texts), batch):
            chunk = [t if t.strip() else "." for t in texts[start : start + batch]]
            for row in score(chunk):
                clipped = {new: round(min(max(row[old], 0.0), 1.0), 4) for old, new in TEACHER_LABELS.items()}
                out.write(json.dumps(clipped) + "\n")


if __name__ == "__main__":
    _score_file(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
