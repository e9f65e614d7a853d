"""The moderators' desk in headless Chromium: reversing decisions, context and author actions, new holds
arriving, rule holds, the rules form, the dense queue, the 390-pixel layout, activity, and axe-core."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.kits.common import mod_headers
from tests.kits.held import SPAM
from tests.kits.live import UNDO_MS, Live, sign_in

pytestmark = pytest.mark.procs

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True
    )

from playwright.async_api import Page, expect  # noqa: E402

POLL_MS = 15000
WCAG = json.dumps(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


def card(page: Page, text: str) -> Any:
    return page.locator("article.card", has_text=text)


async def decide(live: Live, cid: str, action: str, note: str = "") -> None:
    body = {"action": action, "ids": [cid], "note": note or None}
    resp = await live.http.post(f"{live.base}/v1/moderation/decisions", json=body, headers=mod_headers())
    assert (await resp.json())["results"][0]["ok"]


async def wait_status(live: Live, comment_id: str, status: str) -> None:
    for _ in range(50):
        if await live.status(comment_id) == status:
            return
        await asyncio.sleep(0.1)
    assert await live.status(comment_id) == status


async def test_a_rejection_is_reversed_from_the_rejected_list_and_a_publish_from_the_published(
    page: Page, live: Live
) -> None:
    wrong = await live.held(body="Sharp but fair criticism of the mayor")
    kept = await live.held(body="Harassment that slipped through")
    await decide(live, wrong, "reject")
    await decide(live, kept, "approve")
    await sign_in(page, live, cards=0)
    await page.click("#tabs button[data-view=rejected]")
    row = card(page, "Sharp but fair")
    await row.locator("input.note").fill("reader complaint: it was fair")
    await row.locator("button.reinstate").click()
    await expect(page.locator("#toasts")).to_contain_text("Reinstated 1 comment")
    await page.clock.run_for(UNDO_MS + 100)
    await wait_status(live, wrong, "published")
    audit = (await live.comment(wrong))["audit"][-1]
    assert (audit["action"], audit["note"]) == ("reinstate", "reader complaint: it was fair")
    await page.click("#tabs button[data-view=published]")
    await card(page, "Harassment that slipped").locator("button.unpublish").click()
    await page.clock.run_for(UNDO_MS + 100)
    await wait_status(live, kept, "rejected")
    assert (await live.comment(kept))["audit"][-1]["action"] == "unpublish"


async def test_context_shows_the_parent_and_author_and_the_author_is_banned_from_the_page(
    page: Page, live: Live
) -> None:
    parent = await live.held(verdict="publish", name="Bo", email="bo@example.org", body="The budget is fine.")
    await live.held(body="Earlier rant by Ada", thread="art-2")
    await live.held(body="Unrelated by Cy", name="Cy", email="cy@example.org")
    await live.held(body="Reply to Bo by Ada", parent_id=parent)
    await sign_in(page, live, cards=3)
    row = card(page, "Reply to Bo by Ada")
    await row.locator("button.ctx").click()
    extra = row.locator(".extra")
    await expect(extra).to_contain_text("In reply to Bo · published, automatic verdict publish")
    await expect(extra).to_contain_text("The budget is fine.")
    await expect(extra).to_contain_text("Earlier rant by Ada")
    assert "example.org" not in await extra.inner_text()
    await extra.locator("button.author-banned").click()
    await expect(extra.locator(".standing")).to_have_text("banned, 0 published")
    author = (await live.comment(parent))["author"]  # Bo's id differs from Ada's: check Ada's via context
    ada = await (
        await live.http.get(f"{live.base}/v1/moderation/comments?q=Reply", headers=mod_headers())
    ).json()
    ctx_url = f"{live.base}/v1/moderation/comments/{ada['items'][0]['id']}/context"
    ctx = await (await live.http.get(ctx_url, headers=mod_headers())).json()
    assert ctx["author"]["standing"] == "banned" and ctx["author"]["id"] != author
    await extra.locator("button.all-by-author").click()
    await expect(page.locator("#list article.card")).to_have_count(2)
    await expect(page.locator("#toolbar")).to_contain_text("author:")
    assert "Unrelated by Cy" not in await page.locator("#list").inner_text()


async def test_a_new_hold_arrives_without_a_reload_announced_and_the_reader_stays_put(
    page: Page, live: Live
) -> None:
    for i in range(12):
        await live.held(body=f"Queued comment {i}")
    await sign_in(page, live, cards=12)
    for _ in range(4):
        await page.keyboard.press("j")
    before = await card(page, "Queued comment 4").bounding_box()
    loads = sum(1 for u in live.requests if u.endswith("/moderate"))
    await live.held(body="A brand new insult, just posted")
    await page.clock.run_for(POLL_MS + 100)
    await expect(page.locator("#list article.card")).to_have_count(13)
    await expect(page.locator("#announce")).to_have_text("1 new held comment at the end of the list")
    assert "A brand new insult" in await page.locator("#list article.card").last.inner_text()
    assert await card(page, "Queued comment 4").bounding_box() == before
    assert "Queued comment 4" in await page.locator("article.card.focused").inner_text()
    assert sum(1 for u in live.requests if u.endswith("/moderate")) == loads  # no reload


async def test_a_rule_hold_names_the_rule_and_highlights_the_folded_word(page: Page, live: Live) -> None:
    body = "What a sw1ndle, s c a m artists all of them"
    reasons = [
        {"code": "banned_pattern", "rule": "swindle", "signals": ["hold"], "spans": [[7, 14]]},
        {"code": "suspect_word", "rule": "scam", "signals": ["hold"], "spans": [[16, 23]]},
    ]
    await live.held(body=body, reasons=reasons)
    await sign_in(page, live, cards=1)
    row = page.locator("article.card")
    assert await row.locator(".reasons li").all_text_contents() == [
        "Banned by a site rule: swindle", "Suspect word: scam",
    ]  # fmt: skip
    assert await row.locator(".body mark").all_text_contents() == ["sw1ndle", "s c a m"]
    assert await row.locator(".hits mark").all_text_contents() == ["sw1ndle", "s c a m"]


async def test_the_rules_form_shows_a_bad_value_by_its_field_then_saves(page: Page, live: Live) -> None:
    await sign_in(page, live)
    await page.click("#rules summary")
    await page.fill("#rules-site", "site-a")
    await page.click("#rules-load")
    await expect(page.locator("#rules-status")).to_contain_text("loaded")
    await page.fill("#rf-suspect", "scam\nfree money")
    await page.fill("#rf-max-links", "-1")
    await page.fill("#rf-th-toxicity", "1.5")
    await page.click("#rules-save")
    await expect(page.locator("#rules-status")).to_contain_text("not saved")
    await expect(page.locator("#rf-max-links-error")).to_have_text("a non-negative integer or null")
    await expect(page.locator("#rf-th-toxicity-error")).to_have_text("a number in (0, 1]")
    assert await page.locator("#rf-max-links").get_attribute("aria-invalid") == "true"
    assert await page.locator("#rf-suspect-error").text_content() == ""
    await page.fill("#rf-max-links", "2")
    await page.fill("#rf-th-toxicity", "0.6")
    await page.click("#rules-save")
    await expect(page.locator("#rules-status")).to_have_text("saved")
    await expect(page.locator("#rf-max-links-error")).to_have_text("")
    resp = await live.http.get(f"{live.base}/v1/moderation/rules/site-a", headers=mod_headers())
    rules = (await resp.json())["rules"]
    assert (rules["suspect"], rules["max_links"], rules["thresholds"]) == (
        ["scam", "free money"], 2, {"toxicity": 0.6},
    )  # fmt: skip


async def test_the_dense_queue_shows_ten_or_more_on_1280x900_with_scores_on_demand(
    page: Page, live: Live
) -> None:
    for i in range(14):
        text = f"Comment {i}: " + "this is a fairly long comment that goes on about the article. " * 3
        await live.held(body=text, reasons=SPAM if i % 3 == 0 else None)
    await sign_in(page, live, cards=14)
    boxes = [await c.bounding_box() for c in await page.locator("article.card").all()]
    assert sum(1 for b in boxes if b and b["y"] + b["height"] <= 900) >= 10
    assert await page.locator(".scores").count() == 0
    first = page.locator("article.card").first
    await first.locator("button:text('Scores')").click()
    await expect(first.locator(".scores .score")).to_have_count(2)


async def test_the_390_pixel_layout_has_no_horizontal_overflow(page: Page, live: Live) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await live.held(body="x" * 300, thread="https://news.example/" + "very-long-slug-" * 20)
    await live.held(body="Buy followers at http://spam.example/" + "a" * 80, reasons=SPAM)
    await sign_in(page, live, cards=2)
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert await page.evaluate(overflow) == 0
    for selector in ["#tabs button[data-view=rejected]", "article.card button.reject", "#logout button"]:
        box = await page.locator(selector).first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    await page.locator("article.card button.ctx").first.click()
    await expect(page.locator("article.card .extra").first).to_contain_text("Author")
    assert await page.evaluate(overflow) == 0
    await page.click("#rules summary")  # the tools open over the list, inside the screen
    await expect(page.locator("#rules-form")).to_be_visible()
    assert await page.evaluate(overflow) == 0


async def test_keyboard_help_and_the_tools_sit_at_the_top(page: Page, live: Live) -> None:
    await sign_in(page, live)
    for selector in ["#keys summary", "#rules summary", "#activity summary"]:
        box = await page.locator(selector).bounding_box()
        assert box is not None and box["y"] < 80, selector
    await page.keyboard.press("?")
    await expect(page.locator("#keys .panel")).to_be_visible()
    await expect(page.locator("#keys .panel")).to_contain_text("undo")


async def test_the_activity_view_shows_held_oldest_and_decisions_per_moderator(
    page: Page, live: Live
) -> None:
    await live.held(body="Still waiting")
    done = await live.held(body="Decided")
    await decide(live, done, "reject", "abuse")
    await sign_in(page, live, cards=1)
    await page.click("#activity summary")
    panel = page.locator("#activity-panel")
    await expect(panel.locator(".held-now")).to_have_text("1")
    await expect(panel.locator(".decided-today")).to_have_text("1")
    await expect(panel.locator(".per-moderator")).to_have_text("alice: 1")
    await expect(panel.locator(".audit-log li")).to_contain_text(["alice · reject"])


async def test_axe_finds_no_serious_or_critical_violations(page: Page, live: Live) -> None:
    parent = await live.held(verdict="publish", name="Bo", email="bo@example.org", body="Parent comment")
    await live.held(body="You are an idiot", reasons=[{"code": "toxicity", "score": 0.9, "threshold": 0.5,
                                                      "spans": [[11, 16]]}])  # fmt: skip
    await live.held(body="Cheap pills http://spam.example", reasons=SPAM, parent_id=parent)
    await sign_in(page, live, cards=2)
    await page.locator("article.card button.ctx").first.click()
    await page.locator("article.card").nth(1).locator("button:text('Scores')").click()
    await page.click("#rules summary")
    await page.fill("#rules-site", "site-a")
    await page.click("#rules-load")
    await expect(page.locator("#rules-status")).to_contain_text("loaded")
    await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")  # devtools evaluation: the CSP stays
    for width in (1280, 390):
        await page.set_viewport_size({"width": width, "height": 900})
        result = await page.evaluate(f"axe.run(document, {{runOnly: {{type: 'tag', values: {WCAG}}}}})")
        bad = [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]
            if v["impact"] in {"serious", "critical"}
        ]
        assert bad == [], json.dumps(bad, indent=1)


async def test_the_queue_pages_in_as_the_reader_scrolls_and_keeps_their_place(page: Page, live: Live) -> None:
    for i in range(55):
        await live.held(body=f"Long queue comment {i:02d}")
    await sign_in(page, live, cards=50)
    where = "[...document.querySelectorAll('article.card')][10].getBoundingClientRect().top + scrollY"
    before = await page.evaluate(where)
    await card(page, "Long queue comment 49").scroll_into_view_if_needed()
    await page.mouse.wheel(0, 4000)  # no click: the next page loads as the end comes into view
    await expect(page.locator("#list article.card")).to_have_count(55)
    assert "Long queue comment 54" in await page.locator("#list article.card").last.inner_text()
    assert await page.evaluate(where) == before  # the rows already read stay where they were


async def test_a_conflicting_decision_by_another_moderator_is_reported_not_overwritten(
    page: Page, live: Live
) -> None:
    cid = await live.held(body="Two moderators on one comment")
    await sign_in(page, live, cards=1)
    await page.keyboard.press("a")  # approve: sent when the undo window ends
    await decide(live, cid, "reject", "the other moderator")
    await page.clock.run_for(UNDO_MS + 100)
    await expect(page.locator("#toasts")).to_contain_text("1 changed by someone else first: now rejected")
    assert await live.status(cid) == "rejected"
    assert [a["action"] for a in (await live.comment(cid))["audit"]] == ["decide", "reject"]


async def test_c_and_s_keys_open_the_focused_rows_context_and_scores(page: Page, live: Live) -> None:
    await live.held(body="First row")
    await live.held(body="Second row", reasons=SPAM)
    await sign_in(page, live, cards=2)
    await page.keyboard.press("j")
    await page.keyboard.press("c")
    second = card(page, "Second row")
    await expect(second.locator(".extra")).to_contain_text("Author")
    await page.keyboard.press("s")
    await expect(second.locator(".extra .scores")).to_be_visible()
    assert await card(page, "First row").locator(".extra").is_hidden()


async def test_new_holds_beyond_the_loaded_pages_are_counted_and_announced(page: Page, live: Live) -> None:
    for i in range(52):
        await live.held(body=f"Big queue comment {i:02d}")
    await sign_in(page, live, cards=50)
    await expect(page.locator("#counts .total")).to_have_text("52 held")
    await live.held(body="Arrived while reading")
    await page.clock.run_for(POLL_MS + 100)
    await expect(page.locator("#announce")).to_have_text("1 more held comment at the end of the queue")
    await expect(page.locator("#counts .total")).to_have_text("53 held")
    assert await page.locator("#list article.card").count() == 50
