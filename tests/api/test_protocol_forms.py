"""Sites' own forms as WordPress and similar platforms post them (issue 13): hidden fields ignored,
``url`` without a scheme, ``comment_parent=0``, errors under the form's own names, multipart."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.kits.common import mod_headers, site_headers

# What a WordPress 6 comment form posts to wp-comments-post.php, Akismet plugin active.
WORDPRESS_FORM = {
    "comment": "Thanks, the council budget chart helped a lot.",
    "author": "Ada Lovelace",
    "email": "ada@example.org",
    "url": "www.example.org",
    "wp-comment-cookies-consent": "yes",
    "submit": "Post Comment",
    "comment_post_ID": "17",
    "comment_parent": "0",
    "akismet_comment_nonce": "3f1c0a9b2e",
    "ak_js": "1733390000123",
    "_wp_unfiltered_html_comment": "a1b2c3d4e5",
    "redirect_to": "https://news.example.org/2026/12/budget/#comments",
    "ak_hp_textarea": "",
}


async def _moderator_view(client: Any, comment_id: str) -> dict[str, Any]:
    resp = await client.get(f"/v1/moderation/comments/{comment_id}", headers=mod_headers())
    assert resp.status == 200
    return dict(await resp.json())


async def test_wordpress_form_with_its_hidden_fields_is_accepted(client: Any) -> None:
    resp = await client.post("/v1/comments", data=WORDPRESS_FORM, headers=site_headers())
    assert resp.status == 202, await resp.text()
    stored = await _moderator_view(client, (await resp.json())["id"])
    assert stored["author_url"] == "http://www.example.org"
    assert stored["parent_id"] is None
    assert stored["thread"] == "17"
    assert stored["name"] == "Ada Lovelace"


async def test_nonzero_comment_parent_is_kept(client: Any) -> None:
    form = {**WORDPRESS_FORM, "comment_parent": "42", "url": "https://ada.example.org/"}
    resp = await client.post("/v1/comments", data=form, headers=site_headers())
    assert resp.status == 202
    stored = await _moderator_view(client, (await resp.json())["id"])
    assert stored["parent_id"] == "42"
    assert stored["author_url"] == "https://ada.example.org/"


async def test_multipart_form_is_accepted_like_urlencoded(client: Any) -> None:
    form = aiohttp.FormData()
    for name, value in WORDPRESS_FORM.items():
        form.add_field(name, value)
    form.add_field("attachment", b"\x89PNG", filename="x.png", content_type="image/png")
    resp = await client.post("/v1/comments", data=form, headers=site_headers())
    assert resp.status == 202, await resp.text()
    stored = await _moderator_view(client, (await resp.json())["id"])
    assert stored["author_url"] == "http://www.example.org"


async def test_form_errors_name_the_forms_own_fields(client: Any) -> None:
    form = {**WORDPRESS_FORM, "comment": "", "email": "not-an-email", "url": "ftp://x.example"}
    del form["author"]
    resp = await client.post("/v1/comments", data=form, headers=site_headers())
    assert resp.status == 422
    fields = (await resp.json())["fields"]
    assert set(fields) == {"author", "email", "comment", "url"}


async def test_multipart_errors_name_the_forms_own_fields(client: Any) -> None:
    form = aiohttp.FormData()
    form.add_field("comment", "Hello there")
    form.add_field("author", "Ada")
    form.add_field("akismet_comment_nonce", "abc")
    resp = await client.post("/v1/comments", data=form, headers=site_headers())
    assert resp.status == 422
    assert (await resp.json())["fields"] == {"email": "required"}


async def test_a_form_field_given_twice_is_named(client: Any) -> None:
    body = "author=a&author=b&email=t%40example.org&comment=hi&nonce=1"
    headers = site_headers(**{"Content-Type": "application/x-www-form-urlencoded"})
    resp = await client.post("/v1/comments", data=body, headers=headers)
    assert resp.status == 422
    assert (await resp.json())["fields"] == {"author": "given more than once"}


async def test_json_bodies_stay_strict(client: Any) -> None:
    payload = {"name": "Ada", "email": "ada@example.org", "body": "Hi", "ak_js": "1"}
    resp = await client.post("/v1/comments", json=payload, headers=site_headers())
    assert resp.status == 422
    assert (await resp.json())["fields"] == {"ak_js": "unknown field"}
    payload = {"name": "Ada", "email": "ada@example.org", "body": "Hi", "author_url": "www.example.org"}
    resp = await client.post("/v1/comments", json=payload, headers=site_headers())
    assert resp.status == 422
    assert set((await resp.json())["fields"]) == {"author_url"}
