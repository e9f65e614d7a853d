"""Perspective-compatible scoring: ``POST /v1alpha1/comments:analyze`` and ``comments:suggestscore``.

Requests and answers as Perspective documents them (and as Coral builds and reads them). A comment is
enqueued like ``POST /v1/comments`` and answered from the worker's decision: same scores and policy.
``doNotStore`` (true by default in common clients) removes the record and its text once answered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from service.core.models import CommentRecord
from service.core.queue import QueueUnavailable
from service.core.validation import BODY_MAX
from service.http.common import SETTINGS
from service.http.protocols import base, config
from service.http.protocols.google import GoogleError, google_json, google_site, unknown_names

# Perspective attribute -> commentmod score. ``_EXPERIMENTAL`` names are accepted as aliases.
ATTRIBUTES: dict[str, str] = {
    "TOXICITY": "toxicity",
    "SEVERE_TOXICITY": "severe_toxicity",
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "obscene",
    "THREAT": "threat",
    "SPAM": "spam",
}
LANGUAGES = ("en",)  # the models are trained on English
_ANALYZE_FIELDS = frozenset({
    "comment", "context", "requestedAttributes", "languages", "doNotStore", "clientToken", "sessionId",
    "spanAnnotations", "communityId",
})  # fmt: skip
_SUGGEST_FIELDS = frozenset({
    "comment", "context", "attributeScores", "languages", "communityId", "clientToken", "sessionId",
    "doNotStore",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str  # as requested (an alias keeps its own name in the answer)
    score: str  # commentmod's score
    threshold: float | None = None


def score_name(name: str) -> str | None:
    return ATTRIBUTES.get(name.removesuffix("_EXPERIMENTAL"))


def _attributes(raw: Any) -> list[Attribute]:
    if not isinstance(raw, dict) or not raw:
        raise GoogleError(400, "requestedAttributes: at least one attribute is required.")
    out = []
    for name, options in raw.items():
        score = score_name(name)
        if score is None:
            raise GoogleError(400, f"Attribute {name} does not exist. Supported: {', '.join(ATTRIBUTES)}.")
        options = options if options is not None else {}
        if not isinstance(options, dict):
            raise GoogleError(400, f"requestedAttributes.{name}: expected an object.")
        unknown_names(options, frozenset({"scoreType", "scoreThreshold"}), f"requestedAttributes.{name}.")
        if options.get("scoreType", "PROBABILITY") not in {"PROBABILITY", ""}:
            raise GoogleError(400, f"Attribute {name} does not support score type {options['scoreType']}.")
        threshold = options.get("scoreThreshold")
        if threshold is not None and (not isinstance(threshold, int | float) or not 0 <= threshold <= 1):
            raise GoogleError(400, f"requestedAttributes.{name}.scoreThreshold: a number from 0 to 1.")
        out.append(Attribute(name, score, None if threshold is None else float(threshold)))
    return out


def _languages(raw: Any, names: list[str]) -> list[str]:
    if raw is None or raw == []:
        return []
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise GoogleError(400, "languages: expected a list of language codes.")
    bad = [x for x in raw if x.replace("_", "-").split("-")[0].lower() not in LANGUAGES]
    if bad:
        raise GoogleError(400, f"Attribute {names[0]} does not support request languages: {', '.join(bad)}")
    return [x.replace("_", "-").split("-")[0].lower() for x in raw]


def _text(payload: dict[str, Any]) -> str:
    comment = payload.get("comment")
    if not isinstance(comment, dict):
        raise GoogleError(400, "comment: required, an object with text.")
    unknown_names(comment, frozenset({"text", "type"}), "comment.")
    text = comment.get("text")
    if comment.get("type", "PLAIN_TEXT") not in {"PLAIN_TEXT", "HTML"}:
        raise GoogleError(400, "comment.type: PLAIN_TEXT or HTML.")
    if not isinstance(text, str) or not text.strip():
        raise GoogleError(400, "Comment must be non-empty.")
    if len(text) > BODY_MAX:
        raise GoogleError(400, f"Comment text too long: at most {BODY_MAX} characters.")
    return text


def _short(payload: dict[str, Any], name: str, limit: int = 256) -> str | None:
    value = payload.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise GoogleError(400, f"{name}: a string of at most {limit} characters.")
    return value


def _flag(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name, False)
    if not isinstance(value, bool):
        raise GoogleError(400, f"{name}: true or false.")
    return value


async def _scored(
    request: web.Request, site: str, text: str, client_token: str | None, idempotency: str | None
) -> tuple[base.Submitted, CommentRecord | None]:
    """Enqueue the text as a comment of ``site`` and wait for its decision (Google-shaped failures)."""
    payload = {"name": "Perspective client", "email": "check@example.org", "body": text,
               "client_ref": client_token}  # fmt: skip
    fields = base.check_fields(payload)
    if isinstance(fields, dict):
        problem = fields.get("body") or next(iter(fields.values()))
        raise GoogleError(400, f"comment.text: {problem}.")
    fields = base.with_email(fields, base.placeholder_email("perspective", request.app))
    try:
        if not await base.workers_up(request.app):
            raise GoogleError(503, "No scoring worker is running; retry later.", retry_after=2)
        submitted = await base.submit(request, site, fields, idempotency)
        record = await base.wait_decided(
            request.app, submitted.comment_id, config.protocol_wait_s(request.app[SETTINGS])
        )
    except base.RateLimited as exc:
        raise GoogleError(429, "Quota exceeded for this API key.", retry_after=exc.retry_after) from exc
    except (QueueUnavailable, RedisError, OSError) as exc:
        raise GoogleError(503, "The service is unavailable; retry later.", retry_after=2) from exc
    return submitted, record


def _spans(record: CommentRecord, score: float, text: str) -> list[dict[str, Any]]:
    """The explanation's spans (the words that drove toxicity), else the whole text as one span."""
    decision = record.decision
    found = [span for r in (decision.reasons if decision else []) if r.get("code") == "toxicity"
             for span in r.get("spans", [])]  # fmt: skip
    spans = found or [[0, len(text)]]
    return [{"begin": b, "end": e, "score": {"value": score, "type": "PROBABILITY"}} for b, e in spans]


def _answer(record: CommentRecord, attributes: list[Attribute], text: str, spans: bool) -> dict[str, Any]:
    scores = record.decision.scores if record.decision else {}
    out: dict[str, Any] = {}
    for attribute in attributes:
        if attribute.score not in scores and scores and _unsupported(record):  # as Perspective answers it
            found = ", ".join(_detected(record))
            raise GoogleError(400, f"Attribute {attribute.name} does not support request languages: {found}")
        if attribute.score not in scores:
            raise GoogleError(400, f"Attribute {attribute.name} is not scored by this installation's model.")
        value = scores[attribute.score]
        if attribute.threshold is not None and value < attribute.threshold:
            continue
        entry: dict[str, Any] = {"summaryScore": {"value": value, "type": "PROBABILITY"}}
        if spans:
            entry["spanScores"] = (
                _spans(record, value, text)
                if attribute.score == "toxicity"
                else [{"begin": 0, "end": len(text), "score": {"value": value, "type": "PROBABILITY"}}]
            )
        out[attribute.name] = entry
    return out


def _detected(record: CommentRecord) -> list[str]:
    """The language the worker stored for the text (README "Languages"); English for older records."""
    language = record.decision.language if record.decision else None
    return [str(language["code"])] if language and language.get("code") else ["en"]


def _unsupported(record: CommentRecord) -> bool:
    """No loaded model serves the text's language (its toxicity was not scored; README "Languages")."""
    reasons = record.decision.reasons if record.decision else []
    return any(reason.get("code") == "language_unsupported" for reason in reasons)


async def analyze(request: web.Request) -> web.Response:
    site = google_site(request)
    payload = await google_json(request)
    unknown_names(payload, _ANALYZE_FIELDS)
    text = _text(payload)
    attributes = _attributes(payload.get("requestedAttributes"))
    languages = _languages(payload.get("languages"), [a.name for a in attributes])
    do_not_store, spans = _flag(payload, "doNotStore"), _flag(payload, "spanAnnotations")
    client_token = _short(payload, "clientToken")
    _short(payload, "communityId")
    _short(payload, "sessionId")
    # A stored text is one record per site and text for a day, so suggestscore finds it again.
    idem = None if do_not_store else f"perspective:{hashlib.sha256(text.encode()).hexdigest()}"
    submitted, record = await _scored(request, site, text, client_token, idem)
    try:
        if record is None or record.status == "pending":
            raise GoogleError(503, "No scoring worker answered in time; retry later.", retry_after=2)
        body: dict[str, Any] = {
            "attributeScores": _answer(record, attributes, text, spans),
            "languages": languages or ["en"],
            "detectedLanguages": _detected(record),
        }
    finally:
        if do_not_store:
            await base.forget(request.app, submitted, site)
    if client_token is not None:
        body["clientToken"] = client_token
    headers = {"X-Commentmod-Verdict": record.decision.verdict if record.decision else ""}
    if not do_not_store:
        headers["X-Commentmod-Comment-Id"] = record.id
    return web.json_response(body, headers=headers)


def _label(payload: dict[str, Any]) -> bool:
    """True (reject) when any suggested summary score is 0.5 or more."""
    raw = payload.get("attributeScores")
    if not isinstance(raw, dict) or not raw:
        raise GoogleError(400, "attributeScores: at least one attribute is required.")
    values = []
    for name, entry in raw.items():
        if score_name(name) is None:
            raise GoogleError(400, f"Attribute {name} does not exist. Supported: {', '.join(ATTRIBUTES)}.")
        summary = entry.get("summaryScore") if isinstance(entry, dict) else None
        value = summary.get("value") if isinstance(summary, dict) else None
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise GoogleError(400, f"attributeScores.{name}.summaryScore.value: a number from 0 to 1.")
        values.append(float(value))
    return max(values) >= 0.5


async def suggest_score(request: web.Request) -> web.Response:
    """A caller's label (Coral sends one when a moderator approves or rejects): stored as a moderator
    decision ``moderator:perspective:<site>`` on the text's record, scored first if it has none."""
    site = google_site(request)
    payload = await google_json(request)
    unknown_names(payload, _SUGGEST_FIELDS)
    text = _text(payload)
    reject = _label(payload)
    _languages(payload.get("languages"), list(payload["attributeScores"]))
    client_token = _short(payload, "clientToken")
    _short(payload, "communityId")
    idem = f"perspective:{hashlib.sha256(text.encode()).hexdigest()}"
    submitted, _ = await _scored(request, site, text, client_token, idem)
    await base.label(request.app, submitted.comment_id, f"perspective:{site}", not reject, "suggestscore")
    body = {"clientToken": client_token} if client_token is not None else {}
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1alpha1/comments:analyze", analyze)
    app.router.add_post("/v1alpha1/comments:suggestscore", suggest_score)
