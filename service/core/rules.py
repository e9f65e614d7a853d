"""Per-site moderation rules, stored in Redis, changed without restart, applied by workers at once.

A site's rules: banned words or patterns (hold or reject outright), suspect words (hold), a maximum
number of links, per-score thresholds, and threads whose every comment is pre-moderated. Regular
expressions are compiled with RE2 (linear time: no catastrophic backtracking) and length-bounded.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

import re2

from service.core.normalize import fold, fold_units
from service.core.validation import is_encodable

PATTERN_MAX = 200
LIST_MAX = 500
ACTIONS = ("hold", "reject")
KINDS = ("word", "regex")


@dataclass(frozen=True, slots=True)
class BannedPattern:
    pattern: str
    kind: str = "word"  # word: whole word (after evasion folding), regex: RE2 syntax
    action: str = "hold"  # hold | reject


@dataclass(frozen=True, slots=True)
class SiteRules:
    banned: tuple[BannedPattern, ...] = ()
    suspect: tuple[str, ...] = ()
    max_links: int | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    premoderate_threads: tuple[str, ...] = ()
    # Opt in to the network of spam link domains shared by the sites that opted in (issue 17): off, a
    # site's history signals come from its own comments only.
    share_spam_domains: bool = False
    # How far over each threshold a trusted author's score may go and still publish (None: the setting
    # COMMENTMOD_TRUST_MARGIN); 0 gives trusted authors no leeway on scores at all.
    trust_margin: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["banned"] = [asdict(b) for b in self.banned]
        out["suspect"] = list(self.suspect)
        out["premoderate_threads"] = list(self.premoderate_threads)
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class RuleHit:
    code: str  # banned_pattern | suspect_word | too_many_links | premoderated_thread
    action: str  # hold | reject
    hard: bool  # hard rules apply to trusted authors too
    detail: str = ""
    rule: str = ""  # the word or pattern that matched (banned_pattern, suspect_word)
    spans: tuple[tuple[int, int], ...] = ()  # where in the body: whole words as folding reads them


def _str_list(value: Any, what: str, errors: dict[str, str], limit: int = PATTERN_MAX) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > LIST_MAX:
        errors[what] = f"a list of at most {LIST_MAX} strings"
        return ()
    if not all(isinstance(v, str) and 0 < len(v.strip()) <= limit for v in value):
        errors[what] = f"each item a non-empty string of at most {limit} characters"
        return ()
    return tuple(v.strip() for v in value)


def _banned(value: Any, errors: dict[str, str]) -> tuple[BannedPattern, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > LIST_MAX:
        errors["banned"] = f"a list of at most {LIST_MAX} patterns"
        return ()
    out = []
    for i, item in enumerate(value):
        item = {"pattern": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or set(item) - {"pattern", "kind", "action"}:
            errors[f"banned[{i}]"] = "a string or {pattern, kind, action}"
            continue
        pattern, kind, action = item.get("pattern"), item.get("kind", "word"), item.get("action", "hold")
        if not isinstance(pattern, str) or not 0 < len(pattern) <= PATTERN_MAX:
            errors[f"banned[{i}].pattern"] = f"a non-empty string of at most {PATTERN_MAX} characters"
        elif kind not in KINDS or action not in ACTIONS:
            errors[f"banned[{i}]"] = f"kind one of {KINDS}, action one of {ACTIONS}"
        elif kind == "regex" and not _compiles(pattern):
            errors[f"banned[{i}].pattern"] = "not a valid RE2 regular expression"
        else:
            out.append(BannedPattern(pattern, kind, action))
    return tuple(out)


def _compiles(pattern: str) -> bool:
    try:
        re2.compile(pattern)
    except Exception:
        return False
    return True


def _thresholds(value: Any, errors: dict[str, str]) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 20:
        errors["thresholds"] = "an object of score name to a number in (0, 1]"
        return {}
    out = {}
    for name, number in value.items():
        if not isinstance(number, int | float) or isinstance(number, bool) or not 0 < number <= 1:
            errors[f"thresholds.{name}"] = "a number in (0, 1]"
        else:
            out[str(name)] = float(number)
    return out


def parse_rules(payload: Any) -> SiteRules | dict[str, str]:
    """Validate a rules document; return the rules or every problem by field."""
    if not isinstance(payload, dict):
        return {"_": "a JSON object"}
    known = {"banned", "suspect", "max_links", "thresholds", "premoderate_threads", "share_spam_domains",
             "trust_margin"}  # fmt: skip
    errors: dict[str, str] = {k: "unknown field" for k in payload if k not in known}
    # 990 levels made json.dumps and the checks below recurse out (a 500): named, checked no further.
    deep = {k: f"nested more than {RULES_DEPTH_MAX} levels deep" for k in known & payload.keys()
            if _too_deep(payload[k])}  # fmt: skip
    if deep:
        return {**errors, **deep}
    max_links = payload.get("max_links")
    if max_links is not None and (
        not isinstance(max_links, int) or isinstance(max_links, bool) or max_links < 0
    ):
        errors["max_links"] = "a non-negative integer or null"
    if not isinstance(payload.get("share_spam_domains", False), bool):
        errors["share_spam_domains"] = "true or false"
    margin = payload.get("trust_margin")
    if margin is not None and (not isinstance(margin, int | float) or isinstance(margin, bool)
                               or not 0 <= margin <= 1):  # fmt: skip
        errors["trust_margin"] = "a number in [0, 1] or null"
    rules = SiteRules(
        banned=_banned(payload.get("banned"), errors),
        suspect=_str_list(payload.get("suspect"), "suspect", errors),
        max_links=max_links if isinstance(max_links, int) else None,
        thresholds=_thresholds(payload.get("thresholds"), errors),
        premoderate_threads=_str_list(
            payload.get("premoderate_threads"), "premoderate_threads", errors, 2048
        ),
        share_spam_domains=payload.get("share_spam_domains") is True,
        trust_margin=float(margin) if "trust_margin" not in errors and margin is not None else None,
    )
    for key in known & payload.keys():
        if not _encodable(payload[key]):
            errors[key] = "contains invalid unicode (lone surrogate)"
    return errors or rules


RULES_DEPTH_MAX = 4  # the deepest valid rules value, a list of objects (banned), is 2 levels


def _too_deep(value: Any) -> bool:
    """Lists and objects nested more than ``RULES_DEPTH_MAX`` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > RULES_DEPTH_MAX:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _encodable(value: Any) -> bool:
    """No lone surrogate anywhere in ``value`` (strings, list items, object keys): storing the rules
    would fail."""
    return is_encodable(json.dumps(value, ensure_ascii=False))


def shares_spam_domains(raw: str | bytes | None) -> bool:
    """Whether a stored rules document opts its site in to the shared spam-domain network (a cheap read
    for the worker's history, without validating or compiling the rest)."""
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("share_spam_domains") is True


def rules_from_json(raw: str | None) -> SiteRules:
    if not raw:
        return SiteRules()
    parsed = parse_rules(json.loads(raw))
    return parsed if isinstance(parsed, SiteRules) else SiteRules()


def _word_alternation(words: list[str]) -> Any:
    if not words:
        return None
    escaped = "|".join(re2.escape(w.lower()) for w in words)
    return re2.compile(rf"(?i)(?:^|\W)({escaped})(?:$|\W)")


UNITS_MAX = 4000  # pieces of a body examined to place a rule's match
SPANS_MAX = 20
_EDGE = "!.,;:?\"'()[]{}«»“”‘’"


def locate(regex: Any, body: str, group: int) -> tuple[str, tuple[tuple[int, int], ...]]:
    """What ``regex`` matched (its ``group``) and where in ``body``: each piece folding reads as one word
    (``fold_units``: ``"s t u p i d"``, ``"st.upid"``) whose folded text matches, the exact match when the
    piece folds to itself; a match across pieces is placed in the raw body. Called only after a hit."""
    found, spans = "", []
    for start, end in fold_units(body)[:UNITS_MAX]:
        piece = body[start:end]
        folded = fold(piece)
        match = regex.search(folded)
        if match is None:
            continue
        found = found or match.group(group).lower()
        if folded == piece:
            spans.append((start + match.start(group), start + match.end(group)))
        else:  # the whole piece, less the punctuation around it
            inner = piece.strip(_EDGE)
            head = start + piece.index(inner) if inner else start
            spans.append((head, head + len(inner)) if inner else (start, end))
    if not spans and (match := regex.search(body)) is not None:
        found, spans = match.group(group).lower(), [(match.start(group), match.end(group))]
    return found, tuple(spans[:SPANS_MAX])


class CompiledRules:
    """Rules compiled once per rules document (cached by its hash)."""

    def __init__(self, rules: SiteRules) -> None:
        self.rules = rules
        self._words = {a: _word_alternation([b.pattern for b in rules.banned if b.kind == "word" and
                                             b.action == a]) for a in ACTIONS}  # fmt: skip
        self._regexes = [(re2.compile(b.pattern), b.action) for b in rules.banned if b.kind == "regex"]
        self._regex_sources = [b.pattern for b in rules.banned if b.kind == "regex"]
        self._suspect = _word_alternation(list(rules.suspect))
        self._threads = frozenset(rules.premoderate_threads)
        # Most sites set no patterns: then ``check`` pays for no folding.
        self._patterns = any(self._words.values()) or bool(self._regexes) or self._suspect is not None

    def check(self, body: str, thread: str, link_count: int) -> list[RuleHit]:
        folded = fold(body) if self._patterns else body
        hits: list[RuleHit] = []
        for action in ("reject", "hold"):
            words = self._words[action]
            if words is not None and (words.search(folded) or words.search(body)):
                hits.append(RuleHit("banned_pattern", action, True, "word", *locate(words, body, 1)))
        for (regex, action), source in zip(self._regexes, self._regex_sources, strict=True):
            if regex.search(body) or regex.search(folded):
                spans = locate(regex, body, 0)[1]
                hits.append(RuleHit("banned_pattern", action, True, "regex", source, spans))
        if self._suspect is not None and (self._suspect.search(folded) or self._suspect.search(body)):
            hits.append(RuleHit("suspect_word", "hold", False, "", *locate(self._suspect, body, 1)))
        if self.rules.max_links is not None and link_count > self.rules.max_links:
            hits.append(RuleHit("too_many_links", "hold", False, str(link_count)))
        if thread and thread in self._threads:
            hits.append(RuleHit("premoderated_thread", "hold", True))
        return hits


class RulesCache:
    """Compiled rules by document hash; small and bounded."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[str, CompiledRules] = OrderedDict()
        self._size = size

    def get(self, raw: str | None) -> CompiledRules:
        digest = hashlib.sha256((raw or "").encode()).hexdigest()
        compiled = self._items.get(digest)
        if compiled is None:
            compiled = CompiledRules(rules_from_json(raw))
            self._items[digest] = compiled
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        self._items.move_to_end(digest)
        return compiled
