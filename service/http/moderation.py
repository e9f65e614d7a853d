"""Moderator endpoints: the held queue, one comment with its audit trail, approve and reject."""

from __future__ import annotations

import re

from aiohttp import web

from service.core import reputation
from service.core.models import CommentRecord, is_comment_id
from service.core.privacy import author_hash
from service.core.store import Conflict, NotFound
from service.core.validation import is_encodable
from service.http.common import (
    COMMENT_ID,
    KEYS,
    REDIS,
    SETTINGS,
    STORE,
    ApiError,
    read_json,
    require,
    small_int,
)

_CURSOR = re.compile(r"^\d{1,17}:[0-9a-f]{28}$")
NOTE_MAX = 2000


def _limit(request: web.Request) -> int:
    limit = small_int(request.query.get("limit", "50"), 1, 200)
    if limit is None:
        raise ApiError(422, "validation_failed", "bad query", fields={"limit": "an integer from 1 to 200"})
    return limit


async def queue(request: web.Request) -> web.Response:
    require(request, "moderator")
    limit = _limit(request)
    cursor = request.query.get("cursor") or None
    if cursor is not None and not _CURSOR.match(cursor):
        raise ApiError(422, "validation_failed", "bad query", fields={"cursor": "not a cursor from this API"})
    store = request.app[STORE]
    page = await store.held_page(limit, cursor)
    key = request.app[SETTINGS].hash_secret
    return web.json_response(
        {
            "items": [record.for_moderator(key) for record in page.items],
            "next_cursor": page.next_cursor,
            "held_total": await store.held_count(),
        }
    )


def path_comment_id(request: web.Request) -> str:
    comment_id = request.match_info["comment_id"]
    if not is_comment_id(comment_id):
        raise ApiError(404, "not_found", "no such comment")
    request[COMMENT_ID] = comment_id
    return comment_id


async def get_for_moderator(request: web.Request) -> web.Response:
    require(request, "moderator")
    return await moderator_view(request)


async def moderator_view(request: web.Request) -> web.Response:
    """One comment for a moderator (caller checked who asks): scores, reasons, audit; email on demand."""
    comment_id = path_comment_id(request)
    store = request.app[STORE]
    record = await store.get(comment_id)
    if record is None:
        raise ApiError(404, "not_found", "no such comment")
    body = record.for_moderator(request.app[SETTINGS].hash_secret)
    if request.query.get("include") == "email":
        body["email"] = record.fields.email
    body["audit"] = await store.audit_trail(comment_id)
    return web.json_response(body)


async def _note(request: web.Request) -> str | None:
    payload = await read_json(request, allow_empty=True)
    if payload is None:
        return None
    errors = {k: "unknown field" for k in payload if k != "note"}
    note = payload.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX):
        errors["note"] = f"a string of at most {NOTE_MAX} characters"
    elif isinstance(note, str) and not is_encodable(note):
        errors["note"] = "contains invalid unicode (lone surrogate)"
    if errors:
        raise ApiError(422, "validation_failed", "some fields are invalid", fields=errors)
    return note


async def _act(request: web.Request, approve: bool) -> web.Response:
    moderator = require(request, "moderator").name
    comment_id = path_comment_id(request)
    note = await _note(request)
    try:
        record = await moderate(request.app, comment_id, moderator, approve, note)
    except NotFound as exc:
        raise ApiError(404, "not_found", "no such comment") from exc
    except Conflict as exc:
        raise ApiError(409, "conflict", f"comment is {exc.status}, not held", status=exc.status) from exc
    body = record.for_moderator(request.app[SETTINGS].hash_secret)
    body["audit"] = await request.app[STORE].audit_trail(comment_id)
    return web.json_response(body)


async def moderate(
    app: web.Application, comment_id: str, moderator: str, approve: bool, note: str | None
) -> CommentRecord:
    """A moderator's decision (raises NotFound/Conflict); an approval counts towards the author's trust."""
    store = app[STORE]
    await store.moderate(comment_id, moderator, approve, note)
    record = await store.get(comment_id)
    if record is None:  # expired in between (retention): the decision itself stands
        raise NotFound(comment_id)
    if approve:
        author = author_hash(record.fields.email, app[SETTINGS].hash_secret)
        await reputation.count_published(app[REDIS], app[KEYS], [(record.site, author)])
    return record


async def approve(request: web.Request) -> web.Response:
    return await _act(request, approve=True)


async def reject(request: web.Request) -> web.Response:
    return await _act(request, approve=False)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/moderation/queue", queue)
    app.router.add_get("/v1/moderation/comments/{comment_id}", get_for_moderator)
    app.router.add_post("/v1/moderation/comments/{comment_id}/approve", approve)
    app.router.add_post("/v1/moderation/comments/{comment_id}/reject", reject)
