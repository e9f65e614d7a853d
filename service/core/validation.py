"""Validation of a posted comment: every bad field is named at once, nothing raises past here.

``validate_comment(payload)`` returns either ``CommentFields`` or a ``{field: message}`` dict.
Email syntax is checked with ``email-validator`` without DNS (no network on the request path).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from service.core.languages import language_code
from service.core.models import CommentFields

NAME_MAX = 100
EMAIL_MAX = 254
BODY_MAX = 10_000

# Optional string fields and their length limits.
_OPTIONAL_LIMITS: dict[str, int] = {
    "thread": 2048,
    "parent_id": 128,
    "author_url": 2048,
    "ip": 64,
    "user_agent": 1024,
    "referrer": 2048,
    "client_ref": 256,
    "honeypot": 1024,
}
_REQUIRED = ("name", "email", "body")
KNOWN_FIELDS = frozenset({*_REQUIRED, "form_elapsed_ms", "language", *_OPTIONAL_LIMITS})

# Field names of a WordPress-style comment form, accepted when a site forwards its form as it came.
FORM_ALIASES: dict[str, str] = {
    "author": "name",
    "comment": "body",
    "url": "author_url",
    "comment_post_ID": "thread",
    "comment_parent": "parent_id",
}

_BIDI_AND_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2060\ufeff"
)


def is_encodable(value: str) -> bool:
    """UTF-8 can encode it: no lone surrogate, which a JSON escape can carry but Redis cannot store."""
    if value.isascii():  # a flag of the string: O(1)
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from JSON escapes
        return False
    return True


# C0 and C1 control characters (Unicode category Cc) plus bidi and invisible formatting characters;
# the body allows tab and newlines.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f" + "".join(sorted(_BIDI_AND_INVISIBLE)) + "]")
_CONTROL_BUT_NEWLINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A character that is neither whitespace (as ``str.strip`` sees it) nor bidi/invisible formatting.
_VISIBLE = re.compile(r"[^\s" + "".join(sorted(_BIDI_AND_INVISIBLE)) + "]")
# Dotted-quad IPv4 exactly as ``ipaddress`` accepts it (ASCII digits, 0-255, no leading zeros): a fast path.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
# Fast paths for the common case. ``str.isprintable()`` is False for every control (Cc), bidi or
# invisible formatting (Cf) and lone surrogate (Cs) character and for every whitespace but the space:
# a printable value passes the control and encoding checks, and a printable value that is not all
# spaces has a visible character. Any other value takes the step-by-step checks (``_checked_*``),
# which name the first problem; tests/test_validation_fast_paths.py holds both to the same answers.
_ASCII_CONTROL_BUT_NEWLINES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def _has_control(value: str) -> bool:
    """Control characters (tab and newlines included) or bidi/invisible formatting characters."""
    return _CONTROL.search(value) is not None


def _check_string(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if not is_encodable(value):
        return "contains invalid unicode (lone surrogate)"
    return None


def _validate_name(value: Any) -> tuple[str | None, str | None]:
    name = value.strip() if type(value) is str else ""
    if 0 < len(name) <= NAME_MAX and name.isprintable() and (name.isascii() or not _looks_blank(name)):
        return name, None
    return _checked_name(value)


# Printable characters that show as nothing: Hangul fillers, the blank Braille pattern, the combining
# grapheme joiner. A name with one, or of combining marks alone, would show as blank or as another's.
_BLANK_LOOKING = re.compile("[\u115f\u1160\u3164\uffa0\u2800\u034f]")


def _looks_blank(name: str) -> bool:
    if _BLANK_LOOKING.search(name) is not None:
        return True
    return all(unicodedata.category(char)[0] in "MZ" for char in name)


def _checked_name(value: Any) -> tuple[str | None, str | None]:
    problem = _check_string(value)
    if problem:
        return None, problem
    name = value.strip()
    if not name:
        return None, "required"
    if len(name) > NAME_MAX:
        return None, f"must be at most {NAME_MAX} characters"
    if _has_control(name):
        return None, "must not contain control characters"
    if not name.isprintable():  # format (U+061C, tags U+E0000...), line/paragraph separators, private use
        return None, "must not contain invisible formatting or separator characters"
    if _looks_blank(name):
        return None, "must show a visible character (no blank fillers, not combining marks alone)"
    return name, None


def _validate_email(value: Any) -> tuple[str | None, str | None]:
    if type(value) is str and value.isascii() and 0 < len(email := value.strip()) <= EMAIL_MAX:
        return _check_email_syntax(email)
    return _checked_email(value)


def _checked_email(value: Any) -> tuple[str | None, str | None]:
    problem = _check_string(value)
    if problem:
        return None, problem
    email = value.strip()
    if not email:
        return None, "required"
    if len(email) > EMAIL_MAX:
        return None, f"must be at most {EMAIL_MAX} characters"
    return _check_email_syntax(email)


@functools.lru_cache(maxsize=4096)
def _check_email_syntax(email: str) -> tuple[str | None, str | None]:
    """Syntax only, no DNS; cached, since regular commenters send the same address again and again."""
    try:
        checked = validate_email(email, check_deliverability=False, strict=True)
    except EmailNotValidError as exc:
        return None, f"not a valid email address: {exc}"
    return checked.normalized, None


def _validate_body(value: Any) -> tuple[str | None, str | None]:
    if type(value) is str and 0 < len(value) <= BODY_MAX and not value.isspace():
        if value.isascii():  # visible (not all whitespace); tab and newlines allowed
            if len(value.encode().translate(None, _ASCII_CONTROL_BUT_NEWLINES)) == len(value):
                return value, None
        elif value.isprintable():
            return value, None
    return _checked_body(value)


def _checked_body(value: Any) -> tuple[str | None, str | None]:
    problem = _check_string(value)
    if problem:
        return None, problem
    if _VISIBLE.search(value) is None:  # empty, blank, or only invisible characters
        return None, "required"
    if len(value) > BODY_MAX:
        return None, f"must be at most {BODY_MAX} characters"
    # Bidi and zero-width characters are allowed in the body (scoring folds them away);
    # C0/C1 control characters other than tab and newlines are not.
    if _CONTROL_BUT_NEWLINES.search(value):
        return None, "must not contain control characters"
    return value, None


def _validate_optional(field: str, value: Any) -> tuple[str | None, str | None]:
    if type(value) is str and len(text := value.strip()) <= _OPTIONAL_LIMITS[field] and text.isprintable():
        return (text or None), _FIELD_CHECKS.get(field, _no_check)(text)
    return _checked_optional(field, value)


def _checked_optional(field: str, value: Any) -> tuple[str | None, str | None]:
    problem = _check_string(value)
    if problem:
        return None, problem
    text = value.strip()
    if len(text) > _OPTIONAL_LIMITS[field]:
        return None, f"must be at most {_OPTIONAL_LIMITS[field]} characters"
    if field != "honeypot" and _has_control(text):
        return None, "must not contain control characters"
    return (text or None), _FIELD_CHECKS.get(field, _no_check)(text)


def _no_check(_: str) -> str | None:
    return None


def _check_ip(text: str) -> str | None:
    if not text or _IPV4.fullmatch(text):
        return None
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return "not an IP address"
    return None


def _check_url(text: str) -> str | None:
    if not text:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return "not a URL"
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return "must be an http or https URL"
    return None


_FIELD_CHECKS: dict[str, Callable[[str], str | None]] = {"ip": _check_ip, "author_url": _check_url}


def _validate_elapsed(value: Any) -> tuple[int | None, str | None]:
    if isinstance(value, bool):
        return None, "must be a non-negative integer (milliseconds)"
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) <= 12:
        value = int(value.strip())
    if not isinstance(value, int) or value < 0 or value > 10**12:
        return None, "must be a non-negative integer (milliseconds)"
    return value, None


def _validate_language(value: Any) -> tuple[str | None, str | None]:
    """An ISO 639-1 code ("de"; "pt-BR" is read as "pt"): the comment's language, detection skipped."""
    if isinstance(value, str) and not value.strip():
        return None, None  # an empty form field: not declared
    code = language_code(value) if isinstance(value, str) and len(value) <= 35 else None
    if code is None:
        return None, "must be an ISO 639-1 language code such as en, de, pt or ko"
    return code, None


_CHECKS: dict[str, Callable[[Any], tuple[Any, str | None]]] = {
    "name": _validate_name,
    "email": _validate_email,
    "body": _validate_body,
    **{field: functools.partial(_validate_optional, field) for field in _OPTIONAL_LIMITS},
    "form_elapsed_ms": _validate_elapsed,
    "language": _validate_language,
}
_ORDER = tuple(_CHECKS)


def validate_comment(payload: Mapping[str, Any]) -> CommentFields | dict[str, str]:
    """Check every field; return the clean comment, or every problem keyed by field name."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field, value in payload.items():
        check = _CHECKS.get(field)
        if check is None:
            errors[field] = "unknown field"
        elif value is not None or field in _REQUIRED:  # an optional field sent as null is left out
            clean[field], problem = check(value)
            if problem:
                errors[field] = problem
    for field in _REQUIRED:
        if field not in clean:
            errors[field] = "required"
    if errors:  # unknown fields first, as sent, then the known ones in their documented order
        known = [f for f in _ORDER if f in errors]
        return {f: errors[f] for f in errors if f not in KNOWN_FIELDS} | {f: errors[f] for f in known}
    return CommentFields(**clean)


# A URL scheme as RFC 3986 spells one, followed by "://"; a form's ``url`` without it is taken as http.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_FORM_NAMES = {field: name for name, field in FORM_ALIASES.items()}


def form_to_payload(pairs: list[tuple[str, str]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Map an HTML form's fields (canonical names or WordPress names) onto the API's field names.

    Returns the payload and ``{api field: the form's own name}``; a field given twice is an error
    under the form's name (``given more than once``). Fields this API does not know (a platform's
    hidden fields: nonces, ``redirect_to``, the submit button) are ignored: a site forwards its form
    as it came. ``url`` without a scheme is http, ``comment_parent=0`` means no parent."""
    payload: dict[str, Any] = {}
    names: dict[str, str] = {}
    for raw_name, value in pairs:
        field = FORM_ALIASES.get(raw_name, raw_name)
        if field not in KNOWN_FIELDS:
            continue
        if field in payload:
            names[field] = raw_name
            payload[field] = _TWICE
            continue
        payload[field], names[field] = value, raw_name
    if payload.get("parent_id", "").strip() == "0":
        del payload["parent_id"]
    if isinstance(url := payload.get("author_url"), str):
        payload["author_url"] = with_scheme(url)
    return payload, names


def with_scheme(url: str) -> str:
    """A URL as a form or Akismet client sends it: ``www.example.org`` is ``http://www.example.org``."""
    url = url.strip()
    return url if not url or _SCHEME.match(url) else "http://" + url.removeprefix("//")


class _Twice:
    """Marks a form field given more than once."""


_TWICE = _Twice()


def validate_form(pairs: list[tuple[str, str]]) -> CommentFields | dict[str, str]:
    """``validate_comment`` for a form post: errors are keyed by the form's own field names (a
    WordPress form's missing ``comment`` is ``comment``, not ``body``)."""
    payload, names = form_to_payload(pairs)
    twice = {field for field, value in payload.items() if value is _TWICE}
    result = validate_comment({k: v for k, v in payload.items() if k not in twice})
    if isinstance(result, CommentFields) and not twice:
        return result
    errors = {} if isinstance(result, CommentFields) else result
    errors.update(dict.fromkeys(twice, "given more than once"))
    wordpress = any(name in FORM_ALIASES for name in names.values())
    own = {**(_FORM_NAMES if wordpress else {}), **names}
    return {own.get(field, field): problem for field, problem in errors.items()}
