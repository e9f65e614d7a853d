"""What every protocol endpoint shares: score a comment through the same intake, worker and policy as
``POST /v1/comments`` and wait for the worker's decision (as ``Prefer: wait`` does), forget a transient
comment once answered, and turn a caller's label into a moderator decision (a feedback label).

The HTTP side never loads the models (import-linter's layers): a protocol request is enqueued like any
comment and answered when a worker's decision arrives over the ``decided`` pub/sub channel.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from service.core import moderation
from service.core.models import CommentFields, CommentRecord, new_comment_id
from service.core.privacy import author_hash
from service.core.queue import EnqueueRequest
from service.core.validation import validate_comment
from service.http import waiter
from service.http.common import ENQUEUER, IDS, KEYRING, KEYS, REDIS, REQUEST_ID, SETTINGS, STORE, WAITER
from service.http.moderation import desk_of


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Submitted:
    comment_id: str
    fields: CommentFields


def site_of_key(app: web.Application, key: str | None) -> str | None:
    """The site whose API key this is (constant-time compare over every key), else None."""
    if not key:
        return None
    principal = app[KEYRING].lookup(f"Bearer {key.strip()}")
    return principal.name if principal is not None and principal.kind == "site" else None


def placeholder_email(kind: str, app: web.Application) -> str:
    """A protocol call without an author's email gets a fresh pseudonymous one, so calls never share an
    author (whose published count would make them trusted and change the verdict)."""
    return f"{kind}-{app[IDS].take16()}@{kind}{PLACEHOLDER_DOMAIN}"


PLACEHOLDER_DOMAIN = ".commentmod.example"  # placeholder addresses: <kind>-<hex>@<kind>.commentmod.example


def check_fields(payload: dict[str, Any]) -> CommentFields | dict[str, str]:
    """The API's own validation; an email the protocol lacks is filled in by the caller beforehand."""
    return validate_comment({k: v for k, v in payload.items() if v is not None})


async def workers_up(app: web.Application) -> bool:
    """Is any worker's heartbeat fresh (what /readyz checks)?"""
    beats = await app[REDIS].hvals(app[KEYS].workers)
    now, ttl = time.time(), app[SETTINGS].heartbeat_ttl_s
    return any(now - float(beat) <= ttl for beat in beats)


async def submit(
    request: web.Request, site: str, fields: CommentFields, idempotency: str | None = None
) -> Submitted:
    """Enqueue a comment as ``POST /v1/comments`` does (rate limits included); raises RateLimited."""
    app, now = request.app, time.time()
    idem = hashlib.sha256(idempotency.encode()).hexdigest() if idempotency else None
    payload_hash = hashlib.sha256(fields.to_json().encode()).hexdigest() if idem else ""
    comment_id = new_comment_id(now, app[IDS].take16())
    result = await app[ENQUEUER].enqueue(
        EnqueueRequest(comment_id, site, fields, now, request[REQUEST_ID], idem, payload_hash)
    )
    if result.retry_after:
        raise RateLimited(result.retry_after)
    return Submitted(result.comment_id, fields)


async def wait_decided(app: web.Application, comment_id: str, wait: float) -> CommentRecord | None:
    """The record once a worker (or moderator) decided it, or as it stands after ``wait`` seconds."""
    return await waiter.wait_decided(app[STORE], app[WAITER], comment_id, wait)


async def forget(app: web.Application, submitted: Submitted, site: str) -> None:
    """Remove a transient comment (Perspective's ``doNotStore``, Akismet's ``is_test``, ``POST
    /v1/score``): its record and text, audit trail and index entries, and the author key of a one-off
    placeholder address (never a real author's: their standing stays). A worker that has not scored it
    yet finds no record and acknowledges the entry without a decision."""
    keys, cid, email = app[KEYS], submitted.comment_id, submitted.fields.email
    pipe = app[REDIS].pipeline(transaction=True)
    pipe.delete(keys.comment(cid), keys.audit(cid))
    if email.endswith(PLACEHOLDER_DOMAIN):
        pipe.delete(keys.author(site, author_hash(email, app[SETTINGS].hash_secret)))
    pipe.zrem(keys.held, cid)
    for status in ("published", "rejected"):
        pipe.zrem(keys.by_status(status), cid)
    await pipe.execute()


async def label(app: web.Application, comment_id: str, who: str, approve: bool, note: str) -> str:
    """Record a caller's label as a moderator decision ``moderator:<who>`` (read by export-labels and
    calibrate); an approval counts towards the author's trust like a moderator's. Returns the status it
    had, or ``missing``."""
    before = await app[STORE].relabel(comment_id, who, approve, note)
    if approve and before not in {"missing", "published"}:
        record = await app[STORE].get(comment_id)
        if record is not None:
            await moderation.credit_approval(desk_of(app), record)
    return before


def with_email(fields: CommentFields, email: str) -> CommentFields:
    return replace(fields, email=email)
