"""A site rule's hold names the rule and places what it matched on whole words as folding reads them."""

from __future__ import annotations

from service.core.rules import CompiledRules, parse_rules
from workers.policy import decide
from workers.scoring.types import Scores


def _rules(**doc: object) -> CompiledRules:
    parsed = parse_rules(doc)
    assert not isinstance(parsed, dict), parsed
    return CompiledRules(parsed)


def _matched(body: str, rules: CompiledRules) -> list[tuple[str, str, list[str]]]:
    return [(h.code, h.rule, [body[a:b] for a, b in h.spans]) for h in rules.check(body, "", 0)]


def test_banned_word_hit_names_the_word_and_spans_its_evasions_whole() -> None:
    rules = _rules(banned=[{"pattern": "stupid", "action": "reject"}, "idiot"])
    body = "you are s t u p i d. And a 1d10t, and an Idiot!"
    assert _matched(body, rules) == [
        ("banned_pattern", "stupid", ["s t u p i d"]),
        ("banned_pattern", "idiot", ["1d10t", "Idiot"]),
    ]


def test_spaced_letters_folded_into_one_word_are_not_split_into_fragments() -> None:
    rules = _rules(banned=["idiot"], suspect=["di"])
    body = "s t u p i d i d i o t"  # folding reads one word, "stupididiot": neither rule's whole word
    assert _matched(body, rules) == []


def test_regex_and_suspect_hits_name_the_pattern_and_the_word() -> None:
    rules = _rules(banned=[{"pattern": r"buy\s+followers", "kind": "regex"}], suspect=["scam"])
    body = "buy  followers here, no sc4m"
    assert _matched(body, rules) == [
        ("banned_pattern", r"buy\s+followers", ["buy  followers"]),
        ("suspect_word", "scam", ["sc4m"]),
    ]


def test_the_policys_reason_carries_the_rule_and_its_spans() -> None:
    rules = _rules(suspect=["scam"])
    body = "what a scam"
    verdict = decide(Scores(values={"toxicity": 0.1}), {"toxicity": 0.5}, rules.check(body, "", 0))
    assert verdict.verdict == "hold"
    assert [r.to_json() for r in verdict.reasons] == [
        {"code": "suspect_word", "score": None, "threshold": None, "signals": ["hold"], "rule": "scam",
         "spans": [[7, 11]]},
    ]  # fmt: skip
