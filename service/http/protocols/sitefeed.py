"""``POST /v1/score`` (score without storing) and ``GET /v1/comments?since=`` (the site's decisions in order).

The feed merges the decision indexes: published and rejected comments by decision time, held ones by
creation time (the held index's order; a worker decides within moments of creation). A comment a
moderator decides later comes again, at its new decision time, so a site that reads the feed from its
last ``next_cursor`` sees every verdict change. Each page reads at most ``_SCAN`` index entries per
status, of every site, and returns the caller's own.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from service.core.queue import QueueUnavailable
from service.http.common import KEYS, REDIS, SETTINGS, STORE, ApiError, read_json, require, small_int
from service.http.protocols import base

_CURSOR = re.compile(r"^(\d{1,17})(?::([0-9a-f]{28}))?$")
_SCAN = 1000
_STATUSES = ("published", "rejected", "held")


def _cursor(raw: str | None) -> tuple[int, str]:
    if not raw:
        return 0, ""
    match = _CURSOR.match(raw)
    if match is None:
        raise ApiError(422, "validation_failed", "bad query", fields={"since": "a next_cursor from this API"})
    return int(match.group(1)), match.group(2) or ""


async def _window(request: web.Request, since: tuple[int, str]) -> list[tuple[int, str]]:
    """Index entries after ``since`` in decision order, as far as every index was read."""
    keys = request.app[KEYS]
    pipe = request.app[REDIS].pipeline(transaction=False)
    for status in _STATUSES:
        index = keys.held if status == "held" else keys.by_status(status)
        pipe.zrangebyscore(index, since[0], "+inf", start=0, num=_SCAN, withscores=True)
    rows = await pipe.execute()
    horizon = min((int(row[-1][1]) for row in rows if len(row) == _SCAN), default=None)
    merged = sorted((int(score), member) for row in rows for member, score in row)
    return [e for e in merged if e > since and (horizon is None or e[0] <= horizon)]


async def decisions(request: web.Request) -> web.Response:
    site = require(request, "site").name
    since = _cursor(request.query.get("since"))
    thread = request.query.get("thread")
    limit = small_int(request.query.get("limit", "100"), 1, 500)
    if limit is None:
        raise ApiError(422, "validation_failed", "bad query", fields={"limit": "an integer from 1 to 500"})
    window = await _window(request, since)
    records = await request.app[STORE].get_many(list(dict.fromkeys(member for _, member in window)))
    items: list[dict[str, Any]] = []
    last = since
    for entry in window:
        last = entry
        record = records.get(entry[1])
        if record is None or record.site != site or record.status == "pending":
            continue
        if thread is not None and record.fields.thread != thread:
            continue
        items.append(record.public())
        if len(items) == limit:
            break
    cursor = f"{last[0]}:{last[1]}" if last[1] else (request.query.get("since") or None)
    return web.json_response({"items": items, "next_cursor": cursor})


async def score(request: web.Request) -> web.Response:
    """Score a comment with the same models and policy as ``POST /v1/comments``; nothing is kept: the
    record is removed once answered (and an automatic publication is not counted to the author)."""
    site = require(request, "site").name
    payload = await read_json(request)
    assert payload is not None
    fields = base.check_fields(payload)
    if isinstance(fields, dict):
        raise ApiError(422, "validation_failed", "some fields are invalid", fields=fields)
    app = request.app
    if not await base.workers_up(app):
        raise ApiError(503, "no_workers", "no scoring worker is running, retry later", retry_after=2)
    try:
        submitted = await base.submit(request, site, fields)
    except base.RateLimited as exc:
        raise ApiError(
            429, "rate_limited", "too many comments, retry later", retry_after=exc.retry_after
        ) from exc
    except QueueUnavailable as exc:
        raise ApiError(503, "unavailable", "storage is unavailable, retry later", retry_after=2) from exc
    try:
        record = await base.wait_decided(app, submitted.comment_id, app[SETTINGS].wait_max_s)
    finally:
        await base.forget(app, submitted, site)
    if record is None or record.status == "pending":
        raise ApiError(503, "no_decision", "no worker decided in time, retry later", retry_after=2)
    body = record.public()
    for name in ("id", "created_at", "decided_at", "decided_by"):
        body.pop(name, None)
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/score", score)
    app.router.add_get("/v1/comments", decisions)
