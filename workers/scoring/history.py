"""Spam signals that need memory, kept in Redis by the worker.

For a batch of comments, :func:`history_signals_many` records each and reads back, in ONE pipeline
for the batch (two round trips: redis-py first checks that the script is loaded):

- ``duplicate_body``: the same or nearly the same body (MinHash over word bigrams, 8 LSH bands of 4
  rows) from several authors or in several threads within ``config.duplicate_window_s``;
- ``rate_email`` / ``rate_ip``: more than ``config.rate_limit`` comments from one email or IP
  (IPv6 by /64) within ``config.rate_window_s`` (a ``HistoryConfig``, from the settings);
- ``spam_domain``: a link (body or author URL) to a domain seen in a comment held as spam.

Every key holds one site's comments only (issue 17): no signal fires, or reads differently, because of
another site's activity. The one exception is opt-in: a site whose rules set ``share_spam_domains``
adds the domains of its held spam to a network set and gets ``spam_domain`` from the network's domains
too (``shares_spam_domains``); sites that do not opt in neither feed nor read it.

Emails, IPs and author names are stored only as keyed BLAKE2b hashes. Every write is keyed on the comment
id or on the author/thread, so a redelivery of the same comment does not count twice, and every key gets
a TTL so nothing grows without bound.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.core.keys import Keys
from service.core.privacy import canonical_ip, history_hash
from service.core.rules import shares_spam_domains
from service.core.scripts import RECORD_HISTORY
from workers.scoring.config import HistoryConfig
from workers.scoring.spam import MAX_BODY_CHARS, WORD_RE, find_links, normalise
from workers.scoring.types import CommentText, Signal

DUP_MIN_TOKENS = 8  # shorter bodies ("Great article!") are legitimately repeated by many people
DUP_MIN_SOURCES = 3  # distinct authors, or distinct threads, including this comment
DUP_BANDS = 8
DUP_ROWS = 4
SPAM_DOMAIN_TTL_S = 30 * 86400
SPAM_DOMAINS_MAX = 20_000
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


def ip_key(ip: str) -> str:
    """The IP as rate-limited: ``canonical_ip`` (IPv4 as is, IPv6 by its /64 network); text that is no
    IP (the API refuses it; a direct caller) as sent, lower-cased."""
    try:
        return canonical_ip(ip)
    except ValueError:
        return ip.strip().lower()[:64]


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


def _author(c: CommentText, key: bytes) -> str:
    if c.email:
        return history_hash("email", c.email.strip().lower(), key)
    if c.name.strip():
        return history_hash("name", c.name.strip().lower(), key)
    return history_hash("ip", ip_key(c.ip), key)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Any) -> dict[Any, Any]:
    """A flat ``[field, value, ...]`` HGETALL reply (from a script) as a mapping."""
    items = list(flat or [])
    return dict(zip(items[0::2], items[1::2], strict=True))


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


@dataclass
class _Queued:
    """What was recorded for one comment, to read its reply."""

    site: str
    rates: list[tuple[str, float]]  # (signal code, base weight) per rate key, in order
    bands: list[str] | None
    domains: list[str]


async def _queue_comment(
    pipe: Any, script: Any, keys: Keys, c: CommentText, config: HistoryConfig, now: float, w: HistoryWeights
) -> _Queued:
    """Queue one script call (rates and near-duplicate bands) and, with links, two ZMSCOREs (the site's
    spam domains and the network's: whether the network counts is decided on reading)."""
    window, dup_window = config.rate_window_s, config.duplicate_window_s
    key = config.hash_secret
    bands, domains = minhash_bands(c.body), link_domains(c)
    rates: list[tuple[str, float]] = []
    rate_keys: list[str] = []
    if c.email.strip():
        rate_keys.append(keys.rate_email(c.site, history_hash("email", c.email.strip().lower(), key)))
        rates.append(("rate_email", w.rate_email))
    if c.ip.strip():
        rate_keys.append(keys.rate_ip(c.site, history_hash("ip", ip_key(c.ip), key)))
        rates.append(("rate_ip", w.rate_ip))
    band_keys = [keys.near_duplicate(c.site, band) for band in bands or []]
    author, thread = f"a:{_author(c, key)}", f"t:{history_hash('thread', f'{c.site}:{c.thread}', key)}"
    args = [len(rate_keys), c.id, repr(now), f"({now - window}", repr(now - window), window + 60]
    args += [author, thread, f"{now:.3f}", dup_window]
    await script(keys=rate_keys + band_keys, args=args, client=pipe)
    if domains:
        pipe.zmscore(keys.spam_domains(c.site), domains)
        pipe.zmscore(keys.spam_domain_network, domains)
    return _Queued(c.site, rates, bands, domains)


def _read_comment(
    q: _Queued, replies: list[Any], config: HistoryConfig, now: float, w: HistoryWeights, shared: bool
) -> tuple[list[Signal], set[tuple[int, str]]]:
    """The signals that fire for one comment (``replies``: its script reply, then its two ZMSCORE
    replies if it has links; the network's counts only if ``shared``), and its stale near-duplicate
    fields."""
    recorded = list(replies[0] or [])
    out: list[Signal] = []
    for (code, base), count in zip(q.rates, recorded, strict=False):
        out += _rate_signal(code, count, config.rate_limit, base, w)
    stale: set[tuple[int, str]] = set()
    if q.bands:
        hashes = [_pairs(flat) for flat in recorded[len(q.rates) :]]
        near, stale = _dup_matches(hashes, now, config.duplicate_window_s)
        out += _dup_signal(near, w)
    if q.domains:
        own, network = list(replies[1] or []), list(replies[2] or [])
        scores = [_newest(a, b if shared else None) for a, b in zip(own, network, strict=False)]
        out += _domain_signal(q.domains, scores, now, w)
    return out, stale


def _newest(own: Any, network: Any) -> float | None:
    seen = [float(s) for s in (own, network) if s is not None]
    return max(seen) if seen else None


async def history_signals_many(
    redis: Any,
    keys: Keys,
    comments: Sequence[CommentText],
    config: HistoryConfig,
    now: float,
    weights: HistoryWeights = WEIGHTS,
) -> list[list[Signal]]:
    """Record each comment, in order, and return the history signals that fire for each: one pipeline
    for the whole batch (a comment sees the ones before it, as if recorded one by one)."""
    if not comments:
        return []
    script = RECORD_HISTORY.on(redis)
    linked = sorted({c.site for c in comments if link_domains(c)})
    async with redis.pipeline(transaction=False) as pipe:
        for site in linked:  # whether each site reads the spam-domain network: its rules, same trip
            pipe.get(keys.rules(site))
        queued = []
        for c in comments:
            queued.append(await _queue_comment(pipe, script, keys, c, config, now, weights))
        results = await pipe.execute()
    shared = {site for site, raw in zip(linked, results, strict=False) if shares_spam_domains(raw)}
    out: list[list[Signal]] = []
    stale: list[tuple[str, list[str], set[tuple[int, str]]]] = []
    at = len(linked)
    for q in queued:
        size = 3 if q.domains else 1
        signals, old = _read_comment(q, results[at : at + size], config, now, weights, q.site in shared)
        at += size
        out.append(signals)
        if q.bands and old:
            stale.append((q.site, q.bands, old))
    await _drop_stale(redis, keys, stale)
    return out


async def history_signals(
    redis: Any,
    keys: Keys,
    c: CommentText,
    config: HistoryConfig,
    now: float,
    weights: HistoryWeights = WEIGHTS,
) -> list[Signal]:
    """Record ``c`` and return the history signals that fire for it (one pipeline)."""
    return (await history_signals_many(redis, keys, [c], config, now, weights))[0]


async def _drop_stale(
    redis: Any, keys: Keys, stale: list[tuple[str, list[str], set[tuple[int, str]]]]
) -> None:
    """Delete fields older than the window from active buckets (only when there are some)."""
    if not stale:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for site, bands, fields in stale:
            for slot, field in sorted(fields):
                pipe.hdel(keys.near_duplicate(site, bands[slot]), field)
        await pipe.execute()


async def remember_spam_domains(redis: Any, keys: Keys, comments: Sequence[CommentText]) -> None:
    """Record the link domains of comments held as spam, per site (idempotent: a domain is one member),
    and in the shared network for the sites that opted in: two round trips."""
    from workers.scoring.spam import SHORTENERS

    by_site: dict[str, set[str]] = {}
    for c in comments:
        by_site.setdefault(c.site, set()).update(d for d in link_domains(c) if d not in SHORTENERS)
    sites = sorted(site for site, domains in by_site.items() if domains)
    if not sites:
        return
    opted = [shares_spam_domains(raw) for raw in await redis.mget([keys.rules(s) for s in sites])]
    network = sorted({d for site, shares in zip(sites, opted, strict=True) if shares for d in by_site[site]})
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        for key, domains in [(keys.spam_domains(s), sorted(by_site[s])) for s in sites] + [
            (keys.spam_domain_network, network)
        ]:
            if domains:
                _remember(pipe, key, domains, now)
        await pipe.execute()


def _remember(pipe: Any, key: str, domains: list[str], now: float) -> None:
    pipe.zadd(key, dict.fromkeys(domains, now))
    pipe.zremrangebyscore(key, "-inf", f"({now - SPAM_DOMAIN_TTL_S}")
    pipe.zremrangebyrank(key, 0, -(SPAM_DOMAINS_MAX + 1))
    pipe.expire(key, SPAM_DOMAIN_TTL_S)
