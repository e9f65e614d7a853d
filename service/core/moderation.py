"""Moderators' actions on comments, usable from any side (HTTP API, page, CLI).

Each action is a fenced status change in the decision store (the comment must be in the action's
``from`` status, else ``Conflict``), written with its audit entry and its decision event (webhooks) by
one script. An approval (or a reinstatement) also counts towards the author's trust. Every action,
author standings and rule changes included, is on one audit stream that ``audit_page`` reads.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from service.core import reputation
from service.core.keys import Keys
from service.core.models import CommentRecord
from service.core.privacy import author_hash
from service.core.store import DecisionStore, NotFound


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    from_status: str
    to_status: str


ACTIONS = {
    "approve": Action("approve", "held", "published"),
    "reject": Action("reject", "held", "rejected"),
    "reinstate": Action("reinstate", "rejected", "published"),
    "unpublish": Action("unpublish", "published", "rejected"),
}


@dataclass(frozen=True, slots=True)
class Desk:
    """What an action needs: the store, Redis and key names, and the author-hash key."""

    store: DecisionStore
    redis: Redis
    keys: Keys
    hash_key: bytes


async def act(desk: Desk, comment_id: str, moderator: str, action: str, note: str | None) -> CommentRecord:
    """Apply ``action`` (a key of ``ACTIONS``) for ``moderator``; raises ``NotFound`` or ``Conflict``."""
    step = ACTIONS[action]
    await desk.store.transition(comment_id, moderator, step.name, (step.from_status, step.to_status), note)
    record = await desk.store.get(comment_id)
    if record is None:  # expired in between (retention): the decision itself stands
        raise NotFound(comment_id)
    if step.to_status == "published":
        await credit_approval(desk, record)
    return record


async def credit_approval(desk: Desk, record: CommentRecord) -> None:
    """A moderator's approval counts towards its author's trust on the record's site, from its network."""
    author = author_hash(record.fields.email, desk.hash_key)
    network = reputation.network_of(record.fields.ip, desk.hash_key)
    await reputation.count_approvals(desk.redis, desk.keys, [(record.site, author, network)])


AUDIT_MAX = 100_000  # entries kept on the moderation audit stream (approximately)
AUDIT_BUDGET = 2_000  # entries examined per audit page


async def record(redis: Redis, keys: Keys, entry: dict[str, Any], comment_id: str = "") -> None:
    """Put an action that is not a comment's status change (author standing, rules) on the audit stream."""
    raw = json.dumps(entry, ensure_ascii=False)
    await redis.xadd(keys.moderation_audit, {"id": comment_id, "entry": raw}, maxlen=AUDIT_MAX)


@dataclass(slots=True)
class AuditPage:
    items: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None


async def audit_page(
    redis: Redis, keys: Keys, since: float | None, actor: str | None, cursor: str | None, limit: int
) -> AuditPage:
    """Moderator actions, newest first, back to ``since`` (unix seconds), of ``actor`` (a moderator name)
    if given; ``cursor`` is a previous page's ``next_cursor`` (a stream entry id)."""
    low = "-" if since is None else str(int(since * 1000))
    high = "+" if cursor is None else f"({cursor}"
    page, scanned = AuditPage(), 0
    while scanned < AUDIT_BUDGET:
        rows = await redis.xrevrange(keys.moderation_audit, high, low, count=200)
        for entry_id, fields in rows:
            scanned += 1
            entry = json.loads(fields.get("entry", "{}"))
            high = f"({entry_id}"
            if actor is None or entry.get("actor") == f"moderator:{actor}":
                page.items.append({**entry, "id": fields.get("id") or None, "event": entry_id})
                if len(page.items) == limit:
                    page.next_cursor = entry_id
                    return page
        if len(rows) < 200:
            return page
    page.next_cursor = high[1:]
    return page


async def activity(redis: Redis, keys: Keys, now: float | None = None) -> dict[str, Any]:
    """Held now, the oldest held comment's age, and today's (UTC) comment decisions per moderator."""
    now = time.time() if now is None else now
    midnight = now - now % 86400
    held = int(await redis.zcard(keys.held))
    oldest = await redis.zrange(keys.held, 0, 0, withscores=True)
    per: dict[str, int] = {}
    for _, fields in await redis.xrevrange(
        keys.moderation_audit, "+", str(int(midnight * 1000)), count=10_000
    ):
        entry = json.loads(fields.get("entry", "{}"))
        if fields.get("id") and str(entry.get("actor", "")).startswith("moderator:"):
            name = entry["actor"].split(":", 1)[1]
            per[name] = per.get(name, 0) + 1
    return {
        "held_now": held,
        "oldest_held_age_s": round(now - oldest[0][1] / 1_000_000, 1) if oldest else None,
        "decided_today": sum(per.values()),
        "per_moderator": dict(sorted(per.items(), key=lambda kv: -kv[1])),
    }
