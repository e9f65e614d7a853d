"""Typed values passed between the worker, the scorers and the policy."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CommentText:
    """What a scorer may look at. The body is exactly as the author sent it."""

    id: str
    body: str
    name: str = ""
    email: str = ""
    thread: str = ""
    author_url: str = ""
    ip: str = ""
    site: str = ""
    honeypot: str = ""  # a hidden form field; humans leave it empty
    form_elapsed_ms: int | None = None  # time between form render and submit, if the site sends it
    language: str = ""  # ISO 639-1 as the site declared it on the comment; empty: detect


@dataclass(frozen=True, slots=True)
class Signal:
    """One spam or behaviour signal that fired, with its contribution to the spam score."""

    code: str
    weight: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a comment is held: a score at or over its threshold, or a rule such as ``scoring_failed``."""

    code: str
    score: float | None = None
    threshold: float | None = None
    signals: tuple[str, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()  # toxicity: the words that drove it; rules: what matched
    rule: str = ""  # a site rule's word or pattern (banned_pattern, suspect_word)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "score": self.score, "threshold": self.threshold}
        if self.signals:
            out["signals"] = list(self.signals)
        if self.rule:
            out["rule"] = self.rule
        if self.spans:
            out["spans"] = [list(span) for span in self.spans]
        return out


@dataclass(frozen=True, slots=True)
class Language:
    """A comment's language (ISO 639-1) and how sure we are of it, and whether a loaded model serves it.

    ``source``: ``comment`` (the site sent it), ``site`` (the site declares one language), ``detected``,
    or ``default`` (detection was unsure: the site's first language, else English)."""

    code: str
    confidence: float
    source: str
    supported: bool = True

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "confidence": round(self.confidence, 4), "source": self.source}


@dataclass(frozen=True, slots=True)
class Scores:
    """All scores for one comment plus the spam signals that fired and the models used."""

    values: dict[str, float]
    signals: tuple[Signal, ...] = ()
    models: dict[str, str] = field(default_factory=dict)
    toxicity: float | None = None  # the model's probability unrounded: explanations start from it
    language: Language | None = None  # None: not detected (a caller that skips detection)
