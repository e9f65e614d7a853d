"""The validators' fast paths (``str.isprintable``, an ASCII byte filter, the cached email check) accept
exactly what the step-by-step checks accept, with the same clean value; everything else falls through
to those checks, which name the problem. Checked over arbitrary strings, surrogates and controls
included, and over the characters the rules are about."""

from __future__ import annotations

from typing import Any

import pytest

from service.core import validation as v

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

SPECIAL = sorted(
    {chr(c) for c in [*range(0x00, 0x21), *range(0x7F, 0xA1), 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]}
    | v._BIDI_AND_INVISIBLE
    | {chr(0xD800), chr(0xDFFF), "\u2000", "\u00ad", "\u0378", "\ue000", "a", "é", "字", "@", ".", "1"}
)
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
TEXT = st.text(ANY_CHAR, max_size=30) | st.text(st.sampled_from(SPECIAL), max_size=12)
VALUES: Any = TEXT | st.none() | st.integers() | st.just("x" * 101) | st.just(" a" * 60)


@hypothesis.settings(max_examples=600, deadline=None)
@hypothesis.given(VALUES)
def test_name_fast_path_agrees(value: Any) -> None:
    assert v._validate_name(value) == v._checked_name(value)


@hypothesis.settings(max_examples=600, deadline=None)
@hypothesis.given(VALUES | st.builds(lambda a, b: f"{a}@{b}.org", TEXT, TEXT))
def test_email_fast_path_agrees(value: Any) -> None:
    assert v._validate_email(value) == v._checked_email(value)


@hypothesis.settings(max_examples=600, deadline=None)
@hypothesis.given(VALUES | st.just("line one\nline two\ttab\r\n"))
def test_body_fast_path_agrees(value: Any) -> None:
    assert v._validate_body(value) == v._checked_body(value)


@hypothesis.settings(max_examples=600, deadline=None)
@hypothesis.given(st.sampled_from(sorted(v._OPTIONAL_LIMITS)), VALUES | st.just("203.0.113.7"))
def test_optional_fast_path_agrees(field: str, value: Any) -> None:
    assert v._validate_optional(field, value) == v._checked_optional(field, value)


@pytest.mark.parametrize(
    ("body", "ok"),
    [("fine", True), ("two\nlines\ttab", True), (" \n\t ", False), ("bell\x07", False), ("\x7f", False),
     ("bidi \u202e ok", True), ("\u200b\u200d", False), ("c1 \x85", False), ("x" * 10_001, False)],
)  # fmt: skip
def test_body_examples(body: str, ok: bool) -> None:
    assert (v._validate_body(body)[1] is None) is ok


@pytest.mark.parametrize(
    "payload",
    [{"user_agent": "ua", "thread": "t", "ip": "203.0.113.7"}, {"body": "b", "thread": "t", "referrer": "r"}],
)
def test_missing_required_fields_are_named_whatever_else_is_sent(payload: dict[str, Any]) -> None:
    errors = v.validate_comment(payload)
    assert isinstance(errors, dict)
    assert {f for f in ("name", "email", "body") if f not in payload} == set(errors)
