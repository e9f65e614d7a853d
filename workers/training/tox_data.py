"""Training examples for the toxicity model, read from the shared data folder.

Only sets whose licence says ``training ok`` are read here (see ``../shared/data/README.md``):
Civil Comments toxic spans (positives, plus span-free sentences of those posts as weak news-style
negatives), Davidson, OLID (train split only), TweetEval hate (train + val), Stormfront, and the two
Jigsaw samples. Evaluation-only sets (UCC, HASOC, ETHOS) are never touched by this module.
"""

from __future__ import annotations

import csv
import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

LABELS: tuple[str, ...] = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")

# Per-source caps for one pass over the data (before ``limit``). News-style text is kept whole.
SOURCE_CAPS: dict[str, int] = {
    "civil_pos": 16_100,
    "civil_neg": 9_000,
    "davidson": 7_000,
    "olid": 13_240,
    "tweeteval": 8_000,
    "stormfront": 5_000,
    "jigsaw": 2_700,
}

_SPAN_TYPES = {
    "insult": "insult",
    "threat": "threat",
    "profane/obscene": "obscene",
    "identity based attack": "identity_attack",
}
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


@dataclass(slots=True)
class Example:
    """One training text; ``targets`` holds only the labels this source says something about."""

    text: str
    source: str
    targets: dict[str, float] = field(default_factory=dict)


def _rows(path: Path) -> Iterator[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _negative() -> dict[str, float]:
    return dict.fromkeys(LABELS, 0.0)


def _civil_annotations(folder: Path) -> tuple[dict[str, int], dict[str, dict[str, int]], dict[str, list]]:
    """Per comment: number of raters, raters per span type, and all marked (start, end) spans."""
    owner: dict[str, str] = {}
    raters: dict[str, int] = defaultdict(int)
    for row in _rows(folder / "annotations.csv"):
        owner[row["annotation"]] = row["comment_id"]
        raters[row["comment_id"]] += 1
    by_type: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    spans: dict[str, list] = defaultdict(list)
    for row in _rows(folder / "spans.csv"):
        cid = owner.get(row["annotation"])
        if cid is None or not row["start"].isdigit() or not row["end"].isdigit():
            continue
        kind = _SPAN_TYPES.get(row["type"].strip().lower())
        if kind:
            by_type[cid][kind].add(row["annotation"])
        spans[cid].append((int(row["start"]), int(row["end"])))
    counts = {cid: {k: len(v) for k, v in kinds.items()} for cid, kinds in by_type.items()}
    return dict(raters), counts, dict(spans)


def load_civil(data: Path) -> list[Example]:
    """Civil Comments toxic posts (positives) and their span-free sentences (weak negatives)."""
    folder = data / "toxic_spans_civil_comments"
    raters, kinds, spans = _civil_annotations(folder)
    out: list[Example] = []
    for row in _rows(folder / "comments.csv"):
        cid, text = row["comment_id"], row["comment_text"]
        n = max(raters.get(cid, 1), 1)
        targets = {"toxicity": 1.0}
        for kind in ("insult", "threat", "obscene", "identity_attack"):
            targets[kind] = min(kinds.get(cid, {}).get(kind, 0) / n, 1.0)
        out.append(Example(text, "civil_pos", targets))
        out.extend(_span_free_sentences(text, spans.get(cid, [])))
    return out


def _span_free_sentences(text: str, spans: list) -> Iterator[Example]:
    if not spans:
        return
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        sentence = match.group().strip()
        if len(sentence) < 40 or len(sentence.split()) < 7:
            continue
        if any(s < end and e > start for s, e in spans):
            continue
        yield Example(sentence, "civil_neg", {"toxicity": 0.0})


def load_tweets(data: Path) -> list[Example]:
    """Davidson, OLID train split and TweetEval hate (train + val)."""
    out: list[Example] = []
    for row in _rows(data / "davidson_hate_offensive" / "normalized.csv"):
        targets = _negative() if row["label_binary"] == "0" else {"toxicity": 1.0}
        if row["label"] == "hate_speech":
            targets["identity_attack"] = 1.0
        out.append(Example(row["text"], "davidson", targets))
    for row in _rows(data / "olid_offenseval2019" / "normalized.csv"):
        if row["split"] == "train":
            targets = _negative() if row["label_binary"] == "0" else {"toxicity": 1.0}
            out.append(Example(row["text"], "olid", targets))
    for row in _rows(data / "tweeteval_hate" / "normalized.csv"):
        if row["split"] in {"train", "val"}:
            targets = _negative() if row["label_binary"] == "0" else {"toxicity": 1.0, "identity_attack": 1.0}
            out.append(Example(row["text"], "tweeteval", targets))
    return out


def load_forums(data: Path) -> list[Example]:
    """Stormfront sentences and the two Jigsaw (Wikipedia talk) samples."""
    out: list[Example] = []
    for row in _rows(data / "stormfront_hate_speech_vicomtech" / "normalized.csv"):
        if row["label_binary"] == "1":
            out.append(Example(row["text"], "stormfront", {"toxicity": 1.0, "identity_attack": 1.0}))
        elif row["label_binary"] == "0":
            out.append(Example(row["text"], "stormfront", _negative()))
    for row in _rows(data / "jigsaw_wikipedia_rater_sample" / "normalized.csv"):
        fractions = dict(part.split("=") for part in row["label"].split(";") if "=" in part)
        targets = {"toxicity": float(row["label_binary"] == "1")}
        for name, value in fractions.items():
            targets["identity_attack" if name == "identity_hate" else name] = float(value)
        out.append(Example(row["text"], "jigsaw", targets))
    for row in _rows(data / "jigsaw_toxic_wikipedia_detoxify_slice" / "normalized.csv"):
        if row["split"] == "train":
            names = set(row["label"].split(";"))
            targets = {
                "toxicity": float("toxic" in names),
                "severe_toxicity": float("severe_toxic" in names),
                "obscene": float("obscene" in names),
                "threat": float("threat" in names),
                "insult": float("insult" in names),
                "identity_attack": float("identity_hate" in names),
            }
            out.append(Example(row["text"], "jigsaw", targets))
    return out


def load_training(data: Path, seed: int, limit: int | None = None) -> list[Example]:
    """All training examples, capped per source, deduplicated, shuffled with ``seed``."""
    rng = random.Random(seed)
    by_source: dict[str, list[Example]] = defaultdict(list)
    seen: set[str] = set()
    for example in load_civil(data) + load_tweets(data) + load_forums(data):
        key = " ".join(example.text.lower().split())
        if example.text.strip() and key not in seen:
            seen.add(key)
            by_source[example.source].append(example)
    chosen: list[Example] = []
    total = sum(min(len(v), SOURCE_CAPS[k]) for k, v in by_source.items())
    scale = 1.0 if limit is None or limit >= total else limit / total
    for source in sorted(by_source):
        items = by_source[source]
        rng.shuffle(items)
        chosen.extend(items[: max(1, int(min(len(items), SOURCE_CAPS[source]) * scale))])
    rng.shuffle(chosen)
    return chosen
