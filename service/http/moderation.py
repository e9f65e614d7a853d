"""The moderator API, for API clients (Bearer moderator key) and the moderators' page (session + CSRF).

One authentication helper (``moderator_for``), one note limit (``NOTE_MAX``) and one cursor format
(``"<score>:<id>"``, read by ``cursor_param``) serve every moderator endpoint:

* ``GET /v1/moderation/queue?limit=&cursor=`` held comments, oldest first, with ``held_total``
* ``GET /v1/moderation/comments?status=held|published|rejected&reason=&thread=&site=&q=&author=`` (and
  ``limit``, ``cursor``)
* ``GET /v1/moderation/queue/counts``
* ``GET /v1/moderation/comments/{id}[/history][?include=email]`` one comment with its audit trail
* ``POST /v1/moderation/comments/{id}/approve|reject|reinstate|unpublish`` ``{"note": "..."}`` (body
  optional); each needs the comment in its ``from`` status (held; rejected; published), else ``409``
* ``POST /v1/moderation/decisions`` ``{"action": "approve"|"reject"|"reinstate"|"unpublish", "ids": [...],
  "note": "..."}``
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from service.core.logs import get_logger
from service.core.models import CommentRecord, is_comment_id
from service.core.moderation import ACTIONS, Desk, act
from service.core.normalize import fold_units
from service.core.store import Conflict, NotFound
from service.core.validation import is_encodable
from service.http.common import (
    COMMENT_ID,
    KEYRING,
    KEYS,
    METRICS,
    REDIS,
    SETTINGS,
    STORE,
    ApiError,
    read_json,
    small_int,
)
from service.http.web.listing import Filters, held_counts, scan
from service.http.web.session import CSRF_HEADER, SAFE_METHODS, csrf_ok, current_session

log = get_logger("commentmod.moderate")

NOTE_MAX = 2000
BULK_MAX = 200
_CURSOR = re.compile(r"^\d{1,17}:[0-9a-f]{28}$")
LISTS = {"held": False, "published": True, "rejected": True}  # status -> newest first?
_QUERY_MAX = {"reason": 64, "thread": 2048, "site": 128, "q": 200}
_AUTHOR = re.compile(r"^[0-9a-f]{32}$")
_EDGE = "!.,;:?\"'()[]{}«»“”‘’"  # punctuation around a word, left out of its highlight


async def moderator_for(request: web.Request) -> str:
    """The moderator behind a request: a Bearer moderator key, or the session cookie (+ CSRF on writes).

    401 without valid credentials, 403 for a site key or a cookie write without the right CSRF token.
    """
    authorization = request.headers.get("Authorization")
    if authorization:
        principal = request.app[KEYRING].lookup(authorization)
        if principal is None:
            raise ApiError(401, "unauthorized", "unknown key")
        if principal.kind != "moderator":
            raise ApiError(403, "forbidden", "this endpoint needs a moderator key")
        return principal.name
    session = await current_session(request)
    if session is None:
        raise ApiError(401, "unauthorized", "sign in at /moderate or send Authorization: Bearer <key>")
    if request.method not in SAFE_METHODS and not csrf_ok(session, request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "csrf_failed", f"missing or wrong {CSRF_HEADER} header")
    return session.moderator


def desk_of(app: web.Application) -> Desk:
    return Desk(app[STORE], app[REDIS], app[KEYS], app[SETTINGS].hash_secret)


def desk(request: web.Request) -> Desk:
    return desk_of(request.app)


def bad_query(**fields: str) -> ApiError:
    return ApiError(422, "validation_failed", "bad query", fields=fields)


def limit_param(request: web.Request) -> int:
    limit = small_int(request.query.get("limit", "50"), 1, 200)
    if limit is None:
        raise bad_query(limit="an integer from 1 to 200")
    return limit


def cursor_param(request: web.Request) -> str | None:
    """The ``cursor`` query parameter: ``"<score>:<comment id>"`` as returned in ``next_cursor``."""
    cursor = request.query.get("cursor") or None
    if cursor is not None and not _CURSOR.match(cursor):
        raise bad_query(cursor="not a cursor from this API")
    return cursor


def note_error(note: Any) -> str | None:
    """Why ``note`` is not an acceptable moderator note (``None``: absent or fine)."""
    if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX):
        return f"a string of at most {NOTE_MAX} characters"
    if isinstance(note, str) and not is_encodable(note):
        return "contains invalid unicode (lone surrogate)"
    return None


def path_comment_id(request: web.Request) -> str:
    comment_id = request.match_info["comment_id"]
    if not is_comment_id(comment_id):
        raise ApiError(404, "not_found", "no such comment")
    request[COMMENT_ID] = comment_id
    return comment_id


def whole_words(body: str, spans: list[Any]) -> list[list[int]]:
    """Each span widened to the pieces folding reads as one word (``"s t u p i d"``, ``"st.upid"``), so a
    highlight never falls inside a word; malformed spans are dropped."""
    units = []
    for a, b in fold_units(body) if spans else []:
        piece = body[a:b]
        inner = piece.strip(_EDGE) or piece
        head = a + piece.index(inner)
        units.append((head, head + len(inner)))
    out: list[list[int]] = []
    for span in spans:
        if not (isinstance(span, list) and len(span) == 2 and all(isinstance(v, int) for v in span)):
            continue
        start, end = span
        around = [(a, b) for a, b in units if a < end and start < b]
        out.append([min([start, *(a for a, _ in around)]), max([end, *(b for _, b in around)])])
    return out


def moderator_view(record: CommentRecord, hash_key: bytes) -> dict[str, Any]:
    """The moderator view of a record, its reasons' spans on whole words."""
    body = record.for_moderator(hash_key)
    reasons = []
    for reason in body["reasons"]:
        if reason.get("spans"):
            reason = {**reason, "spans": whole_words(record.fields.body, reason["spans"])}
        reasons.append(reason)
    body["reasons"] = reasons
    return body


def _listing(request: web.Request, items: list[CommentRecord], **extra: Any) -> web.Response:
    key = request.app[SETTINGS].hash_secret
    return web.json_response({"items": [moderator_view(record, key) for record in items], **extra})


async def _scan(request: web.Request, status: str, filters: Filters) -> Any:
    keys = request.app[KEYS]
    return await scan(
        request.app[REDIS],
        request.app[STORE],
        keys.held if status == "held" else keys.by_status(status),
        status=status,
        descending=LISTS[status],
        cursor=cursor_param(request),
        limit=limit_param(request),
        match=filters.match,
    )


async def queue(request: web.Request) -> web.Response:
    await moderator_for(request)
    page = await _scan(request, "held", Filters())
    held_total = await request.app[STORE].held_count()
    return _listing(request, page.items, next_cursor=page.next_cursor, held_total=held_total)


def _filters(request: web.Request) -> Filters:
    values: dict[str, str | None] = {}
    for name, most in _QUERY_MAX.items():
        value = request.query.get(name) or None
        if value is not None and len(value) > most:
            raise bad_query(**{name: f"at most {most} characters"})
        values[name] = value
    author = request.query.get("author") or None
    if author is not None and not _AUTHOR.match(author):
        raise bad_query(author="an author id as the moderator view shows it")
    return Filters(**values, author=author, hash_key=request.app[SETTINGS].hash_secret)


async def list_comments(request: web.Request) -> web.Response:
    await moderator_for(request)
    status = request.query.get("status", "held")
    if status not in LISTS:
        raise bad_query(status="held, published or rejected")
    page = await _scan(request, status, _filters(request))
    extra = {"resume_cursor": page.resume_cursor} if page.resume_cursor else {}
    return _listing(request, page.items, next_cursor=page.next_cursor, scanned=page.scanned, **extra)


async def queue_counts(request: web.Request) -> web.Response:
    await moderator_for(request)
    return web.json_response(await held_counts(request.app[REDIS], request.app[KEYS]))


async def _detail(request: web.Request, record: CommentRecord) -> dict[str, Any]:
    body = moderator_view(record, request.app[SETTINGS].hash_secret)
    if request.query.get("include") == "email":
        body["email"] = record.fields.email
    body["audit"] = await request.app[STORE].audit_trail(record.id)
    return body


async def comment(request: web.Request) -> web.Response:
    """One comment: scores, reasons, audit trail; the email only with ``?include=email``."""
    await moderator_for(request)
    record = await request.app[STORE].get(path_comment_id(request))
    if record is None:
        raise ApiError(404, "not_found", "no such comment")
    return web.json_response(await _detail(request, record))


async def _note(request: web.Request) -> str | None:
    payload = await read_json(request, allow_empty=True)
    if payload is None:
        return None
    errors = {k: "unknown field" for k in payload if k != "note"}
    if problem := note_error(payload.get("note")):
        errors["note"] = problem
    if errors:
        raise ApiError(422, "validation_failed", "some fields are invalid", fields=errors)
    return payload.get("note")


async def _act(request: web.Request, action: str) -> web.Response:
    moderator = await moderator_for(request)
    comment_id = path_comment_id(request)
    note = await _note(request)
    try:
        record = await act(desk(request), comment_id, moderator, action, note)
    except NotFound as exc:
        raise ApiError(404, "not_found", "no such comment") from exc
    except Conflict as exc:
        message = f"comment is {exc.status}, not {ACTIONS[action].from_status}"
        raise ApiError(409, "conflict", message, status=exc.status) from exc
    request.app[METRICS].moderator_actions.labels(action).inc()
    log.info("moderation_action", action=action, comment_id=comment_id, moderator=moderator)
    return web.json_response(await _detail(request, record))


def _action_handler(action: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return await _act(request, action)

    handler.__name__ = action
    return handler


async def _decision_body(request: web.Request) -> tuple[str, list[str], str | None]:
    payload = await read_json(request)
    assert payload is not None
    errors = {k: "unknown field" for k in payload if k not in {"action", "ids", "note"}}
    action, ids, note = payload.get("action"), payload.get("ids"), payload.get("note")
    if not isinstance(action, str) or action not in ACTIONS:
        errors["action"] = "approve, reject, reinstate or unpublish"
    if not isinstance(ids, list) or not 1 <= len(ids) <= BULK_MAX:
        errors["ids"] = f"a list of 1 to {BULK_MAX} comment ids"
    elif not all(isinstance(i, str) and is_comment_id(i) for i in ids):
        errors["ids"] = "not comment ids"
    if problem := note_error(note):
        errors["note"] = problem
    if errors:
        raise ApiError(422, "validation_failed", "some fields are invalid", fields=errors)
    assert isinstance(ids, list) and isinstance(action, str)
    return action, list(dict.fromkeys(ids)), note or None


async def decisions(request: web.Request) -> web.Response:
    """One action on one or many comments; each id gets its own result (partial success ok)."""
    moderator = await moderator_for(request)
    action, ids, note = await _decision_body(request)
    results: list[dict[str, Any]] = []
    for comment_id in ids:
        try:
            record = await act(desk(request), comment_id, moderator, action, note)
        except NotFound:
            results.append({"id": comment_id, "ok": False, "error": "not_found"})
        except Conflict as exc:
            results.append({"id": comment_id, "ok": False, "error": "conflict", "status": exc.status})
        else:
            request.app[METRICS].moderator_actions.labels(action).inc()
            results.append({"id": comment_id, "ok": True, "status": record.status})
    done = sum(1 for r in results if r["ok"])
    log.info("moderation_decisions", action=action, done=done, asked=len(ids))
    return web.json_response({"results": results})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/moderation/queue", queue)
    app.router.add_get("/v1/moderation/queue/counts", queue_counts)
    app.router.add_get("/v1/moderation/comments", list_comments)
    app.router.add_get("/v1/moderation/comments/{comment_id}", comment)
    app.router.add_get("/v1/moderation/comments/{comment_id}/history", comment)
    for action in ACTIONS:
        app.router.add_post(f"/v1/moderation/comments/{{comment_id}}/{action}", _action_handler(action))
    app.router.add_post("/v1/moderation/decisions", decisions)
