"""Which words drove the toxicity score: occlude each word, re-score every variant in one batch.

A word is part of a toxic span when removing it lowers the toxicity logit by at least ``ratio`` of the
largest drop any single word causes (and by at least ``min_drop``). Logits, not probabilities: in a
comment with several insults each removal barely moves a saturated probability (0.98 -> 0.97), while
the logit still shows which words carry the score. Spans are character offsets into
the body exactly as sent; adjacent toxic words are merged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Protocol

WORD = re.compile(r"[^\W_]+(?:['’*@$][^\W_]+)*")  # words, keeping "don't" and "f*ck" whole
MAX_WORDS = 120  # longer comments: only the first 120 words are occluded (cost is one pass per word)
RATIO = 0.5
MIN_DROP = 0.05


class Scorer(Protocol):
    def score(self, texts: Sequence[str]) -> list[dict[str, float]]: ...


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def word_offsets(text: str, limit: int = MAX_WORDS) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for match in WORD.finditer(text):
        out.append((match.start(), match.end()))
        if len(out) >= limit:
            break
    return out


def pick(drops: Sequence[float], ratio: float = RATIO, min_drop: float = MIN_DROP) -> list[int]:
    """Indices of the words whose removal lowered the score enough."""
    top = max(drops, default=0.0)
    if top < min_drop:
        return []
    return [i for i, drop in enumerate(drops) if drop >= max(min_drop, ratio * top)]


def merge(text: str, spans: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Join spans separated only by spaces (``"stupid idiot"`` is one span)."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and not text[merged[-1][1] : start].strip():
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return merged


def toxic_spans(scorer: Scorer, texts: Sequence[str], label: str = "toxicity") -> list[list[list[int]]]:
    """Spans per text, with every occluded variant of every text scored in one batch."""
    words = [word_offsets(text) for text in texts]
    variants: list[str] = []
    for text, offsets in zip(texts, words, strict=True):
        variants.append(text)
        variants += [text[:s] + " " + text[e:] for s, e in offsets]
    scores = [logit(row.get(label, 0.0)) for row in scorer.score(variants)]
    out: list[list[list[int]]] = []
    at = 0
    for text, offsets in zip(texts, words, strict=True):
        base, rest = scores[at], scores[at + 1 : at + 1 + len(offsets)]
        at += 1 + len(offsets)
        chosen = pick([base - s for s in rest])
        out.append(merge(text, [offsets[i] for i in chosen]))
    return out


def span_f1(predicted: set[int], gold: set[int]) -> float:
    """SemEval-2021 Task 5 per-text F1 over character offsets (1.0 when both are empty)."""
    if not gold and not predicted:
        return 1.0
    if not gold or not predicted:
        return 0.0
    overlap = len(predicted & gold)
    precision, recall = overlap / len(predicted), overlap / len(gold)
    return 0.0 if overlap == 0 else 2 * precision * recall / (precision + recall)
