"""Policy: any score at or over its threshold holds the comment with that reason; otherwise publish."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from workers.scoring.types import Reason, Scores

SCORING_FAILED = "scoring_failed"


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str  # publish | hold
    reasons: tuple[Reason, ...]


def decide(scores: Scores, thresholds: Mapping[str, float]) -> Verdict:
    """Compare each thresholded score; reasons are ordered by how far over the threshold they are."""
    reasons: list[Reason] = []
    spam_signals = tuple(signal.code for signal in scores.signals)
    for name, threshold in thresholds.items():
        value = scores.values.get(name)
        if value is None or value < threshold:
            continue
        signals = spam_signals if name == "spam" else ()
        reasons.append(Reason(code=name, score=round(value, 4), threshold=threshold, signals=signals))
    reasons.sort(key=lambda r: (r.score or 0.0) - (r.threshold or 0.0), reverse=True)
    return Verdict("hold" if reasons else "publish", tuple(reasons))


def scoring_failed(error: str) -> Verdict:
    """The verdict for a comment whose scoring kept failing: a human decides."""
    return Verdict("hold", (Reason(code=SCORING_FAILED, score=None, threshold=None, signals=(error[:200],)),))
