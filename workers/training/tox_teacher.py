"""Score texts with a Jigsaw-trained teacher (PyPI ``tox-block``, MIT) for distillation.

Training time only, never a runtime dependency. The teacher needs TensorFlow, so it runs in its own
virtual environment as a subprocess::

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu tf-keras keras-preprocessing pandas scikit-learn joblib
    /tmp/tfenv/bin/pip install --no-deps tox-block==0.1.2
    TF_USE_LEGACY_KERAS=1 /tmp/tfenv/bin/python -m workers.training.tox_teacher IN.jsonl OUT.jsonl

(tox-block loads its own bundled model files with joblib; that is the teacher package's format and
none of it ends up in our artifacts.) IN has one JSON string per line; OUT gets one JSON object per
line with the Detoxify label names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TEACHER_LABELS = {
    "toxic": "toxicity",
    "severe_toxic": "severe_toxicity",
    "obscene": "obscene",
    "threat": "threat",
    "insult": "insult",
    "identity_hate": "identity_attack",
}


def run_teacher(texts: list[str], python: str, work: Path) -> list[dict[str, float]]:
    """Score ``texts`` with the teacher in the interpreter ``python``; cached in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    src, dst = work / "teacher_in.jsonl", work / "teacher_out.jsonl"
    payload = "".join(json.dumps(t) + "\n" for t in texts)
    if src.exists() and dst.exists() and src.read_text(encoding="utf-8") == payload:
        return _read_scores(dst)
    src.write_text(payload, encoding="utf-8")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    root = Path(__file__).resolve().parents[2]
    cmd = [python, "-m", "workers.training.tox_teacher", str(src), str(dst)]
    subprocess.run(cmd, check=True, env=env, cwd=root, stdout=subprocess.DEVNULL)
    return _read_scores(dst)


def _read_scores(path: Path) -> list[dict[str, float]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _score_file(src: Path, dst: Path, batch: int = 4096) -> None:
    from tox_block.prediction import make_predictions  # the teacher venv only

    with src.open(encoding="utf-8") as handle:
        texts = [json.loads(line) for line in handle]
    with dst.open("w", encoding="utf-8") as out:
        for start in range(0, len(texts), batch):
            chunk = [t if t.strip() else "." for t in texts[start : start + batch]]
            result = make_predictions(chunk, rescale=False)
            for i in range(len(chunk)):
                row = result[i]
                scores = {new: min(max(float(row[old]), 0.0), 1.0) for old, new in TEACHER_LABELS.items()}
                out.write(json.dumps(scores) + "\n")


if __name__ == "__main__":
    _score_file(Path(sys.argv[1]), Path(sys.argv[2]))
