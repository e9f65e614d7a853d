"""Coral's External Moderation Phase: ``POST /v1/integrations/coral/{site}``.

Coral POSTs each new or edited comment as signed JSON (``action``, ``comment {id, body, parentID}``,
``author``, ``story``, ``site``, ``tenantID``, ``tenantDomain``) with ``X-Coral-Signature:
sha256=HEX[,sha256=HEX]``: the HMAC-SHA256 of the raw body under the phase's signing secret, one per
active secret while one is rotated. The comment is enqueued like ``POST /v1/comments`` and answered from
the worker's decision: ``204`` publishes (Coral's own phases go on), ``200 {status, actions}`` holds or
rejects. A bad or missing signature is ``401`` and nothing is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from html.parser import HTMLParser
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from service.core.models import CommentRecord
from service.core.queue import QueueUnavailable
from service.http.common import SETTINGS, ApiError, read_body
from service.http.protocols import base, config

TOXIC_SCORES = frozenset({"toxicity", "severe_toxicity", "identity_attack", "insult", "obscene", "threat"})
# The API's comment field -> where Coral's request carries it (field errors name Coral's own field).
_CORAL_NAMES = {
    "body": "comment.body", "name": "author.username", "email": "author.email", "thread": "story.url",
    "parent_id": "comment.parentID", "client_ref": "comment.id",
}  # fmt: skip
_BLOCKS = frozenset({"p", "br", "div", "li", "blockquote"})


class _Text(HTMLParser):
    """Coral's comment body is HTML (its editor's few tags): the text a reader sees, paragraphs as lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS and self.parts:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(body: str) -> str:
    parser = _Text()
    parser.feed(body)
    parser.close()
    return "".join(parser.parts).strip()


def signature_ok(secrets: tuple[str, ...], header: str | None, raw: bytes) -> bool:
    """Any ``sha256=HEX`` of the header matches any of the site's secrets; every pair is compared in
    constant time, with no early exit."""
    if not header or not secrets:
        return False
    sent = [part.strip()[7:] for part in header.split(",") if part.strip().startswith("sha256=")]
    ok = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest().encode()
        for candidate in sent:
            ok |= hmac.compare_digest(expected, candidate.lower().encode("ascii", "replace"))
    return ok


def _string(value: Any, where: str, errors: dict[str, str], required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            errors[where] = "required"
        return None
    if not isinstance(value, str):
        errors[where] = "must be a string"
        return None
    return value


def _payload(raw: bytes) -> dict[str, Any]:
    """Coral's request as the API's comment fields (before validation); 400/422 naming what is wrong."""
    try:
        request = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from exc
    if not isinstance(request, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    errors: dict[str, str] = {}
    parts = {name: request.get(name) or {} for name in ("comment", "author", "story")}
    for name, part in parts.items():
        if not isinstance(part, dict):
            errors[name] = "must be an object"
            parts[name] = {}
    comment, author, story = parts["comment"], parts["author"], parts["story"]
    body = _string(comment.get("body"), "comment.body", errors, required=True)
    author_id = _string(author.get("id"), "author.id", errors) or ""
    payload = {
        "body": html_text(body) if body else None,
        "name": _string(author.get("username"), "author.username", errors) or "Coral commenter",
        "email": _string(author.get("email"), "author.email", errors),
        "thread": _string(story.get("url"), "story.url", errors)
        or _string(story.get("id"), "story.id", errors),
        "parent_id": _string(comment.get("parentID"), "comment.parentID", errors),
        "client_ref": _string(comment.get("id"), "comment.id", errors),
    }
    action = _string(request.get("action"), "action", errors) or "NEW"
    if errors:
        raise ApiError(422, "validation_failed", "some fields are invalid", fields=errors)
    # Without an email, one stable pseudonymous address per Coral author: reputation still applies.
    stable = hashlib.sha256(author_id.encode()).hexdigest()[:16] if author_id else None
    payload["_author"] = f"coral-{stable}@coral.commentmod.example" if stable else None
    payload["_action"] = action
    return payload


def answer(record: CommentRecord | None, fallback: str) -> web.Response:
    """204 to publish; 200 with Coral's status and FLAG actions to hold or reject. No decision in time:
    the site's fallback (hold: PREMOD, nothing is published unscored; pass: 204)."""
    decision = record.decision if record is not None and record.status != "pending" else None
    if decision is None:
        return web.Response(status=204) if fallback == "pass" else web.json_response({"status": "PREMOD"})
    if record is not None and (record.decided_by or "").startswith("moderator:"):
        verdict = {"published": "publish", "rejected": "reject"}.get(record.status, "hold")
    else:
        verdict = decision.verdict
    if verdict == "publish":
        return web.Response(status=204)
    codes = {reason.get("code") for reason in decision.reasons}
    actions = []
    if codes & TOXIC_SCORES:
        actions.append({"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"})
    if "spam" in codes:
        actions.append({"actionType": "FLAG", "reason": "COMMENT_DETECTED_SPAM"})
    status = "REJECTED" if verdict == "reject" else "SYSTEM_WITHHELD" if actions else "PREMOD"
    return web.json_response({"status": status, "actions": actions})


async def phase(request: web.Request) -> web.Response:
    site = request.match_info["site"]
    settings = request.app[SETTINGS]
    raw = await read_body(request, settings.max_body_bytes)
    if not signature_ok(config.coral_secrets(settings, site), request.headers.get("X-Coral-Signature"), raw):
        raise ApiError(401, "unauthorized", "missing or bad X-Coral-Signature")
    payload = _payload(raw)
    author, action = payload.pop("_author"), payload.pop("_action")
    if payload["email"] is None and author:
        payload["email"] = author
    elif payload["email"] is None:
        payload["email"] = base.placeholder_email("coral", request.app)
    fields = base.check_fields(payload)
    if isinstance(fields, dict) and "email" in fields:  # an address Coral took but we cannot: the pseudonym
        payload["email"] = author or base.placeholder_email("coral", request.app)
        fields = base.check_fields(payload)
    if isinstance(fields, dict):
        named = {_CORAL_NAMES.get(k, k): v for k, v in fields.items()}
        raise ApiError(422, "validation_failed", "some fields are invalid", fields=named)
    fallback = config.coral_fallback(settings, site)
    digest = hashlib.sha256(fields.body.encode()).hexdigest()[:16]
    try:
        if not await base.workers_up(request.app):
            return answer(None, fallback)
        submitted = await base.submit(request, site, fields, f"coral:{fields.client_ref}:{action}:{digest}")
        record = await base.wait_decided(request.app, submitted.comment_id, config.protocol_wait_s(settings))
    except (base.RateLimited, QueueUnavailable, RedisError, OSError):
        return answer(None, fallback)
    response = answer(record, fallback)
    if record is not None:
        response.headers["X-Commentmod-Comment-Id"] = record.id
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/integrations/coral/{site}", phase)
