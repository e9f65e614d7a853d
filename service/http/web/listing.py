"""Bounded scans of the status indexes (held, published, rejected) with filters, and queue counts.

Each request examines at most a fixed number of ids (its *budget*) and returns a cursor to go on from
where it stopped, so a filter or a search never walks an unbounded index in one request. Cursors are
``"<score>:<id>"`` like the held queue's; members that share a score are ordered by id, so resuming is
exact.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from service.core.keys import Keys
from service.core.models import CommentRecord
from service.core.privacy import author_hash
from service.core.store import DecisionStore

CHUNK = 200
SCAN_BUDGET = 1000  # ids examined per list request
COUNT_BUDGET = 10_000  # held ids examined by the counts


@dataclass(frozen=True, slots=True)
class Filters:
    reason: str | None = None
    thread: str | None = None
    site: str | None = None
    q: str | None = None
    author: str | None = None  # the author pseudonym the moderator view shows
    hash_key: bytes = b""  # the key of that pseudonym

    def match(self, record: CommentRecord) -> bool:
        if self.site is not None and record.site != self.site:
            return False
        if self.author is not None and author_hash(record.fields.email, self.hash_key) != self.author:
            return False
        if self.thread is not None and record.fields.thread != self.thread:
            return False
        if self.reason is not None:
            reasons = record.decision.reasons if record.decision else []
            if not any(r.get("code") == self.reason for r in reasons):
                return False
        if self.q:
            needle = self.q.casefold()
            f = record.fields
            hay = (f.body, f.name, f.thread or "", record.site, record.id)
            if not any(needle in text.casefold() for text in hay):
                return False
        return True


@dataclass(slots=True)
class Position:
    """Where a scan stands: the last (score, id) seen, or nothing yet."""

    score: int | None = None
    member: str = ""

    @classmethod
    def parse(cls, cursor: str | None) -> Position:
        if not cursor:
            return cls()
        score, _, member = cursor.partition(":")
        return cls(int(score), member)

    def cursor(self) -> str:
        return f"{self.score}:{self.member}"


@dataclass(slots=True)
class Page:
    items: list[CommentRecord] = field(default_factory=list)
    next_cursor: str | None = None
    scanned: int = 0
    resume_cursor: str | None = None  # where the index ended: what is added after it comes from here


async def _next_ids(redis: Redis, key: str, pos: Position, descending: bool, n: int) -> list[tuple[str, int]]:
    """Up to ``n`` (id, score) after ``pos`` in index order (ascending or descending score)."""
    tail: list[tuple[str, int]] = []
    if pos.score is None:
        low, high = "-inf", "+inf"
    else:
        same = await redis.zrangebyscore(key, pos.score, pos.score)
        ties = sorted(same, reverse=descending)
        after = [m for m in ties if (m < pos.member if descending else m > pos.member)]
        tail = [(m, pos.score) for m in after]
        low, high = (f"({pos.score}", "+inf") if not descending else ("-inf", f"({pos.score}")
    if len(tail) >= n:
        return tail[:n]
    want = n - len(tail)
    if descending:
        raw = await redis.zrevrangebyscore(key, high, low, start=0, num=want, withscores=True)
    else:
        raw = await redis.zrangebyscore(key, low, high, start=0, num=want, withscores=True)
    return tail + [(m, int(s)) for m, s in raw]


async def scan(
    redis: Redis,
    store: DecisionStore,
    key: str,
    *,
    status: str,
    descending: bool,
    cursor: str | None,
    limit: int,
    match: Callable[[CommentRecord], bool],
    budget: int = SCAN_BUDGET,
) -> Page:
    """Matching records of one status index, in index order, examining at most ``budget`` ids."""
    pos = Position.parse(cursor)
    page = Page()
    while page.scanned < budget:
        want = min(CHUNK, budget - page.scanned)
        rows = await _next_ids(redis, key, pos, descending, want)
        records = await store.get_many([m for m, _ in rows])
        for member, score in rows:
            page.scanned += 1
            pos = Position(score, member)
            record = records.get(member)
            if record is not None and record.status == status and match(record):
                page.items.append(record)
                if len(page.items) == limit:
                    page.next_cursor = pos.cursor()
                    return page
        if len(rows) < want:  # the index is exhausted
            page.resume_cursor = pos.cursor() if pos.score is not None else cursor
            return page
    page.next_cursor = pos.cursor() if pos.score is not None else None
    return page


async def held_counts(redis: Redis, keys: Keys, budget: int = COUNT_BUDGET) -> dict[str, Any]:
    """Counts of held comments per reason code and per site (over at most ``budget`` of them)."""
    total = int(await redis.zcard(keys.held))
    ids = await redis.zrange(keys.held, 0, budget - 1)
    reasons: Counter[str] = Counter()
    sites: Counter[str] = Counter()
    for start in range(0, len(ids), CHUNK):
        pipe = redis.pipeline(transaction=False)
        for comment_id in ids[start : start + CHUNK]:
            pipe.hmget(keys.comment(comment_id), ["status", "site", "decision"])
        for status, site, decision in await pipe.execute():
            if status != "held":
                continue
            sites[site or ""] += 1
            listed = json.loads(decision).get("reasons", []) if decision else []
            codes = {r.get("code", "") for r in listed}
            reasons.update(codes or {"none"})
    return {
        "held_total": total,
        "reasons": dict(reasons.most_common()),
        "sites": dict(sites.most_common()),
        "complete": total <= budget,
    }
