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

Bounded cost (issue 17): the work depends only on the candidate words, never on the body's length. Only
the pieces holding one of the first ``MAX_WORDS`` words are scored alone (a 10,000-character body had
all of its 2,111 pieces scored), and a text longer than ``EXPLAIN_CHARS`` is explained on a slice of that
many characters around its candidates: the slice is scored once as the base and its variants are
occluded copies of the slice, not of the whole body. So a maximum-length comment costs at most
``MAX_WORDS`` piece texts plus ``1 + MAX_CANDIDATE_WORDS`` texts of ``EXPLAIN_CHARS`` characters
(``test_explanation_work_does_not_grow_with_the_body``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from service.core.normalize import fold_units

WORD = re.compile(r"[^\W_]+(?:['’*@$][^\W_]+)*")  # words, keeping "don't" and "f*ck" whole
MAX_WORDS = 120  # longer comments: only the first 120 words are candidates
CANDIDATES = 2  # pieces of text whose words are occluded in context: the most toxic on their own
CANDIDATE_FLOOR = -2.5  # stand-alone logit a piece needs to be a candidate
MAX_CANDIDATE_WORDS = 12
# Longer texts are explained on a slice of this many characters around the candidates. 256 rather than 512:
# a maximum-length comment costs 8.0x a typical held one instead of 10.3x (make bench), span F1 0.644
# instead of 0.646 (scripts/eval_spans.py, docs/evaluation.md).
EXPLAIN_CHARS = 256
UNIT_SLACK = 200  # characters past the last candidate word in which its piece may still end
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


def candidate_units(text: str, offsets: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pieces (``fold_units``) that hold at least one of the candidate words ``offsets``: at most
    one per word, read from the start of the text up to just past the last candidate word."""
    if not offsets:
        return []
    limit = offsets[-1][1]
    out: list[tuple[int, int]] = []
    at = 0
    for start, end in fold_units(text[: limit + UNIT_SLACK]):
        if start >= limit:
            break
        while at < len(offsets) and offsets[at][1] <= start:
            at += 1
        if at < len(offsets) and offsets[at][0] >= start and offsets[at][1] <= end:
            out.append((start, end))
    return out


def candidates(
    text: str,
    offsets: Sequence[tuple[int, int]],
    alone: dict[str, float],
    k: int = CANDIDATES,
    units: Sequence[tuple[int, int]] | None = None,
) -> list[int]:
    """Indices (ascending) of the words inside the ``k`` pieces of ``text`` most toxic on their own.

    Pieces are what folding reads as one word (``fold_units``), so ``st.upid`` or ``i d i o t`` is
    judged whole although each of its words is harmless alone. ``alone`` maps piece -> logit; ``units``
    defaults to :func:`candidate_units`."""
    pieces = candidate_units(text, offsets) if units is None else units
    kept = [(s, e) for s, e in pieces if alone[text[s:e]] >= CANDIDATE_FLOOR]
    kept = sorted(kept, key=lambda u: -alone[text[u[0] : u[1]]])[:k]
    if len(text) > EXPLAIN_CHARS and kept:  # one slice must hold them: the top piece's neighbours only
        top = kept[0]
        kept = [u for u in kept if max(u[1], top[1]) - min(u[0], top[0]) <= EXPLAIN_CHARS] or [top]
    chosen: list[int] = []
    for start, end in kept:
        chosen += [i for i, (s, e) in enumerate(offsets) if start <= s and e <= end]
    return sorted(chosen[:MAX_CANDIDATE_WORDS])


def explained_slice(text: str, offsets: Sequence[tuple[int, int]], picked: Sequence[int]) -> tuple[int, int]:
    """``(start, end)`` of the part of ``text`` whose variants are scored: the whole text when it has at
    most ``EXPLAIN_CHARS`` characters, else at most that many around the picked words (cut at spaces)."""
    if len(text) <= EXPLAIN_CHARS or not picked:
        return 0, len(text)
    low, high = offsets[picked[0]][0], offsets[picked[-1]][1]
    start = max(0, min(low - max(0, EXPLAIN_CHARS - (high - low)) // 2, len(text) - EXPLAIN_CHARS))
    end = min(len(text), start + EXPLAIN_CHARS)
    if start > 0:
        space = text.find(" ", start, low)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        space = text.rfind(" ", high, end)
        end = space if space >= 0 else end
    return start, end


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


@dataclass(frozen=True, slots=True)
class _Plan:
    """What is scored to explain one text: ``picked`` word indices, occluded in ``text[start:end]``."""

    picked: list[int]
    start: int
    end: int
    own_base: bool  # the slice itself is scored (no known base for it)


def _plan(text: str, offs: list[tuple[int, int]], picked: list[int], known_base: bool) -> _Plan:
    start, end = explained_slice(text, offs, picked)
    picked = [i for i in picked if start <= offs[i][0] and offs[i][1] <= end]
    whole = start == 0 and end == len(text)
    return _Plan(picked, start, end, own_base=bool(picked) and not (whole and known_base))


def _variants(text: str, offs: list[tuple[int, int]], plan: _Plan) -> list[str]:
    part = text[plan.start : plan.end]
    out = [part] if plan.own_base else []
    for i in plan.picked:
        s, e = offs[i][0] - plan.start, offs[i][1] - plan.start
        out.append(part[:s] + " " + part[e:])
    return out


def occlusion_drops(
    scorer: Scorer,
    texts: Sequence[str],
    words: WordScores | None = None,
    label: str = "toxicity",
    bases: Sequence[float] | None = None,
) -> list[tuple[list[tuple[int, int]], list[float]]]:
    """Per text: its word offsets and each word's logit drop when occluded (0.0 for non-candidates).

    Two model calls in all: the unseen candidate pieces alone, then the candidate variants, with each
    text itself unless ``bases`` gives its probability already (the decision's score: one text fewer to
    score; span F1 0.6473 against 0.6494 scoring it with its variants, 0.6334 against 0.6330 on trial).
    A text over ``EXPLAIN_CHARS`` is explained on a slice around its candidates (module docstring)."""
    words = words if words is not None else WordScores()
    offsets = [word_offsets(text) for text in texts]
    units = [candidate_units(t, offs) for t, offs in zip(texts, offsets, strict=True)]
    alone = words.logits(scorer, (t[s:e] for t, us in zip(texts, units, strict=True) for s, e in us), label)
    plans = [
        _plan(t, offs, candidates(t, offs, alone, units=us), bases is not None)
        for t, offs, us in zip(texts, offsets, units, strict=True)
    ]
    variants = [v for t, offs, p in zip(texts, offsets, plans, strict=True) for v in _variants(t, offs, p)]
    scores = [logit(row.get(label, 0.0)) for row in scorer.score(variants)] if variants else []
    out: list[tuple[list[tuple[int, int]], list[float]]] = []
    at = 0
    for k, (offs, plan) in enumerate(zip(offsets, plans, strict=True)):
        drops = [0.0] * len(offs)
        if plan.picked:
            if plan.own_base:
                base, at = scores[at], at + 1
            else:
                base = logit(bases[k]) if bases is not None else 0.0
            for i, score in zip(plan.picked, scores[at : at + len(plan.picked)], strict=True):
                drops[i] = base - score
            at += len(plan.picked)
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
