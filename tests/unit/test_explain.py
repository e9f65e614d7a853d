"""Toxicity explanations: the spans point at the words that drove the score, as character offsets."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from service.core.settings import Settings
from workers.scoring.explain import (
    EXPLAIN_CHARS,
    MAX_CANDIDATE_WORDS,
    MAX_WORDS,
    WordScores,
    merge,
    pick,
    span_f1,
    toxic_spans,
    word_offsets,
)
from workers.scoring.toxicity import ToxicityScorer


@pytest.fixture(scope="module")
def scorer() -> ToxicityScorer:
    return ToxicityScorer.from_settings(Settings.from_env({}, torch_threads=1))


def test_spans_cover_the_insult_and_not_the_rest(scorer: Any) -> None:
    text = "I read the whole report on the new bridge and you are a complete idiot."
    (spans,) = toxic_spans(scorer, [text])
    words = {text[s:e] for s, e in spans}
    assert any("idiot" in w for w in words)
    assert not any(w in {"report", "bridge", "read"} for w in words)


def test_a_clean_comment_has_no_spans_and_offsets_index_the_text_as_sent(scorer: Any) -> None:
    clean = "The council published the budget today; the transit line opens in May."
    evasive = "What a   st.upid idea 🙂, honestly."
    spans = toxic_spans(scorer, [clean, evasive])
    assert spans[0] == []
    for start, end in spans[1]:
        assert 0 <= start < end <= len(evasive)


def test_pick_merge_and_f1_helpers() -> None:
    assert pick([0.5, 0.1, 0.4], ratio=0.6) == [0, 2]
    assert pick([0.001, 0.002]) == []
    text = "you stupid idiot"
    assert merge(text, word_offsets(text)[1:]) == [[4, 16]]
    assert span_f1({1, 2, 3}, {2, 3, 4}) == pytest.approx(2 / 3)
    assert span_f1(set(), set()) == 1.0
    assert span_f1({1}, set()) == 0.0


class Counting:
    """The real scorer, recording the size of every ``score`` call."""

    def __init__(self, scorer: ToxicityScorer) -> None:
        self.scorer = scorer
        self.calls: list[int] = []

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.calls.append(len(texts))
        return self.scorer.score(texts)


def test_an_evasive_insult_is_found_through_folding(scorer: Any) -> None:
    text = "What a st.upid idea, honestly."
    (spans,) = toxic_spans(scorer, [text])
    covered = "".join(text[s:e] for s, e in spans)
    assert "st" in covered and "upid" in covered and "idea" not in covered


def test_few_variants_per_text_and_word_scores_are_reused(scorer: Any) -> None:
    """Only the words of the pieces most toxic on their own are occluded; pieces are scored once."""
    words = " ".join(f"word{i}" for i in range(60))
    text = f"The report says {words} and frankly you are a complete idiot about the bridge."
    counting, cache = Counting(scorer), WordScores()
    (spans,) = toxic_spans(counting, [text], words=cache)
    assert any("idiot" in text[s:e] for s, e in spans)
    pieces, variants = counting.calls
    assert pieces == len(set(text.split())) and variants <= 1 + MAX_CANDIDATE_WORDS
    toxic_spans(counting, [text], words=cache)
    assert counting.calls[2:] == [variants]  # no piece scored twice


def test_the_decisions_score_as_base_saves_scoring_the_text_again(scorer: Any) -> None:
    """The worker passes each held comment's unrounded score: the text itself is not scored again, only
    its variants, and the insult is still what the spans point at."""
    text = "I read the whole report on the new bridge and you are a complete idiot."
    (base,) = [row["toxicity"] for row in scorer.score([text])]
    counting, cache = Counting(scorer), WordScores()
    (own,) = toxic_spans(counting, [text], words=cache)
    (reused,) = toxic_spans(counting, [text], words=cache, bases=[base])
    _, with_text, without_text = counting.calls
    assert without_text == with_text - 1
    assert reused == own and any("idiot" in text[s:e] for s, e in reused)


class Work:
    """The real scorer, recording every text it is asked to score and its model windows."""

    def __init__(self, scorer: ToxicityScorer) -> None:
        self.scorer = scorer
        self.texts = 0
        self.windows = 0

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.texts += len(texts)
        self.windows += sum(len(self.scorer.windows(t)) for t in texts)
        return self.scorer.score(texts)

    def cost(self, body: str) -> tuple[int, int]:
        """Texts and windows to score ``body`` and explain it from its own score (as the worker does)."""
        self.texts = self.windows = 0
        (row,) = self.score([body])
        toxic_spans(self, [body], words=WordScores(), bases=[row["toxicity"]])
        return self.texts, self.windows


def test_explanation_work_does_not_grow_with_the_body(scorer: Any) -> None:
    """Bounded cost (issue 17): a maximum-length body (10,000 characters of insults and short random
    words) had every one of its ~1,300 pieces scored alone and its variants scored whole (~1,400 model
    windows); now only the pieces of its first ``MAX_WORDS`` words are scored alone and its variants are
    a slice of ``EXPLAIN_CHARS`` characters, so scoring and explaining it costs a few times a typical
    held comment, counted in texts and model windows."""
    rng = random.Random(5)
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < 10_000:
        insult = rng.random() < 0.3
        parts.append(rng.choice(["idiot", "moron", "loser"]) if insult else "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 5))))  # fmt: skip
    longest = " ".join(parts)[:10_000]
    typical = "I read the whole report on the new bridge and you are a complete idiot."
    work = Work(scorer)
    long_texts, long_windows = work.cost(longest)
    typical_texts, typical_windows = work.cost(typical)
    assert long_texts <= MAX_WORDS + 2 + MAX_CANDIDATE_WORDS  # it was ~1,300
    assert long_windows <= 10 * typical_windows  # it was ~75 times
    print(f"max-length body: {long_texts} texts, {long_windows} windows; typical: "
          f"{typical_texts} texts, {typical_windows} windows")  # fmt: skip


def test_a_long_body_is_explained_on_a_slice_around_its_candidates(scorer: Any) -> None:
    """The variants of a long body are cut from a slice of at most ``EXPLAIN_CHARS`` characters around
    its candidate words; the spans still index the body as sent."""
    before = " ".join(f"the council met on day {i} to discuss the bridge" for i in range(8))
    after = " ".join(f"the council met on day {i} to discuss the bridge" for i in range(800))
    body = f"{before} and frankly you are a complete idiot about it. {after}"
    seen: list[str] = []

    class Recording:
        def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
            seen.extend(texts)
            return scorer.score(texts)

    (spans,) = toxic_spans(Recording(), [body[:10_000]], words=WordScores(), bases=[0.9])
    longest = max(len(t) for t in seen)
    assert longest <= EXPLAIN_CHARS < len(body)
    assert any("idiot" in body[s:e] for s, e in spans)
