"""``POST /v1/score`` (score without storing) and ``GET /v1/comments?since=`` (the site's decisions in order).

The feed merges the decision indexes in decision order: published and rejected comments by their index
(scored by decision time), held ones at the decision time of their record (the held index is scored by
creation time, so it is read from a minute before the cursor: a comment held more than a minute after it
was posted, behind a worker backlog, can be passed). A comment a moderator decides later comes again, at
its new decision time, so a site that reads the feed from its last ``next_cursor`` sees every verdict
change. Each page reads at most ``_SCAN`` index entries per status, of every site, and returns the
caller's own.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from service.core.models import CommentRecord
from service.core.queue import QueueUnavailable
from service.http.common import KEYS, REDIS, SETTINGS, STORE, ApiError, read_json, require, small_int
from service.http.protocols import base

_CURSOR = re.compile(r"^(\d{1,17})(?::([0-9a-f]{28}))?$")
_SCAN = 1000
_STATUSES = ("published", "rejected", "held")
_HELD_LAG_US = 60 * 1_000_000  # a held comment's decision is found up to this long after its creation


def _cursor(raw: str | None) -> tuple[int, str]:
    if not raw:
        return 0, ""
    match = _CURSOR.match(raw)
    if match is None:
        raise ApiError(422, "validation_failed", "bad query", fields={"since": "a next_cursor from this API"})
    return int(match.group(1)), match.group(2) or ""


async def _window(
    request: web.Request, since: tuple[int, str]
) -> tuple[list[tuple[int, str]], dict[str, CommentRecord]]:
    """Decisions after ``since`` in decision order (microseconds, id), as far as every index was read,
    and their records. Held comments are indexed by creation time: they are read from ``_HELD_LAG_US``
    before the cursor and placed at their decision time."""
    keys = request.app[KEYS]
    pipe = request.app[REDIS].pipeline(transaction=False)
    for status in _STATUSES:
        index = keys.held if status == "held" else keys.by_status(status)
        low = max(since[0] - _HELD_LAG_US, 0) if status == "held" else since[0]
        pipe.zrangebyscore(index, low, "+inf", start=0, num=_SCAN, withscores=True)
    rows = await pipe.execute()
    # Whatever an index holds past its last entry read was decided after that entry's score.
    horizon = min((int(row[-1][1]) for row in rows if len(row) == _SCAN), default=None)
    records = await request.app[STORE].get_many(list(dict.fromkeys(m for row in rows for m, _ in row)))
    entries = set()
    for status, row in zip(_STATUSES, rows, strict=True):
        for member, score in row:
            key = int(score)
            if status == "held":
                record = records.get(member)
                if record is None or record.status != "held" or record.decided_at is None:
                    continue
                key = int(record.decided_at * 1_000_000)
            entries.add((key, member))
    window = [e for e in sorted(entries) if e > since and (horizon is None or e[0] <= horizon)]
    return window, records


async def decisions(request: web.Request) -> web.Response:
    site = require(request, "site").name
    since = _cursor(request.query.get("since"))
    thread = request.query.get("thread")
    limit = small_int(request.query.get("limit", "100"), 1, 500)
    if limit is None:
        raise ApiError(422, "validation_failed", "bad query", fields={"limit": "an integer from 1 to 500"})
    window, records = await _window(request, since)
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
