"""A schema and handler fuzz run, bounded in requests: hypothesis builds JSON, form and raw bodies for
every endpoint that reads one, plus ids and query strings, and sends them to a real running app. Never a
5xx; every error is JSON with an ``error`` code.

Needs ``hypothesis`` (dev extra). The run sends ``EXAMPLES`` requests, however long they take (it used
to stop after 25 s, which made the count of requests, and so its ``sent >= 200`` check, a matter of
the machine's speed).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from aiohttp import web

from service.core.settings import Settings
from service.core.validation import KNOWN_FIELDS
from service.http.app import create_app
from tests.kits.common import MOD_KEY, SITE_KEY
from tests.kits.faultkit import Report

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

EXAMPLES = 5000

ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())  # surrogates too
TEXT = (
    st.text(ANY_CHAR, max_size=40) | st.text(max_size=300) | st.sampled_from(["", " ", "\u200b", "a" * 101])
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
JSON_VALUES = st.recursive(
    SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(TEXT, c, max_size=3), max_leaves=8
)
FIELD_NAMES = st.sampled_from(
    [*sorted(KNOWN_FIELDS), "status", "verdict", "scores", "author", "comment", "submit", "__proto__", ""]
)
VALID = {"name": "Tester", "email": "t@example.org", "body": "Calm remark."}
COMMENT = st.one_of(
    st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=6),  # anything
    st.builds(lambda k, v: {**VALID, k: v}, FIELD_NAMES, JSON_VALUES),  # valid but one field
    st.builds(lambda k, v: {**VALID, k: v}, FIELD_NAMES, TEXT),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
        "application/json; charset=latin-1",
    ]
)


def _encode_json(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _encode_form(value: dict[str, Any]) -> bytes:
    pairs = [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in value.items()]
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode()


BODIES = st.one_of(
    st.builds(_encode_json, COMMENT, st.booleans()),
    st.builds(_encode_json, JSON_VALUES, st.booleans()),
    st.builds(_encode_form, COMMENT),
    st.binary(max_size=200),
)
ID_TEXT = st.text(ANY_CHAR, max_size=40) | st.from_regex(r"[0-9a-fA-F]{26,30}", fullmatch=True)


@st.composite
def requests(draw: Any) -> tuple[str, str, dict[str, str], bytes]:
    kind = draw(st.sampled_from(["post", "post", "post", "get", "queue", "list", "decide", "act", "admin"]))
    site = {"Authorization": f"Bearer {SITE_KEY}"}
    mod = {"Authorization": f"Bearer {MOD_KEY}"}
    if kind == "post":
        headers = {**site, "Content-Type": draw(CONTENT_TYPES)}
        if draw(st.booleans()):
            # Field-value characters HTTP allows (control characters are the protocol layer's 400).
            key_chars = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
            headers["Idempotency-Key"] = draw(st.text(key_chars, min_size=1, max_size=300))
        if draw(st.booleans()):
            headers["Prefer"] = draw(st.sampled_from(["wait=0", "wait=0.001", "wait=abc", "wait=-1"]))
        return "POST", "/v1/comments", headers, draw(BODIES)
    if kind == "get":
        return "GET", "/v1/comments/" + quote(draw(ID_TEXT), safe="", errors="surrogatepass"), site, b""
    if kind == "queue":
        query = urlencode({"limit": draw(TEXT), "cursor": draw(TEXT)}, errors="surrogatepass")
        return "GET", "/v1/moderation/queue?" + query, mod, b""
    if kind == "list":
        names = st.sampled_from(["status", "limit", "cursor", "q", "thread", "site", "reason", "x"])
        params = draw(st.dictionaries(names, TEXT, max_size=4))
        return "GET", "/v1/moderation/comments?" + urlencode(params, errors="surrogatepass"), mod, b""
    if kind == "decide":
        value = draw(
            st.dictionaries(st.sampled_from(["action", "ids", "note", "x"]), JSON_VALUES, max_size=3)
            | JSON_VALUES
        )
        headers = {**mod, "Content-Type": "application/json"}
        return "POST", "/v1/moderation/decisions", headers, _encode_json(value, draw(st.booleans()))
    if kind == "admin":
        method, path, headers = draw(
            st.sampled_from(
                [
                    ("PUT", "/v1/moderation/rules/site-a", mod),
                    ("PUT", f"/v1/moderation/authors/site-a/{'0' * 32}", mod),
                    ("PUT", "/v1/webhook", site),
                ]
            )
        )
        value = draw(
            st.dictionaries(st.sampled_from(["url", "standing", "rules", "x"]), JSON_VALUES, max_size=3)
            | JSON_VALUES
        )
        body = _encode_json(value, draw(st.booleans()))
        return method, path, {**headers, "Content-Type": "application/json"}, body
    action = draw(st.sampled_from(["approve", "reject"]))
    cid = quote(draw(ID_TEXT), safe="", errors="surrogatepass")
    headers = {**mod, "Content-Type": draw(CONTENT_TYPES)}
    return "POST", f"/v1/moderation/comments/{cid}/{action}", headers, draw(BODIES)


def known_bug(path: str, body: bytes) -> str | None:
    """The pinned bug (see test_fuzz_regressions.py) a failing request hits, if any."""
    parts = urlsplit(path)
    query = dict(parse_qsl(parts.query))
    if _unicode_digits(query.get("limit")):
        return "unicode-digit-limit"
    if parts.path == "/v1/webhook":
        return "webhook-body"
    try:
        payload: Any = json.loads(body)
    except ValueError:
        payload = dict(parse_qsl(body.decode("utf-8", "replace")))
    if not isinstance(payload, dict):
        return None
    if parts.path == "/v1/moderation/decisions" and isinstance(payload.get("action"), (list, dict)):
        return "unhashable-action"
    if parts.path == "/v1/comments" and _unicode_digits(payload.get("form_elapsed_ms")):
        return "unicode-digit-elapsed"
    return None


def _unicode_digits(value: Any) -> bool:
    return isinstance(value, str) and value.strip().isdigit() and not value.strip().isdecimal()


@pytest.fixture
def live_port(settings: Settings) -> Iterator[int]:
    """The real app on a real port, served from its own event loop in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[web.AppRunner, int]:
        app_settings = settings.with_(client_rate_limit=0, site_rate_limit=0)
        runner = web.AppRunner(create_app(app_settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, runner.addresses[0][1]

    runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    yield port
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_fuzzed_requests_never_get_a_5xx(live_port: int, figures: Report) -> None:
    started = time.monotonic()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    known: Counter[str] = Counter()
    sent = 0

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(requests())
    def run(request: tuple[str, str, dict[str, str], bytes]) -> None:
        nonlocal sent
        method, path, headers, body = request
        conn = http.client.HTTPConnection("127.0.0.1", live_port, timeout=15)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        sent += 1
        statuses[resp.status] += 1
        problem = resp.status >= 500
        if resp.status >= 400:
            try:
                problem = problem or "error" not in json.loads(data)
            except ValueError:
                problem = True
        if problem and resp.status >= 500 and (bug := known_bug(path, body)):
            known[bug] += 1
        elif problem:  # collected, not raised: the run counts every failure instead of shrinking one
            failures.append(f"{method} {path[:60]} {body[:60]!r} -> {resp.status}")

    run()
    figures(
        "fuzz",
        requests=sent,
        seconds=round(time.monotonic() - started, 1),
        statuses=",".join(f"{k}x{v}" for k, v in sorted(statuses.items())),
        server_errors=sum(v for k, v in statuses.items() if k >= 500),
        known_bug_5xx=",".join(f"{k}x{v}" for k, v in sorted(known.items())) or "none",
        unexplained_failures=len(failures),
    )
    assert sent >= 200
    assert not failures, sorted(set(failures))[:20]
