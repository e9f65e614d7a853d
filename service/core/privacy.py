"""Pseudonyms for the personal data kept in Redis: author ids, spam-history and rate-limit keys.

With ``COMMENTMOD_HASH_KEY`` set, each pseudonym is an HMAC-SHA256 under that secret, so a copy of
Redis cannot be matched against a list of known email addresses or IPs. Without it they are plain
domain-separated hashes (the format of installs from before the setting): stable, but open to such a
dictionary match. Changing the key starts every author's standing and history afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

HISTORY_PERSON = b"commentmod-hist"


def _keyed(key: bytes, domain: str, value: str, size: int) -> str:
    message = f"{domain}\0{value}".encode("utf-8", "replace")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[: size * 2]


def author_hash(email: str, key: bytes = b"") -> str:
    """A stable, non-reversible id of an author (their lower-cased email)."""
    email = email.strip().lower()
    if key:
        return _keyed(key, "author", email, 16)
    return hashlib.sha256(b"commentmod-author\0" + email.encode()).hexdigest()[:32]


def history_hash(kind: str, value: str, key: bytes = b"") -> str:
    """Short id of an identifier (email, IP, name, thread) in the spam history."""
    if key:
        return _keyed(key, f"history:{kind}", value, 12)
    digest = hashlib.blake2b(
        f"{kind}\0{value}".encode("utf-8", "replace"), digest_size=12, person=HISTORY_PERSON
    )
    return digest.hexdigest()


def canonical_ip(ip: str) -> str:
    """The one spelling of an IP that rate limits and history key on; ``ValueError`` if ``ip`` is none.

    IPv4 as a dotted quad; an IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) as its IPv4; any other
    IPv6 address as its /64 network (one subscriber holds a whole /64), so case, leading zeros, ``::``
    placement and a zone id (``%eth0``) make no difference and rotating through a /64 gains nothing."""
    addr = ipaddress.ip_address(ip.strip())
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(addr) >> 64 << 64, 64)))
    return str(addr)


def client_hash(site: str, ip: str, key: bytes = b"") -> str:
    """The commenter's IP within a site: the per-client rate limit's key part."""
    if key:
        return _keyed(key, "client", f"{site}\0{ip}", 16)
    return hashlib.sha256(f"{site}\0{ip}".encode()).hexdigest()[:32]
