"""Site-facing endpoints: post a comment, read its status and verdict."""

from __future__ import annotations

import hashlib
import re
import time
from urllib.parse import parse_qsl

from aiohttp import web

from service.core.models import CommentFields, is_comment_id, new_comment_id
from service.core.queue import EnqueueRequest
from service.core.validation import validate_comment, validate_form
from service.http.common import (
    COMMENT_ID,
    ENQUEUER,
    IDS,
    METRICS,
    REQUEST_ID,
    SETTINGS,
    STORE,
    WAITER,
    ApiError,
    decode_text,
    json_object,
    read_body,
    require,
)
from service.http.waiter import wait_decided

_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait=(\d{1,3}(?:\.\d{1,3})?)(?:$|[,;\s])")
_JSON_TYPES = {"application/json"}
_FORM_TYPES = {"application/x-www-form-urlencoded"}
_MULTIPART = {"multipart/form-data"}
_BODY_TYPES = _JSON_TYPES | _FORM_TYPES | _MULTIPART
_JSON_UTF8 = "application/json; charset=utf-8"  # what web.json_response sends


def _form_pairs(raw: bytes) -> list[tuple[str, str]]:
    text = decode_text(raw)
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=100)
    except ValueError as exc:
        raise ApiError(400, "invalid_form", "the form body could not be parsed") from exc


async def _multipart_pairs(request: web.Request) -> list[tuple[str, str]]:
    """A multipart/form-data post's text fields (files are ignored), at most ``max_body_bytes``."""
    try:
        form = await request.post()
    except ValueError as exc:
        raise ApiError(400, "invalid_form", "the form body could not be parsed") from exc
    return [(name, value) for name, value in form.items() if isinstance(value, str)][:100]


async def _read_comment(request: web.Request) -> CommentFields:
    content_type = request.content_type.lower()
    if content_type not in _BODY_TYPES:
        raise ApiError(
            415, "unsupported_media_type", "send application/json, a url-encoded form or multipart/form-data"
        )
    result: CommentFields | dict[str, str]
    if content_type in _MULTIPART:
        result = validate_form(await _multipart_pairs(request))
    else:
        raw = await read_body(request, request.app[SETTINGS].max_body_bytes)
        if content_type in _JSON_TYPES:
            result = validate_comment(json_object(raw))
        else:  # a form: unknown fields ignored, errors under the form's own names
            result = validate_form(_form_pairs(raw))
    if isinstance(result, dict):
        raise ApiError(422, "validation_failed", "some fields are invalid", fields=result)
    return result


def _idempotency_key(request: web.Request) -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not 1 <= len(raw) <= 255 or not raw.isprintable():
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key: 1 to 255 printable characters")
    return hashlib.sha256(raw.encode()).hexdigest()


def _wait_seconds(request: web.Request) -> float:
    prefer = request.headers.get("Prefer")
    match = _PREFER_WAIT.search(prefer) if prefer else None
    if not match:
        return 0.0
    return min(float(match.group(1)), request.app[SETTINGS].wait_max_s)


async def post_comment(request: web.Request) -> web.Response:
    site = require(request, "site").name
    fields = await _read_comment(request)
    idem = _idempotency_key(request)
    # The payload hash only tells a replayed Idempotency-Key's payload from another one.
    payload_hash = hashlib.sha256(fields.to_json().encode()).hexdigest() if idem else ""
    app, now = request.app, time.time()
    comment_id = new_comment_id(now, app[IDS].take16())
    result = await app[ENQUEUER].enqueue(
        EnqueueRequest(
            comment_id, site, fields, now, request[REQUEST_ID], idem, payload_hash, fields.stored_json()
        )
    )
    if result.retry_after:
        raise ApiError(429, "rate_limited", "too many comments, retry later", retry_after=result.retry_after)
    request[COMMENT_ID] = result.comment_id
    if result.created:
        app[METRICS].accepted.inc()
    elif result.payload_hash != payload_hash:
        raise ApiError(
            422, "idempotency_key_reused", "this Idempotency-Key was used with a different payload"
        )
    wait = _wait_seconds(request)
    if not result.created and not wait:  # a retry after the decision gets the decided record, as GET
        record = await app[STORE].get(result.comment_id)
        if record is not None and record.status != "pending":
            location = {"Location": f"/v1/comments/{result.comment_id}"}
            return web.json_response(record.public(), status=200, headers=location)
    if not wait:  # the common case: the JSON of {"id": ..., "status": "pending"}, ids are plain hex
        return web.Response(
            body=b'{"id": "%s", "status": "pending"}' % result.comment_id.encode(),
            status=202,
            headers={"Content-Type": _JSON_UTF8, "Location": f"/v1/comments/{result.comment_id}"},
        )
    record = await wait_decided(request.app[STORE], request.app[WAITER], result.comment_id, wait)
    headers = {"Location": f"/v1/comments/{result.comment_id}", "Preference-Applied": f"wait={wait:g}"}
    if record is not None and record.status != "pending":
        return web.json_response(record.public(), status=200, headers=headers)
    status = "pending" if record is None else record.status
    return web.json_response({"id": result.comment_id, "status": status}, status=202, headers=headers)


async def get_comment(request: web.Request) -> web.Response:
    site = require(request, "site").name
    comment_id = request.match_info["comment_id"]
    record = None
    if is_comment_id(comment_id):
        request[COMMENT_ID] = comment_id
        record = await request.app[STORE].get(comment_id)
    if record is None or record.site != site:
        raise ApiError(404, "not_found", "no such comment")
    return web.json_response(record.public())


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/comments", post_comment)
    app.router.add_get("/v1/comments/{comment_id}", get_comment)
