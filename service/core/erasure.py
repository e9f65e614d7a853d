"""Erase one author's data for a deletion request (``DELETE /v1/authors/{author}``).

``author`` is the pseudonym the moderator view shows (``privacy.author_hash`` of the email, an HMAC
under ``COMMENTMOD_HASH_KEY`` when set). Comments are not indexed by author, so the comment records
are walked with ``SCAN`` (an operation for the rare deletion request: its cost grows with the
number of stored comments). For each of the author's comments: the record, its audit list, its
webhook order set, its place in the held queue and the status indexes, its delivery-attempt count,
its entries in the moderators' audit stream, and its id in the per-IP history; for the author: the
per-site email history, the near-duplicate memory naming them, and their reputation on every site.
What stays: decision events already queued for a site's webhook (ids, statuses and scores, no
personal data) and counters keyed by hashed IPs that expire within minutes.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from service.core.keys import Keys
from service.core.models import CommentFields, is_comment_id
from service.core.privacy import author_hash, canonical_ip, history_hash

SCAN_COUNT = 1000
STATUSES = ("published", "rejected")


@dataclass
class Authored:
    """What the walk found of one author."""

    comments: dict[str, tuple[str, CommentFields]] = field(default_factory=dict)  # id -> (site, fields)

    @property
    def sites(self) -> set[str]:
        return {site for site, _ in self.comments.values()}


def _ip_key(ip: str) -> str:
    """As the worker's history keys an IP (``workers.scoring.history.ip_key``)."""
    with contextlib.suppress(ValueError):
        return canonical_ip(ip)
    return ip.strip().lower()[:64]


async def find_comments(redis: Any, keys: Keys, author: str, hash_key: bytes) -> Authored:
    found = Authored()
    names: list[str] = []
    async for name in redis.scan_iter(match=keys.comment("*"), count=SCAN_COUNT):
        if not is_comment_id(name.rsplit(":", 1)[1]):
            continue
        names.append(name)
        if len(names) >= SCAN_COUNT:
            await _match(redis, names, author, hash_key, found)
            names = []
    await _match(redis, names, author, hash_key, found)
    return found


async def _match(redis: Any, names: list[str], author: str, hash_key: bytes, found: Authored) -> None:
    if not names:
        return
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.hmget(name, "site", "comment")
    for name, (site, raw) in zip(names, await pipe.execute(), strict=True):
        if not site or not raw:
            continue
        fields = CommentFields.from_json(raw)
        if author_hash(fields.email, hash_key) == author:
            found.comments[name.rsplit(":", 1)[1]] = (site, fields)


async def erase_author(redis: Any, keys: Keys, author: str, hash_key: bytes) -> int:
    """Erase everything of ``author``; the number of their comments that were erased."""
    found = await find_comments(redis, keys, author, hash_key)
    pipe = redis.pipeline(transaction=False)
    for comment_id, (site, fields) in found.comments.items():
        pipe.delete(keys.comment(comment_id), keys.audit(comment_id), keys.webhook_order(comment_id))
        pipe.zrem(keys.held, comment_id)
        for status in STATUSES:
            pipe.zrem(keys.by_status(status), comment_id)
        pipe.hdel(keys.attempts, comment_id)
        if fields.ip:
            pipe.zrem(keys.rate_ip(site, history_hash("ip", _ip_key(fields.ip), hash_key)), comment_id)
        pipe.delete(keys.rate_email(site, history_hash("email", fields.email.strip().lower(), hash_key)))
    await pipe.execute()
    emails = {fields.email.strip().lower() for _, fields in found.comments.values()}
    hashes = {history_hash("email", email, hash_key) for email in emails}
    await _forget_near_duplicates(redis, keys, found.sites, hashes)
    async for name in redis.scan_iter(match=keys.author("*", author), count=SCAN_COUNT):
        await redis.delete(name)
    await _forget_audit_entries(redis, keys, set(found.comments), author)
    return len(found.comments)


async def _forget_near_duplicates(redis: Any, keys: Keys, sites: set[str], hashes: set[str]) -> None:
    fields = [f"a:{h}" for h in hashes]
    if not fields:
        return
    for site in sites:
        async for name in redis.scan_iter(match=keys.near_duplicate(site, "*"), count=SCAN_COUNT):
            await redis.hdel(name, *fields)


def _about(data: dict[str, str], ids: set[str], author: str) -> bool:
    if data.get("id") in ids:
        return True
    try:
        entry = json.loads(data.get("entry") or "{}")
    except ValueError:
        return False
    return isinstance(entry, dict) and entry.get("author") == author


async def _forget_audit_entries(redis: Any, keys: Keys, ids: set[str], author: str) -> None:
    """Drop the moderators' audit stream entries about these comments or this author (its standing)."""
    start = "-"
    while True:
        entries = await redis.xrange(keys.moderation_audit, min=start, max="+", count=SCAN_COUNT)
        doomed = [entry_id for entry_id, data in entries if _about(data, ids, author)]
        if doomed:
            await redis.xdel(keys.moderation_audit, *doomed)
        if len(entries) < SCAN_COUNT:
            return
        start = f"({entries[-1][0]}"
