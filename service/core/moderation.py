"""Moderators' actions on comments, usable from any side (HTTP API, page, CLI).

Each action is a fenced status change in the decision store (the comment must be in the action's
``from`` status, else ``Conflict``), written with its audit entry and its decision event (webhooks) by
one script. An approval also counts towards the author's trust.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    await desk.store.moderate(comment_id, moderator, step.to_status == "published", note)
    record = await desk.store.get(comment_id)
    if record is None:  # expired in between (retention): the decision itself stands
        raise NotFound(comment_id)
    if step.to_status == "published":
        author = author_hash(record.fields.email, desk.hash_key)
        await reputation.count_published(desk.redis, desk.keys, [(record.site, author)])
    return record
