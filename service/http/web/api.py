"""JSON endpoints behind the moderators' page (a Bearer moderator key or the page session works).

* ``GET /v1/moderation/comments?status=held|published|rejected&reason=&thread=&site=&q=&limit=&cursor=``
* ``GET /v1/moderation/queue/counts``
* ``GET /v1/moderation/comments/{id}/history[?include=email]``
* ``POST /v1/moderation/decisions`` ``{"action": "approve"|"reject", "ids": [...], "note": "..."}``
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from service.core.logs import get_logger
from service.core.models import is_comment_id
from service.core.store import Conflict, NotFound
from service.core.validation import is_encodable
from service.http.common import KEYS, REDIS, SETTINGS, STORE, ApiError, read_json, small_int
from service.http.moderation import moderate, moderator_view
from service.http.web.listing import Filters, held_counts, scan
from service.http.web.session import moderator_for

log = get_logger("commentmod.moderate")

_CURSOR = re.compile(r"^\d{1,17}:[0-9a-f]{28}$")
LISTS = {"held": False, "published": True, "rejected": True}  # status -> newest first?
NOTE_MAX = 2000
BULK_MAX = 200
_QUERY_MAX = {"reason": 64, "thread": 2048, "site": 128, "q": 200}


def _bad(**fields: str) -> ApiError:
    return ApiError(422, "validation_failed", "bad query", fields=fields)


def _list_query(request: web.Request) -> tuple[str, int, str | None, Filters]:
    query = request.query
    status = query.get("status", "held")
    if status not in LISTS:
        raise _bad(status="held, published or rejected")
    limit = small_int(query.get("limit", "50"), 1, 200)
    if limit is None:
        raise _bad(limit="an integer from 1 to 200")
    cursor = query.get("cursor") or None
    if cursor is not None and not _CURSOR.match(cursor):
        raise _bad(cursor="not a cursor from this API")
    values: dict[str, str | None] = {}
    for name, most in _QUERY_MAX.items():
        value = query.get(name) or None
        if value is not None and len(value) > most:
            raise _bad(**{name: f"at most {most} characters"})
        values[name] = value
    return status, limit, cursor, Filters(**values)


async def list_comments(request: web.Request) -> web.Response:
    await moderator_for(request)
    status, limit, cursor, filters = _list_query(request)
    keys = request.app[KEYS]
    index = keys.held if status == "held" else keys.by_status(status)
    page = await scan(
        request.app[REDIS],
        request.app[STORE],
        index,
        status=status,
        descending=LISTS[status],
        cursor=cursor,
        limit=limit,
        match=filters.match,
    )
    key = request.app[SETTINGS].hash_secret
    body = {
        "items": [record.for_moderator(key) for record in page.items],
        "next_cursor": page.next_cursor,
        "scanned": page.scanned,
    }
    return web.json_response(body)


async def queue_counts(request: web.Request) -> web.Response:
    await moderator_for(request)
    return web.json_response(await held_counts(request.app[REDIS], request.app[KEYS]))


async def history(request: web.Request) -> web.Response:
    await moderator_for(request)
    return await moderator_view(request)


async def _decision_body(request: web.Request) -> tuple[bool, list[str], str | None]:
    payload = await read_json(request)
    assert payload is not None
    errors = {k: "unknown field" for k in payload if k not in {"action", "ids", "note"}}
    action, ids, note = payload.get("action"), payload.get("ids"), payload.get("note")
    if not isinstance(action, str) or action not in {"approve", "reject"}:
        errors["action"] = "approve or reject"
    if not isinstance(ids, list) or not 1 <= len(ids) <= BULK_MAX:
        errors["ids"] = f"a list of 1 to {BULK_MAX} comment ids"
    elif not all(isinstance(i, str) and is_comment_id(i) for i in ids):
        errors["ids"] = "not comment ids"
    if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX):
        errors["note"] = f"a string of at most {NOTE_MAX} characters"
    elif isinstance(note, str) and not is_encodable(note):
        errors["note"] = "contains invalid unicode (lone surrogate)"
    if errors:
        raise ApiError(422, "validation_failed", "some fields are invalid", fields=errors)
    assert isinstance(ids, list)
    return action == "approve", list(dict.fromkeys(ids)), note or None


async def decisions(request: web.Request) -> web.Response:
    """Approve or reject one or many held comments; each id gets its own result (partial success ok)."""
    moderator = await moderator_for(request)
    approve, ids, note = await _decision_body(request)
    results: list[dict[str, Any]] = []
    for comment_id in ids:
        try:
            await moderate(request.app, comment_id, moderator, approve, note)
        except NotFound:
            results.append({"id": comment_id, "ok": False, "error": "not_found"})
        except Conflict as exc:
            results.append({"id": comment_id, "ok": False, "error": "conflict", "status": exc.status})
        else:
            status = "published" if approve else "rejected"
            results.append({"id": comment_id, "ok": True, "status": status})
    done = sum(1 for r in results if r["ok"])
    log.info("moderation_decisions", action="approve" if approve else "reject", done=done, asked=len(ids))
    return web.json_response({"results": results})


def add_api_routes(app: web.Application) -> None:
    app.router.add_get("/v1/moderation/comments", list_comments)
    app.router.add_get("/v1/moderation/queue/counts", queue_counts)
    app.router.add_get("/v1/moderation/comments/{comment_id}/history", history)
    app.router.add_post("/v1/moderation/decisions", decisions)
