"""``commentmod score``: JSON lines in, verdicts out, with the worker's scorers and policy, no Redis.

Signals that need history (rates, near-duplicates, known spam domains) are skipped here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

from service.core.languages import language_code
from service.core.settings import Settings
from workers.languages import apply_language, thresholds_for, unsupported_action
from workers.policy import decide
from workers.scoring.pipeline import ScoringPipeline
from workers.scoring.types import CommentText

_TEXT_FIELDS = ("name", "email", "thread", "author_url", "ip", "site", "honeypot")


def _usable(body: str) -> bool:
    """Non-empty and encodable (a JSON escape can carry a lone surrogate, which no model can read)."""
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return bool(body.strip())


def _to_comment(line_no: int, raw: str) -> tuple[CommentText | None, dict[str, Any] | None]:
    try:
        obj = json.loads(raw)
    except ValueError:
        return None, {"line": line_no, "error": "invalid JSON"}
    if not isinstance(obj, dict) or not isinstance(obj.get("body"), str) or not _usable(obj["body"]):
        return None, {
            "id": obj.get("id") if isinstance(obj, dict) else None,
            "line": line_no,
            "error": "each line needs a JSON object with a non-empty, valid string body",
        }
    extra = {k: str(obj[k]) for k in _TEXT_FIELDS if isinstance(obj.get(k), str | int)}
    declared = obj.get("language")
    if declared is not None and (not isinstance(declared, str) or language_code(declared) is None):
        return None, {"id": obj.get("id"), "line": line_no, "error": "language: an ISO 639-1 code"}
    elapsed = obj.get("form_elapsed_ms")
    comment = CommentText(
        id=str(obj.get("id", line_no)),
        body=obj["body"],
        form_elapsed_ms=elapsed if isinstance(elapsed, int) else None,
        language=language_code(declared) or "" if declared is not None else "",
        **extra,
    )
    return comment, None


def _flush(pipeline: ScoringPipeline, settings: Settings, batch: list[CommentText], out: IO[str]) -> None:
    if not batch:
        return
    for comment, scores in zip(batch, pipeline.score_batch(batch), strict=True):
        action = unsupported_action(settings, comment.site)
        thresholds = thresholds_for(settings, pipeline.language_thresholds, scores.language, {})
        verdict = apply_language(decide(scores, thresholds), scores.language, action)
        record = {
            "id": comment.id,
            "verdict": verdict.verdict,
            "scores": scores.values,
            "reasons": [r.to_json() for r in verdict.reasons],
            "signals": [s.code for s in scores.signals],
            "language": scores.language.to_json() if scores.language else None,
        }
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()
    batch.clear()


def score_stream(settings: Settings, lines: Iterable[str], out: IO[str], batch_size: int = 256) -> int:
    """Score every line; bad lines get an error line, the rest a verdict line, in input order."""
    pipeline = ScoringPipeline.from_settings(settings)
    batch: list[CommentText] = []
    bad = 0
    for line_no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        comment, error = _to_comment(line_no, raw)
        if error is not None:
            _flush(pipeline, settings, batch, out)
            out.write(json.dumps(error) + "\n")
            bad += 1
            continue
        assert comment is not None
        batch.append(comment)
        if len(batch) >= batch_size:
            _flush(pipeline, settings, batch, out)
    _flush(pipeline, settings, batch, out)
    return 1 if bad else 0
