"""The moderators' page in a real browser: headless Chromium (Debian's) driven by Playwright.

The app runs on a real port against the suite's redis-server (fixtures in tests/browser/conftest.py).
Every test also proves the page broke no rule of its own CSP, opened no dialog, and talked to no origin
but its own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.kits.common import OTHER_SITE_KEY, mod_headers
from tests.kits.held import SPAM, TOXIC
from tests.kits.live import UNDO_MS, Live, sign_in

pytestmark = pytest.mark.procs

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True
    )

# Imported only where the browser exists; with the browser but without the package this fails loudly.
from playwright.async_api import Page, expect  # noqa: E402


def card(page: Page, text: str) -> Any:
    return page.locator("article.card", has_text=text)


async def wait_status(live: Live, comment_id: str, status: str) -> None:
    for _ in range(50):
        if await live.status(comment_id) == status:
            return
        await asyncio.sleep(0.1)
    assert await live.status(comment_id) == status


async def run_undo_window(page: Page) -> Any:
    """Move the page's clock past the undo window and return the decisions response it sends."""
    async with page.expect_response(lambda r: r.url.endswith("/v1/moderation/decisions")) as info:
        await page.clock.run_for(UNDO_MS + 100)
    response = await info.value
    assert response.status == 200
    return await response.json()


async def test_sign_in_with_a_wrong_key_shows_an_error_then_the_right_key_shows_the_queue(
    page: Page, live: Live
) -> None:
    await live.held(body="First held comment")
    await page.goto(f"{live.base}/moderate")
    await page.fill("#key", "wrong-key-0123456789")
    await page.click("button[type=submit]")
    assert await page.locator(".error").inner_text() == "That is not a moderator key."
    await sign_in(page, live, cards=1)
    await page.wait_for_selector("#counts .chip")
    assert await page.locator("#counts .total").text_content() == "1 held"
    assert await page.locator("#counts .chip").all_text_contents() == ["Toxic language: 1"]


async def test_approve_waits_out_the_undo_window_then_publishes(page: Page, live: Live) -> None:
    first = await live.held(body="Approve me please")
    other = await live.held(body="Leave me alone")
    await sign_in(page, live, cards=2)
    await card(page, "Approve me please").locator("button.approve").click()
    await page.wait_for_selector("article.card:has-text('Approve me please')", state="detached")
    assert "Approved 1 comment" in await page.locator("#toasts").inner_text()
    await page.clock.run_for(UNDO_MS - 1000)
    assert live.decisions_sent() == 0 and await live.status(first) == "held"
    result = await run_undo_window(page)
    assert result["results"] == [{"id": first, "ok": True, "status": "published"}]
    assert await live.status(first) == "published" and await live.status(other) == "held"


async def test_reject_with_a_note_records_it_in_the_audit(page: Page, live: Live) -> None:
    cid = await live.held(body="Reject me")
    await sign_in(page, live, cards=1)
    target = card(page, "Reject me")
    await target.locator("input.note").fill("personal attack")
    await target.locator("button.reject").click()
    await run_undo_window(page)
    detail = await live.comment(cid)
    assert detail["status"] == "rejected"
    assert detail["audit"][-1]["note"] == "personal attack"
    assert detail["audit"][-1]["actor"] == "moderator:alice"


async def test_bulk_reject_rejects_only_the_selected_comments(page: Page, live: Live) -> None:
    ids = [await live.held(body=f"Bulk comment number {i}") for i in range(3)]
    await sign_in(page, live, cards=3)
    for i in (0, 2):
        await card(page, f"Bulk comment number {i}").locator("input[type=checkbox]").check()
    await page.fill("#bulk-note", "spam wave")
    await page.click("button[data-bulk=reject]:text('Reject selected (2)')")
    result = await run_undo_window(page)
    assert [r["id"] for r in result["results"]] == [ids[0], ids[2]]
    assert [await live.status(cid) for cid in ids] == ["rejected", "held", "rejected"]
    assert await page.locator("article.card").count() == 1


async def test_keyboard_j_k_move_and_a_r_approve_or_reject_the_focused_comment(
    page: Page, live: Live
) -> None:
    ids = [await live.held(body=f"Keyboard comment {i}") for i in range(3)]
    await sign_in(page, live, cards=3)
    await page.keyboard.press("j")
    await page.keyboard.press("j")
    await page.keyboard.press("k")
    assert "Keyboard comment 1" in await page.locator("article.card.focused").inner_text()
    await page.keyboard.press("r")
    await expect(page.locator("#list article.card")).to_have_count(2)
    assert "Keyboard comment 2" in await page.locator("article.card.focused").inner_text()
    await page.keyboard.press("a")
    await expect(page.locator("#list article.card")).to_have_count(1)
    assert live.decisions_sent() == 0
    await page.clock.run_for(UNDO_MS + 100)
    await wait_status(live, ids[1], "rejected")
    await wait_status(live, ids[2], "published")
    assert await live.status(ids[0]) == "held"


async def test_undo_within_five_seconds_sends_nothing_and_restores_the_comment(
    page: Page, live: Live
) -> None:
    cid = await live.held(body="Undo this one")
    await sign_in(page, live, cards=1)
    await page.keyboard.press("a")
    await page.wait_for_selector("article.card", state="detached")
    await page.clock.run_for(UNDO_MS - 1000)
    await page.keyboard.press("u")
    await page.wait_for_selector("article.card:has-text('Undo this one')")
    await page.clock.run_for(3 * UNDO_MS)
    await asyncio.sleep(0.3)
    assert live.decisions_sent() == 0
    assert await live.status(cid) == "held"
    await page.locator("article.card button.reject").click()  # and the toast's Undo button works the same
    await page.locator("#toasts button.undo").click()
    await page.clock.run_for(3 * UNDO_MS)
    assert live.decisions_sent() == 0 and await page.locator("article.card").count() == 1


async def test_pending_actions_are_sent_when_the_page_is_left(page: Page, live: Live) -> None:
    cid = await live.held(body="Leave the page right after approving")
    await sign_in(page, live, cards=1)
    await page.keyboard.press("a")
    await page.wait_for_selector("article.card", state="detached")
    await page.goto(f"{live.base}/moderate/static/app.css")
    await wait_status(live, cid, "published")


async def test_sign_out_ends_the_session(page: Page, live: Live) -> None:
    await sign_in(page, live, cards=0)
    await page.click("#logout button")
    await page.wait_for_selector("#key")
    assert [c for c in await page.context.cookies() if c["name"] == "cm_session"] == []
    status = await page.evaluate("fetch('/v1/moderation/queue/counts').then(r => r.status)")
    assert status == 401


async def test_a_hold_for_an_unread_language_says_so_in_words(page: Page, live: Live) -> None:
    reasons = [{"code": "language_unsupported", "language": "de"}]
    await live.held(body="Das ist ein Kommentar", reasons=reasons, scores={"spam": 0.01})
    await sign_in(page, live, cards=1)
    card = page.locator("#list article.card")
    await expect(card).to_contain_text("Language not scored")
    assert "language_unsupported" not in await card.inner_text()
    assert await page.locator("#counts .chip").all_text_contents() == ["Language not scored: 1"]


async def test_reason_chip_and_site_select_filter_the_queue(page: Page, live: Live) -> None:
    await live.held(body="Toxic one")
    await live.held(body="Spammy one", reasons=SPAM)
    await live.held(OTHER_SITE_KEY, body="From the other site")
    await sign_in(page, live, cards=3)
    # Counts fail from here on: the select must show the chosen reason without waiting for them.
    await page.route("**/v1/moderation/queue/counts", lambda route: route.abort())
    await page.click("#counts .chip:text('Looks like spam: 1')")
    await expect(page.locator("#list article.card")).to_have_count(1)
    assert "Spammy one" in await page.locator("#list article.card").inner_text()
    assert await page.locator("#filter-reason").input_value() == "spam"
    await page.unroute("**/v1/moderation/queue/counts")
    await page.select_option("#filter-reason", "")
    await expect(page.locator("#list article.card")).to_have_count(3)
    await page.select_option("#filter-site", "site-b")
    await expect(page.locator("#list article.card")).to_have_count(1)
    assert "From the other site" in await page.locator("#list article.card").inner_text()


async def test_published_and_rejected_lists_are_searchable_with_history(page: Page, live: Live) -> None:
    kept = await live.held(body="A fair point about the budget")
    gone = await live.held(body="Buy cheap watches")
    other = await live.held(body="Lovely weather today")
    for cid, action in [(kept, "approve"), (gone, "reject"), (other, "approve")]:
        body = {"action": action, "ids": [cid], "note": "<b>checked</b>"}
        url = f"{live.base}/v1/moderation/decisions"
        assert (await live.http.post(url, json=body, headers=mod_headers())).status == 200
    await live.held(body="Still waiting")
    await sign_in(page, live, cards=1)
    await page.click("#tabs button[data-view=rejected]")
    await page.wait_for_selector("article.card:has-text('Buy cheap watches')")
    await page.click("#tabs button[data-view=published]")
    await expect(page.locator("#list article.card")).to_have_count(2)
    await page.fill("#search", "BUDGET")
    await page.keyboard.press("Enter")
    await expect(page.locator("#list article.card")).to_have_count(1)
    target = card(page, "A fair point")
    await target.locator("button:text('History')").click()
    assert "<b>checked</b>" in await target.locator(".audit").inner_text()
    await page.fill("#search", "watches")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#list p.empty:text('Nothing here.')")


XSS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    "<svg onload=window.__xss=1><circle r=5 /></svg>",
    "<svg><script>window.__xss=1</script></svg>",
    '<a href="javascript:window.__xss=1">click me</a>',
    "javascript:window.__xss=1",
    '"><script>window.__xss=1</script>',
    "'><img src=x onerror=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "<body onload=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<div style="background:url(javascript:alert(1))">broken',
    '<img src="http://evil.example/pixel.png">',
    "<link rel=stylesheet href=//evil.example/x.css>",
    "<<script>alert(1)//<</script>",
    "</p></article><script>window.__xss=1</script>",
    "<input autofocus onfocus=window.__xss=1>",
    "<details open ontoggle=window.__xss=1>",
    '<object data="data:text/html,<script>alert(1)</script>"></object>',
    "<!-- <img src=x onerror=alert(1)> -->",
    '<meta http-equiv=refresh content="0;url=javascript:alert(1)">',
    "&lt;script&gt;alert(1)&lt;/script&gt; &amp;",
]
INJECTED = "#list :is(script, img, svg, iframe, object, a, link, meta, details, math, style, body, table)"
MARKUP_IN_TEXT = "#list :is(.body *:not(mark), .name *, button.thread *, .reasons li *, .audit li *:not(q))"


async def test_a_queue_of_xss_payloads_renders_as_text_and_runs_nothing(page: Page, live: Live) -> None:
    for i, payload in enumerate(XSS):
        reasons = [{**TOXIC[0], "spans": [[0, len(payload)]]}] if i % 2 else TOXIC + SPAM
        if i == 3:
            reasons = [{"code": "<img src=x onerror=window.__xss=1>", "score": 0.9, "threshold": 0.5}]
        await live.held(body=f"{payload} #{i}", name=payload[:100], thread=payload, reasons=reasons)
    await sign_in(page, live, cards=len(XSS))
    await page.wait_for_selector("#counts .chip")
    cards = page.locator("article.card")
    for i, payload in enumerate(XSS):
        one = cards.nth(i)
        assert await one.locator(".body").text_content() == f"{payload} #{i}"
        assert await one.locator(".name").text_content() == payload[:100]
        assert await one.locator("button.thread").text_content() == payload
        if i % 2 and i != 3:
            assert await one.locator(".body mark").text_content() == payload
    assert "<img src=x onerror=window." in await page.locator("#counts").inner_text()
    assert "<img src=x onerror=window." in await cards.nth(3).locator(".reasons").inner_text()
    await cards.nth(1).locator("button:text('Show email')").click()
    await cards.nth(1).locator("button:text('History')").click()
    await cards.nth(4).locator("button.thread").click()  # the thread filter shows the payload as text
    await expect(page.locator("#list article.card")).to_have_count(1)
    assert XSS[4] in await page.locator("#toolbar").inner_text()
    assert await page.locator(INJECTED).count() == 0
    assert await page.locator(MARKUP_IN_TEXT).count() == 0
    assert await page.evaluate("typeof window.__xss") == "undefined"


async def test_toxic_spans_are_highlighted_by_code_point_offsets(page: Page, live: Live) -> None:
    body = "👍🏽 Honestly you are an idiot, and a 🤡 liar."
    spans = [[body.index("idiot"), body.index("idiot") + 5], [body.index("🤡"), body.index("🤡") + 6]]
    await live.held(body=body, reasons=[{**TOXIC[0], "spans": spans}])
    await sign_in(page, live, cards=1)
    marks = await page.locator("article.card .body mark").all_text_contents()
    assert marks == ["idiot", "🤡 liar"]
    assert await page.locator("article.card .body").text_content() == body


async def test_queue_screenshot_with_realistic_comments(page: Page, live: Live, tmp_path: Path) -> None:
    """Renders a realistic queue (the README's screenshots come from scripts/moderate_screenshots.py)."""
    for comment in REALISTIC:
        await live.held(**comment)
    await sign_in(page, live, cards=len(REALISTIC))
    await page.keyboard.press("j")
    shot = tmp_path / "moderate-queue.png"
    await page.screenshot(path=str(shot), full_page=False)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _spans(body: str, *words: str) -> list[list[int]]:
    return [[body.index(w), body.index(w) + len(w)] for w in words]


_RUDE = "Only an absolute moron would believe this garbage. Do your homework, idiot."
REALISTIC: list[dict[str, Any]] = [
    {
        "name": "Marguerite Lind",
        "thread": "https://news.example/2026/11/city-budget-vote",
        "body": _RUDE,
        "scores": {"toxicity": 0.94, "insult": 0.88, "spam": 0.02},
        "reasons": [
            {"code": "toxicity", "score": 0.94, "threshold": 0.5, "spans": _spans(_RUDE, "moron", "idiot")},
            {"code": "insult", "score": 0.88, "threshold": 0.7},
        ],
    },
    {
        "name": "BestDeals4U",
        "thread": "https://news.example/2026/11/city-budget-vote",
        "body": "Great article!! Check out cheap designer watches at http://watches.example/sale"
        " — 80% off today",
        "scores": {"toxicity": 0.03, "insult": 0.01, "spam": 0.97},
        "reasons": [
            {
                "code": "spam",
                "score": 0.97,
                "threshold": 0.8,
                "signals": ["link", "spam_phrase", "rate_email"],
            }
        ],
    },
    {
        "name": "dave_from_ohio",
        "thread": "https://news.example/2026/11/winter-storm-warning",
        "body": "The county never clears our road. Somebody should do something about those clowns"
        " at city hall.",
        "scores": {"toxicity": 0.57, "insult": 0.41, "spam": 0.01},
        "reasons": [{"code": "toxicity", "score": 0.57, "threshold": 0.5}],
    },
    {
        "name": "Priya N.",
        "thread": "https://news.example/2026/11/school-lunch-program",
        "body": "My kids' school piloted this last year and it worked well. Happy to share what we learned.",
        "scores": {},
        "reasons": [
            {"code": "scoring_failed", "score": None, "threshold": None, "signals": ["model timeout"]}
        ],
    },
]


async def test_site_rules_are_edited_on_the_page_and_audited(page: Page, live: Live) -> None:
    await sign_in(page, live)
    await page.click("#rules summary")
    await page.fill("#rules-site", "site-a")
    await page.click("#rules-load")
    await expect(page.locator("#rules-status")).to_contain_text("loaded")
    await page.fill("#rules-doc", '{"suspect": ["scam"], "max_links": 2}')
    await page.click("#rules-save")
    await expect(page.locator("#rules-status")).to_have_text("saved")
    resp = await live.http.get(f"{live.base}/v1/moderation/rules/site-a", headers=mod_headers())
    stored = await resp.json()
    assert stored["rules"]["suspect"] == ["scam"] and stored["rules"]["max_links"] == 2
    assert stored["audit"][-1]["actor"] == "moderator:alice"
    await page.fill("#rules-doc", '{"max_links": "many"}')
    await page.click("#rules-save")
    await expect(page.locator("#rules-status")).to_contain_text("not saved")
