"""Policy: scores, site rules and author reputation in, one verdict with its reasons out.

* any score at or over its threshold (site rules may override thresholds) holds, with that reason;
* a banned word or pattern holds or rejects outright; a suspect word, too many links or a
  pre-moderated thread holds;
* a banned author is held or rejected (setting);
* a trusted author's comment publishes despite soft reasons (thresholds, suspect words, links) unless a
  score reaches the "always hold" threshold; hard rules (banned patterns, pre-moderated threads) still
  apply to them.
Otherwise the comment is published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from service.core.rules import RuleHit
from workers.scoring.types import Reason, Scores

SCORING_FAILED = "scoring_failed"


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str  # publish | hold | reject
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class AuthorPolicy:
    trusted: bool = False
    banned: bool = False
    banned_action: str = "hold"
    always_hold: float = 0.95


def score_reasons(scores: Scores, thresholds: Mapping[str, float]) -> list[Reason]:
    reasons: list[Reason] = []
    spam_signals = tuple(signal.code for signal in scores.signals)
    for name, threshold in thresholds.items():
        value = scores.values.get(name)
        if value is None or value < threshold:
            continue
        signals = spam_signals if name == "spam" else ()
        reasons.append(Reason(code=name, score=round(value, 4), threshold=threshold, signals=signals))
    reasons.sort(key=lambda r: (r.score or 0.0) - (r.threshold or 0.0), reverse=True)
    return reasons


def decide(
    scores: Scores,
    thresholds: Mapping[str, float],
    hits: Sequence[RuleHit] = (),
    author: AuthorPolicy | None = None,
) -> Verdict:
    """Combine everything into publish, hold or reject."""
    author = author or AuthorPolicy()
    reasons = score_reasons(scores, thresholds)
    if author.trusted:
        always = {name: author.always_hold for name in thresholds}
        reasons = score_reasons(scores, always)
        hits = [hit for hit in hits if hit.hard]
    rule_reasons = [Reason(code=hit.code, signals=(hit.action,)) for hit in hits]
    if author.banned:
        rule_reasons.append(Reason(code="banned_author", signals=(author.banned_action,)))
    all_reasons = tuple(rule_reasons + reasons)
    rejects = any(hit.action == "reject" for hit in hits) or (
        author.banned and author.banned_action == "reject"
    )
    if rejects:
        return Verdict("reject", all_reasons)
    return Verdict("hold" if all_reasons else "publish", all_reasons)


def scoring_failed(error: str) -> Verdict:
    """The verdict for a comment whose scoring kept failing: a human decides."""
    return Verdict("hold", (Reason(code=SCORING_FAILED, score=None, threshold=None, signals=(error[:200],)),))
