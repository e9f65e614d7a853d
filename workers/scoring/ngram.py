"""A character n-gram model blended into a transformer's toxicity score (``commentmod-e5``).

A hashed n-gram logistic regression (the spam model's features: byte 3- to 5-grams, words and word pairs
of the folded text, ``spam.featurise_many``) reads surface forms the fine-tuned encoder smooths over:
spellings, compounds, Korean curse syllables. Its logit is blended into the model's toxicity logit,

    toxicity = sigmoid((1 - w) * logit(p_model) + w * z_ngram)

with ``w`` chosen on the held-back dev splits (``commentmod train ngram``, docs/evaluation.md
"Per language"). Only ``toxicity`` is blended; the other labels stay the model's own. The weights ship
next to the model's trained tensors (``ngram_toxicity.npz``, fp16, no pickle) with their sha256 and ``w``
under ``ngram`` in its ``manifest.json``; a model whose manifest has no ``ngram`` entry is not blended.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.core.normalize import fold
from workers.scoring.spam import linear_logits

NGRAM_FILE = "ngram_toxicity.npz"
LABEL = "toxicity"
_EPS = 1e-6


class NgramError(ValueError):
    """The n-gram file does not match its manifest entry."""


@dataclass(frozen=True, slots=True)
class NgramBlend:
    weights: np.ndarray  # float32, one per hashed feature (2 ** dim_bits)
    bias: float
    dim_bits: int
    weight: float  # the n-gram logit's share of the blended logit
    sha256: str

    @property
    def version(self) -> str:
        return f"ng{self.sha256[:8]}w{self.weight:g}"

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """The n-gram model's logit per text (features of the folded text, like the encoder reads)."""
        return linear_logits([fold(t) for t in texts], self.weights, self.bias, self.dim_bits)

    def blend(self, probabilities: Sequence[float], texts: Sequence[str]) -> list[float]:
        """The blended toxicity probability of each text from the model's own ``probabilities``."""
        z = blended_logits(probabilities, self.logits(texts), self.weight)
        return [float(v) for v in 1.0 / (1.0 + np.exp(-z))]

    def apply(self, rows: list[dict[str, float]], texts: Sequence[str]) -> list[dict[str, float]]:
        """``rows`` (label -> probability per text) with ``toxicity`` blended, in place."""
        if rows and self.weight > 0:
            blended = self.blend([row[LABEL] for row in rows], texts)
            for row, value in zip(rows, blended, strict=True):
                row[LABEL] = value
        return rows


def blended_logits(probabilities: Sequence[float], ngram_logits: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * logit(p_model) + weight * z_ngram`` per text (the blend, before the sigmoid)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1 - _EPS)
    return np.asarray((1 - weight) * np.log(p / (1 - p)) + weight * ngram_logits)


def save_ngram(folder: Path, weights: np.ndarray, bias: float) -> str:
    """Write ``ngram_toxicity.npz`` (fp16 weights, fp32 bias) into ``folder``; returns its sha256."""
    path = folder / NGRAM_FILE
    with path.open("wb") as handle:
        np.savez(handle, weights=weights.astype(np.float16), bias=np.asarray([bias], dtype=np.float32))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_blend(folder: Path, manifest: dict[str, Any]) -> NgramBlend | None:
    """The blend ``manifest`` names (its ``ngram`` entry), hash-checked; None when it names none."""
    entry = manifest.get("ngram")
    if not entry:
        return None
    path = folder / str(entry["file"])
    raw = path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    if sha != entry["sha256"]:
        raise NgramError(f"{path}: sha256 {sha[:12]} does not match the manifest's {entry['sha256'][:12]}")
    dim_bits = int(entry["dim_bits"])
    with np.load(path, allow_pickle=False) as npz:
        weights = npz["weights"].astype(np.float32)
        bias = float(npz["bias"][0])
    if weights.shape != (1 << dim_bits,):
        raise NgramError(f"{path}: {weights.shape[0]} weights, expected 2**{dim_bits}")
    return NgramBlend(weights, bias, dim_bits, float(entry["weight"]), sha)
