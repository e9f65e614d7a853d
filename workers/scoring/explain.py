"""Which words drove the toxicity score: occlude the likeliest words, re-score the variants in one batch.

A word is part of a toxic span when removing it lowers the toxicity logit by at least ``ratio`` of the
largest drop any occluded word causes (and by at least ``min_drop``). Logits, not probabilities: in a
comment with several insults each removal barely moves a saturated probability (0.98 -> 0.97), while
the logit still shows which words carry the score. Spans are character offsets into the body exactly as
sent; adjacent toxic words are merged.

Occluding every word costs one model pass per word. Only the words inside the ``CANDIDATES`` pieces of
text that score highest on their own are occluded in context (a piece is what folding reads as one
word, so ``st.upid`` counts whole; stand-alone scores are a few tokens each and memoised in
:class:`WordScores`). Settings chosen on the SemEval-2021 Task 5 trial split; on its test split this
scores ~5 variants per text instead of ~33 and span F1 rose from 0.631 to 0.645 (model 5358dfba3800):
context words whose removal happens to move the logit are no longer picked. Two candidate pieces
instead of four (model 0fc3d0e38ff2): 3.0 texts scored per explained text instead of 4.7, span F1
0.6494 against 0.6488 on test, 0.6330 against 0.6343 on trial (``scripts/eval_spans.py``). The worker
passes each comment's decision score as the base, so only the ~2 variants are scored (0.6473 on test).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Protocol

from service.core.normalize import fold_units

WORD = re.compile(r"[^\W_]+(?:['’*@$][^\W_]+)*")  # words, keeping "don't" and "f*ck" whole
MAX_WORDS = 120  # longer comments: only the first 120 words are candidates
CANDIDATES = 2  # pieces of text whose words are occluded in context: the most toxic on their own
CANDIDATE_FLOOR = -2.5  # stand-alone logit a piece needs to be a candidate
MAX_CANDIDATE_WORDS = 12
RATIO = 0.5
MIN_DROP = 0.05
CACHE_WORDS = 50_000


class Scorer(Protocol):
    def score(self, texts: Sequence[str]) -> list[dict[str, float]]: ...


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


class WordScores:
    """Stand-alone ``label`` logits of single words or pieces, memoised (bounded; one per model)."""

    def __init__(self, limit: int = CACHE_WORDS) -> None:
        self.limit = limit
        self._known: dict[str, float] = {}

    def logits(self, scorer: Scorer, words: Iterable[str], label: str = "toxicity") -> dict[str, float]:
        wanted = set(words)
        missing = sorted(w for w in wanted if w not in self._known)
        if missing:
            if len(self._known) + len(missing) > self.limit:
                self._known.clear()  # simple bound: words recur often enough to refill quickly
            rows = scorer.score(missing)
            self._known.update((w, logit(row.get(label, 0.0))) for w, row in zip(missing, rows, strict=True))
        return {w: self._known[w] for w in wanted}


def word_offsets(text: str, limit: int = MAX_WORDS) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for match in WORD.finditer(text):
        out.append((match.start(), match.end()))
        if len(out) >= limit:
            break
    return out


def candidates(
    text: str, offsets: Sequence[tuple[int, int]], alone: dict[str, float], k: int = CANDIDATES
) -> list[int]:
    """Indices (ascending) of the words inside the ``k`` pieces of ``text`` most toxic on their own.

    Pieces are what folding reads as one word (``fold_units``), so ``st.upid`` or ``i d i o t`` is
    judged whole although each of its words is harmless alone. ``alone`` maps piece -> logit."""
    units = [(s, e) for s, e in fold_units(text) if alone[text[s:e]] >= CANDIDATE_FLOOR]
    units = sorted(units, key=lambda u: -alone[text[u[0] : u[1]]])[:k]
    chosen: list[int] = []
    for start, end in units:
        chosen += [i for i, (s, e) in enumerate(offsets) if start <= s and e <= end]
    return sorted(chosen[:MAX_CANDIDATE_WORDS])


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


def occlusion_drops(
    scorer: Scorer,
    texts: Sequence[str],
    words: WordScores | None = None,
    label: str = "toxicity",
    bases: Sequence[float] | None = None,
) -> list[tuple[list[tuple[int, int]], list[float]]]:
    """Per text: its word offsets and each word's logit drop when occluded (0.0 for non-candidates).

    Two model calls in all: the unseen words alone, then the candidate variants, with each text itself
    unless ``bases`` gives its probability already (the decision's score: one text fewer to score;
    span F1 0.6473 against 0.6494 scoring it with its variants, 0.6334 against 0.6330 on trial)."""
    words = words if words is not None else WordScores()
    offsets = [word_offsets(text) for text in texts]
    alone = words.logits(scorer, (t[s:e] for t in texts for s, e in fold_units(t)), label)
    chosen = [candidates(t, offs, alone) for t, offs in zip(texts, offsets, strict=True)]
    variants: list[str] = []
    for text, offs, picked in zip(texts, offsets, chosen, strict=True):
        if picked:
            variants += [] if bases is not None else [text]
            variants += [text[: offs[i][0]] + " " + text[offs[i][1] :] for i in picked]
    scores = [logit(row.get(label, 0.0)) for row in scorer.score(variants)] if variants else []
    out: list[tuple[list[tuple[int, int]], list[float]]] = []
    at = 0
    for k, (offs, picked) in enumerate(zip(offsets, chosen, strict=True)):
        drops = [0.0] * len(offs)
        if picked:
            if bases is None:
                base, at = scores[at], at + 1
            else:
                base = logit(bases[k])
            for i, score in zip(picked, scores[at : at + len(picked)], strict=True):
                drops[i] = base - score
            at += len(picked)
        out.append((offs, drops))
    return out


def toxic_spans(
    scorer: Scorer,
    texts: Sequence[str],
    label: str = "toxicity",
    words: WordScores | None = None,
    bases: Sequence[float] | None = None,
) -> list[list[list[int]]]:
    """Spans per text (see the module docstring); ``words`` carries stand-alone scores across calls,
    ``bases`` the texts' own ``label`` probabilities when they are known (see ``occlusion_drops``)."""
    drops = occlusion_drops(scorer, texts, words, label, bases)
    return [merge(text, [offs[i] for i in pick(d)]) for text, (offs, d) in zip(texts, drops, strict=True)]


def span_f1(predicted: set[int], gold: set[int]) -> float:
    """SemEval-2021 Task 5 per-text F1 over character offsets (1.0 when both are empty)."""
    if not gold and not predicted:
        return 1.0
    if not gold or not predicted:
        return 0.0
    overlap = len(predicted & gold)
    precision, recall = overlap / len(predicted), overlap / len(gold)
    return 0.0 if overlap == 0 else 2 * precision * recall / (precision + recall)
