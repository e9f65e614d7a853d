"""Spam signals that need memory, kept in Redis by the worker.

For one comment, :func:`history_signals` records it and reads back, in ONE pipeline round trip:

- ``duplicate_body``: the same or nearly the same body (MinHash over word bigrams, 8 LSH bands of 4
  rows) from several authors or in several threads within ``settings.duplicate_window_s``;
- ``rate_email`` / ``rate_ip``: more than ``settings.spam_rate_limit`` comments from one email or IP
  (IPv6 by /64) within ``settings.spam_rate_window_s``;
- ``spam_domain``: a link (body or author URL) to a domain seen in a comment held as spam.

Emails, IPs and author names are stored only as keyed BLAKE2b hashes. Every write is keyed on the comment
id or on the author/thread, so a redelivery of the same comment does not count twice, and every key gets
a TTL so nothing grows without bound.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.keys import Keys
from workers.scoring.spam import MAX_BODY_CHARS, WORD_RE, find_links, normalise
from workers.scoring.types import CommentText, Signal

DUP_MIN_TOKENS = 8  # shorter bodies ("Great article!") are legitimately repeated by many people
DUP_MIN_SOURCES = 3  # distinct authors, or distinct threads, including this comment
DUP_BANDS = 8
DUP_ROWS = 4
SPAM_DOMAIN_TTL_S = 30 * 86400
SPAM_DOMAINS_MAX = 20_000
HASH_PERSON = b"commentmod-hist"
# Domains so common in legitimate comments that one held spam comment must not poison them.
_NEVER_SPAM = (
    "youtube.com youtu.be m.youtube.com wikipedia.org en.wikipedia.org google.com twitter.com x.com "
    "facebook.com m.facebook.com instagram.com reddit.com github.com amazon.com nytimes.com bbc.co.uk "
    "theguardian.com washingtonpost.com cnn.com reuters.com apnews.com"
)
NEVER_SPAM_DOMAINS = frozenset(_NEVER_SPAM.split())


@dataclass(frozen=True, slots=True)
class HistoryWeights:
    duplicate_body: float = 2.5
    rate_email: float = 2.0
    rate_ip: float = 1.5
    rate_per_extra: float = 0.25
    spam_domain: float = 3.0


WEIGHTS = HistoryWeights()


def private_hash(kind: str, value: str) -> str:
    """Short keyed hash of an identifier (email, IP, name); the clear value is never stored."""
    digest = hashlib.blake2b(
        f"{kind}\0{value}".encode("utf-8", "replace"), digest_size=12, person=HASH_PERSON
    )
    return digest.hexdigest()


def ip_key(ip: str) -> str:
    """The IP as rate-limited: IPv4 as is, IPv6 by its /64 network (one host owns a /64)."""
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip().lower()[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


def _seeds(tag: str) -> np.ndarray:
    return np.asarray(
        [
            int.from_bytes(hashlib.blake2b(f"{tag}{i}".encode(), digest_size=8).digest(), "little") | 1
            for i in range(DUP_BANDS * DUP_ROWS)
        ],
        dtype=np.uint64,
    )


_MUL, _ADD = _seeds("mul"), _seeds("add")


def minhash_bands(body: str) -> list[str] | None:
    """LSH band keys of the body's word-bigram MinHash; ``None`` when too short to compare.

    Two bodies share a band only when DUP_ROWS min-hashes agree (probability J**DUP_ROWS for Jaccard
    similarity J), so a shared band already means "nearly the same": one changed word in 20 still
    matches ~9 times in 10, and 2,000 unrelated news comments gave no shared band at all.
    """
    tokens = [t for t in WORD_RE.findall(normalise(body).lower()) if t.isalnum()]
    if len(tokens) < DUP_MIN_TOKENS:
        return None
    shingles = {f"{a} {b}" for a, b in itertools.pairwise(tokens)}
    base = np.fromiter(
        (int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in shingles),
        dtype=np.uint64,
        count=len(shingles),
    )
    with np.errstate(over="ignore"):
        mins = ((base[:, None] * _MUL[None, :] + _ADD[None, :]) >> np.uint64(32)).min(axis=0)
    rows = mins.astype(np.uint32).reshape(DUP_BANDS, DUP_ROWS)
    return [f"m{i}:{hashlib.blake2b(row.tobytes(), digest_size=8).hexdigest()}" for i, row in enumerate(rows)]


def link_domains(c: CommentText) -> list[str]:
    """Distinct link hosts in the body and the author URL, minus the never-spam list."""
    hosts = find_links(normalise(c.body, MAX_BODY_CHARS)) + find_links(c.author_url[:500])
    return sorted({h for h in hosts if h not in NEVER_SPAM_DOMAINS})[:20]


def _author(c: CommentText) -> str:
    if c.email:
        return private_hash("email", c.email.strip().lower())
    if c.name.strip():
        return private_hash("name", c.name.strip().lower())
    return private_hash("ip", ip_key(c.ip))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Batch:
    """Commands for one comment, queued on one pipeline; remembers where each answer will be."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.count = 0

    def add(self, method: str, *args: Any, **kwargs: Any) -> int:
        getattr(self.pipe, method)(*args, **kwargs)
        self.count += 1
        return self.count - 1


def _queue_rate(b: _Batch, key: str, member: str, now: float, window: int) -> int:
    b.add("zadd", key, {member: now}, nx=True)
    b.add("zremrangebyscore", key, "-inf", f"({now - window}")
    slot = b.add("zcount", key, now - window, "+inf")
    b.add("expire", key, window + 60)
    return slot


def _queue_dup(b: _Batch, keys: Keys, c: CommentText, bands: list[str], now: float, window: int) -> list[int]:
    stamp = f"{now:.3f}"
    fields = {f"a:{_author(c)}": stamp, f"t:{private_hash('thread', f'{c.site}:{c.thread}')}": stamp}
    slots = []
    for band in bands:
        key = keys.near_duplicate(band)
        b.add("hset", key, mapping=fields)
        slots.append(b.add("hgetall", key))
        b.add("expire", key, window)
    return slots


def _rate_signal(code: str, count: Any, limit: int, base: float, w: HistoryWeights) -> list[Signal]:
    n = int(count)
    if n <= limit:
        return []
    return [Signal(code, base + w.rate_per_extra * min(n - limit - 1, 8), f"{n} in window")]


def _dup_matches(hashes: list[Any], now: float, window: int) -> tuple[set[str], set[tuple[int, str]]]:
    """(author/thread fields seen with a near-identical body in the window, stale (slot, field) pairs)."""
    near: set[str] = set()
    stale: set[tuple[int, str]] = set()
    for slot, mapping in enumerate(hashes):
        for raw_field, raw_stamp in (mapping or {}).items():
            field = _text(raw_field)
            if float(_text(raw_stamp)) < now - window:
                stale.add((slot, field))
            else:
                near.add(field)
    return near, stale


def _dup_signal(near: set[str], w: HistoryWeights) -> list[Signal]:
    authors = sum(f.startswith("a:") for f in near)
    threads = sum(f.startswith("t:") for f in near)
    if max(authors, threads) < DUP_MIN_SOURCES:
        return []
    return [Signal("duplicate_body", w.duplicate_body, f"{authors} authors, {threads} threads")]


def _domain_signal(domains: Sequence[str], scores: Any, now: float, w: HistoryWeights) -> list[Signal]:
    since = now - SPAM_DOMAIN_TTL_S
    seen = [d for d, s in zip(domains, scores or [], strict=False) if s is not None and float(s) >= since]
    return [Signal("spam_domain", w.spam_domain, ",".join(seen[:3]))] if seen else []


async def history_signals(
    redis: Any, keys: Keys, c: CommentText, settings: Any, now: float, weights: HistoryWeights = WEIGHTS
) -> list[Signal]:
    """Record ``c`` and return the history signals that fire for it (one pipeline round trip)."""
    window, limit = int(settings.spam_rate_window_s), int(settings.spam_rate_limit)
    dup_window = int(settings.duplicate_window_s)
    bands, domains = minhash_bands(c.body), link_domains(c)
    rates: list[tuple[str, int, float]] = []
    async with redis.pipeline(transaction=False) as pipe:
        b = _Batch(pipe)
        if c.email.strip():
            key = keys.rate_email(private_hash("email", c.email.strip().lower()))
            rates.append(("rate_email", _queue_rate(b, key, c.id, now, window), weights.rate_email))
        if c.ip.strip():
            key = keys.rate_ip(private_hash("ip", ip_key(c.ip)))
            rates.append(("rate_ip", _queue_rate(b, key, c.id, now, window), weights.rate_ip))
        dup_slots = _queue_dup(b, keys, c, bands, now, dup_window) if bands else []
        domain_slot = b.add("zmscore", keys.spam_domains, domains) if domains else None
        results = await pipe.execute() if b.count else []
    out: list[Signal] = []
    for code, slot, base in rates:
        out += _rate_signal(code, results[slot], limit, base, weights)
    if bands:
        near, stale = _dup_matches([results[s] for s in dup_slots], now, dup_window)
        out += _dup_signal(near, weights)
        await _drop_stale(redis, keys, bands, stale)
    if domain_slot is not None:
        out += _domain_signal(domains, results[domain_slot], now, weights)
    return out


async def _drop_stale(redis: Any, keys: Keys, bands: list[str], stale: set[tuple[int, str]]) -> None:
    """Delete fields older than the window from active buckets (only when there are some)."""
    if not stale:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for slot, field in sorted(stale):
            pipe.hdel(keys.near_duplicate(bands[slot]), field)
        await pipe.execute()


async def remember_spam_domains(redis: Any, keys: Keys, c: CommentText) -> None:
    """Record the link domains of a comment held as spam (idempotent: a domain is one member)."""
    from workers.scoring.spam import SHORTENERS

    domains = [d for d in link_domains(c) if d not in SHORTENERS]
    if not domains:
        return
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(keys.spam_domains, dict.fromkeys(domains, now))
        pipe.zremrangebyscore(keys.spam_domains, "-inf", f"({now - SPAM_DOMAIN_TTL_S}")
        pipe.zremrangebyrank(keys.spam_domains, 0, -(SPAM_DOMAINS_MAX + 1))
        pipe.expire(keys.spam_domains, SPAM_DOMAIN_TTL_S)
        await pipe.execute()
