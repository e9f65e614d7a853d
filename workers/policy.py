"""Policy: scores, site rules and author reputation in, one verdict with its reasons out.

* any score at or over its threshold (site rules may override thresholds) holds, with that reason;
* a banned word or pattern holds or rejects outright; a suspect word, too many links or a
  pre-moderated thread holds;
* a banned author is held or rejected (setting);
* a trusted author's comment publishes despite soft reasons (suspect words, links), and each score
  threshold is lifted for it by at most the site's trust margin (``trust_margin``, default 0.1) and
  never past the "always hold" threshold: trust never lets through a score more than the margin over
  the site's threshold. Hard rules (banned patterns, pre-moderated threads) still apply to them. Who is
  trusted: ``service.core.reputation`` (moderator approvals only, per site, bound to the networks the
  approved comments came from).
Otherwise the comment is published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from service.core.reputation import Standing, network_of
from service.core.rules import RuleHit, SiteRules
from service.core.settings import Settings
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
    margin: float = 0.1  # how far over each threshold a trusted author's score may go and still publish


def author_policy(standing: Standing, ip: str | None, settings: Settings, rules: SiteRules) -> AuthorPolicy:
    """The author part of a comment's policy: trusted only by moderator approvals (or a moderator) on its
    site and from a network an approved comment came from; the margin is the site's or the setting's."""
    network = network_of(ip, settings.hash_secret)
    margin = rules.trust_margin if rules.trust_margin is not None else settings.trust_margin
    return AuthorPolicy(
        trusted=standing.trusted_from(network, settings.trusted_after),
        banned=standing.standing == "banned",
        banned_action=settings.banned_author_action,
        always_hold=settings.trusted_hold_threshold,
        margin=margin,
    )


def trusted_thresholds(thresholds: Mapping[str, float], author: AuthorPolicy) -> dict[str, float]:
    """Each threshold lifted by the author's margin, capped at ``always_hold`` (never below the threshold)."""
    return {
        name: max(limit, min(limit + max(author.margin, 0.0), author.always_hold))
        for name, limit in thresholds.items()
    }


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
        reasons = score_reasons(scores, trusted_thresholds(thresholds, author))
        hits = [hit for hit in hits if hit.hard]
    rule_reasons = [
        Reason(code=hit.code, signals=(hit.action,), spans=hit.spans, rule=hit.rule) for hit in hits
    ]
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
