"""Author reputation against a real redis-server: approvals, the networks trust is bound to, rule fields."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from service.core import reputation
from service.core.keys import Keys
from service.core.privacy import canonical_ip
from service.core.rules import parse_rules


@pytest.fixture
async def r(redis_server_url: str) -> AsyncIterator[tuple[Any, Keys]]:
    client = aioredis.Redis.from_url(redis_server_url)
    yield client, Keys("rep" + secrets.token_hex(6))
    await client.aclose()


def test_networks_are_ipv4_24_and_ipv6_64_and_keyed() -> None:
    net = reputation.network_of
    assert net("203.0.113.5") == net("203.0.113.77") == net("::ffff:203.0.113.9") != net("203.0.114.5")
    assert net("2001:db8::1") == net("2001:DB8:0:0:ffff::1%eth0") != net("2001:db8:0:1::1")
    assert net("") == net(None) == ""
    assert net("203.0.113.5", b"key") != net("203.0.113.5")
    assert canonical_ip("2001:0DB8::1%eth0") == "2001:db8::/64"


async def test_trust_needs_approvals_and_a_known_network_and_only_recent_networks_are_kept(
    r: tuple[Any, Keys],
) -> None:
    redis, keys = r
    home = reputation.network_of("203.0.113.5")
    await reputation.count_approvals(redis, keys, [("s", "author", home)])
    [one] = await reputation.standings(redis, keys, [("s", "author")])
    assert one.approved == 1 and not one.trusted_from(home, 2) and not one.trusted_from("", 0)
    await reputation.count_approvals(redis, keys, [("s", "author", home)])
    [two] = await reputation.standings(redis, keys, [("s", "author")])
    assert two.trusted_from(home, 2) and not two.trusted_from(reputation.network_of("198.51.100.1"), 2)
    [other_site] = await reputation.standings(redis, keys, [("t", "author")])
    assert not other_site.trusted(2)
    for i in range(30):
        network = reputation.network_of(f"198.51.{i}.1")
        await reputation.count_approvals(redis, keys, [("s", "author", network)])
    [many] = await reputation.standings(redis, keys, [("s", "author")])
    assert (
        len(many.networks) <= reputation.NETWORKS_MAX + 4
        and reputation.network_of("198.51.29.1") in many.networks
    )
    banned = await reputation.set_standing(redis, keys, "s", "author", "banned")
    assert not banned.trusted_from(reputation.network_of("198.51.29.1"), 2)


def test_rule_fields_for_trust_and_the_spam_domain_network_are_validated() -> None:
    rules = parse_rules({"trust_margin": 0.05, "share_spam_domains": True})
    assert not isinstance(rules, dict) and rules.trust_margin == 0.05 and rules.share_spam_domains
    errors = parse_rules({"trust_margin": 1.5, "share_spam_domains": "yes"})
    assert isinstance(errors, dict) and set(errors) == {"trust_margin", "share_spam_domains"}
    assert isinstance(parse_rules({"trust_margin": True}), dict)
    defaults = parse_rules({})
    assert (
        not isinstance(defaults, dict) and defaults.trust_margin is None and not defaults.share_spam_domains
    )
