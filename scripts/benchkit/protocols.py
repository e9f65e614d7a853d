"""The protocol rows: ``comments:analyze``, Coral's phase and ``comment-check`` at a steady 20 requests/s with
the default worker (p50/p95 of each), and what each answers while no worker is up.

One durable Redis, one API process, ``commentmod worker --processes 1`` (the default model). Requests are
sent open loop at fixed times (a slow answer does not delay the next request), as Coral and WordPress send
them: one per new comment, each with its own text.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from benchkit.phases import SITE_KEY, Ctx
from benchkit.procs import LOOPBACK, free_port, python_cmd, start_redis, wait_http
from benchkit.report import Row, percentile

CORAL_SECRET = "bench-coral-secret-0123"
RATE = 20.0  # requests per second, per protocol
GOAL_MS = 150.0
Request = tuple[str, str, dict[str, Any]]  # method, path, aiohttp keyword arguments


def analyze(text: str, i: int) -> Request:
    body = {"comment": {"text": text}, "doNotStore": True, "requestedAttributes": {"TOXICITY": {}},
            "languages": ["en"]}  # fmt: skip
    return "POST", f"/v1alpha1/comments:analyze?key={SITE_KEY}", {"json": body}


def coral(text: str, i: int, site: str = "bench") -> Request:
    request = {"action": "NEW", "comment": {"id": f"c-{i}-{time.time_ns()}", "body": f"<p>{text}</p>",
               "parentID": None}, "author": {"id": f"u-{i % 50}", "username": f"reader{i % 50}"},
               "story": {"id": "s-1", "url": "https://news.example.org/story"}, "site": {"id": "s"},
               "tenantID": "t", "tenantDomain": "comments.example.org"}  # fmt: skip
    raw = json.dumps(request, separators=(",", ":")).encode()
    signature = "sha256=" + hmac.new(CORAL_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Coral-Signature": signature}
    return "POST", f"/v1/integrations/coral/{site}", {"data": raw, "headers": headers}


def comment_check(text: str, i: int) -> Request:
    form = {"api_key": SITE_KEY, "blog": "https://news.example.org", "user_ip": f"198.51.100.{i % 250 + 1}",
            "comment_type": "comment", "comment_author": f"Reader {i % 50}",
            "comment_author_email": f"reader{i % 50}@example.org", "comment_content": f"{text} ({i})",
            "permalink": "https://news.example.org/story"}  # fmt: skip
    return "POST", "/1.1/comment-check", {"data": form}


async def _one(session: aiohttp.ClientSession, base: str, request: Request) -> tuple[float, int, str]:
    method, path, kwargs = request
    started = time.perf_counter()
    async with session.request(method, base + path, **kwargs) as resp:
        text = await resp.text()
    return (time.perf_counter() - started) * 1000, resp.status, text[:200]


async def paced(base: str, requests: list[Request], rate: float) -> list[tuple[float, int, str]]:
    """Send each request at its time (open loop) and gather (latency ms, status, body start)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        start = time.perf_counter()
        tasks = []
        for i, request in enumerate(requests):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_one(session, base, request)))
        return list(await asyncio.gather(*tasks))


def no_worker_row(ctx: Ctx, base: str) -> Row:
    """What each protocol answers while no worker is up: Perspective a 503 UNAVAILABLE, Akismet a 503 (the
    clients' request error: WordPress retries), Coral the site's fallback (hold: PREMOD, pass: 204)."""
    text = ctx.texts[0]
    got = asyncio.run(_answers(base, [analyze(text, 0), comment_check(text, 0), coral(text, 0),
                                      coral(text, 1, "bench-pass")]))  # fmt: skip
    (a_status, a_body), (k_status, _), (c_status, c_body), (p_status, _) = got
    ok = [
        a_status == 503 and "UNAVAILABLE" in a_body,
        k_status == 503,
        c_status == 200 and json.loads(c_body or "{}").get("status") == "PREMOD",
        p_status == 204,
    ]
    detail = (f"analyze {a_status} {'UNAVAILABLE' if ok[0] else a_body[:60]}; comment-check {k_status}; "
              f"Coral hold site {c_status} {c_body[:40]}; Coral pass site {p_status}")  # fmt: skip
    return Row("protocols_no_worker", sum(ok), "of 4", "4 as documented", all(ok), detail)


async def _answers(base: str, requests: list[Request]) -> list[tuple[int, str]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        return [(status, body) for _, status, body in [await _one(session, base, r) for r in requests]]


def _row(key: str, what: str, results: list[tuple[float, int, str]], ok_status: Callable[[int], bool]) -> Row:
    latencies = [ms for ms, status, _ in results if ok_status(status)]
    bad = len(results) - len(latencies)
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    statuses: dict[int, int] = {}
    for _, status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    detail = (f"{what}: {len(results)} requests at {RATE:g}/s with `worker --processes 1`, p50 {p50:.1f} ms, "
              f"max {max(ms for ms, _, _ in results):.0f} ms; statuses {statuses}"
              + (f"; {bad} not answered from a decision" if bad else ""))  # fmt: skip
    return Row(key, p95, "ms", f"<= {GOAL_MS:.0f} ms", bad == 0 and p95 <= GOAL_MS, detail,
               {"p50_ms": p50, "p95_ms": p95, "statuses": statuses})  # fmt: skip


def protocol_rows(ctx: Ctx) -> list[Row]:
    redis_dir = ctx.work_dir / "redis-protocols"
    redis_proc, url = start_redis(ctx.procs, redis_dir, "always", "redis-protocols")
    extra = {"CORAL_SECRETS": f"bench={CORAL_SECRET},bench-pass={CORAL_SECRET}",
             "CORAL_FALLBACK": "bench-pass=pass", "API_KEYS": f"bench={SITE_KEY}"}  # fmt: skip
    try:
        env = ctx.env(url, "warning", **extra)
        api, base = _api(ctx, env)
        ctx.say("protocols: answers with no worker up")
        rows = [no_worker_row(ctx, base)]
        worker_env = {**env, "COMMENTMOD_WORKER_NAME": "bench-proto-worker"}
        worker = ctx.procs.start("worker-protocols", python_cmd("-m", "service.cli", "worker"), worker_env)
        wait_http(base + "/readyz", worker, ctx.procs, "worker-protocols", timeout_s=300)
        count = max(int(RATE * (2 if ctx.plan.quick else 15)), 10)
        for n, (key, what, make, ok) in enumerate(
            (
                ("protocol_analyze_p95", "comments:analyze (Coral's request)", analyze, lambda s: s == 200),
                ("protocol_coral_p95", "Coral's phase (signed)", coral, lambda s: s in {200, 204}),
                ("protocol_comment_check_p95", "comment-check (form)", comment_check, lambda s: s == 200),
            )
        ):
            texts = [ctx.texts[(n * count + i) % len(ctx.texts)] for i in range(count)]  # each its own texts
            ctx.say(f"protocols: {what} at {RATE:g}/s")
            results = asyncio.run(paced(base, [make(t, i) for i, t in enumerate(texts)], RATE))
            rows.append(_row(key, what, results, ok))
        ctx.procs.stop(worker, 30)
        ctx.procs.stop(api)
    finally:
        ctx.procs.stop(redis_proc)
        shutil.rmtree(redis_dir, ignore_errors=True)
    return rows


def _api(ctx: Ctx, env: dict[str, str]) -> tuple[Any, str]:
    """One API process with the protocol settings (``start_api``'s, with this environment)."""
    port = free_port()
    args = python_cmd("-m", "service.cli", "api", "--host", LOOPBACK, "--port", str(port))
    proc = ctx.procs.start("api-protocols", args, env)
    base = f"http://{LOOPBACK}:{port}"
    wait_http(base + "/healthz", proc, ctx.procs, "api-protocols")
    return proc, base
