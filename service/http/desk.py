"""The moderators' desk beyond the queue: a comment's context, the audit of all actions, activity.

Authenticated like every moderator endpoint (``moderation.moderator_for``):

* ``GET /v1/moderation/comments/{id}/context`` the thread, the parent comment with its verdict, the
  author's standing and recent comments (by author id; never the email)
* ``GET /v1/moderation/audit?since=&actor=&limit=&cursor=`` every moderator action, newest first
* ``GET /v1/moderation/activity`` held now, the oldest held comment's age, decisions today per moderator
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from service.core import reputation
from service.core.models import CommentRecord
from service.core.moderation import activity, audit_page
from service.core.privacy import author_hash
from service.http.common import KEYS, REDIS, SETTINGS, STORE, ApiError
from service.http.moderation import LISTS, bad_query, limit_param, moderator_for, path_comment_id
from service.http.web.listing import Filters, scan

RECENT = 5  # of each status, for the author's recent comments
_AUDIT_CURSOR = re.compile(r"^\d{1,15}-\d{1,15}$")
_ACTOR = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


def _brief(record: CommentRecord) -> dict[str, Any]:
    d = record.decision
    return {
        "id": record.id,
        "status": record.status,
        "verdict": d.verdict if d else None,
        "reasons": [r.get("code") for r in d.reasons] if d else [],
        "name": record.fields.name,
        "body": record.fields.body,
        "thread": record.fields.thread,
        "created_at": record.public()["created_at"],
        "decided_by": record.decided_by,
    }


async def _recent_by_author(request: web.Request, author: str, skip: str) -> list[dict[str, Any]]:
    app = request.app
    match = Filters(author=author, hash_key=app[SETTINGS].hash_secret).match
    found: list[CommentRecord] = []
    for status in LISTS:
        index = app[KEYS].held if status == "held" else app[KEYS].by_status(status)
        page = await scan(
            app[REDIS], app[STORE], index, status=status, descending=True,
            cursor=None, limit=RECENT + 1, match=match, budget=500,
        )  # fmt: skip
        found += [r for r in page.items if r.id != skip][:RECENT]
    found.sort(key=lambda r: r.created_at, reverse=True)
    return [_brief(r) for r in found]


async def context(request: web.Request) -> web.Response:
    await moderator_for(request)
    app = request.app
    record = await app[STORE].get(path_comment_id(request))
    if record is None:
        raise ApiError(404, "not_found", "no such comment")
    parent = await app[STORE].get(record.fields.parent_id) if record.fields.parent_id else None
    author = author_hash(record.fields.email, app[SETTINGS].hash_secret)
    [standing] = await reputation.standings(app[REDIS], app[KEYS], [(record.site, author)])
    return web.json_response(
        {
            "id": record.id,
            "thread": record.fields.thread,
            "parent": _brief(parent) if parent else None,
            "parent_id": record.fields.parent_id,
            "author": {"id": author, "site": record.site, "name": record.fields.name,
                       "standing": standing.standing, "approved": standing.approved},
            "author_recent": await _recent_by_author(request, author, record.id),
        }
    )  # fmt: skip


def _since(raw: str | None) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1e11:
        raise bad_query(since="unix seconds")
    return value


async def audit(request: web.Request) -> web.Response:
    await moderator_for(request)
    query = request.query
    since = _since(query.get("since"))
    actor = query.get("actor") or None
    if actor is not None and not _ACTOR.match(actor):
        raise bad_query(actor="a moderator name")
    cursor = query.get("cursor") or None
    if cursor is not None and not _AUDIT_CURSOR.match(cursor):
        raise bad_query(cursor="not a cursor from this API")
    limit = limit_param(request)
    page = await audit_page(request.app[REDIS], request.app[KEYS], since, actor, cursor, limit)
    return web.json_response({"items": page.items, "next_cursor": page.next_cursor})


async def get_activity(request: web.Request) -> web.Response:
    await moderator_for(request)
    return web.json_response(await activity(request.app[REDIS], request.app[KEYS]))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/moderation/comments/{comment_id}/context", context)
    app.router.add_get("/v1/moderation/audit", audit)
    app.router.add_get("/v1/moderation/activity", get_activity)
