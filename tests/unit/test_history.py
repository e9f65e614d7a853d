"""History signals against a real redis-server: rates, near-duplicates, spam domains, idempotency, TTLs."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

from service.core.keys import Keys
from service.core.privacy import history_hash
from service.core.settings import Settings
from tests.kits.linear import LINEAR_BOUND, agrowth, fifth
from workers.scoring.config import HistoryConfig
from workers.scoring.history import (
    history_signals,
    history_signals_many,
    ip_key,
    minhash_bands,
    remember_spam_domains,
)
from workers.scoring.types import CommentText

BODY = (
    "Earn five thousand dollars a week from home with this one simple trick that banks hate, "
    "details on my profile page"
)
BASE = Settings(spam_rate_window_s=60, spam_rate_limit=5, duplicate_window_s=3600)
SETTINGS = HistoryConfig.from_settings(BASE)
NOW = 1_800_000_000.0


@dataclass
class Hist:
    redis: Any
    keys: Keys


@pytest.fixture
async def r(redis_server_url: str) -> AsyncIterator[Hist]:
    """The suite's real redis-server (``redis_server_url``, tests/conftest.py) with a fresh key prefix
    per test: tests share the server and never flush it."""
    client = aioredis.Redis.from_url(redis_server_url)
    yield Hist(client, Keys("h" + secrets.token_hex(6)))
    await client.aclose()


def comment(cid: str, **kw: Any) -> CommentText:
    base: dict[str, Any] = {"body": f"plain comment number {cid}", "thread": "t1", "site": "s1"}
    return CommentText(id=cid, **{**base, **kw})


async def codes(r: Hist, c: CommentText, now: float = NOW) -> set[str]:
    return {s.code for s in await history_signals(r.redis, r.keys, c, SETTINGS, now)}


async def test_rate_email_fires_over_limit(r: Hist) -> None:
    for i in range(5):
        assert "rate_email" not in await codes(r, comment(f"c{i}", email="a@b.com"), NOW + i)
    assert "rate_email" in await codes(r, comment("c5", email="A@B.com "), NOW + 5)
    assert "rate_email" not in await codes(r, comment("c6", email="other@b.com"), NOW + 6)


async def test_rate_window_slides(r: Hist) -> None:
    for i in range(6):
        await codes(r, comment(f"c{i}", ip="10.0.0.1"), NOW + i)
    assert "rate_ip" in await codes(r, comment("c6", ip="10.0.0.1"), NOW + 10)
    assert "rate_ip" not in await codes(r, comment("c7", ip="10.0.0.1"), NOW + 200)


async def test_ipv6_rate_by_slash_64(r: Hist) -> None:
    assert ip_key("2001:db8::1") == ip_key("2001:db8::ffff") != ip_key("2001:db8:0:1::1")
    for i in range(6):
        found = await codes(r, comment(f"c{i}", ip=f"2001:db8::{i + 1}"), NOW + i)
    assert "rate_ip" in found


async def test_redelivery_does_not_count_twice(r: Hist) -> None:
    for _ in range(20):
        found = await codes(r, comment("same", email="a@b.com", ip="10.0.0.2", body=BODY), NOW)
    assert found == set()
    email_keys = await r.redis.keys(f"{r.keys.prefix}:rate:email:*")
    assert len(email_keys) == 1
    assert await r.redis.zcard(email_keys[0]) == 1
    dup_keys = await r.redis.keys(f"{r.keys.prefix}:dup:*")
    assert len(dup_keys) == 8
    assert [await r.redis.hlen(k) for k in dup_keys] == [2] * 8


async def test_duplicate_body_from_several_authors(r: Hist) -> None:
    assert "duplicate_body" not in await codes(r, comment("d1", body=BODY, email="a1@x.org"))
    assert "duplicate_body" not in await codes(r, comment("d2", body=BODY, email="a2@x.org"), NOW + 1)
    near = BODY.replace("simple", "easy") + "!!"
    assert "duplicate_body" in await codes(r, comment("d3", body=near, email="a3@x.org"), NOW + 2)


async def test_a_batch_in_one_call_reads_like_one_by_one(r: Hist) -> None:
    """The worker records a whole batch in one round trip: each comment sees the ones before it."""
    batch = [comment(f"b{i}", body=BODY, email=f"b{i}@x.org", ip="10.9.9.9") for i in range(3)]
    batch += [comment(f"e{i}", email="same@x.org") for i in range(6)]
    batch.append(comment("plain", body="https://fine.example/page is worth a read", ip="10.1.1.1"))
    got = [
        {s.code for s in signals}
        for signals in await history_signals_many(r.redis, r.keys, batch, SETTINGS, NOW)
    ]
    assert ["duplicate_body" in g for g in got[:3]] == [False, False, True]
    assert ["rate_email" in g for g in got[3:9]] == [False] * 5 + [True]
    assert got[9] == set()
    assert await history_signals_many(r.redis, r.keys, [], SETTINGS, NOW) == []


async def test_duplicate_body_across_threads(r: Hist) -> None:
    for i in range(2):
        assert "duplicate_body" not in await codes(r, comment(f"d{i}", body=BODY, thread=f"t{i}", name="x"))
    assert "duplicate_body" in await codes(r, comment("d9", body=BODY, thread="t9", name="x"))


async def test_duplicate_ignores_short_and_different_and_old(r: Hist) -> None:
    for i in range(5):
        assert "duplicate_body" not in await codes(r, comment(f"s{i}", body="Great article!", email=f"{i}@x"))
    other = "The council vote on the transit budget is next week and the audit is still not public at all."
    await codes(r, comment("o1", body=BODY, email="1@x"), NOW)
    await codes(r, comment("o2", body=other, email="2@x"), NOW)
    assert "duplicate_body" not in await codes(r, comment("o3", body=BODY, email="3@x"), NOW + 4000)
    assert minhash_bands("short text") is None


async def test_spam_domain_after_held_spam(r: Hist) -> None:
    held = comment("h1", body="buy now at www.cheap-pills.xyz/x and https://youtube.com/watch?v=1")
    await remember_spam_domains(r.redis, r.keys, [held])
    members = {m.decode() for m in await r.redis.zrange(r.keys.spam_domains("s1"), 0, -1)}
    assert members == {"cheap-pills.xyz"}
    now = time.time()
    assert "spam_domain" in await codes(r, comment("n1", body="see http://cheap-pills.xyz"), now)
    assert "spam_domain" in await codes(r, comment("n2", author_url="https://www.cheap-pills.xyz/"), now)
    assert "spam_domain" not in await codes(r, comment("n3", body="https://youtube.com/watch?v=1"), now)
    await remember_spam_domains(r.redis, r.keys, [held])
    assert await r.redis.zcard(r.keys.spam_domains("s1")) == 1


async def share(r: Hist, site: str) -> None:
    """Opt ``site`` in to the shared spam-domain network through its stored rules."""
    await r.redis.set(r.keys.rules(site), json.dumps({"share_spam_domains": True}))


async def test_no_history_signal_shows_another_sites_activity(r: Hist) -> None:
    """Issue 17 point 4: spam held on site B, B's commenters' rates and B's copies of a body change
    nothing on site A: A's ordinary comment linking B's spam domain gets no ``spam_domain`` (it scored
    0.95 for 30 days), A's first comment from a busy email or IP no rate signal, A's first copy of a body
    B saw many times no ``duplicate_body``. Each still fires within B."""
    now = time.time()
    await remember_spam_domains(r.redis, r.keys, [comment("h", site="b", body="buy at www.pills.xyz/x")])
    for i in range(6):
        await codes(r, comment(f"b{i}", site="b", email="busy@x.org", ip="10.0.0.9", body=BODY), now + i)
        await codes(r, comment(f"v{i}", site="b", email=f"v{i}@x.org", body=BODY), now + i)
    same = {"email": "busy@x.org", "ip": "10.0.0.9", "body": BODY + " see www.pills.xyz"}
    on_a = await codes(r, comment("a1", site="a", **same), now + 9)
    assert on_a == set()
    on_b = await codes(r, comment("b9", site="b", **same), now + 9)
    assert {"spam_domain", "rate_email", "rate_ip", "duplicate_body"} <= on_b


async def test_sites_that_opt_in_share_spam_domains_and_no_one_else_sees_them(r: Hist) -> None:
    """A site that opts in (rule ``share_spam_domains``) feeds and reads the shared network: B's held spam
    domain then marks A's comment once both opted in; site C, which did not, still sees nothing."""
    now = time.time()
    linking = "a fine article, more at https://www.pills.xyz/page"
    await remember_spam_domains(r.redis, r.keys, [comment("h", site="b", body="buy at www.pills.xyz/x")])
    await share(r, "a")
    assert "spam_domain" not in await codes(r, comment("a1", site="a", body=linking), now)  # B not in
    await share(r, "b")
    await remember_spam_domains(r.redis, r.keys, [comment("h", site="b", body="buy at www.pills.xyz/x")])
    assert "spam_domain" in await codes(r, comment("a2", site="a", body=linking), now)
    assert "spam_domain" not in await codes(r, comment("c1", site="c", body=linking), now)


async def test_every_key_has_ttl_and_no_clear_identifiers(r: Hist) -> None:
    c = comment("k1", body=BODY, email="Secret.Person@example.com", ip="192.0.2.77", name="Secret Name")
    await codes(r, c)
    await remember_spam_domains(r.redis, r.keys, [comment("k2", body="www.spam-site.xyz")])
    keys = await r.redis.keys(f"{r.keys.prefix}:*")
    assert len(keys) > 8
    dump = b""
    for key in keys:
        assert await r.redis.ttl(key) > 0, key
        dump += key + repr(await r.redis.dump(key)).encode()
    for secret in (b"secret.person", b"Secret.Person", b"192.0.2.77", b"Secret Name", b"secret name"):
        assert secret not in dump


async def test_adversarial_body_takes_linear_time(r: Hist) -> None:
    """No wall-clock bound: 5x the characters may cost 5x the work (linear), never near 25x."""

    async def run(evil: str) -> None:
        c = comment("e", body=evil, author_url=evil, email=evil[:300], ip=evil[:300], thread=evil[:300])
        await history_signals(r.redis, r.keys, c, SETTINGS, NOW)

    for evil in ("a " * 25_000, "a." * 25_000, "http://" + "a" * 50_000, "x" * 50_000, "\ud800 x " * 9_000):
        ratio = await agrowth(run, fifth(evil), evil)
        assert ratio < LINEAR_BOUND, f"{evil[:12]!r}...: work grew {ratio:.1f}x for 5x the characters"


async def test_with_a_hash_key_no_unkeyed_pseudonym_is_stored(r: Hist) -> None:
    """With ``COMMENTMOD_HASH_KEY`` set, the email and IP are stored only as HMACs under it, so a copy of
    Redis cannot be matched against the unkeyed hashes of a list of known addresses."""
    keyed = HistoryConfig.from_settings(BASE.with_(hash_key="a-long-random-secret"))
    c = comment("k3", email="Known.Person@example.com", ip="198.51.100.7", name="Known")
    assert await history_signals(r.redis, r.keys, c, keyed, NOW) is not None
    dump = b""
    for key in await r.redis.keys(f"{r.keys.prefix}:*"):
        dump += key + repr(await r.redis.dump(key)).encode()
    email, ip = "known.person@example.com", "198.51.100.7"
    assert history_hash("email", email).encode() not in dump
    assert history_hash("ip", ip).encode() not in dump
    assert history_hash("email", email, keyed.hash_secret).encode() in dump
    assert history_hash("ip", ip, keyed.hash_secret).encode() in dump
