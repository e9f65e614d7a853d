"""The operator's and attacker's edge cases of issue 17, point 8: each test fails without its fix."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
import redis.asyncio as aioredis
import yaml
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from service.core.keys import Keys
from service.core.metrics import QueueGauges, undelivered
from service.core.models import Decision
from service.core.settings import Settings, SettingsError
from service.core.store import DecisionStore
from service.http.app import create_app
from service.http.web.signin import LOGIN_ATTEMPTS_PER_CLIENT, LOGIN_ATTEMPTS_TOTAL, LOGIN_WINDOW_S
from tests.kits.common import MOD_KEY, mod_headers, site_headers
from tests.kits.faultkit import spawn_api

REPO = Path(__file__).resolve().parents[2]
SECRET_IN_HEADER = b"mod-key-in-a-bad-header-0123"
EMAIL_IN_HEADER = b"leaky.person@example.net"

# Every list setting, with a good value in the one form (name=value).
LIST_SETTINGS = {
    "COMMENTMOD_API_KEYS": "blog=site-key-0123456789,blog=rotated-key-0123456789",
    "COMMENTMOD_MODERATOR_KEYS": "alice=mod-key-0123456789",
    "COMMENTMOD_WEBHOOKS": "blog=https://blog.example/hook?a=b",
    "COMMENTMOD_WEBHOOK_SECRETS": "blog=secret-0123456789=",
    "COMMENTMOD_SITE_RATE_LIMITS": "blog=100",
}


@pytest.mark.parametrize(("variable", "value"), sorted(LIST_SETTINGS.items()))
def test_list_settings_take_name_equals_value_and_refuse_name_colon_value(variable: str, value: str) -> None:
    Settings.from_env({variable: value})
    colon_form = ",".join(pair.replace("=", ":", 1) for pair in value.split(","))
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: colon_form})
    assert str(caught.value).startswith(f"{variable}: expected")
    assert "not name:value" in str(caught.value)


def _env_example() -> dict[str, str]:
    """deploy/env.example with its commented-out settings switched on."""
    env: dict[str, str] = {}
    for line in (REPO / "deploy" / "env.example").read_text().splitlines():
        match = re.match(r"^#? ?(COMMENTMOD_[A-Z0-9_]+)=(.*)$", line)
        if match:
            env[match.group(1)] = match.group(2)
    return env


def test_the_deploy_examples_are_settings_the_service_accepts() -> None:
    """Workers deployed from the examples start: every value of env.example (commented ones too),
    secret.example.yaml and configmap.yaml parses (COMMENTMOD_WEBHOOK_SECRETS was `site:secret`)."""
    from_env = _env_example()
    assert "COMMENTMOD_WEBHOOK_SECRETS" in from_env and "COMMENTMOD_WEBHOOKS" in from_env
    Settings.from_env(from_env)
    secret = yaml.safe_load((REPO / "deploy" / "k8s" / "secret.example.yaml").read_text())
    values = {k: v for k, v in secret["stringData"].items() if k.startswith("COMMENTMOD_")}
    assert "COMMENTMOD_WEBHOOK_SECRETS" in values
    settings = Settings.from_env(values)
    assert settings.webhook_secrets == {"example-blog": "FAKE-webhook-secret-change-me"}
    configmap = (REPO / "deploy" / "k8s" / "configmap.yaml").read_text()
    for name, value in re.findall(r'^\s*#?\s*(COMMENTMOD_[A-Z_]+): "(.*)"$', configmap, re.MULTILINE):
        Settings.from_env({name: value})


# --- aiohttp's own parser errors --------------------------------------------------------------------
BAD_REQUESTS = [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET_IN_HEADER + b"\x7f\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Contact: " + EMAIL_IN_HEADER + b"\x01\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header " + EMAIL_IN_HEADER + b": y\r\n\r\n",
]


@pytest.mark.procs
async def test_parser_errors_do_not_log_header_values(settings: Settings, tmp_path: Path) -> None:
    """A header aiohttp's parser refuses was logged raw, with a moderator key or an email in it."""
    log_path = tmp_path / "api.log"
    api = await spawn_api(settings, log_path)
    try:
        for raw in BAD_REQUESTS:
            reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
            writer.write(raw)
            await writer.drain()
            assert (await reader.read(4096)).startswith(b"HTTP/1.0 400")
            writer.close()
        resp = await asyncio.to_thread(urlopen, f"{api.base}/healthz", timeout=30)
        assert resp.status == 200
    finally:
        api.stop()
    text = log_path.read_text()
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    parse_errors = [e for e in events if e.get("event") == "http_parse_error"]
    assert len(parse_errors) == len(BAD_REQUESTS)
    assert all(e["error"] == "BadHttpMessage" and e["status"] == 400 for e in parse_errors)
    assert SECRET_IN_HEADER.decode() not in text and EMAIL_IN_HEADER.decode() not in text
    assert "Traceback" not in text


# --- names that show as nothing or reorder text -----------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "Ada\u061cLovelace",  # Arabic letter mark (bidi)
        "Ada\U000e0041\U000e0042",  # tag characters
        "\U000e0001\U000e0041",
        "Ada\u2028Lovelace",  # line separator
        "\u3164",  # Hangul filler, alone
        "Ada\u3164",
        "\u2800\u2800",  # blank Braille pattern
        "\u0301\u0302\u0303",  # combining marks alone
        "\u0301 \u0302",
    ],
)
async def test_invisible_or_reordering_names_are_a_422_naming_name(client: Any, name: str) -> None:
    payload = {"name": name, "email": "ada@example.org", "body": "A fine article."}
    resp = await client.post("/v1/comments", json=payload, headers=site_headers())
    assert resp.status == 422
    assert list((await resp.json())["fields"]) == ["name"]


@pytest.mark.parametrize("name", ["Zoë Łukasiewicz", "José\u0301", "李小龍", "محمد", "Ada 🧪"])
async def test_ordinary_names_in_any_script_are_still_accepted(client: Any, name: str) -> None:
    payload = {"name": name, "email": "ada@example.org", "body": "A fine article."}
    resp = await client.post("/v1/comments", json=payload, headers=site_headers())
    assert resp.status == 202, await resp.text()


# --- rules nested deep ------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["suspect", "banned", "thresholds", "premoderate_threads", "max_links"])
async def test_rules_nested_990_deep_are_a_422_naming_the_field(client: Any, key: str) -> None:
    deep = "[" * 990 + "]" * 990
    resp = await client.put(
        "/v1/moderation/rules/site-a",
        data=f'{{"{key}": {deep}, "bogus": 1}}',
        headers={**mod_headers(), "Content-Type": "application/json"},
    )
    assert resp.status == 422
    assert set((await resp.json())["fields"]) == {key, "bogus"}


# --- an idempotent retry after the decision ---------------------------------------------------------
async def test_an_idempotent_retry_after_the_decision_answers_with_the_decided_record(
    client: Any, settings: Settings
) -> None:
    payload = {"name": "Ada", "email": "ada@example.org", "body": "A fine article."}
    headers = site_headers(**{"Idempotency-Key": "retry-after-decision"})
    first = await client.post("/v1/comments", json=payload, headers=headers)
    assert first.status == 202
    comment_id = (await first.json())["id"]
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    store = DecisionStore(redis, Keys(settings.stream_prefix))
    record = await store.get(comment_id)
    assert record is not None
    await store.decide(comment_id, record.created_at, Decision(verdict="publish", scores={}, reasons=[]))
    await redis.aclose()
    retry = await client.post("/v1/comments", json=payload, headers=headers)
    assert retry.status == 200
    record = await retry.json()
    assert (record["id"], record["status"]) == (comment_id, "published")
    assert retry.headers["Location"] == f"/v1/comments/{comment_id}"


# --- commentmod_stream_lag on Redis 6.2 -------------------------------------------------------------
async def test_stream_lag_counts_undelivered_entries_on_redis_without_a_lag_field(settings: Settings) -> None:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    keys = Keys(settings.stream_prefix)
    try:
        version = (await redis.info("server"))["redis_version"]
        await redis.xgroup_create(keys.stream, keys.group, id="0", mkstream=True)
        for i in range(7):
            await redis.xadd(keys.stream, {"id": f"c{i}"})
        await redis.xreadgroup(keys.group, "probe", {keys.stream: ">"}, count=3)
        gauges = QueueGauges(CollectorRegistry())
        await gauges.refresh(redis, keys)
        assert gauges.lag._value.get() == 4, version
        assert await undelivered(redis, keys.stream, "0-0", page=2) == 7
    finally:
        await redis.aclose()


# --- sign-in at /moderate/login ---------------------------------------------------------------------
async def test_a_slow_sign_in_body_is_cut_off_with_408(settings: Settings) -> None:
    """The sign-in form was read with ``request.post()``, which waits for a slow body for ever."""
    server = TestServer(create_app(settings.with_(request_timeout_s=0.5)))
    async with TestClient(server):
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(
            b"POST /moderate/login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\nkey="
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), 120)  # a deadline that raises, not a bound
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


async def test_sign_in_attempts_are_limited_per_client_with_429(client: Any) -> None:
    wrong = {"key": "wrong-key-0123456789"}
    statuses = []
    while 429 not in statuses:  # a window may end in between: then at most twice the limit
        statuses.append((await client.post("/moderate/login", data=wrong, allow_redirects=False)).status)
        assert len(statuses) <= 2 * LOGIN_ATTEMPTS_PER_CLIENT + 1, statuses
    assert statuses.count(401) >= LOGIN_ATTEMPTS_PER_CLIENT and set(statuses[:-1]) == {401}
    resp = await client.post("/moderate/login", data={"key": MOD_KEY}, allow_redirects=False)
    assert resp.status == 429  # over the limit even the right key waits
    assert 1 <= int(resp.headers["Retry-After"]) <= LOGIN_WINDOW_S
    assert "set-cookie" not in {h.lower() for h in resp.headers}


async def test_sign_in_attempts_are_limited_in_total(client: Any, settings: Settings) -> None:
    redis = aioredis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    try:
        window = int(time.time() // LOGIN_WINDOW_S)
        for w in (window, window + 1):  # whichever window the attempt falls in
            name = Keys(settings.stream_prefix).login_attempts("all", w)
            await redis.set(name, LOGIN_ATTEMPTS_TOTAL, ex=300)
    finally:
        await redis.aclose()
    resp = await client.post("/moderate/login", data={"key": MOD_KEY}, allow_redirects=False)
    assert resp.status == 429
