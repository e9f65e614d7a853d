"""Screenshots of the moderators' page for the README: a queue of 30 real-looking held comments.

    .venv/bin/python scripts/moderate_screenshots.py [--out docs]

Starts a private redis-server and the API on free ports, posts the comments through the API, stores a
worker's held decision for each (reasons, scores, spans as the worker writes them), signs in with headless
Chromium (/usr/bin/chromium) and writes moderate-queue.png (1280x900) and moderate-queue-390.png (390x844).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from service.core.keys import Keys
from service.core.models import Decision
from service.core.redis_server import EmbeddedRedis, free_port
from service.core.settings import Settings
from service.core.store import DecisionStore
from service.http.app import create_app

SITE_KEY, MOD_KEY = "screens-site-key-0123456789", "screens-mod-key-0123456789"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ART = "https://news.example/2026/11/"


def tox(body: str, score: float, *words: str) -> list[dict[str, Any]]:
    spans = [[body.index(w), body.index(w) + len(w)] for w in words]
    return [{"code": "toxicity", "score": score, "threshold": 0.5, "spans": spans}]


def rule(body: str, code: str, name: str, piece: str) -> list[dict[str, Any]]:
    at = body.index(piece)
    return [{"code": code, "rule": name, "signals": ["hold"], "spans": [[at, at + len(piece)]]}]


def spam(score: float, *signals: str) -> list[dict[str, Any]]:
    return [{"code": "spam", "score": score, "threshold": 0.8, "signals": list(signals)}]


# (name, article slug, body, reasons builder, scores); "reply" marks a reply to the comment before it.
COMMENTS: list[tuple[str, str, str, Any, dict[str, float]]] = [
    (
        "Marguerite Lind",
        "city-budget-vote",
        "Only an absolute moron would believe this garbage. Do your homework, idiot.",
        lambda b: tox(b, 0.94, "moron", "idiot"),
        {"toxicity": 0.94, "insult": 0.88},
    ),
    (
        "BestDeals4U",
        "city-budget-vote",
        "Great article!! Cheap designer watches at http://watches.example/sale, 80% off today",
        lambda b: spam(0.97, "link", "spam_phrase", "rate_email"),
        {"spam": 0.97},
    ),
    (
        "dave_from_ohio",
        "winter-storm-warning",
        "The county never clears our road. Somebody should do something about those clowns at city hall.",
        lambda b: tox(b, 0.57, "clowns"),
        {"toxicity": 0.57, "insult": 0.41},
    ),
    (
        "reply:Tom Becker",
        "winter-storm-warning",
        "Dave, you are pathetic. Nobody cares about your road, loser.",
        lambda b: tox(b, 0.91, "pathetic", "loser"),
        {"toxicity": 0.91, "insult": 0.86},
    ),
    (
        "Priya N.",
        "school-lunch-program",
        "My kids' school piloted this last year and it worked well. Happy to share what we learned.",
        lambda b: [{"code": "scoring_failed", "signals": ["model timeout"]}],
        {},
    ),
    (
        "J. Okafor",
        "transit-fare-hike",
        "This fare hike is a total sw1ndle and the board knows it.",
        lambda b: rule(b, "banned_pattern", "swindle", "sw1ndle"),
        {"toxicity": 0.12},
    ),
    (
        "crypto_kings",
        "transit-fare-hike",
        "Earn 5000 a week from home!!! DM me on telegram, guaranteed returns, no scam",
        lambda b: spam(0.99, "spam_phrase", "name_sales") + rule(b, "suspect_word", "scam", "scam"),
        {"spam": 0.99},
    ),
    (
        "Helen W.",
        "library-hours",
        "Whoever wrote this is an i d i o t who has never set foot in a library.",
        lambda b: tox(b, 0.83, "i d i o t"),
        {"toxicity": 0.83, "insult": 0.79},
    ),
    (
        "reply:Sam R.",
        "library-hours",
        "Helen, calm down. The hours were cut because of the budget, not the reporter.",
        lambda b: [{"code": "premoderated_thread", "signals": ["hold"]}],
        {"toxicity": 0.08},
    ),
    (
        "Gary",
        "election-results",
        "Shut up and go back to your cave, you dumb troll.",
        lambda b: tox(b, 0.96, "Shut up", "dumb troll"),
        {"toxicity": 0.96, "insult": 0.93},
    ),
    (
        "SEO Services Pro",
        "election-results",
        "Nice post. Visit http://a.example http://b.example http://c.example for backlinks",
        lambda b: [{"code": "too_many_links", "signals": ["hold"]}, *spam(0.92, "link", "link_shortener")],
        {"spam": 0.92},
    ),
    (
        "Ruth A.",
        "hospital-expansion",
        "The administrators are a bunch of greedy liars and everyone knows it.",
        lambda b: tox(b, 0.71, "greedy liars"),
        {"toxicity": 0.71, "insult": 0.66},
    ),
    (
        "reply:M. Chen",
        "hospital-expansion",
        "Ruth, my sister works there. They are not liars, they are overworked.",
        lambda b: tox(b, 0.52, "liars"),
        {"toxicity": 0.52},
    ),
    (
        "anon4821",
        "park-renovation",
        "What a stupid waste of money. The mayor is a clown.",
        lambda b: tox(b, 0.88, "stupid", "clown"),
        {"toxicity": 0.88, "insult": 0.8},
    ),
    (
        "Linda K.",
        "park-renovation",
        "Free iPhone giveaway, click here: http://bit.example/xyz",
        lambda b: spam(0.98, "link", "link_shortener", "spam_phrase"),
        {"spam": 0.98},
    ),
    (
        "Walt",
        "police-budget",
        "If I see that councilman on the street he had better watch his back.",
        lambda b: [
            {
                "code": "threat",
                "score": 0.81,
                "threshold": 0.6,
                "spans": [[b.index("better watch his back"), b.index("better watch his back") + 21]],
            }
        ],
        {"threat": 0.81, "toxicity": 0.64},
    ),
    (
        "reply:Dana P.",
        "police-budget",
        "Walt, that sounds like a threat. Please keep it civil.",
        lambda b: tox(b, 0.51, "threat"),
        {"toxicity": 0.51},
    ),
    (
        "Nora Vance",
        "housing-plan",
        "Typical lazy journalism. Did the author even read the plan?",
        lambda b: tox(b, 0.62, "lazy journalism"),
        {"toxicity": 0.62, "insult": 0.55},
    ),
    (
        "banned_regular",
        "housing-plan",
        "Posting again because you keep deleting me. The plan is fine, by the way.",
        lambda b: [{"code": "banned_author", "signals": ["hold"]}],
        {"toxicity": 0.05},
    ),
    (
        "Kevin",
        "stadium-deal",
        "The owners are crooks and the council are their puppets, you f00ls.",
        lambda b: tox(b, 0.86, "crooks", "f00ls"),
        {"toxicity": 0.86, "insult": 0.82},
    ),
    (
        "reply:Ava L.",
        "stadium-deal",
        "Kevin is right about the deal, but calling people fools does not help.",
        lambda b: tox(b, 0.53, "fools"),
        {"toxicity": 0.53},
    ),
    (
        "Best Loans Fast",
        "stadium-deal",
        "Need cash? Loans approved in minutes, no credit check: http://loans.example",
        lambda b: spam(0.96, "link", "spam_phrase", "disposable_email"),
        {"spam": 0.96},
    ),
    (
        "Pat O'Neil",
        "snow-removal",
        "Whoever plows Elm Street is an incompetent buffoon.",
        lambda b: tox(b, 0.79, "incompetent buffoon"),
        {"toxicity": 0.79, "insult": 0.77},
    ),
    (
        "Irene",
        "snow-removal",
        "Same text as my other comment: the city should hire more drivers.",
        lambda b: spam(0.84, "duplicate_body", "rate_ip"),
        {"spam": 0.84},
    ),
    (
        "reply:George H.",
        "snow-removal",
        "Irene, they tried. Nobody applied at that wage. Get a clue.",
        lambda b: tox(b, 0.55, "Get a clue"),
        {"toxicity": 0.55},
    ),
    (
        "Yusuf",
        "water-rates",
        "Another sc4m by the utility. Rates up 12% and the pipes still leak.",
        lambda b: rule(b, "suspect_word", "scam", "sc4m"),
        {"toxicity": 0.15},
    ),
    (
        "Beth M.",
        "water-rates",
        "Shame on you, you spineless cowards on the council.",
        lambda b: tox(b, 0.74, "spineless cowards"),
        {"toxicity": 0.74, "insult": 0.7},
    ),
    (
        "deals_deals",
        "water-rates",
        "Best water filters ever!!!! Buy now buy now buy now http://filters.example",
        lambda b: spam(0.95, "link", "repeated_chars", "spam_phrase"),
        {"spam": 0.95},
    ),
    (
        "reply:Olu A.",
        "water-rates",
        "Beth, name-calling aside, you have a point about the vote.",
        lambda b: tox(b, 0.5, "name-calling"),
        {"toxicity": 0.5},
    ),
    (
        "Frank",
        "bridge-closure",
        "Absolute idiots run this town. Close the bridge in rush hour, genius move.",
        lambda b: tox(b, 0.9, "Absolute idiots"),
        {"toxicity": 0.9, "insult": 0.84},
    ),
]


def payload_name(name: str) -> str:
    return name.removeprefix("reply:").lower()


async def populate(base: str, http: aiohttp.ClientSession, store: DecisionStore) -> None:
    previous = ""
    for name, slug, body, reasons_of, scores in COMMENTS:
        reply = name.startswith("reply:")
        payload = {
            "name": name.removeprefix("reply:"),
            "body": body,
            "thread": ART + slug,
            "email": ".".join(re.findall(r"[a-z0-9]+", payload_name(name))) + "@mail.example",
        }
        if reply:
            payload["parent_id"] = previous
        resp = await http.post(
            f"{base}/v1/comments", json=payload, headers={"Authorization": f"Bearer {SITE_KEY}"}
        )
        answer = await resp.json()
        assert resp.status == 202, answer
        cid = str(answer["id"])
        record = await store.get(cid)
        assert record is not None
        await store.decide(cid, record.created_at, Decision("hold", scores, reasons_of(body)))
        previous = cid


async def shoot(base: str, out: Path) -> list[Path]:
    from playwright.async_api import async_playwright

    paths = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for width, height, name in ((1280, 900, "moderate-queue.png"), (390, 844, "moderate-queue-390.png")):
            page = await browser.new_page(viewport={"width": width, "height": height})
            await page.goto(f"{base}/moderate")
            await page.fill("#key", MOD_KEY)
            await page.click("button[type=submit]")
            await page.wait_for_selector("#counts .chip")
            await page.wait_for_function(
                f"document.querySelectorAll('article.card').length === {len(COMMENTS)}"
            )
            await page.keyboard.press("j")
            path = out / name
            await page.screenshot(path=str(path))
            paths.append(path)
            await page.close()
        await browser.close()
    return paths


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        redis = EmbeddedRedis(Path(tmp), fsync="no")
        url = redis.start()
        try:
            settings = Settings.from_env(
                {},
                redis_url=url,
                data_dir=Path(tmp),
                api_keys={SITE_KEY: "example-news"},
                moderator_keys={MOD_KEY: "alice"},
                thresholds={"toxicity": 0.5, "insult": 0.7, "threat": 0.6, "spam": 0.8},
            )
            runner = web.AppRunner(create_app(settings))
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            base = f"http://127.0.0.1:{port}"
            from redis.asyncio import Redis

            client = Redis.from_url(url, decode_responses=True)
            async with aiohttp.ClientSession() as http:
                await populate(base, http, DecisionStore(client, Keys(settings.stream_prefix)))
                for path in await shoot(base, out):
                    print(path)
            await client.aclose()
            await runner.cleanup()
        finally:
            redis.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs")
    asyncio.run(main(parser.parse_args().out))
