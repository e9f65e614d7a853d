"""The decision store: comment records, verdicts, the held queue and the audit trail, all in Redis.

State changes are Lua scripts (service/core/lua/decide.lua and moderate.lua), each atomic and fenced:
* a worker's decision is written only while the comment is ``pending`` (a late or repeated write
  from a stale worker is a no-op, and a moderator's decision is never overwritten by a worker);
* a moderator's change needs the comment in the change's ``from`` status (``held`` to approve or
  reject, ``rejected`` to reinstate, ``published`` to unpublish); anything else answers a conflict.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from service.core.keys import Keys
from service.core.models import CommentRecord, Decision
from service.core.scripts import DECIDE, MODERATE, RELABEL


class Conflict(Exception):
    """The comment is not in a state that allows the action (for example not held)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class NotFound(Exception):
    """No such comment (or not visible to the caller)."""


def audit_entry(actor: str, action: str, from_status: str, to_status: str, note: str | None = None) -> str:
    entry: dict[str, Any] = {
        "at": time.time(),
        "actor": actor,
        "action": action,
        "from": from_status,
        "to": to_status,
    }
    if note:
        entry["note"] = note
    return json.dumps(entry, ensure_ascii=False)


class DecisionStore:
    """Reads and fenced writes of comment records."""

    def __init__(self, redis: Redis, keys: Keys, retention_s: int = 0) -> None:
        """``retention_s`` > 0 expires decided records (held ones too) that long after their decision
        (a moderator's decision starts it again); pending comments never expire."""
        self._redis = redis
        self._keys = keys
        self._retention_s = retention_s
        self._decide = DECIDE.on(redis)
        self._moderate = MODERATE.on(redis)
        self._relabel = RELABEL.on(redis)

    async def get(self, comment_id: str) -> CommentRecord | None:
        data = await self._redis.hgetall(self._keys.comment(comment_id))
        if not data or "status" not in data:
            return None
        return CommentRecord.from_hash(comment_id, data)

    async def get_many(self, ids: list[str]) -> dict[str, CommentRecord]:
        if not ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for comment_id in ids:
            pipe.hgetall(self._keys.comment(comment_id))
        rows = await pipe.execute()
        return {cid: CommentRecord.from_hash(cid, row) for cid, row in zip(ids, rows, strict=True) if row}

    async def decide(self, comment_id: str, created_at: float, decision: Decision) -> str:
        """Store an automatic decision if the comment is still pending.

        Returns ``"ok"`` when written, ``"missing"`` if there is no such comment, or the current status
        when it was already decided (the write is then a no-op: idempotent and fenced).
        """
        keys, args = self._decide_call(comment_id, created_at, decision)
        return str(await self._decide(keys=keys, args=args))

    async def decide_many(self, items: Sequence[tuple[str, float, Decision]]) -> list[str]:
        """``decide`` for a batch of ``(comment_id, created_at, decision)`` in one pipeline (plus
        redis-py's SCRIPT EXISTS before it); each write is still its own fenced script. One result per
        item, in order."""
        if not items:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for comment_id, created_at, decision in items:
            keys, args = self._decide_call(comment_id, created_at, decision)
            await self._decide(keys=keys, args=args, client=pipe)
        return [str(result) for result in await pipe.execute()]

    def _decide_call(
        self, comment_id: str, created_at: float, decision: Decision
    ) -> tuple[list[str], list[Any]]:
        now = time.time()
        entry = audit_entry("auto", "decide", "pending", decision.status)
        keys = [
            self._keys.comment(comment_id),
            self._keys.held,
            self._keys.attempts,
            self._keys.audit(comment_id),
            self._keys.by_status(decision.status),
            self._keys.webhook_stream,
            self._keys.webhook_order(comment_id),
        ]
        args = [
            comment_id,
            decision.to_json(),
            decision.status,
            repr(now),
            int(created_at * 1_000_000),
            entry,
            self._keys.decided_channel,
            int(now * 1_000_000),
            self._retention_s,
        ]
        return keys, args

    async def moderate(self, comment_id: str, moderator: str, approve: bool, note: str | None) -> None:
        """Approve or reject a held comment; raises ``NotFound`` or ``Conflict``."""
        action, to_status = ("approve", "published") if approve else ("reject", "rejected")
        await self.transition(comment_id, moderator, action, ("held", to_status), note)

    async def transition(
        self, comment_id: str, moderator: str, action: str, change: tuple[str, str], note: str | None
    ) -> None:
        """A moderator's status change ``(from, to)``, only while the comment is in ``from``; with its audit
        entry (also on the moderation audit stream) and its decision event. Raises ``NotFound`` or
        ``Conflict`` (carrying the current status)."""
        from_status, to_status = change
        now = time.time()
        actor = f"moderator:{moderator}"
        entry = audit_entry(actor, action, from_status, to_status, note)
        result = str(
            await self._moderate(
                keys=[
                    self._keys.comment(comment_id),
                    self._keys.held if from_status == "held" else self._keys.by_status(from_status),
                    self._keys.audit(comment_id),
                    self._keys.by_status(to_status),
                    self._keys.webhook_stream,
                    self._keys.moderation_audit,
                    self._keys.webhook_order(comment_id),
                ],
                args=[
                    comment_id,
                    to_status,
                    actor,
                    repr(now),
                    entry,
                    self._keys.decided_channel,
                    int(now * 1_000_000),
                    self._retention_s,
                    from_status,
                ],
            )
        )
        if result == "missing":
            raise NotFound(comment_id)
        if result != "ok":
            raise Conflict(result)

    async def relabel(self, comment_id: str, moderator: str, approve: bool, note: str) -> str:
        """A caller's label (Perspective's suggestscore, Akismet's submit-spam/ham) as the moderator
        decision ``moderator:<moderator>``, from whatever status the comment is in: published or rejected,
        audited, with its decision event. Returns the status it had, or ``missing``."""
        to_status = "published" if approve else "rejected"
        now = time.time()
        actor = f"moderator:{moderator}"
        entry = audit_entry(actor, "approve" if approve else "reject", "feedback", to_status, note)
        keys = self._keys
        result = await self._relabel(
            keys=[
                keys.comment(comment_id),
                keys.held,
                keys.audit(comment_id),
                keys.by_status("published"),
                keys.by_status("rejected"),
                keys.webhook_stream,
                keys.webhook_order(comment_id),
            ],
            args=[
                comment_id,
                to_status,
                actor,
                repr(now),
                entry,
                keys.decided_channel,
                int(now * 1_000_000),
                self._retention_s,
            ],
        )
        return str(result)

    async def audit_trail(self, comment_id: str) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(self._keys.audit(comment_id), 0, -1)
        return [json.loads(item) for item in raw]

    async def held_count(self) -> int:
        return int(await self._redis.zcard(self._keys.held))

    async def trim_indexes(self) -> int:
        """Drop ids of expired records from the published/rejected indexes."""
        if self._retention_s <= 0:
            return 0
        cutoff = int((time.time() - self._retention_s) * 1_000_000)
        removed = 0
        for status in ("published", "rejected"):
            removed += int(await self._redis.zremrangebyscore(self._keys.by_status(status), "-inf", cutoff))
        # Held ids are scored by creation time: drop those whose record has expired.
        old = await self._redis.zrangebyscore(self._keys.held, "-inf", cutoff, start=0, num=10_000)
        if old:
            pipe = self._redis.pipeline(transaction=False)
            for comment_id in old:
                pipe.exists(self._keys.comment(comment_id))
            gone = [cid for cid, exists in zip(old, await pipe.execute(), strict=True) if not exists]
            if gone:
                removed += int(await self._redis.zrem(self._keys.held, *gone))
        return removed
