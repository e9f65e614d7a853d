"""Author reputation per site, keyed by a hash of the email (the email itself is never stored here).

An author becomes trusted after ``trusted_after`` published comments (setting), or when a moderator
trusts them; a trusted author's comments publish unless a score reaches the high "always hold"
threshold. A moderator can ban an author: their comments are held or rejected (setting).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from service.core.keys import Keys

STANDINGS = ("normal", "trusted", "banned")


@dataclass(frozen=True, slots=True)
class Standing:
    standing: str = "normal"  # set by a moderator
    approved: int = 0  # published comments so far

    def trusted(self, trusted_after: int) -> bool:
        if self.standing == "banned":
            return False
        return self.standing == "trusted" or (trusted_after > 0 and self.approved >= trusted_after)


async def standings(redis: Redis, keys: Keys, authors: list[tuple[str, str]]) -> list[Standing]:
    """Standing of each ``(site, author_hash)`` in one round trip."""
    if not authors:
        return []
    pipe = redis.pipeline(transaction=False)
    for site, author in authors:
        pipe.hmget(keys.author(site, author), "standing", "approved")
    rows = await pipe.execute()
    return [Standing(standing or "normal", int(approved or 0)) for standing, approved in rows]


async def count_published(redis: Redis, keys: Keys, authors: Sequence[tuple[str, str]]) -> None:
    """One more published comment for each ``(site, author_hash)`` (one round trip)."""
    if not authors:
        return
    pipe = redis.pipeline(transaction=False)
    for site, author in authors:
        pipe.hincrby(keys.author(site, author), "approved", 1)
    await pipe.execute()


async def set_standing(redis: Redis, keys: Keys, site: str, author: str, standing: str) -> Standing:
    if standing not in STANDINGS:
        raise ValueError(standing)
    key = keys.author(site, author)
    await redis.hset(key, "standing", standing)
    row = await redis.hmget(key, "standing", "approved")
    return Standing(row[0] or "normal", int(row[1] or 0))
