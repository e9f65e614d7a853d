"""Akismet-compatible spam checking: ``/1.1/verify-key``, ``comment-check``, ``submit-spam``, ``submit-ham``,
``/1.2/usage-limit``.

Form-encoded requests with Akismet's fields, answered exactly as Akismet answers (``true``/``false``,
``valid``/``invalid``, ``Thanks for making the web a better place.``). The key is the site's API key, as
``api_key`` (``key`` for verify-key) or as the first label of the host (``KEY.rest.example.org``, what
older clients such as ``akismet-api`` send). ``comment-check`` is ``true`` when commentmod holds the
comment for a score (spam or toxicity: a site running Akismet has no other place for toxicity) or rejects
it; submissions become moderator labels (``moderator:akismet:<site>``).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from redis.exceptions import RedisError

from service.core.models import CommentFields, CommentRecord, is_comment_id
from service.core.queue import QueueUnavailable
from service.core.validation import with_scheme
from service.http.common import KEYS, REDIS, SETTINGS, STORE, ApiError, decode_text, read_body
from service.http.protocols import base, config

THANKS = "Thanks for making the web a better place."
DISCARD_SPAM = 0.99  # a spam score this high is blatant: X-akismet-pro-tip: discard
# Akismet field -> the API's comment field.
_FIELDS = {
    "comment_author": "name",
    "comment_author_email": "email",
    "comment_content": "body",
    "comment_author_url": "author_url",
    "permalink": "thread",
    "user_ip": "ip",
    "user_agent": "user_agent",
    "referrer": "referrer",
}
_REQUIRED = ("blog", "user_ip")


def _text(body: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/plain", headers=headers)


def _invalid(help_text: str) -> web.Response:
    return _text("invalid", headers={"X-akismet-debug-help": help_text})


async def _form(request: web.Request) -> dict[str, str]:
    """The form (POST body or GET query); the first value of a repeated field."""
    if request.method == "GET":
        return {k: v for k, v in reversed(list(request.query.items()))}
    try:
        raw = decode_text(await read_body(request, request.app[SETTINGS].max_body_bytes))
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=1000)
    except ValueError as exc:
        raise ApiError(400, "invalid_form", "the form body could not be parsed") from exc
    return {k: v for k, v in reversed(pairs)}


def _site(request: web.Request, form: dict[str, str], field: str = "api_key") -> str | None:
    key = form.get(field)
    if not key:  # older clients: https://KEY.rest.akismet.com/1.1/...
        labels = request.host.split(":")[0].split(".")
        key = labels[0] if len(labels) > 2 else None
    return base.site_of_key(request.app, key)


async def verify_key(request: web.Request) -> web.Response:
    form = await _form(request)
    if _site(request, form, "key" if "key" in form else "api_key") is None:
        return _invalid("We were unable to verify your API key.")
    return _text("valid")


def _fields(request: web.Request, form: dict[str, str]) -> CommentFields | str:
    """The comment, leniently as Akismet takes it: an unusable author, email, URL or header field is
    left out (a placeholder for the name and email); only unusable content is an error (its message)."""
    payload: dict[str, Any] = {api: form[name] for name, api in _FIELDS.items() if form.get(name)}
    honeypot = form.get("honeypot_field_name")
    if honeypot and form.get(honeypot):
        payload["honeypot"] = form[honeypot]
    if "author_url" in payload:
        payload["author_url"] = with_scheme(payload["author_url"])
    payload.setdefault("name", "anonymous")
    payload.setdefault("email", base.placeholder_email("akismet", request.app))
    result = base.check_fields(payload)
    if isinstance(result, dict):
        if "body" in result:
            return f"Invalid field: comment_content ({result['body']})."
        for bad in result:
            payload.pop(bad, None)
        payload.setdefault("name", "anonymous")
        payload.setdefault("email", base.placeholder_email("akismet", request.app))
        result = base.check_fields(payload)
    return result if isinstance(result, CommentFields) else f"Invalid fields: {', '.join(result)}."


def _identity(form: dict[str, str]) -> str:
    """One comment, for a day: the same fields find the same record (a recheck, a later submission)."""
    parts = (form.get(name, "") for name in ("comment_content", "comment_author_email", "comment_author",
                                                "user_ip", "permalink"))  # fmt: skip
    return "akismet:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def is_spam(record: CommentRecord) -> bool:
    """Would commentmod keep it from being published for a score (spam, toxicity...), or reject it? A
    moderator's decision, where there is one, is the answer."""
    if (record.decided_by or "").startswith("moderator:"):
        return record.status == "rejected"
    decision = record.decision
    if decision is None:
        return False
    scored = any(reason.get("code") in decision.scores for reason in decision.reasons)
    return decision.verdict == "reject" or (decision.verdict == "hold" and scored)


def _unavailable() -> web.Response:
    return _text("Service unavailable: no scoring worker answered in time; retry later.", 503,
                 headers={"Retry-After": "2"})  # fmt: skip


async def _checked(request: web.Request) -> tuple[str, dict[str, str], CommentFields] | web.Response:
    form = await _form(request)
    site = _site(request, form)
    if site is None:
        return _invalid("We were unable to verify your API key.")
    for name in _REQUIRED:
        if not form.get(name):
            message = f"Missing required field: {name}."
            return _text(message, headers={"X-akismet-debug-help": message})
    fields = _fields(request, form)
    if isinstance(fields, str):
        return _text(fields, headers={"X-akismet-debug-help": fields})
    return site, form, fields


def _month() -> str:
    return time.strftime("%Y%m", time.gmtime())


async def usage_limit(request: web.Request) -> web.Response:
    """Akismet's usage for the month: no limit here, the site's comment-check calls so far."""
    site = _site(request, await _form(request))
    if site is None:
        return _invalid("We were unable to verify your API key.")
    usage = int(await request.app[REDIS].get(request.app[KEYS].akismet_usage(site, _month())) or 0)
    return web.json_response({"limit": "none", "usage": usage, "percentage": "0.00", "throttled": False})


async def _count(request: web.Request, site: str) -> None:
    key, redis = request.app[KEYS].akismet_usage(site, _month()), request.app[REDIS]
    if int(await redis.incr(key)) == 1:  # EXPIRE ... NX needs Redis 7; the embedded one is 6.2
        await redis.expire(key, 40 * 86400)


async def comment_check(request: web.Request) -> web.Response:
    checked = await _checked(request)
    if isinstance(checked, web.Response):
        return checked
    site, form, fields = checked
    await _count(request, site)
    test = form.get("is_test", "").lower() in {"1", "true"}
    try:
        if not await base.workers_up(request.app):
            return _unavailable()
        submitted = await base.submit(request, site, fields, None if test else _identity(form))
        record = await base.wait_decided(
            request.app, submitted.comment_id, config.protocol_wait_s(request.app[SETTINGS])
        )
        if test:
            await base.forget(request.app, submitted, site)
    except base.RateLimited as exc:
        return _text("Rate limited: retry later.", 429, headers={"Retry-After": str(exc.retry_after)})
    except (QueueUnavailable, RedisError, OSError):
        return _unavailable()
    if record is None or record.status == "pending":
        return _unavailable()
    headers = {"X-akismet-guid": record.id}
    spam = is_spam(record)
    if spam and (record.decision and (record.decision.verdict == "reject" or
                                      record.decision.scores.get("spam", 0.0) >= DISCARD_SPAM)):  # fmt: skip
        headers["X-akismet-pro-tip"] = "discard"
    return _text("true" if spam else "false", headers=headers)


async def _submit(request: web.Request, spam: bool) -> web.Response:
    checked = await _checked(request)
    if isinstance(checked, web.Response):
        return checked
    site, form, fields = checked
    app = request.app
    try:
        guid = form.get("guid", "")
        record = await app[STORE].get(guid) if is_comment_id(guid) else None
        if record is not None and record.site == site:
            comment_id = record.id
        else:  # the record comment-check made for these fields, or a new one scored first
            comment_id = (await base.submit(request, site, fields, _identity(form))).comment_id
            await base.wait_decided(app, comment_id, config.protocol_wait_s(app[SETTINGS]))
        await base.label(
            app, comment_id, f"akismet:{site}", not spam, "submit-spam" if spam else "submit-ham"
        )
    except base.RateLimited as exc:
        return _text("Rate limited: retry later.", 429, headers={"Retry-After": str(exc.retry_after)})
    except (QueueUnavailable, RedisError, OSError):
        return _unavailable()
    return _text(THANKS)


async def submit_spam(request: web.Request) -> web.Response:
    return await _submit(request, spam=True)


async def submit_ham(request: web.Request) -> web.Response:
    return await _submit(request, spam=False)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/1.1/verify-key", verify_key)
    app.router.add_post("/1.1/comment-check", comment_check)
    app.router.add_post("/1.1/submit-spam", submit_spam)
    app.router.add_post("/1.1/submit-ham", submit_ham)
    for version in ("1.1", "1.2"):
        app.router.add_get(f"/{version}/usage-limit", usage_limit)
        app.router.add_post(f"/{version}/usage-limit", usage_limit)
