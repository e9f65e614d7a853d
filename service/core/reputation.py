"""Author reputation per site, keyed by the author id (a pseudonym of the email; the email is never stored).

Trust is earned from moderators only (issue 17): each moderator approval of one of the author's comments
on a site counts (``count_approvals``), comments the worker published on its own do not, and after
``trusted_after`` approvals (setting) the author is trusted on that site alone; a moderator can also set
the standing to ``trusted`` (or ``banned``) directly.

An email is no secret, so trust is bound to more than the author id: every approval also records the
pseudonym of the network the approved comment came from (``network_of``: IPv4 /24, IPv6 /64, keyed like
every other pseudonym), and a comment gets the trusted treatment only when it comes from one of those
networks (``Standing.trusted_from``). Someone who posts with a regular's email from anywhere else is
moderated like a newcomer, and so is the regular on a new network until a moderator approves one comment
from there; a comment without an ``ip`` never gets it. What the trusted treatment allows is bounded in
``workers.policy`` (a margin over each threshold). A moderator's ban needs no binding: it applies to the
author id wherever the comment comes from.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis

from service.core.keys import Keys
from service.core.privacy import history_hash

STANDINGS = ("normal", "trusted", "banned")
APPROVALS = "approvals"  # moderator approvals (the old "approved" field also counted automatic publishes)
NETWORK = "net:"  # field prefix: network pseudonym -> time of the last approval from it
NETWORKS_MAX = 16  # networks kept per author and site (the most recent approvals)


def network_of(ip: str | None, key: bytes = b"") -> str:
    """The pseudonym of the network a comment came from ("" without an ip): IPv4 by /24, IPv6 by /64
    (an IPv4-mapped address as its IPv4). A value that is no IP counts as itself."""
    text = (ip or "").strip()
    if not text:
        return ""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return history_hash("net", text.lower(), key)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = 24 if isinstance(addr, ipaddress.IPv4Address) else 64
    return history_hash("net", str(ipaddress.ip_network((addr, prefix), strict=False)), key)


@dataclass(frozen=True, slots=True)
class Standing:
    standing: str = "normal"  # set by a moderator
    approved: int = 0  # comments of this author a moderator approved on this site
    networks: frozenset[str] = field(default_factory=frozenset)  # where approved comments came from

    def trusted(self, trusted_after: int) -> bool:
        """Trusted on this site: by a moderator, or by ``trusted_after`` moderator approvals."""
        if self.standing == "banned":
            return False
        return self.standing == "trusted" or (trusted_after > 0 and self.approved >= trusted_after)

    def trusted_from(self, network: str, trusted_after: int) -> bool:
        """Trusted, and this comment comes from a network an approved comment of the author came from."""
        return bool(network) and network in self.networks and self.trusted(trusted_after)


def _standing(row: dict[str, str]) -> Standing:
    networks = frozenset(k[len(NETWORK) :] for k in row if k.startswith(NETWORK))
    return Standing(row.get("standing") or "normal", int(row.get(APPROVALS) or 0), networks)


def _text_row(row: dict[bytes | str, bytes | str]) -> dict[str, str]:
    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    return {text(k): text(v) for k, v in row.items()}


async def standings(redis: Redis, keys: Keys, authors: list[tuple[str, str]]) -> list[Standing]:
    """Standing of each ``(site, author_hash)`` in one round trip."""
    if not authors:
        return []
    pipe = redis.pipeline(transaction=False)
    for site, author in authors:
        pipe.hgetall(keys.author(site, author))
    rows = await pipe.execute()
    return [_standing(_text_row(row or {})) for row in rows]


async def count_approvals(redis: Redis, keys: Keys, approvals: Sequence[tuple[str, str, str]]) -> None:
    """One more moderator approval for each ``(site, author_hash, network)`` (``network_of`` the approved
    comment's ip; "" records none), in one round trip; an author keeps their ``NETWORKS_MAX`` most
    recent networks."""
    if not approvals:
        return
    now = repr(time.time())
    pipe = redis.pipeline(transaction=False)
    for site, author, network in approvals:
        key = keys.author(site, author)
        pipe.hincrby(key, APPROVALS, 1)
        if network:
            pipe.hset(key, NETWORK + network, now)
    await pipe.execute()
    for site, author, _ in approvals:
        await _forget_old_networks(redis, keys.author(site, author))


async def _forget_old_networks(redis: Redis, key: str) -> None:
    if await redis.hlen(key) <= NETWORKS_MAX + 4:
        return
    row = _text_row(await redis.hgetall(key))
    nets = sorted((float(v), k) for k, v in row.items() if k.startswith(NETWORK))
    old = [k for _, k in nets[: max(0, len(nets) - NETWORKS_MAX)]]
    if old:
        await redis.hdel(key, *old)


async def set_standing(redis: Redis, keys: Keys, site: str, author: str, standing: str) -> Standing:
    if standing not in STANDINGS:
        raise ValueError(standing)
    key = keys.author(site, author)
    await redis.hset(key, "standing", standing)
    return _standing(_text_row(await redis.hgetall(key)))
