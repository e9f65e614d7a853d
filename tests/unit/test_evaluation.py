"""The evaluation harness on a tiny synthetic data folder (same layout as ../shared/data).

The toxicity model is replaced by a keyword stub here only: the harness, not the model, is under test.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import workers.evaluation as evaluation
from service.core.settings import Settings
from workers.evaluation.datasets import EvalSet, limit_rows, toxicity_sets
from workers.evaluation.report import auc_from_counts, auc_interval, format_table, score_row

HEADER = ["id", "text", "label", "label_binary", "split", "source_file"]
NICE = [
    "what a thoughtful piece about the council budget",
    "thanks for the clear report",
    "agreed, good point",
]
NASTY = ["you are a stupid idiot", "shut up, moron", "what an idiot take, stupid"]
SPAM = [
    "check out my channel http://bit.ly/x subscribe",
    "FREE iPhone click here www.win.xyz",
    "earn $500 a day",
]


def _write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _normalized(root: Path, folder: str, split: str = "all", n: int = 4) -> None:
    rows = []
    for i in range(n):
        rows.append([f"n{i}", NICE[i % 3] + f" {i}", "0", "0", split, "x"])
        rows.append([f"t{i}", NASTY[i % 3] + f" {i}", "1", "1", split, "x"])
    _write(root / folder / "normalized.csv", rows)


def _spam(root: Path) -> None:
    for folder, splits in (("youtube_spam_collection", ["v1", "v2", "v3"]), ("sms_spam_collection", ["all"]),
                           ("spamassassin", ["all"])):  # fmt: skip
        rows = []
        for i in range(15):
            split = splits[i % len(splits)]
            rows.append([f"h{i}", f"{NICE[i % 3]} number {i}", "0", "0", split, "x"])
            rows.append([f"s{i}", f"{SPAM[i % 3]} number {i}", "1", "1", split, "x"])
        _write(root / folder / "normalized.csv", rows)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    ucc = [["1", "3", NICE[i % 3], "0", "1", "0", "1"] for i in range(6)]
    ucc += [["2", "3", NASTY[i % 3], "1", "1", "1", "1"] for i in range(3)]
    header = ["_unit_id", "_trusted_judgments", "comment", "antagonize", "healthy", "hostile", "sarcastic"]
    ucc = [[r[0], r[1], r[2], r[3], "0" if r[3] == "1" else "1", r[5], r[6]] for r in ucc]
    _write(root / "unhealthy_comments_corpus_ucc_val" / "val.csv", ucc, header)
    _normalized(root, "olid_offenseval2019", "test")
    _normalized(root, "tweeteval_hate", "test")
    for folder in ("hasoc2019_en", "ethos", "davidson_hate_offensive"):
        _normalized(root, folder)
    civil = [[f"c{i}", NASTY[i % 3], "1", "1", "all", "x"] for i in range(4)]
    _write(root / "toxic_spans_civil_comments" / "normalized.csv", civil)
    _spam(root)
    return root


def keyword_stub(texts: Sequence[str]) -> list[float]:
    return [0.9 if any(w in t for w in ("idiot", "stupid", "moron")) else 0.1 for t in texts]


def test_score_row_figures() -> None:
    row = score_row("x", [0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], threshold=0.5, prevalence=0.1)
    assert row.roc_auc == pytest.approx(0.75)
    assert row.precision == pytest.approx(0.5) and row.recall == pytest.approx(0.5)
    assert row.precision_at_prevalence == pytest.approx(0.05 / (0.05 + 0.45))
    only = score_row("x", [1, 1, 1], [0.2, 0.7, 0.9], threshold=0.5, positives_only=True)
    assert only.recall == pytest.approx(2 / 3) and math.isnan(only.roc_auc) and math.isnan(only.precision)


def test_limit_rows_is_stratified_and_seeded() -> None:
    texts, labels = [str(i) for i in range(100)], [int(i < 10) for i in range(100)]
    a = limit_rows(texts, labels, 20)
    assert a == limit_rows(texts, labels, 20)
    assert len(a[0]) == 20 and sum(a[1]) == 2


def test_sets_and_labels(data: Path) -> None:
    sets = {s.name: s for s in toxicity_sets(data)}
    assert set(sets) == {"ucc_unhealthy", "ucc_hostile", "olid_test", "tweeteval_hate_test", "hasoc2019",
                         "ethos", "davidson", "civil_comments_spans"}  # fmt: skip
    assert sum(sets["ucc_unhealthy"].labels) == 3 and sum(sets["ucc_hostile"].labels) == 3
    assert not sets["davidson"].profanity_fair and sets["civil_comments_spans"].positives_only


def test_profanity_check_never_on_its_training_data() -> None:
    s = EvalSet("davidson", "d", ["a", "b"], [0, 1], profanity_fair=False)
    scorers = [evaluation.CachedScorer("alt-profanity-check", keyword_stub)]
    table = evaluation.toxicity_table(s, scorers, 0.5)
    assert table.rows == [] and "no scorer" in format_table(table)


def test_eval_end_to_end(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setattr(evaluation, "toxicity_fn", lambda settings: keyword_stub)
    parser = argparse.ArgumentParser()
    evaluation.register(parser.add_subparsers())
    out = tmp_path / "eval.json"
    args = parser.parse_args(["eval", "--data", str(data), "--obfuscated", str(data), "--json", str(out)])
    assert args.func is evaluation.run
    assert evaluation.run(args) == 0
    text = capsys.readouterr().out
    tables = {t["name"]: t for t in json.loads(out.read_text())}
    assert "ucc_unhealthy" in tables and "obfuscated:olid_test" in tables
    assert {"youtube", "sms", "spamassassin", "spam_on_news"} <= set(tables)
    tox = next(r for r in tables["ucc_unhealthy"]["rows"] if r["scorer"].startswith("toxicity"))
    assert tox["roc_auc"] == pytest.approx(1.0) and tox["recall"] == pytest.approx(1.0)
    # both built-in models (English and multilingual), no profanity-check (Davidson is in its training data)
    assert [r["scorer"] for r in tables["davidson"]["rows"]] == [
        "toxicity:commentmod-minilm",
        "toxicity:commentmod-e5",
    ]
    assert tables["youtube"]["rows"] and all(0.0 <= r["roc_auc"] <= 1.0 for r in tables["youtube"]["rows"])
    assert "ROC-AUC" in text and "texts/s" in text
    only = parser.parse_args(["eval", "--data", str(data), "--sets", "ethos", "--no-spam", "--no-profanity"])
    monkeypatch.setattr(evaluation, "toxicity_fn", lambda settings: keyword_stub)
    assert [t.name for t in evaluation.evaluate(Settings(), only)] == ["ethos"]


def test_auc_from_counts_matches_sklearn_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) + 0.3 * labels, 1)  # coarse: many ties across the classes
    values = np.unique(scores)
    pos = np.bincount(np.searchsorted(values, scores[labels == 1]), minlength=len(values))
    neg = np.bincount(np.searchsorted(values, scores[labels == 0]), minlength=len(values))
    assert auc_from_counts(pos, neg) == pytest.approx(roc_auc_score(labels, scores))


def test_auc_interval_holds_the_estimate_and_narrows_with_more_rows() -> None:
    rng = np.random.default_rng(5)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = (rng.random(n) < 0.1).astype(int)
        return labels, rng.normal(size=n) + labels

    small, large = sample(400), sample(20_000)
    low, high = auc_interval(*small)
    row = score_row("x", list(small[0]), list(small[1]), threshold=0.5)
    assert low < row.roc_auc < high and (row.roc_auc_low, row.roc_auc_high) == (low, high)
    wide, narrow = high - low, np.subtract(*auc_interval(*large)[::-1])
    assert narrow < wide / 3
    assert auc_interval(*small) == (low, high)  # seeded
    assert all(math.isnan(v) for v in auc_interval([1, 1], [0.2, 0.3]))


def test_rows_per_language_with_a_summary(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """German and Korean sets (present ones only, their held-back split only), each a table of its own,
    then one summary line per set with its language, the English reference rows first."""
    _normalized(data, "germeval2019_offense_de", "train")
    _normalized(data, "kmhas_ko", "val")
    with (data / "kmhas_ko" / "normalized.csv").open("a", encoding="utf-8") as fh:
        fh.write("x9,a training row,1,1,train,x\n")  # not in the val split: not measured
    monkeypatch.setattr(evaluation, "toxicity_fn", lambda settings: keyword_stub)
    parser = argparse.ArgumentParser()
    evaluation.register(parser.add_subparsers())
    args = parser.parse_args(
        ["eval", "--data", str(data), "--no-spam", "--no-profanity", "--sets", "olid_test"]
    )
    tables = {t.name: t for t in evaluation.evaluate(Settings(), args)}
    assert set(tables) == {"olid_test", "de_germeval2019", "ko_kmhas_val"}
    assert tables["ko_kmhas_val"].rows_n == 8 and tables["de_germeval2019"].rows[0].roc_auc == 1.0
    out = capsys.readouterr().out
    summary = out[out.index("== per language") :]
    assert summary.index("| en | olid_test |") < summary.index("| de | de_germeval2019 | 8 | 50.0% |")
    assert "| ko | ko_kmhas_val |" in summary and "95 % CI" in summary
    only = parser.parse_args(["eval", "--data", str(data), "--only-languages", "--languages", "ko"])
    assert [t.name for t in evaluation.evaluate(Settings(), only)] == ["ko_kmhas_val"]
